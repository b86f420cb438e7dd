"""The landing-zone and bronze sensors, evaluated by hand against a real instance.

The landing-zone story runs twice, on a local folder and on an Azurite container:
a delivery arrives, another is still being written, a stray folder appears, the
sender re-delivers a file, a broken delivery fails once, and the warehouse is
lost. The requested runs are executed for real. Each tick's run requests and
partition additions are asserted exactly.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import duckdb
import fsspec
import pytest
from dagster import (
    AddDynamicPartitionsRequest,
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    SensorResult,
    SkipReason,
    build_multi_asset_sensor_context,
    build_sensor_context,
)

from eduwh_assets.automation.jobs import deliveries_job
from eduwh_assets.automation.pending import BRONZE_VERSION_TAG, FINGERPRINT_TAG
from eduwh_assets.automation.sensors import BRONZE_ASSET_KEYS, bronze_refresh_sensor, landing_zone_sensor
from eduwh_assets.config import Settings
from eduwh_assets.sources.landing import LandingZone
from eduwh_tests.conftest import eduwh_resources, make_settings

ATTENDANCE = "attendance_id,student_id,session_date,status\nA1,S1,2025-09-08,present\nA2,S2,2025-09-08,late\n"
ASSESSMENTS = [{"assessment_id": "X1", "student_id": "S1", "subject": "maths", "score": 7, "max_score": 10, "assessed_on": "2025-09-09"}]


class Zone:
    """Writes delivery folders into a landing zone the way a sender would: files first, manifest last."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.landing = LandingZone.from_settings(settings)
        self.fs: fsspec.AbstractFileSystem = self.landing.fs

    def put(self, code: str, name: str, text: str) -> None:
        path = f"{self.landing.root}/{code}/{name}"
        if not self.landing.is_azure:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        with self.fs.open(path, "wb") as fh:
            fh.write(text.encode())

    def deliver(self, code: str, attendance: str = ATTENDANCE, *, manifest: bool = True) -> None:
        self.put(code, "attendance.csv", attendance)
        self.put(code, "assessments.json", json.dumps(ASSESSMENTS))
        if manifest:
            self.put(code, "_manifest.json", self.manifest(code, attendance))

    @staticmethod
    def manifest(code: str, attendance: str) -> str:
        rows = {"attendance.csv": {"rows": attendance.count("\n") - 1}, "assessments.json": {"rows": len(ASSESSMENTS)}}
        return json.dumps({"delivery_code": code, "files": rows})

    def fingerprint(self, code: str) -> str:
        delivery = self.landing.delivery(code)
        assert delivery is not None, f"{code} is not complete"
        return delivery.fingerprint


@pytest.fixture(params=["local", "azure"])
def zone(request, tmp_path) -> Zone:
    if request.param == "local":
        settings = make_settings(tmp_path, EDUWH_LANDING=str(tmp_path / "landing"))
        (tmp_path / "landing").mkdir()
    else:
        container = request.getfixturevalue("azure_container")
        connection = request.getfixturevalue("azurite")
        settings = make_settings(
            tmp_path, EDUWH_LANDING=f"{container}/incoming", EDUWH_AZURE_CONNECTION_STRING=connection
        )
    return Zone(settings)


@pytest.fixture
def instance():
    with DagsterInstance.local_temp() as inst:
        yield inst


def tick(zone: Zone, instance: DagsterInstance) -> SensorResult:
    """One evaluation of the real sensor, with partition additions applied as the daemon would."""
    # Closed here: an evaluation context left open holds the instance as Dagster's current one.
    with build_sensor_context(instance=instance, resources=eduwh_resources(zone.settings)) as context:
        result = landing_zone_sensor(context)
    assert isinstance(result, SensorResult)
    for request in result.dynamic_partitions_requests or []:
        assert isinstance(request, AddDynamicPartitionsRequest)
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def launch(zone: Zone, instance: DagsterInstance, requests) -> list[bool]:
    """Run each requested ingestion for real, as the daemon would launch it; returns their success."""
    from eduwh_assets.definitions import build_definitions

    job = build_definitions(zone.settings).resolve_job_def(deliveries_job.name)
    return [
        job.execute_in_process(
            instance=instance, partition_key=r.partition_key, tags=r.tags, raise_on_error=False
        ).success
        for r in requests
    ]


