"""Helpers for reading the warehouse's catalogue and naming its relations in SQL.

Quality code never writes the warehouse: it reads through
`Warehouse.read_only_connection()` (eduwh_assets/warehouse.py).
"""

from __future__ import annotations

import duckdb


def relation_kind(conn: duckdb.DuckDBPyConnection, table: str) -> str | None:
    """'BASE TABLE', 'VIEW', or None when `schema.name` does not exist."""
    schema, name = table.split(".", 1)
    row = conn.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchall()
    return row[0][0] if row else None


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def qualified(table: str) -> str:
    schema, name = table.split(".", 1)
    return f"{quote(schema)}.{quote(name)}"
