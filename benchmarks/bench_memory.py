"""Peak memory of `eduwh run` against the size of one delivered file (SPEC §8).

    .venv/bin/python -m benchmarks.bench_memory [--megabytes 400] [--files 25] [--workdir DIR]

The same attendance rows (with a long `note` column, which bronze ignores) are
written twice: as one CSV file, and split into --files files. Each layout is the
only delivery of its own throw-away setup (landing zone, EDUWH_DATA_DIR,
EDUWH_WAREHOUSE, DAGSTER_HOME; the embedded SIS seeds itself, and the rows'
student ids are the seeded students'). `eduwh run` runs once per layout as a
subprocess, and the resident memory of its whole process tree (the run and, for
example, dbt) is sampled every 50 ms. Files are read in bounded blocks, so the
one-file peak should be within 15% of the split one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import psutil

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CODE = "2025-10-01"
HEADER = b"attendance_id,student_id,session_date,status,note\n"
NOTE_CHARS = 1_900  # a free-text remark per row, as registers export them: ~2 KB rows
SAMPLE_SECONDS = 0.05
TARGET_RATIO = 1.15


@dataclass
class Measured:
    layout: str
    files: int
    megabytes: float
    rows: int
    loaded: int
    seconds: float
    peak_tree: int  # bytes: the largest sum of RSS over the process tree at one sample
    peak_process: int  # bytes: the largest RSS of one process of the tree (from the kernel)


def attendance_rows(megabytes: int) -> Iterator[bytes]:
    """CSV rows of about `megabytes` MiB in all, for the students the embedded SIS is seeded with.

    A generator, so this process stays small: a child forked from it starts with its memory,
    and the kernel's peak RSS of the child (ru_maxrss) would count it.
    """
    from eduwh_assets.bootstrap import sample_dataset

    students = sample_dataset().sis_students()["student_id"].tolist()
    statuses = ["present", "present", "present", "late", "absent", "excused"]
    start = date(2025, 9, 1)
    words = ["attended", "quietly", "participated", "well", "left", "early", "came", "back", "after", "break"]
    note = " ".join(words[i % len(words)] for i in range(NOTE_CHARS // 6))[:NOTE_CHARS]
    target = megabytes * 2**20
    size = len(HEADER)
    i = 0
    while size < target:
        day = start + timedelta(days=i % 28)
        row = (
            f"A{i:09d},{students[i % len(students)]},{day.isoformat()},{statuses[i % len(statuses)]},"
            f'"{note} {i}"\n'
        ).encode()
        yield row
        size += len(row)
        i += 1


def write_layout(landing: Path, megabytes: int, files: int) -> int:
    """One delivery of `files` CSV files holding the rows of attendance_rows in order, then its
    manifest; returns the number of rows. Each file takes an equal share of the bytes."""
    folder = landing / CODE
    folder.mkdir(parents=True)
    names = ["attendance.csv"] if files == 1 else [f"attendance_{k:02d}.csv" for k in range(1, files + 1)]
    share = megabytes * 2**20 / len(names)
    counts = [0] * len(names)
    with ExitStack() as stack:
        outputs = [stack.enter_context(open(folder / name, "wb")) for name in names]
        for out in outputs:
            out.write(HEADER)
        written = 0
        for row in attendance_rows(megabytes):
            k = min(int(written // share), len(names) - 1)
            outputs[k].write(row)
            counts[k] += 1
            written += len(row)
    manifest = {name: {"rows": n} for name, n in zip(names, counts)}
    (folder / "_manifest.json").write_text(json.dumps({"delivery_code": CODE, "files": manifest}))
    return sum(counts)


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def measure_run(workdir: Path, log: Path) -> tuple[float, int, int]:
    """Run `eduwh run` in `workdir`'s setup: wall seconds, peak tree RSS, peak single-process RSS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDUWH_")}
    env.update(
        EDUWH_DATA_DIR=str(workdir / "data"),
        EDUWH_WAREHOUSE=str(workdir / "data" / "warehouse.duckdb"),
        EDUWH_LANDING=str(workdir / "landing"),
        DAGSTER_HOME=str(workdir / "dagster"),
    )
    (workdir / "dagster").mkdir(parents=True, exist_ok=True)
    peak = 0
    done = threading.Event()
    with log.open("wb") as out:
        started = time.monotonic()
        child = subprocess.Popen([str(BIN / "eduwh"), "run"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        proc = psutil.Process(child.pid)

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                try:
                    peak = max(peak, tree_rss(proc))
                except psutil.NoSuchProcess:
                    return
                time.sleep(SAMPLE_SECONDS)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.monotonic() - started
        done.set()
        sampler.join()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.stderr.write(log.read_text(errors="replace")[-4000:])
        raise SystemExit(f"eduwh run failed in {workdir} (log: {log})")
    # ru_maxrss (KiB on Linux): the largest peak of the child and the descendants it waited for.
    return seconds, peak, usage.ru_maxrss * 1024


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_memory", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--megabytes", type=int, default=400, help="MiB of attendance CSV (default 400)")
    parser.add_argument("--files", type=int, default=25, help="files of the split layout (default 25)")
    parser.add_argument("--workdir", help="keep the benchmark folders here (default: a temporary folder, removed after)")
    args = parser.parse_args()

    base = Path(args.workdir or tempfile.mkdtemp(prefix="eduwh-bench-memory-"))
    base.mkdir(parents=True, exist_ok=True)
    results: list[Measured] = []
    try:
        for layout, files in (("one file", 1), (f"{args.files} files", args.files)):
            workdir = base / layout.replace(" ", "-")
            print(f"... writing {args.megabytes} MiB of attendance rows as {layout}", file=sys.stderr, flush=True)
            rows = write_layout(workdir / "landing", args.megabytes, files)
            size = sum(p.stat().st_size for p in (workdir / "landing" / CODE).glob("attendance*.csv"))
            print(f"... eduwh run: {layout}", file=sys.stderr, flush=True)
            seconds, peak_tree, peak_process = measure_run(workdir, base / f"{workdir.name}.log")
            with duckdb.connect(str(workdir / "data" / "warehouse.duckdb"), read_only=True) as con:
                loaded = con.execute("SELECT count(*) FROM bronze.attendance").fetchone()[0]
            if loaded != rows:
                raise SystemExit(f"{layout}: bronze.attendance holds {loaded} rows, expected {rows}")
            results.append(Measured(layout, files, size / 2**20, rows, loaded, seconds, peak_tree, peak_process))
            shutil.rmtree(workdir / "landing")  # the next layout needs the disk more than this copy
    finally:
        if not args.workdir:
            shutil.rmtree(base, ignore_errors=True)

    print(f"\neduwh run peak memory, {os.cpu_count()} cores; RSS sampled every {SAMPLE_SECONDS * 1000:.0f} ms")
    print(f"{'layout':<10} {'files':>5} {'MB':>8} {'rows':>10} {'wall s':>8} {'peak RSS MiB':>13} {'max process MiB':>16}")
    for r in results:
        print(
            f"{r.layout:<10} {r.files:>5} {r.megabytes:>8.1f} {r.rows:>10,} {r.seconds:>8.1f} "
            f"{r.peak_tree / 2**20:>13,.0f} {r.peak_process / 2**20:>16,.0f}"
        )
    one, split = results
    ratio = one.peak_tree / split.peak_tree
    verdict = "within" if ratio <= TARGET_RATIO else "NOT within"
    print(f"ratio one file / {split.files} files (peak RSS): {ratio:.2f} ({verdict} the {TARGET_RATIO - 1:.0%} target)")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