def requested(result: SensorResult) -> list[tuple[str, str, str]]:
    return [(r.partition_key, r.run_key, r.tags[FINGERPRINT_TAG]) for r in result.run_requests or []]


def added(result: SensorResult) -> list[tuple[str, list[str]]]:
    return [(r.partitions_def_name, list(r.partition_keys)) for r in result.dynamic_partitions_requests or []]


def test_landing_zone_sensor_story(zone: Zone, instance: DagsterInstance):
    assert landing_zone_sensor.job_name == deliveries_job.name

    # An empty zone: nothing to do.
    first = tick(zone, instance)
    assert requested(first) == []
    assert added(first) == []
    assert first.skip_reason == SkipReason("bronze holds all 0 complete deliveries as they are now")

    # D1 is complete; D2 is still being written (no manifest); "-tmp" is not a delivery code;
    # D3's manifest names another delivery. Only D1 is ingested.
    zone.deliver("2025-09-08_D1")
    zone.deliver("2025-09-09_D2", manifest=False)
    zone.deliver("-tmp")
    zone.deliver("2025-09-10_D3", manifest=False)
    zone.put("2025-09-10_D3", "_manifest.json", Zone.manifest("OTHER", ATTENDANCE))
    assert zone.landing.discover().problems() == [
        "skipped folder '-tmp': not a valid delivery code",
        "delivery '2025-09-09_D2' is incomplete: no _manifest.json yet",
        "delivery '2025-09-10_D3' skipped: 2025-09-10_D3/_manifest.json: delivery_code 'OTHER' "
        "does not match the folder name '2025-09-10_D3'",
    ]
    fp1 = zone.fingerprint("2025-09-08_D1")
    second = tick(zone, instance)
    assert requested(second) == [("2025-09-08_D1", f"2025-09-08_D1:{fp1}:1", fp1)]
    assert added(second) == [("deliveries", ["2025-09-08_D1"])]
    assert instance.get_dynamic_partitions("deliveries") == ["2025-09-08_D1"]
    assert launch(zone, instance, second.run_requests) == [True]

    # Bronze now holds D1: no request, no partition.
    third = tick(zone, instance)
    assert requested(third) == []
    assert added(third) == []
    assert third.skip_reason == SkipReason(
        "bronze holds all 1 complete deliveries as they are now; skipped 3 folder(s), see the log"
    )

    # D2's manifest lands, and the sender re-delivers D1 with one more row. Both are requested.
    zone.put("2025-09-09_D2", "_manifest.json", Zone.manifest("2025-09-09_D2", ATTENDANCE))
    corrected = ATTENDANCE + "A3,S3,2025-09-08,absent\n"
    zone.put("2025-09-08_D1", "attendance.csv", corrected)
    zone.put("2025-09-08_D1", "_manifest.json", Zone.manifest("2025-09-08_D1", corrected))
    fp1b, fp2 = zone.fingerprint("2025-09-08_D1"), zone.fingerprint("2025-09-09_D2")
    assert fp1b != fp1
    fourth = tick(zone, instance)
    assert requested(fourth) == [
        ("2025-09-08_D1", f"2025-09-08_D1:{fp1b}:1", fp1b),
        ("2025-09-09_D2", f"2025-09-09_D2:{fp2}:1", fp2),
    ]
    assert added(fourth) == [("deliveries", ["2025-09-09_D2"])]
    assert launch(zone, instance, fourth.run_requests) == [True, True]
    assert tick(zone, instance).run_requests == []

    # A delivery with a broken file fails once, and is not asked for again until it changes.
    zone.put("2025-09-11_D4", "attendance.csv", ATTENDANCE + "A9,S9\n")
    zone.put("2025-09-11_D4", "_manifest.json", json.dumps({"delivery_code": "2025-09-11_D4", "files": {"attendance.csv": {"rows": 3}}}))
    fp4 = zone.fingerprint("2025-09-11_D4")
    fifth = tick(zone, instance)
    assert fifth.skip_reason is None, fifth.skip_reason
    assert requested(fifth) == [("2025-09-11_D4", f"2025-09-11_D4:{fp4}:1", fp4)]
    assert launch(zone, instance, fifth.run_requests) == [False]
    sixth = tick(zone, instance)
    assert requested(sixth) == []

    # The warehouse is lost: everything it held is asked for again, the broken delivery still not.
    zone.settings.warehouse.unlink()
    seventh = tick(zone, instance)
    assert requested(seventh) == [
        ("2025-09-08_D1", f"2025-09-08_D1:{fp1b}:2", fp1b),
        ("2025-09-09_D2", f"2025-09-09_D2:{fp2}:2", fp2),
    ]
    assert added(seventh) == []
    assert launch(zone, instance, seventh.run_requests) == [True, True]
    assert tick(zone, instance).run_requests == []


