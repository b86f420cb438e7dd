"""SIS tables (PostgreSQL schema `sis`) -> bronze.sis_programmes, bronze.sis_classes, bronze.sis_students.

Incremental on `updated_at` (rows at or after the stored cursor are read; dlt
drops the ones it already has at exactly the cursor value) and merged on the
SPEC §3.1 key, so the latest version of each row wins.
"""

import dlt
import sqlalchemy as sa
from dagster import AssetExecutionContext, AssetKey, Failure, MaterializeResult, MetadataValue, ResourceParam
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData
from dlt.sources.sql_database import sql_table

from eduwh_assets.bootstrap import sis_url
from eduwh_assets.bronze.contract import ensure_bronze_tables
from eduwh_assets.bronze.metadata import table_metadata
from eduwh_assets.bronze.pipelines import BRONZE_DATASET, WORK_ROOT, bronze_pipeline, rows_loaded
from eduwh_assets.config import Settings
from eduwh_assets.sources.assets import SIS_CURSOR, SIS_SCHEMA, SIS_TABLES, sis_source_key
from eduwh_assets.sources.sis_server import (
    SisUnavailableError,
    check_sis,
    describe_url,
    scrub_password,
    sqlalchemy_url,
)
from eduwh_assets.warehouse import Warehouse, on_warehouse

PIPELINE_NAME = "eduwh_bronze_sis"
# The dlt source's name is its schema's name in the warehouse's dlt state; it stays as it is.
SOURCE_NAME = "eduwh_sis"
# Personal data kept out of the materialisation preview (it stays queryable in bronze).
PREVIEW_HIDDEN = {"students": ("first_name", "last_name", "email", "date_of_birth")}

_DESCRIPTIONS = {
    "programmes": "SIS programmes as received from PostgreSQL sis.programmes, merged on programme_code.",
    "classes": "SIS classes as received from PostgreSQL sis.classes, merged on class_id.",
    "students": "SIS students as received from PostgreSQL sis.students, merged on student_id.",
}


def bronze_table(sis_table: str) -> str:
    return f"sis_{sis_table}"


def asset_key(sis_table: str) -> AssetKey:
    return AssetKey(["bronze", bronze_table(sis_table)])


def sis_engine(url: str) -> sa.Engine:
    """An engine on the SIS, after checking it answers, so a dead SIS fails before anything is written.

    `url` may be any PostgreSQL URL form sqlalchemy_url accepts.
    """
    url = sqlalchemy_url(url)
    check_sis(url)
    return sa.create_engine(url, connect_args={"connect_timeout": 10})


def sis_unchanged(settings: Settings, warehouse: Warehouse) -> bool:
    """Whether each SIS table still has the rows bronze last merged from it: the same count and newest `updated_at`.

    Anything the incremental sync would load shows as a difference: a new or updated row
    moves `updated_at` past bronze's newest, and a row added with an old timestamp changes
    the count. So when this holds, a sync would merge nothing, and it need not run. Any
    error (the SIS or bronze not there yet) answers False, and the sync runs and reports it.
    """
    query = "SELECT count(*), max({cursor}) FROM {table}"
    try:
        engine = sa.create_engine(sis_url(settings), connect_args={"connect_timeout": 10})
        try:
            with engine.connect() as conn:
                source = {
                    t: tuple(conn.execute(sa.text(query.format(cursor=SIS_CURSOR, table=f"{SIS_SCHEMA}.{t}"))).one())
                    for t in SIS_TABLES
                }
        finally:
            engine.dispose()
        with warehouse.read_only_connection() as con:
            held = {
                t: con.execute(query.format(cursor=SIS_CURSOR, table=f"{BRONZE_DATASET}.{bronze_table(t)}")).fetchone()
                for t in SIS_TABLES
            }
    except Exception:
        return False
    return source == held


