"""The SQL translation of the Pandera contracts, held rule by rule to Pandera itself.

For every rule of every contract a small warehouse (the good one of
test_quality_checks.py) gets one crafted violation, and the SQL `validate_table`
must report exactly what `validate_frame` (Pandera on the whole frame) reports,
with the expected count for the rule itself. The rules come from the contracts,
so a new rule without a crafted violation, or without a SQL form, fails here.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

import duckdb
import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.engines import pandas_engine

from eduwh_assets.quality.contracts import CONTRACTS
from eduwh_assets.quality.contracts.bronze import _is_calendar_date
from eduwh_assets.quality.contracts.dtypes import LOGICAL_DTYPES, frame_from_arrow, logical_type
from eduwh_assets.quality.contracts.table import TableContract, unique_rule
from eduwh_assets.quality.pandas_validate import validate_frame
from eduwh_assets.quality.regex_to_re2 import re2_pattern
from eduwh_assets.quality.sql_compile import _logical_name, compile_contract, schema_failures
from eduwh_assets.quality.sql_validate import validate_table
from test_quality_checks import GOOD_WAREHOUSE_SQL


@dataclass(frozen=True)
class Violation:
    """`change` is a SET clause applied to the rows with these rowids, or a whole statement."""

    change: str
    expected: int = 1
    rows: tuple[int, ...] = (0,)

    def sql(self, table: str) -> str:
        if self.change.split(None, 1)[0].upper() in ("INSERT", "UPDATE", "ALTER", "DELETE"):
            return self.change
        return f"UPDATE {table} SET {self.change} WHERE rowid IN ({', '.join(map(str, self.rows))})"


DELIVERY_CODE_RULE = "delivery_code:str_matches('^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$')"
NUMBER_RULE = "valid_number"
STATUSES_RULE = "isin(('active', 'suspended', 'withdrawn', 'completed'))"

# Violations of the rules the defaults below cannot produce (see `violation_of`).
VIOLATIONS: dict[str, dict[str, Violation]] = {
    "bronze.attendance": {
        "attendance_id:not_blank": Violation("attendance_id = ' ' || chr(9) || chr(11)"),
        "student_id:not_blank": Violation("student_id = ''"),
        "session_date:valid_date": Violation(
            "session_date = CASE rowid WHEN 0 THEN '2025-02-30' WHEN 1 THEN '2025-9-8' ELSE 'yesterday' END",
            expected=3,
            rows=(0, 1, 2),
        ),
        "status:status_after_trim": Violation("status = 'holiday'"),
        DELIVERY_CODE_RULE: Violation("delivery_code = '-D1'"),
        "_source_file:str_matches('^attendance.*\\.csv$')": Violation("_source_file = 'attendance.txt'"),
        "_source_row:greater_than_or_equal_to(1)": Violation("_source_row = 0"),
    },
    "bronze.assessments": {
        "assessment_id:not_blank": Violation("assessment_id = ''"),
        "student_id:not_blank": Violation("student_id = chr(13)"),
        f"score:{NUMBER_RULE}": Violation(
            "score = CASE rowid WHEN 0 THEN 'abc' ELSE '1.2.3' END", expected=2, rows=(0, 1)
        ),
        # 1e999 has the shape of a number but overflows a double: silver rejects it as bad_score.
        f"max_score:{NUMBER_RULE}": Violation(
            "max_score = CASE rowid WHEN 0 THEN 'nan' ELSE '1e999' END", expected=2, rows=(0, 1)
        ),
        "assessed_on:valid_date": Violation("assessed_on = '2025-13-01'"),
        DELIVERY_CODE_RULE: Violation("delivery_code = 'bad code!'"),
        "_source_file:str_matches('^assessments.*\\.jsonl?$')": Violation("_source_file = 'assessments.csv'"),
        "_source_row:greater_than_or_equal_to(1)": Violation("_source_row = -1"),
    },
    "bronze.sis_programmes": {"programme_code:not_blank": Violation("programme_code = chr(12)")},
    "bronze.sis_classes": {"class_id:not_blank": Violation("class_id = '  '")},
    "bronze.sis_students": {
        "student_id:not_blank": Violation("student_id = ''"),
        f"enrolment_status:{STATUSES_RULE}": Violation("enrolment_status = 'expelled'"),
    },
    "silver.dim_programme": {"programme_code:not_blank": Violation("programme_code = ''")},
    "silver.dim_class": {
        "class_id:not_blank": Violation("class_id = ''"),
        "programme_code:foreign_key(silver.dim_programme.programme_code)": Violation("programme_code = 'P9'"),
    },
    "silver.dim_student": {
        "student_id:not_blank": Violation("student_id = ' '"),
        f"enrolment_status:{STATUSES_RULE}": Violation("enrolment_status = 'Active'"),
    },
    "silver.dim_date": {
        "year:in_range(1900, 2200)": Violation("year = 1800"),
        "month:in_range(1, 12)": Violation("month = 13"),
        "day_of_month:in_range(1, 31)": Violation("day_of_month = 0"),
        "day_of_week:in_range(1, 7)": Violation("day_of_week = 8"),
        "academic_year:str_matches('^\\d{4}/\\d{2}$')": Violation("academic_year = '2025-26'"),
        "date_parts_match_date_day": Violation("month = 10"),
        "is_weekend_matches_day_of_week": Violation("is_weekend = NOT is_weekend", expected=2, rows=(0, 3)),
        "academic_year_starts_1_september": Violation("academic_year = '2024/25'"),
    },
    "silver.fact_attendance": {
        "attendance_id:not_blank": Violation("attendance_id = ''"),
        "student_id:not_blank": Violation("student_id = ' '"),
        "status:isin(('present', 'late', 'absent', 'excused'))": Violation("status = 'holiday'"),
        DELIVERY_CODE_RULE: Violation("delivery_code = 'bad code!'"),
        "is_present_iff_present_or_late": Violation("is_present = NOT is_present", expected=2, rows=(0, 1)),
        "student_id:foreign_key(silver.dim_student.student_id)": Violation("student_id = 'S9'"),
        "class_id:foreign_key(silver.dim_class.class_id)": Violation("class_id = 'C9'", expected=2, rows=(0, 4)),
    },
    "silver.fact_assessment": {
        "assessment_id:not_blank": Violation("assessment_id = ''"),
        "student_id:not_blank": Violation("student_id = ''"),
        "score:greater_than_or_equal_to(0)": Violation("score = -1"),
        "max_score:greater_than(0)": Violation("max_score = 0"),
        "score_pct:in_range(0, 100)": Violation("score_pct = 100.5"),
        DELIVERY_CODE_RULE: Violation("delivery_code = '.D1'"),
        "score_le_max_score": Violation("score = 50, score_pct = 125"),
        "score_pct_eq_100_score_over_max": Violation("score_pct = 75.001"),
        "student_id:foreign_key(silver.dim_student.student_id)": Violation("student_id = 'S9'"),
        "class_id:foreign_key(silver.dim_class.class_id)": Violation("class_id = 'C9'"),
    },
    "quarantine.attendance_rejects": {
        DELIVERY_CODE_RULE: Violation("delivery_code = 'D 1'"),
        "_source_file:str_matches('^attendance.*\\.csv$')": Violation("_source_file = 'Attendance.csv'"),
        "_source_row:greater_than_or_equal_to(1)": Violation("_source_row = 0"),
        "reason:isin(('missing_key', 'bad_date', 'bad_status', 'unknown_student'))": Violation("reason = 'bad_score'"),
        "unique(delivery_code, _source_file, _source_row)": Violation(
            "delivery_code = 'D2', _source_file = 'attendance_b.csv', _source_row = 2", expected=2
        ),
    },
    "quarantine.assessment_rejects": {
        DELIVERY_CODE_RULE: Violation("delivery_code = ''"),
        "_source_file:str_matches('^assessments.*\\.jsonl?$')": Violation("_source_file = 'assessments.json.gz'"),
        "_source_row:greater_than_or_equal_to(1)": Violation("_source_row = 0"),
        "reason:isin(('missing_key', 'bad_date', 'bad_score', 'unknown_student'))": Violation("reason = 'bad_status'"),
        # The table holds one row: the duplicate is a second copy of it.
        "unique(delivery_code, _source_file, _source_row)": Violation(
            "INSERT INTO quarantine.assessment_rejects SELECT * FROM quarantine.assessment_rejects", expected=2
        ),
    },
    "gold.student_performance_summary": {
        "student_id:not_blank": Violation("student_id = ''"),
        f"enrolment_status:{STATUSES_RULE}": Violation("enrolment_status = 'expelled'"),
        "total_attendance_records:greater_than_or_equal_to(0)": Violation("total_attendance_records = -1"),
        "present_days:greater_than_or_equal_to(0)": Violation("present_days = -1"),
        "absent_days:greater_than_or_equal_to(0)": Violation("absent_days = -1"),
        "excused_days:greater_than_or_equal_to(0)": Violation("excused_days = -1"),
        "attendance_rate:in_range(0, 1)": Violation("attendance_rate = 1.5"),
        "total_assessments:greater_than_or_equal_to(0)": Violation("total_assessments = -1"),
        "avg_score_pct:in_range(0, 100)": Violation("avg_score_pct = 101"),
        "min_score_pct:in_range(0, 100)": Violation("min_score_pct = -1"),
        "max_score_pct:in_range(0, 100)": Violation("max_score_pct = 101"),
        "present+absent+excused=total_attendance_records": Violation("excused_days = 1"),
        "attendance_rate=present/(present+absent)": Violation(
            # S3 has no absent days: 1/(1+0) is 1, and a rate within TOLERANCE of it still passes.
            "attendance_rate = CASE rowid WHEN 0 THEN 0.25 ELSE attendance_rate - 1e-10 END", rows=(0, 2)
        ),
        "min<=avg<=max_score_pct": Violation("min_score_pct = 50"),
        "score_pct_null_iff_no_assessments": Violation(
            "total_assessments = CASE rowid WHEN 0 THEN 0 ELSE 1 END", expected=2, rows=(0, 2)
        ),
        "student_id:foreign_key(silver.dim_student.student_id)": Violation("student_id = 'S9'"),
    },
    "gold.class_daily_performance": {
        "total_students:greater_than_or_equal_to(0)": Violation("total_students = -1"),
        "students_with_attendance:greater_than_or_equal_to(0)": Violation("students_with_attendance = -1"),
        "present_count:greater_than_or_equal_to(0)": Violation("present_count = -1"),
        "absent_count:greater_than_or_equal_to(0)": Violation("absent_count = -1"),
        "excused_count:greater_than_or_equal_to(0)": Violation("excused_count = -1"),
        "attendance_rate:in_range(0, 1)": Violation("attendance_rate = -0.5"),
        "students_with_assessment:greater_than_or_equal_to(0)": Violation("students_with_assessment = -1"),
        "assessment_count:greater_than_or_equal_to(0)": Violation("assessment_count = -1"),
        "avg_score_pct:in_range(0, 100)": Violation("avg_score_pct = 100.5"),
        "attendance_rate=present/(present+absent)": Violation("attendance_rate = 0.5"),
        "students_with_attendance<=attendance_rows": Violation("students_with_attendance = 3"),
        "students_with_assessment<=assessment_count": Violation("students_with_assessment = 3"),
        # C2's day has one present row and nothing else: take it away and nothing happened that day.
        "row_has_activity": Violation(
            "present_count = 0, students_with_attendance = 0, attendance_rate = NULL", rows=(2,)
        ),
        "avg_score_pct_null_iff_no_assessments": Violation("avg_score_pct = NULL"),
        "class_id:foreign_key(silver.dim_class.class_id)": Violation("class_id = 'C9'"),
    },
    "gold.student_risk_features": {
        "student_id:not_blank": Violation("student_id = chr(9)"),
        "attendance_rate_28d:in_range(0, 1)": Violation("attendance_rate_28d = 1.01"),
        "days_since_last_present:greater_than_or_equal_to(0)": Violation("days_since_last_present = -1"),
        "failed_assessments:greater_than_or_equal_to(0)": Violation("failed_assessments = -1"),
        "at_risk=(attendance_rate_28d<0.8 or failed_assessments>=2)": Violation(
            "at_risk = NOT at_risk", expected=3, rows=(0, 1, 2)
        ),
        "no_pii_columns": Violation("ALTER TABLE gold.student_risk_features ADD COLUMN date_of_birth DATE"),
        "student_id:foreign_key(silver.dim_student.student_id)": Violation("student_id = 'S9'"),
    },
    "gold.delivery_quality": {
        DELIVERY_CODE_RULE: Violation("delivery_code = 'D1' || chr(10) || 'x'"),
        "source:isin(('attendance', 'assessments'))": Violation("source = 'sis'"),
        "outcome:isin(('loaded', 'superseded', 'missing_key', 'bad_date', 'bad_status', 'bad_score', "
        "'unknown_student'))": Violation("outcome = 'lost'"),
        "row_count:greater_than_or_equal_to(1)": Violation("row_count = 0"),
        "outcome_possible_for_source": Violation(
            "outcome = CASE rowid WHEN 0 THEN 'bad_score' ELSE 'bad_status' END", expected=2, rows=(0, 2)
        ),
    },
    "gold.student_absence": {
        "student_id:not_blank": Violation("student_id = ''"),
        "academic_year:str_matches('^\\d{4}/\\d{2}$')": Violation("academic_year = '2025-26'"),
        "possible_sessions:greater_than_or_equal_to(1)": Violation("possible_sessions = 0"),
        "attended_sessions:greater_than_or_equal_to(0)": Violation("attended_sessions = -1"),
        "authorised_absences:greater_than_or_equal_to(0)": Violation("authorised_absences = -1"),
        "unauthorised_absences:greater_than_or_equal_to(0)": Violation("unauthorised_absences = -1"),
        "absence_rate:in_range(0, 1)": Violation("absence_rate = 1.5"),
        "absence_band:isin(('severe', 'moderate', 'at_risk', 'satisfactory'))": Violation(
            "absence_band = 'chronic'", rows=(1,)
        ),
        "longest_absence_streak:greater_than_or_equal_to(0)": Violation("longest_absence_streak = -1"),
        "attended+authorised+unauthorised=possible_sessions": Violation("attended_sessions = 0"),
        "absence_rate=(authorised+unauthorised)/possible_sessions": Violation("absence_rate = 0.4"),
        # Every row's flag is wrong once flipped: two ineligible, one moderate, one severe.
        "is_persistent_absentee=(absence_rate>=0.1 and possible_sessions>=10)": Violation(
            "is_persistent_absentee = NOT is_persistent_absentee", expected=4, rows=(0, 1, 2, 3)
        ),
        "is_severe_absentee=(absence_rate>=0.5 and possible_sessions>=10)": Violation(
            "is_severe_absentee = NOT is_severe_absentee", expected=4, rows=(0, 1, 2, 3)
        ),
        # S1 has too few sessions for a band; S2's 0.15 is moderate, not severe.
        "absence_band_from_absence_bands_seed": Violation("absence_band = 'severe'", expected=2, rows=(0, 1)),
        "longest_absence_streak_within_absences": Violation(
            "longest_absence_streak = CASE rowid WHEN 0 THEN 2 ELSE 1 END", expected=2, rows=(0, 3)
        ),
        "student_id:foreign_key(silver.dim_student.student_id)": Violation("student_id = 'S9'"),
    },
    "gold.programme_attendance": {
        "programme_code:not_blank": Violation("programme_code = chr(9)"),
        "academic_year:str_matches('^\\d{4}/\\d{2}$')": Violation("academic_year = '25/26'"),
        "students:greater_than_or_equal_to(1)": Violation("students = 0", rows=(2,)),
        "eligible_students:greater_than_or_equal_to(0)": Violation("eligible_students = -1", rows=(2,)),
        "persistent_absentees:greater_than_or_equal_to(0)": Violation("persistent_absentees = -1", rows=(2,)),
        "persistent_absence_rate:in_range(0, 1)": Violation("persistent_absence_rate = 1.5"),
        "possible_sessions:greater_than_or_equal_to(1)": Violation("possible_sessions = 0", rows=(2,)),
        "attended_sessions:greater_than_or_equal_to(0)": Violation("attended_sessions = -1"),
        "authorised_absences:greater_than_or_equal_to(0)": Violation("authorised_absences = -1"),
        "unauthorised_absences:greater_than_or_equal_to(0)": Violation("unauthorised_absences = -1"),
        "absence_rate:in_range(0, 1)": Violation("absence_rate = -0.5"),
        "persistent_absentees<=eligible_students<=students": Violation("eligible_students = 3"),
        "persistent_absence_rate=persistent_absentees/eligible_students": Violation("persistent_absence_rate = 0.5"),
        "attended+authorised+unauthorised=possible_sessions": Violation("attended_sessions = 1"),
        "absence_rate=(authorised+unauthorised)/possible_sessions": Violation("absence_rate = 0.5"),
    },
}


def violation_of(table: str, rule: str) -> Violation:
    """The crafted violation of `rule`: explicit above, or the obvious one for nulls and keys."""
    if rule in VIOLATIONS.get(table, {}):
        return VIOLATIONS[table][rule]
    if rule.endswith(":not_nullable"):
        return Violation(f"{rule.split(':')[0]} = NULL")
    key = _key_of(table, rule)
    if key:
        # Row 0 takes row 1's key: two rows share it.
        copy = ", ".join(f"{c} = (SELECT {c} FROM {table} WHERE rowid = 1)" for c in key)
        return Violation(copy, expected=2)
    raise AssertionError(f"{table}: no crafted violation for rule {rule!r}; add one to VIOLATIONS")


def _key_of(table: str, rule: str) -> tuple[str, ...] | None:
    return next((k for k in compile_contract(CONTRACTS[table]).keys if unique_rule(list(k)) == rule), None)


ALL_RULES = [
    pytest.param(table, rule, id=f"{table}|{rule}")
    for table, contract in CONTRACTS.items()
    for rule in compile_contract(contract).rule_names
]
ALL_COLUMNS = [
    pytest.param(table, column, id=f"{table}|{column}")
    for table, contract in CONTRACTS.items()
    for column in contract.schema.columns
]


def _warehouse(*statements: str) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute(GOOD_WAREHOUSE_SQL)
    for sql in statements:
        conn.execute(sql)
    return conn


def _both(conn: duckdb.DuckDBPyConnection, contract: TableContract, **kw):
    """The SQL report, and Pandera's counts on the same rows (the SQL counts without foreign keys)."""
    report = validate_table(conn, contract, **kw)
    frame = frame_from_arrow(conn.sql(f"SELECT * FROM {contract.table}").to_arrow_table())
    fk_rules = {fk.rule for fk in contract.foreign_keys}
    return report, {r: n for r, n in report.by_rule.items() if r not in fk_rules}, validate_frame(frame, contract)


