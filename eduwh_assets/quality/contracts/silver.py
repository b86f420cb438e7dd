"""The silver contracts: the dimensions and the facts of the star schema."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from eduwh_assets.quality.contracts.bronze import SIS_CLASS_COLUMNS, SIS_PROGRAMME_COLUMNS, SIS_STUDENT_COLUMNS
from eduwh_assets.quality.contracts.columns import (
    ACADEMIC_YEAR_TEXT,
    DELIVERY_CODE_REGEX,
    not_blank,
    pct_column,
    text_column,
)
from eduwh_assets.quality.contracts.custom_checks import TOLERANCE, frame_check, sql_list
from eduwh_assets.quality.contracts.dtypes import BOOL, DATE, FLOAT, INT
from eduwh_assets.rules import ATTENDANCE_STATUSES, ENROLMENT_STATUSES, PRESENT_STATUSES

SILVER_DIM_PROGRAMME = pa.DataFrameSchema(SIS_PROGRAMME_COLUMNS, name="silver.dim_programme")

SILVER_DIM_CLASS = pa.DataFrameSchema(SIS_CLASS_COLUMNS, name="silver.dim_class")

SILVER_DIM_STUDENT = pa.DataFrameSchema(
    {
        **SIS_STUDENT_COLUMNS,
        "enrolment_status": text_column(False, [pa.Check.isin(ENROLMENT_STATUSES)]),
    },
    name="silver.dim_student",
)


def _dim_date_parts(df: pd.DataFrame) -> pd.Series:
    day = df["date_day"]
    return (
        (df["year"] == day.dt.year)
        & (df["month"] == day.dt.month)
        & (df["day_of_month"] == day.dt.day)
        & (df["day_of_week"] == day.dt.dayofweek + 1)
    ).fillna(False).astype(bool)


def _dim_date_weekend(df: pd.DataFrame) -> pd.Series:
    return (df["is_weekend"] == df["day_of_week"].isin([6, 7])).fillna(False).astype(bool)


def _dim_date_academic_year(df: pd.DataFrame) -> pd.Series:
    # A year starts on 1 September: 2025-09-01 .. 2026-08-31 is "2025/26".
    day = df["date_day"]
    # Nullable integers: one missing date_day must not turn every year into "2025.0".
    start = (day.dt.year - (day.dt.month < 9)).astype("Int64")
    expected = start.astype("string") + "/" + ((start + 1) % 100).astype("string").str.zfill(2)
    return (df["academic_year"] == expected).fillna(False).astype(bool)


_ACADEMIC_YEAR_START = "(year(date_day) - (month(date_day) < 9)::INT)"


SILVER_DIM_DATE = pa.DataFrameSchema(
    {
        "date_day": pa.Column(DATE, nullable=False, unique=True),
        "year": pa.Column(INT, pa.Check.in_range(1900, 2200), nullable=False),
        "month": pa.Column(INT, pa.Check.in_range(1, 12), nullable=False),
        "day_of_month": pa.Column(INT, pa.Check.in_range(1, 31), nullable=False),
        "day_of_week": pa.Column(INT, pa.Check.in_range(1, 7), nullable=False),
        "day_name": text_column(False),
        "is_weekend": pa.Column(BOOL, nullable=False),
        "academic_year": text_column(False, [ACADEMIC_YEAR_TEXT]),
    },
    checks=[
        frame_check(
            "date_parts_match_date_day",
            _dim_date_parts,
            "year = year(date_day) AND month = month(date_day) AND day_of_month = day(date_day) "
            "AND day_of_week = isodow(date_day)",
        ),
        # pandas' isin is never NA, so an unknown day_of_week counts as a weekday.
        frame_check(
            "is_weekend_matches_day_of_week",
            _dim_date_weekend,
            "is_weekend = coalesce(day_of_week IN (6, 7), false)",
        ),
        frame_check(
            "academic_year_starts_1_september",
            _dim_date_academic_year,
            f"academic_year = format('{{}}/{{:02d}}', {_ACADEMIC_YEAR_START}, ({_ACADEMIC_YEAR_START} + 1) % 100)",
        ),
    ],
    name="silver.dim_date",
)


def _is_present_matches_status(df: pd.DataFrame) -> pd.Series:
    return (df["is_present"] == df["status"].isin(PRESENT_STATUSES)).fillna(False).astype(bool)


SILVER_FACT_ATTENDANCE = pa.DataFrameSchema(
    {
        "attendance_id": text_column(False, [not_blank()], unique=True),
        "student_id": text_column(False, [not_blank()]),
        "class_id": text_column(),
        "session_date": pa.Column(DATE, nullable=False),
        "status": text_column(False, [pa.Check.isin(ATTENDANCE_STATUSES)]),
        "is_present": pa.Column(BOOL, nullable=False),
        "delivery_code": text_column(False, [pa.Check.str_matches(DELIVERY_CODE_REGEX)]),
        "_source_file": text_column(False),
    },
    checks=[
        frame_check(
            "is_present_iff_present_or_late",
            _is_present_matches_status,
            f"is_present = coalesce(status IN {sql_list(PRESENT_STATUSES)}, false)",
        )
    ],
    name="silver.fact_attendance",
)


def _score_within_max(df: pd.DataFrame) -> pd.Series:
    return (df["score"] <= df["max_score"]).fillna(False).astype(bool)


def _score_pct_matches(df: pd.DataFrame) -> pd.Series:
    expected = 100.0 * df["score"] / df["max_score"]
    return ((df["score_pct"] - expected).abs() <= TOLERANCE * 100).fillna(False).astype(bool)


SILVER_FACT_ASSESSMENT = pa.DataFrameSchema(
    {
        "assessment_id": text_column(False, [not_blank()], unique=True),
        "student_id": text_column(False, [not_blank()]),
        "class_id": text_column(),
        "subject": text_column(),
        "score": pa.Column(FLOAT, pa.Check.ge(0), nullable=False),
        "max_score": pa.Column(FLOAT, pa.Check.gt(0), nullable=False),
        "score_pct": pct_column(nullable=False),
        "assessed_on": pa.Column(DATE, nullable=False),
        "delivery_code": text_column(False, [pa.Check.str_matches(DELIVERY_CODE_REGEX)]),
        "_source_file": text_column(False),
    },
    checks=[
        frame_check("score_le_max_score", _score_within_max, "score <= max_score"),
        frame_check(
            "score_pct_eq_100_score_over_max",
            _score_pct_matches,
            f"abs(score_pct - 100.0::DOUBLE * score / max_score) <= {TOLERANCE * 100!r}",
        ),
    ],
    name="silver.fact_assessment",
)
