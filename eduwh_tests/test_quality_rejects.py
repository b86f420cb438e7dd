"""Reject exports mirror quarantine exactly; delivery error statistics come from gold.delivery_quality."""

from __future__ import annotations

import csv

import duckdb
import pandas as pd
from dagster import AssetMaterialization, AssetKey, DagsterInstance, asset, materialize

from conftest import make_settings
from eduwh_assets.quality.rejects import reject_exports
from eduwh_assets.quality.stats import STATS_COLUMNS, delivery_error_stats, delivery_stats
from eduwh_tests.conftest import eduwh_resources

QUARANTINE_SQL = """
CREATE SCHEMA IF NOT EXISTS quarantine;
CREATE OR REPLACE TABLE quarantine.attendance_rejects (attendance_id VARCHAR, student_id VARCHAR,
    session_date VARCHAR, status VARCHAR, delivery_code VARCHAR, _source_file VARCHAR, _source_row BIGINT,
    reason VARCHAR);
INSERT INTO quarantine.attendance_rejects VALUES
    ('A5', 'S9', '2025-09-10', 'present', 'D2', 'attendance_b.csv', 4, 'unknown_student'),
    ('A4', 'S9', '2025-02-30', 'nope', 'D2', 'attendance_b.csv', 3, 'bad_date'),
    ('', 'S1', '2025-09-10', 'present', 'D2', 'attendance_b.csv', 2, 'missing_key'),
    ('A1', 'S1', '2025-09-08', 'holiday, "really"', 'D2', 'attendance_a.csv', 9, 'bad_status'),
    ('A7', 'S2', '2025-09-08', 'sick', 'D1', 'attendance.csv', 2, 'bad_status');
CREATE OR REPLACE TABLE quarantine.assessment_rejects (assessment_id VARCHAR, student_id VARCHAR, subject VARCHAR,
    score VARCHAR, max_score VARCHAR, assessed_on VARCHAR, delivery_code VARCHAR, _source_file VARCHAR,
    _source_row BIGINT, reason VARCHAR);
INSERT INTO quarantine.assessment_rejects VALUES
    ('X2', 'S1', NULL, '120', '100', '2025-09-09', 'D1', 'assessments.json', 2, 'bad_score'),
    ('X1', 'S1', 'maths', 'n/a', '100', '2025-09-09', 'D1', 'assessments.json', 1, 'bad_score');
"""


def quarantine_assets(settings, *mutations: str):
    @asset(key=AssetKey(["quarantine", "attendance_rejects"]))
    def attendance_rejects():
        settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
        with duckdb.connect(str(settings.warehouse)) as conn:
            conn.execute(QUARANTINE_SQL)
            for sql in mutations:
                conn.execute(sql)

    @asset(key=AssetKey(["quarantine", "assessment_rejects"]), deps=[attendance_rejects])
    def assessment_rejects():
        return None

    return [attendance_rejects, assessment_rejects]