def test_every_crafted_violation_names_a_rule_of_its_contract():
    for table, violations in VIOLATIONS.items():
        assert set(violations) <= set(compile_contract(CONTRACTS[table]).rule_names), table


@pytest.mark.parametrize("table, rule", ALL_RULES)
def test_each_rule_counts_as_pandera_counts_it(table, rule):
    violation = violation_of(table, rule)
    contract = CONTRACTS[table]
    with _warehouse(violation.sql(table)) as conn:
        report, sql_counts, pandas_counts = _both(conn, contract)
    assert report.by_rule.get(rule) == violation.expected, report.by_rule
    assert sql_counts == pandas_counts
    # Other rules the change breaks fail on the same rows; a rule on the table as a whole fails no row.
    table_rules = {r.name for r in compile_contract(contract).table_rules}
    assert report.failed_rows == (0 if rule in table_rules else violation.expected)
    assert set(report.sample.get("failed_rule", [])) == set(report.by_rule) - table_rules


def _column_retyped(column: pa.Column) -> str:
    """A DuckDB type of another logical class than the column's, with a cast that keeps the rows."""
    return {"TEXT": "INTEGER USING length({c})"}.get(_logical_name(column), "VARCHAR")


@pytest.mark.parametrize("table, column", ALL_COLUMNS)
def test_a_column_of_the_wrong_type_is_one_failure(table, column):
    contract = CONTRACTS[table]
    schema_column = contract.schema.columns[column]
    with _warehouse() as conn:
        conn.execute(f"ALTER TABLE {table} ALTER {column} TYPE {_column_retyped(schema_column).format(c=column)}")
        report, _, pandas_counts = _both(conn, contract)
    # Only the dtype rule is compared: other rules on a column of the wrong type mean nothing either
    # way (pandas compares text with numbers and finds no match; DuckDB casts first, or cannot).
    rule = f"{column}:dtype('{schema_column.dtype}')"
    assert report.by_rule[rule] == 1
    assert pandas_counts[rule] == 1


