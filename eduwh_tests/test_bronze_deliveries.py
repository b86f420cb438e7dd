"""bronze/attendance and bronze/assessments: delivery files land as text, file by file, from a
real landing zone (a local folder or Azurite) into a real DuckDB file, through `materialize`."""

import csv
import io
import json
import os
import time
from pathlib import Path

import duckdb
from dagster import DagsterInstance, materialize

from eduwh_assets.bronze.delivery_assets import assessments, attendance
from eduwh_tests.conftest import eduwh_resources, AZURITE_ACCOUNT, AZURITE_KEY, free_port, make_settings

NODE = {"attendance": "bronze__attendance", "assessments": "bronze__assessments"}
ASSET = {"attendance": attendance, "assessments": assessments}

# Delivery D1: two attendance files (one with an extra column, one with its columns in another
# order) and an assessment JSON array plus a JSON Lines file, with bad values that must land as sent.
D1 = {
    "attendance_a.csv": (
        "attendance_id,student_id,session_date,status,room\n"
        "A1,S1,2025-09-08,present,R1\n"
        "A2,S1,2025-02-30,sick,R1\n"
        "A3,S2,2025-09-08, Late ,R2\n"
        "A4,,2025-09-09,absent,R2\n"
        '"A5","S3","2025-09-10","excused, note",R3\n'
    ),
    "attendance_b.csv": "status,session_date,student_id,attendance_id\nABSENT,2025-09-10,S2,A6\n",
    "assessments.json": (
        "[\n"
        ' {"assessment_id": "X1", "student_id": "S1", "subject": "Maths", "score": 85.0, "max_score": 100,'
        ' "assessed_on": "2025-09-15"},\n'
        ' {"assessment_id": "X2", "student_id": "S2", "subject": "Maths", "score": "eighty", "max_score": "100",'
        ' "assessed_on": "2025-13-45", "teacher": "T9"},\n'
        ' {"assessment_id": "X3", "student_id": "S3", "score": 1e2, "max_score": 100.50, "assessed_on": "2025-09-16"}\n'
        "]\n"
    ),
    "assessments_2.jsonl": (
        '{"assessment_id": "X4", "student_id": "S1", "subject": "Art", "score": -5, "max_score": 0,'
        ' "assessed_on": "2025-09-17"}\n'
        "\n"
        '{"assessment_id": "X5", "student_id": "S9", "subject": "Art", "score": true, "max_score": null,'
        ' "assessed_on": "2025-09-17"}\n'
    ),
}

# (attendance_id, student_id, session_date, status, delivery_code, _source_file, _source_row)
D1_ATTENDANCE = [
    ("A1", "S1", "2025-09-08", "present", "D1", "attendance_a.csv", 1),
    ("A2", "S1", "2025-02-30", "sick", "D1", "attendance_a.csv", 2),
    ("A3", "S2", "2025-09-08", " Late ", "D1", "attendance_a.csv", 3),
    ("A4", "", "2025-09-09", "absent", "D1", "attendance_a.csv", 4),
    ("A5", "S3", "2025-09-10", "excused, note", "D1", "attendance_a.csv", 5),
    ("A6", "S2", "2025-09-10", "ABSENT", "D1", "attendance_b.csv", 1),
]
# (assessment_id, student_id, subject, score, max_score, assessed_on, delivery_code, _source_file, _source_row)
D1_ASSESSMENTS = [
    ("X1", "S1", "Maths", "85.0", "100", "2025-09-15", "D1", "assessments.json", 1),
    ("X2", "S2", "Maths", "eighty", "100", "2025-13-45", "D1", "assessments.json", 2),
    ("X3", "S3", None, "1e2", "100.50", "2025-09-16", "D1", "assessments.json", 3),
    ("X4", "S1", "Art", "-5", "0", "2025-09-17", "D1", "assessments_2.jsonl", 1),
    ("X5", "S9", "Art", "true", None, "2025-09-17", "D1", "assessments_2.jsonl", 2),
]
ATTENDANCE_SELECT = (
    "SELECT attendance_id, student_id, session_date, status, delivery_code, _source_file, _source_row "
    "FROM bronze.attendance"
)
ASSESSMENTS_SELECT = (
    "SELECT assessment_id, student_id, subject, score, max_score, assessed_on, delivery_code, _source_file, "
    "_source_row FROM bronze.assessments"
)
ORDER = " ORDER BY delivery_code, _source_file, _source_row"


