"""Runs whose process died, runs that wait for the warehouse, and runs that stop cleanly.

A run executed in process (`eduwh run`, `eduwh backfill --mode here`) or by a
run worker (the UI, sensors, the daemon) can die without telling the instance:
SIGKILL, out of memory, power lost. Dagster then keeps it STARTED, and keeps
the `duckdb_warehouse` slot its step had claimed, so every later writer would
wait for it forever. So every eduwh run records the process it lives in as run
tags, and every entry point first recovers the runs whose process is gone:
it records them as failed and frees their pool slots. A run that waits for
the pool says which run holds it, and keeps saying so.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import psutil
from dagster import (
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    Failure,
    InitResourceContext,
    ResourceDefinition,
    RunsFilter,
    resource,
)

from eduwh_assets.config import WAREHOUSE_POOL, Settings
from eduwh_assets.warehouse import WarehouseUnreadable, check_warehouse

HOST_TAG = "eduwh/host"
PID_TAG = "eduwh/pid"
# The process's start time tells a live process from a later one that reuses its pid.
PROCESS_STARTED_TAG = "eduwh/process_started"
UNFINISHED = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
# How often a run that waits for the pool re-checks its holder, and re-says whom it waits for.
WAIT_REPORT_SECONDS = 15.0


def process_tags() -> dict[str, str]:
    """Run tags naming this process, so a later entry point can tell whether it still lives."""
    me = psutil.Process()
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(me.pid), PROCESS_STARTED_TAG: f"{me.create_time():.2f}"}


def process_is_gone(tags: dict[str, str]) -> bool:
    """Whether the process a run's tags name has exited (False when it is alive or unknown).

    Only a process on this host can be judged; a run elsewhere, or one that has not
    recorded its process yet, is left to Dagster's own run monitoring.
    """
    if tags.get(HOST_TAG) != socket.gethostname() or PID_TAG not in tags:
        return False
    try:
        process = psutil.Process(int(tags[PID_TAG]))
        if process.status() == psutil.STATUS_ZOMBIE:
            return True
        started = tags.get(PROCESS_STARTED_TAG)
        return started is not None and abs(process.create_time() - float(started)) > 1.0
    except psutil.NoSuchProcess:
        return True


def describe_run(run: DagsterRun) -> str:
    where = f", pid {run.tags[PID_TAG]}" if PID_TAG in run.tags else ""
    return f"run {run.run_id[:8]} ({run.job_name}{where})"


def recover_dead_runs(instance: DagsterInstance, *, exclude: str | None = None) -> list[str]:
    """Record every unfinished run whose process is gone as failed, and free every slot a
    finished or dead run still holds. Returns one line per run recovered."""
    storage = instance.event_log_storage
    recovered: list[str] = []
    for run in instance.get_runs(filters=RunsFilter(statuses=UNFINISHED)):
        if run.run_id == exclude or not process_is_gone(run.tags):
            continue
        instance.report_run_failed(
            run,
            message=(
                f"The process of this run ({socket.gethostname()}, pid {run.tags[PID_TAG]}) is gone: it was "
                "killed, ran out of memory or lost power. Recorded as failed by the next eduwh run."
            ),
        )
        storage.free_concurrency_slots_for_run(run.run_id)
        recovered.append(f"recovered {describe_run(run)}: its process is gone; recorded as failed, pool slot freed")
    pool = storage.get_concurrency_info(WAREHOUSE_POOL)
    for run_id in sorted(pool.active_run_ids | {step.run_id for step in pool.pending_steps}):
        if run_id == exclude:
            continue
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            storage.free_concurrency_slots_for_run(run_id)
            recovered.append(f"freed the {WAREHOUSE_POOL} slot still held by finished run {run_id[:8]}")
    return recovered


def pool_holders(instance: DagsterInstance, run_id: str) -> list[DagsterRun] | None:
    """The runs holding the warehouse pool while `run_id` waits for it; None when it is not waiting."""
    pool = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
    waiting = any(step.run_id == run_id and step.assigned_timestamp is None for step in pool.pending_steps)
    if not waiting:
        return None
    runs = [instance.get_run_by_id(other) for other in sorted(pool.active_run_ids - {run_id})]
    return [run for run in runs if run is not None]


def wait_for_free_pool(instance: DagsterInstance, say: Callable[[str], None]) -> None:
    """Before starting an in-process run: wait, interruptibly, until the warehouse pool has a free slot.

    Dagster's own wait for a slot, inside a run, defers Ctrl-C until the slot comes;
    waiting here first keeps Ctrl-C working, recovers a holder that dies, and says
    whom it waits for.
    """
    storage = instance.event_log_storage
    since = time.monotonic()
    said = None
    while True:
        pool = storage.get_concurrency_info(WAREHOUSE_POOL)
        if pool.limit is None or len(pool.claimed_slots) < pool.limit:
            return
        for line in recover_dead_runs(instance):
            say(line)
        waited = time.monotonic() - since
        if said is None or waited - said >= WAIT_REPORT_SECONDS:
            holders = [instance.get_run_by_id(r) for r in sorted(pool.active_run_ids)]
            names = ", ".join(describe_run(r) for r in holders if r is not None) or "a run that just finished"
            say(f"waiting {waited:.0f}s for the {WAREHOUSE_POOL} pool, held by {names} (Ctrl-C stops waiting)")
            said = waited
        time.sleep(1.0)


class PoolWatcher:
    """While a run waits for the warehouse pool: recover dead holders, and say whom it waits for.

    A thread beside the run's steps, so it works for in-process runs and run workers alike.
    """

    def __init__(self, instance: DagsterInstance, run_id: str, say: Callable[[str], None]):
        self.instance = instance
        self.run_id = run_id
        self.say = say
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"eduwh-pool-watch-{run_id[:8]}", daemon=True)

    def __enter__(self) -> "PoolWatcher":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _watch(self) -> None:
        # The first look comes soon, so a short wait is named before anyone wonders.
        delay = 2.0
        since = time.monotonic()
        while not self._stop.wait(delay):
            delay = WAIT_REPORT_SECONDS
            try:
                holders = pool_holders(self.instance, self.run_id)
                if holders is None:
                    since = time.monotonic()
                    continue
                for line in recover_dead_runs(self.instance, exclude=self.run_id):
                    self.say(line)
                holders = pool_holders(self.instance, self.run_id) or []
                names = ", ".join(describe_run(r) for r in holders) or "a run that just finished"
                self.say(
                    f"waiting {time.monotonic() - since:.0f}s for the {WAREHOUSE_POOL} pool, held by {names}; "
                    "this run starts when it finishes"
                )
            except Exception as exc:  # a watcher must never break the run it watches
                self.say(f"could not check the {WAREHOUSE_POOL} pool: {type(exc).__name__}: {exc}")


def settings_resource(settings: Settings) -> ResourceDefinition:
    """The `settings` every eduwh asset reads, handed to a run once it is safe to go on.

    Dagster initialises resources before a run's first step claims a pool slot, so
    this is where every run, whoever launched it, records its process, recovers
    the dead runs that would block it, checks the warehouse opens, and starts
    watching the pool it may have to wait for.
    """

    @resource(description="eduwh settings (warehouse, landing zone, SIS); see eduwh_assets/config.py")
    def _settings(context: InitResourceContext):
        instance, run = context.instance, context.run
        if instance is None or run is None:  # built outside a run (tests, tools)
            yield settings
            return
        if PID_TAG not in run.tags:
            instance.add_run_tags(run.run_id, process_tags())
        for line in recover_dead_runs(instance, exclude=run.run_id):
            context.log.warning(line)
        try:
            check_warehouse(settings.warehouse)
        except WarehouseUnreadable as exc:
            raise Failure(description=str(exc)) from None
        with PoolWatcher(instance, run.run_id, context.log.info):
            yield settings

    return _settings