@pytest.mark.parametrize("table, column", ALL_COLUMNS)
def test_a_missing_column_is_one_failure(table, column):
    contract = CONTRACTS[table]
    with _warehouse() as conn:
        conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        report, sql_counts, pandas_counts = _both(conn, contract)
    if contract.schema.columns[column].required:
        assert report.by_rule[f"{column}:column_in_dataframe"] == 1
    # Pandera checks a compound key without its missing column, so rows that share the rest of the
    # key count as duplicates; the SQL check judges no key it cannot see whole.
    partial_keys = {unique_rule(list(k)) for k in compile_contract(contract).keys if column in k and len(k) > 1}
    assert sql_counts == {r: n for r, n in pandas_counts.items() if r not in partial_keys}


@pytest.mark.parametrize("table", [t for t, c in CONTRACTS.items() if c.schema.strict])
def test_an_extra_column_of_a_strict_table_is_one_failure(table):
    with _warehouse(f"ALTER TABLE {table} ADD COLUMN note VARCHAR") as conn:
        report, sql_counts, pandas_counts = _both(conn, CONTRACTS[table])
    assert sql_counts == pandas_counts == {"note:column_in_schema": 1}
    assert report.failed_rows == 0


# Values that probe the corners where SQL and pandas part: NULL and NaN, blanks of every kind,
# Unicode digits and spaces, a newline before the end (Python's `$`), bounds and leap days.
EDGE_VALUES = {
    "TEXT": [
        "NULL", "''", "' '", "chr(9) || 'x'", "'x' || chr(10)", "chr(160) || 'present'", "' Late ' || chr(11)",
        "'PRESENT'", "'holiday'", "'2025-02-29'", "'2024-02-29'", "'0000-02-29'", "'1900-02-29'",
        "' 2025-09-01' || chr(12)", "chr(160) || '2025-09-01'", "'٢٠٢٥-09-01'", "'2025-9-1'", "'D1' || chr(10)",
        "'-D1'", "'D1' || chr(10) || chr(10)", "'attendance.csv' || chr(10)", "'assessments.jsonl'", "'1e5'", "'1e999'", "'-1e400'",
        "' +.5 '", "'5.'", "'.'", "'nan'", "'١٢'", "chr(160) || '12'", "'12' || chr(28)", "'2025/26'",
        "'2025/2'", "'bad_score'", "'bad_status'", "'attendance'", "'assessments'",
    ],
    "INT": ["NULL", "-1", "0", "1", "2", "6", "7", "8", "12", "13", "31", "1899", "1900", "2200", "2201"],
    "FLOAT": ["NULL", "'NaN'", "'inf'", "0", "1e-10", "0.5", "0.79", "0.8", "1", "1.5", "-1", "20", "47.5", "100", "100.5"],
    "DATE": ["NULL", "'2025-08-31'", "'2025-09-01'", "'2025-09-06'", "'2025-09-07'", "'1899-12-31'", "'2200-01-01'"],
    "BOOL": ["NULL", "true", "false"],
    "TIMESTAMPTZ": ["NULL", "'2025-09-11 08:00:00+00'"],
}


