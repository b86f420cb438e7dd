"""The eduwh code location: merges what each layer contributes. Nothing else lives here."""

from dagster import Definitions

from eduwh_assets import automation, bronze, quality, transform
from eduwh_assets.config import Settings

defs = Definitions.merge(
    bronze.defs,
    transform.defs,
    quality.defs,
    automation.defs,
    Definitions(resources={"settings": Settings.from_env()}),
)
