"""Benchmark the main job at a stated scale and print a table of figures.

    python -m benchmarks --scale 1m        # ~1M attendance rows (make bench)
    python -m benchmarks --scale 10m       # ~10M attendance rows

Each timed phase is one whole process, so its wall time and peak RSS are its
own: generation, the full build (one `eduwh run`: SIS sync, file ingestion,
silver + gold + checks), one extra delivery of about 1% of the attendance rows
(another `eduwh run`), then a no-op `eduwh run`. Under each `eduwh run` the
table breaks its time down into the Dagster runs it launched and their slowest
steps, read back from the instance (benchmarks/phase.py); what is left is the
process's own start-up (imports, loading the code location) and bookkeeping.

The reference is benchmarks/baseline.py, a plain DuckDB SQL implementation of
the SPEC over the same files and SIS, run in the same sitting as its own
measured phase: once after eduwh's full build and once more, from scratch,
after the +1% delivery. Each time its gold is compared with eduwh's cell by
cell. A targets table follows the phase table:
- eduwh's full build at most 2x the baseline's full build;
- a no-op `eduwh run` at most 20% of the baseline's full build;
- the `eduwh run` after the +1% delivery at most 15% of eduwh's full build;
- peak RSS at most 2 GiB in every eduwh phase;
- gold identical to the baseline's after the full build and after the +1%.
Exit status is 1 when gold differs.
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
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from benchmarks.baseline import compare_gold, format_comparison, gold_identical

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
INCREMENT_CODE = "2099-12-31-increment"  # sorts after every generated delivery code
GIB = 2**30
FULL = "full build: eduwh run"
INCREMENT = "+1% delivery: eduwh run"
NO_OP = "no-op eduwh run"
STEPS_SHOWN = 4  # the slowest steps of each Dagster run
FACT_ROWS = "select (select count(*) from silver.fact_attendance) + (select count(*) from silver.fact_assessment)"


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
    # Present becomes absent and everything else present, so the restated rows really change.
    status = table.column("status")
    is_present = pc.equal(pc.utf8_lower(pc.utf8_trim_whitespace(status)), "present")
    table = table.set_column(table.schema.get_field_index("status"), "status", pc.if_else(is_present, "absent", "present"))
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
    baseline_warehouse = workdir / "baseline" / "warehouse.duckdb"
    rows: list[tuple[str, int | None, float, int]] = []
    measured: dict[str, tuple[float, int]] = {}
    comparisons: dict[str, dict[str, dict]] = {}

    def phase(label: str, cmd: list[str], row_count=None) -> dict:
        print(f"... {label}", file=sys.stderr, flush=True)
        seconds, rss, out = measure(cmd, env)
        rows.append((label, row_count() if row_count else None, seconds, rss))
        measured[label] = (seconds, rss)
        last = out.strip().splitlines()[-1] if out.strip() else "{}"
        return json.loads(last) if last.startswith("{") else {}

    def eduwh_run(label: str, row_count=None) -> None:
        """One timed `eduwh run`, then where its time went: its Dagster runs and their slowest steps."""
        since = time.time()
        phase(label, [str(BIN / "eduwh"), "run"], row_count)
        _, _, out = measure([str(BIN / "python"), "-m", "benchmarks.phase", str(since)], env)
        in_runs = 0.0
        for run in json.loads(out.strip().splitlines()[-1])["runs"]:
            in_runs += run["seconds"]
            rows.append((f"  run {run['job']}", None, run["seconds"], 0))
            for step, seconds in sorted(run["steps"].items(), key=lambda kv: -kv[1])[:STEPS_SHOWN]:
                rows.append((f"    step {step}", None, seconds, 0))
        rows.append(("  outside runs (start-up, bookkeeping)", None, measured[label][0] - in_runs, 0))

    def baseline(label: str, when: str) -> None:
        """The plain-SQL reference, built from scratch as its own phase, then its gold against eduwh's."""
        report = phase(label, baseline_cmd, lambda: count(baseline_warehouse, FACT_ROWS))
        for step, seconds in sorted(report.get("steps", {}).items(), key=lambda kv: -kv[1])[:4]:
            rows.append((f"  step {step}", None, seconds, 0))
        print(f"... comparing gold {when}", file=sys.stderr, flush=True)
        comparisons[when] = compare_gold(baseline_warehouse, warehouse)

    baseline_cmd = [str(BIN / "python"), "-m", "benchmarks.baseline", "--landing", env["EDUWH_LANDING"],
                    "--sis-url", sis_url, "--warehouse", str(baseline_warehouse)]
    try:
        phase("generate", [str(BIN / "eduwh"), "generate", "--scale", args.scale, "--landing", env["EDUWH_LANDING"], "--sis-url", sis_url])
        eduwh_run(FULL, lambda: count(warehouse, FACT_ROWS))
        baseline("baseline: full build (plain SQL)", "after full build")
        csv_rows = count(warehouse, "select count(*) from bronze.attendance")
        increment = write_increment(Path(env["EDUWH_LANDING"]), max(1, csv_rows // 100))
        eduwh_run(INCREMENT, lambda: increment)
        baseline("baseline: full rebuild incl. +1%", "after +1% delivery")
        phase(NO_OP, [str(BIN / "eduwh"), "run"])
    finally:
        server.cleanup()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    print(f"\neduwh benchmark, scale {args.scale}, {os.cpu_count()} cores")
    print(f"{'phase':<56} {'rows':>12} {'seconds':>9} {'rows/s':>12} {'peak RSS MiB':>13}")
    for label, n, seconds, rss in rows:
        rate = f"{n / seconds:,.0f}" if n and seconds else ""
        print(f"{label:<56} {(f'{n:,}' if n is not None else ''):>12} {seconds:>9.2f} {rate:>12} {(f'{rss / 2**20:,.0f}' if rss else ''):>13}")

    eduwh_phases = (FULL, INCREMENT, NO_OP)
    eduwh_full = measured[FULL][0]
    baseline_full = measured["baseline: full build (plain SQL)"][0]
    increment_s = measured[INCREMENT][0]
    noop_s = measured[NO_OP][0]
    peak_phase = max(eduwh_phases, key=lambda p: measured[p][1])
    peak = measured[peak_phase][1]

    def verdict(ok: bool) -> str:
        return "yes" if ok else "NO"

    def gold_cell(when: str) -> tuple[str, bool]:
        result = comparisons[when]
        same = gold_identical(result)
        total = sum(max(r.get("differing", 0), 0) for r in result.values())
        tables = len(result)
        if same:
            return f"yes: 0 differing rows in {tables} tables", True
        bad = [f"{t} {r['differing'] if r.get('differing', -1) >= 0 else r.get('error')}" for t, r in result.items() if r.get("differing", -1) != 0]
        return f"no: {total:,} differing rows ({'; '.join(bad)})", False

    targets = [
        ("eduwh full build / baseline full build", f"{eduwh_full:.1f}s / {baseline_full:.1f}s = {eduwh_full / baseline_full:.2f}x", "<= 2x", eduwh_full <= 2 * baseline_full),
        ("no-op eduwh run / baseline full build", f"{noop_s:.1f}s / {baseline_full:.1f}s = {100 * noop_s / baseline_full:.0f}%", "<= 20%", noop_s <= 0.20 * baseline_full),
        ("+1% delivery eduwh run / eduwh full", f"{increment_s:.1f}s / {eduwh_full:.1f}s = {100 * increment_s / eduwh_full:.0f}%", "<= 15%", increment_s <= 0.15 * eduwh_full),
        ("max peak RSS of eduwh phases", f"{peak / 2**20:,.0f} MiB ({peak_phase})", "<= 2048 MiB", peak <= 2 * GIB),
    ]
    identical = True
    for when in comparisons:
        text, same = gold_cell(when)
        identical &= same
        targets.append((f"gold identical {when}", text, "identical", same))
    print(f"\n{'target':<40} {'value':<48} {'limit':<11} {'met':>4}")
    for name, value, limit, ok in targets:
        print(f"{name:<40} {value:<48} {limit:<11} {verdict(ok):>4}")
    for when, result in comparisons.items():
        if not gold_identical(result):
            print(f"\ngold differences {when} (b = baseline, e = eduwh):")
            print(format_comparison(result))
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