def _random_rows(conn: duckdb.DuckDBPyConnection, table: str, rng: random.Random, rows: int) -> str:
    """INSERT of `rows` rows: each a random good row with a fifth of its values swapped for edge values."""
    described = conn.execute(f"SELECT column_name, column_type FROM (DESCRIBE {table})").fetchall()
    good = conn.execute(f"SELECT * FROM {table}").fetchall()
    values = []
    for _ in range(rows):
        base = rng.choice(good)
        cells = []
        for (name, duck_type), value in zip(described, base):
            if rng.random() < 0.2:
                cells.append(f"CAST({rng.choice(EDGE_VALUES[logical_type(duck_type)])} AS {duck_type})")
            else:
                cells.append("NULL" if value is None else f"CAST('{str(value).replace(chr(39), chr(39) * 2)}' AS {duck_type})")
        values.append("(" + ", ".join(cells) + ")")
    return f"INSERT INTO {table} VALUES " + ", ".join(values)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("table", list(CONTRACTS))
def test_random_tables_count_as_pandera_counts(table, seed):
    """Crafted cases miss corners (a NULL on a weekday, NaN in a ratio): random tables find them."""
    contract = CONTRACTS[table]
    with _warehouse() as conn:
        conn.execute(_random_rows(conn, table, random.Random(f"{table}/{seed}"), rows=80))
        report, sql_counts, pandas_counts = _both(conn, contract)
    assert report.failed_rows > 0  # the test says nothing if nothing fails
    assert sql_counts == pandas_counts


