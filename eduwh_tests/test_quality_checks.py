"""Pandera asset checks against hand-built DuckDB warehouses, run through real Dagster runs.

test_quality_sql.py holds the SQL translation rule by rule against Pandera itself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest
from dagster import (
    AssetCheckSeverity,
    AssetKey,
    AssetSpec,
    DagsterInstance,
    Definitions,
    asset,
    materialize,
    multi_asset,
)

from conftest import make_settings
from eduwh_assets.quality.contract_asset_checks import contract_checks
from eduwh_assets.quality.contracts import CONTRACTS
from eduwh_assets.quality.contracts.dtypes import frame_from_arrow
from eduwh_assets.quality.pandas_validate import validate_frame
from eduwh_assets.quality.sql_validate import validate_table
from eduwh_tests.conftest import eduwh_resources

# A small warehouse in which every table meets its contract: three students in two classes,
# five valid attendance rows, three valid assessments, three rejects.
GOOD_WAREHOUSE_SQL = """
CREATE SCHEMA bronze; CREATE SCHEMA silver; CREATE SCHEMA quarantine; CREATE SCHEMA gold;

CREATE TABLE bronze.sis_programmes (programme_code VARCHAR, programme_name VARCHAR, faculty VARCHAR,
    level VARCHAR, updated_at TIMESTAMPTZ, _dlt_load_id VARCHAR, _dlt_id VARCHAR);
INSERT INTO bronze.sis_programmes VALUES
    ('P1', 'Maths', 'Science', 'L3', '2025-08-01 00:00:00+00', '1', 'p1'),
    ('P2', 'History', 'Arts', 'L3', '2025-08-01 00:00:00+00', '1', 'p2');
CREATE TABLE bronze.sis_classes (class_id VARCHAR, class_name VARCHAR, programme_code VARCHAR,
    academic_year VARCHAR, updated_at TIMESTAMPTZ, _dlt_load_id VARCHAR, _dlt_id VARCHAR);
INSERT INTO bronze.sis_classes VALUES
    ('C1', 'Maths A', 'P1', '2025/26', '2025-08-01 00:00:00+00', '1', 'c1'),
    ('C2', 'History A', 'P2', '2025/26', '2025-08-01 00:00:00+00', '1', 'c2');
CREATE TABLE bronze.sis_students (student_id VARCHAR, first_name VARCHAR, last_name VARCHAR, email VARCHAR,
    date_of_birth DATE, gender VARCHAR, class_id VARCHAR, enrolment_status VARCHAR, updated_at TIMESTAMPTZ,
    _dlt_load_id VARCHAR, _dlt_id VARCHAR);
INSERT INTO bronze.sis_students VALUES
    ('S1', 'Ada', 'Lovelace', 'ada@example.org', '2008-12-10', 'F', 'C1', 'active', '2025-08-01 00:00:00+00', '1', 's1'),
    ('S2', 'Alan', 'Turing', 'alan@example.org', '2009-06-23', 'M', 'C1', 'active', '2025-08-01 00:00:00+00', '1', 's2'),
    ('S3', 'Mary', 'Beard', 'mary@example.org', '2009-01-01', 'F', 'C2', 'withdrawn', '2025-08-01 00:00:00+00', '1', 's3');

CREATE TABLE bronze.attendance (attendance_id VARCHAR, student_id VARCHAR, session_date VARCHAR, status VARCHAR,
    delivery_code VARCHAR, _source_file VARCHAR, _source_row BIGINT, _ingested_at TIMESTAMPTZ, _dlt_load_id VARCHAR);
INSERT INTO bronze.attendance VALUES
    ('A1', 'S1', '2025-09-08', 'present', 'D1', 'attendance.csv', 1, '2025-09-11 08:00:00+00', '10'),
    ('A2', 'S1', '2025-09-09', 'ABSENT', 'D1', 'attendance.csv', 2, '2025-09-11 08:00:00+00', '10'),
    ('A3', 'S2', '2025-09-08', ' Late ', 'D1', 'attendance.csv', 3, '2025-09-11 08:00:00+00', '10'),
    ('A4', 'S2', '2025-09-09', 'excused', 'D1', 'attendance.csv', 4, '2025-09-11 08:00:00+00', '10'),
    ('A5', 'S3', '2025-09-10', 'present', 'D1', 'attendance.csv', 5, '2025-09-11 08:00:00+00', '10');
