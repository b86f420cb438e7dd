"""`eduwh run` end to end, as a user lives it, compared with the independent pandas oracle.

Generate a tiny data set into a real PostgreSQL SIS and a local landing zone,
run the main job, and compare every silver, quarantine and gold table with
what `oracle.py` computes from the same raw inputs. Then re-run (nothing
changes), let the late students reach the SIS (their rows load), and add a
delivery (only its files are read). The steps share one warehouse, in order.
"""

from __future__ import annotations

import json
import re

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa

from eduwh_assets.generate.config import GeneratorConfig
from eduwh_assets.generate.dataset import generate
from eduwh_assets.generate.writers import add_late_students, write_landing, write_sis
from eduwh_assets.instance import dagster_instance
from eduwh_assets.cli.run import contiguous_blocks, run_main
from eduwh_assets.transform.assets import gold_dbt_assets, silver_dbt_assets
from eduwh_tests.conftest import create_database, make_settings
from eduwh_tests.oracle import KEYS, compare_frames, expected, read_landing

COMPARED = {
    "fact_attendance": "silver.fact_attendance",
    "fact_assessment": "silver.fact_assessment",
    "attendance_rejects": "quarantine.attendance_rejects",
    "assessment_rejects": "quarantine.assessment_rejects",
    "student_performance_summary": "gold.student_performance_summary",
    "class_daily_performance": "gold.class_daily_performance",
    "student_risk_features": "gold.student_risk_features",
    "delivery_quality": "gold.delivery_quality",
    "student_absence": "gold.student_absence",
    "programme_attendance": "gold.programme_attendance",
}


def test_pending_deliveries_run_in_blocks_of_neighbours():
    registered = ["D1", "D2", "D3", "D4", "D5", "D6"]
    assert contiguous_blocks(["D2", "D3", "D5"], registered) == [["D2", "D3"], ["D5"]]
    assert contiguous_blocks(registered, registered) == [registered]
    assert contiguous_blocks(["D6", "D1"], registered) == [["D1"], ["D6"]]
    assert contiguous_blocks([], registered) == []


class World:
    """One generated data set, its SIS database, landing zone and warehouse."""

    def __init__(self, tmp, pg_admin_url):
        self.dataset = generate(GeneratorConfig.for_scale("tiny", seed=20261122))
        self.sis_url = create_database(pg_admin_url)
        write_sis(self.dataset, self.sis_url)
        self.landing = tmp / "landing"
        # The last delivery is held back, to arrive later in the story.
        deliveries = self.dataset.deliveries
        self.later = deliveries[-1]
        write_landing(self.dataset, str(self.landing), deliveries=deliveries[:-1])
        self.settings = make_settings(tmp, EDUWH_SIS_URL=self.sis_url, EDUWH_LANDING=str(self.landing))

    def run(self, capsys, *args, **kwargs) -> tuple[int, str]:
        code = run_main(self.settings, *args, **kwargs)
        return code, capsys.readouterr().out

    def sis(self) -> dict[str, pd.DataFrame]:
        engine = sa.create_engine(self.sis_url)
        with engine.connect() as conn:
            frames = {t: pd.read_sql(f"select * from sis.{t}", conn) for t in ("programmes", "classes", "students")}
        engine.dispose()
        return frames

    def warehouse(self, sql: str) -> pd.DataFrame:
        with duckdb.connect(str(self.settings.warehouse), read_only=True) as conn:
            return conn.execute(sql).df()

    def assert_matches_oracle(self) -> dict[str, pd.DataFrame]:
        attendance_raw, assessments_raw = read_landing(self.landing)
        want = expected(self.sis(), attendance_raw, assessments_raw)
        for name, table in COMPARED.items():
            compare_frames(self.warehouse(f"select * from {table}"), want[name], KEYS[name], name=table)
        return want


@pytest.fixture(scope="module")
def world(tmp_path_factory, pg_admin_url) -> World:
    return World(tmp_path_factory.mktemp("main_job"), pg_admin_url)


