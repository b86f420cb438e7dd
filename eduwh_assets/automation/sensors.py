"""Sensors: new deliveries in the landing zone start ingestion; new bronze data starts a refresh.

Both sensors are idempotent by construction. The landing-zone sensor asks for
what the warehouse's ledger lacks (automation/pending.py), so an unchanged
delivery never runs twice, a re-delivered one runs once more, and a warehouse
that was deleted is reloaded. The bronze sensor consumes every materialisation
it has seen in one batch, so one bronze change asks for one transform run,
never a storm.
"""

from __future__ import annotations

import warnings

from dagster import (
    AssetKey,
    DagsterInstance,
    DagsterRun,
    DefaultSensorStatus,
    MultiAssetSensorEvaluationContext,
    ResourceParam,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    SupersessionWarning,
    multi_asset_sensor,
    sensor,
)

from eduwh_assets.automation.jobs import deliveries_job, transform_job
from eduwh_assets.automation.pending import (
    BRONZE_VERSION_TAG,
    FINGERPRINT_TAG,
    latest_good_build,
    pending_deliveries,
    unchanged_since,
)
from eduwh_assets.bronze.ledger import Ledger
from eduwh_assets.config import Settings
from eduwh_assets.partitions import deliveries_partitions, discover_deliveries, unregistered
from eduwh_assets.warehouse import Warehouse, WarehouseBusy, WarehouseUnreadable

DELIVERY_ASSET_KEYS = (AssetKey(["bronze", "attendance"]), AssetKey(["bronze", "assessments"]))
BRONZE_ASSET_KEYS = (
    AssetKey(["bronze", "sis_programmes"]),
    AssetKey(["bronze", "sis_classes"]),
    AssetKey(["bronze", "sis_students"]),
    *DELIVERY_ASSET_KEYS,
)
# Layers whose presence in a run means that run already rebuilt what the bronze sensor would.
TRANSFORM_LAYERS = frozenset({"silver", "gold", "quarantine"})

TRIGGER_TAG = "eduwh/trigger"

# The daemon evaluates a sensor no more often than this. Listing a blob container is cheap,
# but each tick also loads the code location, so half a minute keeps the daemon quiet.
LANDING_SENSOR_INTERVAL_SECONDS = 30
BRONZE_SENSOR_INTERVAL_SECONDS = 30


def delivery_requests(
    instance: DagsterInstance, settings: Settings, warehouse: Warehouse, trigger: str, log
) -> tuple[list[RunRequest], list[str], str | None]:
    """Run requests for the deliveries bronze lacks, the partitions to add, or why there are none.

    Shared by the landing-zone sensor and the daily deliveries schedule.
    """
    discovery = discover_deliveries(settings, log.warning)
    try:
        ledger = Ledger.read(warehouse)
    except (WarehouseBusy, WarehouseUnreadable) as exc:
        return [], [], f"{exc}; the landing zone is checked again next time"
    pending = pending_deliveries(instance, ledger, discovery.complete)
    for note in pending.notes:
        log.info(note)
    if not pending.todo:
        skipped = f"; skipped {len(discovery.problems())} folder(s), see the log" if discovery.problems() else ""
        return [], [], f"bronze holds all {len(discovery.complete)} complete deliveries as they are now{skipped}"
    for delivery in pending.todo:
        changes = "; ".join(ledger.changes(delivery))
        log.info(f"delivery {delivery.code!r} ({changes}): requesting ingestion")
    requests = [
        RunRequest(
            run_key=pending.run_key(instance, d),
            partition_key=d.code,
            tags={FINGERPRINT_TAG: d.fingerprint, TRIGGER_TAG: trigger},
        )
        for d in pending.todo
    ]
    return requests, unregistered(instance, [d.code for d in pending.todo]), None