def write_delivery(landing: Path, code: str, files: dict[str, str], *, manifest: bool = True) -> None:
    """Write a delivery the way a sender does: data files first, the manifest last."""
    folder = landing / code
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    if manifest:
        entries = {name: {"rows": declared_rows(name, text)} for name, text in files.items()}
        (folder / "_manifest.json").write_text(json.dumps({"delivery_code": code, "files": entries}))


def declared_rows(name: str, text: str) -> int:
    """What a sender would declare: data lines of a CSV or JSON Lines file, elements of a JSON array."""
    lines = [line for line in text.splitlines() if line.strip()]
    if name.endswith(".csv"):
        return len(lines) - 1
    if name.endswith(".jsonl"):
        return len(lines)
    return text.count('"assessment_id"')


def redeliver(path: Path, text: str) -> None:
    """Replace a file; its modification time moves on even within the clock's resolution."""
    path.write_text(text)
    later = time.time() + 10
    os.utime(path, (later, later))


def run(settings, instance, source: str, code: str):
    return materialize(
        [ASSET[source]],
        resources=eduwh_resources(settings),
        partition_key=code,
        instance=instance,
        raise_on_error=False,
    )


def metadata(result, source: str) -> dict:
    (mat,) = result.asset_materializations_for_node(NODE[source])
    return {k: v.value for k, v in mat.metadata.items()}


def failure_message(result) -> str:
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return failure.step_failure_data.user_failure_data.description


def query(settings, sql: str, params=()):
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def instance_with(*codes: str) -> DagsterInstance:
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("deliveries", list(codes))
    return instance


def test_files_land_as_text_then_unchanged_files_are_skipped_and_new_delivery_loads_alone(tmp_path):
    landing = tmp_path / "landing"
    write_delivery(landing, "D1", D1)
    settings = make_settings(tmp_path, EDUWH_LANDING=str(landing))
    instance = instance_with("D1")

    first = run(settings, instance, "attendance", "D1")
    assert first.success
    meta = metadata(first, "attendance")
    assert meta["rows_loaded"] == 6
    assert meta["dagster/row_count"] == 6
    assert (meta["files_loaded"], meta["files_skipped_unchanged"], meta["files_failed"]) == (2, 0, 0)
    assert meta["files"] == {"loaded": {"attendance_a.csv": 5, "attendance_b.csv": 1}, "skipped_unchanged": [], "failed": {}, "retracted": []}
    assert [(c.name, c.type) for c in meta["dagster/column_schema"].columns] == [
        ("attendance_id", "varchar"), ("student_id", "varchar"), ("session_date", "varchar"), ("status", "varchar"),
        ("delivery_code", "varchar"), ("_source_file", "varchar"), ("_source_row", "bigint"),
        ("_ingested_at", "timestamp with time zone"), ("_dlt_load_id", "varchar"),
    ]
    assert meta["preview"].count("\n| A") == 5  # header, rule, then the first five rows
    assert query(settings, ATTENDANCE_SELECT + ORDER) == D1_ATTENDANCE
    assert query(settings, "SELECT count(DISTINCT _dlt_load_id), count(_ingested_at) FROM bronze.attendance") == [(1, 6)]

    first_assessments = run(settings, instance, "assessments", "D1")
    assert first_assessments.success
    meta = metadata(first_assessments, "assessments")
    assert (meta["rows_loaded"], meta["dagster/row_count"], meta["files_loaded"]) == (5, 5, 2)
    assert query(settings, ASSESSMENTS_SELECT + ORDER) == D1_ASSESSMENTS

    # Nothing changed in the landing zone: no file is read again, no row is written.
    for source, rows in (("attendance", 6), ("assessments", 5)):
        again = run(settings, instance, source, "D1")
        assert again.success
        meta = metadata(again, source)
        assert (meta["rows_loaded"], meta["files_loaded"], meta["files_skipped_unchanged"]) == (0, 0, 2)
        assert meta["dagster/row_count"] == rows
    assert query(settings, "SELECT count(DISTINCT _dlt_load_id) FROM bronze.attendance") == [(1,)]

    # A new delivery loads only its own file; D1's rows stay as they were.
    (d1_load_id,) = query(settings, "SELECT DISTINCT _dlt_load_id FROM bronze.attendance")
    write_delivery(landing, "D2", {"attendance.csv": "attendance_id,student_id,session_date,status\nA1,S1,2025-09-08,holiday\nA7,S3,2025-09-11,late\nA8,S4,2025-09-11,present\n"})
    instance.add_dynamic_partitions("deliveries", ["D2"])
    second = run(settings, instance, "attendance", "D2")
    assert second.success
    meta = metadata(second, "attendance")
    assert meta["files"] == {"loaded": {"attendance.csv": 3}, "skipped_unchanged": [], "failed": {}, "retracted": []}
    assert (meta["rows_loaded"], meta["dagster/row_count"]) == (3, 3)
    assert query(settings, "SELECT delivery_code, count(*) FROM bronze.attendance GROUP BY 1 ORDER BY 1") == [("D1", 6), ("D2", 3)]
    assert query(settings, "SELECT DISTINCT _dlt_load_id FROM bronze.attendance WHERE delivery_code = 'D1'") == [d1_load_id]