def test_first_run_builds_every_layer_exactly_as_the_oracle_says(world, capsys):
    code, out = world.run(capsys)
    assert code == 0, out
    want = world.assert_matches_oracle()
    # The tiny scale injects every problem kind, so every reject reason is exercised here.
    reasons = set(want["delivery_quality"]["outcome"])
    assert reasons == {"loaded", "superseded", "missing_key", "bad_date", "bad_status", "bad_score", "unknown_student"}
    # Bronze holds every received row, as text, and nothing else.
    attendance_raw, assessments_raw = read_landing(world.landing)
    assert world.warehouse("select count(*) n from bronze.attendance")["n"][0] == len(attendance_raw)
    assert world.warehouse("select count(*) n from bronze.assessments")["n"][0] == len(assessments_raw)
    assert "eduwh run succeeded" in out
    assert "unknown_student" in out  # the summary reports rejects by reason
    # A quiet console: one line per Dagster step, with its figures and time, and nothing of Dagster's
    # engine events or dbt's own lines, which are in the UI and in dbt's log.
    with dagster_instance(world.settings) as instance:
        steps = [s.step_key for run in instance.get_runs() for s in instance.get_run_step_stats(run.run_id)]
    lines = re.findall(r"^  (\S+) +ok +(.*) \(\d+\.\ds\)$", out, re.M)
    assert sorted(step for step, _ in lines) == sorted(steps)
    figures = dict(lines)
    assert figures["dbt_silver"] == f"{len(silver_dbt_assets.keys)} assets; {len(silver_dbt_assets.check_keys)} checks passed"
    assert figures["dbt_gold"] == f"{len(gold_dbt_assets.keys)} assets; {len(gold_dbt_assets.check_keys)} checks passed"
    assert figures["bronze__attendance"] == f"1 asset; {len(attendance_raw):,} rows loaded"
    assert figures["bronze__assessments"] == f"1 asset; {len(assessments_raw):,} rows loaded"
    assert " - DEBUG - " not in out and " - INFO - " not in out
    assert "START sql" not in out and "PASS" not in out and "Warning" not in out
    assert "START sql incremental model silver.fact_attendance" in (world.settings.data_dir / "dbt" / "silver" / "dbt.log").read_text()


def test_rerun_with_nothing_new_reads_nothing_and_changes_nothing(world, capsys):
    before = {t: world.warehouse(f"select * from {t}") for t in COMPARED.values()}
    loads_before = world.warehouse("select count(distinct _dlt_load_id) n from bronze.attendance")["n"][0]
    code, out = world.run(capsys)
    assert code == 0, out
    assert "No new or changed deliveries to ingest" in out
    assert "silver and gold: current, built by run" in out  # nothing is rebuilt either
    assert world.warehouse("select count(distinct _dlt_load_id) n from bronze.attendance")["n"][0] == loads_before
    for table, frame in before.items():
        pd.testing.assert_frame_equal(
            world.warehouse(f"select * from {table}").sort_values(list(frame.columns[:3])).reset_index(drop=True),
            frame.sort_values(list(frame.columns[:3])).reset_index(drop=True),
        )


def test_late_students_are_quarantined_until_the_sis_knows_them(world, capsys):
    late_ids = set(world.dataset.late_student_ids)
    rejected_before = world.warehouse(
        "select distinct trim(student_id) s from quarantine.attendance_rejects where reason = 'unknown_student'"
    )["s"]
    assert add_late_students(world.dataset, world.sis_url) == len(late_ids)
    code, out = world.run(capsys)
    assert code == 0, out
    world.assert_matches_oracle()
    rejected_after = set(
        world.warehouse(
            "select distinct trim(student_id) s from quarantine.attendance_rejects where reason = 'unknown_student'"
        )["s"]
    )
    now_known = set(world.sis()["students"]["student_id"])
    assert late_ids & set(rejected_before), "the late students' rows were quarantined as unknown_student"
    assert late_ids <= now_known
    assert not (rejected_after & now_known)


def test_a_new_delivery_loads_only_its_own_files(world, capsys):
    files_before = world.warehouse("select delivery_code, _source_file, min(_dlt_load_id) l from bronze.attendance group by all")
    write_landing(world.dataset, str(world.landing), deliveries=[world.later])
    code, out = world.run(capsys)
    assert code == 0, out
    assert f"delivery {world.later.code}: ok" in out
    files_after = world.warehouse("select delivery_code, _source_file, min(_dlt_load_id) l from bronze.attendance group by all")
    unchanged = files_after.merge(files_before, on=["delivery_code", "_source_file", "l"])
    assert len(unchanged) == len(files_before)  # earlier files were not reloaded
    new = files_after[files_after["delivery_code"] == world.later.code]
    assert sorted(new["_source_file"]) == sorted(f.name for f in world.later.files if f.source == "attendance")
    manifest = json.loads((world.landing / world.later.code / "_manifest.json").read_text())
    received = world.warehouse(
        f"select count(*) n from bronze.attendance where delivery_code = '{world.later.code}'"
    )["n"][0]
    assert received == sum(v["rows"] for k, v in manifest["files"].items() if k.startswith("attendance"))
    world.assert_matches_oracle()


def test_unknown_delivery_is_a_clear_error(world, capsys):
    code = run_main(world.settings, deliveries=["no-such-delivery"])
    assert code == 2
    assert f"no complete delivery named no-such-delivery in {world.landing}" in capsys.readouterr().err
