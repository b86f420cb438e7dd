"""The attendance freshness check: term-time days since the newest valid session."""

from __future__ import annotations

import datetime as dt

import duckdb
from dagster import AssetCheckSeverity, AssetSelection, Definitions, define_asset_job

from eduwh_assets.config import Settings
from eduwh_assets.quality.freshness import attendance_freshness, judge_freshness, term_days_since
from eduwh_tests.conftest import eduwh_resources


def test_term_days_leave_out_july_and_august():
    assert term_days_since(dt.date(2026, 3, 2), dt.date(2026, 3, 2)) == 0
    assert term_days_since(dt.date(2026, 3, 2), dt.date(2026, 3, 9)) == 7
    # 30 June -> 5 September: 1 day of June left (none), July and August skipped, 5 days of September.
    assert term_days_since(dt.date(2026, 6, 30), dt.date(2026, 9, 5)) == 5
    # Inside the summer break no day counts.
    assert term_days_since(dt.date(2026, 7, 10), dt.date(2026, 8, 31)) == 0
    # A whole year: 365 days minus July (31) and August (31).
    assert term_days_since(dt.date(2025, 12, 1), dt.date(2026, 12, 1)) == 303


def test_warns_beyond_the_limit_and_passes_within_it():
    fresh = judge_freshness(dt.date(2026, 3, 2), dt.date(2026, 3, 9), max_age_days=7)
    assert fresh.passed and fresh.metadata["term_days_since_newest"].value == 7
    stale = judge_freshness(dt.date(2026, 3, 2), dt.date(2026, 3, 10), max_age_days=7)
    assert not stale.passed and stale.severity == AssetCheckSeverity.WARN
    assert "2026-03-02" in stale.description and "8 term-time days" in stale.description
    assert "EDUWH_ATTENDANCE_MAX_AGE_DAYS" in stale.description
    empty = judge_freshness(None, dt.date(2026, 3, 10), max_age_days=7)
    assert not empty.passed and empty.severity == AssetCheckSeverity.WARN


def test_check_reads_the_newest_valid_session_from_the_warehouse(tmp_path):
    settings = Settings.from_env(
        {"EDUWH_DATA_DIR": str(tmp_path), "EDUWH_ATTENDANCE_MAX_AGE_DAYS": "400000"}
    )
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse)) as con:
        con.execute("create schema silver")
        con.execute("create table silver.fact_attendance (attendance_id varchar, session_date date)")
        con.execute("insert into silver.fact_attendance values ('A1', '2025-09-08'), ('A2', '2025-10-24')")
    defs = Definitions(
        asset_checks=[attendance_freshness],
        jobs=[define_asset_job("freshness", selection=AssetSelection.checks(attendance_freshness))],
        resources=eduwh_resources(settings),
    )
    result = defs.resolve_job_def("freshness").execute_in_process()
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == 1
    evaluation = evaluations[0]
    assert evaluation.passed
    assert evaluation.metadata["newest_session"].value == "2025-10-24"
    assert evaluation.metadata["term_days_since_newest"].value == term_days_since(dt.date(2025, 10, 24), dt.date.today())