CREATE TABLE bronze.assessments (assessment_id VARCHAR, student_id VARCHAR, subject VARCHAR, score VARCHAR,
    max_score VARCHAR, assessed_on VARCHAR, delivery_code VARCHAR, _source_file VARCHAR, _source_row BIGINT,
    _ingested_at TIMESTAMPTZ, _dlt_load_id VARCHAR);
INSERT INTO bronze.assessments VALUES
    ('X1', 'S1', 'maths', '30', '40', '2025-09-08', 'D1', 'assessments.json', 1, '2025-09-11 08:00:00+00', '10'),
    ('X2', 'S1', 'english', '10.0', '50', '2025-09-09', 'D1', 'assessments.json', 2, '2025-09-11 08:00:00+00', '10'),
    ('X3', 'S2', 'maths', '45', '5e1', '2025-09-08', 'D1', 'assessments.json', 3, '2025-09-11 08:00:00+00', '10');

CREATE TABLE silver.dim_programme AS SELECT programme_code, programme_name, faculty, level FROM bronze.sis_programmes;
CREATE TABLE silver.dim_class AS SELECT class_id, class_name, programme_code, academic_year FROM bronze.sis_classes;
CREATE TABLE silver.dim_student AS SELECT student_id, first_name, last_name, email, date_of_birth, gender,
    class_id, enrolment_status FROM bronze.sis_students;
CREATE TABLE silver.dim_date AS
    SELECT d::DATE AS date_day, year(d) AS year, month(d) AS month, day(d) AS day_of_month,
           isodow(d) AS day_of_week, dayname(d) AS day_name, isodow(d) IN (6, 7) AS is_weekend,
           '2025/26' AS academic_year
    FROM generate_series(DATE '2025-09-06', DATE '2025-09-10', INTERVAL 1 DAY) g(d);
CREATE TABLE silver.fact_attendance (attendance_id VARCHAR, student_id VARCHAR, class_id VARCHAR,
    session_date DATE, status VARCHAR, is_present BOOLEAN, delivery_code VARCHAR, _source_file VARCHAR);
INSERT INTO silver.fact_attendance VALUES
    ('A1', 'S1', 'C1', '2025-09-08', 'present', true, 'D1', 'attendance.csv'),
    ('A2', 'S1', 'C1', '2025-09-09', 'absent', false, 'D1', 'attendance.csv'),
    ('A3', 'S2', 'C1', '2025-09-08', 'late', true, 'D1', 'attendance.csv'),
    ('A4', 'S2', 'C1', '2025-09-09', 'excused', false, 'D1', 'attendance.csv'),
    ('A5', 'S3', 'C2', '2025-09-10', 'present', true, 'D1', 'attendance.csv');
CREATE TABLE silver.fact_assessment (assessment_id VARCHAR, student_id VARCHAR, class_id VARCHAR, subject VARCHAR,
    score DOUBLE, max_score DOUBLE, score_pct DOUBLE, assessed_on DATE, delivery_code VARCHAR, _source_file VARCHAR);
INSERT INTO silver.fact_assessment VALUES
    ('X1', 'S1', 'C1', 'maths', 30, 40, 75.0, '2025-09-08', 'D1', 'assessments.json'),
    ('X2', 'S1', 'C1', 'english', 10, 50, 20.0, '2025-09-09', 'D1', 'assessments.json'),
    ('X3', 'S2', 'C1', 'maths', 45, 50, 90.0, '2025-09-08', 'D1', 'assessments.json');

CREATE TABLE quarantine.attendance_rejects (attendance_id VARCHAR, student_id VARCHAR, session_date VARCHAR,
    status VARCHAR, delivery_code VARCHAR, _source_file VARCHAR, _source_row BIGINT, reason VARCHAR);
INSERT INTO quarantine.attendance_rejects VALUES
    ('A9', 'S9', '2025-09-10', 'present', 'D1', 'attendance.csv', 6, 'unknown_student'),
    ('', 'S1', '2025-09-10', 'present', 'D2', 'attendance_b.csv', 2, 'missing_key');
CREATE TABLE quarantine.assessment_rejects (assessment_id VARCHAR, student_id VARCHAR, subject VARCHAR,
    score VARCHAR, max_score VARCHAR, assessed_on VARCHAR, delivery_code VARCHAR, _source_file VARCHAR,
    _source_row BIGINT, reason VARCHAR);
