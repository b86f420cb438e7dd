"""What `eduwh run` prints as it goes and at the end: a line per Dagster run, then the tables and deliveries."""

from __future__ import annotations

from dataclasses import dataclass, field

from dagster import AssetCheckSeverity

from eduwh_assets.config import Settings
from eduwh_assets.warehouse import Warehouse

SUMMARY_SCHEMAS = ("bronze", "silver", "quarantine", "gold")


@dataclass
class RunReport:
    """What `eduwh run` did: one line per Dagster run, and whether any failed."""

    lines: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)

    def record(self, label: str, result) -> None:
        # Once per check: a range run also records each delivery's verdict on its partition.
        failed_checks = list(dict.fromkeys(
            f"{e.asset_key.to_user_string()}:{e.check_name}"
            for e in result.get_asset_check_evaluations()
            if not e.passed and e.severity == AssetCheckSeverity.ERROR
        ))
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
            error = event.step_failure_data.error
            # Dagster wraps an unexpected exception in "Error occurred while executing op";
            # the exception underneath is the one that says what went wrong.
            while error.cause is not None and error.cls_name == "DagsterExecutionStepExecutionError":
                error = error.cause
            message = error.message.strip()
            out.append(f"{event.step_key}: {message}")
    return out


def table_counts(settings: Settings) -> list[tuple[str, int]]:
    if not settings.warehouse.exists():
        return []
    with Warehouse.from_settings(settings).read_only_connection() as conn:
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
        with Warehouse.from_settings(settings).read_only_connection() as conn:
            stats = delivery_stats(conn)
        if len(stats):
            print(f"\nReceived rows per delivery (rejected rows are exported to {settings.rejects_dir})")
            print("  " + stats.to_string(index=False).replace("\n", "\n  "))
            totals = stats.drop(columns=["delivery_code"]).groupby("source").sum()
            print("\n  totals\n  " + totals.to_string().replace("\n", "\n  "))
    verdict = "FAILED: " + ", ".join(report.failed) if report.failed else "succeeded"
    print(f"\neduwh run {verdict} in {seconds:.1f}s; warehouse {settings.warehouse}")
