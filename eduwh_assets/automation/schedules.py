"""Schedules: the hourly SIS sync, and a daily pass over the landing zone and the marts.

The sensors react within a minute; these schedules are the steady beat that
keeps the warehouse current even when a sensor is switched off.
"""

from __future__ import annotations

from dagster import (
    DefaultScheduleStatus,
    ResourceParam,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from eduwh_assets.automation.jobs import deliveries_job, sis_sync_job, transform_job
from eduwh_assets.automation.pending import BRONZE_VERSION_TAG, latest_good_build, unchanged_since
from eduwh_assets.warehouse import Warehouse, WarehouseBusy, WarehouseUnreadable
from eduwh_assets.automation.sensors import TRIGGER_TAG, delivery_requests
from eduwh_assets.config import Settings
from eduwh_assets.partitions import register

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

@schedule(
    name="transform_daily",
    cron_schedule=TRANSFORM_CRON,
    job=transform_job,
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description=(
        "Nightly rebuild of silver, quarantine and gold when bronze changed since the last good "
        "build (a missed sensor tick, a SIS sync), so quarantine follows the latest SIS."
    ),
)
def transform_schedule(context: ScheduleEvaluationContext, warehouse: Warehouse):
    try:
        version, built = latest_good_build(context.instance, warehouse)
    except (WarehouseBusy, WarehouseUnreadable) as exc:
        return SkipReason(f"{exc}; tried again tomorrow, or by the bronze sensor")
    if built is not None:
        return SkipReason(unchanged_since(built))
    tags = {TRIGGER_TAG: "transform_daily"} | ({BRONZE_VERSION_TAG: version} if version else {})
    return RunRequest(tags=tags)


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
def deliveries_schedule(context: ScheduleEvaluationContext, settings: ResourceParam[Settings], warehouse: Warehouse):
    requests, partitions, skip = delivery_requests(context.instance, settings, warehouse, "deliveries_daily", context.log)
    if skip:
        return SkipReason(skip)
    # A schedule cannot return partition requests the way a sensor does, so it registers the
    # partitions itself before asking for runs of them.
    register(context.instance, partitions)
    return requests


schedules = [sis_sync_schedule, deliveries_schedule, transform_schedule]