# --- The pieces of the translation --------------------------------------------------------------

TRICKY_TEXT = [
    "", "D1", "D1\n", "D1\n\n", "D1\r\n", "\nD1", "-D1", "a" * 64, "a" * 65, "12", " 12 ", "\t12\v", "12\x1c",
    "\xa012", "\u2028", "١٢", "٣.5", "1e5", "+.5", "5.", ".", "nan", "2025/26", "2025/26\n", "attendance.csv",
    "attendance.csv\n", "attendance_x.CSV", "assessments.jsonl", "assessments.json\n", "é", "x\ny",
]
PATTERNS = sorted(
    {
        check.statistics["pattern"]
        for contract in CONTRACTS.values()
        for column in contract.schema.columns.values()
        for check in column.checks
        if check.registry_name == "str_matches"
    }
    | {r"\d+$", r"a.c", r"[\s,]+x", r"\S+", r"x\Z", r"(?:a|b)$", r"D1$|x", r"\D", r"[\d.]+$", r"\u00e9", r"[]a]"}
)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_regex_translation_matches_what_python_matches(pattern):
    """str_matches is re.match; its SQL form must accept exactly the same strings."""
    re2 = "^(?:" + re2_pattern(pattern) + ")"
    with duckdb.connect() as conn:
        got = conn.execute("SELECT s, regexp_matches(s, ?) FROM unnest(?::VARCHAR[]) t(s)", [re2, TRICKY_TEXT]).fetchall()
    assert {s: matched for s, matched in got} == {s: re.match(pattern, s) is not None for s in TRICKY_TEXT}