def test_redelivered_file_replaces_its_rows(tmp_path):
    landing = tmp_path / "landing"
    header = "attendance_id,student_id,session_date,status\n"
    write_delivery(
        landing,
        "D1",
        {
            "attendance.csv": header + "A1,S1,2025-09-08,present\nA2,S1,2025-09-09,absent\nA3,S2,2025-09-08,late\n",
            "attendance_other.csv": header + "B1,S3,2025-09-08,present\nB2,S3,2025-09-09,present\n",
        },
    )
    settings = make_settings(tmp_path, EDUWH_LANDING=str(landing))
    instance = instance_with("D1")
    assert run(settings, instance, "attendance", "D1").success

    redeliver(landing / "D1" / "attendance.csv", header + "A1,S1,2025-09-08,excused\nA9,S2,2025-09-12,absent\n")
    result = run(settings, instance, "attendance", "D1")
    assert result.success
    meta = metadata(result, "attendance")
    assert meta["files"] == {"loaded": {"attendance.csv": 2}, "skipped_unchanged": ["attendance_other.csv"], "failed": {}, "retracted": []}
    assert (meta["rows_loaded"], meta["dagster/row_count"]) == (2, 4)
    assert query(settings, ATTENDANCE_SELECT + ORDER) == [
        ("A1", "S1", "2025-09-08", "excused", "D1", "attendance.csv", 1),
        ("A9", "S2", "2025-09-12", "absent", "D1", "attendance.csv", 2),
        ("B1", "S3", "2025-09-08", "present", "D1", "attendance_other.csv", 1),
        ("B2", "S3", "2025-09-09", "present", "D1", "attendance_other.csv", 2),
    ]

    # Re-delivered with a header only: the file now has no rows, so neither does bronze.
    redeliver(landing / "D1" / "attendance.csv", header)
    emptied = run(settings, instance, "attendance", "D1")
    assert emptied.success
    meta = metadata(emptied, "attendance")
    assert (meta["rows_loaded"], meta["files_loaded"], meta["dagster/row_count"]) == (0, 1, 2)
    assert query(settings, "SELECT _source_file, count(*) FROM bronze.attendance GROUP BY 1") == [("attendance_other.csv", 2)]


