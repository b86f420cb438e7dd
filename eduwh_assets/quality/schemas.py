"""Pandera schemas for every warehouse table: the contracts of SPEC §4 and docs/architecture.md.

One module holds them all, so a column rule lives in exactly one place. Each
table has a `TableContract`: its Pandera schema (dtypes, allowed values, ranges,
key uniqueness, cross-column rules) plus the foreign keys, which Pandera cannot
express because they span tables.

The dtypes are the pandas dtypes a table has after `frame_from_arrow` has read
it from DuckDB: every integer width becomes nullable `Int64`, every float or
decimal becomes `float64`, booleans become nullable `boolean`, dates
`datetime64[ms]` and timestamps with a zone `datetime64[us, UTC]`. That keeps
the schemas about what a value is rather than which integer width dbt chose;
`logical_type` names the same classes for DuckDB's column types.

The warehouse checks run these schemas as DuckDB SQL (`checks.py` translates
them), never through pandas. Pandera's built-in checks translate from their
name and statistics; a custom check cannot be read, so it is built with
`_column_check`, `_frame_check` or `_table_check`, which keep its SQL form in
the Check's statistics beside the pandas function. The pandas form is the
reference: the tests hold the two to the same failure counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
from dagster import AssetKey

from eduwh_assets.rules import (
    ABSENCE_BANDS,
    ABSENCE_MIN_SESSIONS,
    AT_RISK_ATTENDANCE_BELOW,
    AT_RISK_FAILED_ASSESSMENTS,
    ATTENDANCE_STATUSES,
    DATE_TEXT,
    ENROLMENT_STATUSES,
    NUMBER_TEXT,
    OUTCOMES,
    PERSISTENT_ABSENCE_THRESHOLD,
    PRESENT_STATUSES,
    REASONS_BY_SOURCE,
    REJECT_REASONS,
    SEVERE_ABSENCE_THRESHOLD,
    SOURCES,
    WHITESPACE,
)

# --- Formats -----------------------------------------------------------------------------------
# Statuses, reason codes, outcomes and thresholds are SPEC's codes: eduwh_assets/rules.py reads
# them from their one home in the dbt project.

DELIVERY_CODE_REGEX = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
SOURCE_FILE_REGEX = {
    "attendance": r"^attendance.*\.csv$",
    "assessments": r"^assessments.*\.jsonl?$",
}
# SPEC §4: gold marts carry no names, emails or dates of birth.
PII_COLUMNS = ("first_name", "last_name", "email", "date_of_birth")

# Floating point tolerance for recomputed ratios (rates, score_pct).
TOLERANCE = 1e-9

# Bronze rules say what silver will accept, so they trim the whitespace silver trims (rules.WHITESPACE),
# in pandas and SQL.
SQL_WHITESPACE = " || ".join(f"chr({ord(c)})" for c in WHITESPACE)
# The same set as an RE2 class. A regex is several times faster than trim(x, characters) in DuckDB.
RE2_WHITESPACE = "[" + "".join(f"\\x{{{ord(c):02X}}}" for c in WHITESPACE) + "]"

# Keys of a custom Check's statistics holding its SQL form (see `_column_check`, `_table_check`).
SQL_PREDICATE = "sql"
SQL_TABLE_QUERY = "sql_table"

# --- Logical dtypes, as frame_from_arrow produces them ----------------------------------------

TEXT = str
INT = "Int64"
FLOAT = "float64"
BOOL = "boolean"
DATE = "datetime64[ms]"
TIMESTAMPTZ = pd.DatetimeTZDtype(unit="us", tz="UTC")


def _normalise_type(dtype: pa_arrow.DataType) -> pa_arrow.DataType | None:
    """The arrow type a column is cast to before pandas, or None to keep it."""
    if pa_arrow.types.is_integer(dtype):
        return pa_arrow.int64()
    if pa_arrow.types.is_decimal(dtype):
        # DuckDB's SUM over integers is HUGEINT (decimal(38,0) in arrow): still a count.
        return pa_arrow.int64() if dtype.scale == 0 else pa_arrow.float64()
    if pa_arrow.types.is_floating(dtype):
        return pa_arrow.float64()
    if pa_arrow.types.is_date(dtype):
        return pa_arrow.date32()
    if pa_arrow.types.is_timestamp(dtype):
        return pa_arrow.timestamp("us", tz="UTC") if dtype.tz else pa_arrow.timestamp("us")
    if pa_arrow.types.is_large_string(dtype) or pa_arrow.types.is_string_view(dtype):
        return pa_arrow.string()
    return None


_PANDAS_TYPES = {pa_arrow.int64(): pd.Int64Dtype(), pa_arrow.bool_(): pd.BooleanDtype()}

# The logical dtypes by name, for `logical_type` and the dtype rule of the SQL checks.
LOGICAL_DTYPES = {"TEXT": TEXT, "INT": INT, "FLOAT": FLOAT, "BOOL": BOOL, "DATE": DATE, "TIMESTAMPTZ": TIMESTAMPTZ}

_DUCKDB_INTEGERS = {
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
}


def logical_type(duckdb_type: str) -> str | None:
    """The LOGICAL_DTYPES name a DuckDB column type has once read into pandas, or None for any other type.

    The DuckDB side of `_normalise_type`: the two must class every type alike
    (a test holds them to it), so a SQL check of column types judges a table
    as Pandera would judge the frame `frame_from_arrow` makes of it.
    """
    name = duckdb_type.upper()
    if name in _DUCKDB_INTEGERS:
        return "INT"
    if name.startswith("DECIMAL("):
        # SUM over integers is HUGEINT or DECIMAL(38,0): still a count.
        return "INT" if name.rstrip(")").split(",")[1].strip() == "0" else "FLOAT"
    return {
        "FLOAT": "FLOAT",
        "DOUBLE": "FLOAT",
        "BOOLEAN": "BOOL",
        "DATE": "DATE",
        "TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ",
        "VARCHAR": "TEXT",
    }.get(name)


def frame_from_arrow(data: pa_arrow.RecordBatch | pa_arrow.Table) -> pd.DataFrame:
    """A DuckDB result in the pandas dtypes the schemas expect (see the module docstring)."""
    table = pa_arrow.Table.from_batches([data]) if isinstance(data, pa_arrow.RecordBatch) else data
    target = [
        pa_arrow.field(f.name, _normalise_type(f.type) or f.type, nullable=True) for f in table.schema
    ]
    table = table.cast(pa_arrow.schema(target))
    return table.to_pandas(types_mapper=_PANDAS_TYPES.get, date_as_object=False)


# --- Contracts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForeignKey:
    column: str
    ref_table: str
    ref_column: str

    @property
    def rule(self) -> str:
        return f"{self.column}:foreign_key({self.ref_table}.{self.ref_column})"


@dataclass(frozen=True)
class TableContract:
    table: str  # "<schema>.<name>" in the warehouse
    schema: pa.DataFrameSchema
    foreign_keys: tuple[ForeignKey, ...] = ()

    @property
    def layer(self) -> str:
        return self.table.split(".", 1)[0]

    @property
    def asset_key(self) -> AssetKey:
        return AssetKey(self.table.split(".", 1))

    @property
    def unique_columns(self) -> list[str]:
        """Columns that are keys on their own (Column(unique=True))."""
        return [name for name, col in self.schema.columns.items() if col.unique]

    @property
    def compound_key(self) -> list[str] | None:
        """The compound key (DataFrameSchema(unique=[...])), if the table has one."""
        unique = self.schema.unique
        return list(unique) if unique else None


def unique_rule(columns: list[str]) -> str:
    """The rule name a uniqueness violation is reported under, for one column or a compound key."""
    if len(columns) == 1:
        return f"{columns[0]}:field_uniqueness"
    return f"unique({', '.join(columns)})"


# --- Custom checks: each with its pandas function and its SQL form, side by side ------------------
#
# A SQL form is a DuckDB predicate that is TRUE for a row meeting the rule; NULL or FALSE is a
# violation, as a pandas result of NA or False is. It sees NULL where pandas sees NaN.


def _column_check(name: str, fn, sql: str) -> pa.Check:
    """A rule on one column's values; `sql` names the column `{column}` (replaced, not str.format). Nulls pass."""
    return pa.Check(fn, name=name, statistics={SQL_PREDICATE: sql})


