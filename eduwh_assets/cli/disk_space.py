"""A full disk, said plainly: which folder's disk, how little is free, and what to do.

A full disk surfaces as whatever was writing at the time: DuckDB's or dbt's
"No space left on device", or SQLite's "disk I/O error" from the Dagster
instance. After a failure eduwh looks at the disks it writes to, and when one
is nearly full it says so, instead of leaving the user to read that from a
traceback.
"""

from __future__ import annotations

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


def full_disk_advice(settings: Settings, command: str) -> str | None:
    """What to tell the user when a disk eduwh writes to is nearly full; None when none is."""
    full = nearly_full_disks(settings)
    if not full:
        return None
    where = "; ".join(f"the disk holding {folder} has only {_readable(free)} free" for folder, free in full)
    return (
        f"{where}. A full disk stops DuckDB, dbt and Dagster from writing. Free some space, then run "
        f"`eduwh {command}` again: the warehouse keeps what was committed, and the next run redoes the rest."
    )
