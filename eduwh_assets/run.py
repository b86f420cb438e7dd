"""`eduwh run`: the main job.

It discovers complete deliveries, registers them as `deliveries` partitions,
syncs the SIS, ingests every delivery that is new or was re-delivered, then
rebuilds silver and gold with their checks. Every step is a run in the Dagster
instance, so it shows in the UI exactly as a run launched there would.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import dataclass, field

import duckdb
from dagster import DagsterInstance, DagsterRunStatus, Definitions, RunsFilter
from dagster import AssetCheckSeverity

from eduwh_assets.config import Settings
from eduwh_assets.sources.landing import Delivery, LandingZone, LandingZoneError

FINGERPRINT_TAG = "eduwh/delivery_fingerprint"
PARTITION_TAG = "dagster/partition"
SUMMARY_SCHEMAS = ("bronze", "silver", "quarantine", "gold")
# The terminal shows what each step did (INFO); step-by-step engine events stay in the UI.
CONSOLE_INFO = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


@dataclass
class RunReport:
    """What `eduwh run` did: one line per Dagster run, and whether any failed."""

    lines: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)

    def record(self, label: str, result) -> None:
        failed_checks = [
            f"{e.asset_key.to_user_string()}:{e.check_name}"
            for e in result.get_asset_check_evaluations()
            if not e.passed and e.severity == AssetCheckSeverity.ERROR
        ]
        status = "ok" if result.success and not failed_checks else "FAILED"
        line = f"{label}: {status} (run {result.run_id[:8]})"
        if failed_checks:
            line += " failed checks: " + ", ".join(failed_checks)
        if not result.success:
            line += "".join(f"\n    {msg}" for msg in step_failures(result))
        self.lines.append(line)
        self.run_ids.append(result.run_id)
        if status != "ok":
            self.failed.append(label)
        print(line, flush=True)


def step_failures(result) -> list[str]:
    """The first line of each failed step's error, which names the file, table or source."""
    out = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            message = event.step_failure_data.error.message.strip()
            out.append(f"{event.step_key}: {message}")
    return out


def loaded_fingerprint(instance: DagsterInstance, code: str) -> str | None:
    """The fingerprint of the last delivery version ingested by a successful run."""
    runs = instance.get_runs(
        filters=RunsFilter(job_name="deliveries_job", statuses=[DagsterRunStatus.SUCCESS], tags={PARTITION_TAG: code}),
        limit=1,
    )
    return runs[0].tags.get(FINGERPRINT_TAG) if runs else None


def table_counts(settings: Settings) -> list[tuple[str, int]]:
    if not settings.warehouse.exists():
        return []
    with duckdb.connect(str(settings.warehouse), read_only=True) as conn:
        tables = conn.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ? and table_type = 'BASE TABLE' and not starts_with(table_name, '_dlt') "
            "order by table_schema, table_name",
            [list(SUMMARY_SCHEMAS)],
        ).fetchall()
        return [(f"{s}.{t}", conn.execute(f'select count(*) from "{s}"."{t}"').fetchone()[0]) for s, t in tables]


def print_summary(settings: Settings, report: RunReport, seconds: float) -> None:
    from eduwh_assets.quality.stats import delivery_stats

    print("\nTables")
    for name, rows in table_counts(settings):
        print(f"  {name:<45} {rows:>12,}")
    if settings.warehouse.exists():
        with duckdb.connect(str(settings.warehouse), read_only=True) as conn:
            stats = delivery_stats(conn)
        if len(stats):
            print(f"\nReceived rows per delivery (rejected rows are exported to {settings.rejects_dir})")
            print("  " + stats.to_string(index=False).replace("\n", "\n  "))
            totals = stats.drop(columns=["delivery_code"]).groupby("source").sum()
            print("\n  totals\n  " + totals.to_string().replace("\n", "\n  "))
    verdict = "FAILED: " + ", ".join(report.failed) if report.failed else "succeeded"
    print(f"\neduwh run {verdict} in {seconds:.1f}s; warehouse {settings.warehouse}")