@dlt.source(name=SOURCE_NAME)
def sis_source(credentials: sa.Engine | str):
    """One dlt resource per SIS table, on the Arrow path, incremental on `updated_at` and merged on its key.

    Reflection waits until the resource is read, so the source can be described (for the
    asset definitions) without reaching the SIS.
    """
    for table, key in SIS_TABLES.items():
        resource = sql_table(
            credentials=credentials,
            schema=SIS_SCHEMA,
            table=table,
            backend="pyarrow",
            incremental=dlt.sources.incremental(SIS_CURSOR),
            primary_key=key,
            write_disposition={"disposition": "merge", "strategy": "delete-insert"},
            defer_table_reflect=True,
        )
        name = bronze_table(table)
        yield resource.with_name(name).apply_hints(table_name=name)


class BronzeSisTranslator(DagsterDltTranslator):
    """dlt resource `sis_<table>` -> asset `bronze/sis_<table>`, downstream of the SIS table `sis/<table>`."""

    def get_asset_spec(self, data: DltResourceTranslatorData):
        table = data.resource.name.removeprefix("sis_")
        return (
            super()
            .get_asset_spec(data)
            .replace_attributes(
                key=asset_key(table),
                deps=[sis_source_key(table)],
                group_name=BRONZE_DATASET,
                kinds={"postgres", "dlt", "duckdb"},
                description=_DESCRIPTIONS[table],
            )
        )


# What the asset definitions are described from: the source (nothing is read until it runs)
# and a pipeline that is never run. Each run builds both afresh, on the SIS and the warehouse
# of its settings, in a working folder of its own (bronze_pipeline).
_DESCRIBED_SOURCE = sis_source(sqlalchemy_url("postgresql://sis.invalid/sis"))
_DESCRIBED_PIPELINE = dlt.pipeline(
    pipeline_name=PIPELINE_NAME,
    pipelines_dir=str(WORK_ROOT / "definitions"),
    destination=dlt.destinations.duckdb(),
    dataset_name=BRONZE_DATASET,
)
TRANSLATOR = BronzeSisTranslator()


@on_warehouse(dlt_assets)(
    dlt_source=_DESCRIBED_SOURCE,
    dlt_pipeline=_DESCRIBED_PIPELINE,
    name="bronze_sis",
    dagster_dlt_translator=TRANSLATOR,
)
def sis_assets(
    context: AssetExecutionContext,
    dlt_resource: DagsterDltResource,
    warehouse: Warehouse,
    settings: ResourceParam[Settings],
):
    """Incremental load of the SIS (PostgreSQL) into bronze with dlt."""
    try:
        url = sis_url(settings)
        engine = sis_engine(url)
    except SisUnavailableError as exc:
        raise Failure(description=str(exc)) from None
    try:
        with warehouse.get_connection() as con, bronze_pipeline(PIPELINE_NAME, con, add_dlt_id=True) as pipeline:
            try:
                # Listed inside the try: reflecting the tables is the first thing that can find sis.* missing.
                results = list(
                    dlt_resource.run(
                        context, dlt_source=sis_source(engine), dlt_pipeline=pipeline, dagster_dlt_translator=TRANSLATOR
                    )
                )
            except Exception as exc:
                # dlt wraps driver errors; keep the message useful but free of the password.
                raise Failure(
                    description=f"loading SIS {describe_url(url)} failed: {scrub_password(str(exc), url)}"
                ) from None
            counts = rows_loaded(pipeline)
            # A SIS table with no rows yet gets no table from dlt; dbt still needs it.
            ensure_bronze_tables(con, [bronze_table(t) for t in SIS_TABLES])
            for result in results:
                name = result.asset_key.path[-1]
                table = name.removeprefix("sis_")
                metadata = {
                    **result.metadata,
                    **table_metadata(con, name, order_by=[SIS_TABLES[table]], hide=PREVIEW_HIDDEN.get(table, ())),
                    "rows_loaded": MetadataValue.int(counts.get(name, 0)),
                }
                context.log.info(f"bronze.{name}: {counts.get(name, 0)} rows merged")
                yield MaterializeResult(asset_key=result.asset_key, metadata=metadata)
    finally:
        engine.dispose()