def bronze_tick(instance: DagsterInstance, cursor: str | None, settings: Settings | None = None):
    from eduwh_assets.definitions import defs

    # By default a data folder with no warehouse yet, so no bronze version to compare.
    settings = settings or Settings.from_env({"EDUWH_DATA_DIR": str(Path(instance.root_directory) / "no-data")})
    with build_multi_asset_sensor_context(
        monitored_assets=list(BRONZE_ASSET_KEYS), instance=instance, cursor=cursor, definitions=defs,
        resources=eduwh_resources(settings),
    ) as context:
        return bronze_refresh_sensor(context), context.cursor


def evaluate_schedule(schedule, instance: DagsterInstance, settings: Settings):
    """One evaluation of the real schedule, its context closed afterwards like the sensors'."""
    from dagster import build_schedule_context

    with build_schedule_context(instance=instance, resources=eduwh_resources(settings)) as context:
        return schedule(context)


def report(instance: DagsterInstance, name: str, partition: str | None = None) -> None:
    instance.report_runless_asset_event(AssetMaterialization(asset_key=AssetKey(["bronze", name]), partition=partition))


def test_bronze_refresh_sensor_requests_one_refresh_per_batch(instance: DagsterInstance):
    result, cursor = bronze_tick(instance, None)
    assert result == SkipReason("no new bronze materialisations")

    # A delivery lands in both bronze tables and the SIS tables change: one refresh for all of it.
    report(instance, "attendance", "D1")
    report(instance, "assessments", "D1")
    report(instance, "sis_students")
    latest = instance.get_latest_materialization_event(AssetKey(["bronze", "sis_students"]))
    result, cursor = bronze_tick(instance, cursor)
    assert [(r.job_name, r.run_key, r.tags) for r in [result]] == [
        (None, f"bronze-through-{latest_storage_id(instance)}", {"eduwh/trigger": "bronze_refresh_sensor"})
    ]
    assert latest is not None

    # The batch is consumed: the next tick asks for nothing.
    again, cursor = bronze_tick(instance, cursor)
    assert again == SkipReason("no new bronze materialisations")

    # A later change to one table asks for exactly one more refresh.
    report(instance, "sis_classes")
    more, cursor = bronze_tick(instance, cursor)
    assert more.run_key == f"bronze-through-{latest_storage_id(instance)}"
    quiet, _ = bronze_tick(instance, cursor)
    assert quiet == SkipReason("no new bronze materialisations")


def latest_storage_id(instance: DagsterInstance) -> int:
    records = [instance.get_asset_records([key]) for key in BRONZE_ASSET_KEYS]
    return max(
        r[0].asset_entry.last_materialization_record.storage_id
        for r in records
        if r and r[0].asset_entry.last_materialization_record
    )


