"""Bad-data exports: each delivery's quarantined rows as CSV files people can open.

`<rejects_dir>/<delivery_code>/<source>_rejects.csv` holds the quarantine rows
of that delivery and source: the raw values, lineage and `reason`, ordered by
`_source_file`, `_source_row`. Quarantine is recomputed on every build, so the
folder is rewritten to mirror it: files of deliveries whose rows are no longer
rejected are removed.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
from dagster import AssetExecutionContext, AssetKey, Failure, MaterializeResult, MetadataValue, ResourceParam, asset

from eduwh_assets.config import Settings
from eduwh_assets.quality.contracts.quarantine import (
    QUARANTINE_ASSESSMENT_REJECTS,
    QUARANTINE_ATTENDANCE_REJECTS,
)
from eduwh_assets.markdown import frame_table
from eduwh_assets.quality.warehouse import quote, relation_kind
from eduwh_assets.warehouse import Warehouse, on_warehouse
from eduwh_assets.rules import REJECT_REASONS
from eduwh_assets.sources.landing import is_valid_delivery_code

# source -> (quarantine table, exported columns in contract order)
REJECT_TABLES = {
    "attendance": ("quarantine.attendance_rejects", list(QUARANTINE_ATTENDANCE_REJECTS.columns)),
    "assessments": ("quarantine.assessment_rejects", list(QUARANTINE_ASSESSMENT_REJECTS.columns)),
}


def reject_file_name(source: str) -> str:
    return f"{source}_rejects.csv"


@dataclass
class ExportSummary:
    written: list[str] = field(default_factory=list)  # paths relative to the rejects folder
    removed: list[str] = field(default_factory=list)
    # one row per (delivery_code, source): rows and rows by reason
    per_delivery: pd.DataFrame = field(default_factory=pd.DataFrame)

    def by_reason(self) -> dict[str, int]:
        if self.per_delivery.empty:
            return {}
        totals = self.per_delivery[[r for r in REJECT_REASONS if r in self.per_delivery]].sum()
        return {reason: int(n) for reason, n in totals.items() if n}


def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def export_rejects(conn: duckdb.DuckDBPyConnection, rejects_dir: Path) -> ExportSummary:
    """Write every delivery's reject files and delete the ones quarantine no longer backs."""
    rejects_dir = Path(rejects_dir)
    summary = ExportSummary()
    keep: set[tuple[str, str]] = set()
    stats = []
    for source, (table, columns) in REJECT_TABLES.items():
        if relation_kind(conn, table) is None:
            # Without the table we cannot tell which files are stale; refuse rather than wipe the folder.
            raise Failure(f"{table} does not exist: build quarantine/{table.split('.', 1)[1]} first")
        per_reason = conn.execute(
            f"SELECT delivery_code, reason, count(*) FROM {table} GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        counts: dict[str, dict[str, int]] = {}
        for code, reason, n in per_reason:
            counts.setdefault(code, {})[reason] = int(n)
        cols = ", ".join(quote(c) for c in columns)
        for code, reasons in counts.items():
            if code is None or not is_valid_delivery_code(code):
                # A code that is not a folder name never came from the landing zone; never build a path from it.
                raise Failure(f"{table} holds rows with an invalid delivery_code {code!r}")
            folder = rejects_dir / code
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / reject_file_name(source)
            partial = folder / f".{reject_file_name(source)}.partial"
            conn.execute(
                f"COPY (SELECT {cols} FROM {table} WHERE delivery_code = '{code}' "
                f"ORDER BY _source_file, _source_row) TO {_sql_path(partial)} (FORMAT csv, HEADER true)"
            )
            # Replace atomically, so a reader never sees half a file.
            os.replace(partial, target)
            keep.add((code, source))
            summary.written.append(f"{code}/{target.name}")
            stats.append({"delivery_code": code, "source": source, "rows": sum(reasons.values()), **reasons})

    names = {reject_file_name(s): s for s in REJECT_TABLES}
    if rejects_dir.exists():
        for folder in sorted(p for p in rejects_dir.iterdir() if p.is_dir()):
            for path in sorted(folder.iterdir()):
                source = names.get(path.name)
                if source is not None and (folder.name, source) not in keep:
                    path.unlink()
                    summary.removed.append(f"{folder.name}/{path.name}")
            if not any(folder.iterdir()):
                folder.rmdir()

    frame = pd.DataFrame(stats, columns=["delivery_code", "source", "rows", *REJECT_REASONS])
    reason_cols = list(REJECT_REASONS)
    frame[reason_cols] = frame[reason_cols].fillna(0).astype("int64")
    summary.per_delivery = frame.sort_values(["delivery_code", "source"]).reset_index(drop=True)
    return summary


@on_warehouse(asset)(
    key=AssetKey(["quality", "reject_exports"]),
    group_name="quality",
    kinds={"duckdb", "csv"},
    deps=[AssetKey(["quarantine", "attendance_rejects"]), AssetKey(["quarantine", "assessment_rejects"])],
    # Only reads the warehouse, but a DuckDB reader still conflicts with a writer in another process.
    description="Each delivery's quarantined rows as <rejects_dir>/<delivery_code>/<source>_rejects.csv",
)
def reject_exports(
    context: AssetExecutionContext, settings: ResourceParam[Settings], warehouse: Warehouse
) -> MaterializeResult:
    with warehouse.read_only_connection() as conn:
        summary = export_rejects(conn, settings.rejects_dir)
    context.log.info(f"wrote {len(summary.written)} reject file(s), removed {len(summary.removed)} stale")
    return MaterializeResult(
        metadata={
            "rejects_dir": str(settings.rejects_dir),
            "rejected_rows": int(summary.per_delivery["rows"].sum()) if len(summary.per_delivery) else 0,
            "rejects_by_reason": MetadataValue.json(summary.by_reason()),
            "per_delivery": MetadataValue.md(
                frame_table(summary.per_delivery) if len(summary.per_delivery) else "no rejects"
            ),
            "files_written": MetadataValue.json(summary.written),
            "files_removed": MetadataValue.json(summary.removed),
        }
    )