def test_broken_files_fail_alone_naming_file_and_position_and_the_run_fails(tmp_path):
    landing = tmp_path / "landing"
    write_delivery(
        landing,
        "D1",
        {
            "attendance_ok.csv": "attendance_id,student_id,session_date,status\nA1,S1,2025-09-08,present\nA2,S2,2025-09-08,absent\n",
            "attendance_nostatus.csv": "attendance_id,student_id,session_date\nA3,S1,2025-09-09\n",
            "attendance_ragged.csv": "attendance_id,student_id,session_date,status\nA4,S1,2025-09-10,late\nA5,S2,2025-09-10\n",
            "assessments_ok.jsonl": '{"assessment_id": "Y1", "student_id": "S1", "score": 7}\n',
            "assessments_bad.json": '[\n  {"assessment_id": "X1",\n   "score": 5,}\n]\n',
            "assessments_badline.jsonl": '{"assessment_id": "Y2", "score": 1}\n{"assessment_id": "Y3", "score": }\n',
        },
    )
    settings = make_settings(tmp_path, EDUWH_LANDING=str(landing))
    instance = instance_with("D1")

    result = run(settings, instance, "attendance", "D1")
    assert not result.success
    message = failure_message(result)
    assert "2 attendance file(s) of delivery D1 failed to load" in message
    assert "attendance_nostatus.csv: line 1 (header): missing required column(s) status" in message
    assert "attendance_ragged.csv: line 3: expected 4 fields, found 3" in message
    # The good file is committed and its materialisation recorded before the run fails.
    meta = metadata(result, "attendance")
    assert (meta["rows_loaded"], meta["files_loaded"], meta["files_failed"]) == (2, 1, 2)
    assert sorted(meta["files"]["failed"]) == ["attendance_nostatus.csv", "attendance_ragged.csv"]
    assert query(settings, "SELECT attendance_id, _source_file FROM bronze.attendance ORDER BY 1") == [
        ("A1", "attendance_ok.csv"), ("A2", "attendance_ok.csv"),
    ]

    result = run(settings, instance, "assessments", "D1")
    assert not result.success
    message = failure_message(result)
    assert "assessments_bad.json: invalid JSON at line 3, column 15" in message
    assert "assessments_badline.jsonl: invalid JSON at line 2, column 34" in message
    assert query(settings, ASSESSMENTS_SELECT + ORDER) == [
        ("Y1", "S1", None, "7", None, None, "D1", "assessments_ok.jsonl", 1),
    ]

    # Once the sender fixes a file, only that file is read; the loaded one is skipped.
    redeliver(landing / "D1" / "attendance_nostatus.csv", "attendance_id,student_id,session_date,status\nA3,S1,2025-09-09,present\n")
    redeliver(landing / "D1" / "attendance_ragged.csv", "attendance_id,student_id,session_date,status\nA4,S1,2025-09-10,late\n")
    fixed = run(settings, instance, "attendance", "D1")
    assert fixed.success
    meta = metadata(fixed, "attendance")
    assert meta["files"] == {
        "loaded": {"attendance_nostatus.csv": 1, "attendance_ragged.csv": 1},
        "skipped_unchanged": ["attendance_ok.csv"],
        "failed": {},
        "retracted": [],
    }
    assert (meta["rows_loaded"], meta["dagster/row_count"]) == (2, 4)


def test_delivery_without_manifest_fails_and_writes_nothing(tmp_path):
    landing = tmp_path / "landing"
    write_delivery(landing, "D1", {"attendance.csv": "attendance_id,student_id,session_date,status\nA1,S1,2025-09-08,present\n"}, manifest=False)
    settings = make_settings(tmp_path, EDUWH_LANDING=str(landing))

    result = run(settings, instance_with("D1"), "attendance", "D1")

    assert not result.success
    message = failure_message(result)
    assert "delivery 'D1' has no _manifest.json" in message and str(landing) in message
    assert not settings.warehouse.exists()


def test_unreachable_landing_zone_fails_without_the_secret_and_writes_nothing(tmp_path):
    port = free_port()  # nothing listens there
    connection_string = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
    )
    settings = make_settings(tmp_path, EDUWH_LANDING="az://landing", EDUWH_AZURE_CONNECTION_STRING=connection_string)
    instance = instance_with("D1")

    result = run(settings, instance, "assessments", "D1")

    assert not result.success
    assert failure_message(result) == "landing zone az://landing is unreachable: ServiceRequestError"
    assert AZURITE_KEY not in "\n".join(str(e) for e in instance.all_logs(result.run_id))
    assert not settings.warehouse.exists()


def test_local_and_azure_landing_zones_give_identical_bronze(tmp_path, azurite, azure_container):
    from azure.storage.blob import BlobServiceClient

    local = tmp_path / "landing"
    write_delivery(local, "D1", D1)
    container = BlobServiceClient.from_connection_string(azurite).get_container_client(azure_container[len("az://"):])
    for name in [*D1, "_manifest.json"]:  # manifest last, as a sender would
        container.upload_blob(f"D1/{name}", (local / "D1" / name).read_bytes())

    local_settings = make_settings(tmp_path / "local", EDUWH_LANDING=str(local))
    azure_settings = make_settings(tmp_path / "azure", EDUWH_LANDING=azure_container, EDUWH_AZURE_CONNECTION_STRING=azurite)
    instance = instance_with("D1")
    for settings in (local_settings, azure_settings):
        for source in ("attendance", "assessments"):
            assert run(settings, instance, source, "D1").success

    for table, expected in (("attendance", D1_ATTENDANCE), ("assessments", D1_ASSESSMENTS)):
        sql = f"SELECT * EXCLUDE (_ingested_at, _dlt_load_id) FROM bronze.{table}" + ORDER
        assert query(azure_settings, sql) == query(local_settings, sql)
        assert [row[: len(expected[0])] for row in query(azure_settings, sql)] == expected

    # The blobs' etags are stable fingerprints: a second run over Azure reads nothing.
    again = run(azure_settings, instance, "assessments", "D1")
    assert again.success
    meta = metadata(again, "assessments")
    assert (meta["rows_loaded"], meta["files_skipped_unchanged"]) == (0, 2)


RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
HEADER = "attendance_id,student_id,session_date,status\n"


def deliveries_job_for(settings):
    """The job `eduwh run` launches per block of pending deliveries, from the real definitions."""
    from eduwh_assets.automation.jobs import deliveries_job
    from eduwh_assets.definitions import build_definitions

    return build_definitions(settings).resolve_job_def(deliveries_job.name)


def run_range(job, instance, first: str, last: str, **kwargs):
    """One run over the partition range first..last, tagged the way `eduwh run` and backfills tag it."""
    tags = dict(zip(RANGE_TAGS, (first, last)))
    return job.execute_in_process(instance=instance, tags=tags, raise_on_error=False, **kwargs)


def range_metadata(result, source: str) -> dict[str, dict]:
    """Metadata of a range run, per partition: each delivery's own figures beside the run's shared ones."""
    return {
        m.partition: {k: v.value for k, v in m.metadata.items()}
        for m in result.asset_materializations_for_node(NODE[source])
    }


def figures(meta: dict[str, dict], *keys: str) -> dict[str, tuple]:
    return {code: tuple(m[k] for k in keys) for code, m in sorted(meta.items())}


def test_a_range_of_deliveries_loads_in_one_run_and_one_load_then_skips_then_replaces(tmp_path):
    landing = tmp_path / "landing"
    write_delivery(landing, "R1", {
        "attendance.csv": HEADER + "A1,S1,2025-09-08,present\nA2,S2,2025-09-08,late\n",
        "assessments.jsonl": '{"assessment_id": "X1", "student_id": "S1", "score": 7}\n',
    })
    write_delivery(landing, "R2", {
        "attendance_a.csv": HEADER + "A3,S1,2025-09-09,absent\n",
        "attendance_b.csv": HEADER + "A4,S2,2025-09-09,present\nA5,S3,2025-09-09,excused\nA6,S4,2025-09-09,x\n",
    })
    write_delivery(landing, "R3", {
        "attendance.csv": HEADER + "A7,S1,2025-09-10,present\n",
        "assessments.json": '[{"assessment_id": "X2", "student_id": "S2", "score": 9.50}, {"assessment_id": "X3"}]',
    })
    settings = make_settings(tmp_path, EDUWH_LANDING=str(landing))
    instance = instance_with("R0", "R1", "R2", "R3")  # R0 is registered but outside the range
    job = deliveries_job_for(settings)

    result = run_range(job, instance, "R1", "R3")

    assert result.success
    # Exactly the rows of the three deliveries, each source in one dlt load.
    assert query(settings, "SELECT delivery_code, _source_file, count(*) FROM bronze.attendance GROUP BY 1, 2 ORDER BY 1, 2") == [
        ("R1", "attendance.csv", 2), ("R2", "attendance_a.csv", 1), ("R2", "attendance_b.csv", 3), ("R3", "attendance.csv", 1),
    ]
    assert query(settings, ASSESSMENTS_SELECT + ORDER) == [
        ("X1", "S1", None, "7", None, None, "R1", "assessments.jsonl", 1),
        ("X2", "S2", None, "9.50", None, None, "R3", "assessments.json", 1),
        ("X3", None, None, None, None, None, "R3", "assessments.json", 2),
    ]
    for table in ("attendance", "assessments"):
        assert query(settings, f"SELECT count(DISTINCT _dlt_load_id) FROM bronze.{table}") == [(1,)]
    # One materialisation per partition of the range, each with its own delivery's figures.
    for source in ("attendance", "assessments"):
        assert sorted(m.partition for m in result.asset_materializations_for_node(NODE[source])) == ["R1", "R2", "R3"]
    meta = range_metadata(result, "attendance")
    assert figures(meta, "delivery_code", "rows_loaded", "files_loaded", "files_failed", "dagster/row_count") == {
        "R1": ("R1", 2, 1, 0, 2), "R2": ("R2", 4, 2, 0, 4), "R3": ("R3", 1, 1, 0, 1),
    }
    assert {code: m["files"] for code, m in meta.items()} == {
        "R1": {"loaded": {"attendance.csv": 2}, "skipped_unchanged": [], "failed": {}, "retracted": []},
        "R2": {"loaded": {"attendance_a.csv": 1, "attendance_b.csv": 3}, "skipped_unchanged": [], "failed": {}, "retracted": []},
        "R3": {"loaded": {"attendance.csv": 1}, "skipped_unchanged": [], "failed": {}, "retracted": []},
    }
    # Each preview shows that delivery's rows only.
    assert "A3" in meta["R2"]["preview"] and "A1" not in meta["R2"]["preview"] and "A7" in meta["R3"]["preview"]
    # What the run did as a whole is the same on every partition.
    for m in meta.values():
        assert (m["deliveries_in_run"], m["write_disposition"]) == (3, "append")
        assert m["per_delivery"] == (
            "| delivery | rows loaded | files loaded | unchanged | failed | retracted |\n|---|---|---|---|---|---|\n"
            "| R1 | 2 | 1 | 0 | 0 | 0 |\n| R2 | 4 | 2 | 0 | 0 | 0 |\n| R3 | 1 | 1 | 0 | 0 | 0 |"
        )
        assert [c.name for c in m["dagster/column_schema"].columns] == [
            "attendance_id", "student_id", "session_date", "status",
            "delivery_code", "_source_file", "_source_row", "_ingested_at", "_dlt_load_id",
        ]
        assert set(m["seconds"]) == {"open_deliveries", "restore_state", "read_and_extract", "normalize", "load", "metadata"}
    meta = range_metadata(result, "assessments")
    assert figures(meta, "rows_loaded", "files_loaded", "dagster/row_count") == {
        "R1": (1, 1, 1), "R2": (0, 0, 0), "R3": (2, 1, 2),
    }
    assert meta["R2"]["files"] == {"loaded": {}, "skipped_unchanged": [], "failed": {}, "retracted": []}
    # The checks that scan the whole table run once for the run, not once per delivery; the
    # reconciliation also records each delivery's own verdict against its partition.
    evaluations = {
        (e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations() if e.partition is None
    }
    assert sorted(evaluations) == [
        (f"bronze/{source}", check)
        for source in ("assessments", "attendance")
        for check in ("column_schema_change", "manifest_reconciliation", "pandera_contract")
    ]
    assert sorted(
        (e.asset_key.to_user_string(), e.partition, e.passed) for e in result.get_asset_check_evaluations() if e.partition
    ) == [(f"bronze/{source}", code, True) for source in ("assessments", "attendance") for code in ("R1", "R2", "R3")]
    assert evaluations[("bronze/attendance", "manifest_reconciliation")].passed
    contract = evaluations[("bronze/attendance", "pandera_contract")]  # warns on A6's status "x", by design
    assert (contract.metadata["rows_checked"].value, contract.metadata["failed_rows"].value) == (7, 1)

    # The same range again: every file is unchanged, nothing is read or written.
    again = run_range(job, instance, "R1", "R3")
    assert again.success
    meta = range_metadata(again, "attendance")
    assert figures(meta, "rows_loaded", "files_loaded", "files_skipped_unchanged", "dagster/row_count") == {
        "R1": (0, 0, 1, 2), "R2": (0, 0, 2, 4), "R3": (0, 0, 1, 1),
    }
    assert {m["rows_loaded"] for m in range_metadata(again, "assessments").values()} == {0}
    for table, rows in (("attendance", 7), ("assessments", 3)):
        assert query(settings, f"SELECT count(*), count(DISTINCT _dlt_load_id) FROM bronze.{table}") == [(rows, 1)]

    # R2's second file is re-delivered and R4 is new: one run over R2..R4 replaces the file's
    # rows (delete-insert, since that file already has rows), adds R4's, and leaves the rest.
    redeliver(landing / "R2" / "attendance_b.csv", HEADER + "A4,S2,2025-09-09,absent\n")
    write_delivery(landing, "R4", {"attendance.csv": HEADER + "A8,S1,2025-09-11,present\nA9,S2,2025-09-11,late\n"})
    instance.add_dynamic_partitions("deliveries", ["R4"])
    replaced = run_range(job, instance, "R2", "R4", asset_selection=[ASSET["attendance"].key])
    assert replaced.success
    meta = range_metadata(replaced, "attendance")
    assert figures(meta, "rows_loaded", "files_loaded", "files_skipped_unchanged", "dagster/row_count") == {
        "R2": (1, 1, 1, 2), "R3": (0, 0, 1, 1), "R4": (2, 1, 0, 2),
    }
    assert {m["write_disposition"] for m in meta.values()} == {"delete-insert"}
    assert query(settings, "SELECT attendance_id, status, delivery_code, _source_file FROM bronze.attendance" + ORDER) == [
        ("A1", "present", "R1", "attendance.csv"), ("A2", "late", "R1", "attendance.csv"),
        ("A3", "absent", "R2", "attendance_a.csv"), ("A4", "absent", "R2", "attendance_b.csv"),
        ("A7", "present", "R3", "attendance.csv"),
        ("A8", "present", "R4", "attendance.csv"), ("A9", "late", "R4", "attendance.csv"),
    ]
    assert query(settings, "SELECT count(DISTINCT _dlt_load_id) FROM bronze.attendance") == [(2,)]


def test_a_bad_file_in_a_range_fails_alone_and_the_run_names_it(tmp_path):
    landing = tmp_path / "landing"
    write_delivery(landing, "R1", {"attendance.csv": HEADER + "A1,S1,2025-09-08,present\nA2,S2,2025-09-08,late\n"})
    write_delivery(landing, "R2", {"attendance.csv": HEADER + "A3,S1,2025-09-09,absent\n",
                                   "attendance_bad.csv": "attendance_id,student_id\nA5,S1\n"})
    write_delivery(landing, "R3", {"attendance.csv": HEADER + "A4,S1,2025-09-10,present\n"})
    settings = make_settings(tmp_path, EDUWH_LANDING=str(landing))
    instance = instance_with("R1", "R2", "R3")
    job = deliveries_job_for(settings)

    result = run_range(job, instance, "R1", "R3", asset_selection=[ASSET["attendance"].key])

    assert not result.success  # R2's broken file fails the run, by delivery and name
    message = failure_message(result)
    assert message.startswith("1 attendance file(s) of delivery R2 failed to load:\n")
    assert "- attendance_bad.csv: line 1 (header): missing required column(s) session_date, status" in message
    # ...after the good files of all three deliveries loaded together, in one dlt load.
    assert query(settings, "SELECT delivery_code, count(*) FROM bronze.attendance GROUP BY 1 ORDER BY 1") == [
        ("R1", 2), ("R2", 1), ("R3", 1),
    ]
    assert query(settings, "SELECT count(DISTINCT _dlt_load_id) FROM bronze.attendance") == [(1,)]
    materialized = result.asset_materializations_for_node(NODE["attendance"])
    assert sorted(m.partition for m in materialized) == ["R1", "R2", "R3"]
    meta = range_metadata(result, "attendance")
    assert figures(meta, "rows_loaded", "files_loaded", "files_failed", "dagster/row_count") == {
        "R1": (2, 1, 0, 2), "R2": (1, 1, 1, 1), "R3": (1, 1, 0, 1),
    }
    assert "| R2 | 1 | 1 | 0 | 1 |" in meta["R2"]["per_delivery"]

    # The same range again reads nothing but the file that failed (still broken).
    result = run_range(job, instance, "R1", "R3", asset_selection=[ASSET["attendance"].key])
    assert not result.success
    assert result.asset_materializations_for_node(NODE["attendance"]) == []  # nothing changed
    assert "attendance_bad.csv" in failure_message(result)
    assert query(settings, "SELECT count(*), count(DISTINCT _dlt_load_id) FROM bronze.attendance") == [(4, 1)]


def test_rows_left_behind_by_a_crashed_load_send_the_retry_down_the_merge_path(tmp_path):
    landing = tmp_path / "landing"
    write_delivery(landing, "R1", {"attendance.csv": HEADER + "A1,S1,2025-09-08,present\n"})
    write_delivery(landing, "R2", {"attendance.csv": HEADER + "A2,S1,2025-09-09,absent\nA3,S2,2025-09-09,late\n"})
    settings = make_settings(tmp_path, EDUWH_LANDING=str(landing))
    instance = instance_with("R1", "R2", "R3")
    job = deliveries_job_for(settings)
    assert run_range(job, instance, "R1", "R1", asset_selection=[ASSET["attendance"].key]).success
    # A load that committed R2's rows but not its fingerprint (the state a crash between the two
    # would leave): R2's file is still pending, and bronze already holds a row of it.
    con = duckdb.connect(str(settings.warehouse))
    con.execute(
        "INSERT INTO bronze.attendance SELECT 'STALE', 'S9', '2025-01-01', 'present', 'R2', 'attendance.csv', 1, "
        "now(), _dlt_load_id FROM bronze.attendance LIMIT 1"
    )
    con.close()

    result = run_range(job, instance, "R2", "R2", asset_selection=[ASSET["attendance"].key])

    assert result.success
    meta = metadata(result, "attendance")
    assert (meta["write_disposition"], meta["rows_loaded"], meta["dagster/row_count"]) == ("delete-insert", 2, 2)
    assert query(settings, "SELECT attendance_id, delivery_code FROM bronze.attendance ORDER BY 1") == [
        ("A1", "R1"), ("A2", "R2"), ("A3", "R2"),
    ]


def test_a_large_file_loads_in_batches_numbered_across_them_and_a_broken_one_loads_nothing(tmp_path):
    """Files many read blocks and several batches long: each is validated whole before any row
    reaches dlt, so a problem far into a file rejects all of it while the others load."""
    folder = tmp_path / "landing" / "D1"
    folder.mkdir(parents=True)
    header = "attendance_id,student_id,session_date,status,note\n"

    def rows(prefix: str, n: int) -> list[str]:
        # A quoted newline every 1000 rows, so line numbers and row numbers part ways.
        return [
            f"{prefix}{i},S{i % 40},2025-09-08,"
            + ('"late\nafter a quoted newline"' if i % 1000 == 0 else "present")
            + f",{'x' * (i % 30)}\n"
            for i in range(n)
        ]

    big = header + "".join(rows("A", 600_000))  # more than one dlt item of BATCH_ROWS
    broken_rows = rows("B", 200_000)
    broken_rows.insert(150_000, "B-bad,S1,2025-09-08\n")
    broken = header + "".join(broken_rows)
    bad_line = broken[: broken.index("B-bad")].count("\n") + 1
    text = (header + "".join(rows("C", 200_000))).encode()
    at = text.index(b"C180000,") + 1
    badtext = text[:at] + b"\xff" + text[at + 1 :]
    badtext_line = badtext[:at].count(b"\n") + 1
    (folder / "attendance_big.csv").write_text(big)
    (folder / "attendance_broken.csv").write_text(broken)
    (folder / "attendance_text.csv").write_bytes(badtext)
    manifest = {name: {"rows": n} for name, n in
                (("attendance_big.csv", 600_000), ("attendance_broken.csv", 200_001), ("attendance_text.csv", 200_000))}
    (folder / "_manifest.json").write_text(json.dumps({"delivery_code": "D1", "files": manifest}))
    settings = make_settings(tmp_path, EDUWH_LANDING=str(tmp_path / "landing"))

    result = run(settings, instance_with("D1"), "attendance", "D1")

    assert not result.success
    reasons = {
        "attendance_broken.csv": f"attendance_broken.csv: line {bad_line}: expected 5 fields, found 3 "
        "(1 malformed row(s) in the file)",
        "attendance_text.csv": f"attendance_text.csv: line {badtext_line}: not UTF-8 text (byte {at + 1})",
    }
    assert bad_line > 150_000 and badtext_line > 180_000  # far past the first block of either file
    assert metadata(result, "attendance")["files"] == {
        "loaded": {"attendance_big.csv": 600_000}, "skipped_unchanged": [], "failed": reasons, "retracted": [],
    }
    assert all(f"- {reason}" in failure_message(result) for reason in reasons.values())
    # Nothing of the rejected files, every row of the good one, numbered 1.. across the batches.
    assert query(settings, "SELECT _source_file, count(*) FROM bronze.attendance GROUP BY 1") == [("attendance_big.csv", 600_000)]
    records = list(csv.reader(io.StringIO(big, newline="")))[1:]
    expected = [(record[0], record[3], number) for number, record in enumerate(records, start=1)]
    assert expected[1000] == ("A1000", "late\nafter a quoted newline", 1001)
    assert query(settings, "SELECT attendance_id, status, _source_row FROM bronze.attendance ORDER BY _source_row") == expected
