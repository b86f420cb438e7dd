"""Independent reference implementation ("oracle") of eduwh's silver and gold outputs.

The warehouse builds silver and gold with dbt SQL over bronze tables. This module
computes the same tables a second way, in plain pandas and Python, straight from
the raw landing files and the SIS rows, using nothing but SPEC.md §3-§4 and
docs/architecture.md. Tests build the real warehouse and compare it with
`compare_frames` row by row; two implementations that share no code agreeing is
the evidence that either is right. Keep it that way: never import project code here.

Public functions
----------------
read_landing(path) -> (attendance_raw, assessments_raw)
expected(sis, attendance_raw, assessments_raw) -> dict[str, DataFrame]
compare_frames(actual, expected, keys, rtol=0.0, atol=1e-9, name=None) -> None

Raw frames (as bronze holds them: text, untrimmed, None when a JSON key is absent)
    attendance_raw:  attendance_id, student_id, session_date, status,
                     delivery_code, _source_file, _source_row
    assessments_raw: assessment_id, student_id, subject, score, max_score, assessed_on,
                     delivery_code, _source_file, _source_row

Frames returned by `expected` (name -> columns; key in brackets). Dates are
`datetime.date`, NULL rates/averages are NaN, NULL integers are <NA>.
    fact_attendance [attendance_id]:
        attendance_id, student_id, class_id, session_date, status, is_present,
        delivery_code, _source_file
    fact_assessment [assessment_id]:
        assessment_id, student_id, class_id, subject, score, max_score, score_pct,
        assessed_on, delivery_code, _source_file
    attendance_rejects [delivery_code, _source_file, _source_row]:
        attendance_id, student_id, session_date, status (raw values),
        delivery_code, _source_file, _source_row, reason
    assessment_rejects [delivery_code, _source_file, _source_row]:
        assessment_id, student_id, subject, score, max_score, assessed_on (raw values),
        delivery_code, _source_file, _source_row, reason
    attendance_outcomes / assessment_outcomes [delivery_code, _source_file, _source_row]:
        delivery_code, _source_file, _source_row, <id column> (raw), outcome
    student_performance_summary [student_id]:
        student_id, class_id, programme_code, enrolment_status,
        total_attendance_records, present_days, absent_days, excused_days,
        attendance_rate, total_assessments, avg_score_pct, min_score_pct, max_score_pct
    class_daily_performance [class_id, activity_date]:
        class_id, activity_date, total_students, students_with_attendance,
        present_count, absent_count, excused_count, attendance_rate,
        students_with_assessment, assessment_count, avg_score_pct
    student_risk_features [student_id]:
        student_id, as_of_date, attendance_rate_28d, days_since_last_present,
        failed_assessments, at_risk
    delivery_quality [delivery_code, source, outcome]:
        delivery_code, source, outcome, row_count
    student_absence [student_id, academic_year]:
        student_id, academic_year, class_id, programme_code, possible_sessions,
        attended_sessions, authorised_absences, unauthorised_absences, absence_rate,
        is_persistent_absentee, is_severe_absentee, absence_band, longest_absence_streak
    programme_attendance [programme_code, academic_year]:
        programme_code, academic_year, programme_name, faculty, level, students,
        eligible_students, persistent_absentees, persistent_absence_rate,
        possible_sessions, attended_sessions, authorised_absences,
        unauthorised_absences, absence_rate

`KEYS` maps every frame name to its key columns, for `compare_frames`.

Decisions where the spec is silent (each is deliberate; see the tests):
- Trimming removes ASCII whitespace (space, tab, CR, LF, FF, VT) only.
- Ids are deduplicated on their trimmed value, case-sensitively.
- `subject` is trimmed; empty after trimming is NULL in fact_assessment.
- Score comparisons (max_score <= 0, score < 0, score > max_score) are made in
  IEEE doubles, like the warehouse's `double` columns; `score_pct` is computed
  as `(100 * score) / max_score`, the left-to-right order of the SQL expression.
- A fact whose student has no class_id belongs to no class: it counts in the
  student's marts but forms no class_daily_performance row.
- With no valid attendance at all, as_of_date is NULL, so every
  attendance_rate_28d and days_since_last_present is NULL.
- SIS values (student_id, class_id, enrolment_status) are used as stored.
- The absence marts use SPEC §4's default thresholds and band limits. The
  threshold and band decisions compare exact fractions (absences / sessions
  against 1/10, ...), so a rate of exactly 10% is persistent whatever the
  rounding of a double; absence_rate itself is the double absences / sessions.
- academic_year starts on 1 September: 2025-08-31 is in 2024/25, 2025-09-01 in 2025/26.
- programme_name, faculty and level come from the SIS programmes as stored.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DELIVERY_CODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MANIFEST = "_manifest.json"

ATTENDANCE_COLUMNS = ["attendance_id", "student_id", "session_date", "status"]
ASSESSMENT_COLUMNS = ["assessment_id", "student_id", "subject", "score", "max_score", "assessed_on"]
LINEAGE_COLUMNS = ["delivery_code", "_source_file", "_source_row"]
ORDER = LINEAGE_COLUMNS  # "latest wins" order, ascending; the greatest row wins

# [0-9] rather than \d: Python's \d also accepts non-ASCII digits, which no SQL date or number parser would.
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
NUMBER_RE = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
WHITESPACE = " \t\n\r\f\v"
STATUSES = ("present", "late", "absent", "excused")
PRESENT_STATUSES = ("present", "late")
FAIL_PCT = 40.0
RISK_RATE = 0.8
WINDOW_DAYS = 28  # [as_of - 27, as_of] inclusive is 28 calendar days
# SPEC §4 absence measures, at their documented defaults. Fractions, not floats,
# so "at least 10%" is decided exactly (see the module docstring).
ABSENCE_STATUSES = ("absent", "excused")  # an excused session is an authorised absence
PERSISTENT_ABSENCE_THRESHOLD = Fraction(10, 100)
SEVERE_ABSENCE_THRESHOLD = Fraction(50, 100)
ABSENCE_MIN_SESSIONS = 10
# (band, lowest absence rate in it), highest first: the first band reached wins.
ABSENCE_BANDS = (
    ("severe", Fraction(20, 100)),
    ("moderate", Fraction(10, 100)),
    ("at_risk", Fraction(5, 100)),
    ("satisfactory", Fraction(0)),
)

KEYS: dict[str, list[str]] = {
    "fact_attendance": ["attendance_id"],
    "fact_assessment": ["assessment_id"],
    "attendance_rejects": LINEAGE_COLUMNS,
    "assessment_rejects": LINEAGE_COLUMNS,
    "attendance_outcomes": LINEAGE_COLUMNS,
    "assessment_outcomes": LINEAGE_COLUMNS,
    "student_performance_summary": ["student_id"],
    "class_daily_performance": ["class_id", "activity_date"],
    "student_risk_features": ["student_id"],
    "delivery_quality": ["delivery_code", "source", "outcome"],
    "student_absence": ["student_id", "academic_year"],
    "programme_attendance": ["programme_code", "academic_year"],
}


# --------------------------------------------------------------------------------------------
# Reading the landing zone
# --------------------------------------------------------------------------------------------


def read_landing(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All rows of the complete, validly named deliveries under a local landing folder.

    Values stay exactly as received (text, untrimmed) so that the oracle judges
    them itself, the way the warehouse must judge bronze.
    """
    root = Path(path)
    attendance: list[dict[str, Any]] = []
    assessments: list[dict[str, Any]] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        # fullmatch, not `$`: a `$` anchor would also accept a name ending in a newline.
        if not DELIVERY_CODE_RE.fullmatch(folder.name) or not (folder / MANIFEST).is_file():
            continue
        for file in sorted((p for p in folder.iterdir() if p.is_file()), key=lambda p: p.name):
            if fnmatchcase(file.name, "attendance*.csv"):
                rows, target = _read_csv(file), attendance
            elif fnmatchcase(file.name, "assessments*.json"):
                rows, target = _read_json_array(file), assessments
            elif fnmatchcase(file.name, "assessments*.jsonl"):
                rows, target = _read_json_lines(file), assessments
            else:
                continue
            columns = ATTENDANCE_COLUMNS if target is attendance else ASSESSMENT_COLUMNS
            for number, row in enumerate(rows, start=1):
                record = {c: row.get(c) for c in columns}
                record.update(delivery_code=folder.name, _source_file=file.name, _source_row=number)
                target.append(record)
    return (
        pd.DataFrame(attendance, columns=ATTENDANCE_COLUMNS + LINEAGE_COLUMNS),
        pd.DataFrame(assessments, columns=ASSESSMENT_COLUMNS + LINEAGE_COLUMNS),
    )


