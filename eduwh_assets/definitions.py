"""The eduwh code location: merges what each layer contributes. Nothing else lives here."""

from dagster import Definitions, in_process_executor

from eduwh_assets import automation, bronze, quality, transform
from eduwh_assets.automation.runs import settings_resource
from eduwh_assets.config import Settings


def build_definitions(settings: Settings) -> Definitions:
    return Definitions.merge(
        bronze.defs,
        transform.defs,
        quality.defs,
        automation.defs,
        # One process per run: every step shares the DuckDB single-writer lock anyway, and a
        # process per step would pay the code-location load again for nothing.
        Definitions(resources={"settings": settings_resource(settings)}, executor=in_process_executor),
    )


defs = build_definitions(Settings.from_env())
