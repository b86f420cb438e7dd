"""What senders do to a landing zone, through `eduwh run`: the warehouse follows SPEC §3.2.

Each story writes deliveries by hand, so every expected number is counted from
the rows written here: a stream with no attendance at all, a manifest that is
not UTF-8, a re-delivery that drops a file, a manifest that disagrees with its
file until it is fixed, and a delivery folder that is archived away.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, build_sensor_context

from eduwh_assets.automation.sensors import landing_zone_sensor
from eduwh_assets.cli.run import run_main
from eduwh_tests.conftest import eduwh_resources, make_settings
from eduwh_tests.test_bronze_sis import seed_sis
from eduwh_tests.test_resilience import table_checksums

HEADER = "attendance_id,student_id,session_date,status\n"


def deliver(landing: Path, code: str, files: dict[str, str], *, rows: dict[str, int] | None = None) -> None:
    """Write a delivery as a sender does, data files first and the manifest last."""
    folder = landing / code
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    counts = rows if rows is not None else {name: data_rows(name, text) for name, text in files.items()}
    (folder / "_manifest.json").write_text(
        json.dumps({"delivery_code": code, "files": {name: {"rows": n} for name, n in counts.items()}})
    )


def data_rows(name: str, text: str) -> int:
    if name.endswith(".csv"):
        return text.count("\n") - 1
    if name.endswith(".jsonl"):
        return sum(1 for line in text.splitlines() if line.strip())
    return len(json.loads(text))


def attendance(*rows: str) -> str:
    return HEADER + "".join(row + "\n" for row in rows)


def assessments(*rows: tuple[str, str, int]) -> str:
    return "".join(
        json.dumps({"assessment_id": a, "student_id": s, "subject": "maths", "score": score, "max_score": 10,
                    "assessed_on": "2025-09-09"}) + "\n"
        for a, s, score in rows
    )


class Story:
    def __init__(self, tmp: Path, sis_url: str, name: str = "story"):
        self.landing = tmp / name / "landing"
        self.landing.mkdir(parents=True)
        self.settings = make_settings(tmp / name, EDUWH_SIS_URL=sis_url, EDUWH_LANDING=str(self.landing))

    def run(self, capsys) -> tuple[int, str, str]:
        code = run_main(self.settings)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.settings.warehouse), read_only=True) as con:
            return con.execute(sql).fetchall()


@pytest.fixture
def sis_url(fresh_pg_url) -> str:
    seed_sis(fresh_pg_url)  # students S1..S5
    return fresh_pg_url


def test_a_stream_without_attendance_builds_every_layer(tmp_path, sis_url, capsys):
    story = Story(tmp_path, sis_url)
    deliver(story.landing, "D1", {"attendance.csv": HEADER, "assessments.jsonl": assessments(("X1", "S1", 7))})
    deliver(story.landing, "D2", {"assessments.jsonl": assessments(("X2", "S2", 3), ("X3", "S1", 9))})
    code, out, _ = story.run(capsys)
    assert code == 0, out
    columns = [c for (c,) in story.query(
        "select column_name from information_schema.columns where table_schema = 'bronze' "
        "and table_name = 'attendance' order by ordinal_position")]
    assert columns == ["attendance_id", "student_id", "session_date", "status", "delivery_code",
                       "_source_file", "_source_row", "_ingested_at", "_dlt_load_id"]
    assert story.query("select count(*) from bronze.attendance") == [(0,)]
    assert story.query("select count(*) from silver.fact_attendance") == [(0,)]
    assert story.query("select count(*) from silver.fact_assessment") == [(3,)]
    assert story.query(
        "select student_id, total_attendance_records, attendance_rate, total_assessments "
        "from gold.student_performance_summary order by 1"
    ) == [("S1", 0, None, 2), ("S2", 0, None, 1), ("S3", 0, None, 0), ("S4", 0, None, 0), ("S5", 0, None, 0)]
    # S1 and S2 share class C1 and were assessed on the same day.
    assert story.query("select class_id, activity_date::varchar, assessment_count from gold.class_daily_performance") == [
        ("C1", "2025-09-09", 3)]


def test_an_unreadable_manifest_skips_only_its_delivery(tmp_path, sis_url, capsys):
    story = Story(tmp_path, sis_url)
    deliver(story.landing, "D1", {"attendance.csv": attendance("A1,S1,2025-09-08,present")})
    deliver(story.landing, "D2", {"attendance.csv": attendance("A2,S2,2025-09-08,absent")})
    manifest = story.landing / "D2" / "_manifest.json"
    latin1 = b'{"delivery_code": "D2",\n "files": {"attendance.csv": {"rows": 1}}, "by": "Jos\xe9"}'
    manifest.write_bytes(latin1)
    code, out, _ = story.run(capsys)
    assert code == 0, out
    byte = latin1.index(b"\xe9") + 1
    assert f"warning: delivery 'D2' skipped: D2/_manifest.json: not UTF-8 text (line 2, byte {byte})" in out
    assert story.query("select delivery_code, count(*) from bronze.attendance group by 1") == [("D1", 1)]
    # The sensor skips it the same way, by name, and still asks for nothing else.
    with DagsterInstance.ephemeral() as instance:
        with build_sensor_context(instance=instance, resources=eduwh_resources(story.settings)) as context:
            result = landing_zone_sensor(context)
    assert result.run_requests == []
    assert result.skip_reason.skip_message.startswith("bronze holds all 1 complete deliveries as they are now")


def test_a_redelivery_that_drops_a_file_retracts_its_rows(tmp_path, sis_url, capsys):
    story = Story(tmp_path, sis_url)
    a = attendance("A1,S1,2025-09-08,present", "A2,S2,2025-09-08,absent")
    b = attendance("A3,S3,2025-09-08,late", "A1,S1,2025-09-08,absent")  # restates A1
    deliver(story.landing, "D1", {"attendance_a.csv": a, "attendance_b.csv": b})
    assert story.run(capsys)[0] == 0
    assert story.query("select status from silver.fact_attendance where attendance_id = 'A1'") == [("absent",)]

    # The sender re-delivers D1 without attendance_b.csv: its rows leave every layer.
    (story.landing / "D1" / "attendance_b.csv").unlink()
    deliver(story.landing, "D1", {"attendance_a.csv": a})
    code, out, _ = story.run(capsys)
    assert code == 0, out
    assert story.query("select _source_file, count(*) from bronze.attendance group by 1") == [("attendance_a.csv", 2)]
    assert story.query("select attendance_id, status from silver.fact_attendance order by 1") == [
        ("A1", "present"), ("A2", "absent")]
    assert story.query("select sum(row_count) from gold.delivery_quality where source = 'attendance'") == [(2,)]

    # Exactly what a warehouse built from the delivery as it is now holds.
    fresh = Story(tmp_path, sis_url, "fresh")
    deliver(fresh.landing, "D1", {"attendance_a.csv": a})
    assert fresh.run(capsys)[0] == 0
    assert table_checksums(story.settings.warehouse) == table_checksums(fresh.settings.warehouse)


def test_a_manifest_mismatch_keeps_failing_until_the_delivery_is_fixed(tmp_path, sis_url, capsys):
    story = Story(tmp_path, sis_url)
    rows = attendance("A1,S1,2025-09-08,present", "A2,S2,2025-09-08,absent")
    deliver(story.landing, "D1", {"attendance.csv": rows}, rows={"attendance.csv": 3})
    for _ in range(2):  # the second run has nothing new to load, and still fails
        code, out, _ = story.run(capsys)
        assert code == 1
        assert "gold/delivery_quality:manifest_reconciliation" in out
    deliver(story.landing, "D1", {"attendance.csv": rows})  # the sender corrects the manifest
    code, out, _ = story.run(capsys)
    assert code == 0, out


def test_a_delivery_folder_that_disappears_is_reported_and_keeps_its_rows(tmp_path, sis_url, capsys):
    story = Story(tmp_path, sis_url)
    deliver(story.landing, "D1", {"attendance.csv": attendance("A1,S1,2025-09-08,present")})
    deliver(story.landing, "D2", {"attendance.csv": attendance("A2,S2,2025-09-09,absent")})
    assert story.run(capsys)[0] == 0
    (story.landing / "D1").rename(tmp_path / "archived-D1")
    for _ in range(2):  # reported on every run
        code, out, _ = story.run(capsys)
        assert code == 0, out
        assert "note: delivery 'D1' is no longer in the landing zone; its rows stay in the warehouse" in out
    assert story.query("select delivery_code, count(*) from silver.fact_attendance group by 1 order by 1") == [
        ("D1", 1), ("D2", 1)]
