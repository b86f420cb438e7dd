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
- delivery latency under the daemon: `dagster-daemon run` alone (no webserver: the sensors
  start switched on and the daemon ticks them itself) on a temporary instance, a pgserver
  SIS and a tiny generated landing zone whose deliveries but the last are loaded by
  `eduwh run`; then the last delivery lands and the clock runs until a transform_job run
  created after it succeeds, split into sensor waits, queue, launch and run time.
  One sample (--no-daemon skips it): each sensor ticks every 30 s, so the sensor waits are
  a draw from 0-30 s each, not a constant.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
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
    from eduwh_assets.dagster_internals import ReconstructableRepository

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
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    cmd = [str(Path(sys.executable).parent / "dagster"), "job", "execute", "-m", "benchmarks.bench_orchestration",
           "-a", "noop_defs", "-j", "noop_in_process_job"]
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.append(time.perf_counter() - started)
    return out


# --- delivery latency under the daemon ----------------------------------------------------------

BIN = Path(sys.executable).parent
DAEMON_SEED = 11
# Generous, so a slow shared machine fails with the daemon's log rather than a wrong figure.
WARMUP_TIMEOUT = 240.0
LATENCY_TIMEOUT = 300.0
LANDING_SENSOR = "landing_zone_sensor"
BRONZE_SENSOR = "bronze_refresh_sensor"


def start_daemon(env: dict[str, str], log: Path) -> subprocess.Popen:
    # Its own session, so stopping it also stops the code server and run processes it started.
    return subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )


