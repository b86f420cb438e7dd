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
from dagster import AssetCheckSeverity, DagsterInstance, Definitions

from eduwh_assets.config import Settings
from eduwh_assets.sources.landing import Delivery, LandingZone, LandingZoneError

SUMMARY_SCHEMAS = ("bronze", "silver", "quarantine", "gold")
# Dagster's run tags for a run over a range of partitions (single-run backfills use the same).
ASSET_PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
ASSET_PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"
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


def fingerprint_key(code: str) -> str:
    return f"eduwh/delivery_fingerprint/{code}"


def loaded_fingerprints(instance: DagsterInstance, codes: list[str]) -> dict[str, str]:
    """The fingerprint of each delivery's last version ingested by a successful run.

    Kept in the instance's key-value store beside the sensors' cursors, so the
    UI's instance and `eduwh run` agree on what has been ingested.
    """
    return instance.run_storage.get_cursor_values({fingerprint_key(c) for c in codes})


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

        for line in ensure_sample_data(settings):
            print(line, flush=True)
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

    def execute(self, label: str, job_name: str, **kwargs) -> bool:
        job = self.defs.resolve_job_def(job_name)
        print(f"{label}: running", flush=True)
        result = job.execute_in_process(
            instance=self.instance, raise_on_error=False, run_config=CONSOLE_INFO, **kwargs
        )
        self.report.record(label, result)
        return result.success

    def sync_sis(self) -> None:
        self.execute("SIS sync", "sis_sync_job")

    def ingest(self, deliveries: list[Delivery], *, force: bool = False) -> None:
        """Ingest each delivery that is new or was re-delivered since its last successful ingestion."""
        from eduwh_assets.partitions import deliveries_partitions

        loaded = {} if force else loaded_fingerprints(self.instance, [d.code for d in deliveries])
        pending = {d.code: d for d in deliveries if loaded.get(fingerprint_key(d.code)) != d.fingerprint}
        if not pending:
            print("No new or changed deliveries to ingest", flush=True)
            return
        registered = sorted(self.instance.get_dynamic_partitions(deliveries_partitions.name))
        for block in contiguous_blocks(list(pending), registered):
            label = f"deliveries {block[0]}..{block[-1]} ({len(block)})" if len(block) > 1 else f"delivery {block[0]}"
            succeeded = self.execute(
                label,
                "deliveries_job",
                tags={ASSET_PARTITION_RANGE_START_TAG: block[0], ASSET_PARTITION_RANGE_END_TAG: block[-1]},
            )
            if succeeded:
                self.instance.run_storage.set_cursor_values(
                    {fingerprint_key(code): pending[code].fingerprint for code in block}
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
