"""transform: the dbt project eduwh_dbt/ as Dagster assets (see docs/architecture.md)."""

from dagster import Definitions

from eduwh_assets.transform.assets import dbt_layer_assets
from eduwh_assets.transform.project import dbt_cli

# Everything this package contributes to the code location; definitions.py merges it.
# The warehouse path comes from the shared "settings" resource at run time.
defs = Definitions(
    assets=dbt_layer_assets,
    resources={"dbt": dbt_cli()},
)