@pytest.mark.parametrize("pattern", [r"\w+", r"\bx", r"(a)\1", r"(?=a)", r"(?i)a", r"a$b", r"[\S]"])
def test_a_regex_without_a_faithful_translation_is_refused(pattern):
    with pytest.raises(NotImplementedError):
        re2_pattern(pattern)


def test_calendar_dates_agree_with_silver():
    """valid_date's pandas form (arithmetic) and its SQL form (silver's strptime) on every corner."""
    days = [f"{y}-{m:02d}-{d:02d}" for y in ("0000", "1500", "1900", "2000", "2024", "2025", "9999")
            for m in range(0, 14) for d in (0, 1, 28, 29, 30, 31, 32)]
    texts = [*days, " 2025-09-01\t", "\xa02025-09-01", "2025-9-01", "2025-09-01x", "", None]
    frame = pd.DataFrame({"session_date": pd.array(texts, dtype=object)})
    with duckdb.connect() as conn:
        conn.execute("CREATE TABLE t (session_date VARCHAR)")
        conn.executemany("INSERT INTO t VALUES (?)", [[t] for t in texts])
        [rule] = [r for r in compile_contract(CONTRACTS["bronze.attendance"]).row_rules if r.name == "session_date:valid_date"]
        sql = dict(conn.execute(f"SELECT rowid, coalesce({rule.valid}, false) FROM t").fetchall())
    pandas = _is_calendar_date(frame["session_date"]).fillna(False)
    pandas[frame["session_date"].isna()] = True  # ignore_na, as the rule's SQL form has it
    assert [sql[i] for i in range(len(texts))] == list(pandas)
    # A year has 12 months with days 1 and 28, 11 with 29 and 30 (February aside), 7 with 31: 53 days,
    # and 0000, 2000, 2024 have a 29 February (1500 and 1900 do not); then the tab-padded day and NULL.
    assert sum(pandas) == 7 * 53 + 3 + 1 + 1


