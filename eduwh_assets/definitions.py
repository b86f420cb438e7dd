"""The eduwh code location: merges what each layer contributes. Nothing else lives here."""

from dagster import Definitions, in_process_executor, with_source_code_references

from eduwh_assets import automation, bronze, quality, transform
from eduwh_assets.automation.runs import settings_resource
from eduwh_assets.catalogue import catalogued, schema_change_checks
from eduwh_assets.config import Settings
from eduwh_assets.console import LOGGER_KEY, step_lines
from eduwh_assets.sources.assets import source_specs
from eduwh_assets.transform.assets import gold_dbt_assets
from eduwh_assets.warehouse import Warehouse


def build_definitions(settings: Settings) -> Definitions:
    bronze_and_quality = Definitions(
        # dbt's assets link their SQL files already; these link their Python.
        assets=with_source_code_references([*bronze.defs.assets, *quality.defs.assets]),
        asset_checks=[
            *quality.defs.asset_checks,
            schema_change_checks([*(key for a in bronze.defs.assets for key in a.keys), *gold_dbt_assets.keys]),
        ],
        resources=bronze.defs.resources,
    )
    return Definitions.merge(
        Definitions(assets=source_specs),
        bronze_and_quality,
        transform.defs,
        automation.defs,
        # One process per run: every step shares the DuckDB single-writer lock anyway, and a
        # process per step would pay the code-location load again for nothing.
        Definitions(
            resources={"settings": settings_resource(settings), "warehouse": Warehouse.from_settings(settings)},
            executor=in_process_executor,
            # `eduwh run` selects it in its run config; runs launched elsewhere keep Dagster's console.
            loggers={LOGGER_KEY: step_lines},
        ),
    ).map_asset_specs(func=catalogued)


defs = build_definitions(Settings.from_env())
