"""Read-only access to the DuckDB warehouse for checks and exports.

Quality code never writes the warehouse. It opens it read-only, bounds DuckDB's
memory with the settings' limits, and closes the connection as soon
as the work is done.
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from typing import Iterator

import duckdb

from eduwh_assets.config import Settings
from eduwh_assets.warehouse import connect_read_only


class WarehouseMissing(FileNotFoundError):
    pass


@contextmanager
def open_warehouse(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the warehouse, with the settings' DuckDB limits, closed on exit."""
    path = settings.warehouse
    if not path.exists():
        raise WarehouseMissing(f"warehouse {path} does not exist yet")
    conn = connect_read_only(path, config=settings.duckdb_config)
    try:
        with tempfile.TemporaryDirectory(prefix="eduwh-quality-") as spill:
            # The warehouse's own temp folder may not be writable for a read-only reader.
            conn.execute(f"SET temp_directory = '{spill}'")
            conn.execute("SET TimeZone = 'UTC'")
            yield conn
    finally:
        conn.close()


def relation_kind(conn: duckdb.DuckDBPyConnection, table: str) -> str | None:
    """'BASE TABLE', 'VIEW', or None when `schema.name` does not exist."""
    schema, name = table.split(".", 1)
    row = conn.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchall()
    return row[0][0] if row else None


def columns_of(conn: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    schema, name = table.split(".", 1)
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
        "ORDER BY ordinal_position",
        [schema, name],
    ).fetchall()
    return [r[0] for r in rows]


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def qualified(table: str) -> str:
    schema, name = table.split(".", 1)
    return f"{quote(schema)}.{quote(name)}"