def test_daily_deliveries_schedule_loads_what_bronze_lacks(tmp_path, instance: DagsterInstance):
    from dagster import RunRequest

    from eduwh_assets.automation.schedules import deliveries_schedule

    (tmp_path / "landing").mkdir()
    zone = Zone(make_settings(tmp_path, EDUWH_LANDING=str(tmp_path / "landing")))
    zone.deliver("D1")
    instance.add_dynamic_partitions("deliveries", ["D1"])
    first = evaluate_schedule(deliveries_schedule, instance, zone.settings)
    assert launch(zone, instance, first) == [True]
    zone.deliver("D2")

    requests = evaluate_schedule(deliveries_schedule, instance, zone.settings)
    fp2 = zone.fingerprint("D2")
    assert [(r.partition_key, r.run_key, r.tags[FINGERPRINT_TAG]) for r in requests] == [("D2", f"D2:{fp2}:1", fp2)]
    assert all(isinstance(r, RunRequest) for r in requests)
    assert instance.get_dynamic_partitions("deliveries") == ["D1", "D2"]


def record_bronze_load(settings: Settings, load_id: str) -> None:
    """A completed dlt load in the warehouse, as every change to bronze leaves one."""
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse)) as con:
        con.execute("create schema if not exists bronze")
        con.execute("create table if not exists bronze._dlt_loads (load_id varchar, schema_name varchar, status bigint)")
        con.execute("insert into bronze._dlt_loads values (?, 'eduwh_sis', 0)", [load_id])


def record_build(instance: DagsterInstance, version: str, status: DagsterRunStatus) -> str:
    run = DagsterRun(job_name="transform_job", run_id=str(uuid.uuid4()), status=status,
                     tags={BRONZE_VERSION_TAG: version})
    instance.add_run(run)
    return run.run_id


def test_nothing_is_rebuilt_when_bronze_is_unchanged_since_the_last_good_build(tmp_path, instance: DagsterInstance):
    from eduwh_assets.automation.schedules import transform_schedule

    settings = make_settings(tmp_path)
    record_bronze_load(settings, "1700000000.1")

    # Bronze changed and nothing was built from it yet: one refresh, keyed on the version.
    report(instance, "sis_students")
    result, cursor = bronze_tick(instance, None, settings)
    assert (result.run_key, result.tags) == (
        "bronze-1700000000.1", {"eduwh/trigger": "bronze_refresh_sensor", BRONZE_VERSION_TAG: "1700000000.1"})
    assert evaluate_schedule(transform_schedule, instance, settings).tags == {"eduwh/trigger": "transform_daily",
                                                         BRONZE_VERSION_TAG: "1700000000.1"}

    # That build failed (a blocking check): asked for again, so the failure keeps showing.
    record_build(instance, "1700000000.1", DagsterRunStatus.FAILURE)
    report(instance, "sis_students")
    result, cursor = bronze_tick(instance, cursor, settings)
    assert result.run_key == "bronze-1700000000.1"

    # It succeeded: an hourly SIS sync or a backfill that loaded nothing asks for nothing.
    good = record_build(instance, "1700000000.1", DagsterRunStatus.SUCCESS)
    report(instance, "sis_students")
    report(instance, "attendance", "D1")
    result, cursor = bronze_tick(instance, cursor, settings)
    assert result == SkipReason(f"bronze is unchanged since run {good[:8]} built silver and gold")
    assert evaluate_schedule(transform_schedule, instance, settings) == SkipReason(
        f"bronze is unchanged since run {good[:8]} built silver and gold")

    # A real change, a new load: exactly one refresh for it.
    record_bronze_load(settings, "1700000000.2")
    report(instance, "attendance", "D2")
    result, cursor = bronze_tick(instance, cursor, settings)
    assert result.run_key == "bronze-1700000000.2"
