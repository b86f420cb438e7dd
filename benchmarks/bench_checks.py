"""Time and peak memory of the Pandera contract checks on 10M-row attendance tables.

    .venv/bin/python -m benchmarks.bench_checks [--rows 10000000] [--bad 100] [--workdir DIR] [--reuse]

Builds a DuckDB file with `bronze.attendance` (text, as dlt lands it) and
`silver.fact_attendance` (typed, with its dimensions for the foreign keys) and
injects `--bad` failing rows for each rule, on disjoint rows spread over the
whole table (a duplicated key fails two rows per injection). The warehouse is
generated in a child process, and each table's check runs in a child process
of its own, exactly as the Dagster asset check runs it (`run_contract_check`,
with the settings' DuckDB memory limit and threads), so time and peak RSS are
the check's own. Every check must find exactly the injected failures.
Target: peak RSS under 2 GiB.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TABLES = (
    "silver.dim_programme",
    "silver.dim_class",
    "silver.dim_student",
    "bronze.attendance",
    "silver.fact_attendance",
)

# Rule slots: row i breaks rule s when i % period == s and i // period < bad.
# Slots 2 and 9 are the clean partners of the duplicated keys in slots 1 and 8.
SILVER_SLOTS = {
    "attendance_id:not_blank": 0,
    "attendance_id:field_uniqueness": 1,
    "student_id:not_nullable": 3,
    "session_date:not_nullable": 4,
    "status:isin": 5,
    "is_present_iff_present_or_late": 6,
    "delivery_code:str_matches": 7,
    "student_id:foreign_key": 8,
    "class_id:foreign_key": 9,
    "_source_file:not_nullable": 10,
}
BRONZE_SLOTS = {
    "attendance_id:not_blank": 0,
    "student_id:not_blank": 1,
    "session_date:valid_date": 2,
    "status:status_after_trim": 3,
    "delivery_code:str_matches": 4,
    "_source_file:str_matches": 5,
    "_source_row:greater_than_or_equal_to": 6,
    "_ingested_at:not_nullable": 7,
    "unique(delivery_code, _source_file, _source_row)": 8,
    "_dlt_load_id:not_nullable": 10,
}
SLOTS = {"silver.fact_attendance": SILVER_SLOTS, "bronze.attendance": BRONZE_SLOTS}
DUPLICATE_RULES = {"attendance_id:field_uniqueness", "unique(delivery_code, _source_file, _source_row)"}

GENERATE_SQL = """
SET TimeZone = 'UTC';
CREATE SCHEMA silver;
CREATE SCHEMA bronze;
CREATE TABLE silver.dim_programme AS
    SELECT 'P' || i AS programme_code, 'Programme ' || i AS programme_name, 'Faculty' AS faculty, 'L3' AS level
    FROM range(20) r(i);
CREATE TABLE silver.dim_class AS
    SELECT 'C' || i AS class_id, 'Class ' || i AS class_name, 'P' || (i % 20) AS programme_code,
           '2025/26' AS academic_year
    FROM range(400) r(i);
CREATE TABLE silver.dim_student AS
    SELECT 'S' || i AS student_id, 'First' AS first_name, 'Last' AS last_name, 's' || i || '@example.org' AS email,
           DATE '2009-01-01' + (i % 365)::INT AS date_of_birth, 'F' AS gender, 'C' || (i % 400) AS class_id,
           'active' AS enrolment_status
    FROM range(20000) r(i);

