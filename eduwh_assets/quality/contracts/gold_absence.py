"""The gold contracts of the absence marts: sessions, persistent absence and absence bands per year.

Their flags, rates and bands are judged against the dbt vars and the
absence_bands seed, read through eduwh_assets/rules.py.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from eduwh_assets.quality.contracts.columns import ACADEMIC_YEAR_TEXT, count_column, not_blank, rate_column, text_column
from eduwh_assets.quality.contracts.custom_checks import frame_check, rate_matches, rate_matches_sql
from eduwh_assets.quality.contracts.dtypes import BOOL, INT
from eduwh_assets.rules import (
    ABSENCE_BANDS,
    ABSENCE_MIN_SESSIONS,
    PERSISTENT_ABSENCE_THRESHOLD,
    SEVERE_ABSENCE_THRESHOLD,
)


def _sessions_add_up(df: pd.DataFrame) -> pd.Series:
    parts = df["attended_sessions"] + df["authorised_absences"] + df["unauthorised_absences"]
    return (parts == df["possible_sessions"]).fillna(False).astype(bool)


_SESSIONS_ADD_UP_SQL = "attended_sessions + authorised_absences + unauthorised_absences = possible_sessions"


def _absence_rate(df: pd.DataFrame) -> pd.Series:
    absences = df["authorised_absences"] + df["unauthorised_absences"]
    return rate_matches(df["absence_rate"], absences, df["possible_sessions"])


_ABSENCE_RATE_SQL = rate_matches_sql("absence_rate", "authorised_absences + unauthorised_absences", "possible_sessions")


def _absentee_flag(column: str, threshold: float):
    def flag_matches(df: pd.DataFrame) -> pd.Series:
        eligible = df["possible_sessions"] >= ABSENCE_MIN_SESSIONS
        expected = ((df["absence_rate"] >= threshold) & eligible).fillna(False)
        return (df[column] == expected).fillna(False).astype(bool)

    return frame_check(
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
        "attended_sessions": count_column(),
        "authorised_absences": count_column(),
        "unauthorised_absences": count_column(),
        "absence_rate": rate_column(nullable=False),
    }


GOLD_STUDENT_ABSENCE = pa.DataFrameSchema(
    {
        "student_id": text_column(False, [not_blank()]),
        "academic_year": text_column(False, [ACADEMIC_YEAR_TEXT]),
        "class_id": text_column(),
        "programme_code": text_column(),
        **_session_columns(),
        "is_persistent_absentee": pa.Column(BOOL, nullable=False),
        "is_severe_absentee": pa.Column(BOOL, nullable=False),
        "absence_band": text_column(checks=[pa.Check.isin(tuple(b.band for b in ABSENCE_BANDS))]),
        "longest_absence_streak": count_column(),
    },
    checks=[
        frame_check("attended+authorised+unauthorised=possible_sessions", _sessions_add_up, _SESSIONS_ADD_UP_SQL),
        frame_check("absence_rate=(authorised+unauthorised)/possible_sessions", _absence_rate, _ABSENCE_RATE_SQL),
        _absentee_flag("is_persistent_absentee", PERSISTENT_ABSENCE_THRESHOLD),
        _absentee_flag("is_severe_absentee", SEVERE_ABSENCE_THRESHOLD),
        frame_check("absence_band_from_absence_bands_seed", _band_matches, _BAND_SQL),
        frame_check(
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
    return rate_matches(df["persistent_absence_rate"], df["persistent_absentees"], df["eligible_students"])


GOLD_PROGRAMME_ATTENDANCE = pa.DataFrameSchema(
    {
        "programme_code": text_column(False, [not_blank()]),
        "academic_year": text_column(False, [ACADEMIC_YEAR_TEXT]),
        "programme_name": text_column(),
        "faculty": text_column(),
        "level": text_column(),
        "students": pa.Column(INT, pa.Check.ge(1), nullable=False),
        "eligible_students": count_column(),
        "persistent_absentees": count_column(),
        "persistent_absence_rate": rate_column(),
        **_session_columns(),
    },
    checks=[
        frame_check(
            "persistent_absentees<=eligible_students<=students",
            _eligible_within_students,
            "persistent_absentees <= eligible_students AND eligible_students <= students",
        ),
        frame_check(
            "persistent_absence_rate=persistent_absentees/eligible_students",
            _persistent_rate,
            rate_matches_sql("persistent_absence_rate", "persistent_absentees", "eligible_students"),
        ),
        frame_check("attended+authorised+unauthorised=possible_sessions", _sessions_add_up, _SESSIONS_ADD_UP_SQL),
        frame_check("absence_rate=(authorised+unauthorised)/possible_sessions", _absence_rate, _ABSENCE_RATE_SQL),
    ],
    unique=["programme_code", "academic_year"],
    strict=True,
    name="gold.programme_attendance",
)
