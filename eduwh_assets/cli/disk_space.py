"""A full disk, said plainly: which folder's disk, how little is free, and what to do.

A full disk surfaces as whatever was writing at the time: DuckDB's, dbt's or
dlt's "No space left on device", or SQLite's "disk I/O error" from the Dagster
instance. When an `eduwh` command fails, eduwh looks at the error and at the
disks it writes to, and says so when a disk filled up, instead of leaving the
user to read that from a traceback. A spill file removed on the way out may
have freed some space again by then, so the error's own words count as much
as the space left.
"""

from __future__ import annotations

import errno
import shutil
import tempfile
from pathlib import Path

from eduwh_assets.config import Settings

# Less free space than this on a disk eduwh writes to is taken as the cause of a failure:
# a run's spill files, dbt artifacts and dlt's working folder each need more.
LOW_FREE_BYTES = 64 << 20


def _existing(folder: Path) -> Path:
    """`folder`, or the nearest folder above it that exists (a first run creates it later)."""
    folder = folder.absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def nearly_full_disks(settings: Settings) -> list[tuple[Path, int]]:
    """(folder, free bytes) for each disk under eduwh's folders with less than LOW_FREE_BYTES free."""
    found: list[tuple[Path, int]] = []
    devices: set[int] = set()
    for folder in (settings.warehouse.parent, settings.data_dir, settings.dagster_home, Path(tempfile.gettempdir())):
        existing = _existing(folder)
        device = existing.stat().st_dev
        if device in devices:
            continue
        devices.add(device)
        free = shutil.disk_usage(existing).free
        if free < LOW_FREE_BYTES:
            found.append((folder, free))
    return found


def _readable(size: int) -> str:
    if size < 1 << 10:
        return f"{size} bytes"
    if size < 1 << 20:
        return f"{size / (1 << 10):.1f} KiB"
    return f"{size / (1 << 20):.1f} MiB"


# How the writers say they ran out of space (DuckDB and dbt pass on the OS's words, SQLite has its own).
OUT_OF_SPACE_WORDS = ("No space left on device", "database or disk is full")


def ran_out_of_space(error: BaseException, disk_is_low: bool) -> bool:
    """Whether `error`, or an error it came from, is a disk running out of space.

    SQLite reports a write it could not make as a plain "disk I/O error", which
    counts only when a disk is in fact nearly full.
    """
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            return True
        text = str(error)
        if any(words in text for words in OUT_OF_SPACE_WORDS) or (disk_is_low and "disk I/O error" in text):
            return True
        error = error.__cause__ or error.__context__
    return False


def full_disk_advice(settings: Settings, command: str, error: BaseException | None = None) -> str | None:
    """What to tell the user when a disk eduwh writes to is nearly full, or `error` says one filled up."""
    try:
        full = nearly_full_disks(settings)
    except OSError:
        full = []
    if full:
        where = "; ".join(f"the disk holding {folder} has only {_readable(free)} free" for folder, free in full)
    elif error is not None and ran_out_of_space(error, disk_is_low=False):
        where = f"a disk eduwh writes to ran out of space ({str(error).splitlines()[0] if str(error) else type(error).__name__})"
    else:
        return None
    return (
        f"{where}. A full disk stops DuckDB, dbt and Dagster from writing. Free some space, then run "
        f"`eduwh {command}` again: the warehouse keeps what was committed, and the next run redoes the rest."
    )
