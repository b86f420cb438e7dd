"""What orchestration itself costs, apart from moving data.

    .venv/bin/python -m benchmarks.bench_orchestration [--repeat 3]

Prints:
- the floor: a fresh interpreter importing dagster, dagster_dbt, dagster_dlt and dlt;
- code-location load: a fresh interpreter importing eduwh_assets.definitions and resolving
  the repository (what the webserver, the daemon and every run process pay);
- per-run overhead: a run in a real instance (this repo's dagster.yaml) whose one step does
  nothing, in the eduwh code location: from an already-loaded process (multiprocess and
  in-process executors), and from a new process as the run launcher starts one, which
  loads the code location first.
Medians over --repeat runs, each in a fresh process or a fresh run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dagster import Definitions, in_process_executor, job, op

ROOT = Path(__file__).resolve().parent.parent

FLOOR = "import dagster, dagster_dbt, dagster_dlt, dlt"
LOCATION = "from eduwh_assets.definitions import defs; defs.get_repository_def().get_all_jobs()"


@op
def nothing() -> None:
    """The step of the no-op run: all its cost is Dagster's and the code location's."""


@job
def noop_job():
    nothing()


@job(executor_def=in_process_executor)
def noop_in_process_job():
    nothing()


def noop_defs() -> Definitions:
    """The eduwh code location plus the no-op jobs, so each run pays the real location load."""
    from eduwh_assets.definitions import defs

    return Definitions.merge(defs, Definitions(jobs=[noop_job, noop_in_process_job]))


def time_fresh_interpreter(code: str, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-W", "ignore", "-c", code], cwd=ROOT, check=True)
        out.append(time.perf_counter() - started)
    return out


def time_noop_runs(job_name: str, repeat: int, home: Path) -> list[float]:
    from dagster import DagsterInstance, execute_job
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    recon = ReconstructableRepository.for_module(
        "benchmarks.bench_orchestration", "noop_defs", working_directory=str(ROOT)
    ).get_reconstructable_job(job_name)
    out = []
    with DagsterInstance.from_config(str(home)) as instance:
        for _ in range(repeat):
            started = time.perf_counter()
            result = execute_job(recon, instance=instance)
            out.append(time.perf_counter() - started)
            assert result.success, f"no-op run {result.run_id} failed"
    return out


def time_cli_runs(repeat: int, home: Path) -> list[float]:
    """A no-op run as a new run process sees it: `dagster job execute` loads the code location first."""
    import os

    env = {**os.environ, "DAGSTER_HOME": str(home)}
    cmd = [str(Path(sys.executable).parent / "dagster"), "job", "execute", "-m", "benchmarks.bench_orchestration",
           "-a", "noop_defs", "-j", "noop_in_process_job"]
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.append(time.perf_counter() - started)
    return out


def line(label: str, samples: list[float]) -> str:
    return f"{label:<58} {statistics.median(samples):7.2f} s   (min {min(samples):.2f}, n={len(samples)})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    floor = time_fresh_interpreter(FLOOR, args.repeat)
    location = time_fresh_interpreter(LOCATION, args.repeat)
    home = Path(tempfile.mkdtemp(prefix="eduwh-bench-home-"))
    try:
        shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
        multi = time_noop_runs("noop_job", args.repeat, home)
        single = time_noop_runs("noop_in_process_job", args.repeat, home)
        fresh = time_cli_runs(args.repeat, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)

    print("eduwh orchestration benchmark")
    print(line("floor: import dagster, dagster_dbt, dagster_dlt, dlt", floor))
    print(line("code location: import eduwh_assets.definitions + resolve", location))
    print(line("  of which eduwh's own (location - floor)", [a - b for a, b in zip(location, floor)]))
    print(line("no-op run, multiprocess executor (step in own process)", multi))
    print(line("no-op run, in-process executor", single))
    print(line("no-op run in a new process (`dagster job execute`)", fresh))
    return 0


if __name__ == "__main__":
    sys.exit(main())