def stop_daemon(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_until(check, timeout: float, what: str, daemon: subprocess.Popen, log: Path):
    """Poll `check` until it returns something truthy; fail with the daemon's log when it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            raise RuntimeError(f"dagster-daemon exited ({daemon.returncode}) while waiting for {what}\n"
                               f"{log.read_text()[-3000:]}")
        found = check()
        if found:
            return found
        time.sleep(1)
    raise TimeoutError(f"no {what} after {timeout:.0f}s\n{log.read_text()[-3000:]}")


def sensor_states(instance) -> dict:
    from eduwh_assets.dagster_internals import InstigatorType

    return {s.instigator_name: s for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)}


def ticks(instance, state, after: float | None = None) -> list:
    return list(instance.get_ticks(state.instigator_origin_id, state.selector_id, after=after))


def tick_that_requested(instance, state, run_id: str):
    return next(t for t in ticks(instance, state) if run_id in t.run_ids)


def event_time(instance, run_id: str, event_type) -> float:
    records = instance.get_records_for_run(run_id, of_type=event_type, limit=1).records
    assert records, f"run {run_id} has no {event_type.value} event"
    return records[0].event_log_entry.timestamp


def runs_since(instance, since: float, job_name: str | None = None) -> list:
    from dagster import RunsFilter

    created_after = datetime.fromtimestamp(since, tz=timezone.utc)
    return list(instance.get_runs(RunsFilter(job_name=job_name, created_after=created_after), ascending=True))


def describe_runs(runs) -> str:
    counts = Counter(f"{r.job_name} by {r.tags.get('dagster/sensor_name') or r.tags.get('dagster/schedule_name') or 'hand'}"
                     f" ({r.status.value})" for r in runs)
    return ", ".join(f"{n} x {what}" for what, n in sorted(counts.items())) or "none"


def warm_up(instance, daemon: subprocess.Popen, log: Path) -> tuple[float, list[str]]:
    """Wait until both sensors have ticked and whatever their first ticks asked for has finished.

    Landing the delivery before that would time the daemon's start-up, not its steady state.
    Returns the seconds from daemon start to steady state, and what happened meanwhile.
    """
    from dagster import DagsterRunStatus

    started = time.time()

    def both_ticked():
        states = sensor_states(instance)
        if not {LANDING_SENSOR, BRONZE_SENSOR} <= states.keys():
            return None
        latest = {name: ticks(instance, states[name])[:1] for name in (LANDING_SENSOR, BRONZE_SENSOR)}
        for name, tick in latest.items():
            if tick and tick[0].is_failure:
                raise RuntimeError(f"{name} tick failed: {tick[0].error}")
        return all(t and t[0].is_completed for t in latest.values())

    wait_until(both_ticked, WARMUP_TIMEOUT, "first tick of both sensors", daemon, log)
    in_flight = {DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
                 DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING}
    wait_until(lambda: not [r for r in runs_since(instance, started) if r.status in in_flight],
               WARMUP_TIMEOUT, "quiet instance after the sensors' first ticks", daemon, log)
    notes = [f"daemon start-up, before the delivery landed: runs {describe_runs(runs_since(instance, started))}"]
    return time.time() - started, notes


def delivery_latency() -> tuple[list[tuple[str, float]], list[str]]:
    """Rows (label, seconds) from the last delivery landing to its gold refresh, and notes on what else ran."""
    import pgserver
    from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

    from eduwh_assets.generate import GeneratorConfig, generate, write_landing, write_sis
    from eduwh_assets.sources.landing import MANIFEST_NAME
    from eduwh_assets.sources.sis_server import sqlalchemy_url

    workdir = Path(tempfile.mkdtemp(prefix="eduwh-bench-daemon-"))
    home, landing, log = workdir / "dagster", workdir / "landing", workdir / "daemon.log"
    home.mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    server = pgserver.get_server(workdir / "pg", cleanup_mode="stop")
    daemon = None
    try:
        sis_url = sqlalchemy_url(server.get_uri())
        dataset = generate(GeneratorConfig.for_scale("tiny", DAEMON_SEED))
        write_sis(dataset, sis_url)
        *before, last = dataset.deliveries
        write_landing(dataset, str(landing), deliveries=before)
        # Only this instance and these folders: nothing of the caller's EDUWH_* or DAGSTER_* leaks in.
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("EDUWH_", "DAGSTER_"))},
            "DAGSTER_HOME": str(home),
            "EDUWH_DATA_DIR": str(workdir / "data"),
            "EDUWH_LANDING": str(landing),
            "EDUWH_SIS_URL": sis_url,
        }
        # The steady state: SIS, all deliveries but the last, silver and gold already built.
        with (workdir / "eduwh-run.log").open("wb") as out:
            preload = subprocess.run([str(BIN / "eduwh"), "run"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        if preload.returncode != 0:
            raise RuntimeError(f"eduwh run failed ({preload.returncode})\n{(workdir / 'eduwh-run.log').read_text()[-3000:]}")

        daemon = start_daemon(env, log)
        with DagsterInstance.from_config(str(home)) as instance:
            warmup_seconds, notes = warm_up(instance, daemon, log)

            write_landing(dataset, str(landing), deliveries=[last])
            # write_landing writes the manifest last, so its mtime is the moment the delivery is complete.
            landed = (landing / last.code / MANIFEST_NAME).stat().st_mtime

            def gold_refreshed():
                transforms = runs_since(instance, landed, "transform_job")
                done = [r for r in transforms if r.status == DagsterRunStatus.SUCCESS]
                failed = [r for r in runs_since(instance, landed) if r.status == DagsterRunStatus.FAILURE]
                if failed:
                    raise RuntimeError(f"run(s) failed after the landing: {describe_runs(failed)}\n"
                                       f"{log.read_text()[-3000:]}")
                return done[0] if done else None

            transform = wait_until(gold_refreshed, LATENCY_TIMEOUT, "successful transform_job run after the landing",
                                   daemon, log)
            ingests = [r for r in runs_since(instance, landed, "deliveries_job") if r.tags.get("dagster/partition") == last.code]
            assert ingests, "gold refreshed without an ingest run for the new delivery"
            ingest = ingests[0]
            states = sensor_states(instance)

            def times(run) -> tuple[float, float, float, float]:
                # The queue daemon marks a dequeue with RUN_STARTING (it logs no RUN_DEQUEUED), just
                # before the launcher starts the run's process; RUN_START comes from that process.
                return tuple(event_time(instance, run.run_id, t) for t in (
                    DagsterEventType.RUN_ENQUEUED, DagsterEventType.RUN_STARTING,
                    DagsterEventType.RUN_START, DagsterEventType.RUN_SUCCESS))

            i_enq, i_deq, i_start, i_end = times(ingest)
            t_enq, t_deq, t_start, t_end = times(transform)
            landing_tick = tick_that_requested(instance, states[LANDING_SENSOR], ingest.run_id)
            bronze_tick = tick_that_requested(instance, states[BRONZE_SENSOR], transform.run_id)
            rows = [
                (f"landing -> ingest run requested ({LANDING_SENSOR})", i_enq - landed),
                ("  of which waiting for the sensor's next tick", landing_tick.timestamp - landed),
                ("  of which the tick (evaluate, create and enqueue the run)", i_enq - landing_tick.timestamp),
                ("ingest run queued (enqueued -> dequeued)", i_deq - i_enq),
                ("ingest run launch (dequeued -> started, new process)", i_start - i_deq),
                ("ingest run (started -> succeeded)", i_end - i_start),
                (f"ingest done -> transform requested ({BRONZE_SENSOR})", t_enq - i_end),
                ("  of which waiting for the sensor's next tick", bronze_tick.timestamp - i_end),
                ("  of which the tick (evaluate, create and enqueue the run)", t_enq - bronze_tick.timestamp),
                ("transform run queued (enqueued -> dequeued)", t_deq - t_enq),
                ("transform run launch (dequeued -> started, new process)", t_start - t_deq),
                ("transform run (started -> succeeded)", t_end - t_start),
                ("total: delivery landed -> gold refreshed", t_end - landed),
            ]
            # What the daemon did in the window beyond the one ingest and one refresh, to spot storms.
            window = runs_since(instance, landed)
            notes.append(f"runs created after the landing: {describe_runs(window)}")
            for name in (LANDING_SENSOR, BRONZE_SENSOR):
                window_ticks = ticks(instance, states[name], after=landed)
                requested = sum(len(t.run_ids) for t in window_ticks)
                notes.append(f"{name}: {len(window_ticks)} tick(s) after the landing, {requested} run(s) requested")
            notes.append(f"daemon warm-up (start -> both sensors ticked, instance quiet): {warmup_seconds:.1f} s")
            return rows, notes
    finally:
        if daemon is not None:
            stop_daemon(daemon)
        server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


def line(label: str, samples: list[float]) -> str:
    return f"{label:<58} {statistics.median(samples):7.2f} s   (min {min(samples):.2f}, n={len(samples)})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-daemon", action="store_true", help="skip the delivery-latency figure (about 3 minutes)")
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
    latency, notes = ([], []) if args.no_daemon else delivery_latency()

    print("eduwh orchestration benchmark")
    print(line("floor: import dagster, dagster_dbt, dagster_dlt, dlt", floor))
    print(line("code location: import eduwh_assets.definitions + resolve", location))
    print(line("  of which eduwh's own (location - floor)", [a - b for a, b in zip(location, floor)]))
    print(line("no-op run, multiprocess executor (step in own process)", multi))
    print(line("no-op run, in-process executor", single))
    print(line("no-op run in a new process (`dagster job execute`)", fresh))
    if latency:
        from eduwh_assets.automation.sensors import BRONZE_SENSOR_INTERVAL_SECONDS, LANDING_SENSOR_INTERVAL_SECONDS

        print()
        print(f"delivery latency under dagster-daemon (tiny scale, 1 sample; sensors tick at most every "
              f"{LANDING_SENSOR_INTERVAL_SECONDS} s / {BRONZE_SENSOR_INTERVAL_SECONDS} s)")
        for label, seconds in latency:
            print(f"{label:<58} {seconds:7.2f} s")
        # A tick is due once the interval has passed since the last one, and the daemon's loop notices
        # it a little later, so a single wait can come out slightly above the interval.
        print(f"  bound: the two sensor waits alone reach about {LANDING_SENSOR_INTERVAL_SECONDS + BRONZE_SENSOR_INTERVAL_SECONDS} s "
              "(minimum_interval_seconds in eduwh_assets/automation/sensors.py, not configurable)")
        for note in notes:
            print(f"  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
