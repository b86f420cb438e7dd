"""Each dbt model's materialisation with its row count and typed columns.

Every model and seed logs its relation's columns and row count as it finishes
(macros/table_metadata.sql), on dbt's own connection. eduwh attaches those
figures to the model's event and passes it on at once, so Dagster records each
model while dbt builds the rest rather than all of them after dbt exits.

A model that logged nothing falls back to reading the warehouse itself, through
its own read-only connection once dbt has exited and freed the file. (dagster-dbt's
`fetch_row_counts()` and `fetch_column_metadata()` would open a dbt-duckdb adapter
in this process that keeps its read-write connection to the file, and DuckDB
allows one configuration per file per process, so the read-only connections of
the step's asset checks would then fail. dagster-dbt's own post-hook for column
metadata ships in a dbt package these machines cannot download, and carries
neither row counts nor the project's column descriptions.)

The line starts with text because dagster-dbt keeps a log line that is pure JSON
for itself; like dbt's other lines it is left out of the console
(`console.DbtProgress`) and kept in dbt's log.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from dagster import AssetMaterialization, MetadataValue, Output, TableColumn, TableSchema
from dagster_dbt import DbtCliInvocation

from eduwh_assets.quality.warehouse import qualified, relation_kind
from eduwh_assets.warehouse import Warehouse


# The start of the line macros/table_metadata.sql logs; the rest is JSON.
METADATA_LINE = "eduwh table metadata "


def dbt_events_with_table_metadata(invocation: DbtCliInvocation, warehouse: Warehouse) -> Iterator[Any]:
    """The Dagster events of a running dbt command, each model's output carrying its figures, as dbt reports them."""
    manifest = invocation.manifest
    figures_by_node: dict[str, Mapping[str, Any]] = {}
    after_exit: list[Any] = []  # from the first model that logged no figures on, kept in order
    failure: Exception | None = None
    try:
        for raw in invocation.stream_raw_events():
            info = raw.raw_event["info"]
            if info["name"] == "JinjaLogInfo" and info["msg"].startswith(METADATA_LINE):
                node_id = raw.raw_event["data"].get("node_info", {}).get("unique_id")
                if node_id:
                    figures_by_node[node_id] = json.loads(info["msg"][len(METADATA_LINE) :])
                continue
            for event in raw.to_default_asset_events(
                manifest=manifest,
                dagster_dbt_translator=invocation.dagster_dbt_translator,
                context=invocation.context,
                target_path=invocation.target_path,
                project=invocation.project,
            ):
                node = _model_of(event, manifest)
                figures = figures_by_node.get(node["unique_id"]) if node else None
                if node is not None and figures is None and not after_exit and invocation.context:
                    invocation.context.log.warning(
                        f"{node['unique_id']} logged no table figures (is dbt's log level above info?): "
                        "its row count and columns, and those of every model after it, are read once dbt exits"
                    )
                if after_exit or (node is not None and figures is None):
                    after_exit.append(event)
                elif figures is None:
                    yield event
                else:
                    yield _with_figures(event, node, figures["columns"], figures.get("row_count"))
    except Exception as exc:
        failure = exc  # dbt failed (it has exited): the models it did build, and their checks, are still recorded
    if after_exit:
        yield from with_table_metadata(after_exit, manifest, warehouse)
    if failure is not None:
        raise failure


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
            columns = conn.execute(f"SELECT column_name, column_type FROM (DESCRIBE {qualified(table)})").fetchall()
            # A view's count would run its query: only tables are counted.
            count = conn.execute(f"SELECT count(*) FROM {qualified(table)}").fetchone()[0] if kind == "BASE TABLE" else None
            yield _with_figures(event, node, columns, count)


def _with_figures(event: Any, node: Mapping[str, Any], columns: Iterable[Iterable[str]], row_count: int | None) -> Any:
    """`event` with the relation's typed columns, described as the dbt project documents them, and its row count."""
    documented = node.get("columns") or {}
    schema = TableSchema(
        columns=[
            TableColumn(name=name, type=data_type, description=(documented.get(name) or {}).get("description"))
            for name, data_type in columns
        ]
    )
    table_metadata = {"dagster/column_schema": MetadataValue.table_schema(schema)}
    if row_count is not None:
        table_metadata["dagster/row_count"] = MetadataValue.int(row_count)
    return event.with_metadata({**event.metadata, **table_metadata})


def _model_of(event: Any, manifest: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if not isinstance(event, (Output, AssetMaterialization)):
        return None
    unique_id = event.metadata.get("unique_id")
    node = manifest["nodes"].get(getattr(unique_id, "text", unique_id))
    return node if node and node["resource_type"] in ("model", "seed") else None