def _read_csv(file: Path) -> list[dict[str, Any]]:
    try:
        # All text, and '' stays '' (not NaN): an empty field is a value to judge, not an absent one.
        frame = pd.read_csv(file, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        return []
    # A short row leaves NaN in the missing fields; it was not received, so it is absent (None).
    return [{k: (None if _is_null(v) else v) for k, v in rec.items()} for rec in frame.to_dict("records")]


def _json_loads(text: str) -> Any:
    # Numbers and NaN/Infinity keep their literal text, as bronze stores them (e.g. '85.0').
    return json.loads(text, parse_int=str, parse_float=str, parse_constant=str)


def _json_text(value: Any) -> str | None:
    """A JSON value as bronze's text: strings and numbers as written, null as None."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"))


def _json_row(obj: Any) -> dict[str, Any]:
    # A non-object element is still a received row; with no fields it is rejected as missing_key.
    if not isinstance(obj, dict):
        return {}
    return {k: _json_text(v) for k, v in obj.items()}


def _read_json_array(file: Path) -> list[dict[str, Any]]:
    doc = _json_loads(file.read_text(encoding="utf-8-sig"))
    if not isinstance(doc, list):
        raise ValueError(f"{file}: expected a JSON array of objects")
    return [_json_row(obj) for obj in doc]


def _read_json_lines(file: Path) -> list[dict[str, Any]]:
    lines = file.read_text(encoding="utf-8-sig").splitlines()
    return [_json_row(_json_loads(line)) for line in lines if line.strip()]


# --------------------------------------------------------------------------------------------
# Cleaning and validity rules (SPEC §4, docs/architecture.md "Validity rules")
# --------------------------------------------------------------------------------------------


def _is_null(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _clean(value: Any) -> str | None:
    """Trimmed text; None when absent or empty after trimming (both count as missing)."""
    if _is_null(value):
        return None
    text = str(value).strip(WHITESPACE)
    return text or None


def _parse_date(text: str | None) -> dt.date | None:
    if text is None or not DATE_RE.fullmatch(text):
        return None
    try:
        return dt.date(int(text[0:4]), int(text[5:7]), int(text[8:10]))
    except ValueError:  # 2025-02-30, month 13, year 0000
        return None


def _parse_number(text: str | None) -> float | None:
    if text is None or not NUMBER_RE.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None  # 1e400 is syntactically fine but not finite


def _attendance_reason(row: dict[str, Any], students: set[str]) -> str | None:
    if row["attendance_id"] is None or row["student_id"] is None:
        return "missing_key"
    if _parse_date(row["session_date"]) is None:
        return "bad_date"
    if row["status"] is None or row["status"].lower() not in STATUSES:
        return "bad_status"
    if row["student_id"] not in students:
        return "unknown_student"
    return None


def _assessment_reason(row: dict[str, Any], students: set[str]) -> str | None:
    if row["assessment_id"] is None or row["student_id"] is None:
        return "missing_key"
    if _parse_date(row["assessed_on"]) is None:
        return "bad_date"
    score, max_score = _parse_number(row["score"]), _parse_number(row["max_score"])
    if score is None or max_score is None or max_score <= 0 or score < 0 or score > max_score:
        return "bad_score"
    if row["student_id"] not in students:
        return "unknown_student"
    return None


def _outcomes(raw: pd.DataFrame, columns: list[str], id_column: str, judge, students: set[str]):
    """Every received row with its outcome, plus its trimmed values.

    Dedup first, then judge only the winner: that is what lets a later delivery
    fix a bad row, and a bad restatement break a good one.
    """
    frame = raw.reset_index(drop=True)
    for column in columns + LINEAGE_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    frame = frame[columns + LINEAGE_COLUMNS].copy()
    frame["_source_row"] = frame["_source_row"].astype("int64")
    frame = frame.sort_values(ORDER, kind="mergesort").reset_index(drop=True)

    records = []
    for raw_row in frame.to_dict("records"):
        clean = {c: _clean(raw_row[c]) for c in columns}
        records.append((raw_row, clean))

    last_position: dict[str, int] = {}
    for position, (_, clean) in enumerate(records):
        if clean[id_column] is not None:
            last_position[clean[id_column]] = position

    out = []
    for position, (raw_row, clean) in enumerate(records):
        key = clean[id_column]
        if key is None:
            outcome = "missing_key"  # no key, so nothing to deduplicate against
        elif last_position[key] != position:
            outcome = "superseded"
        else:
            outcome = judge(clean, students) or "loaded"
        out.append((raw_row, clean, outcome))
    return out


# --------------------------------------------------------------------------------------------
# The expected warehouse
# --------------------------------------------------------------------------------------------


def _sis_frames(sis: Any) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    if isinstance(sis, Mapping):
        return sis["programmes"], sis["classes"], sis["students"]
    programmes, classes, students = sis
    return programmes, classes, students


def _sis_value(value: Any) -> Any:
    return None if _is_null(value) else value


def expected(sis: Any, attendance_raw: pd.DataFrame, assessments_raw: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Silver, quarantine and gold tables the warehouse must produce from these inputs.

    `sis` is a mapping with keys programmes, classes, students (or that triple in
    order) holding the SPEC §3.1 columns. The raw frames are what `read_landing`
    returns, or bronze.attendance / bronze.assessments (extra columns are ignored).
    """
    _, classes, students = _sis_frames(sis)
    student_rows = [
        {
            "student_id": _sis_value(r["student_id"]),
            "class_id": _sis_value(r.get("class_id")),
            "enrolment_status": _sis_value(r.get("enrolment_status")),
        }
        for r in students.to_dict("records")
    ]
    ids = [r["student_id"] for r in student_rows]
    if len(set(ids)) != len(ids):
        raise ValueError("SIS students must be unique on student_id")
    class_of = {r["student_id"]: r["class_id"] for r in student_rows}
    programme_of = {
        _sis_value(r["class_id"]): _sis_value(r.get("programme_code")) for r in classes.to_dict("records")
    }
    known = set(class_of)

    att = _outcomes(attendance_raw, ATTENDANCE_COLUMNS, "attendance_id", _attendance_reason, known)
    ass = _outcomes(assessments_raw, ASSESSMENT_COLUMNS, "assessment_id", _assessment_reason, known)

    fact_attendance = _frame(
        [
            {
                "attendance_id": c["attendance_id"],
                "student_id": c["student_id"],
                "class_id": class_of[c["student_id"]],
                "session_date": _parse_date(c["session_date"]),
                "status": c["status"].lower(),
                "is_present": c["status"].lower() in PRESENT_STATUSES,
                "delivery_code": r["delivery_code"],
                "_source_file": r["_source_file"],
            }
            for r, c, outcome in att
            if outcome == "loaded"
        ],
        ["attendance_id", "student_id", "class_id", "session_date", "status", "is_present",
         "delivery_code", "_source_file"],
        ["attendance_id"],
        {"is_present": "bool"},
    )

    fact_rows = []
    for r, c, outcome in ass:
        if outcome != "loaded":
            continue
        score, max_score = _parse_number(c["score"]), _parse_number(c["max_score"])
        fact_rows.append(
            {
                "assessment_id": c["assessment_id"],
                "student_id": c["student_id"],
                "class_id": class_of[c["student_id"]],
                "subject": c["subject"],
                "score": score,
                "max_score": max_score,
                "score_pct": 100.0 * score / max_score,
                "assessed_on": _parse_date(c["assessed_on"]),
                "delivery_code": r["delivery_code"],
                "_source_file": r["_source_file"],
            }
        )
    fact_assessment = _frame(
        fact_rows,
        ["assessment_id", "student_id", "class_id", "subject", "score", "max_score", "score_pct",
         "assessed_on", "delivery_code", "_source_file"],
        ["assessment_id"],
        {"score": "float64", "max_score": "float64", "score_pct": "float64"},
    )

    out: dict[str, pd.DataFrame] = {
        "fact_attendance": fact_attendance,
        "fact_assessment": fact_assessment,
        "attendance_rejects": _rejects(att, ATTENDANCE_COLUMNS),
        "assessment_rejects": _rejects(ass, ASSESSMENT_COLUMNS),
        "attendance_outcomes": _outcome_frame(att, "attendance_id"),
        "assessment_outcomes": _outcome_frame(ass, "assessment_id"),
    }
    out["student_performance_summary"] = _student_summary(student_rows, programme_of, fact_attendance, fact_assessment)
    out["class_daily_performance"] = _class_daily(student_rows, fact_attendance, fact_assessment)
    out["student_risk_features"] = _risk_features(student_rows, fact_attendance, fact_assessment)
    out["delivery_quality"] = _delivery_quality(out["attendance_outcomes"], out["assessment_outcomes"])
    out["student_absence"] = _student_absence(class_of, programme_of, fact_attendance)
    out["programme_attendance"] = _programme_attendance(out["student_absence"], _sis_frames(sis)[0])
    for name, frame in out.items():
        frame.attrs["name"] = name
    return out


def _frame(rows: list[dict], columns: list[str], keys: list[str], dtypes: dict[str, str] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    if dtypes:
        frame = frame.astype(dtypes)
    return frame.sort_values(keys, kind="mergesort").reset_index(drop=True)


def _rejects(outcomes, columns: list[str]) -> pd.DataFrame:
    rows = [
        {**{c: r[c] for c in columns + LINEAGE_COLUMNS}, "reason": outcome}
        for r, _, outcome in outcomes
        if outcome not in ("loaded", "superseded")
    ]
    return _frame(rows, columns + LINEAGE_COLUMNS + ["reason"], LINEAGE_COLUMNS, {"_source_row": "int64"})


def _outcome_frame(outcomes, id_column: str) -> pd.DataFrame:
    rows = [{**{c: r[c] for c in LINEAGE_COLUMNS}, id_column: r[id_column], "outcome": o} for r, _, o in outcomes]
    return _frame(rows, LINEAGE_COLUMNS + [id_column, "outcome"], LINEAGE_COLUMNS, {"_source_row": "int64"})


def _rate(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else math.nan


def _student_summary(student_rows, programme_of, fact_attendance, fact_assessment) -> pd.DataFrame:
    att_by = {k: g for k, g in fact_attendance.groupby("student_id")}
    ass_by = {k: g for k, g in fact_assessment.groupby("student_id")}
    rows = []
    for s in student_rows:
        a = att_by.get(s["student_id"])
        statuses = a["status"] if a is not None else pd.Series([], dtype=object)
        present = int(statuses.isin(PRESENT_STATUSES).sum())
        absent = int((statuses == "absent").sum())
        pct = ass_by[s["student_id"]]["score_pct"] if s["student_id"] in ass_by else pd.Series([], dtype=float)
        rows.append(
            {
                "student_id": s["student_id"],
                "class_id": s["class_id"],
                "programme_code": programme_of.get(s["class_id"]) if s["class_id"] is not None else None,
                "enrolment_status": s["enrolment_status"],
                "total_attendance_records": len(statuses),
                "present_days": present,
                "absent_days": absent,
                "excused_days": int((statuses == "excused").sum()),
                "attendance_rate": _rate(present, present + absent),
                "total_assessments": len(pct),
                "avg_score_pct": float(pct.mean()) if len(pct) else math.nan,
                "min_score_pct": float(pct.min()) if len(pct) else math.nan,
                "max_score_pct": float(pct.max()) if len(pct) else math.nan,
            }
        )
    columns = ["student_id", "class_id", "programme_code", "enrolment_status", "total_attendance_records",
               "present_days", "absent_days", "excused_days", "attendance_rate", "total_assessments",
               "avg_score_pct", "min_score_pct", "max_score_pct"]
    ints = {c: "int64" for c in ["total_attendance_records", "present_days", "absent_days", "excused_days",
                                 "total_assessments"]}
    floats = {c: "float64" for c in ["attendance_rate", "avg_score_pct", "min_score_pct", "max_score_pct"]}
    return _frame(rows, columns, ["student_id"], {**ints, **floats})


def _class_daily(student_rows, fact_attendance, fact_assessment) -> pd.DataFrame:
    active: dict[Any, int] = {}
    for s in student_rows:
        if s["class_id"] is not None and s["enrolment_status"] == "active":
            active[s["class_id"]] = active.get(s["class_id"], 0) + 1

    # A fact without a class (student has no class_id) has no class-day to belong to.
    att = fact_attendance[fact_attendance["class_id"].notna()]
    ass = fact_assessment[fact_assessment["class_id"].notna()]
    att_by = {k: g for k, g in att.groupby(["class_id", "session_date"])}
    ass_by = {k: g for k, g in ass.groupby(["class_id", "assessed_on"])}
    rows = []
    for class_id, day in sorted(set(att_by) | set(ass_by)):
        a = att_by.get((class_id, day))
        b = ass_by.get((class_id, day))
        statuses = a["status"] if a is not None else pd.Series([], dtype=object)
        present = int(statuses.isin(PRESENT_STATUSES).sum())
        absent = int((statuses == "absent").sum())
        rows.append(
            {
                "class_id": class_id,
                "activity_date": day,
                "total_students": active.get(class_id, 0),
                "students_with_attendance": a["student_id"].nunique() if a is not None else 0,
                "present_count": present,
                "absent_count": absent,
                "excused_count": int((statuses == "excused").sum()),
                "attendance_rate": _rate(present, present + absent),
                "students_with_assessment": b["student_id"].nunique() if b is not None else 0,
                "assessment_count": len(b) if b is not None else 0,
                "avg_score_pct": float(b["score_pct"].mean()) if b is not None else math.nan,
            }
        )
    columns = ["class_id", "activity_date", "total_students", "students_with_attendance", "present_count",
               "absent_count", "excused_count", "attendance_rate", "students_with_assessment",
               "assessment_count", "avg_score_pct"]
    ints = {c: "int64" for c in ["total_students", "students_with_attendance", "present_count", "absent_count",
                                 "excused_count", "students_with_assessment", "assessment_count"]}
    return _frame(rows, columns, ["class_id", "activity_date"],
                  {**ints, "attendance_rate": "float64", "avg_score_pct": "float64"})


def _risk_features(student_rows, fact_attendance, fact_assessment) -> pd.DataFrame:
    as_of = max(fact_attendance["session_date"]) if len(fact_attendance) else None
    start = as_of - dt.timedelta(days=WINDOW_DAYS - 1) if as_of is not None else None
    att_by = {k: g for k, g in fact_attendance.groupby("student_id")}
    failed_by = fact_assessment[fact_assessment["score_pct"] < FAIL_PCT].groupby("student_id").size().to_dict()
    rows = []
    for s in student_rows:
        a = att_by.get(s["student_id"])
        rate = math.nan
        days_since = None
        if a is not None and as_of is not None:
            window = a[(a["session_date"] >= start) & (a["session_date"] <= as_of)]
            present = int(window["status"].isin(PRESENT_STATUSES).sum())
            absent = int((window["status"] == "absent").sum())
            rate = _rate(present, present + absent)
            present_dates = a.loc[a["is_present"], "session_date"]
            if len(present_dates):
                days_since = (as_of - max(present_dates)).days
        failed = int(failed_by.get(s["student_id"], 0))
        rows.append(
            {
                "student_id": s["student_id"],
                "as_of_date": as_of,
                "attendance_rate_28d": rate,
                "days_since_last_present": days_since,
                "failed_assessments": failed,
                # NaN < 0.8 is False: no sessions in the window is not a risk signal by itself.
                "at_risk": bool(rate < RISK_RATE or failed >= 2),
            }
        )
    columns = ["student_id", "as_of_date", "attendance_rate_28d", "days_since_last_present",
               "failed_assessments", "at_risk"]
    return _frame(rows, columns, ["student_id"],
                  {"attendance_rate_28d": "float64", "days_since_last_present": "Int64",
                   "failed_assessments": "int64", "at_risk": "bool"})


def _delivery_quality(attendance_outcomes: pd.DataFrame, assessment_outcomes: pd.DataFrame) -> pd.DataFrame:
    parts = [
        attendance_outcomes[["delivery_code", "outcome"]].assign(source="attendance"),
        assessment_outcomes[["delivery_code", "outcome"]].assign(source="assessments"),
    ]
    both = pd.concat(parts, ignore_index=True)
    if both.empty:
        return pd.DataFrame({"delivery_code": [], "source": [], "outcome": [],
                             "row_count": pd.Series([], dtype="int64")})
    counted = both.groupby(["delivery_code", "source", "outcome"]).size().rename("row_count").reset_index()
    counted["row_count"] = counted["row_count"].astype("int64")
    return counted.sort_values(["delivery_code", "source", "outcome"], kind="mergesort").reset_index(drop=True)


def _academic_year(day: dt.date) -> str:
    """'2025/26' for any day from 2025-09-01 to 2026-08-31."""
    start = day.year if day.month >= 9 else day.year - 1
    return f"{start}/{(start + 1) % 100:02d}"


def _longest_run(flags: list[bool]) -> int:
    longest = current = 0
    for flag in flags:
        current = current + 1 if flag else 0
        longest = max(longest, current)
    return longest


def _absence_band(absences: int, sessions: int) -> str | None:
    if sessions < ABSENCE_MIN_SESSIONS:
        return None  # too few sessions to judge
    rate = Fraction(absences, sessions)
    return next(band for band, lowest in ABSENCE_BANDS if rate >= lowest)


STUDENT_ABSENCE_COLUMNS = [
    "student_id", "academic_year", "class_id", "programme_code", "possible_sessions", "attended_sessions",
    "authorised_absences", "unauthorised_absences", "absence_rate", "is_persistent_absentee",
    "is_severe_absentee", "absence_band", "longest_absence_streak",
]


def _student_absence(class_of: dict, programme_of: dict, fact_attendance: pd.DataFrame) -> pd.DataFrame:
    # Group the valid sessions by (student, academic year); facts only hold SIS students.
    sessions_by: dict[tuple[str, str], list[tuple[dt.date, str, str]]] = {}
    for row in fact_attendance.to_dict("records"):
        if row["student_id"] not in class_of:
            continue
        key = (row["student_id"], _academic_year(row["session_date"]))
        sessions_by.setdefault(key, []).append((row["session_date"], row["attendance_id"], row["status"]))
    rows = []
    for (student_id, year), sessions in sessions_by.items():
        statuses = [status for _, _, status in sorted(sessions)]  # session_date, then attendance_id
        possible = len(statuses)
        authorised = statuses.count("excused")
        unauthorised = statuses.count("absent")
        absences = authorised + unauthorised
        eligible = possible >= ABSENCE_MIN_SESSIONS
        class_id = class_of[student_id]
        rows.append(
            {
                "student_id": student_id,
                "academic_year": year,
                "class_id": class_id,
                "programme_code": programme_of.get(class_id) if class_id is not None else None,
                "possible_sessions": possible,
                "attended_sessions": sum(status in PRESENT_STATUSES for status in statuses),
                "authorised_absences": authorised,
                "unauthorised_absences": unauthorised,
                "absence_rate": absences / possible,
                "is_persistent_absentee": eligible and Fraction(absences, possible) >= PERSISTENT_ABSENCE_THRESHOLD,
                "is_severe_absentee": eligible and Fraction(absences, possible) >= SEVERE_ABSENCE_THRESHOLD,
                "absence_band": _absence_band(absences, possible),
                "longest_absence_streak": _longest_run([status in ABSENCE_STATUSES for status in statuses]),
            }
        )
    ints = {c: "int64" for c in ["possible_sessions", "attended_sessions", "authorised_absences",
                                 "unauthorised_absences", "longest_absence_streak"]}
    return _frame(rows, STUDENT_ABSENCE_COLUMNS, ["student_id", "academic_year"],
                  {**ints, "absence_rate": "float64", "is_persistent_absentee": "bool",
                   "is_severe_absentee": "bool"})


PROGRAMME_ATTENDANCE_COLUMNS = [
    "programme_code", "academic_year", "programme_name", "faculty", "level", "students", "eligible_students",
    "persistent_absentees", "persistent_absence_rate", "possible_sessions", "attended_sessions",
    "authorised_absences", "unauthorised_absences", "absence_rate",
]


def _programme_attendance(student_absence: pd.DataFrame, programmes: pd.DataFrame) -> pd.DataFrame:
    details = {
        _sis_value(r["programme_code"]): {c: _sis_value(r.get(c)) for c in ("programme_name", "faculty", "level")}
        for r in programmes.to_dict("records")
    }
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in student_absence.to_dict("records"):
        if row["programme_code"] is None:
            continue  # a student without a programme belongs to no programme's figures
        groups.setdefault((row["programme_code"], row["academic_year"]), []).append(row)
    rows = []
    for (code, year), members in groups.items():
        eligible = sum(m["possible_sessions"] >= ABSENCE_MIN_SESSIONS for m in members)
        persistent = sum(bool(m["is_persistent_absentee"]) for m in members)
        possible = sum(m["possible_sessions"] for m in members)
        authorised = sum(m["authorised_absences"] for m in members)
        unauthorised = sum(m["unauthorised_absences"] for m in members)
        known = details.get(code, {})
        rows.append(
            {
                "programme_code": code,
                "academic_year": year,
                "programme_name": known.get("programme_name"),
                "faculty": known.get("faculty"),
                "level": known.get("level"),
                "students": len(members),
                "eligible_students": eligible,
                "persistent_absentees": persistent,
                "persistent_absence_rate": _rate(persistent, eligible),
                "possible_sessions": possible,
                "attended_sessions": sum(m["attended_sessions"] for m in members),
                "authorised_absences": authorised,
                "unauthorised_absences": unauthorised,
                "absence_rate": (authorised + unauthorised) / possible,
            }
        )
    ints = {c: "int64" for c in ["students", "eligible_students", "persistent_absentees", "possible_sessions",
                                 "attended_sessions", "authorised_absences", "unauthorised_absences"]}
    return _frame(rows, PROGRAMME_ATTENDANCE_COLUMNS, ["programme_code", "academic_year"],
                  {**ints, "persistent_absence_rate": "float64", "absence_rate": "float64"})


# --------------------------------------------------------------------------------------------
# Comparing the warehouse with the oracle
# --------------------------------------------------------------------------------------------

def _norm(value: Any) -> Any:
    """One representation per value, whichever engine or dtype produced it.

    NULL -> None; numbers -> int/float; booleans -> bool; dates and midnight
    timestamps -> 'YYYY-MM-DD' (so they equal ISO date text); intervals -> days.
    Text is left alone: rejects hold raw text, where '2025-09-08 00:00:00' and
    '2025-09-08' are different values.
    """
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)  # before np.generic: .item() on ns datetimes gives an int
    elif isinstance(value, np.timedelta64):
        value = pd.Timedelta(value)
    elif isinstance(value, np.generic):
        value = value.item()
    if _is_null(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, dt.timedelta):  # pd.Timedelta is a subclass
        return value.total_seconds() / 86400.0
    if isinstance(value, dt.datetime):  # pd.Timestamp is a subclass; test before dt.date
        if value.tzinfo is None and value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _as_number(value: Any) -> float | None:
    if isinstance(value, (bool, int, float)):
        return float(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            return float(lowered == "true")
        try:
            return float(lowered)
        except ValueError:
            return None
    return None


def _equal(actual: Any, expected: Any, rtol: float, atol: float) -> bool:
    if actual is None or expected is None:
        return actual is None and expected is None
    numeric = (bool, int, float)
    if isinstance(actual, numeric) or isinstance(expected, numeric):
        a, e = _as_number(actual), _as_number(expected)
        if a is None or e is None:
            return False
        if math.isinf(a) or math.isinf(e) or math.isnan(a) or math.isnan(e):
            return a == e
        return abs(a - e) <= atol + rtol * abs(e)
    return actual == expected


def _key_token(value: Any) -> tuple:
    """A sortable, hashable form of a normalised key value (None sorts first)."""
    if value is None:
        return (0, "")
    if isinstance(value, (bool, int, float)):
        number = float(value)
        return (1, int(number) if number.is_integer() else number)
    return (2, str(value))


def _rows_by_key(frame: pd.DataFrame, keys: list[str], columns: list[str]):
    normalised = {c: [_norm(v) for v in frame[c].astype(object).tolist()] for c in columns}
    rows: dict[tuple, dict[str, Any]] = {}
    duplicates: list[tuple] = []
    for i in range(len(frame)):
        row = {c: normalised[c][i] for c in columns}
        token = tuple(_key_token(row[k]) for k in keys)
        if token in rows:
            duplicates.append(token)
        rows[token] = row
    return rows, duplicates


def _show_key(keys: list[str], token: tuple) -> str:
    return "(" + ", ".join(f"{k}={v!r}" for k, (_, v) in zip(keys, token)) + ")"


def compare_frames(
    actual: pd.DataFrame,
    expected: pd.DataFrame,
    keys: list[str],
    rtol: float = 0.0,
    atol: float = 1e-9,
    name: str | None = None,
) -> None:
    """Assert that `actual` holds exactly the rows of `expected`, matched on `keys`.

    Only the expected frame's columns are compared, so extra warehouse columns
    are fine. Numbers match within atol + rtol*|expected|; NULL equals only NULL.
    The table name defaults to `expected.attrs['name']`, which `expected()` sets.
    """
    table = name or expected.attrs.get("name") or "frame"
    missing_columns = [c for c in expected.columns if c not in actual.columns]
    if missing_columns:
        raise AssertionError(f"{table}: actual lacks columns {missing_columns}; it has {list(actual.columns)}")
    columns = list(expected.columns)
    want, want_dups = _rows_by_key(expected, keys, columns)
    got, got_dups = _rows_by_key(actual, keys, columns)

    problems: list[str] = []
    if len(actual) != len(expected):
        problems.append(f"row count: actual {len(actual)}, expected {len(expected)}")
    problems += [f"key {_show_key(keys, t)}: duplicated in expected" for t in want_dups]
    problems += [f"key {_show_key(keys, t)}: duplicated in actual" for t in got_dups]
    problems += [f"key {_show_key(keys, t)}: missing from actual" for t in sorted(set(want) - set(got))]
    problems += [f"key {_show_key(keys, t)}: unexpected row in actual" for t in sorted(set(got) - set(want))]
    for token in sorted(set(want) & set(got)):
        for column in columns:
            if column in keys:
                continue
            a, e = got[token][column], want[token][column]
            if not _equal(a, e, rtol, atol):
                problems.append(f"key {_show_key(keys, token)} column {column}: actual {a!r}, expected {e!r}")
    if problems:
        shown = "\n  ".join(problems[:10])
        more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise AssertionError(f"{table}: {len(problems)} difference(s) on keys {keys}:\n  {shown}{more}")
