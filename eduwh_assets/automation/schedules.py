"""Schedules: the hourly SIS sync, and a daily pass over the landing zone and the marts.

The sensors react within a minute; these schedules are the steady beat that
keeps the warehouse current even when a sensor is switched off.
"""

from __future__ import annotations

from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    DefaultScheduleStatus,
    ResourceParam,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from eduwh_assets.automation.jobs import deliveries_job, sis_sync_job, transform_job
from eduwh_assets.automation.sensors import FINGERPRINT_TAG, TRIGGER_TAG, loaded_delivery_codes
from eduwh_assets.config import Settings
from eduwh_assets.partitions import deliveries_partitions
from eduwh_assets.sources.landing import Delivery, LandingZone

# Times are UTC. The deliveries pass runs before the nightly rebuild so the marts see them.
SIS_SYNC_CRON = "0 * * * *"
DELIVERIES_CRON = "0 5 * * *"
TRANSFORM_CRON = "30 5 * * *"

sis_sync_schedule = ScheduleDefinition(
    name="sis_sync_hourly",
    job=sis_sync_job,
    cron_schedule=SIS_SYNC_CRON,
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    tags={TRIGGER_TAG: "sis_sync_hourly"},
    description="Hourly incremental sync of the SIS (rows with updated_at at or after the stored cursor).",
)

transform_schedule = ScheduleDefinition(
    name="transform_daily",
    job=transform_job,
    cron_schedule=TRANSFORM_CRON,
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    tags={TRIGGER_TAG: "transform_daily"},
    description=(
        "Nightly rebuild of silver, quarantine and gold, so quarantine is recomputed against "
        "the latest SIS even on a day with no new deliveries."
    ),
)


def last_loaded_fingerprint(instance: DagsterInstance, code: str) -> str | None:
    """The fingerprint recorded on the latest successful ingestion of `code`, if one was recorded."""
    runs = instance.get_runs(
        filters=RunsFilter(
            job_name=deliveries_job.name,
            tags={"dagster/partition": code},
            statuses=[DagsterRunStatus.SUCCESS],
        ),
        limit=1,
    )
    return runs[0].tags.get(FINGERPRINT_TAG) if runs else None


def deliveries_to_load(instance: DagsterInstance, deliveries: list[Delivery]) -> list[Delivery]:
    """Complete deliveries bronze does not hold yet, or holds in an older version than the zone's."""
    loaded = loaded_delivery_codes(instance)
    todo = []
    for delivery in deliveries:
        if delivery.code not in loaded:
            todo.append(delivery)
            continue
        recorded = last_loaded_fingerprint(instance, delivery.code)
        # Runs launched outside the sensors and this schedule record no fingerprint; a loaded
        # partition without one is taken as current rather than reloaded every day.
        if recorded is not None and recorded != delivery.fingerprint:
            todo.append(delivery)
    return todo


@schedule(
    name="deliveries_daily",
    cron_schedule=DELIVERIES_CRON,
    job=deliveries_job,
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description=(
        "Daily scan of the landing zone: registers every complete delivery and ingests those "
        "bronze does not hold yet or that were re-delivered since they were loaded."
    ),
)
def deliveries_schedule(context: ScheduleEvaluationContext, settings: ResourceParam[Settings]):
    discovery = LandingZone.from_settings(settings).discover()
    for problem in discovery.problems():
        context.log.warning(problem)
    todo = deliveries_to_load(context.instance, discovery.complete)
    if not todo:
        return SkipReason(f"all {len(discovery.complete)} complete deliveries are loaded and current")
    # A schedule cannot return partition requests the way a sensor does, so it registers the
    # partitions itself before asking for runs of them.
    new = [d.code for d in todo if not context.instance.has_dynamic_partition(deliveries_partitions.name, d.code)]
    if new:
        context.instance.add_dynamic_partitions(deliveries_partitions.name, new)
    return [
        RunRequest(
            run_key=f"{d.code}:{d.fingerprint}",
            partition_key=d.code,
            tags={FINGERPRINT_TAG: d.fingerprint, TRIGGER_TAG: "deliveries_daily"},
        )
        for d in todo
    ]


schedules = [sis_sync_schedule, deliveries_schedule, transform_schedule]
