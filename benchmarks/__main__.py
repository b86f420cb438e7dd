"""Benchmark the main job at a stated scale and print a table of figures.

    python -m benchmarks --scale 1m        # ~1M attendance rows (make bench)
    python -m benchmarks --scale 10m       # ~10M attendance rows

Each phase runs in its own process, so its wall time and peak RSS are its own:
generation, SIS sync, file ingestion, silver + gold + checks, then one extra
delivery of about 1% of the attendance rows, then a no-op re-run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
INCREMENT_CODE = "2099-12-31-increment"  # sorts after every generated delivery code


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in bytes (from wait4's rusage of that child) and stdout."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.stderr.write(stdout[-4000:] + stderr[-4000:])
        raise SystemExit(f"benchmark step failed: {' '.join(cmd)}")
    return seconds, usage.ru_maxrss * 1024, stdout  # Linux reports ru_maxrss in KiB


def count(warehouse: Path, sql: str) -> int:
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        return conn.execute(sql).fetchone()[0]


def write_increment(landing: Path, fraction_rows: int) -> int:
    """A new delivery restating the first `fraction_rows` attendance rows with a changed status."""
    first = sorted(p for p in landing.iterdir() if p.is_dir())[0]
    source = sorted(first.glob("attendance*.csv"))[0]
    table = pacsv.read_csv(source, convert_options=pacsv.ConvertOptions(include_columns=["attendance_id", "student_id", "session_date", "status"], strings_can_be_null=False, column_types={c: "string" for c in ["attendance_id", "student_id", "session_date", "status"]}))
    table = table.slice(0, fraction_rows)
    target = landing / INCREMENT_CODE
    target.mkdir()
    pacsv.write_csv(table, target / "attendance.csv")
    manifest = {"delivery_code": INCREMENT_CODE, "files": {"attendance.csv": {"rows": table.num_rows}}}
    (target / "_manifest.json").write_text(json.dumps(manifest))
    return table.num_rows


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="1m", help="generator scale: tiny, small, demo, 1m, 10m (default 1m)")
    parser.add_argument("--workdir", help="keep the benchmark data here (default: a temporary folder, removed after)")
    args = parser.parse_args()

    import pgserver

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="eduwh-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(workdir / "pg", cleanup_mode="stop")
    sis_url = server.get_uri()  # the plain form, which EDUWH_SIS_URL accepts
    env = dict(os.environ)
    env.update(
        EDUWH_DATA_DIR=str(workdir / "data"),
        EDUWH_WAREHOUSE=str(workdir / "data" / "warehouse.duckdb"),
        EDUWH_LANDING=str(workdir / "landing"),
        EDUWH_SIS_URL=sis_url,
        DAGSTER_HOME=str(workdir / "dagster"),
    )
    warehouse = Path(env["EDUWH_WAREHOUSE"])
    rows: list[tuple[str, int | None, float, int]] = []

    def phase(label: str, cmd: list[str], row_count=None) -> dict:
        print(f"... {label}", file=sys.stderr, flush=True)
        seconds, rss, out = measure(cmd, env)
        rows.append((label, row_count() if row_count else None, seconds, rss))
        last = out.strip().splitlines()[-1] if out.strip() else "{}"
        return json.loads(last) if last.startswith("{") else {}

    run_phase = [str(BIN / "python"), "-m", "benchmarks.phase"]
    try:
        phase("generate", [str(BIN / "eduwh"), "generate", "--scale", args.scale, "--landing", env["EDUWH_LANDING"], "--sis-url", sis_url])
        phase("SIS -> bronze", run_phase + ["sis"], lambda: count(warehouse, "select (select count(*) from bronze.sis_students) + (select count(*) from bronze.sis_classes) + (select count(*) from bronze.sis_programmes)"))
        ingest = phase("files -> bronze", run_phase + ["deliveries"], lambda: count(warehouse, "select (select count(*) from bronze.attendance) + (select count(*) from bronze.assessments)"))
        csv_rows = count(warehouse, "select count(*) from bronze.attendance")
        steps = ingest.get("steps", {})
        rows.append(("  step bronze__attendance (CSV)", csv_rows, steps.get("bronze__attendance", 0.0), 0))
        for step, seconds in sorted(steps.items(), key=lambda kv: -kv[1]):
            if step != "bronze__attendance":
                rows.append((f"  step {step}", None, seconds, 0))
        build = phase("silver + gold + checks", run_phase + ["transform"], lambda: count(warehouse, "select (select count(*) from silver.fact_attendance) + (select count(*) from silver.fact_assessment)"))
        for step, seconds in sorted(build.get("steps", {}).items(), key=lambda kv: -kv[1])[:8]:
            rows.append((f"  step {step}", None, seconds, 0))
        increment = write_increment(Path(env["EDUWH_LANDING"]), max(1, csv_rows // 100))
        phase("+1% delivery: ingest", run_phase + ["deliveries"], lambda: increment)
        phase("+1% delivery: silver + gold", run_phase + ["transform"])
        phase("no-op eduwh run", [str(BIN / "eduwh"), "run"])
    finally:
        server.cleanup()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    print(f"\neduwh benchmark, scale {args.scale}, {os.cpu_count()} cores")
    print(f"{'phase':<36} {'rows':>12} {'seconds':>9} {'rows/s':>12} {'peak RSS MiB':>13}")
    for label, n, seconds, rss in rows:
        rate = f"{n / seconds:,.0f}" if n and seconds else ""
        print(f"{label:<36} {(f'{n:,}' if n is not None else ''):>12} {seconds:>9.2f} {rate:>12} {(f'{rss / 2**20:,.0f}' if rss else ''):>13}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
