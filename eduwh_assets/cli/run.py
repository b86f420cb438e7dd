"""`eduwh run`: the main job.

It discovers complete deliveries, registers them as `deliveries` partitions,
syncs the SIS, ingests every delivery that is new or was re-delivered, then
rebuilds silver and gold with their checks. Every step is a run in the Dagster
instance, so it shows in the UI exactly as a run launched there would.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import cached_property

import duckdb
from dagster import DagsterInstance, Definitions

from eduwh_assets.automation.jobs import DELIVERIES_JOB, SIS_SYNC_JOB, TRANSFORM_JOB
from eduwh_assets.automation.pending import BRONZE_VERSION_TAG, latest_good_build
from eduwh_assets.automation.runs import describe_run, process_tags, recover_dead_runs, wait_for_free_pool
from eduwh_assets.bronze.ledger import Ledger
from eduwh_assets.cli.arguments import STOPPED_STATUS, UserError, delivery_code
from eduwh_assets.cli.run_report import RunReport, print_summary
from eduwh_assets.cli.stopping import stop_on_sigterm, stopped_cleanly, was_interrupted
from eduwh_assets.config import WAREHOUSE_POOL, Settings
from eduwh_assets.console import STEP_LINES, Console, quiet_terminal
from eduwh_assets.partitions import deliveries_partitions, discover_deliveries, range_tags, register
from eduwh_assets.sources.landing import Delivery, LandingZone, LandingZoneError, is_valid_delivery_code
from eduwh_assets.warehouse import Warehouse, WarehouseBusy, WarehouseUnreadable, check_warehouse, is_lock_conflict

# --verbose: Dagster's own console at INFO, what each step logged; engine events stay in the UI.
CONSOLE_INFO = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def contiguous_blocks(pending: list[str], registered: list[str]) -> list[list[str]]:
    """Split pending delivery codes into runs of neighbours in partition order.

    One run per block amortises the per-run cost over many deliveries, and a
    block never spans a delivery that is not pending, so unchanged deliveries
    get no new materialisation.
    """
    wanted = set(pending)
    blocks: list[list[str]] = []
    current: list[str] = []
    for code in registered:
        if code in wanted:
            current.append(code)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


@dataclass
class MainJob:
    """The steps of `eduwh run`, each a Dagster run in the instance (benchmarks time them one by one)."""

    settings: Settings
    instance: DagsterInstance
    report: RunReport = field(default_factory=RunReport)
    verbose: bool = False

    @cached_property
    def defs(self) -> Definitions:
        """The code location, loaded for the first run: an `eduwh run` with nothing to do never needs it."""
        from eduwh_assets.definitions import build_definitions

        return build_definitions(self.settings)

    @property
    def warehouse(self) -> Warehouse:
        return Warehouse.from_settings(self.settings)

    @classmethod
    def prepare(cls, settings: Settings, verbose: bool = False) -> "MainJob":
        from eduwh_assets.bootstrap import ensure_sample_data
        from eduwh_assets.instance import dagster_instance

        instance = dagster_instance(settings)
        for line in recover_dead_runs(instance):
            print(line, flush=True)
        for line in ensure_sample_data(settings):
            print(line, flush=True)
        return cls(settings, instance, verbose=verbose)

    def discover(self, only: list[str] | None = None) -> list[Delivery]:
        """Complete deliveries (all, or `only`), registered as partitions. Raises LandingZoneError."""
        discovery = discover_deliveries(self.settings, lambda problem: print(f"warning: {problem}", flush=True))
        for code in Ledger.read(self.warehouse).vanished(set(discovery.codes)):
            print(
                f"note: delivery {code!r} is no longer in the landing zone; its rows stay in the warehouse",
                flush=True,
            )
        found = {d.code: d for d in discovery.complete}
        if only:
            found = {c: found[c] for c in only}
        new_codes = register(self.instance, found)
        print(f"Landing zone {self.settings.landing}: {len(found)} complete deliveries, {len(new_codes)} new", flush=True)
        return list(found.values())

    def execute(self, label: str, job_name: str, tags: dict[str, str] | None = None) -> bool:
        job = self.defs.resolve_job_def(job_name)
        wait_for_free_pool(self.instance, lambda line: print(line, flush=True))
        print(f"{label}: running", flush=True)
        tags = {**(tags or {}), **process_tags()}
        if self.verbose:
            terminal, run_config = nullcontext(), CONSOLE_INFO
        else:
            terminal, run_config = quiet_terminal(Console(sys.stdout)), STEP_LINES
        with stopped_cleanly(self.instance, tags, self.settings.warehouse), terminal:
            result = job.execute_in_process(
                instance=self.instance, raise_on_error=False, run_config=run_config, tags=tags
            )
            if was_interrupted(result):
                # Dagster turned Ctrl-C into a failed run; the rest of `eduwh run` stops too.
                raise KeyboardInterrupt
        self.report.record(label, result)
        return result.success

    def sync_sis(self) -> None:
        from eduwh_assets.bronze.sis import sis_unchanged

        if sis_unchanged(self.settings, self.warehouse):
            print("SIS sync: skipped, every SIS table has the rows bronze last merged from it", flush=True)
            return
        self.execute("SIS sync", SIS_SYNC_JOB)

    def ingest(self, deliveries: list[Delivery], *, force: bool = False) -> None:
        """Ingest each delivery whose files bronze does not hold as they are now.

        What bronze holds is read from the warehouse itself (the ledger), so a
        deleted or restored warehouse is reloaded with whatever it lacks.
        """
        pending = {d.code for d in (deliveries if force else Ledger.read(self.warehouse).pending(deliveries))}
        if not pending:
            print("No new or changed deliveries to ingest", flush=True)
            return
        registered = sorted(self.instance.get_dynamic_partitions(deliveries_partitions.name))
        for block in contiguous_blocks(sorted(pending), registered):
            label = f"deliveries {block[0]}..{block[-1]} ({len(block)})" if len(block) > 1 else f"delivery {block[0]}"
            self.execute(label, DELIVERIES_JOB, tags=range_tags(block[0], block[-1]))

    def transform(self) -> None:
        """Rebuild silver and gold, unless they were built from bronze as it is now."""
        version, built = latest_good_build(self.instance, self.warehouse)
        if built is not None:
            print(f"silver and gold: current, built by run {built.run_id[:8]} from bronze as it is now", flush=True)
            return
        self.execute("silver and gold", TRANSFORM_JOB, tags={BRONZE_VERSION_TAG: version} if version else None)


def remove_warehouse(settings: Settings, instance: DagsterInstance) -> None:
    """For --full-refresh: delete the warehouse, unless a live run is using it."""
    storage = instance.event_log_storage
    pool = storage.get_concurrency_info(WAREHOUSE_POOL)
    busy = [instance.get_run_by_id(r) for r in sorted(pool.active_run_ids | pool.pending_run_ids)]
    busy = [run for run in busy if run is not None and not run.is_finished]
    if busy:
        raise UserError(
            f"{', '.join(describe_run(r) for r in busy)} is using the warehouse; "
            "wait for it to finish (or stop it), then run `eduwh run --full-refresh` again"
        )
    if settings.warehouse.exists():
        try:
            duckdb.connect(str(settings.warehouse)).close()
        except duckdb.Error as exc:
            if is_lock_conflict(exc):
                raise UserError(f"another process has the warehouse {settings.warehouse} open: {str(exc).splitlines()[0]}") from None
            # Otherwise it is unreadable: exactly what a full refresh replaces.
    # The warehouse holds the ingestion state too (dlt cursors and the ledger of loaded
    # files), so removing it is a complete, consistent rebuild from the sources.
    for path in (settings.warehouse, settings.warehouse.with_name(settings.warehouse.name + ".wal")):
        path.unlink(missing_ok=True)
    shutil.rmtree(settings.rejects_dir, ignore_errors=True)


def run_main(
    settings: Settings, *, deliveries: list[str] | None = None, full_refresh: bool = False, verbose: bool = False
) -> int:
    # Signal handlers belong to the main thread; a caller on another thread keeps its own.
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, stop_on_sigterm) if on_main_thread else None
    try:
        return _run_main(settings, deliveries=deliveries, full_refresh=full_refresh, verbose=verbose)
    except (UserError, WarehouseUnreadable, WarehouseBusy, LandingZoneError) as exc:
        print(f"eduwh run: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("eduwh run: stopped", file=sys.stderr)
        return STOPPED_STATUS
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)


def _run_main(settings: Settings, *, deliveries: list[str] | None, full_refresh: bool, verbose: bool) -> int:
    from eduwh_assets.instance import dagster_instance

    started = time.monotonic()
    for code in deliveries or []:
        if not is_valid_delivery_code(code):  # for callers that skip the command line
            raise UserError(f"{code!r} is not a delivery code")
    if deliveries:
        # Checked before anything is written: a fresh folder has no deliveries until the
        # samples are written, and writing them for a code that cannot be there helps no one.
        known = set(LandingZone.from_settings(settings).discover().codes)
        unknown = [c for c in deliveries if c not in known]
        if unknown:
            raise UserError(f"no complete delivery named {', '.join(unknown)} in {settings.landing}")
    if full_refresh:
        with dagster_instance(settings) as instance:
            for line in recover_dead_runs(instance):
                print(line, flush=True)
            remove_warehouse(settings, instance)
    else:
        check_warehouse(settings.warehouse)
    job = MainJob.prepare(settings, verbose=verbose)
    found = job.discover(deliveries)
    job.sync_sis()
    job.ingest(found, force=full_refresh)
    job.transform()
    print_summary(settings, job.report, time.monotonic() - started)
    return 1 if job.report.failed else 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="ingest the SIS and new deliveries, rebuild silver and gold, run every check",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--delivery", action="append", metavar="CODE", type=delivery_code, help="only these deliveries (repeatable)"
    )
    parser.add_argument(
        "--full-refresh", action="store_true", help="drop the warehouse and rebuild everything from the sources"
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show dbt's own lines too (all of them, as JSON lines, in <data dir>/dbt/<layer>/dbt.log)",
    )
    parser.set_defaults(
        func=lambda args, settings: run_main(
            settings, deliveries=args.delivery, full_refresh=args.full_refresh, verbose=args.verbose
        )
    )
