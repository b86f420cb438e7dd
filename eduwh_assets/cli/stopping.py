"""Ctrl-C and SIGTERM during `eduwh run`: the run is recorded as failed, its pool slot freed, dbt stopped.

A killed run must never block the next one, so whatever an interrupted run
leaves in the Dagster instance is put right before the command exits.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from dagster import DagsterInstance

from eduwh_assets.config import WAREHOUSE_POOL


def was_interrupted(result) -> bool:
    return any(
        event.is_step_failure
        and event.step_failure_data.error is not None
        and event.step_failure_data.error.cls_name == "DagsterExecutionInterruptedError"
        for event in result.all_events
    )


def wait_for_writers(warehouse, timeout: float = 5.0) -> None:
    """Stop the processes this one started that have the warehouse open (dbt).

    Until they exit they hold the warehouse's lock, which the next run needs. They
    get Ctrl-C, as from a terminal, and what outlives `timeout` is killed.
    """
    import psutil

    def has_warehouse_open(process: psutil.Process) -> bool:
        try:
            return any(f.path == str(warehouse) for f in process.open_files())
        except psutil.Error:
            return False

    writers = [p for p in psutil.Process().children(recursive=True) if has_warehouse_open(p)]
    for process in writers:
        process.send_signal(signal.SIGINT)
    _, alive = psutil.wait_procs(writers, timeout=timeout)
    for process in alive:
        process.kill()


@contextmanager
def stopped_cleanly(instance: DagsterInstance, tags: dict[str, str], warehouse) -> Iterator[None]:
    """Ctrl-C or SIGTERM during an in-process run: record the run as failed and free its pool slot.

    Dagster unwinds the run's steps on the interrupt (dbt is stopped, dlt's working
    folder removed); what it may leave behind is the run's status and its slot.
    """
    try:
        yield
    except KeyboardInterrupt:
        from dagster import RunsFilter

        wait_for_writers(warehouse)
        for run in instance.get_runs(filters=RunsFilter(tags=tags), limit=1):
            if not run.is_finished:
                instance.report_run_failed(run, message="Stopped by Ctrl-C or SIGTERM.")
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            print(f"\nstopped: run {run.run_id[:8]} recorded as failed, its {WAREHOUSE_POOL} slot freed", file=sys.stderr)
        raise


def stop_on_sigterm(signum, frame) -> None:
    """SIGTERM takes the path of Ctrl-C, so a service manager's stop is as clean as a user's.

    Inside a Dagster run, Dagster's own SIGINT handler defers the stop to a safe point;
    elsewhere (or when SIGINT is ignored, as for a background job) it stops here.
    """
    if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, signal.SIG_DFL, None):
        raise KeyboardInterrupt
    signal.raise_signal(signal.SIGINT)