def read_csv_rows(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def expected_rows(settings, table, code):
    """The quarantine rows of one delivery as CSV text cells: NULL becomes an empty cell."""
    with duckdb.connect(str(settings.warehouse), read_only=True) as conn:
        result = conn.execute(
            f"SELECT * FROM {table} WHERE delivery_code = ? ORDER BY _source_file, _source_row", [code]
        )
        header = [d[0] for d in result.description]
        rows = result.fetchall()
    return [header] + [["" if v is None else str(v) for v in row] for row in rows]


def test_reject_files_mirror_quarantine(tmp_path):
    settings = make_settings(tmp_path)
    rejects = settings.rejects_dir
    # A stale export of a delivery that no longer has rejects, and a file that is not ours.
    (rejects / "D0").mkdir(parents=True)
    (rejects / "D0" / "attendance_rejects.csv").write_text("old\n")
    (rejects / "D0" / "notes.txt").write_text("keep me\n")
    (rejects / "D9").mkdir()
    (rejects / "D9" / "assessments_rejects.csv").write_text("old\n")

    result = materialize(
        [*quarantine_assets(settings), reject_exports],
        resources=eduwh_resources(settings),
        instance=DagsterInstance.ephemeral(),
    )
    assert result.success

    files = sorted(str(p.relative_to(rejects)) for p in rejects.rglob("*") if p.is_file())
    assert files == [
        "D0/notes.txt",
        "D1/assessments_rejects.csv",
        "D1/attendance_rejects.csv",
        "D2/attendance_rejects.csv",
    ]
    for code, source, table in [
        ("D1", "attendance", "quarantine.attendance_rejects"),
        ("D2", "attendance", "quarantine.attendance_rejects"),
        ("D1", "assessments", "quarantine.assessment_rejects"),
    ]:
        assert read_csv_rows(rejects / code / f"{source}_rejects.csv") == expected_rows(settings, table, code)

    # The raw text keeps an empty id ("") apart from an absent subject (nothing), and quotes commas and quotes.
    d2 = (rejects / "D2" / "attendance_rejects.csv").read_text().splitlines()
    assert d2 == [
        "attendance_id,student_id,session_date,status,delivery_code,_source_file,_source_row,reason",
        'A1,S1,2025-09-08,"holiday, ""really""",D2,attendance_a.csv,9,bad_status',
        '"",S1,2025-09-10,present,D2,attendance_b.csv,2,missing_key',
        "A4,S9,2025-02-30,nope,D2,attendance_b.csv,3,bad_date",
        "A5,S9,2025-09-10,present,D2,attendance_b.csv,4,unknown_student",
    ]
    assert (rejects / "D1" / "assessments_rejects.csv").read_text().splitlines()[1] == (
        "X1,S1,maths,n/a,100,2025-09-09,D1,assessments.json,1,bad_score"
    )
    assert (rejects / "D1" / "assessments_rejects.csv").read_text().splitlines()[2] == (
        "X2,S1,,120,100,2025-09-09,D1,assessments.json,2,bad_score"
    )

    [mat] = [e for e in result.get_asset_materialization_events() if e.asset_key == reject_exports.key]
    meta = mat.materialization.metadata
    assert meta["rejected_rows"].value == 7
    assert meta["rejects_by_reason"].value == {"bad_date": 1, "bad_score": 2, "bad_status": 2, "missing_key": 1, "unknown_student": 1}
    assert meta["files_written"].value == ["D1/attendance_rejects.csv", "D2/attendance_rejects.csv", "D1/assessments_rejects.csv"]
    assert meta["files_removed"].value == ["D0/attendance_rejects.csv", "D9/assessments_rejects.csv"]
    assert meta["per_delivery"].value.splitlines()[0] == (
        "| delivery_code | source | rows | missing_key | bad_date | bad_status | bad_score | unknown_student |"
    )

    # Delivery D1's attendance row is fixed upstream: its file goes, nothing else changes.
    again = materialize(
        [*quarantine_assets(settings, "DELETE FROM quarantine.attendance_rejects WHERE delivery_code = 'D1'"), reject_exports],
        resources=eduwh_resources(settings),
        instance=DagsterInstance.ephemeral(),
    )
    assert again.success
    files = sorted(str(p.relative_to(rejects)) for p in rejects.rglob("*") if p.is_file())
    assert files == ["D0/notes.txt", "D1/assessments_rejects.csv", "D2/attendance_rejects.csv"]


DELIVERY_QUALITY_SQL = """
CREATE SCHEMA gold;
CREATE TABLE gold.delivery_quality (delivery_code VARCHAR, source VARCHAR, outcome VARCHAR, row_count BIGINT);
INSERT INTO gold.delivery_quality VALUES
    ('D1', 'attendance', 'loaded', 90), ('D1', 'attendance', 'superseded', 4),
    ('D1', 'attendance', 'bad_status', 3), ('D1', 'attendance', 'unknown_student', 2),
    ('D1', 'assessments', 'loaded', 40), ('D1', 'assessments', 'bad_score', 5),
    ('D2', 'attendance', 'loaded', 10), ('D2', 'attendance', 'missing_key', 1), ('D2', 'attendance', 'bad_date', 6);
"""


def test_delivery_stats_pivots_outcomes(tmp_path):
    path = tmp_path / "wh.duckdb"
    with duckdb.connect(str(path)) as conn:
        assert list(delivery_stats(conn).columns) == STATS_COLUMNS  # before gold exists
        assert len(delivery_stats(conn)) == 0
        conn.execute(DELIVERY_QUALITY_SQL)
        stats = delivery_stats(conn)
    expected = pd.DataFrame(
        [
            ["D1", "assessments", 45, 40, 0, 5, 0, 0, 0, 5, 0],
            ["D1", "attendance", 99, 90, 4, 5, 0, 0, 3, 0, 2],
            ["D2", "attendance", 17, 10, 0, 7, 1, 6, 0, 0, 0],
        ],
        columns=STATS_COLUMNS,
    )
    pd.testing.assert_frame_equal(stats, expected)


def test_delivery_error_stats_asset(tmp_path):
    settings = make_settings(tmp_path)

    @asset(key=AssetKey(["gold", "delivery_quality"]))
    def delivery_quality():
        settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
        with duckdb.connect(str(settings.warehouse)) as conn:
            conn.execute(DELIVERY_QUALITY_SQL)

    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("deliveries", ["D1", "D2"])
    result = materialize([delivery_quality, delivery_error_stats], resources=eduwh_resources(settings), instance=instance)
    assert result.success
    [mat] = [e for e in result.get_asset_materialization_events() if e.asset_key == delivery_error_stats.key]
    meta = mat.materialization.metadata
    assert meta["deliveries"].value == 2
    assert meta["totals"].value == {
        "received": 161, "loaded": 140, "superseded": 4, "rejected": 17,
        "missing_key": 1, "bad_date": 6, "bad_status": 3, "bad_score": 5, "unknown_student": 2,
    }
    assert meta["per_delivery_json"].value[2] == {
        "delivery_code": "D2", "source": "attendance", "received": 17, "loaded": 10, "superseded": 0,
        "rejected": 7, "missing_key": 1, "bad_date": 6, "bad_status": 0, "bad_score": 0, "unknown_student": 0,
    }
    # The same figures as a sortable table, with reject rates in percent of the rows received.
    table = meta["per_delivery"].value
    assert [c.name for c in table.schema.columns] == [
        "delivery_code", "source", "received", "loaded", "superseded", "rejected", "reject_rate",
        "missing_key_rate", "bad_date_rate", "bad_status_rate", "bad_score_rate", "unknown_student_rate",
    ]
    d2 = next(r.data for r in table.records if r.data["delivery_code"] == "D2")
    assert (d2["received"], d2["rejected"], d2["reject_rate"], d2["missing_key_rate"], d2["bad_date_rate"]) == (
        17, 7, 41.18, 5.88, 35.29)  # 7/17, 1/17, 6/17
    # Each delivery's figures are observed on its bronze partition, which the UI plots over deliveries.
    observed = {
        (e.asset_key.to_user_string(), e.partition): e.metadata["reject_rate"].value
        for e in (event.event_specific_data.asset_observation for event in result.all_events if event.event_type_value == "ASSET_OBSERVATION")
    }
    assert observed == {("bronze/assessments", "D1"): 11.11, ("bronze/attendance", "D1"): 5.05, ("bronze/attendance", "D2"): 41.18}

    # Nothing changed: nothing is observed again. One delivery changed: only it is.
    def observations(run) -> list[tuple[str, str]]:
        return sorted(
            (e.event_specific_data.asset_observation.asset_key.to_user_string(), e.event_specific_data.asset_observation.partition)
            for e in run.all_events if e.event_type_value == "ASSET_OBSERVATION"
        )

    again = materialize([delivery_error_stats], resources=eduwh_resources(settings), instance=instance)
    assert observations(again) == []
    with duckdb.connect(str(settings.warehouse)) as conn:
        conn.execute("UPDATE gold.delivery_quality SET row_count = 2 WHERE delivery_code = 'D2' AND outcome = 'missing_key'")
    later = materialize([delivery_error_stats], resources=eduwh_resources(settings), instance=instance)
    assert observations(later) == [("bronze/attendance", "D2")]
    # A delivery loaded again, even unchanged, is observed again: its partition page shows the
    # observations made after its latest materialisation.
    instance.report_runless_asset_event(AssetMaterialization(AssetKey(["bronze", "attendance"]), partition="D1"))
    reloaded = materialize([delivery_error_stats], resources=eduwh_resources(settings), instance=instance)
    assert observations(reloaded) == [("bronze/attendance", "D1")]
