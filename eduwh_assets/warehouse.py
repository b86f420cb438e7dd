"""The DuckDB warehouse file: whether it can be opened at all.

Checked once at the start of every entry point (`eduwh run`, `eduwh backfill`,
and each run the UI or a sensor launches), so a damaged file is named as what
it is instead of surfacing later as a failure of whichever step touched it first.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

FULL_REFRESH_HINT = "`eduwh run --full-refresh` rebuilds it from the sources"
# A writer in another process holds DuckDB's file lock for the length of one step; readers wait for it.
LOCK_WAIT_SECONDS = 120.0


class WarehouseUnreadable(RuntimeError):
    """The warehouse file exists but DuckDB cannot open it. The message says how to rebuild it."""


class WarehouseBusy(RuntimeError):
    """Another process kept the warehouse locked for writing longer than a reader would wait."""


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