CREATE TABLE silver.fact_attendance AS
    WITH g AS (
        SELECT i, CASE WHEN i // {period} < {bad} THEN i % {period} ELSE -1 END AS slot,
               (['present', 'late', 'absent', 'excused'])[1 + (hash(i) % 4)::INT] AS st
        FROM range({rows}) r(i)
    )
    SELECT
        CASE slot WHEN 0 THEN ' ' WHEN 1 THEN 'A' || (i + 1) ELSE 'A' || i END AS attendance_id,
        CASE slot WHEN 3 THEN NULL WHEN 8 THEN 'SX' || i ELSE 'S' || (i % 20000) END AS student_id,
        CASE slot WHEN 9 THEN 'CX' || i ELSE 'C' || ((i % 20000) % 400) END AS class_id,
        CASE slot WHEN 4 THEN NULL ELSE DATE '2025-09-01' + (i % 200)::INT END AS session_date,
        CASE slot WHEN 5 THEN 'sick' WHEN 6 THEN 'absent' ELSE st END AS status,
        CASE slot WHEN 5 THEN false WHEN 6 THEN true ELSE st IN ('present', 'late') END AS is_present,
        CASE slot WHEN 7 THEN 'bad code!' ELSE 'D' || lpad((i // 1000000)::VARCHAR, 3, '0') END AS delivery_code,
        CASE slot WHEN 10 THEN NULL ELSE 'attendance.csv' END AS _source_file
    FROM g ORDER BY i;

CREATE TABLE bronze.attendance AS
    WITH g AS (
        SELECT i, CASE WHEN i // {period} < {bad} THEN i % {period} ELSE -1 END AS slot,
               CASE WHEN i // {period} < {bad} AND i % {period} = 8 THEN i + 1 ELSE i END AS k
        FROM range({rows}) r(i)
    )
    SELECT
        CASE slot WHEN 0 THEN '' ELSE 'A' || i END AS attendance_id,
        CASE slot WHEN 1 THEN '   ' ELSE 'S' || (i % 20000) END AS student_id,
        CASE WHEN slot = 2 AND i % 2 = 0 THEN '2025-02-30' WHEN slot = 2 THEN 'yesterday'
             WHEN i % 7 = 0 THEN ' ' || strftime(DATE '2025-09-01' + (i % 200)::INT, '%Y-%m-%d') || ' '
             ELSE strftime(DATE '2025-09-01' + (i % 200)::INT, '%Y-%m-%d') END AS session_date,
        CASE WHEN slot = 3 THEN 'sick' WHEN i % 5 = 0 THEN ' Present ' WHEN i % 5 = 1 THEN 'LATE'
             ELSE (['present', 'late', 'absent', 'excused'])[1 + (hash(i) % 4)::INT] END AS status,
        CASE slot WHEN 4 THEN '-bad' ELSE 'D' || lpad((k // 1000000)::VARCHAR, 3, '0') END AS delivery_code,
        CASE slot WHEN 5 THEN 'attendance.txt'
                  ELSE 'attendance_D' || lpad((k // 1000000)::VARCHAR, 3, '0') || '.csv' END AS _source_file,
        CASE slot WHEN 6 THEN -i ELSE k + 1 END::BIGINT AS _source_row,
        CASE slot WHEN 7 THEN NULL ELSE TIMESTAMPTZ '2025-09-02 06:00:00+00' END AS _ingested_at,
        CASE slot WHEN 10 THEN NULL ELSE '1764633600.123' END AS _dlt_load_id
    FROM g ORDER BY i;
"""


def expected_failures(table: str, bad: int) -> dict[str, int]:
    """Failing rows per rule (names without their arguments, see `canonical`)."""
    if table not in SLOTS or not bad:
        return {}  # the dimensions are generated clean, and with --bad 0 so is everything
    expected = {rule: bad * (2 if rule in DUPLICATE_RULES else 1) for rule in SLOTS[table]}
    if table == "silver.fact_attendance" and bad > 1:
        expected["attendance_id:field_uniqueness"] += bad  # the blank ids (all ' ') are duplicates too
    return expected


def generate(path: Path, rows: int, bad: int) -> None:
    import duckdb

    period = rows // bad if bad else rows + 1  # --bad 0: every table clean
    if period <= max(max(s.values()) for s in SLOTS.values()) + 1:
        raise SystemExit(f"--bad {bad} is too many for {rows} rows")
    with duckdb.connect(str(path)) as conn:
        conn.execute(GENERATE_SQL.format(rows=rows, bad=bad, period=period))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def canonical(rule: str) -> str:
    """`col:isin(('a', 'b'))` -> `col:isin`, `col:foreign_key(silver.x.y)` -> `col:foreign_key`; keys stay."""
    if rule.startswith("unique("):
        return rule
    return re.sub(r"\(.*\)$", "", rule)


def run_check(warehouse: Path, table: str) -> dict:
    from dagster import AssetCheckSeverity

    from eduwh_assets.config import Settings
    from eduwh_assets.quality.contract_asset_checks import run_contract_check
    from eduwh_assets.warehouse import Warehouse
    from eduwh_assets.quality.contracts import CONTRACTS

    settings = Settings.from_env({"EDUWH_DATA_DIR": str(warehouse.parent), "EDUWH_WAREHOUSE": str(warehouse)})
    started = time.perf_counter()
    result = run_contract_check(Warehouse.from_settings(settings), CONTRACTS[table], AssetCheckSeverity.WARN)
    return {
        "seconds": time.perf_counter() - started,
        "rows": result.metadata["rows_checked"].value,
        "failed_rows": result.metadata["failed_rows"].value,
        "by_rule": {canonical(rule): n for rule, n in result.metadata["failures_by_rule"].data.items()},
        "duckdb": settings.duckdb_config,
    }


def _agreement(expected: dict[str, int], mismatches: dict) -> str:
    if not expected:
        return "clean, as generated" if not mismatches else "NOT clean"
    return f"{len(expected) - len(mismatches)}/{len(expected)} as injected"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows per attendance table")
    parser.add_argument("--bad", type=int, default=100, help="failing rows injected per rule (0: clean tables)")
    parser.add_argument("--workdir", type=Path, default=None, help="where the warehouse goes (default: a temp dir)")
    parser.add_argument("--reuse", action="store_true", help="keep an existing warehouse in --workdir")
    parser.add_argument("--generate-only", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=2, metavar=("TABLE", "WAREHOUSE"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.generate_only:
        generate(args.generate_only, args.rows, args.bad)
        return
    if args.child:
        table, warehouse = args.child
        out = run_check(Path(warehouse), table)
        out["peak_rss_mib"] = peak_rss_mib()
        print("RESULT " + json.dumps(out))
        return

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="eduwh-bench-checks-"))
    workdir.mkdir(parents=True, exist_ok=True)
    warehouse = workdir / "bench.duckdb"
    me = [sys.executable, "-m", "benchmarks.bench_checks"]
    if not (args.reuse and warehouse.exists()):
        warehouse.unlink(missing_ok=True)
        started = time.perf_counter()
        subprocess.run([*me, "--rows", str(args.rows), "--bad", str(args.bad), "--generate-only", str(warehouse)],
                       check=True)
        print(f"generated {args.rows:,} rows per attendance table, {args.bad} bad rows per rule, "
              f"in {time.perf_counter() - started:.1f}s at {warehouse}")

    ok = True
    print(f"{'table':<24} {'rows':>12} {'seconds':>8} {'rows/s':>12} {'peak RSS MiB':>13} {'failed rows':>12} rules")
    for table in TABLES:
        proc = subprocess.run([*me, "--child", table, str(warehouse)], capture_output=True, text=True)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode or not lines:
            print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"the check of {table} failed")
        res = json.loads(lines[0][len("RESULT "):])
        expected = expected_failures(table, args.bad)
        mismatches = {
            rule: (expected.get(rule, 0), res["by_rule"].get(rule, 0))
            for rule in sorted(set(expected) | set(res["by_rule"]))
            if expected.get(rule, 0) != res["by_rule"].get(rule, 0)
        }
        ok &= not mismatches
        print(f"{table:<24} {res['rows']:>12,} {res['seconds']:>8.1f} {res['rows'] / res['seconds']:>12,.0f} "
              f"{res['peak_rss_mib']:>13,.0f} {res['failed_rows']:>12,} "
              f"{_agreement(expected, mismatches)}", flush=True)
        for rule, (want, got) in mismatches.items():
            print(f"    MISMATCH {rule}: injected {want}, found {got}")
    print(f"DuckDB settings of the checks: {res['duckdb']}")
    print("every check found exactly the injected failing rows per rule:", "yes" if ok else "NO")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
