"""The bronze contracts: the deliveries and the SIS tables as dlt loaded them.

Values stay as received, so the value rules here describe what silver will
accept. They fail on bad deliveries by design; the bronze checks only warn.
The SIS column groups are shared with the silver dimensions, which keep them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

from eduwh_assets.quality.contracts.columns import SQL_WHITESPACE, lineage_columns, not_blank, text_column
from eduwh_assets.quality.contracts.custom_checks import column_check, sql_list
from eduwh_assets.quality.contracts.dtypes import DATE, TIMESTAMPTZ
from eduwh_assets.rules import ATTENDANCE_STATUSES, DATE_TEXT, ENROLMENT_STATUSES, NUMBER_TEXT, WHITESPACE


def _is_calendar_date(series: pd.Series) -> pd.Series:
    """YYYY-MM-DD (after trimming) naming a real calendar day, as silver judges it.

    The day is checked by arithmetic rather than pd.to_datetime, whose nanosecond
    range (1677..2262) would reject days that silver's strptime accepts (0000..9999,
    proleptic Gregorian, so year 0 is a leap year).
    """
    text = series.str.strip(WHITESPACE)
    shaped = text.str.fullmatch(DATE_TEXT).fillna(False).astype(bool)
    parts = text.where(shaped)
    year, month, day = (pd.to_numeric(parts.str.slice(a, b)) for a, b in ((0, 4), (5, 7), (8, 10)))
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days_in_month = month.map({1: 31, 2: 28, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31})
    days_in_month = days_in_month + (leap & (month == 2)).astype("int64")
    return shaped & (day >= 1) & (day <= days_in_month)


_DATE_TEXT = column_check(
    "valid_date",
    _is_calendar_date,
    # The `parse_iso_date` dbt macro, which decides bad_date in silver.
    f"regexp_full_match(trim({{column}}, {SQL_WHITESPACE}), '{DATE_TEXT}') "
    f"AND try_strptime(trim({{column}}, {SQL_WHITESPACE}), '%Y-%m-%d') IS NOT NULL",
)


def _is_finite_number(series: pd.Series) -> pd.Series:
    """A finite decimal literal after trimming, as silver's `parse_number` judges it: `1e999` is not."""
    text = series.str.strip(WHITESPACE)
    shaped = text.str.fullmatch(NUMBER_TEXT).fillna(False).astype(bool)
    value = pd.to_numeric(text.where(shaped), errors="coerce")
    return shaped & np.isfinite(value.astype("float64"))


_NUMBER_TEXT = column_check(
    "valid_number",
    _is_finite_number,
    f"regexp_full_match(trim({{column}}, {SQL_WHITESPACE}), '{NUMBER_TEXT}') "
    f"AND isfinite(try_cast(trim({{column}}, {SQL_WHITESPACE}) AS DOUBLE))",
)


def _status_text() -> pa.Check:
    return column_check(
        "status_after_trim",
        lambda s: s.str.strip(WHITESPACE).str.lower().isin(ATTENDANCE_STATUSES),
        f"lower(trim({{column}}, {SQL_WHITESPACE})) IN {sql_list(ATTENDANCE_STATUSES)}",
    )


BRONZE_ATTENDANCE = pa.DataFrameSchema(
    {
        "attendance_id": text_column(checks=[not_blank()]),
        "student_id": text_column(checks=[not_blank()]),
        "session_date": text_column(checks=[_DATE_TEXT]),
        "status": text_column(checks=[_status_text()]),
        **lineage_columns("attendance"),
        "_ingested_at": pa.Column(TIMESTAMPTZ, nullable=False),
        "_dlt_load_id": text_column(False),
    },
    unique=["delivery_code", "_source_file", "_source_row"],
    name="bronze.attendance",
)

BRONZE_ASSESSMENTS = pa.DataFrameSchema(
    {
        "assessment_id": text_column(checks=[not_blank()]),
        "student_id": text_column(checks=[not_blank()]),
        "subject": text_column(),
        "score": text_column(checks=[_NUMBER_TEXT]),
        "max_score": text_column(checks=[_NUMBER_TEXT]),
        "assessed_on": text_column(checks=[_DATE_TEXT]),
        **lineage_columns("assessments"),
        "_ingested_at": pa.Column(TIMESTAMPTZ, nullable=False),
        "_dlt_load_id": text_column(False),
    },
    unique=["delivery_code", "_source_file", "_source_row"],
    name="bronze.assessments",
)

# The SIS columns silver's dimensions keep unchanged, with the same rules.
SIS_PROGRAMME_COLUMNS = {
    "programme_code": text_column(False, [not_blank()], unique=True),
    "programme_name": text_column(),
    "faculty": text_column(),
    "level": text_column(),
}
SIS_CLASS_COLUMNS = {
    "class_id": text_column(False, [not_blank()], unique=True),
    "class_name": text_column(),
    "programme_code": text_column(),
    "academic_year": text_column(),
}
# All but enrolment_status, which silver requires and bronze does not.
SIS_STUDENT_COLUMNS = {
    "student_id": text_column(False, [not_blank()], unique=True),
    "first_name": text_column(),
    "last_name": text_column(),
    "email": text_column(),
    "date_of_birth": pa.Column(DATE, nullable=True),
    "gender": text_column(),
    "class_id": text_column(),
}

_DLT_COLUMNS = {"_dlt_load_id": text_column(False), "_dlt_id": text_column(False, unique=True)}

BRONZE_SIS_PROGRAMMES = pa.DataFrameSchema(
    {
        **SIS_PROGRAMME_COLUMNS,
        "updated_at": pa.Column(TIMESTAMPTZ, nullable=False),
        **_DLT_COLUMNS,
    },
    name="bronze.sis_programmes",
)

BRONZE_SIS_CLASSES = pa.DataFrameSchema(
    {
        **SIS_CLASS_COLUMNS,
        "updated_at": pa.Column(TIMESTAMPTZ, nullable=False),
        **_DLT_COLUMNS,
    },
    name="bronze.sis_classes",
)

BRONZE_SIS_STUDENTS = pa.DataFrameSchema(
    {
        **SIS_STUDENT_COLUMNS,
        "enrolment_status": text_column(checks=[pa.Check.isin(ENROLMENT_STATUSES)]),
        "updated_at": pa.Column(TIMESTAMPTZ, nullable=False),
        **_DLT_COLUMNS,
    },
    name="bronze.sis_students",
)
