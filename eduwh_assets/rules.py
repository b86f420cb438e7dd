"""The codes and thresholds of SPEC §4, read from their one home in the dbt project.

dbt builds the tables, so the rules live where dbt reads them: the `vars` of
eduwh_dbt/dbt_project.yml (statuses, reason codes, outcomes, thresholds) and
the absence_bands seed (band limits). Python reads the same files, so the
Pandera contracts, the generator and the quality reports cannot drift from the
SQL. `eduwh_tests/test_rules.py` holds every reader to this module.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

import yaml

from eduwh_assets.config import DBT_PROJECT_DIR

_VARS = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))["vars"]


# How delivered text is read: the whitespace trimmed around values, and the shapes of dates and numbers.
WHITESPACE = "".join(chr(code_point) for code_point in _VARS["whitespace_code_points"])
DATE_TEXT: str = _VARS["date_text"]
NUMBER_TEXT: str = _VARS["number_text"]


def _statuses_counted_as(kind: str) -> tuple[str, ...]:
    return tuple(status for status, counted_as in _VARS["attendance_statuses"].items() if counted_as == kind)


# Attendance statuses, and which count as present, absent (unauthorised) or excused (authorised).
ATTENDANCE_STATUSES: tuple[str, ...] = tuple(_VARS["attendance_statuses"])
PRESENT_STATUSES = _statuses_counted_as("present")
ABSENT_STATUSES = _statuses_counted_as("absent")
EXCUSED_STATUSES = _statuses_counted_as("excused")

ENROLMENT_STATUSES: tuple[str, ...] = tuple(_VARS["enrolment_statuses"])
ACTIVE_ENROLMENT_STATUS: str = _VARS["active_enrolment_status"]

SOURCES: tuple[str, ...] = tuple(_VARS["sources"])

# In SPEC order: when a row breaks several rules, the first one names it.
REJECT_REASONS: tuple[str, ...] = tuple(_VARS["reject_reasons"])
REASONS_BY_SOURCE: dict[str, tuple[str, ...]] = {
    source: tuple(reason for reason, judged_on in _VARS["reject_reasons"].items() if source in judged_on)
    for source in SOURCES
}
LOADED: str = _VARS["loaded_outcome"]
SUPERSEDED: str = _VARS["superseded_outcome"]
OUTCOMES: tuple[str, ...] = (LOADED, SUPERSEDED, *REJECT_REASONS)

# gold.student_risk_features.
RISK_WINDOW_DAYS: int = _VARS["risk_window_days"]
FAILED_SCORE_PCT_BELOW: float = _VARS["failed_score_pct_below"]
AT_RISK_ATTENDANCE_BELOW: float = _VARS["at_risk_attendance_below"]
AT_RISK_FAILED_ASSESSMENTS: int = _VARS["at_risk_failed_assessments"]

# gold.student_absence and gold.programme_attendance.
PERSISTENT_ABSENCE_THRESHOLD: float = _VARS["persistent_absence_threshold"]
SEVERE_ABSENCE_THRESHOLD: float = _VARS["severe_absence_threshold"]
ABSENCE_MIN_SESSIONS: int = _VARS["absence_min_sessions"]


@dataclass(frozen=True)
class AbsenceBand:
    band: str
    min_absence_rate: float


def _absence_bands() -> tuple[AbsenceBand, ...]:
    with open(DBT_PROJECT_DIR / "seeds" / "absence_bands.csv", newline="", encoding="utf-8") as f:
        bands = [AbsenceBand(row["band"], float(row["min_absence_rate"])) for row in csv.DictReader(f)]
    return tuple(sorted(bands, key=lambda b: b.min_absence_rate, reverse=True))


# Highest limit first: a student-year takes the first band whose limit its absence_rate reaches.
ABSENCE_BANDS = _absence_bands()
