"""The gold contracts of the performance marts, the risk features and the delivery quality mart.

No gold mart carries names, emails or dates of birth (SPEC §4). The absence
marts are in `gold_absence.py`.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from eduwh_assets.quality.contracts.columns import (
    DELIVERY_CODE_REGEX,
    count_column,
    not_blank,
    pct_column,
    rate_column,
    text_column,
)
from eduwh_assets.quality.contracts.custom_checks import (
    TOLERANCE,
    frame_check,
    rate_matches,
    rate_matches_sql,
    sql_list,
    table_check,
)
from eduwh_assets.quality.contracts.dtypes import BOOL, DATE, INT
from eduwh_assets.rules import (
    AT_RISK_ATTENDANCE_BELOW,
    AT_RISK_FAILED_ASSESSMENTS,
    ENROLMENT_STATUSES,
    OUTCOMES,
    REASONS_BY_SOURCE,
    REJECT_REASONS,
    SOURCES,
)

# SPEC §4: gold marts carry no names, emails or dates of birth.
PII_COLUMNS = ("first_name", "last_name", "email", "date_of_birth")


def _no_pii(df: pd.DataFrame) -> bool:
    return not any(c in df.columns for c in PII_COLUMNS)


_NO_PII_SQL = f"SELECT count(*) = 0 FROM (DESCRIBE SELECT * FROM {{table}}) WHERE column_name IN {sql_list(PII_COLUMNS)}"


def _attendance_parts_sum(df: pd.DataFrame) -> pd.Series:
    total = df["present_days"] + df["absent_days"] + df["excused_days"]
    return (total == df["total_attendance_records"]).fillna(False).astype(bool)


def _summary_rate(df: pd.DataFrame) -> pd.Series:
    return rate_matches(df["attendance_rate"], df["present_days"], df["present_days"] + df["absent_days"])


def _score_order(df: pd.DataFrame) -> pd.Series:
    lo, avg, hi = df["min_score_pct"], df["avg_score_pct"], df["max_score_pct"]
    all_null = lo.isna() & avg.isna() & hi.isna()
    ordered = ((lo <= avg + TOLERANCE) & (avg <= hi + TOLERANCE)).fillna(False)
    return (ordered | all_null).astype(bool)


def _scores_null_iff_none(df: pd.DataFrame) -> pd.Series:
    none = df["total_assessments"].fillna(0) == 0
    return (none == df["avg_score_pct"].isna()).astype(bool)


GOLD_STUDENT_PERFORMANCE_SUMMARY = pa.DataFrameSchema(
    {
        "student_id": text_column(False, [not_blank()], unique=True),
        "class_id": text_column(),
        "programme_code": text_column(),
        "enrolment_status": text_column(False, [pa.Check.isin(ENROLMENT_STATUSES)]),
        "total_attendance_records": count_column(),
        "present_days": count_column(),
        "absent_days": count_column(),
        "excused_days": count_column(),
        "attendance_rate": rate_column(),
        "total_assessments": count_column(),
        "avg_score_pct": pct_column(),
        "min_score_pct": pct_column(),
        "max_score_pct": pct_column(),
    },
    checks=[
        frame_check(
            "present+absent+excused=total_attendance_records",
            _attendance_parts_sum,
            "present_days + absent_days + excused_days = total_attendance_records",
        ),
        frame_check(
            "attendance_rate=present/(present+absent)",
            _summary_rate,
            rate_matches_sql("attendance_rate", "present_days", "present_days + absent_days"),
        ),
        frame_check(
            "min<=avg<=max_score_pct",
            _score_order,
            "(min_score_pct IS NULL AND avg_score_pct IS NULL AND max_score_pct IS NULL) "
            f"OR (min_score_pct <= avg_score_pct + {TOLERANCE!r} AND avg_score_pct <= max_score_pct + {TOLERANCE!r})",
        ),
        frame_check(
            "score_pct_null_iff_no_assessments",
            _scores_null_iff_none,
            "(coalesce(total_assessments, 0) = 0) = (avg_score_pct IS NULL)",
        ),
    ],
    strict=True,
    name="gold.student_performance_summary",
)


def _daily_rate(df: pd.DataFrame) -> pd.Series:
    return rate_matches(df["attendance_rate"], df["present_count"], df["present_count"] + df["absent_count"])


def _students_le_rows(df: pd.DataFrame) -> pd.Series:
    rows = df["present_count"] + df["absent_count"] + df["excused_count"]
    return (df["students_with_attendance"] <= rows).fillna(False).astype(bool)


def _assessed_le_assessments(df: pd.DataFrame) -> pd.Series:
    return (df["students_with_assessment"] <= df["assessment_count"]).fillna(False).astype(bool)


def _daily_activity(df: pd.DataFrame) -> pd.Series:
    # A row exists only for a day with at least one valid attendance or assessment row.
    rows = df["present_count"] + df["absent_count"] + df["excused_count"] + df["assessment_count"]
    return (rows > 0).fillna(False).astype(bool)


def _daily_avg_null_iff_none(df: pd.DataFrame) -> pd.Series:
    none = df["assessment_count"].fillna(0) == 0
    return (none == df["avg_score_pct"].isna()).astype(bool)


GOLD_CLASS_DAILY_PERFORMANCE = pa.DataFrameSchema(
    {
        "class_id": text_column(False),
        "activity_date": pa.Column(DATE, nullable=False),
        "total_students": count_column(),
        "students_with_attendance": count_column(),
        "present_count": count_column(),
        "absent_count": count_column(),
        "excused_count": count_column(),
        "attendance_rate": rate_column(),
        "students_with_assessment": count_column(),
        "assessment_count": count_column(),
        "avg_score_pct": pct_column(),
    },
    checks=[
        frame_check(
            "attendance_rate=present/(present+absent)",
            _daily_rate,
            rate_matches_sql("attendance_rate", "present_count", "present_count + absent_count"),
        ),
        frame_check(
            "students_with_attendance<=attendance_rows",
            _students_le_rows,
            "students_with_attendance <= present_count + absent_count + excused_count",
        ),
        frame_check(
            "students_with_assessment<=assessment_count",
            _assessed_le_assessments,
            "students_with_assessment <= assessment_count",
        ),
        frame_check(
            "row_has_activity",
            _daily_activity,
            "present_count + absent_count + excused_count + assessment_count > 0",
        ),
        frame_check(
            "avg_score_pct_null_iff_no_assessments",
            _daily_avg_null_iff_none,
            "(coalesce(assessment_count, 0) = 0) = (avg_score_pct IS NULL)",
        ),
    ],
    unique=["class_id", "activity_date"],
    strict=True,
    name="gold.class_daily_performance",
)


def _at_risk_definition(df: pd.DataFrame) -> pd.Series:
    low_attendance = (df["attendance_rate_28d"] < AT_RISK_ATTENDANCE_BELOW).fillna(False)
    failing = (df["failed_assessments"] >= AT_RISK_FAILED_ASSESSMENTS).fillna(False)
    return (df["at_risk"] == (low_attendance | failing)).fillna(False).astype(bool)


GOLD_STUDENT_RISK_FEATURES = pa.DataFrameSchema(
    {
        "student_id": text_column(False, [not_blank()], unique=True),
        "as_of_date": pa.Column(DATE, nullable=True, required=False),
        "attendance_rate_28d": rate_column(),
        "days_since_last_present": pa.Column(INT, pa.Check.ge(0), nullable=True),
        "failed_assessments": count_column(),
        "at_risk": pa.Column(BOOL, nullable=False),
    },
    checks=[
        frame_check(
            f"at_risk=(attendance_rate_28d<{AT_RISK_ATTENDANCE_BELOW} or failed_assessments>={AT_RISK_FAILED_ASSESSMENTS})",
            _at_risk_definition,
            f"at_risk = (coalesce(attendance_rate_28d < {AT_RISK_ATTENDANCE_BELOW!r}::DOUBLE, false) "
            f"OR coalesce(failed_assessments >= {AT_RISK_FAILED_ASSESSMENTS}, false))",
        ),
        # The spec fixes only some columns of this mart, so it is not strict; it still may not carry PII.
        table_check("no_pii_columns", _no_pii, _NO_PII_SQL),
    ],
    strict=False,
    name="gold.student_risk_features",
)


# (source, outcome) pairs that cannot occur: a reason is judged only on some sources (bad_status on
# attendance, bad_score on assessments).
_IMPOSSIBLE_OUTCOMES = tuple(
    (source, reason) for source in SOURCES for reason in REJECT_REASONS if reason not in REASONS_BY_SOURCE[source]
)


def _reason_fits_source(df: pd.DataFrame) -> pd.Series:
    ok = pd.Series(True, index=df.index)
    for source, outcome in _IMPOSSIBLE_OUTCOMES:
        ok &= ~((df["source"] == source) & (df["outcome"] == outcome))
    return ok.astype(bool)


# A NULL source or outcome is no impossible pair, as None == "x" is False in pandas.
_REASON_FITS_SOURCE_SQL = "NOT (" + " OR ".join(
    f"coalesce(source = '{source}' AND outcome = '{outcome}', false)" for source, outcome in _IMPOSSIBLE_OUTCOMES
) + ")"


GOLD_DELIVERY_QUALITY = pa.DataFrameSchema(
    {
        "delivery_code": text_column(False, [pa.Check.str_matches(DELIVERY_CODE_REGEX)]),
        "source": text_column(False, [pa.Check.isin(SOURCES)]),
        "outcome": text_column(False, [pa.Check.isin(OUTCOMES)]),
        # Only outcomes that occur get a row, so a count is at least 1.
        "row_count": pa.Column(INT, pa.Check.ge(1), nullable=False),
    },
    checks=[frame_check("outcome_possible_for_source", _reason_fits_source, _REASON_FITS_SOURCE_SQL)],
    unique=["delivery_code", "source", "outcome"],
    strict=True,
    name="gold.delivery_quality",
)