def test_duckdb_types_class_as_frame_from_arrow_makes_them():
    """`logical_type` (SQL) and `frame_from_arrow` + Pandera (pandas) agree on every type the warehouse has."""
    types = {
        "VARCHAR": "TEXT", "TINYINT": "INT", "SMALLINT": "INT", "INTEGER": "INT", "BIGINT": "INT", "HUGEINT": "INT",
        "UINTEGER": "INT", "DECIMAL(38,0)": "INT", "DECIMAL(18,3)": "FLOAT", "FLOAT": "FLOAT", "DOUBLE": "FLOAT",
        "BOOLEAN": "BOOL", "DATE": "DATE", "TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ",
    }
    with duckdb.connect() as conn:
        conn.execute("CREATE TABLE t (" + ", ".join(f'"{t}" {t}' for t in types) + ")")
        described = dict(conn.execute("SELECT column_name, column_type FROM (DESCRIBE t)").fetchall())
        frame = frame_from_arrow(conn.sql("SELECT * FROM t").to_arrow_table())
    for duck_type, logical in types.items():
        assert logical_type(described[duck_type]) == logical, duck_type
        accepted = {
            name for name, dtype in LOGICAL_DTYPES.items()
            if pandas_engine.Engine.dtype(dtype).check(pandas_engine.Engine.dtype(frame[duck_type].dtype))
        }
        assert accepted == {logical}, duck_type
    for other in ("TIMESTAMP", "BLOB", "INTEGER[]", "TIME", "UUID"):
        assert logical_type(other) is None


