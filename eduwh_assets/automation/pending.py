"""What automation asks for: which deliveries to ingest, and whether silver and gold need a rebuild.

Deliveries (the landing-zone sensor and the daily deliveries schedule): the
ledger in the warehouse says which are pending (a file that is new, changed or
retracted). Run history only says whether asking again helps: a run for this
version that is still queued or running is waited for, and one that failed is
not retried until the delivery changes or a backfill asks. A version whose run
succeeded but which the ledger no longer holds (the warehouse was deleted or
restored) is asked for again.

Rebuilds (`eduwh run`, the bronze sensor and the nightly schedule): see
`current_build`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dagster import (
    AssetCheckSeverity,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    RunsFilter,
)

from eduwh_assets.automation.jobs import deliveries_job, transform_job
from eduwh_assets.bronze.ledger import Ledger, bronze_version
from eduwh_assets.partitions import PARTITION_TAG
from eduwh_assets.sources.landing import Delivery
from eduwh_assets.warehouse import Warehouse

FINGERPRINT_TAG = "eduwh/delivery_fingerprint"
# The bronze version (bronze.ledger.bronze_version) a transform run was asked to build from.
BRONZE_VERSION_TAG = "eduwh/bronze_version"


@dataclass
class Pending:
    """Deliveries to request now, and a line for each one held back or no longer in the zone."""

    todo: list[Delivery] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def run_key(self, instance: DagsterInstance, delivery: Delivery) -> str:
        # One key per attempt at one version: a tick that is retried does not ask twice,
        # and a version the warehouse lost can be asked for again.
        attempts = len(runs_for(instance, delivery, limit=None))
        return f"{delivery.code}:{delivery.fingerprint}:{attempts + 1}"


def runs_for(instance: DagsterInstance, delivery: Delivery, limit: int | None = 1):
    """The latest runs that were asked to ingest exactly this version of `delivery`."""
    return instance.get_runs(
        filters=RunsFilter(
            job_name=deliveries_job.name,
            tags={PARTITION_TAG: delivery.code, FINGERPRINT_TAG: delivery.fingerprint},
        ),
        limit=limit,
    )


def pending_deliveries(instance: DagsterInstance, ledger: Ledger, complete: list[Delivery]) -> Pending:
    pending = Pending()
    for code in ledger.vanished({d.code for d in complete}):
        pending.notes.append(f"delivery {code!r} is no longer in the landing zone; its rows stay in the warehouse")
    for delivery in ledger.pending(complete):
        latest = next(iter(runs_for(instance, delivery)), None)
        if latest is None or latest.status == DagsterRunStatus.SUCCESS:
            pending.todo.append(delivery)
        elif not latest.is_finished:
            pending.notes.append(f"delivery {delivery.code!r}: run {latest.run_id[:8]} is loading this version")
        else:
            pending.notes.append(
                f"delivery {delivery.code!r}: run {latest.run_id[:8]} failed on this version; it is tried again "
                f"when the delivery changes, or now with `eduwh backfill --delivery {delivery.code}`"
            )
    return pending


def current_build(instance: DagsterInstance, version: str | None) -> DagsterRun | None:
    """The transform run that built silver and gold from bronze as it is now, if the latest one did.

    Silver and gold are current when the latest transform run succeeded, with every check
    of error severity passing, and was built from this bronze version; then a rebuild would change
    nothing, and `eduwh run`, the bronze sensor and the nightly schedule skip it. A failed
    build, or one from an older bronze, is run again, so a failing check keeps failing.
    """
    if version is None:
        return None
    latest = next(iter(instance.get_runs(filters=RunsFilter(job_name=transform_job.name), limit=1)), None)
    if latest is None or latest.status != DagsterRunStatus.SUCCESS or latest.tags.get(BRONZE_VERSION_TAG) != version:
        return None
    # A failed check does not fail its run; a build with a failed blocking-severity check is not good.
    evaluations = instance.all_logs(latest.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    for record in evaluations:
        evaluation = record.dagster_event.event_specific_data
        if not evaluation.passed and evaluation.severity == AssetCheckSeverity.ERROR:
            return None
    return latest


def latest_good_build(instance: DagsterInstance, warehouse: Warehouse) -> tuple[str | None, DagsterRun | None]:
    """Bronze's version now, and the transform run that built silver and gold from it (None when a
    rebuild is owed). Raises WarehouseBusy or WarehouseUnreadable when the warehouse cannot be read."""
    version = bronze_version(warehouse)
    return version, current_build(instance, version)


def unchanged_since(built: DagsterRun) -> str:
    """Why automation skips a rebuild."""
    return f"bronze is unchanged since run {built.run_id[:8]} built silver and gold"
