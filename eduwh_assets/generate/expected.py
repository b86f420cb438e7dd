"""What the warehouse should make of delivered rows: SPEC §4's outcome rules, row by row.

A deliberately plain, slow implementation (Python loops over parsed files),
independent of dbt, so tests can compare the warehouse's quarantine and
`gold.delivery_quality` with an expectation computed from the files alone.
Use it on the tiny to demo scales.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections import Counter
from datetime import date
from typing import Iterable

VALID_STATUSES = {"present", "late", "absent", "excused"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
KEYS = {"attendance": "attendance_id", "assessments": "assessment_id"}


def parse_file(name: str, data: bytes) -> list[dict]:
    """Rows of one delivered file as text values, the way bronze keeps them.

    JSON numbers keep their literal text (`85.0`); a field absent from an
    object is None.
    """
    text = data.decode("utf-8")
    if name.endswith(".csv"):
        return [dict(r) for r in csv.DictReader(io.StringIO(text))]
    if name.endswith(".jsonl"):
        objs = [json.loads(line, parse_float=str, parse_int=str) for line in text.splitlines() if line.strip()]
    else:
        objs = json.loads(text, parse_float=str, parse_int=str)
    return [{k: (v if v is None or isinstance(v, str) else str(v)) for k, v in o.items()} for o in objs]


def _text(v: str | None) -> str:
    return (v or "").strip()


def _valid_date(v: str | None) -> bool:
    s = _text(v)
    if not _DATE.match(s):
        return False
    try:
        date.fromisoformat(s)
    except ValueError:
        return False
    return True


def _number(v: str | None) -> float | None:
    s = _text(v)
    if not _NUMBER.match(s):
        return None
    x = float(s)
    return x if math.isfinite(x) else None


def reject_reason(source: str, row: dict, student_ids: set[str]) -> str | None:
    """The first rule of SPEC §4 the row breaks, or None when it is valid."""
    if not _text(row.get(KEYS[source])) or not _text(row.get("student_id")):
        return "missing_key"
    if not _valid_date(row.get("session_date" if source == "attendance" else "assessed_on")):
        return "bad_date"
    if source == "attendance":
        if _text(row.get("status")).lower() not in VALID_STATUSES:
            return "bad_status"
    else:
        score, max_score = _number(row.get("score")), _number(row.get("max_score"))
        if score is None or max_score is None or max_score <= 0 or score < 0 or score > max_score:
            return "bad_score"
    if _text(row.get("student_id")) not in student_ids:
        return "unknown_student"
    return None


def outcomes(source: str, rows: list[dict], student_ids: set[str]) -> list[str]:
    """The outcome of every row: `loaded`, `superseded` or a reject reason.

    Each row carries `delivery_code`, `_source_file` and `_source_row`; the
    greatest (delivery_code, _source_file, _source_row) of a key wins.
    """
    key = KEYS[source]
    winner: dict[str, int] = {}
    for i, row in enumerate(rows):
        k = _text(row.get(key))
        if not k:
            continue
        rank = (row["delivery_code"], row["_source_file"], row["_source_row"])
        j = winner.get(k)
        if j is None or rank > (rows[j]["delivery_code"], rows[j]["_source_file"], rows[j]["_source_row"]):
            winner[k] = i
    out = []
    for i, row in enumerate(rows):
        k = _text(row.get(key))
        if k and winner[k] != i:
            out.append("superseded")
        else:
            out.append(reject_reason(source, row, student_ids) or "loaded")
    return out


def delivered_rows(files: Iterable[tuple[str, str, bytes]]) -> dict[str, list[dict]]:
    """(delivery_code, file name, bytes) -> rows per source, with their lineage columns."""
    out: dict[str, list[dict]] = {"attendance": [], "assessments": []}
    for code, name, data in files:
        source = "attendance" if name.startswith("attendance") else "assessments" if name.startswith("assessments") else None
        if source is None:
            continue
        for n, row in enumerate(parse_file(name, data), start=1):
            out[source].append({**row, "delivery_code": code, "_source_file": name, "_source_row": n})
    return out


def expected_quality(deliveries: Iterable, student_ids: Iterable[str]) -> dict[tuple[str, str, str], int]:
    """Counts per (delivery_code, source, outcome), as `gold.delivery_quality` should hold them.

    `deliveries` are GeneratedDelivery objects (with file contents);
    `student_ids` are the students in the SIS at build time.
    """
    ids = set(student_ids)
    rows = delivered_rows((d.code, f.name, f.data) for d in deliveries for f in d.files)
    counts: Counter = Counter()
    for source, source_rows in rows.items():
        for row, outcome in zip(source_rows, outcomes(source, source_rows, ids)):
            counts[(row["delivery_code"], source, outcome)] += 1
    return dict(counts)
