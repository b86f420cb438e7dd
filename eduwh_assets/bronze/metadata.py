"""Materialisation metadata read back from the bronze tables in DuckDB.

What the UI shows is what the warehouse holds after the load (row count,
column types, a few rows), not what the loader believes it wrote.
"""

from __future__ import annotations

from typing import Any, Sequence

import duckdb
from dagster import MetadataValue, TableColumn, TableColumnConstraints, TableSchema

from eduwh_assets.bronze.pipelines import BRONZE_DATASET, table_exists
from eduwh_assets.markdown import markdown_table

PREVIEW_ROWS = 5


def column_schema(con: duckdb.DuckDBPyConnection, table: str) -> TableSchema:
    rows = con.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [BRONZE_DATASET, table],
    ).fetchall()
    return TableSchema(
        columns=[
            TableColumn(
                name=name,
                type=data_type.lower(),
                constraints=None if nullable == "YES" else TableColumnConstraints(nullable=False),
            )
            for name, data_type, nullable in rows
        ]
    )


def table_metadata(
    con: duckdb.DuckDBPyConnection,
    table: str,
    *,
    order_by: Sequence[str],
    where: str | None = None,
    params: Sequence[Any] = (),
    hide: Sequence[str] = (),
) -> dict[str, Any]:
    """`dagster/row_count`, `dagster/column_schema` and a preview of `bronze.<table>`, optionally filtered.

    Columns in `hide` are left out of the preview: run metadata is kept in the
    Dagster instance indefinitely, which is no place for personal data.
    """
    if not table_exists(con, table):
        return {
            "dagster/row_count": MetadataValue.int(0),
            "preview": MetadataValue.md("*table not created yet: nothing has loaded*"),
        }
    qualified = f'"{BRONZE_DATASET}"."{table}"'
    condition = f" WHERE {where}" if where else ""
    count = con.execute(f"SELECT count(*) FROM {qualified}{condition}", list(params)).fetchone()[0]
    order = ", ".join(f'"{c}"' for c in order_by)
    selected = "* EXCLUDE (" + ", ".join(f'"{c}"' for c in hide) + ")" if hide else "*"
    cursor = con.execute(
        f"SELECT {selected} FROM {qualified}{condition} ORDER BY {order} LIMIT {PREVIEW_ROWS}", list(params)
    )
    columns = [d[0] for d in cursor.description]
    preview = cursor.fetchall()
    return {
        "dagster/row_count": MetadataValue.int(int(count)),
        "dagster/column_schema": column_schema(con, table),
        "preview": MetadataValue.md(markdown_table(columns, preview, null="*null*") if preview else "*no rows*"),
    }