def test_schema_failures_name_each_column_once():
    contract = CONTRACTS["gold.delivery_quality"]
    types = {"delivery_code": "VARCHAR", "source": "INTEGER", "row_count": "DECIMAL(38,0)", "extra": "VARCHAR"}
    assert schema_failures(contract, types) == {
        "source:dtype('str')": "INTEGER",
        "outcome:column_in_dataframe": "outcome",
        "extra:column_in_schema": "extra",
    }


def test_a_check_without_sql_is_refused():
    schema = pa.DataFrameSchema({"x": pa.Column(str, pa.Check(lambda s: s.str.len() > 1, name="long"))}, name="t.x")
    with pytest.raises(NotImplementedError, match="long"):
        compile_contract(TableContract(table="t.x", schema=schema))
    frame_rule = pa.DataFrameSchema({"x": pa.Column(str)}, checks=[pa.Check(lambda df: df["x"] != "", name="f")])
    with pytest.raises(NotImplementedError, match="f"):
        compile_contract(TableContract(table="t.x", schema=frame_rule))


def test_nan_is_missing_as_pandas_has_it():
    contract = CONTRACTS["gold.student_performance_summary"]
    with _warehouse(
        # S1: a NaN rate where the rate is due; S3: a NaN average where none is due.
        "UPDATE gold.student_performance_summary SET attendance_rate = 'NaN' WHERE student_id = 'S1'",
        "UPDATE gold.student_performance_summary SET avg_score_pct = 'NaN' WHERE student_id = 'S3'",
    ) as conn:
        report, sql_counts, pandas_counts = _both(conn, contract)
    assert sql_counts == pandas_counts == {"attendance_rate=present/(present+absent)": 1}


def test_where_restricts_row_rules_but_not_keys():
    contract = CONTRACTS["silver.fact_attendance"]
    with _warehouse(
        "UPDATE silver.fact_attendance SET status = 'holiday', is_present = false WHERE attendance_id IN ('A1', 'A4')",
        # A5 takes A1's id: both rows are duplicates, wherever the changed rows are.
        "UPDATE silver.fact_attendance SET attendance_id = 'A1' WHERE attendance_id = 'A5'",
    ) as conn:
        whole = validate_table(conn, contract)
        changed = validate_table(conn, contract, where="session_date = DATE '2025-09-09'")
    status_rule = "status:isin(('present', 'late', 'absent', 'excused'))"
    assert whole.by_rule == {status_rule: 2, "attendance_id:field_uniqueness": 2}
    assert (whole.rows_checked, whole.failed_rows) == (5, 3)
    # Only A2 and A4 are on 2025-09-09: A4's status counts, A1's does not; the key is judged over all rows.
    assert changed.by_rule == {status_rule: 1, "attendance_id:field_uniqueness": 2}
    assert (changed.rows_checked, changed.failed_rows) == (2, 3)
    assert set(changed.sample["failed_rule"]) == set(changed.by_rule)