INSERT INTO quarantine.assessment_rejects VALUES
    ('X9', 'S1', 'maths', 'abc', '50', '2025-09-09', 'D1', 'assessments.json', 4, 'bad_score');

CREATE TABLE gold.student_performance_summary (student_id VARCHAR, class_id VARCHAR, programme_code VARCHAR,
    enrolment_status VARCHAR, total_attendance_records BIGINT, present_days BIGINT, absent_days BIGINT,
    excused_days BIGINT, attendance_rate DOUBLE, total_assessments BIGINT, avg_score_pct DOUBLE,
    min_score_pct DOUBLE, max_score_pct DOUBLE);
INSERT INTO gold.student_performance_summary VALUES
    ('S1', 'C1', 'P1', 'active', 2, 1, 1, 0, 0.5, 2, 47.5, 20.0, 75.0),
    ('S2', 'C1', 'P1', 'active', 2, 1, 0, 1, 1.0, 1, 90.0, 90.0, 90.0),
    ('S3', 'C2', 'P2', 'withdrawn', 1, 1, 0, 0, 1.0, 0, NULL, NULL, NULL);
CREATE TABLE gold.class_daily_performance (class_id VARCHAR, activity_date DATE, total_students BIGINT,
    students_with_attendance BIGINT, present_count BIGINT, absent_count BIGINT, excused_count BIGINT,
    attendance_rate DOUBLE, students_with_assessment BIGINT, assessment_count BIGINT, avg_score_pct DOUBLE);
INSERT INTO gold.class_daily_performance VALUES
    ('C1', '2025-09-08', 2, 2, 2, 0, 0, 1.0, 2, 2, 82.5),
    ('C1', '2025-09-09', 2, 2, 0, 1, 1, 0.0, 1, 1, 20.0),
    ('C2', '2025-09-10', 0, 1, 1, 0, 0, 1.0, 0, 0, NULL);
CREATE TABLE gold.student_risk_features (student_id VARCHAR, as_of_date DATE, attendance_rate_28d DOUBLE,
    days_since_last_present INTEGER, failed_assessments BIGINT, at_risk BOOLEAN);
INSERT INTO gold.student_risk_features VALUES
    ('S1', '2025-09-10', 0.5, 2, 1, true),
    ('S2', '2025-09-10', 1.0, 2, 0, false),
    ('S3', '2025-09-10', 1.0, 0, 0, false);
CREATE TABLE gold.delivery_quality (delivery_code VARCHAR, source VARCHAR, outcome VARCHAR, row_count BIGINT);
INSERT INTO gold.delivery_quality VALUES
    ('D1', 'attendance', 'loaded', 5), ('D1', 'attendance', 'unknown_student', 1),
    ('D1', 'assessments', 'loaded', 3), ('D1', 'assessments', 'bad_score', 1),
    ('D2', 'attendance', 'missing_key', 1);
-- Absence rows stand on their own: S2 and S3's 2024/25 reach absence_min_sessions (10), so they
-- take a band and may be persistent or severe absentees.
CREATE TABLE gold.student_absence (student_id VARCHAR, academic_year VARCHAR, class_id VARCHAR,
    programme_code VARCHAR, possible_sessions BIGINT, attended_sessions BIGINT, authorised_absences BIGINT,
    unauthorised_absences BIGINT, absence_rate DOUBLE, is_persistent_absentee BOOLEAN,
    is_severe_absentee BOOLEAN, absence_band VARCHAR, longest_absence_streak BIGINT);
INSERT INTO gold.student_absence VALUES
    ('S1', '2025/26', 'C1', 'P1', 2, 1, 0, 1, 0.5, false, false, NULL, 1),
    ('S2', '2025/26', 'C1', 'P1', 20, 17, 1, 2, 0.15, true, false, 'moderate', 2),
    ('S3', '2024/25', 'C2', 'P2', 10, 4, 3, 3, 0.6, true, true, 'severe', 6),
    ('S3', '2025/26', 'C2', 'P2', 1, 1, 0, 0, 0.0, false, false, NULL, 0);
