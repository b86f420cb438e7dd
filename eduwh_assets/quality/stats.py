"""Error statistics per delivery, read from gold.delivery_quality.

`delivery_stats` is the one query behind both the `quality/delivery_error_stats`
asset and the summary `eduwh run` prints.
"""

import duckdb
import pandas as pd
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from eduwh_assets.config import WAREHOUSE_POOL
from eduwh_assets.quality.checks import to_markdown
from eduwh_assets.quality.warehouse import relation_kind
from eduwh_assets.warehouse import Warehouse
from eduwh_assets.rules import LOADED, REJECT_REASONS, SUPERSEDED

STATS_COLUMNS = ["delivery_code", "source", "received", "loaded", "superseded", "rejected", *REJECT_REASONS]


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


@asset(
    key=AssetKey(["quality", "delivery_error_stats"]),
    group_name="quality",
    kinds={"duckdb", "pandas"},
    deps=[AssetKey(["gold", "delivery_quality"])],
    # Only reads the warehouse, but a DuckDB reader still conflicts with a writer in another process.
    pool=WAREHOUSE_POOL,
    description="Per delivery and source: rows received, loaded, superseded and rejected by reason",
)
def delivery_error_stats(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    with warehouse.read_only_connection() as conn:
        stats = delivery_stats(conn)
    totals = {c: int(stats[c].sum()) for c in STATS_COLUMNS[2:]}
    context.log.info(f"{len(stats)} delivery/source rows; totals {totals}")
    return MaterializeResult(
        metadata={
            "deliveries": int(stats["delivery_code"].nunique()),
            "totals": MetadataValue.json(totals),
            "per_delivery": MetadataValue.md(to_markdown(stats) if len(stats) else "no deliveries yet"),
            "per_delivery_json": MetadataValue.json(stats.to_dict("records")),
        }
    )
