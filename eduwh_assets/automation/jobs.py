"""Jobs: the units `eduwh run`, schedules, sensors and backfills launch.

deliveries_job is partitioned by `deliveries` because the assets it selects are;
Dagster infers that from the selection.
"""

from dagster import AssetKey, AssetSelection, define_asset_job

SIS_ASSETS = AssetSelection.assets(
    AssetKey(["bronze", "sis_programmes"]),
    AssetKey(["bronze", "sis_classes"]),
    AssetKey(["bronze", "sis_students"]),
)
DELIVERY_ASSETS = AssetSelection.assets(AssetKey(["bronze", "attendance"]), AssetKey(["bronze", "assessments"]))
# Silver, quarantine and gold, with every quality asset and check that hangs off them.
TRANSFORM_ASSETS = AssetSelection.groups("silver", "quarantine", "gold", "quality")

# The names `eduwh run` and `eduwh backfill` resolve without loading the code location.
SIS_SYNC_JOB = "sis_sync_job"
DELIVERIES_JOB = "deliveries_job"
TRANSFORM_JOB = "transform_job"

sis_sync_job = define_asset_job(
    SIS_SYNC_JOB, selection=SIS_ASSETS, description="Incremental sync of the SIS tables into bronze."
)
deliveries_job = define_asset_job(
    DELIVERIES_JOB,
    selection=DELIVERY_ASSETS,
    description="Ingest one delivery's attendance and assessment files into bronze.",
)
transform_job = define_asset_job(
    TRANSFORM_JOB,
    selection=TRANSFORM_ASSETS,
    description="Rebuild silver, quarantine and gold with dbt, then run the quality checks.",
)

jobs = [sis_sync_job, deliveries_job, transform_job]
