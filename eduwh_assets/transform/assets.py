"""silver/* and quarantine/* (with the staging views), then gold/*, as two dbt multi-assets.

The layers run as separate steps so that the Pandera checks on silver, which
are blocking, sit between them: when one fails, gold does not build.
"""

import shutil
from pathlib import Path

from dagster import AssetExecutionContext, AssetKey, Config, ResourceParam
from dagster_dbt import DbtCliResource, dbt_assets

from eduwh_assets.bronze.contract import ensure_bronze_tables
from eduwh_assets.config import Settings
from eduwh_assets.transform.metadata import dbt_events_with_table_metadata
from eduwh_assets.transform.changes import clear_change_records, drop_tables, incremental_models, missing_tables
from eduwh_assets.transform.project import PREPARE_COMMAND, dbt_build_args, eduwh_project, warehouse_env
from eduwh_assets.transform.translator import EduwhDbtTranslator
from eduwh_assets.warehouse import Warehouse, on_warehouse

# The manifest is made once at install time. Parsing here instead would cost
# seconds on every code-location load, and every run loads the location again.
if not eduwh_project.manifest_path.exists():
    raise FileNotFoundError(
        f"The dbt manifest {eduwh_project.manifest_path} is missing. "
        f"Prepare the dbt project once, from the project root: `{PREPARE_COMMAND}` "
        "(the Makefile's install step runs it)."
    )

SILVER_SELECTION = "path:seeds path:models/staging path:models/changes path:models/silver path:models/quarantine"
GOLD_SELECTION = "path:models/gold"


def dbt_target(settings: Settings, layer: str) -> Path:
    """Where a layer's latest dbt artifacts (run_results.json, logs) are kept.

    One folder per layer, overwritten by each run, rather than dagster-dbt's
    default of a new folder under eduwh_dbt/target per run, which piles up.
    """
    return settings.data_dir / "dbt" / layer


def reuse_silver_parse(settings: Settings) -> None:
    """Give gold's first build the parse silver's build just made.

    Otherwise dagster-dbt copies the install-time parse, whose profile names another
    warehouse path, and dbt parses the whole project again (about 2.5 s). Both layers
    are one project with one profile, so silver's parse serves gold as it is.
    """
    parsed = dbt_target(settings, "silver") / "partial_parse.msgpack"
    target = dbt_target(settings, "gold") / "partial_parse.msgpack"
    if parsed.exists() and not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(parsed, target)


class BuildConfig(Config):
    """Run config of the dbt steps; `full_refresh` rebuilds the layer from its inputs instead of applying changes."""

    full_refresh: bool = False


LAYER_SCHEMAS = {"silver": {"silver", "quarantine"}, "gold": {"gold"}}


def build_layer(
    context: AssetExecutionContext,
    dbt: DbtCliResource,
    settings: Settings,
    warehouse: Warehouse,
    layer: str,
    config: BuildConfig,
):
    full_refresh = config.full_refresh
    with warehouse.get_connection() as con:
        if layer == "silver":
            # dbt reads every bronze table; one whose source has sent nothing yet is created empty.
            created = ensure_bronze_tables(con)
            if created:
                context.log.info(f"created empty bronze table(s) {', '.join(created)}: nothing received for them yet")
        missing = missing_tables(con, LAYER_SCHEMAS[layer])
        if missing and not full_refresh:
            context.log.info(f"full build of {layer}: {', '.join(missing)} not built yet")
            full_refresh = True
        if full_refresh and layer == "silver":
            drop_tables(con, LAYER_SCHEMAS["gold"])
    if layer == "gold":
        reuse_silver_parse(settings)
    with warehouse_env(settings):
        invocation = dbt.cli(
            dbt_build_args(full_refresh=full_refresh), context=context, target_path=dbt_target(settings, layer)
        )
        yield from dbt_events_with_table_metadata(invocation, warehouse)
    if layer == "gold" and every_reader_built(context):
        with warehouse.get_connection() as con:
            clear_change_records(con)


def every_reader_built(context: AssetExecutionContext) -> bool:
    """Whether this run refreshed every model that applies the change records (both layers)."""
    selected = context.job_def.asset_layer.selected_asset_keys
    return all(AssetKey([r.schema, r.name]) in selected for r in incremental_models().readers)


@on_warehouse(dbt_assets)(
    manifest=eduwh_project.manifest_path,
    project=eduwh_project,
    dagster_dbt_translator=EduwhDbtTranslator(),
    select=SILVER_SELECTION,
    name="dbt_silver",
)
def silver_dbt_assets(
    context: AssetExecutionContext,
    dbt: DbtCliResource,
    settings: ResourceParam[Settings],
    warehouse: Warehouse,
    config: BuildConfig,
):
    yield from build_layer(context, dbt, settings, warehouse, "silver", config)


@on_warehouse(dbt_assets)(
    manifest=eduwh_project.manifest_path,
    project=eduwh_project,
    dagster_dbt_translator=EduwhDbtTranslator(),
    select=GOLD_SELECTION,
    name="dbt_gold",
)
def gold_dbt_assets(
    context: AssetExecutionContext,
    dbt: DbtCliResource,
    settings: ResourceParam[Settings],
    warehouse: Warehouse,
    config: BuildConfig,
):
    yield from build_layer(context, dbt, settings, warehouse, "gold", config)


dbt_layer_assets = [silver_dbt_assets, gold_dbt_assets]
