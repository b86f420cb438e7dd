"""Sensors: new deliveries in the landing zone start ingestion; new bronze data starts a refresh.

Both sensors are idempotent by construction. The landing-zone sensor keys each
run on (delivery code, fingerprint), so an unchanged delivery never runs twice
and a re-delivered one runs exactly once more. The bronze sensor consumes every
materialisation it has seen in one batch, so one bronze change asks for one
transform run, never a storm.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Mapping

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
    multi_asset_sensor,
    sensor,
)

from dagster._utils.warnings import SupersessionWarning

from eduwh_assets.automation.jobs import deliveries_job, transform_job
from eduwh_assets.config import Settings
from eduwh_assets.partitions import deliveries_partitions
from eduwh_assets.sources.landing import Delivery, LandingZone

DELIVERY_ASSET_KEYS = (AssetKey(["bronze", "attendance"]), AssetKey(["bronze", "assessments"]))
BRONZE_ASSET_KEYS = (
    AssetKey(["bronze", "sis_programmes"]),
    AssetKey(["bronze", "sis_classes"]),
    AssetKey(["bronze", "sis_students"]),
    *DELIVERY_ASSET_KEYS,
)
# Layers whose presence in a run means that run already rebuilt what the bronze sensor would.
TRANSFORM_LAYERS = frozenset({"silver", "gold", "quarantine"})

FINGERPRINT_TAG = "eduwh/delivery_fingerprint"
TRIGGER_TAG = "eduwh/trigger"

# The daemon evaluates a sensor no more often than this. Listing a blob container is cheap,
# but each tick also loads the code location, so half a minute keeps the daemon quiet.
LANDING_SENSOR_INTERVAL_SECONDS = 30
BRONZE_SENSOR_INTERVAL_SECONDS = 30


def parse_cursor(cursor: str | None) -> dict[str, str]:
    """The landing-zone cursor: delivery code -> fingerprint of the version last requested."""
    if not cursor:
        return {}
    doc = json.loads(cursor)
    if not isinstance(doc, dict):
        raise ValueError(f"landing-zone sensor cursor must be a JSON object, got {type(doc).__name__}")
    return {str(code): str(fp) for code, fp in doc.items()}


def dump_cursor(seen: Mapping[str, str]) -> str:
    # Sorted keys keep the cursor stable, so an unchanged zone never rewrites it.
    return json.dumps(dict(sorted(seen.items())), sort_keys=True, separators=(",", ":"))


def changed_deliveries(deliveries: Iterable[Delivery], seen: Mapping[str, str]) -> list[Delivery]:
    """Deliveries that are new, or whose fingerprint differs from the one in `seen`, in code order."""
    return sorted((d for d in deliveries if seen.get(d.code) != d.fingerprint), key=lambda d: d.code)


def delivery_run_key(delivery: Delivery) -> str:
    return f"{delivery.code}:{delivery.fingerprint}"


def loaded_delivery_codes(instance: DagsterInstance) -> set[str]:
    """Delivery partitions that bronze already holds, whoever loaded them (`eduwh run`, a backfill, the UI)."""
    codes: set[str] = set()
    for key in DELIVERY_ASSET_KEYS:
        codes |= set(instance.get_materialized_partitions(key))
    return codes


@sensor(
    name="landing_zone_sensor",
    job=deliveries_job,
    minimum_interval_seconds=LANDING_SENSOR_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Watches the landing zone (EDUWH_LANDING, local or az://). Registers each complete new "
        "delivery as a `deliveries` partition and requests its ingestion; a re-delivered "
        "(changed) delivery is ingested once more."
    ),
)
def landing_zone_sensor(context: SensorEvaluationContext, settings: ResourceParam[Settings]):
    discovery = LandingZone.from_settings(settings).discover()
    for problem in discovery.problems():
        context.log.warning(problem)

    seen = parse_cursor(context.cursor)
    if context.cursor is None:
        # First tick on this instance: deliveries that bronze already holds were loaded by
        # someone else (`eduwh run`, a backfill). Take them as the baseline instead of loading
        # them again; from here on the fingerprint decides.
        loaded = loaded_delivery_codes(context.instance)
        seen = {d.code: d.fingerprint for d in discovery.complete if d.code in loaded}

    todo = changed_deliveries(discovery.complete, seen)
    if not todo:
        skipped = f"; skipped {len(discovery.problems())} folder(s), see the tick log" if discovery.problems() else ""
        return SensorResult(
            skip_reason=SkipReason(f"no new or changed deliveries among {len(discovery.complete)} complete{skipped}"),
            cursor=dump_cursor(seen),
        )

    new_partitions = [
        d.code for d in todo if not context.instance.has_dynamic_partition(deliveries_partitions.name, d.code)
    ]
    for delivery in todo:
        why = "re-delivered" if delivery.code in seen else "new"
        context.log.info(f"delivery {delivery.code!r} is {why} (fingerprint {delivery.fingerprint}): requesting ingestion")
    return SensorResult(
        run_requests=[
            RunRequest(
                run_key=delivery_run_key(d),
                partition_key=d.code,
                tags={FINGERPRINT_TAG: d.fingerprint, TRIGGER_TAG: "landing_zone_sensor"},
            )
            for d in todo
        ],
        dynamic_partitions_requests=[deliveries_partitions.build_add_request(new_partitions)] if new_partitions else [],
        cursor=dump_cursor({**seen, **{d.code: d.fingerprint for d in todo}}),
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


def _bronze_refresh(context: MultiAssetSensorEvaluationContext):
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
    changed = ", ".join(sorted("/".join(key.path) for key in records))
    context.log.info(f"bronze changed ({changed}) in run(s) {', '.join(owed)}: requesting one refresh")
    latest = max(rec.storage_id for rec in records.values())
    return RunRequest(run_key=f"bronze-through-{latest}", tags={TRIGGER_TAG: "bronze_refresh_sensor"})


with warnings.catch_warnings():
    warnings.simplefilter("ignore", category=SupersessionWarning)
    bronze_refresh_sensor = _bronze_sensor_decorator(_bronze_refresh)


sensors = [landing_zone_sensor, bronze_refresh_sensor]
