"""SIS tables (PostgreSQL schema `sis`) -> bronze.sis_programmes, bronze.sis_classes, bronze.sis_students.

Incremental on `updated_at` (rows at or after the stored cursor are read; dlt
drops the ones it already has at exactly the cursor value) and merged on the
SPEC §3.1 key, so the latest version of each row wins.
"""

from dataclasses import dataclass

import dlt
import sqlalchemy as sa
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Failure,
    MaterializeResult,
    MetadataValue,
    ResourceParam,
    multi_asset,
)
from dlt.sources.sql_database import sql_table

from eduwh_assets.bronze.contract import ensure_bronze_tables
from eduwh_assets.bronze.metadata import table_metadata
from eduwh_assets.bronze.pipelines import bronze_pipeline, rows_loaded, warehouse_connection
from eduwh_assets.config import WAREHOUSE_POOL, Settings
from eduwh_assets.sources.sis_server import (
    SisUnavailableError,
    check_sis,
    describe_url,
    scrub_password,
    sis_url,
    sqlalchemy_url,
)

SIS_SCHEMA = "sis"
PIPELINE_NAME = "eduwh_bronze_sis"

# SIS table -> its key (SPEC §3.1). Every table's cursor is `updated_at`.
SIS_TABLES: dict[str, str] = {
    "programmes": "programme_code",
    "classes": "class_id",
    "students": "student_id",
}
SIS_CURSOR = "updated_at"
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


class SisLoadError(RuntimeError):
    """The SIS answered but loading from it failed (e.g. a table is missing). No password in the message."""


def sis_engine(url: str) -> sa.Engine:
    """An engine on the SIS, after checking it answers, so a dead SIS fails before anything is written.

    `url` may be any PostgreSQL URL form sqlalchemy_url accepts.
    """
    url = sqlalchemy_url(url)
    check_sis(url)
    return sa.create_engine(url, connect_args={"connect_timeout": 10})


def sis_resources(engine: sa.Engine) -> list:
    """One dlt resource per SIS table, on the Arrow path, incremental and merged on its key."""
    resources = []
    for table, key in SIS_TABLES.items():
        resource = sql_table(
            credentials=engine,
            schema=SIS_SCHEMA,
            table=table,
            backend="pyarrow",
            incremental=dlt.sources.incremental(SIS_CURSOR),
            primary_key=key,
            write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        )
        name = bronze_table(table)
        resources.append(resource.with_name(name).apply_hints(table_name=name))
    return resources


@dataclass
class SisLoad:
    rows_loaded: dict[str, int]  # SIS table -> rows merged this run


def load_sis(settings: Settings) -> SisLoad:
    """Run the SIS pipeline once. Raises SisUnavailableError (nothing written) when the SIS is down."""
    url = sis_url(settings)
    engine = sis_engine(url)
    try:
        with warehouse_connection(settings) as con, bronze_pipeline(
            settings, PIPELINE_NAME, add_dlt_id=True, connection=con
        ) as pipeline:
            try:
                # Inside the try: reflecting the tables is the first thing that can find sis.* missing.
                pipeline.run(sis_resources(engine), schema=dlt.Schema("eduwh_sis"))
            except Exception as exc:
                # dlt wraps driver errors; keep the message useful but free of the password.
                raise SisLoadError(f"loading SIS {describe_url(url)} failed: {scrub_password(str(exc), url)}") from None
            counts = rows_loaded(pipeline)
    finally:
        engine.dispose()
    return SisLoad(rows_loaded={t: counts.get(bronze_table(t), 0) for t in SIS_TABLES})


@multi_asset(
    name="bronze_sis",
    specs=[
        AssetSpec(
            asset_key(table),
            group_name="bronze",
            kinds={"postgres", "dlt", "duckdb"},
            description=_DESCRIPTIONS[table],
        )
        for table in SIS_TABLES
    ],
    pool=WAREHOUSE_POOL,
    description="Incremental load of the SIS (PostgreSQL) into bronze with dlt.",
)
def sis_assets(context: AssetExecutionContext, settings: ResourceParam[Settings]):
    try:
        result = load_sis(settings)
    except (SisUnavailableError, SisLoadError) as exc:
        raise Failure(description=str(exc)) from None
    with warehouse_connection(settings) as con:
        # A SIS table with no rows yet gets no table from dlt; dbt still needs it.
        ensure_bronze_tables(con, [bronze_table(t) for t in SIS_TABLES])
    for table in SIS_TABLES:
        name = bronze_table(table)
        with warehouse_connection(settings) as con:
            metadata = table_metadata(
                con, name, order_by=[SIS_TABLES[table]], hide=PREVIEW_HIDDEN.get(table, ())
            )
        metadata["rows_loaded"] = MetadataValue.int(result.rows_loaded[table])
        context.log.info(f"bronze.{name}: {result.rows_loaded[table]} rows merged")
        yield MaterializeResult(asset_key=asset_key(table), metadata=metadata)