@sensor(
    name="landing_zone_sensor",
    job=deliveries_job,
    minimum_interval_seconds=LANDING_SENSOR_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Watches the landing zone (EDUWH_LANDING, local or az://). Registers each complete new "
        "delivery as a `deliveries` partition and requests its ingestion; a re-delivered "
        "(changed) delivery is ingested once more. What is pending is read from the warehouse."
    ),
)
def landing_zone_sensor(context: SensorEvaluationContext, settings: ResourceParam[Settings], warehouse: Warehouse):
    requests, partitions, skip = delivery_requests(
        context.instance, settings, warehouse, "landing_zone_sensor", context.log
    )
    if skip:
        return SensorResult(skip_reason=SkipReason(skip))
    return SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[deliveries_partitions.build_add_request(partitions)] if partitions else [],
    )


def rebuilt_downstream(run: DagsterRun | None) -> bool:
    """Whether `run` itself materialised silver, gold or quarantine, so no refresh is owed for it."""
    if run is None or not run.asset_selection:
        return False
    return any(key.path[0] in TRANSFORM_LAYERS for key in run.asset_selection)


# Dagster steers most users from multi-asset sensors to declarative automation, but says they
# remain the tool when one specific job must be launched, which is the case here: transform_job
# rebuilds dbt's whole graph in one run. The notice would otherwise print on every code load.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", category=SupersessionWarning)
    _bronze_sensor_decorator = multi_asset_sensor(
        name="bronze_refresh_sensor",
        monitored_assets=list(BRONZE_ASSET_KEYS),
        job=transform_job,
        minimum_interval_seconds=BRONZE_SENSOR_INTERVAL_SECONDS,
        default_status=DefaultSensorStatus.RUNNING,
        description=(
            "Requests one transform_job run (silver, quarantine, gold and their checks) per batch of "
            "new bronze materialisations, once the runs that wrote them have finished."
        ),
    )


def _bronze_refresh(context: MultiAssetSensorEvaluationContext, warehouse: Warehouse):
    records = {key: rec for key, rec in context.latest_materialization_records_by_key().items() if rec is not None}
    if not records:
        return SkipReason("no new bronze materialisations")

    runs = {rec.run_id: context.instance.get_run_by_id(rec.run_id) if rec.run_id else None for rec in records.values()}
    # A delivery run writes attendance and assessments one after the other. Waiting for the
    # writing runs to finish turns that pair (or a whole backfill's worth) into one refresh.
    unfinished = sorted(run_id for run_id, run in runs.items() if run is not None and not run.is_finished)
    if unfinished:
        return SkipReason(f"waiting for bronze run(s) {', '.join(unfinished)} to finish")

    # Only the records read above are consumed: anything that lands during this tick waits for the next.
    context.advance_cursor(records)
    owed = sorted(run_id or "(reported in the UI)" for run_id, run in runs.items() if not rebuilt_downstream(run))
    if not owed:
        return SkipReason("the runs that changed bronze also rebuilt silver and gold")
    try:
        version, built = latest_good_build(context.instance, warehouse)
    except (WarehouseBusy, WarehouseUnreadable) as exc:
        return SkipReason(f"{exc}; checking again next tick")
    if built is not None:
        # A sync or a backfill that found nothing new makes no dlt load: nothing to rebuild.
        return SkipReason(unchanged_since(built))
    changed = ", ".join(sorted("/".join(key.path) for key in records))
    context.log.info(f"bronze changed ({changed}) in run(s) {', '.join(owed)}: requesting one refresh")
    if version is None:  # no warehouse to read a version from: key on what was reported
        latest = max(rec.storage_id for rec in records.values())
        return RunRequest(run_key=f"bronze-through-{latest}", tags={TRIGGER_TAG: "bronze_refresh_sensor"})
    # One refresh per bronze version, however many ticks see it.
    return RunRequest(
        run_key=f"bronze-{version}", tags={TRIGGER_TAG: "bronze_refresh_sensor", BRONZE_VERSION_TAG: version}
    )


with warnings.catch_warnings():
    warnings.simplefilter("ignore", category=SupersessionWarning)
    bronze_refresh_sensor = _bronze_sensor_decorator(_bronze_refresh)


sensors = [landing_zone_sensor, bronze_refresh_sensor]
