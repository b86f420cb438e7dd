"""Error statistics per delivery, read from gold.delivery_quality.

`delivery_stats` is the one query behind both the `quality/delivery_error_stats`
asset and the summary `eduwh run` prints.
"""

import duckdb
import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetObservation,
    AssetRecordsFilter,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableRecord,
    TableSchema,
    asset,
)

from eduwh_assets.quality.warehouse import relation_kind
from eduwh_assets.warehouse import Warehouse, on_warehouse
from eduwh_assets.rules import LOADED, REJECT_REASONS, SOURCES, SUPERSEDED

STATS_COLUMNS = ["delivery_code", "source", "received", "loaded", "superseded", "rejected", *REJECT_REASONS]
# The row counts of a delivery: received, then what became of the rows.
COUNT_COLUMNS = STATS_COLUMNS[2:6]


def delivery_stats(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per (delivery_code, source): received, loaded, superseded, rejected and rejects by reason.

    Empty (with these columns) when gold.delivery_quality does not exist yet.
    """
    if relation_kind(conn, "gold.delivery_quality") is None:
        return pd.DataFrame({c: pd.Series(dtype="object" if c in ("delivery_code", "source") else "int64") for c in STATS_COLUMNS})
    reasons = ", ".join(
        f"CAST(coalesce(sum(row_count) FILTER (WHERE outcome = '{r}'), 0) AS BIGINT) AS {r}" for r in REJECT_REASONS
    )
    in_list = ", ".join(f"'{r}'" for r in REJECT_REASONS)
    frame = conn.sql(
        f"""
        SELECT delivery_code, source,
               CAST(sum(row_count) AS BIGINT) AS received,
               CAST(coalesce(sum(row_count) FILTER (WHERE outcome = '{LOADED}'), 0) AS BIGINT) AS loaded,
               CAST(coalesce(sum(row_count) FILTER (WHERE outcome = '{SUPERSEDED}'), 0) AS BIGINT) AS superseded,
               CAST(coalesce(sum(row_count) FILTER (WHERE outcome IN ({in_list})), 0) AS BIGINT) AS rejected,
               {reasons}
        FROM gold.delivery_quality
        GROUP BY delivery_code, source
        ORDER BY delivery_code, source
        """
    ).df()
    return frame[STATS_COLUMNS]


def reject_rate(count: int, received: int) -> float:
    """Percent of the received rows, to two places; 0 for a delivery that sent none."""
    return round(100.0 * count / received, 2) if received else 0.0


def quality_table(stats: pd.DataFrame) -> MetadataValue:
    """The per-delivery figures as a table the UI can sort: counts, then the reject rate overall and per reason."""
    rates = ["reject_rate", *(f"{reason}_rate" for reason in REJECT_REASONS)]
    schema = TableSchema(
        columns=[
            TableColumn("delivery_code", "string"),
            TableColumn("source", "string"),
            *(TableColumn(c, "int") for c in COUNT_COLUMNS),
            *(TableColumn(c, "float", description="percent of the rows received") for c in rates),
        ]
    )
    return MetadataValue.table(
        records=[TableRecord(partition_figures(row) | {"delivery_code": row["delivery_code"], "source": row["source"]})
                 for row in stats.to_dict("records")],
        schema=schema,
    )


def partition_figures(row: dict) -> dict:
    """One delivery's figures for one source: its counts and its reject rates, as plain numbers."""
    received = int(row["received"])
    figures = {c: int(row[c]) for c in COUNT_COLUMNS}
    figures["reject_rate"] = reject_rate(int(row["rejected"]), received)
    figures |= {f"{reason}_rate": reject_rate(int(row[reason]), received) for reason in REJECT_REASONS}
    return figures


def rows_to_observe(stats: pd.DataFrame, reported: list[dict], reloaded: set[tuple[str, str]]) -> list[dict]:
    """The rows of `stats` that differ from the previous report, or whose bronze partition was loaded since.

    A partition's page shows the observations made after its latest materialisation, so a
    delivery loaded again (even unchanged) is observed again.
    """
    before = {(r["delivery_code"], r["source"]): r for r in reported}
    return [
        row
        for row in stats.to_dict("records")
        if before.get((row["delivery_code"], row["source"])) != row or (row["delivery_code"], row["source"]) in reloaded
    ]


def reloaded_since(instance, storage_id: int | None) -> set[tuple[str, str]]:
    """(delivery_code, source) of every bronze delivery partition materialised after event `storage_id`."""
    if storage_id is None:
        return set()
    out = set()
    for source in SOURCES:
        records_filter = AssetRecordsFilter(asset_key=AssetKey(["bronze", source]), after_storage_id=storage_id)
        cursor = None
        while True:
            page = instance.fetch_materializations(records_filter, limit=1000, cursor=cursor, ascending=True)
            out |= {(r.partition_key, source) for r in page.records if r.partition_key}
            if not page.has_more:
                break
            cursor = page.cursor
    return out


@on_warehouse(asset)(
    key=AssetKey(["quality", "delivery_error_stats"]),
    group_name="quality",
    kinds={"duckdb", "pandas"},
    deps=[AssetKey(["gold", "delivery_quality"])],
    description="Per delivery and source: rows received, loaded, superseded and rejected by reason",
)
def delivery_error_stats(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    with warehouse.read_only_connection() as conn:
        stats = delivery_stats(conn)
    totals = {c: int(stats[c].sum()) for c in STATS_COLUMNS[2:]}
    # Each delivery's figures are also recorded on its bronze partition, so the bronze
    # assets plot them over deliveries; only what changed since the previous report is
    # recorded again, so the cost follows what changed.
    [previous] = context.instance.fetch_materializations(context.asset_key, limit=1).records or [None]
    reported = previous.asset_materialization.metadata.get("per_delivery_json") if previous else None
    changed = rows_to_observe(
        stats,
        reported.value if reported is not None else [],
        reloaded_since(context.instance, previous.storage_id if previous else None),
    )
    for row in changed:
        context.log_event(
            AssetObservation(
                asset_key=AssetKey(["bronze", row["source"]]),
                partition=row["delivery_code"],
                metadata={name: MetadataValue.float(v) if isinstance(v, float) else MetadataValue.int(v)
                          for name, v in partition_figures(row).items()},
            )
        )
    context.log.info(f"{len(stats)} delivery/source rows, {len(changed)} changed since the last report; totals {totals}")
    return MaterializeResult(
        metadata={
            "deliveries": int(stats["delivery_code"].nunique()),
            "totals": MetadataValue.json(totals),
            "per_delivery": quality_table(stats),
            "per_delivery_json": MetadataValue.json(stats.to_dict("records")),
        }
    )
