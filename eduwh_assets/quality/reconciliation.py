"""Load reconciliation: rows received per file in bronze against the delivery's manifest.

The check is partitioned like the bronze assets it targets, so each delivery
gets its own pass/fail in the UI. A run over a partition range reconciles every
delivery in the range; a run with no partition at all reconciles every delivery
found in bronze.
"""

from dataclasses import dataclass

import duckdb
import pandas as pd
from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetChecksDefinition,
    AssetKey,
    MetadataValue,
    ResourceParam,
    asset_check,
)

from eduwh_assets.config import Settings
from eduwh_assets.partitions import deliveries_partitions
from eduwh_assets.markdown import frame_table
from eduwh_assets.quality.describe import check_description
from eduwh_assets.quality.warehouse import relation_kind
from eduwh_assets.warehouse import Warehouse, WarehouseMissing, on_warehouse
from eduwh_assets.sources.landing import LandingZone, ManifestError, source_of

CHECK_NAME = "manifest_reconciliation"
BRONZE_TABLES = {"attendance": "bronze.attendance", "assessments": "bronze.assessments"}


@dataclass(frozen=True)
class FileCount:
    delivery_code: str
    file: str
    manifest_rows: int | None  # None: the file is in bronze but not in the manifest
    received_rows: int

    @property
    def matches(self) -> bool:
        return self.manifest_rows == self.received_rows

    def describe(self) -> str:
        if self.manifest_rows is None:
            return f"{self.delivery_code}/{self.file}: not in the manifest, received {self.received_rows} rows"
        return (
            f"{self.delivery_code}/{self.file}: manifest {self.manifest_rows} rows, "
            f"received {self.received_rows} rows"
        )


def received_counts(conn: duckdb.DuckDBPyConnection | None, source: str, code: str) -> dict[str, int]:
    """Rows in bronze for one delivery and source, by file (empty when nothing is loaded)."""
    table = BRONZE_TABLES[source]
    if conn is None or relation_kind(conn, table) is None:
        return {}
    rows = conn.execute(
        f"SELECT _source_file, count(*) FROM {table} WHERE delivery_code = ? GROUP BY 1", [code]
    ).fetchall()
    return {name: int(n) for name, n in rows}


def delivery_codes_in_bronze(conn: duckdb.DuckDBPyConnection | None, source: str) -> list[str]:
    table = BRONZE_TABLES[source]
    if conn is None or relation_kind(conn, table) is None:
        return []
    return [r[0] for r in conn.execute(f"SELECT DISTINCT delivery_code FROM {table} ORDER BY 1").fetchall()]


def reconcile(
    conn: duckdb.DuckDBPyConnection | None, landing: LandingZone, source: str, codes: list[str]
) -> tuple[list[FileCount], dict[str, str]]:
    """Per-file counts for `codes`, and by delivery code the problem that prevents reconciling it at all."""
    counts: list[FileCount] = []
    problems: dict[str, str] = {}
    for code in codes:
        try:
            delivery = landing.delivery(code)
        except ManifestError as exc:
            problems[code] = str(exc)
            continue
        if delivery is None:
            problems[code] = f"{code}: no manifest in the landing zone"
            continue
        expected = {name: n for name, n in delivery.manifest.rows.items() if source_of(name) == source}
        received = received_counts(conn, source, code)
        for name in sorted(expected.keys() | received.keys()):
            counts.append(FileCount(code, name, expected.get(name), received.get(name, 0)))
    return counts, problems


def run_reconciliation(
    settings: Settings, warehouse: Warehouse, source: str, codes: list[str] | None
) -> AssetCheckResult:
    """The verdict over deliveries `codes`, or over every delivery bronze holds when None."""
    return reconciliation_result(source, *reconcile_deliveries(settings, warehouse, source, codes))


def reconcile_deliveries(
    settings: Settings, warehouse: Warehouse, source: str, codes: list[str] | None
) -> tuple[list[str], list[FileCount], dict[str, str]]:
    """The deliveries judged, their per-file counts, and the problems by delivery, read once."""
    landing = LandingZone.from_settings(settings)
    try:
        with warehouse.read_only_connection() as conn:
            if codes is None:
                # Every delivery bronze holds that is still in the landing zone; one whose folder
                # was archived away keeps its rows and is reported as such, not as a mismatch.
                present = set(landing.folder_names())
                codes = [c for c in delivery_codes_in_bronze(conn, source) if c in present]
            counts, problems = reconcile(conn, landing, source, codes)
    except WarehouseMissing:
        # No warehouse yet: every manifest file counts as 0 received.
        codes = codes or []
        counts, problems = reconcile(None, landing, source, codes)
    return codes, counts, problems


