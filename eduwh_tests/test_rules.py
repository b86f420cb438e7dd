"""SPEC §4's codes and thresholds have one home, and every reader takes them from there.

The home is the `vars` block of eduwh_dbt/dbt_project.yml and the absence_bands
seed. dbt reads it with var(), Python through eduwh_assets/rules.py. These
tests pin the home to SPEC, the Python readers to rules.py, and the dbt code
to var(): no model, macro or check spells a code or a threshold itself.
The oracle (eduwh_tests/oracle.py) and the plain-SQL baseline
(benchmarks/baseline.py) restate SPEC on purpose: they exist to disagree
when the warehouse is wrong.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandera.pandas as pa
import pytest

from eduwh_assets import rules
from eduwh_assets.generate.attendance import STATUS_VOCAB
from eduwh_assets.quality.contracts import CONTRACTS

ROOT = Path(__file__).resolve().parents[1]


def test_the_home_holds_spec_values():
    assert rules.ATTENDANCE_STATUSES == ("present", "late", "absent", "excused")
    assert rules.PRESENT_STATUSES == ("present", "late")
    assert (rules.ABSENT_STATUSES, rules.EXCUSED_STATUSES) == (("absent",), ("excused",))
    assert rules.ENROLMENT_STATUSES == ("active", "suspended", "withdrawn", "completed")
    assert rules.ACTIVE_ENROLMENT_STATUS == "active"
    assert rules.REJECT_REASONS == ("missing_key", "bad_date", "bad_status", "bad_score", "unknown_student")
    assert rules.REASONS_BY_SOURCE == {
        "attendance": ("missing_key", "bad_date", "bad_status", "unknown_student"),
        "assessments": ("missing_key", "bad_date", "bad_score", "unknown_student"),
    }
    assert rules.OUTCOMES == ("loaded", "superseded", *rules.REJECT_REASONS)
    assert (rules.RISK_WINDOW_DAYS, rules.FAILED_SCORE_PCT_BELOW) == (28, 40)
    assert (rules.AT_RISK_ATTENDANCE_BELOW, rules.AT_RISK_FAILED_ASSESSMENTS) == (0.8, 2)
    assert (rules.PERSISTENT_ABSENCE_THRESHOLD, rules.SEVERE_ABSENCE_THRESHOLD) == (0.10, 0.50)
    assert rules.ABSENCE_MIN_SESSIONS == 10
    assert [(b.band, b.min_absence_rate) for b in rules.ABSENCE_BANDS] == [
        ("severe", 0.20), ("moderate", 0.10), ("at_risk", 0.05), ("satisfactory", 0.0),
    ]
    assert rules.WHITESPACE == " \t\n\v\f\r"  # no non-breaking space: silver keeps it as text


def test_number_and_date_shapes_match_what_silver_accepts():
    number, date = re.compile(rules.NUMBER_TEXT), re.compile(rules.DATE_TEXT)
    for text in ("1", "-2.5", "+.5", "5.", "1e5", "1E-3"):
        assert number.fullmatch(text), text
    for text in ("nan", "inf", "0x1A", "1.2.3", ".", "", "١٢", "1,5", "e5"):
        assert not number.fullmatch(text), text
    assert date.fullmatch("2025-09-01")
    for text in ("2025-9-1", "٢٠٢٥-09-01", "2025/09/01", "20250901"):
        assert not date.fullmatch(text), text


def _isin_values(table: str, column: str) -> tuple:
    [check] = [c for c in CONTRACTS[table].schema.columns[column].checks if c.name == "isin"]
    return tuple(check.statistics["allowed_values"])


def test_pandera_contracts_read_the_home():
    assert _isin_values("silver.fact_attendance", "status") == rules.ATTENDANCE_STATUSES
    for table in ("bronze.sis_students", "silver.dim_student", "gold.student_performance_summary"):
        assert _isin_values(table, "enrolment_status") == rules.ENROLMENT_STATUSES
    assert _isin_values("quarantine.attendance_rejects", "reason") == rules.REASONS_BY_SOURCE["attendance"]
    assert _isin_values("quarantine.assessment_rejects", "reason") == rules.REASONS_BY_SOURCE["assessments"]
    assert _isin_values("gold.delivery_quality", "outcome") == rules.OUTCOMES
    assert _isin_values("gold.delivery_quality", "source") == rules.SOURCES
    assert _isin_values("gold.student_absence", "absence_band") == tuple(b.band for b in rules.ABSENCE_BANDS)
    frame_checks = {
        check.name
        for contract in CONTRACTS.values()
        for check in contract.schema.checks
        if isinstance(check, pa.Check)
    }
    assert "at_risk=(attendance_rate_28d<0.8 or failed_assessments>=2)" in frame_checks
    assert "is_persistent_absentee=(absence_rate>=0.1 and possible_sessions>=10)" in frame_checks
    assert "is_severe_absentee=(absence_rate>=0.5 and possible_sessions>=10)" in frame_checks


def test_the_generator_writes_the_home_statuses():
    assert tuple(STATUS_VOCAB[: len(rules.ATTENDANCE_STATUSES)]) == rules.ATTENDANCE_STATUSES


# --- No reader restates the home -----------------------------------------------------------------

CODES = sorted({*rules.ATTENDANCE_STATUSES, *rules.ENROLMENT_STATUSES, *rules.OUTCOMES})
QUOTED_CODE = re.compile(r"""(['"])(%s)\1""" % "|".join(CODES))
JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
SQL_COMMENT = re.compile(r"--[^\n]*")
# Names that are also codes but mean something else: a column or metadata key named after an outcome.
NOT_CODES = {
    "eduwh_assets/quality/stats.py": ['"delivery_code", "source", "received", "loaded", "superseded"'],
    "eduwh_assets/bronze/delivery_outcomes.py": ['"loaded": dict(sorted(outcomes.loaded.items()))'],
}


def _readers() -> list[Path]:
    dbt = [p for d in ("models", "macros") for p in (ROOT / "eduwh_dbt" / d).rglob("*") if p.suffix in (".sql", ".yml")]
    python = [
        p for p in (ROOT / "eduwh_assets").rglob("*.py")
        # The generator writes test data and names its injected faults by reason; rules.py is the reader.
        if p.name != "rules.py" and "generate" not in p.parts
    ]
    return sorted(dbt + python)


def _code_text(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    for allowed in NOT_CODES.get(str(path.relative_to(ROOT)), []):
        assert allowed in text, f"{path}: stale NOT_CODES entry {allowed!r}"
        text = text.replace(allowed, "")
    if path.suffix in (".sql", ".yml"):
        # Jinja is where dbt reads the home (var(), reason('...'), statuses_counted_as('...')).
        # In YAML only the tests' SQL counts: unit-test fixtures are data, not rules.
        text = JINJA.sub("", text)
        if path.suffix == ".yml":
            text = "\n".join(line for line in text.splitlines() if "expression:" in line or "values:" in line)
        text = SQL_COMMENT.sub("", text)
    return text


@pytest.mark.parametrize("path", _readers(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_reader_spells_a_code(path):
    found = sorted({m.group(2) for m in QUOTED_CODE.finditer(_code_text(path))})
    assert not found, f"{path.relative_to(ROOT)} spells {found}: read them from the home (see eduwh_assets/rules.py)"


# Thresholds of SPEC §4 that only var() may bring into gold's SQL.
THRESHOLD_LITERAL = re.compile(r"(?<![\w.])(0\.8|0\.10?|0\.50?|0\.05|0\.20?|40|27|28|10)(?![\w.])")


@pytest.mark.parametrize("path", sorted((ROOT / "eduwh_dbt" / "models" / "gold").glob("*.sql")), ids=lambda p: p.name)
def test_no_gold_model_spells_a_threshold(path):
    text = SQL_COMMENT.sub("", JINJA.sub("", path.read_text(encoding="utf-8")))
    assert not THRESHOLD_LITERAL.findall(text), path.name


def test_the_scans_see_a_restated_code():
    """The scans would catch what the home removed: a status in SQL, a threshold in a model."""
    assert QUOTED_CODE.search(_without_jinja("count(*) filter (where status = 'absent')"))
    assert not QUOTED_CODE.search(_without_jinja("where {{ status_counts_as('status', 'absent') }}"))
    assert THRESHOLD_LITERAL.findall(_without_jinja("coalesce(attendance_rate_28d < 0.8, false)")) == ["0.8"]
    assert not THRESHOLD_LITERAL.findall(_without_jinja("attendance_rate_28d < {{ var('at_risk_attendance_below') }}"))


def _without_jinja(sql: str) -> str:
    return SQL_COMMENT.sub("", JINJA.sub("", sql))