@dataclass
class MainJob:
    """The steps of `eduwh run`, each a Dagster run in the instance (benchmarks time them one by one)."""

    settings: Settings
    defs: Definitions
    instance: DagsterInstance
    report: RunReport = field(default_factory=RunReport)

    @classmethod
    def prepare(cls, settings: Settings) -> "MainJob":
        from eduwh_assets.definitions import build_definitions
        from eduwh_assets.generate.sample import ensure_sample_data
        from eduwh_assets.instance import dagster_instance

        ensure_sample_data(settings)
        return cls(settings, build_definitions(settings), dagster_instance(settings))

    def discover(self, only: list[str] | None = None) -> list[Delivery]:
        """Complete deliveries (all, or `only`), registered as partitions. Raises LandingZoneError."""
        from eduwh_assets.partitions import deliveries_partitions

        discovery = LandingZone.from_settings(self.settings).discover()
        for problem in discovery.problems():
            print(f"warning: {problem}", flush=True)
        found = {d.code: d for d in discovery.complete}
        if only:
            unknown = [c for c in only if c not in found]
            if unknown:
                raise LandingZoneError(f"no complete delivery named {', '.join(unknown)} in {self.settings.landing}")
            found = {c: found[c] for c in only}
        new_codes = [c for c in found if not self.instance.has_dynamic_partition(deliveries_partitions.name, c)]
        if new_codes:
            self.instance.add_dynamic_partitions(deliveries_partitions.name, new_codes)
        print(f"Landing zone {self.settings.landing}: {len(found)} complete deliveries, {len(new_codes)} new", flush=True)
        return list(found.values())

    def execute(self, label: str, job_name: str, **kwargs) -> None:
        job = self.defs.resolve_job_def(job_name)
        print(f"{label}: running", flush=True)
        result = job.execute_in_process(
            instance=self.instance, raise_on_error=False, run_config=CONSOLE_INFO, **kwargs
        )
        self.report.record(label, result)

    def sync_sis(self) -> None:
        self.execute("SIS sync", "sis_sync_job")

    def ingest(self, deliveries: list[Delivery], *, force: bool = False) -> None:
        """Ingest each delivery that is new or was re-delivered since its last successful run."""
        pending = [d for d in deliveries if force or loaded_fingerprint(self.instance, d.code) != d.fingerprint]
        if not pending:
            print("No new or changed deliveries to ingest", flush=True)
        for i, delivery in enumerate(pending, 1):
            self.execute(
                f"delivery {delivery.code} [{i}/{len(pending)}]",
                "deliveries_job",
                partition_key=delivery.code,
                tags={FINGERPRINT_TAG: delivery.fingerprint},
            )

    def transform(self) -> None:
        self.execute("silver and gold", "transform_job")


def run_main(settings: Settings, *, deliveries: list[str] | None = None, full_refresh: bool = False) -> int:
    started = time.monotonic()
    if full_refresh:
        # The warehouse holds the ingestion state too (dlt cursors and file fingerprints),
        # so removing it is a complete, consistent rebuild from the sources.
        for path in (settings.warehouse, settings.warehouse.with_name(settings.warehouse.name + ".wal")):
            path.unlink(missing_ok=True)
        shutil.rmtree(settings.rejects_dir, ignore_errors=True)
    job = MainJob.prepare(settings)
    try:
        found = job.discover(deliveries)
    except LandingZoneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
        "--delivery", action="append", metavar="CODE", help="only these deliveries (repeatable)"
    )
    parser.add_argument(
        "--full-refresh", action="store_true", help="drop the warehouse and rebuild everything from the sources"
    )
    parser.set_defaults(
        func=lambda args, settings: run_main(settings, deliveries=args.delivery, full_refresh=args.full_refresh)
    )
