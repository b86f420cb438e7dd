"""Time and peak memory of the Pandera contract checks on a 10M-row fact_attendance.

    .venv/bin/python benchmarks/bench_checks.py [--rows 10000000] [--workdir DIR]

The warehouse is generated with SQL in a child process, so the memory it takes
does not count towards the checks' peak RSS, which is what this measures. The
checks run exactly as the Dagster asset checks run them (`run_contract_check`).
Target: peak RSS under 2 GiB.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GENERATE_SQL = """
CREATE SCHEMA silver;
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
    WITH g AS (SELECT i, (['present', 'late', 'absent', 'excused'])[1 + floor(random() * 4)::INT] AS status
               FROM range({rows}) r(i))
    SELECT 'A' || i AS attendance_id, 'S' || (i % 20000) AS student_id, 'C' || ((i % 20000) % 400) AS class_id,
           DATE '2025-09-01' + (i % 200)::INT AS session_date, status, status IN ('present', 'late') AS is_present,
           'D' || lpad((i // 1000000)::VARCHAR, 3, '0') AS delivery_code, 'attendance.csv' AS _source_file
    FROM g;
"""


def generate(path: Path, rows: int) -> None:
    import duckdb

    with duckdb.connect(str(path)) as conn:
        conn.execute(GENERATE_SQL.format(rows=rows))


def peak_rss_mib() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--generate-only", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.generate_only:
        generate(args.generate_only, args.rows)
        return

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="eduwh-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    warehouse = workdir / "bench.duckdb"
    warehouse.unlink(missing_ok=True)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, __file__, "--rows", str(args.rows), "--generate-only", str(warehouse)], check=True
    )
    print(f"generated {args.rows:,} fact_attendance rows in {time.perf_counter() - started:.1f}s at {warehouse}")

    from dagster import AssetCheckSeverity

    from eduwh_assets.config import Settings
    from eduwh_assets.quality.checks import run_contract_check
    from eduwh_assets.quality.schemas import CONTRACTS

    settings = Settings.from_env({"EDUWH_DATA_DIR": str(workdir), "EDUWH_WAREHOUSE": str(warehouse)})
    tables = ["silver.dim_programme", "silver.dim_class", "silver.dim_student", "silver.fact_attendance"]
    print(f"{'table':<24} {'rows':>12} {'seconds':>9} {'rows/s':>12} {'peak RSS MiB':>13} {'passed':>7}")
    total_rows, total_seconds = 0, 0.0
    for table in tables:
        t0 = time.perf_counter()
        result = run_contract_check(settings, CONTRACTS[table], AssetCheckSeverity.ERROR)
        seconds = time.perf_counter() - t0
        rows = result.metadata["rows_checked"].value
        total_rows += rows
        total_seconds += seconds
        print(
            f"{table:<24} {rows:>12,} {seconds:>9.1f} {rows / seconds:>12,.0f} {peak_rss_mib():>13,.0f} "
            f"{str(result.passed):>7}"
        )
        if not result.passed:
            print(f"  {result.description}")
    print(
        f"{'all checks':<24} {total_rows:>12,} {total_seconds:>9.1f} {total_rows / total_seconds:>12,.0f} "
        f"{peak_rss_mib():>13,.0f}"
    )
    print("target: peak RSS under 2048 MiB:", "met" if peak_rss_mib() < 2048 else "MISSED")


if __name__ == "__main__":
    main()