def reconciliation_result(
    source: str, codes: list[str], counts: list[FileCount], problems: dict[str, str]
) -> AssetCheckResult:
    mismatches = [c for c in counts if not c.matches]
    table = pd.DataFrame(
        [
            {
                "delivery_code": c.delivery_code,
                "file": c.file,
                "manifest_rows": "" if c.manifest_rows is None else c.manifest_rows,
                "received_rows": c.received_rows,
                "status": "ok" if c.matches else "MISMATCH",
            }
            for c in counts
        ]
    )
    lines = [c.describe() for c in mismatches] + list(problems.values())
    passed = not lines
    return AssetCheckResult(
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        description=(
            f"{len(counts)} {source} file(s) in {len(codes)} delivery(ies) match their manifests"
            if passed
            else "; ".join(lines)
        ),
        metadata={
            "deliveries": MetadataValue.json(list(codes)),
            "files_checked": len(counts),
            "mismatched_files": len(mismatches),
            "mismatches": MetadataValue.json(
                [
                    {
                        "delivery_code": c.delivery_code,
                        "file": c.file,
                        "manifest_rows": c.manifest_rows,
                        "received_rows": c.received_rows,
                    }
                    for c in mismatches
                ]
            ),
            "problems": MetadataValue.json(list(problems.values())),
            "files": MetadataValue.md(frame_table(table) if len(table) else "no files"),
        },
    )


def build_reconciliation_check(source: str) -> AssetChecksDefinition:
    asset_key = AssetKey(BRONZE_TABLES[source].split("."))

    @on_warehouse(asset_check)(
        asset=asset_key,
        name=CHECK_NAME,
        partitions_def=deliveries_partitions,
        description=check_description(
            f"the rows received per {source} file of this delivery in bronze equal its _manifest.json; "
            "a mismatch names the file and both counts.",
            "a short count means rows were lost between the sender and eduwh (a truncated upload, a bad "
            "export), so every mart built from the delivery undercounts.",
            "compare the named file with the sender's export, then redeliver it complete under a new delivery "
            "code (the newer delivery supersedes the old rows), or fix the manifest if it miscounts.",
        ),
    )
    def _check(context: AssetCheckExecutionContext, settings: ResourceParam[Settings], warehouse: Warehouse):
        codes = list(context.partition_keys) if (context.has_partition_key or context.has_partition_key_range) else None
        codes, counts, problems = reconcile_deliveries(settings, warehouse, source, codes)
        if context.has_partition_key_range and len(codes) > 1:
            # Dagster records a check result of a range run against no partition, so each
            # delivery's own verdict is recorded against its partition beside it.
            for code in codes:
                own = reconciliation_result(
                    source,
                    [code],
                    [c for c in counts if c.delivery_code == code],
                    {k: v for k, v in problems.items() if k == code},
                )
                yield AssetCheckEvaluation(
                    asset_key=asset_key,
                    check_name=CHECK_NAME,
                    passed=own.passed,
                    severity=own.severity,
                    description=own.description,
                    metadata=own.metadata,
                    blocking=False,
                    partition=code,
                )
        result = reconciliation_result(source, codes, counts, problems)
        context.log.info(result.description)
        yield result

    return _check


@on_warehouse(asset_check)(
    asset=AssetKey(["gold", "delivery_quality"]),
    name=CHECK_NAME,
    description=check_description(
        "every delivery in bronze, attendance and assessments alike, still matches its _manifest.json.",
        "it runs with every refresh of gold, so a delivery that lost rows keeps failing until it is fixed, "
        "and the delivery_quality figures are not trusted meanwhile.",
        "the failing partitions of the bronze reconciliation checks name each file and both counts: "
        "redeliver those files complete, or correct the manifest if it miscounts.",
    ),
)
def delivery_quality_reconciliation(
    context: AssetCheckExecutionContext, settings: ResourceParam[Settings], warehouse: Warehouse
) -> AssetCheckResult:
    results = {source: run_reconciliation(settings, warehouse, source, None) for source in BRONZE_TABLES}
    passed = all(r.passed for r in results.values())
    description = "; ".join(r.description for r in results.values() if not r.passed) or "; ".join(
        r.description for r in results.values()
    )
    context.log.info(description)
    return AssetCheckResult(
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        description=description,
        metadata={f"{source}_{name}": value for source, r in results.items() for name, value in r.metadata.items()},
    )


reconciliation_checks: list[AssetChecksDefinition] = [
    *(build_reconciliation_check(s) for s in BRONZE_TABLES),
    delivery_quality_reconciliation,
]
