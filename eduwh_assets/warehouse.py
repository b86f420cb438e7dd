"""The DuckDB warehouse file: the one resource that connects to it, and whether it can be opened at all.

Every connection of the code location (dlt's loads, dbt's metadata, the checks,
the sensors' reads of the ledger) comes from one `Warehouse` resource, so
DuckDB's memory limit and threads are set in one place (`Settings.duckdb_config`).

The file is checked once at the start of every entry point (`eduwh run`,
`eduwh backfill`, and each run the UI or a sensor launches), so a damaged file
is named as what it is instead of surfacing later as a failure of whichever
step touched it first.
"""

from __future__ import annotations

import functools
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import duckdb
from dagster_duckdb import DuckDBResource

from eduwh_assets.config import WAREHOUSE_POOL, Settings

Decorator = TypeVar("Decorator", bound=Callable)

FULL_REFRESH_HINT = "`eduwh run --full-refresh` rebuilds it from the sources"
# A writer in another process holds DuckDB's file lock for the length of one step; readers wait for it.
LOCK_WAIT_SECONDS = 120.0


def on_warehouse(decorator: Decorator) -> Decorator:
    """A Dagster decorator (`asset`, `asset_check`, `dbt_assets`, `dlt_assets`, ...) whose steps queue on the warehouse pool.

    Every step that opens the warehouse takes the pool's one slot: DuckDB lets one process
    write the file, and a reader in another process conflicts with that writer too.
    """
    return functools.partial(decorator, pool=WAREHOUSE_POOL)


class WarehouseUnreadable(RuntimeError):
    """The warehouse file exists but DuckDB cannot open it. The message says how to rebuild it."""


class WarehouseBusy(RuntimeError):
    """Another process kept the warehouse locked for writing longer than a reader would wait."""


class WarehouseMissing(FileNotFoundError):
    """Nothing has built the warehouse yet, so there is nothing to read."""


class Warehouse(DuckDBResource):
    """The DuckDB warehouse as a Dagster resource (dagster-duckdb's), for writers and readers alike.

    `connection_config` holds DuckDB's memory limit and threads. A writer's connection is
    DuckDBResource's, which retries while another process holds the file's lock; DuckDB
    allows one writing process, and the `duckdb_warehouse` pool keeps eduwh's writers
    from overlapping. A reader's connection is read-only, waits for a writer in another
    process and names it when the wait runs out.
    """

    @classmethod
    def from_settings(cls, settings: "Settings") -> "Warehouse":
        return cls(database=str(settings.warehouse), connection_config=settings.duckdb_config)

    @property
    def path(self) -> Path:
        return Path(self.database)

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection, closed on exit however the block ends."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with super().get_connection() as conn:
            try:
                yield conn
            finally:
                # DuckDBResource closes it only when the block succeeds; an open connection
                # left for the garbage collector would keep this process's lock on the file.
                conn.close()

    @contextmanager
    def read_only_connection(self, wait_seconds: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection once no other process is writing; WarehouseMissing before the first build."""
        if not self.path.exists():
            raise WarehouseMissing(f"warehouse {self.path} does not exist yet")
        conn = connect_read_only(
            self.path, LOCK_WAIT_SECONDS if wait_seconds is None else wait_seconds, config=self.connection_config
        )
        try:
            with tempfile.TemporaryDirectory(prefix="eduwh-read-") as spill:
                # The warehouse's own temp folder may not be writable for a read-only reader.
                conn.execute(f"SET temp_directory = '{spill}'")
                conn.execute("SET TimeZone = 'UTC'")
                yield conn
        finally:
            conn.close()


def is_lock_conflict(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and "Could not set lock" in str(exc)


def connect_read_only(
    path: Path, wait_seconds: float = LOCK_WAIT_SECONDS, config: dict[str, str] | None = None
) -> duckdb.DuckDBPyConnection:
    """A read-only connection, once no other process is writing; WarehouseBusy after `wait_seconds`.

    The message of WarehouseBusy names the process holding the lock, as DuckDB reports it;
    a file DuckDB cannot open at all raises WarehouseUnreadable.
    """
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return duckdb.connect(str(path), read_only=True, config=config or {})
        except duckdb.Error as exc:
            if "different configuration" in str(exc):
                raise  # this process already has the file open otherwise: a bug, not a broken file
            if not is_lock_conflict(exc):
                raise unreadable(path, exc) from None
            if time.monotonic() >= deadline:
                raise WarehouseBusy(f"the warehouse {path} is being written: {str(exc).splitlines()[0]}") from None
            time.sleep(0.5)


def check_warehouse(path: Path) -> None:
    """Raise WarehouseUnreadable when `path` exists and is not a DuckDB database DuckDB can open.

    A file another process is writing is busy, not broken: DuckDB refuses the lock, and
    the concurrency pool, not this check, makes the caller wait for it.
    """
    if not path.exists():
        return  # the first run creates it
    try:
        duckdb.connect(str(path), read_only=True).close()
    except duckdb.Error as exc:
        if is_lock_conflict(exc) or "different configuration" in str(exc):
            return
        raise unreadable(path, exc) from None


def unreadable(path: Path, exc: BaseException) -> WarehouseUnreadable:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return WarehouseUnreadable(f"the warehouse {path} cannot be opened ({reason}); {FULL_REFRESH_HINT}")