def _frame_check(name: str, fn, sql: str) -> pa.Check:
    """A dataframe-level (cross-column) rule. Nulls are handled inside `fn` and `sql`, never skipped silently."""
    return pa.Check(fn, name=name, error=name, ignore_na=False, statistics={SQL_PREDICATE: sql})


def _table_check(name: str, fn, sql: str) -> pa.Check:
    """A rule on the table as a whole; `sql` is a query of one boolean over the relation `{table}`."""
    return pa.Check(fn, name=name, error=name, statistics={SQL_TABLE_QUERY: sql})


def sql_list(values) -> str:
    """A parenthesised list of SQL string literals, for IN."""
    return "(" + ", ".join("'" + str(v).replace("'", "''") + "'" for v in values) + ")"


def _rate_matches(rate: pd.Series, numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """rate = numerator / denominator, and NULL exactly when the denominator is 0 (or unknown)."""
    num = numerator.astype("float64")
    den = denominator.astype("float64")
    has_den = den.fillna(0) > 0
    expected = num / den.where(has_den)
    close = (rate.astype("float64") - expected).abs() <= TOLERANCE
    return (has_den & close.fillna(False)) | (~has_den & rate.isna())


def _rate_matches_sql(rate: str, numerator: str, denominator: str) -> str:
    return (
        f"CASE WHEN coalesce({denominator}, 0) > 0 "
        f"THEN abs({rate} - ({numerator})::DOUBLE / ({denominator})) <= {TOLERANCE!r} "
        f"ELSE {rate} IS NULL END"
    )


def _no_pii(df: pd.DataFrame) -> bool:
    return not any(c in df.columns for c in PII_COLUMNS)


_NO_PII_SQL = f"SELECT count(*) = 0 FROM (DESCRIBE SELECT * FROM {{table}}) WHERE column_name IN {sql_list(PII_COLUMNS)}"


def _text(nullable: bool = True, checks: list[pa.Check] | None = None, **kw) -> pa.Column:
    return pa.Column(TEXT, checks=checks or [], nullable=nullable, **kw)


def _count(nullable: bool = False) -> pa.Column:
    return pa.Column(INT, pa.Check.ge(0), nullable=nullable)


def _rate(nullable: bool = True) -> pa.Column:
    return pa.Column(FLOAT, pa.Check.in_range(0, 1), nullable=nullable)


def _pct(nullable: bool = True) -> pa.Column:
    return pa.Column(FLOAT, pa.Check.in_range(0, 100), nullable=nullable)


def _not_blank() -> pa.Check:
    return _column_check(
        "not_blank",
        lambda s: s.str.strip(WHITESPACE).str.len() > 0,
        f"NOT regexp_full_match({{column}}, '{RE2_WHITESPACE}*')",
    )


def _lineage_columns(source: str) -> dict[str, pa.Column]:
    return {
        "delivery_code": _text(False, [pa.Check.str_matches(DELIVERY_CODE_REGEX)]),
        "_source_file": _text(False, [pa.Check.str_matches(SOURCE_FILE_REGEX[source])]),
        "_source_row": pa.Column(INT, pa.Check.ge(1), nullable=False),
    }


# bronze: values stay as received, so value rules here describe what silver will accept.
# They fail on bad deliveries by design; the bronze checks only warn.
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


_DATE_TEXT = _column_check(
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


_NUMBER_TEXT = _column_check(
    "valid_number",
    _is_finite_number,
    f"regexp_full_match(trim({{column}}, {SQL_WHITESPACE}), '{NUMBER_TEXT}') "
    f"AND isfinite(try_cast(trim({{column}}, {SQL_WHITESPACE}) AS DOUBLE))",
)


def _status_text() -> pa.Check:
    return _column_check(
        "status_after_trim",
        lambda s: s.str.strip(WHITESPACE).str.lower().isin(ATTENDANCE_STATUSES),
        f"lower(trim({{column}}, {SQL_WHITESPACE})) IN {sql_list(ATTENDANCE_STATUSES)}",
    )


BRONZE_ATTENDANCE = pa.DataFrameSchema(
    {
        "attendance_id": _text(checks=[_not_blank()]),
        "student_id": _text(checks=[_not_blank()]),
        "session_date": _text(checks=[_DATE_TEXT]),
        "status": _text(checks=[_status_text()]),
        **_lineage_columns("attendance"),
        "_ingested_at": pa.Column(TIMESTAMPTZ, nullable=False),
        "_dlt_load_id": _text(False),
    },
    unique=["delivery_code", "_source_file", "_source_row"],
    name="bronze.attendance",
)

BRONZE_ASSESSMENTS = pa.DataFrameSchema(
    {
        "assessment_id": _text(checks=[_not_blank()]),
        "student_id": _text(checks=[_not_blank()]),
        "subject": _text(),
        "score": _text(checks=[_NUMBER_TEXT]),
        "max_score": _text(checks=[_NUMBER_TEXT]),
        "assessed_on": _text(checks=[_DATE_TEXT]),
        **_lineage_columns("assessments"),
        "_ingested_at": pa.Column(TIMESTAMPTZ, nullable=False),
        "_dlt_load_id": _text(False),
    },
    unique=["delivery_code", "_source_file", "_source_row"],
    name="bronze.assessments",
)

_DLT_COLUMNS = {"_dlt_load_id": _text(False), "_dlt_id": _text(False, unique=True)}

BRONZE_SIS_PROGRAMMES = pa.DataFrameSchema(
    {
        "programme_code": _text(False, [_not_blank()], unique=True),
        "programme_name": _text(),
        "faculty": _text(),
        "level": _text(),
        "updated_at": pa.Column(TIMESTAMPTZ, nullable=False),
        **_DLT_COLUMNS,
    },
    name="bronze.sis_programmes",
)

BRONZE_SIS_CLASSES = pa.DataFrameSchema(
    {
        "class_id": _text(False, [_not_blank()], unique=True),
        "class_name": _text(),
        "programme_code": _text(),
        "academic_year": _text(),
        "updated_at": pa.Column(TIMESTAMPTZ, nullable=False),
        **_DLT_COLUMNS,
    },
    name="bronze.sis_classes",
)

BRONZE_SIS_STUDENTS = pa.DataFrameSchema(
    {
        "student_id": _text(False, [_not_blank()], unique=True),
        "first_name": _text(),
        "last_name": _text(),
        "email": _text(),
        "date_of_birth": pa.Column(DATE, nullable=True),
        "gender": _text(),
        "class_id": _text(),
        "enrolment_status": _text(checks=[pa.Check.isin(ENROLMENT_STATUSES)]),
        "updated_at": pa.Column(TIMESTAMPTZ, nullable=False),
        **_DLT_COLUMNS,
    },
    name="bronze.sis_students",
)

# silver ---------------------------------------------------------------------------------------

SILVER_DIM_PROGRAMME = pa.DataFrameSchema(
    {
        "programme_code": _text(False, [_not_blank()], unique=True),
        "programme_name": _text(),
        "faculty": _text(),
        "level": _text(),
    },
    name="silver.dim_programme",
)

SILVER_DIM_CLASS = pa.DataFrameSchema(
    {
        "class_id": _text(False, [_not_blank()], unique=True),
        "class_name": _text(),
        "programme_code": _text(),
        "academic_year": _text(),
    },
    name="silver.dim_class",
)

SILVER_DIM_STUDENT = pa.DataFrameSchema(
    {
        "student_id": _text(False, [_not_blank()], unique=True),
        "first_name": _text(),
        "last_name": _text(),
        "email": _text(),
        "date_of_birth": pa.Column(DATE, nullable=True),
        "gender": _text(),
        "class_id": _text(),
        "enrolment_status": _text(False, [pa.Check.isin(ENROLMENT_STATUSES)]),
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


_ACADEMIC_YEAR_TEXT = pa.Check.str_matches(r"^\d{4}/\d{2}$")
_ACADEMIC_YEAR_START = "(year(date_day) - (month(date_day) < 9)::INT)"


SILVER_DIM_DATE = pa.DataFrameSchema(
    {
        "date_day": pa.Column(DATE, nullable=False, unique=True),
        "year": pa.Column(INT, pa.Check.in_range(1900, 2200), nullable=False),
        "month": pa.Column(INT, pa.Check.in_range(1, 12), nullable=False),
        "day_of_month": pa.Column(INT, pa.Check.in_range(1, 31), nullable=False),
        "day_of_week": pa.Column(INT, pa.Check.in_range(1, 7), nullable=False),
        "day_name": _text(False),
        "is_weekend": pa.Column(BOOL, nullable=False),
        "academic_year": _text(False, [_ACADEMIC_YEAR_TEXT]),
    },
    checks=[
        _frame_check(
            "date_parts_match_date_day",
            _dim_date_parts,
            "year = year(date_day) AND month = month(date_day) AND day_of_month = day(date_day) "
            "AND day_of_week = isodow(date_day)",
        ),
        # pandas' isin is never NA, so an unknown day_of_week counts as a weekday.
        _frame_check(
            "is_weekend_matches_day_of_week",
            _dim_date_weekend,
            "is_weekend = coalesce(day_of_week IN (6, 7), false)",
        ),
        _frame_check(
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
        "attendance_id": _text(False, [_not_blank()], unique=True),
        "student_id": _text(False, [_not_blank()]),
        "class_id": _text(),
        "session_date": pa.Column(DATE, nullable=False),
        "status": _text(False, [pa.Check.isin(ATTENDANCE_STATUSES)]),
        "is_present": pa.Column(BOOL, nullable=False),
        "delivery_code": _text(False, [pa.Check.str_matches(DELIVERY_CODE_REGEX)]),
        "_source_file": _text(False),
    },
    checks=[
        _frame_check(
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
        "assessment_id": _text(False, [_not_blank()], unique=True),
        "student_id": _text(False, [_not_blank()]),
        "class_id": _text(),
        "subject": _text(),
        "score": pa.Column(FLOAT, pa.Check.ge(0), nullable=False),
        "max_score": pa.Column(FLOAT, pa.Check.gt(0), nullable=False),
        "score_pct": _pct(nullable=False),
        "assessed_on": pa.Column(DATE, nullable=False),
        "delivery_code": _text(False, [pa.Check.str_matches(DELIVERY_CODE_REGEX)]),
        "_source_file": _text(False),
    },
    checks=[
        _frame_check("score_le_max_score", _score_within_max, "score <= max_score"),
        _frame_check(
            "score_pct_eq_100_score_over_max",
            _score_pct_matches,
            f"abs(score_pct - 100.0::DOUBLE * score / max_score) <= {TOLERANCE * 100!r}",
        ),
    ],
    name="silver.fact_assessment",
)

# quarantine -------------------------------------------------------------------------------------


def _rejects_schema(source: str, raw: list[str]) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            **{c: _text() for c in raw},
            **_lineage_columns(source),
            "reason": _text(False, [pa.Check.isin(REASONS_BY_SOURCE[source])]),
        },
        # Each received row has exactly one outcome, so a bronze row is rejected at most once.
        unique=["delivery_code", "_source_file", "_source_row"],
        name=f"quarantine.{'attendance' if source == 'attendance' else 'assessment'}_rejects",
    )


QUARANTINE_ATTENDANCE_REJECTS = _rejects_schema(
    "attendance", ["attendance_id", "student_id", "session_date", "status"]
)
QUARANTINE_ASSESSMENT_REJECTS = _rejects_schema(
    "assessments", ["assessment_id", "student_id", "subject", "score", "max_score", "assessed_on"]
)

# gold ---------------------------------------------------------------------------------------------


def _attendance_parts_sum(df: pd.DataFrame) -> pd.Series:
    total = df["present_days"] + df["absent_days"] + df["excused_days"]
    return (total == df["total_attendance_records"]).fillna(False).astype(bool)


def _summary_rate(df: pd.DataFrame) -> pd.Series:
    return _rate_matches(df["attendance_rate"], df["present_days"], df["present_days"] + df["absent_days"])


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
        "student_id": _text(False, [_not_blank()], unique=True),
        "class_id": _text(),
        "programme_code": _text(),
        "enrolment_status": _text(False, [pa.Check.isin(ENROLMENT_STATUSES)]),
        "total_attendance_records": _count(),
        "present_days": _count(),
        "absent_days": _count(),
        "excused_days": _count(),
        "attendance_rate": _rate(),
        "total_assessments": _count(),
        "avg_score_pct": _pct(),
        "min_score_pct": _pct(),
        "max_score_pct": _pct(),
    },
    checks=[
        _frame_check(
            "present+absent+excused=total_attendance_records",
            _attendance_parts_sum,
            "present_days + absent_days + excused_days = total_attendance_records",
        ),
        _frame_check(
            "attendance_rate=present/(present+absent)",
            _summary_rate,
            _rate_matches_sql("attendance_rate", "present_days", "present_days + absent_days"),
        ),
        _frame_check(
            "min<=avg<=max_score_pct",
            _score_order,
            "(min_score_pct IS NULL AND avg_score_pct IS NULL AND max_score_pct IS NULL) "
            f"OR (min_score_pct <= avg_score_pct + {TOLERANCE!r} AND avg_score_pct <= max_score_pct + {TOLERANCE!r})",
        ),
        _frame_check(
            "score_pct_null_iff_no_assessments",
            _scores_null_iff_none,
            "(coalesce(total_assessments, 0) = 0) = (avg_score_pct IS NULL)",
        ),
    ],
    strict=True,
    name="gold.student_performance_summary",
)


def _daily_rate(df: pd.DataFrame) -> pd.Series:
    return _rate_matches(df["attendance_rate"], df["present_count"], df["present_count"] + df["absent_count"])


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
        "class_id": _text(False),
        "activity_date": pa.Column(DATE, nullable=False),
        "total_students": _count(),
        "students_with_attendance": _count(),
        "present_count": _count(),
        "absent_count": _count(),
        "excused_count": _count(),
        "attendance_rate": _rate(),
        "students_with_assessment": _count(),
        "assessment_count": _count(),
        "avg_score_pct": _pct(),
    },
    checks=[
        _frame_check(
            "attendance_rate=present/(present+absent)",
            _daily_rate,
            _rate_matches_sql("attendance_rate", "present_count", "present_count + absent_count"),
        ),
        _frame_check(
            "students_with_attendance<=attendance_rows",
            _students_le_rows,
            "students_with_attendance <= present_count + absent_count + excused_count",
        ),
        _frame_check(
            "students_with_assessment<=assessment_count",
            _assessed_le_assessments,
            "students_with_assessment <= assessment_count",
        ),
        _frame_check(
            "row_has_activity",
            _daily_activity,
            "present_count + absent_count + excused_count + assessment_count > 0",
        ),
        _frame_check(
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
        "student_id": _text(False, [_not_blank()], unique=True),
        "as_of_date": pa.Column(DATE, nullable=True, required=False),
        "attendance_rate_28d": _rate(),
        "days_since_last_present": pa.Column(INT, pa.Check.ge(0), nullable=True),
        "failed_assessments": _count(),
        "at_risk": pa.Column(BOOL, nullable=False),
    },
    checks=[
        _frame_check(
            f"at_risk=(attendance_rate_28d<{AT_RISK_ATTENDANCE_BELOW} or failed_assessments>={AT_RISK_FAILED_ASSESSMENTS})",
            _at_risk_definition,
            f"at_risk = (coalesce(attendance_rate_28d < {AT_RISK_ATTENDANCE_BELOW!r}::DOUBLE, false) "
            f"OR coalesce(failed_assessments >= {AT_RISK_FAILED_ASSESSMENTS}, false))",
        ),
        # The spec fixes only some columns of this mart, so it is not strict; it still may not carry PII.
        _table_check("no_pii_columns", _no_pii, _NO_PII_SQL),
    ],
    strict=False,
    name="gold.student_risk_features",
)


def _sessions_add_up(df: pd.DataFrame) -> pd.Series:
    parts = df["attended_sessions"] + df["authorised_absences"] + df["unauthorised_absences"]
    return (parts == df["possible_sessions"]).fillna(False).astype(bool)


_SESSIONS_ADD_UP_SQL = "attended_sessions + authorised_absences + unauthorised_absences = possible_sessions"


def _absence_rate(df: pd.DataFrame) -> pd.Series:
    absences = df["authorised_absences"] + df["unauthorised_absences"]
    return _rate_matches(df["absence_rate"], absences, df["possible_sessions"])


_ABSENCE_RATE_SQL = _rate_matches_sql("absence_rate", "authorised_absences + unauthorised_absences", "possible_sessions")


def _absentee_flag(column: str, threshold: float):
    def flag_matches(df: pd.DataFrame) -> pd.Series:
        eligible = df["possible_sessions"] >= ABSENCE_MIN_SESSIONS
        expected = ((df["absence_rate"] >= threshold) & eligible).fillna(False)
        return (df[column] == expected).fillna(False).astype(bool)

    return _frame_check(
        f"{column}=(absence_rate>={threshold} and possible_sessions>={ABSENCE_MIN_SESSIONS})",
        flag_matches,
        f"{column} = coalesce(absence_rate >= {threshold!r}::DOUBLE "
        f"AND possible_sessions >= {ABSENCE_MIN_SESSIONS}, false)",
    )


def _band_matches(df: pd.DataFrame) -> pd.Series:
    expected = pd.Series(pd.NA, index=df.index, dtype="object")
    for band in reversed(ABSENCE_BANDS):  # lowest limit first, so the highest band reached wins
        expected = expected.mask((df["absence_rate"] >= band.min_absence_rate).fillna(False), band.band)
    expected = expected.mask(~(df["possible_sessions"] >= ABSENCE_MIN_SESSIONS).fillna(False), pd.NA)
    same = (df["absence_band"] == expected).fillna(False)
    return (same | (df["absence_band"].isna() & expected.isna())).astype(bool)


_BAND_SQL = (
    f"absence_band IS NOT DISTINCT FROM CASE WHEN possible_sessions >= {ABSENCE_MIN_SESSIONS} THEN CASE "
    + " ".join(f"WHEN absence_rate >= {b.min_absence_rate!r}::DOUBLE THEN '{b.band}'" for b in ABSENCE_BANDS)
    + " END END"
)


def _streak_fits(df: pd.DataFrame) -> pd.Series:
    absences = df["authorised_absences"] + df["unauthorised_absences"]
    streak = df["longest_absence_streak"]
    return ((streak <= absences) & ((streak == 0) == (absences == 0))).fillna(False).astype(bool)


def _session_columns() -> dict[str, pa.Column]:
    """The session counts both absence marts carry; a row exists only for a year with a valid session."""
    return {
        "possible_sessions": pa.Column(INT, pa.Check.ge(1), nullable=False),
        "attended_sessions": _count(),
        "authorised_absences": _count(),
        "unauthorised_absences": _count(),
        "absence_rate": _rate(nullable=False),
    }


GOLD_STUDENT_ABSENCE = pa.DataFrameSchema(
    {
        "student_id": _text(False, [_not_blank()]),
        "academic_year": _text(False, [_ACADEMIC_YEAR_TEXT]),
        "class_id": _text(),
        "programme_code": _text(),
        **_session_columns(),
        "is_persistent_absentee": pa.Column(BOOL, nullable=False),
        "is_severe_absentee": pa.Column(BOOL, nullable=False),
        "absence_band": _text(checks=[pa.Check.isin(tuple(b.band for b in ABSENCE_BANDS))]),
        "longest_absence_streak": _count(),
    },
    checks=[
        _frame_check("attended+authorised+unauthorised=possible_sessions", _sessions_add_up, _SESSIONS_ADD_UP_SQL),
        _frame_check("absence_rate=(authorised+unauthorised)/possible_sessions", _absence_rate, _ABSENCE_RATE_SQL),
        _absentee_flag("is_persistent_absentee", PERSISTENT_ABSENCE_THRESHOLD),
        _absentee_flag("is_severe_absentee", SEVERE_ABSENCE_THRESHOLD),
        _frame_check("absence_band_from_absence_bands_seed", _band_matches, _BAND_SQL),
        _frame_check(
            "longest_absence_streak_within_absences",
            _streak_fits,
            "longest_absence_streak <= authorised_absences + unauthorised_absences "
            "AND (longest_absence_streak = 0) = (authorised_absences + unauthorised_absences = 0)",
        ),
    ],
    unique=["student_id", "academic_year"],
    strict=True,
    name="gold.student_absence",
)


def _eligible_within_students(df: pd.DataFrame) -> pd.Series:
    ok = (df["persistent_absentees"] <= df["eligible_students"]) & (df["eligible_students"] <= df["students"])
    return ok.fillna(False).astype(bool)


def _persistent_rate(df: pd.DataFrame) -> pd.Series:
    return _rate_matches(df["persistent_absence_rate"], df["persistent_absentees"], df["eligible_students"])


GOLD_PROGRAMME_ATTENDANCE = pa.DataFrameSchema(
    {
        "programme_code": _text(False, [_not_blank()]),
        "academic_year": _text(False, [_ACADEMIC_YEAR_TEXT]),
        "programme_name": _text(),
        "faculty": _text(),
        "level": _text(),
        "students": pa.Column(INT, pa.Check.ge(1), nullable=False),
        "eligible_students": _count(),
        "persistent_absentees": _count(),
        "persistent_absence_rate": _rate(),
        **_session_columns(),
    },
    checks=[
        _frame_check(
            "persistent_absentees<=eligible_students<=students",
            _eligible_within_students,
            "persistent_absentees <= eligible_students AND eligible_students <= students",
        ),
        _frame_check(
            "persistent_absence_rate=persistent_absentees/eligible_students",
            _persistent_rate,
            _rate_matches_sql("persistent_absence_rate", "persistent_absentees", "eligible_students"),
        ),
        _frame_check("attended+authorised+unauthorised=possible_sessions", _sessions_add_up, _SESSIONS_ADD_UP_SQL),
        _frame_check("absence_rate=(authorised+unauthorised)/possible_sessions", _absence_rate, _ABSENCE_RATE_SQL),
    ],
    unique=["programme_code", "academic_year"],
    strict=True,
    name="gold.programme_attendance",
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
        "delivery_code": _text(False, [pa.Check.str_matches(DELIVERY_CODE_REGEX)]),
        "source": _text(False, [pa.Check.isin(SOURCES)]),
        "outcome": _text(False, [pa.Check.isin(OUTCOMES)]),
        # Only outcomes that occur get a row, so a count is at least 1.
        "row_count": pa.Column(INT, pa.Check.ge(1), nullable=False),
    },
    checks=[_frame_check("outcome_possible_for_source", _reason_fits_source, _REASON_FITS_SOURCE_SQL)],
    unique=["delivery_code", "source", "outcome"],
    strict=True,
    name="gold.delivery_quality",
)


