"""Each dbt model's materialisation with its row count and typed columns, read from the warehouse.

dagster-dbt's `fetch_row_counts()` and `fetch_column_metadata()` read them
through a dbt-duckdb adapter opened in this process, and that adapter keeps
its read-write connection to the file open afterwards. DuckDB allows one
configuration per file per process, so every read-only connection after it,
the asset checks of the same step, would fail. eduwh reads the same figures
through its own read-only connection instead, once dbt has exited and freed
the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from dagster import AssetMaterialization, MetadataValue, Output, TableColumn, TableSchema

from eduwh_assets.quality.warehouse import qualified, relation_kind
from eduwh_assets.warehouse import Warehouse


def with_table_metadata(events: Iterable[Any], manifest: Mapping[str, Any], warehouse: Warehouse) -> Iterator[Any]:
    """`events` as dbt emitted them, each model's output carrying `dagster/row_count` and `dagster/column_schema`."""
    events = list(events)  # dbt has exited once its last event is in: the warehouse is free
    with warehouse.read_only_connection() as conn:
        for event in events:
            node = _model_of(event, manifest)
            if node is None:
                yield event
                continue
            table = f"{node['schema']}.{node.get('alias') or node['name']}"
            kind = relation_kind(conn, table)
            if kind is None:
                yield event
                continue
            documented = node.get("columns") or {}
            columns = [
                TableColumn(name=name, type=data_type, description=(documented.get(name) or {}).get("description"))
                for name, data_type in conn.execute(f"SELECT column_name, column_type FROM (DESCRIBE {qualified(table)})").fetchall()
            ]
            # A view's count would run its query: only tables are counted.
            table_metadata = {"dagster/column_schema": MetadataValue.table_schema(TableSchema(columns=columns))}
            if kind == "BASE TABLE":
                count = conn.execute(f"SELECT count(*) FROM {qualified(table)}").fetchone()[0]
                table_metadata["dagster/row_count"] = MetadataValue.int(count)
            yield event.with_metadata({**event.metadata, **table_metadata})


def _model_of(event: Any, manifest: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if not isinstance(event, (Output, AssetMaterialization)):
        return None
    unique_id = event.metadata.get("unique_id")
    node = manifest["nodes"].get(getattr(unique_id, "text", unique_id))
    return node if node and node["resource_type"] in ("model", "seed") else None
