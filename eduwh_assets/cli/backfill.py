"""`eduwh backfill`: re-ingest any set of deliveries, as a Dagster backfill in the instance.

    eduwh backfill --all
    eduwh backfill --from 2025-09-01 --to 2025-09-30
    eduwh backfill --delivery D1 --delivery D2

With a dagster-daemon running on the same DAGSTER_HOME (`make dev`, or the
compose stack) the backfill is submitted to it exactly as the UI's "Launch
backfill" or `dagster job backfill` would, and shows on the Backfills page.
With no daemon the runs are executed here, one delivery after another, still
in the instance so the UI shows them. Either way the command waits for the
runs and exits non-zero if any failed (`--no-wait` returns after submitting).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Sequence

from eduwh_assets.automation.jobs import DELIVERIES_JOB
from eduwh_assets.automation.runs import process_tags, recover_dead_runs
from eduwh_assets.cli.arguments import UserError, delivery_code
from eduwh_assets.config import PROJECT_ROOT, Settings
from eduwh_assets.console import STEP_LINES, Console, quiet_terminal
from eduwh_assets.instance import dagster_instance
from eduwh_assets.partitions import (
    PARTITION_TAG,
    deliveries_of_run,
    deliveries_partitions,
    discover_deliveries,
    register,
)
from eduwh_assets.sources.landing import LandingZoneError
from eduwh_assets.warehouse import WarehouseUnreadable, check_warehouse

WORKSPACE_FILE = PROJECT_ROOT / "workspace.yaml"
DEFINITIONS_MODULE = "eduwh_assets.definitions"
# Every run of one `eduwh backfill` carries this tag, so the command can follow its own runs.
REQUEST_TAG = "eduwh/backfill_request"
# A daemon that has not reported for this long is taken to be gone.
DAEMON_HEARTBEAT_MAX_AGE_SECONDS = 60.0


class BackfillSelectionError(ValueError):
    """The requested deliveries do not name known deliveries."""


def select_deliveries(
    known: Sequence[str],
    *,
    all_deliveries: bool = False,
    start: str | None = None,
    end: str | None = None,
    codes: Sequence[str] = (),
) -> list[str]:
    """The deliveries a backfill covers, in delivery order (plain string order of the codes).

    `start` and `end` are inclusive bounds compared as strings, so they need not be existing
    codes themselves; either may be left open. Explicit `codes` must all be known.
    """
    ordered = sorted(set(known))
    chosen = sum([all_deliveries, bool(start or end), bool(codes)])
    if chosen != 1:
        raise BackfillSelectionError("choose exactly one of --all, --from/--to, --delivery")
    if all_deliveries:
        picked = ordered
    elif codes:
        unknown = sorted(set(codes) - set(ordered))
        if unknown:
            raise BackfillSelectionError(
                f"unknown delivery code(s): {', '.join(unknown)}; known: {', '.join(ordered) or 'none'}"
            )
        picked = sorted(set(codes))
    else:
        if start and end and start > end:
            raise BackfillSelectionError(f"--from {start} sorts after --to {end}")
        picked = [c for c in ordered if (start is None or c >= start) and (end is None or c <= end)]
    if not picked:
        raise BackfillSelectionError("the selection matches no delivery")
    return picked


def known_deliveries(instance, settings: Settings) -> list[str]:
    """Registered `deliveries` partitions plus every complete delivery in the landing zone.

    Complete deliveries the sensor has not registered yet are registered here, so a backfill
    can cover them without waiting for its next tick.
    """
    registered = set(instance.get_dynamic_partitions(deliveries_partitions.name))
    discovered = discover_deliveries(settings, lambda problem: print(f"note: {problem}", file=sys.stderr))
    register(instance, sorted(discovered.codes))
    return sorted(registered | set(discovered.codes))


def daemon_is_running(instance) -> bool:
    """Whether a dagster-daemon dequeues runs for this instance right now."""
    heartbeat = instance.get_daemon_heartbeats().get("QUEUED_RUN_COORDINATOR")
    return heartbeat is not None and time.time() - heartbeat.timestamp < DAEMON_HEARTBEAT_MAX_AGE_SECONDS


def submit_to_daemon(instance, codes: Sequence[str], token: str) -> None:
    """Create a Dagster backfill of `deliveries_job` over `codes`, as `dagster job backfill` does."""
    from eduwh_assets.dagster_internals import WorkspaceOpts, execute_backfill_command

    if not WORKSPACE_FILE.exists():
        raise FileNotFoundError(f"{WORKSPACE_FILE} is missing; the daemon and this command both load the code from it")
    execute_backfill_command(
        workspace_opts=WorkspaceOpts(workspace=[str(WORKSPACE_FILE)]),
        partitions=",".join(codes),
        tags=json.dumps({REQUEST_TAG: token}),
        noprompt=True,
        job_name=DELIVERIES_JOB,
        print_fn=lambda line: print(line.strip()) if line.strip() else None,
        instance=instance,
    )


def run_here(instance, codes: Sequence[str], token: str) -> None:
    """Execute one `deliveries_job` run per delivery in this process, in the instance."""
    from dagster import execute_job
    from eduwh_assets.dagster_internals import ReconstructableRepository

    job = ReconstructableRepository.for_module(
        DEFINITIONS_MODULE, "defs", working_directory=str(PROJECT_ROOT)
    ).get_reconstructable_job(DELIVERIES_JOB)
    for code in codes:
        tags = {PARTITION_TAG: code, REQUEST_TAG: token, **process_tags()}
        with quiet_terminal(Console(sys.stdout)), execute_job(
            job, instance=instance, tags=tags, run_config=STEP_LINES
        ) as result:
            print(f"  {code}: {'ok' if result.success else 'FAILED'} (run {result.run_id})")
            for event in result.all_events:
                if event.is_step_failure or event.is_run_failure:
                    print(f"    {event.step_key or 'run'}: {event.message}")
                    error = getattr(event.event_specific_data, "error", None)
                    if error is not None:
                        print(f"    {error.message.strip()}")


def wait_for_runs(instance, token: str, codes: Sequence[str], poll_seconds: float = 2.0) -> dict[str, str]:
    """Block until runs covering every delivery in `codes` have finished; returns delivery -> status."""
    from dagster import RunsFilter

    while True:
        runs = instance.get_runs(filters=RunsFilter(tags={REQUEST_TAG: token}))
        # The bronze assets backfill in a single run per range, so a backfill of many
        # deliveries may be one run rather than one per delivery.
        statuses = {
            code: run.status.value
            for run in reversed(runs)
            for code in deliveries_of_run(run.tags, instance) or []
            if code in codes
        }
        if set(codes) <= set(statuses) and all(run.is_finished for run in runs):
            return statuses
        time.sleep(poll_seconds)


def command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        check_warehouse(settings.warehouse)
    except WarehouseUnreadable as exc:
        raise UserError(str(exc)) from None
    with dagster_instance(settings) as instance:
        for line in recover_dead_runs(instance):
            print(line, flush=True)
        try:
            known = known_deliveries(instance, settings)
            codes = select_deliveries(
                known, all_deliveries=args.all, start=args.start, end=args.end, codes=args.delivery or ()
            )
        except (BackfillSelectionError, LandingZoneError) as exc:
            raise UserError(str(exc)) from None
        token = uuid.uuid4().hex[:12]
        mode = args.mode if args.mode != "auto" else ("daemon" if daemon_is_running(instance) else "here")
        print(f"backfill {token}: {len(codes)} deliveries ({codes[0]} .. {codes[-1]}), mode {mode}")
        if mode == "daemon":
            submit_to_daemon(instance, codes, token)
            if not args.wait:
                print("submitted; follow it on the UI's Backfills page")
                return 0
            print("waiting for the daemon to run them (Ctrl-C stops waiting, not the backfill)")
        else:
            run_here(instance, codes, token)
        statuses = wait_for_runs(instance, token, codes)
        failed = sorted(code for code, status in statuses.items() if status != "SUCCESS")
        print(f"backfill {token}: {len(statuses) - len(failed)} succeeded, {len(failed)} failed")
        for code in failed:
            print(f"  failed: {code} ({statuses[code]})")
        return 1 if failed else 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "backfill",
        help="re-ingest a set of deliveries (a Dagster backfill of deliveries_job)",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    which = parser.add_argument_group("which deliveries (choose one)")
    which.add_argument("--all", action="store_true", help="every known delivery")
    which.add_argument("--from", dest="start", metavar="CODE", type=delivery_code, help="first code, inclusive")
    which.add_argument("--to", dest="end", metavar="CODE", type=delivery_code, help="last code, inclusive")
    which.add_argument(
        "--delivery", action="append", metavar="CODE", type=delivery_code, help="a delivery code (repeatable)"
    )
    parser.add_argument(
        "--mode",
        choices=("auto", "daemon", "here"),
        default="auto",
        help="daemon: submit to the running dagster-daemon; here: run in this process; "
        "auto (default): daemon if one is running",
    )
    parser.add_argument(
        "--no-wait", dest="wait", action="store_false", help="with the daemon, return once the backfill is submitted"
    )
    parser.set_defaults(func=command)
    return parser