def _contract(schema: pa.DataFrameSchema, *fks: ForeignKey) -> TableContract:
    return TableContract(table=schema.name, schema=schema, foreign_keys=tuple(fks))


CONTRACTS: dict[str, TableContract] = {
    c.table: c
    for c in [
        _contract(BRONZE_ATTENDANCE),
        _contract(BRONZE_ASSESSMENTS),
        _contract(BRONZE_SIS_PROGRAMMES),
        _contract(BRONZE_SIS_CLASSES),
        _contract(BRONZE_SIS_STUDENTS),
        _contract(SILVER_DIM_PROGRAMME),
        _contract(SILVER_DIM_CLASS, ForeignKey("programme_code", "silver.dim_programme", "programme_code")),
        _contract(SILVER_DIM_STUDENT),
        _contract(SILVER_DIM_DATE),
        _contract(
            SILVER_FACT_ATTENDANCE,
            ForeignKey("student_id", "silver.dim_student", "student_id"),
            ForeignKey("class_id", "silver.dim_class", "class_id"),
        ),
        _contract(
            SILVER_FACT_ASSESSMENT,
            ForeignKey("student_id", "silver.dim_student", "student_id"),
            ForeignKey("class_id", "silver.dim_class", "class_id"),
        ),
        _contract(QUARANTINE_ATTENDANCE_REJECTS),
        _contract(QUARANTINE_ASSESSMENT_REJECTS),
        _contract(
            GOLD_STUDENT_PERFORMANCE_SUMMARY,
            ForeignKey("student_id", "silver.dim_student", "student_id"),
        ),
        _contract(GOLD_CLASS_DAILY_PERFORMANCE, ForeignKey("class_id", "silver.dim_class", "class_id")),
        _contract(GOLD_STUDENT_RISK_FEATURES, ForeignKey("student_id", "silver.dim_student", "student_id")),
        _contract(GOLD_DELIVERY_QUALITY),
        _contract(GOLD_STUDENT_ABSENCE, ForeignKey("student_id", "silver.dim_student", "student_id")),
        _contract(GOLD_PROGRAMME_ATTENDANCE),
    ]
}