CREATE TABLE gold.programme_attendance (programme_code VARCHAR, academic_year VARCHAR, programme_name VARCHAR,
    faculty VARCHAR, level VARCHAR, students BIGINT, eligible_students BIGINT, persistent_absentees BIGINT,
    persistent_absence_rate DOUBLE, possible_sessions BIGINT, attended_sessions BIGINT,
    authorised_absences BIGINT, unauthorised_absences BIGINT, absence_rate DOUBLE);
INSERT INTO gold.programme_attendance VALUES
    ('P1', '2025/26', 'Physics', 'Science', 'L3', 2, 1, 1, 1.0, 22, 18, 1, 3, 4.0 / 22),
    ('P2', '2024/25', 'Art', 'Arts', 'L3', 1, 1, 1, 1.0, 10, 4, 3, 3, 0.6),
    ('P2', '2025/26', 'Art', 'Arts', 'L3', 1, 0, 0, NULL, 1, 1, 0, 0, 0.0);
"""

ROWS = {
    "bronze.sis_programmes": 2, "bronze.sis_classes": 2, "bronze.sis_students": 3,
    "bronze.attendance": 5, "bronze.assessments": 3,
    "silver.dim_programme": 2, "silver.dim_class": 2, "silver.dim_student": 3, "silver.dim_date": 5,
    "silver.fact_attendance": 5, "silver.fact_assessment": 3,
    "quarantine.attendance_rejects": 2, "quarantine.assessment_rejects": 1,
    "gold.student_performance_summary": 3, "gold.class_daily_performance": 3,
    "gold.student_risk_features": 3, "gold.delivery_quality": 5,
    "gold.student_absence": 4, "gold.programme_attendance": 3,
}


def build_warehouse(path: Path, *mutations: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as conn:
        conn.execute(GOOD_WAREHOUSE_SQL)
        for sql in mutations:
            conn.execute(sql)


def report_for(path: Path, table: str):
    with duckdb.connect(str(path), read_only=True) as conn:
        return validate_table(conn, CONTRACTS[table])


def test_every_table_has_a_contract_and_a_check():
    assert set(CONTRACTS) == set(ROWS)
    keys = {next(iter(c.check_keys)) for c in contract_checks}
    assert {(k.asset_key.to_user_string(), k.name) for k in keys} == {
        (t.replace(".", "/"), "pandera_contract") for t in ROWS
    }


def test_good_warehouse_meets_every_contract(tmp_path):
    build_warehouse(tmp_path / "wh.duckdb")
    for table, rows in ROWS.items():
        report = report_for(tmp_path / "wh.duckdb", table)
        assert (table, report.passed, report.by_rule, report.failed_rows, report.rows_checked) == (
            table, True, {}, 0, rows,
        )


def _warehouse_builder(settings, *mutations: str):
    """One real asset that writes the whole warehouse under every checked key."""

    @multi_asset(specs=[AssetSpec(CONTRACTS[t].asset_key) for t in ROWS], name="build_test_warehouse")
    def build():
        build_warehouse(settings.warehouse, *mutations)

    return build


def test_checks_pass_in_a_real_run(tmp_path):
    settings = make_settings(tmp_path)
    result = materialize(
        [_warehouse_builder(settings), *contract_checks],
        resources=eduwh_resources(settings),
        instance=DagsterInstance.ephemeral(),
    )
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == len(ROWS)
    for ev in evaluations:
        assert ev.passed, ev.asset_key
        assert ev.metadata["failed_rows"].value == 0
        assert ev.metadata["rows_checked"].value == ROWS["/".join(ev.asset_key.path).replace("/", ".", 1)]


# One failing case per check family: (table, mutation, failures by rule, failed rows)
FAILING_CASES = {
    "duplicate_key_in_silver": (
        "silver.dim_student",
        "INSERT INTO silver.dim_student SELECT * FROM silver.dim_student WHERE student_id = 'S2'",
        {"student_id:field_uniqueness": 2},
        2,
    ),
    "compound_key_in_gold": (
        "gold.delivery_quality",
        "INSERT INTO gold.delivery_quality VALUES ('D2', 'attendance', 'missing_key', 4)",
        {"unique(delivery_code, source, outcome)": 2},
        2,
    ),
    "rate_above_one_in_gold": (
        "gold.student_performance_summary",
        "UPDATE gold.student_performance_summary SET attendance_rate = 1.5 WHERE student_id = 'S1'",
        {"attendance_rate:in_range(0, 1)": 1, "attendance_rate=present/(present+absent)": 1},
        1,
    ),
    "fact_fk_does_not_resolve": (
        "silver.fact_attendance",
        "INSERT INTO silver.fact_attendance VALUES ('A6', 'S9', 'C7', '2025-09-10', 'absent', false, 'D2', 'a.csv')",
        {
            "student_id:foreign_key(silver.dim_student.student_id)": 1,
            "class_id:foreign_key(silver.dim_class.class_id)": 1,
        },
        1,
    ),
    "dim_class_programme_fk": (
        "silver.dim_class",
        "UPDATE silver.dim_class SET programme_code = 'P9' WHERE class_id = 'C2'",
        {"programme_code:foreign_key(silver.dim_programme.programme_code)": 1},
        1,
    ),
    "attendance_parts_do_not_sum": (
        "gold.student_performance_summary",
        "UPDATE gold.student_performance_summary SET excused_days = 2 WHERE student_id = 'S2'",
        {"present+absent+excused=total_attendance_records": 1},
        1,
    ),
    "min_avg_max_out_of_order": (
        "gold.student_performance_summary",
        "UPDATE gold.student_performance_summary SET min_score_pct = 95 WHERE student_id = 'S2'",
        {"min<=avg<=max_score_pct": 1},
        1,
    ),
    "at_risk_contradicts_definition": (
        "gold.student_risk_features",
        "UPDATE gold.student_risk_features SET at_risk = false WHERE student_id = 'S1'",
        {"at_risk=(attendance_rate_28d<0.8 or failed_assessments>=2)": 1},
        1,
    ),
    "daily_counts_inconsistent": (
        "gold.class_daily_performance",
        "UPDATE gold.class_daily_performance SET students_with_assessment = 3, present_count = -1 "
        "WHERE activity_date = '2025-09-08'",
        {
            "present_count:greater_than_or_equal_to(0)": 1,
            "students_with_assessment<=assessment_count": 1,
            "attendance_rate=present/(present+absent)": 1,
            "students_with_attendance<=attendance_rows": 1,
        },
        1,
    ),
    "silver_status_and_is_present": (
        "silver.fact_attendance",
        "UPDATE silver.fact_attendance SET status = 'holiday' WHERE attendance_id = 'A2'; "
        "UPDATE silver.fact_attendance SET is_present = false WHERE attendance_id = 'A3'",
        {
            "status:isin(('present', 'late', 'absent', 'excused'))": 1,
            "is_present_iff_present_or_late": 1,
        },
        2,
    ),
    "score_out_of_range": (
        "silver.fact_assessment",
        "UPDATE silver.fact_assessment SET score = 60, score_pct = 120 WHERE assessment_id = 'X3'",
        {"score_pct:in_range(0, 100)": 1, "score_le_max_score": 1},
        1,
    ),
    "reason_code_unknown": (
        "quarantine.attendance_rejects",
        "UPDATE quarantine.attendance_rejects SET reason = 'bad_score' WHERE attendance_id = 'A9'",
        {"reason:isin(('missing_key', 'bad_date', 'bad_status', 'unknown_student'))": 1},
        1,
    ),
    "pii_in_gold_and_wrong_dtype": (
        "gold.student_risk_features",
        "ALTER TABLE gold.student_risk_features ADD COLUMN email VARCHAR; "
        "ALTER TABLE gold.student_risk_features ALTER at_risk TYPE VARCHAR",
        # at_risk now holds text: one wrong column type is one failure, whatever the rows hold.
        {"no_pii_columns": 1, "at_risk:dtype('boolean')": 1},
        0,
    ),
    "missing_table": ("gold.delivery_quality", "DROP TABLE gold.delivery_quality", {}, 0),
}


@pytest.mark.parametrize("case", sorted(FAILING_CASES))
def test_each_check_family_fails(tmp_path, case):
    table, mutation, by_rule, failed_rows = FAILING_CASES[case]
    build_warehouse(tmp_path / "wh.duckdb", mutation)
    report = report_for(tmp_path / "wh.duckdb", table)
    assert report.passed is False
    assert report.by_rule == by_rule
    assert report.failed_rows == failed_rows
    if case == "missing_table":
        assert report.problem == "gold.delivery_quality does not exist in the warehouse"
    else:
        # Rules about the table's shape have no failing rows to show.
        shape_rules = {"no_pii_columns", "at_risk:dtype('boolean')"}
        assert set(report.sample.get("failed_rule", [])) == set(by_rule) - shape_rules


def test_bronze_warns_and_silver_blocks_in_a_real_run(tmp_path):
    """Bad values in bronze warn; a silver duplicate fails an ERROR check, both with full metadata."""
    settings = make_settings(tmp_path)
    mutations = (
        "UPDATE bronze.attendance SET status = 'holiday', session_date = '2025-02-30' WHERE attendance_id = 'A2'",
        "INSERT INTO silver.fact_assessment SELECT * FROM silver.fact_assessment",
    )
    result = materialize(
        [_warehouse_builder(settings, *mutations), *contract_checks],
        resources=eduwh_resources(settings),
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    evaluations = {ev.asset_key.to_user_string(): ev for ev in result.get_asset_check_evaluations()}
    assert sorted(k for k, ev in evaluations.items() if not ev.passed) == ["bronze/attendance", "silver/fact_assessment"]

    bronze = evaluations["bronze/attendance"]
    assert bronze.severity == AssetCheckSeverity.WARN and bronze.blocking is False
    assert bronze.metadata["failed_rows"].value == 1
    assert bronze.metadata["failures_by_rule"].value == {"session_date:valid_date": 1, "status:status_after_trim": 1}

    silver = evaluations["silver/fact_assessment"]
    assert silver.severity == AssetCheckSeverity.ERROR and silver.blocking is True
    assert silver.metadata["failed_rows"].value == 6
    assert silver.metadata["failures_by_rule"].value == {"assessment_id:field_uniqueness": 6}
    sample = silver.metadata["sample_failing_rows"].value
    lines = sample.splitlines()
    assert lines[0].startswith("| failed_rule | assessment_id | student_id |")
    assert len(lines) == 2 + 6  # header, rule, six duplicated rows (fewer than the 10-row cap)
    assert json.dumps(silver.metadata["failures_by_rule"].value)


def test_blocking_silver_check_stops_gold(tmp_path):
    settings = make_settings(tmp_path)

    @asset(key=AssetKey(["silver", "dim_student"]))
    def dim_student():
        build_warehouse(settings.warehouse, "INSERT INTO silver.dim_student SELECT * FROM silver.dim_student")

    @asset(key=AssetKey(["gold", "student_performance_summary"]), deps=[dim_student.key])
    def summary():
        return None

    dim_student_check = next(
        c for c in contract_checks if next(iter(c.check_keys)).asset_key == AssetKey(["silver", "dim_student"])
    )
    instance = DagsterInstance.ephemeral()
    defs = Definitions(assets=[dim_student, summary], asset_checks=[dim_student_check], resources=eduwh_resources(settings))
    result = defs.get_implicit_global_asset_job_def().execute_in_process(instance=instance, raise_on_error=False)

    [evaluation] = result.get_asset_check_evaluations()
    assert (evaluation.asset_key, evaluation.passed, evaluation.blocking) == (dim_student.key, False, True)
    assert evaluation.metadata["failures_by_rule"].value == {"student_id:field_uniqueness": 6}
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert materialized == {dim_student.key}
    assert instance.get_latest_materialization_event(summary.key) is None
    assert result.success is False


def test_sql_validation_equals_whole_frame(tmp_path):
    """Many faults at once, duplicates among them: DuckDB's counts are Pandera's on the whole frame."""
    path = tmp_path / "wh.duckdb"
    build_warehouse(
        path,
        """
        INSERT INTO silver.fact_assessment
        SELECT 'Y' || (i % 37), 'S' || (1 + i % 3), 'C1', 'maths',
               CASE WHEN i % 11 = 0 THEN -1 ELSE i % 50 END,
               CASE WHEN i % 13 = 0 THEN 0 ELSE 50 END,
               CASE WHEN i % 17 = 0 THEN 150 ELSE 2 * (i % 50) END,
               CASE WHEN i % 19 = 0 THEN NULL ELSE DATE '2025-09-01' + (i % 20)::INT END,
               CASE WHEN i % 23 = 0 THEN 'bad code!' ELSE 'D1' END, 'assessments.json'
        FROM range(100) r(i)
        """,
    )
    contract = CONTRACTS["silver.fact_assessment"]
    with duckdb.connect(str(path), read_only=True) as conn:
        whole = validate_frame(frame_from_arrow(conn.sql("SELECT * FROM silver.fact_assessment").to_arrow_table()), contract)
        report = validate_table(conn, contract)
    assert report.rows_checked == 103
    # Every generated row is a duplicate, so every one fails; the three good rows do not.
    assert report.failed_rows == 100
    fk_rules = {fk.rule for fk in contract.foreign_keys}
    assert {k: v for k, v in report.by_rule.items() if k not in fk_rules} == whole
    # 100 generated ids over 37 values: every generated row is a duplicate.
    assert whole["assessment_id:field_uniqueness"] == 100
    assert whole["score:greater_than_or_equal_to(0)"] == 10
    assert whole["max_score:greater_than(0)"] == 8
    assert whole["assessed_on:not_nullable"] == 6
    assert whole["delivery_code:str_matches('^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$')"] == 5
    assert len(report.sample) == 10
    # Round-robin over the failed rules in name order, so every rule shows before any shows twice.
    rules = sorted(report.by_rule)
    assert len(rules) < 10
    assert list(report.sample["failed_rule"]) == (rules * 2)[:10]


def test_a_delivery_run_checks_only_its_own_deliveries_rows(tmp_path):
    from dagster import DagsterInstance

    from eduwh_assets.partitions import deliveries_of_run

    path = tmp_path / "wh.duckdb"
    build_warehouse(
        path,
        # A second delivery with one bad status; D1 stays as it was (all rows valid).
        "INSERT INTO bronze.attendance VALUES ('B1', 'S1', '2025-09-15', 'holiday', 'D2', 'attendance.csv', 1, "
        "'2025-09-16 08:00:00+00', '11'), ('B2', 'S2', '2025-09-15', 'present', 'D2', 'attendance.csv', 2, "
        "'2025-09-16 08:00:00+00', '11')",
    )
    with duckdb.connect(str(path), read_only=True) as conn:
        whole = validate_table(conn, CONTRACTS["bronze.attendance"])
        d1 = validate_table(conn, CONTRACTS["bronze.attendance"], deliveries=["D1"])
        d2 = validate_table(conn, CONTRACTS["bronze.attendance"], deliveries=["D2"])
    assert (whole.rows_checked, whole.failed_rows) == (7, 1)
    assert (d1.rows_checked, d1.failed_rows) == (5, 0)
    assert (d2.rows_checked, d2.failed_rows) == (2, 1)

    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("deliveries", ["D1", "D2", "D3"])
    assert deliveries_of_run({"dagster/partition": "D2"}, instance) == ["D2"]
    range_tags = {"dagster/asset_partition_range_start": "D1", "dagster/asset_partition_range_end": "D2"}
    assert deliveries_of_run(range_tags, instance) == ["D1", "D2"]
    assert deliveries_of_run({}, instance) is None


def test_every_check_says_what_when_and_how_to_resolve():
    """Each check of the code location, Pandera, dbt and Python alike, has the three-part description."""
    from eduwh_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    shape = re.compile(r"What: \S.*\n\nWhen it matters: \S.*\n\nHow to resolve: \S.*", re.S)
    descriptions = {key: graph.get_check_spec(key).description or "" for key in graph.asset_check_keys}
    assert len(descriptions) > 150  # Pandera, dbt tests, reconciliation and freshness
    assert [str(k) for k, d in descriptions.items() if not shape.fullmatch(d)] == []
    # A dbt test's own YAML description is its first part.
    absence_key = next(k for k in descriptions if k.name.startswith("unique_combination_of_columns_student_absence"))
    assert descriptions[absence_key].startswith("What: The key is (student_id, academic_year).")
    # No raw SQL or Jinja leaks into the text.
    assert not [str(k) for k, d in descriptions.items() if "{{" in d or "get_where_subquery" in d]


def test_every_asset_has_kinds():
    from eduwh_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    kinds = {key.to_user_string(): graph.get(key).kinds for key in graph.get_all_asset_keys() if graph.get(key).is_materializable}
    assert [key for key, k in kinds.items() if not k] == []
    assert kinds["quality/reject_exports"] == {"duckdb", "csv"}
