"""The oracle checks the warehouse, so the oracle itself is checked here against
answers worked out by hand from SPEC §4. Inputs are real CSV/JSON/JSONL files
in a temporary landing folder, read back through `read_landing`, so the file
handling (raw text, row numbers, which folders count) is under test too.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eduwh_tests.oracle import KEYS, compare_frames, expected, read_landing

NAN = math.nan
D = dt.date
TS = pd.Timestamp("2025-01-01")


# --- building inputs -------------------------------------------------------------------------


def write_delivery(root: Path, code: str, files: dict[str, str], manifest: bool = True) -> None:
    """Write a delivery folder; the manifest counts data rows the way a sender would."""
    folder = root / code
    folder.mkdir(parents=True)
    rows = {}
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
        if name.endswith(".csv"):
            rows[name] = sum(1 for line in text.splitlines() if line.strip()) - 1
        elif name.endswith(".jsonl"):
            rows[name] = sum(1 for line in text.splitlines() if line.strip())
        elif name.endswith(".json"):
            rows[name] = len(json.loads(text))
    if manifest:
        doc = {"delivery_code": code, "files": {n: {"rows": r} for n, r in rows.items()}}
        (folder / "_manifest.json").write_text(json.dumps(doc), encoding="utf-8")


def make_sis(students: list[tuple], classes: list[tuple]) -> dict[str, pd.DataFrame]:
    """students: (student_id, class_id, enrolment_status); classes: (class_id, programme_code)."""
    programmes = pd.DataFrame(
        {
            "programme_code": sorted({p for _, p in classes}),
            "programme_name": "Programme",
            "faculty": "Science",
            "level": "L3",
            "updated_at": TS,
        }
    )
    class_frame = pd.DataFrame(
        [
            {"class_id": c, "class_name": f"Class {c}", "programme_code": p, "academic_year": "2025/26",
             "updated_at": TS}
            for c, p in classes
        ]
    )
    student_frame = pd.DataFrame(
        [
            {"student_id": s, "first_name": "Ann", "last_name": "Lee", "email": f"{s}@example.org",
             "date_of_birth": D(2008, 1, 1), "gender": "F", "class_id": c, "enrolment_status": e,
             "updated_at": TS}
            for s, c, e in students
        ]
    )
    return {"programmes": programmes, "classes": class_frame, "students": student_frame}


def frame(columns: list[str], rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


def check(out: dict[str, pd.DataFrame], name: str, columns: list[str], rows: list[tuple]) -> None:
    """Exact comparison (atol=0): every expected value here is exactly representable or
    the same double expression the oracle computes."""
    want = frame(columns, rows)
    assert list(out[name].columns) == columns
    compare_frames(out[name], want, KEYS[name], atol=0.0, name=name)


# --- SPEC §4 worked example --------------------------------------------------------------------

WORKED_SIS = [("S1", "C1", "active"), ("S2", "C1", "active"), ("S3", "C1", "withdrawn")]


def worked_landing(root: Path) -> Path:
    write_delivery(
        root,
        "D1",
        {
            "attendance.csv": "attendance_id,student_id,session_date,status\n"
            "A1,S1,2025-09-08,present\n"
            "A2,S1,2025-09-09,sick\n"
            "A3,S2,2025-09-08, Late \n"
            "A3,S2,2025-09-08,ABSENT\n",
            "notes.csv": "attendance_id,student_id,session_date,status\nZ1,S1,2025-09-08,present\n",
        },
    )
    write_delivery(
        root,
        "D2",
        {
            # The extra column must be ignored.
            "attendance_a.csv": "attendance_id,student_id,session_date,status,room\n"
            "A1,S1,2025-09-08,holiday,R1\n"
            "A2,S1,2025-09-09,excused,R2\n",
            "attendance_b.csv": "attendance_id,student_id,session_date,status\n"
            "A1,S1,2025-09-08,holiday\n"
            ",S1,2025-09-10,present\n"
            "A4,S9,2025-02-30,nope\n"
            "A5,S9,2025-09-10,present\n",
        },
    )
    # None of these may be read: incomplete, and two invalid delivery codes.
    row = "attendance_id,student_id,session_date,status\nA9,S1,2025-09-30,present\n"
    write_delivery(root, "D3", {"attendance.csv": row}, manifest=False)
    write_delivery(root, "bad code", {"attendance.csv": row})
    write_delivery(root, "_staging", {"attendance.csv": row})
    return root


def test_read_landing_worked_example(tmp_path):
    att, ass = read_landing(worked_landing(tmp_path))
    assert ass.empty
    assert list(att.columns) == ["attendance_id", "student_id", "session_date", "status",
                                 "delivery_code", "_source_file", "_source_row"]
    assert att.values.tolist() == [
        ["A1", "S1", "2025-09-08", "present", "D1", "attendance.csv", 1],
        ["A2", "S1", "2025-09-09", "sick", "D1", "attendance.csv", 2],
        ["A3", "S2", "2025-09-08", " Late ", "D1", "attendance.csv", 3],
        ["A3", "S2", "2025-09-08", "ABSENT", "D1", "attendance.csv", 4],
        ["A1", "S1", "2025-09-08", "holiday", "D2", "attendance_a.csv", 1],
        ["A2", "S1", "2025-09-09", "excused", "D2", "attendance_a.csv", 2],
        ["A1", "S1", "2025-09-08", "holiday", "D2", "attendance_b.csv", 1],
        ["", "S1", "2025-09-10", "present", "D2", "attendance_b.csv", 2],
        ["A4", "S9", "2025-02-30", "nope", "D2", "attendance_b.csv", 3],
        ["A5", "S9", "2025-09-10", "present", "D2", "attendance_b.csv", 4],
    ]


def test_worked_example_outcomes_and_silver(tmp_path):
    att, ass = read_landing(worked_landing(tmp_path))
    out = expected(make_sis(WORKED_SIS, [("C1", "P1")]), att, ass)

    # The outcome column of the SPEC table, rows 1-10.
    check(out, "attendance_outcomes", ["delivery_code", "_source_file", "_source_row", "attendance_id", "outcome"], [
        ("D1", "attendance.csv", 1, "A1", "superseded"),
        ("D1", "attendance.csv", 2, "A2", "superseded"),
        ("D1", "attendance.csv", 3, "A3", "superseded"),
        ("D1", "attendance.csv", 4, "A3", "loaded"),
        ("D2", "attendance_a.csv", 1, "A1", "superseded"),
        ("D2", "attendance_a.csv", 2, "A2", "loaded"),
        ("D2", "attendance_b.csv", 1, "A1", "bad_status"),
        ("D2", "attendance_b.csv", 2, "", "missing_key"),
        ("D2", "attendance_b.csv", 3, "A4", "bad_date"),
        ("D2", "attendance_b.csv", 4, "A5", "unknown_student"),
    ])
    check(out, "fact_attendance", ["attendance_id", "student_id", "class_id", "session_date", "status",
                                   "is_present", "delivery_code", "_source_file"], [
        ("A2", "S1", "C1", D(2025, 9, 9), "excused", False, "D2", "attendance_a.csv"),
        ("A3", "S2", "C1", D(2025, 9, 8), "absent", False, "D1", "attendance.csv"),
    ])
    # Rejects keep the raw values as received.
    check(out, "attendance_rejects", ["attendance_id", "student_id", "session_date", "status", "delivery_code",
                                      "_source_file", "_source_row", "reason"], [
        ("A1", "S1", "2025-09-08", "holiday", "D2", "attendance_b.csv", 1, "bad_status"),
        ("", "S1", "2025-09-10", "present", "D2", "attendance_b.csv", 2, "missing_key"),
        ("A4", "S9", "2025-02-30", "nope", "D2", "attendance_b.csv", 3, "bad_date"),
        ("A5", "S9", "2025-09-10", "present", "D2", "attendance_b.csv", 4, "unknown_student"),
    ])
    assert out["fact_assessment"].empty and out["assessment_rejects"].empty
    check(out, "delivery_quality", ["delivery_code", "source", "outcome", "row_count"], [
        ("D1", "attendance", "loaded", 1),
        ("D1", "attendance", "superseded", 3),
        ("D2", "attendance", "bad_date", 1),
        ("D2", "attendance", "bad_status", 1),
        ("D2", "attendance", "loaded", 1),
        ("D2", "attendance", "missing_key", 1),
        ("D2", "attendance", "superseded", 1),
        ("D2", "attendance", "unknown_student", 1),
    ])


def test_worked_example_gold(tmp_path):
    att, ass = read_landing(worked_landing(tmp_path))
    out = expected(make_sis(WORKED_SIS, [("C1", "P1")]), att, ass)
    check(out, "student_performance_summary", [
        "student_id", "class_id", "programme_code", "enrolment_status", "total_attendance_records",
        "present_days", "absent_days", "excused_days", "attendance_rate", "total_assessments",
        "avg_score_pct", "min_score_pct", "max_score_pct"], [
        ("S1", "C1", "P1", "active", 1, 0, 0, 1, NAN, 0, NAN, NAN, NAN),
        ("S2", "C1", "P1", "active", 1, 0, 1, 0, 0.0, 0, NAN, NAN, NAN),
        ("S3", "C1", "P1", "withdrawn", 0, 0, 0, 0, NAN, 0, NAN, NAN, NAN),  # no activity at all
    ])
    check(out, "class_daily_performance", [
        "class_id", "activity_date", "total_students", "students_with_attendance", "present_count",
        "absent_count", "excused_count", "attendance_rate", "students_with_assessment", "assessment_count",
        "avg_score_pct"], [
        ("C1", D(2025, 9, 8), 2, 1, 0, 1, 0, 0.0, 0, 0, NAN),
        ("C1", D(2025, 9, 9), 2, 1, 0, 0, 1, NAN, 0, 0, NAN),
    ])
    # as_of = latest valid session_date = 2025-09-09 (A2); S1 is excused only, so no rate and not at risk.
    check(out, "student_risk_features", ["student_id", "as_of_date", "attendance_rate_28d",
                                         "days_since_last_present", "failed_assessments", "at_risk"], [
        ("S1", D(2025, 9, 9), NAN, None, 0, False),
        ("S2", D(2025, 9, 9), 0.0, None, 0, True),
        ("S3", D(2025, 9, 9), NAN, None, 0, False),
    ])


def test_unknown_student_becomes_valid_once_in_sis(tmp_path):
    att, ass = read_landing(worked_landing(tmp_path))
    out = expected(make_sis(WORKED_SIS + [("S9", "C2", "active")], [("C1", "P1"), ("C2", "P1")]), att, ass)
    outcomes = out["attendance_outcomes"].set_index("_source_row")
    b = out["attendance_outcomes"][out["attendance_outcomes"]["_source_file"] == "attendance_b.csv"]
    assert b["outcome"].tolist() == ["bad_status", "missing_key", "bad_date", "loaded"]
    assert len(outcomes) == 10
    fact = out["fact_attendance"].set_index("attendance_id")
    assert fact.loc["A5", ["student_id", "class_id", "session_date", "status", "is_present"]].tolist() == [
        "S9", "C2", D(2025, 9, 10), "present", True]
    assert out["attendance_rejects"]["reason"].tolist() == ["bad_status", "missing_key", "bad_date"]


# --- assessments: bad_score variants, precedence, restatement -----------------------------------

ASSESSMENTS_JSON = """[
 {"assessment_id": "X01", "student_id": "S1", "subject": " Maths ", "score": 85, "max_score": 100, "assessed_on": "2025-09-10"},
 {"assessment_id": "X02", "student_id": "S1", "subject": "Maths", "score": "abc", "max_score": 100, "assessed_on": "2025-09-10"},
 {"assessment_id": "X03", "student_id": "S1", "subject": "Maths", "score": 0, "max_score": 0, "assessed_on": "2025-09-10"},
 {"assessment_id": "X04", "student_id": "S1", "subject": "Maths", "score": -1, "max_score": 10, "assessed_on": "2025-09-10"},
 {"assessment_id": "X05", "student_id": "S1", "subject": "Maths", "score": 100.5, "max_score": 100, "assessed_on": "2025-09-10"},
 {"assessment_id": "X06", "student_id": "S1", "subject": "Maths", "score": 1e400, "max_score": 100, "assessed_on": "2025-09-10"},
 {"assessment_id": "X07", "student_id": "S2", "subject": "Art", "score": " 42.5 ", "max_score": "50", "assessed_on": " 2025-09-11 "},
 {"assessment_id": "X08", "student_id": "S2", "subject": "Art", "max_score": 50, "assessed_on": "2025-09-11"},
 {"assessment_id": "X09", "student_id": "S2", "subject": "Art", "score": "", "max_score": 50, "assessed_on": "2025-09-11"},
 {"assessment_id": "X10", "student_id": "S2", "subject": "Art", "score": NaN, "max_score": 50, "assessed_on": "2025-09-11"}
]
"""

ASSESSMENTS_B_JSONL = "\n".join([
    '{"assessment_id": "X11", "student_id": " ", "subject": "Art", "score": "bad", "max_score": 50, "assessed_on": "bad"}',
    '{"assessment_id": "X12", "student_id": "S2", "subject": "Art", "score": "bad", "max_score": 50, "assessed_on": "2025-13-01"}',
    '{"assessment_id": "X13", "student_id": "S9", "subject": "Art", "score": 85.0, "max_score": 80, "assessed_on": "2025-09-12"}',
    '',
    '{"assessment_id": "X14", "student_id": "S9", "subject": "Art", "score": 5, "max_score": 10, "assessed_on": "2025-09-12"}',
    '{"assessment_id": "X15", "student_id": "S3", "subject": null, "score": "1.5e1", "max_score": "2E1", "assessed_on": "2024-02-29"}',
    '{"assessment_id": "X16", "student_id": "S3", "subject": "  ", "score": ".5", "max_score": "1.", "assessed_on": "2025-09-12"}',
    '{"assessment_id": "X17", "student_id": "S3", "subject": "PE", "score": "0x10", "max_score": 100, "assessed_on": "2025-09-12"}',
    '{"assessment_id": "X18", "student_id": "S3", "subject": "PE", "score": "1,5", "max_score": 100, "assessed_on": "2025-09-12"}',
    '{"assessment_id": "X19", "student_id": "S3", "subject": "PE", "score": "Infinity", "max_score": 100, "assessed_on": "2025-09-12"}',
    '{"assessment_id": "X20", "student_id": "S3", "subject": "PE", "score": 40, "max_score": 40, "assessed_on": "2025-02-29"}',
    '{"assessment_id": "X21", "student_id": "S3", "subject": "PE", "score": "+0", "max_score": 10, "assessed_on": "19/09/2025"}',
    '{"assessment_id": "X22", "student_id": "S3", "subject": "PE", "score": "+0", "max_score": "-5", "assessed_on": "2025-09-13"}',
    '{"assessment_id": "X23", "student_id": "S3", "subject": "PE", "score": 10, "max_score": 10, "assessed_on": "2025-09-13"}',
    '{"assessment_id": "X24", "student_id": "S3", "subject": "PE", "score": 1, "max_score": 10, "assessed_on": "2025-9-1"}',
]) + "\n"

# D2 fixes X02, breaks X01, and restates X23 with a padded id (same key after trimming).
ASSESSMENTS_D2_JSONL = "\n".join([
    '{"assessment_id": "X02", "student_id": "S1", "subject": "Maths", "score": 30, "max_score": 100, "assessed_on": "2025-09-10"}',
    '{"assessment_id": "X01", "student_id": "S1", "subject": "Maths", "score": 120, "max_score": 100, "assessed_on": "2025-09-10"}',
    '{"assessment_id": " X23 ", "student_id": "S3", "subject": "PE", "score": "7", "max_score": "10", "assessed_on": "2025-09-13"}',
]) + "\n"

ASSESS_SIS = [("S1", "C1", "active"), ("S2", "C1", "active"), ("S3", "C1", "withdrawn")]


def assessment_landing(root: Path) -> Path:
    write_delivery(root, "D1", {"assessments.json": ASSESSMENTS_JSON, "assessments_b.jsonl": ASSESSMENTS_B_JSONL})
    write_delivery(root, "D2", {"assessments.jsonl": ASSESSMENTS_D2_JSONL})
    return root


def test_read_landing_keeps_json_literals(tmp_path):
    _, ass = read_landing(assessment_landing(tmp_path))
    rows = ass.set_index(["delivery_code", "_source_file", "_source_row"])
    assert len(ass) == 27
    assert rows.loc[("D1", "assessments.json", 1), "score"] == "85"
    assert rows.loc[("D1", "assessments.json", 5), "score"] == "100.5"
    assert rows.loc[("D1", "assessments.json", 6), "score"] == "1e400"
    assert rows.loc[("D1", "assessments.json", 7), "score"] == " 42.5 "
    assert rows.loc[("D1", "assessments.json", 8), "score"] is None  # absent key
    assert rows.loc[("D1", "assessments.json", 10), "score"] == "NaN"
    # The blank JSONL line is not a row: X14 is row 4.
    assert rows.loc[("D1", "assessments_b.jsonl", 3), "score"] == "85.0"
    assert rows.loc[("D1", "assessments_b.jsonl", 4), "assessment_id"] == "X14"
    assert rows.loc[("D1", "assessments_b.jsonl", 5), "subject"] is None  # explicit null
    assert rows.loc[("D2", "assessments.jsonl", 3), "assessment_id"] == " X23 "


def test_assessment_outcomes_and_facts(tmp_path):
    _, ass = read_landing(assessment_landing(tmp_path))
    out = expected(make_sis(ASSESS_SIS, [("C1", "P1")]), pd.DataFrame(), ass)
    got = out["assessment_outcomes"]
    got = dict(zip(zip(got["_source_file"], got["_source_row"], got["delivery_code"]), got["outcome"]))
    assert got == {
        ("assessments.json", 1, "D1"): "superseded",   # X01, broken by D2
        ("assessments.json", 2, "D1"): "superseded",   # X02, fixed by D2
        ("assessments.json", 3, "D1"): "bad_score",    # max_score 0
        ("assessments.json", 4, "D1"): "bad_score",    # score < 0
        ("assessments.json", 5, "D1"): "bad_score",    # score > max_score
        ("assessments.json", 6, "D1"): "bad_score",    # 1e400 is not finite
        ("assessments.json", 7, "D1"): "loaded",       # numeric strings and a date, padded
        ("assessments.json", 8, "D1"): "bad_score",    # score absent
        ("assessments.json", 9, "D1"): "bad_score",    # score empty
        ("assessments.json", 10, "D1"): "bad_score",   # NaN
        ("assessments_b.jsonl", 1, "D1"): "missing_key",  # blank student beats bad date and bad score
        ("assessments_b.jsonl", 2, "D1"): "bad_date",     # bad date beats bad score
        ("assessments_b.jsonl", 3, "D1"): "bad_score",    # bad score beats unknown student
        ("assessments_b.jsonl", 4, "D1"): "unknown_student",
        ("assessments_b.jsonl", 5, "D1"): "loaded",       # 1.5e1 / 2E1, leap day
        ("assessments_b.jsonl", 6, "D1"): "loaded",       # .5 / 1.
        ("assessments_b.jsonl", 7, "D1"): "bad_score",    # hex
        ("assessments_b.jsonl", 8, "D1"): "bad_score",    # decimal comma
        ("assessments_b.jsonl", 9, "D1"): "bad_score",    # Infinity
        ("assessments_b.jsonl", 10, "D1"): "bad_date",    # 2025-02-29
        ("assessments_b.jsonl", 11, "D1"): "bad_date",    # 19/09/2025
        ("assessments_b.jsonl", 12, "D1"): "bad_score",   # max_score negative
        ("assessments_b.jsonl", 13, "D1"): "superseded",  # X23, restated as ' X23 '
        ("assessments_b.jsonl", 14, "D1"): "bad_date",    # 2025-9-1
        ("assessments.jsonl", 1, "D2"): "loaded",
        ("assessments.jsonl", 2, "D2"): "bad_score",
        ("assessments.jsonl", 3, "D2"): "loaded",
    }
    check(out, "fact_assessment", ["assessment_id", "student_id", "class_id", "subject", "score", "max_score",
                                   "score_pct", "assessed_on", "delivery_code", "_source_file"], [
        ("X02", "S1", "C1", "Maths", 30.0, 100.0, 30.0, D(2025, 9, 10), "D2", "assessments.jsonl"),
        ("X07", "S2", "C1", "Art", 42.5, 50.0, 85.0, D(2025, 9, 11), "D1", "assessments.json"),
        ("X15", "S3", "C1", None, 15.0, 20.0, 75.0, D(2024, 2, 29), "D1", "assessments_b.jsonl"),
        ("X16", "S3", "C1", None, 0.5, 1.0, 50.0, D(2025, 9, 12), "D1", "assessments_b.jsonl"),
        ("X23", "S3", "C1", "PE", 7.0, 10.0, 70.0, D(2025, 9, 13), "D2", "assessments.jsonl"),
    ])
    rejects = out["assessment_rejects"].set_index("assessment_id")
    assert len(rejects) == 19
    assert rejects.loc["X13", ["score", "max_score", "reason"]].tolist() == ["85.0", "80", "bad_score"]
    assert rejects.loc["X11", "student_id"] == " "  # raw, untrimmed
    assert rejects.loc["X08", "score"] is None
    assert rejects.loc["X01", ["delivery_code", "_source_file", "_source_row"]].tolist() == [
        "D2", "assessments.jsonl", 2]
    check(out, "delivery_quality", ["delivery_code", "source", "outcome", "row_count"], [
        ("D1", "assessments", "bad_date", 4),
        ("D1", "assessments", "bad_score", 12),
        ("D1", "assessments", "loaded", 3),
        ("D1", "assessments", "missing_key", 1),
        ("D1", "assessments", "superseded", 3),
        ("D1", "assessments", "unknown_student", 1),
        ("D2", "assessments", "bad_score", 1),
        ("D2", "assessments", "loaded", 2),
    ])
    # No attendance at all: as_of_date is NULL, and so are the attendance features.
    risk = out["student_risk_features"]
    assert risk["as_of_date"].isna().all() and risk["attendance_rate_28d"].isna().all()
    assert risk["days_since_last_present"].isna().all()
    assert out["class_daily_performance"]["activity_date"].tolist() == [
        D(2024, 2, 29), D(2025, 9, 10), D(2025, 9, 11), D(2025, 9, 12), D(2025, 9, 13)]


def test_missing_ids_are_never_deduplicated(tmp_path):
    write_delivery(tmp_path, "D1", {
        "attendance.csv": "attendance_id,student_id,session_date,status\n"
        ",S1,2025-09-08,present\n"
        "  ,S1,2025-09-08,present\n"
        ",S1,2025-09-08,present\n",
        "assessments.jsonl": '{"student_id": "S1", "score": 1, "max_score": 2, "assessed_on": "2025-09-08"}\n'
        '{"assessment_id": null, "student_id": "S1", "score": 1, "max_score": 2, "assessed_on": "2025-09-08"}\n',
    })
    att, ass = read_landing(tmp_path)
    out = expected(make_sis([("S1", "C1", "active")], [("C1", "P1")]), att, ass)
    assert out["attendance_outcomes"]["outcome"].tolist() == ["missing_key"] * 3
    assert out["assessment_outcomes"]["outcome"].tolist() == ["missing_key"] * 2
    assert out["attendance_rejects"]["attendance_id"].tolist() == ["", "  ", ""]
    assert out["assessment_rejects"]["assessment_id"].tolist() == [None, None]


# --- gold: windows, excused-only, assessment-only class days, students without rows --------------

RISK_SIS = [
    ("S1", "C1", "active"), ("S2", "C1", "active"), ("S3", "C1", "suspended"),
    ("S4", "C2", "active"), ("S5", "C2", "active"), ("S6", "C2", "withdrawn"),
    ("S7", None, "active"),
]
RISK_ATTENDANCE = """attendance_id,student_id,session_date,status
T01,S1,2025-10-04,present
T02,S1,2025-10-03,absent
T03,S2,2025-10-31,excused
T04,S3,2025-10-31,Excused
T05,S5,2025-10-03,late
T06,S5,2025-10-31,absent
T07,S6,2025-10-27,present
T08,S6,2025-10-28,present
T09,S6,2025-10-29,late
T10,S6,2025-10-30,present
T11,S6,2025-10-31,absent
T12,S7,2025-10-20,present
T13,S1,2025-10-04,late
"""
RISK_ASSESSMENTS = """[
 {"assessment_id": "E1", "student_id": "S2", "subject": "Maths", "score": 19.5, "max_score": 50, "assessed_on": "2025-10-15"},
 {"assessment_id": "E2", "student_id": "S2", "subject": "Maths", "score": 1, "max_score": 10, "assessed_on": "2025-10-15"},
 {"assessment_id": "E3", "student_id": "S2", "subject": "Art", "score": 2, "max_score": 5, "assessed_on": "2025-10-15"},
 {"assessment_id": "E4", "student_id": "S3", "subject": "Art", "score": 1, "max_score": 10, "assessed_on": "2025-10-16"},
 {"assessment_id": "E5", "student_id": "S7", "subject": "Art", "score": 5, "max_score": 10, "assessed_on": "2025-10-20"}
]
"""


@pytest.fixture
def risk_out(tmp_path):
    write_delivery(tmp_path, "D1", {"attendance.csv": RISK_ATTENDANCE, "assessments.json": RISK_ASSESSMENTS})
    att, ass = read_landing(tmp_path)
    return expected(make_sis(RISK_SIS, [("C1", "P1"), ("C2", "P2")]), att, ass)


def test_risk_features(risk_out):
    as_of = D(2025, 10, 31)  # latest valid session_date; window is [2025-10-04, 2025-10-31]
    check(risk_out, "student_risk_features", ["student_id", "as_of_date", "attendance_rate_28d",
                                              "days_since_last_present", "failed_assessments", "at_risk"], [
        ("S1", as_of, 1.0, 27, 0, False),   # as_of-27 counts, the absence at as_of-28 does not
        ("S2", as_of, NAN, None, 2, True),  # excused only: no rate; two fails (39%, 10%; 40% is a pass)
        ("S3", as_of, NAN, None, 1, False),  # excused only, one fail: not at risk
        ("S4", as_of, NAN, None, 0, False),  # no rows at all
        ("S5", as_of, 0.0, 28, 0, True),    # the late at as_of-28 is outside the window but was present
        ("S6", as_of, 0.8, 1, 0, False),    # exactly 0.8 is not < 0.8
        ("S7", as_of, 1.0, 11, 0, False),   # no class, still a student
    ])


def test_student_performance_summary(risk_out):
    check(risk_out, "student_performance_summary", [
        "student_id", "class_id", "programme_code", "enrolment_status", "total_attendance_records",
        "present_days", "absent_days", "excused_days", "attendance_rate", "total_assessments",
        "avg_score_pct", "min_score_pct", "max_score_pct"], [
        ("S1", "C1", "P1", "active", 3, 2, 1, 0, 2 / 3, 0, NAN, NAN, NAN),
        ("S2", "C1", "P1", "active", 1, 0, 0, 1, NAN, 3, 89 / 3, 10.0, 40.0),
        ("S3", "C1", "P1", "suspended", 1, 0, 0, 1, NAN, 1, 10.0, 10.0, 10.0),
        ("S4", "C2", "P2", "active", 0, 0, 0, 0, NAN, 0, NAN, NAN, NAN),
        ("S5", "C2", "P2", "active", 2, 1, 1, 0, 0.5, 0, NAN, NAN, NAN),
        ("S6", "C2", "P2", "withdrawn", 5, 4, 1, 0, 0.8, 0, NAN, NAN, NAN),
        ("S7", None, None, "active", 1, 1, 0, 0, 1.0, 1, 50.0, 50.0, 50.0),
    ])


def test_class_daily_performance(risk_out):
    # total_students counts active students only: C1 has S1, S2; C2 has S4, S5. S7 has no class.
    check(risk_out, "class_daily_performance", [
        "class_id", "activity_date", "total_students", "students_with_attendance", "present_count",
        "absent_count", "excused_count", "attendance_rate", "students_with_assessment", "assessment_count",
        "avg_score_pct"], [
        ("C1", D(2025, 10, 3), 2, 1, 0, 1, 0, 0.0, 0, 0, NAN),
        ("C1", D(2025, 10, 4), 2, 1, 2, 0, 0, 1.0, 0, 0, NAN),     # two rows, one student
        ("C1", D(2025, 10, 15), 2, 0, 0, 0, 0, NAN, 1, 3, 89 / 3),  # assessments, no attendance
        ("C1", D(2025, 10, 16), 2, 0, 0, 0, 0, NAN, 1, 1, 10.0),
        ("C1", D(2025, 10, 31), 2, 2, 0, 0, 2, NAN, 0, 0, NAN),
        ("C2", D(2025, 10, 3), 2, 1, 1, 0, 0, 1.0, 0, 0, NAN),
        ("C2", D(2025, 10, 27), 2, 1, 1, 0, 0, 1.0, 0, 0, NAN),
        ("C2", D(2025, 10, 28), 2, 1, 1, 0, 0, 1.0, 0, 0, NAN),
        ("C2", D(2025, 10, 29), 2, 1, 1, 0, 0, 1.0, 0, 0, NAN),
        ("C2", D(2025, 10, 30), 2, 1, 1, 0, 0, 1.0, 0, 0, NAN),
        ("C2", D(2025, 10, 31), 2, 2, 0, 2, 0, 0.0, 0, 0, NAN),
    ])


def test_two_fails_make_at_risk_without_attendance(tmp_path):
    write_delivery(tmp_path, "D1", {"assessments.json": json.dumps([
        {"assessment_id": "F1", "student_id": "S1", "score": 3, "max_score": 10, "assessed_on": "2025-09-01"},
        {"assessment_id": "F2", "student_id": "S1", "score": 39.9, "max_score": 100, "assessed_on": "2025-09-02"},
        {"assessment_id": "F3", "student_id": "S2", "score": 3, "max_score": 10, "assessed_on": "2025-09-01"},
    ])})
    att, ass = read_landing(tmp_path)
    out = expected(make_sis([("S1", "C1", "active"), ("S2", "C1", "active")], [("C1", "P1")]), att, ass)
    check(out, "student_risk_features", ["student_id", "as_of_date", "attendance_rate_28d",
                                         "days_since_last_present", "failed_assessments", "at_risk"], [
        ("S1", None, NAN, None, 2, True),
        ("S2", None, NAN, None, 1, False),
    ])


# --- delivery_quality reconciles with what was received --------------------------------------------


def test_delivery_quality_sums_to_rows_received(tmp_path):
    worked_landing(tmp_path / "a")
    assessment_landing(tmp_path / "b")
    # One landing zone holding both: D1 and D2 from each, merged folder by folder.
    root = tmp_path / "landing"
    for src in (tmp_path / "a", tmp_path / "b"):
        for folder in src.iterdir():
            target = root / folder.name
            target.mkdir(parents=True, exist_ok=True)
            for f in folder.iterdir():
                if f.name != "_manifest.json":
                    (target / f.name).write_bytes(f.read_bytes())
    manifest_rows: dict[tuple[str, str], int] = {}
    for folder in root.iterdir():
        if folder.name in ("D1", "D2"):
            files = {}
            for f in folder.iterdir():
                if f.name.startswith(("attendance", "assessments")) and f.name != "notes.csv":
                    text = f.read_text()
                    if f.suffix == ".csv":
                        rows = len([line for line in text.splitlines() if line.strip()]) - 1
                    elif f.suffix == ".jsonl":
                        rows = len([line for line in text.splitlines() if line.strip()])
                    else:
                        rows = len(json.loads(text))
                    files[f.name] = {"rows": rows}
                    source = "attendance" if f.name.startswith("attendance") else "assessments"
                    manifest_rows[(folder.name, source)] = manifest_rows.get((folder.name, source), 0) + rows
            (folder / "_manifest.json").write_text(json.dumps({"delivery_code": folder.name, "files": files}))

    att, ass = read_landing(root)
    out = expected(make_sis(ASSESS_SIS, [("C1", "P1")]), att, ass)
    sums = out["delivery_quality"].groupby(["delivery_code", "source"])["row_count"].sum().to_dict()
    received = {**att.groupby("delivery_code").size().rename(lambda c: (c, "attendance")).to_dict(),
                **ass.groupby("delivery_code").size().rename(lambda c: (c, "assessments")).to_dict()}
    assert sums == received == manifest_rows == {
        ("D1", "attendance"): 4, ("D2", "attendance"): 6, ("D1", "assessments"): 24, ("D2", "assessments"): 3}
    # Each source is deduplicated on its own: attendance outcomes match the worked example alone.
    assert out["attendance_outcomes"]["outcome"].value_counts().to_dict() == {
        "superseded": 4, "loaded": 2, "bad_status": 1, "missing_key": 1, "bad_date": 1, "unknown_student": 1}


# --- compare_frames -------------------------------------------------------------------------------


def test_compare_frames_accepts_equivalent_representations():
    want = pd.DataFrame({
        "class_id": ["C1", "C1"],
        "activity_date": [D(2025, 9, 8), D(2025, 9, 9)],
        "total_students": [2, 2],
        "attendance_rate": [0.5, NAN],
        "days": pd.array([3, None], dtype="Int64"),
        "flag": [True, False],
        "note": [None, "x"],
    })
    got = pd.DataFrame({  # other row order, other dtypes, an extra column
        "class_id": ["C1", "C1"],
        "activity_date": pd.to_datetime(["2025-09-09", "2025-09-08"]),
        "total_students": [2.0, 2.0],
        "attendance_rate": [None, 0.5 + 1e-12],
        "days": [None, np.int64(3)],
        "flag": [np.False_, np.True_],
        "note": ["x", np.nan],
        "extra": [1, 2],
    })
    compare_frames(got, want, ["class_id", "activity_date"])
    compare_frames(got.assign(activity_date=["2025-09-09", "2025-09-08"]), want, ["class_id", "activity_date"])
    # Raw text is compared as text: a reject's '2025-09-08 00:00:00' is not '2025-09-08'.
    raw = pd.DataFrame({"k": [1], "session_date": ["2025-09-08"]})
    with pytest.raises(AssertionError, match="column session_date"):
        compare_frames(raw.assign(session_date="2025-09-08 00:00:00"), raw, ["k"])


def test_compare_frames_names_table_key_and_column():
    want = pd.DataFrame({"student_id": ["S1", "S2", "S3"], "rate": [0.5, NAN, 1.0]})
    want.attrs["name"] = "student_risk_features"
    got = pd.DataFrame({"student_id": ["S1", "S2", "S4"], "rate": [0.5 + 1e-6, 0.0, 1.0]})
    with pytest.raises(AssertionError) as err:
        compare_frames(got, want, ["student_id"])
    message = str(err.value)
    assert message.startswith("student_risk_features:")
    assert "key (student_id='S3'): missing from actual" in message
    assert "key (student_id='S4'): unexpected row in actual" in message
    assert "key (student_id='S1') column rate: actual 0.500001, expected 0.5" in message
    assert "key (student_id='S2') column rate: actual 0.0, expected None" in message
    with pytest.raises(AssertionError, match=r"t: actual lacks columns \['rate'\]"):
        compare_frames(got[["student_id"]], want, ["student_id"], name="t")
    two = want.iloc[:2]
    with pytest.raises(AssertionError, match="row count: actual 3, expected 2") as err:
        compare_frames(pd.concat([two, two.iloc[[0]]]), two, ["student_id"])
    assert "key (student_id='S1'): duplicated in actual" in str(err.value)
