"""gold.student_absence and gold.programme_attendance (SPEC §4) on a small data set written by hand.

The same landing files feed the oracle (read back through `read_landing`) and
a real dbt build of the two marts and their upstream models; both must give
the numbers worked out by hand below. The edges are the SPEC's: exactly 10%
absence, exactly 5% (the at_risk limit), fewer than 10 sessions, a summer
school in July/August that belongs to the academic year before September, a
programme the SIS has not sent, and students without a programme.
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
import subprocess

import duckdb
import pandas as pd
import pytest
from dagster import AssetKey

from eduwh_assets.bronze.contract import ensure_bronze_tables
from eduwh_assets.config import Settings
from eduwh_assets.quality.contracts import CONTRACTS
from eduwh_assets.quality.sql_validate import validate_table
from eduwh_assets.transform.project import dbt_build_args, dbt_executable, eduwh_project, warehouse_env
from eduwh_tests.oracle import KEYS, compare_frames, expected, read_landing
from eduwh_tests.test_oracle import write_delivery

NAN = math.nan
TS = pd.Timestamp("2025-01-01", tz="UTC")

# P2 is named by class C2 but the SIS has not sent it; C3 has no programme; S6 has no class.
PROGRAMMES = [("P1", "Applied Science", "Science", "L3")]
CLASSES = [("C1", "P1"), ("C2", "P2"), ("C3", None)]
STUDENTS = [("S1", "C1"), ("S2", "C1"), ("S3", "C1"), ("S4", "C2"), ("S5", "C3"), ("S6", None), ("S7", "C1")]

# The school days of September 2025, Monday to Friday.
SEPTEMBER = [dt.date(2025, 9, d) for d in range(1, 27) if dt.date(2025, 9, d).isoweekday() <= 5]


def sessions(student: str, statuses: list[str], days: list[dt.date], batch: str = "a") -> list[tuple[str, ...]]:
    """Attendance rows for one student, one per day, with ids that sort like the days.

    `batch` keeps the ids of a student's second series of sessions apart from the first.
    """
    return [(f"{student}-{batch}{n:02d}", student, day.isoformat(), status)
            for n, (day, status) in enumerate(zip(days, statuses, strict=True), start=1)]


ATTENDANCE = [
    # S1: 1 absence in 10 sessions, exactly the 10% threshold.
    *sessions("S1", ["present"] * 4 + ["absent"] + ["present"] * 5, SEPTEMBER[:10]),
    ("S1-99", "S1", "2025-09-15", "holiday"),  # bad_status: quarantined, not a session
    # S2: a summer school in July/August 2025 is academic year 2024/25 ...
    *sessions("S2", ["absent", "excused", "present"],
              [dt.date(2025, 7, 14), dt.date(2025, 7, 15), dt.date(2025, 8, 29)]),
    # ... and September 2025 starts 2025/26: 10 sessions, never absent.
    *sessions("S2", ["present", "late"] + ["present"] * 8, SEPTEMBER[:10], batch="b"),
    # S3: 1 absence in 20 sessions, exactly the 5% at_risk limit.
    *sessions("S3", ["present"] * 12 + ["absent"] + ["present"] * 7, SEPTEMBER[:20]),
    # S4: runs of absence: absent, absent, excused (3), broken by a late, then absent, absent, excused, absent (4).
    *sessions("S4", ["absent", "absent", "excused", "late", "absent", "absent", "excused", "absent",
                     "present", "present"], SEPTEMBER[:10]),
    *sessions("S5", ["present", "absent"], SEPTEMBER[:2]),
    *sessions("S6", ["excused"], SEPTEMBER[:1]),
]

STUDENT_ABSENCE_COLUMNS = [
    "student_id", "academic_year", "class_id", "programme_code", "possible_sessions", "attended_sessions",
    "authorised_absences", "unauthorised_absences", "absence_rate", "is_persistent_absentee",
    "is_severe_absentee", "absence_band", "longest_absence_streak",
]
# Worked out by hand from ATTENDANCE. S7 has no sessions, so no row.
STUDENT_ABSENCE = [
    ("S1", "2025/26", "C1", "P1", 10, 9, 0, 1, 0.1, True, False, "moderate", 1),
    ("S2", "2024/25", "C1", "P1", 3, 1, 1, 1, 2 / 3, False, False, None, 2),  # 3 sessions: too few to judge
    ("S2", "2025/26", "C1", "P1", 10, 10, 0, 0, 0.0, False, False, "satisfactory", 0),
    ("S3", "2025/26", "C1", "P1", 20, 19, 0, 1, 0.05, False, False, "at_risk", 1),
    ("S4", "2025/26", "C2", "P2", 10, 3, 2, 5, 0.7, True, True, "severe", 4),
    ("S5", "2025/26", "C3", None, 2, 1, 0, 1, 0.5, False, False, None, 1),
    ("S6", "2025/26", None, None, 1, 0, 1, 0, 1.0, False, False, None, 1),
]

PROGRAMME_ATTENDANCE_COLUMNS = [
    "programme_code", "academic_year", "programme_name", "faculty", "level", "students", "eligible_students",
    "persistent_absentees", "persistent_absence_rate", "possible_sessions", "attended_sessions",
    "authorised_absences", "unauthorised_absences", "absence_rate",
]
# S5 and S6 have no programme and count nowhere here.
PROGRAMME_ATTENDANCE = [
    # Only S2's summer school; nobody eligible, so no persistent_absence_rate.
    ("P1", "2024/25", "Applied Science", "Science", "L3", 1, 0, 0, NAN, 3, 1, 1, 1, 2 / 3),
    # S1, S2, S3: S1 is the one persistent absentee; 2 absences in 40 sessions.
    ("P1", "2025/26", "Applied Science", "Science", "L3", 3, 3, 1, 1 / 3, 40, 38, 0, 2, 0.05),
    # P2 is not in the SIS: the figures stand, the descriptive columns are NULL.
    ("P2", "2025/26", None, None, None, 1, 1, 1, 1.0, 10, 3, 2, 5, 0.7),
]


def sis_frames() -> dict[str, pd.DataFrame]:
    return {
        "programmes": pd.DataFrame(
            [{"programme_code": c, "programme_name": n, "faculty": f, "level": lvl, "updated_at": TS}
             for c, n, f, lvl in PROGRAMMES]
        ),
        "classes": pd.DataFrame(
            [{"class_id": c, "class_name": f"Class {c}", "programme_code": p, "academic_year": "2025/26",
              "updated_at": TS} for c, p in CLASSES]
        ),
        "students": pd.DataFrame(
            [{"student_id": s, "first_name": "Ann", "last_name": "Lee", "email": f"{s}@example.org",
              "date_of_birth": dt.date(2008, 1, 1), "gender": "F", "class_id": c, "enrolment_status": "active",
              "updated_at": TS} for s, c in STUDENTS]
        ),
    }


def attendance_csv() -> str:
    lines = ["attendance_id,student_id,session_date,status"] + [",".join(row) for row in ATTENDANCE]
    return "\n".join(lines) + "\n"


def hand_frame(columns: list[str], rows: list[tuple], name: str) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    frame.attrs["name"] = name
    return frame


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    root = tmp_path_factory.mktemp("absence_landing")
    write_delivery(root, "D1", {"attendance.csv": attendance_csv()})
    return root


@pytest.fixture(scope="module")
def oracle_out(landing) -> dict[str, pd.DataFrame]:
    attendance_raw, assessments_raw = read_landing(landing)
    return expected(sis_frames(), attendance_raw, assessments_raw)


# --- the oracle agrees with the hand-worked numbers -----------------------------------------------


def test_oracle_student_absence(oracle_out):
    got = oracle_out["student_absence"]
    assert list(got.columns) == STUDENT_ABSENCE_COLUMNS
    want = hand_frame(STUDENT_ABSENCE_COLUMNS, STUDENT_ABSENCE, "student_absence")
    compare_frames(got, want, KEYS["student_absence"], atol=0.0)


def test_oracle_programme_attendance(oracle_out):
    got = oracle_out["programme_attendance"]
    assert list(got.columns) == PROGRAMME_ATTENDANCE_COLUMNS
    want = hand_frame(PROGRAMME_ATTENDANCE_COLUMNS, PROGRAMME_ATTENDANCE, "programme_attendance")
    compare_frames(got, want, KEYS["programme_attendance"], atol=0.0)


def test_oracle_absence_marts_without_attendance():
    out = expected(sis_frames(), pd.DataFrame(), pd.DataFrame())
    assert out["student_absence"].empty and list(out["student_absence"].columns) == STUDENT_ABSENCE_COLUMNS
    assert out["programme_attendance"].empty
    assert list(out["programme_attendance"].columns) == PROGRAMME_ATTENDANCE_COLUMNS


# --- the dbt models agree with both ---------------------------------------------------------------


def write_bronze(warehouse, landing) -> None:
    """Bronze as ingestion would leave it: the SIS rows, and the delivered rows as text with lineage."""
    sis = sis_frames()
    attendance_raw, _ = read_landing(landing)
    with duckdb.connect(str(warehouse)) as con:
        ensure_bronze_tables(con)
        con.register("programmes", sis["programmes"])
        con.register("classes", sis["classes"])
        con.register("students", sis["students"])
        con.register("attendance_raw", attendance_raw)
        con.execute("insert into bronze.sis_programmes select programme_code, programme_name, faculty, level, "
                    "updated_at, 'l1', gen_random_uuid()::varchar from programmes")
        con.execute("insert into bronze.sis_classes select class_id, class_name, programme_code, academic_year, "
                    "updated_at, 'l1', gen_random_uuid()::varchar from classes")
        con.execute("insert into bronze.sis_students select student_id, first_name, last_name, email, "
                    "date_of_birth, gender, class_id, enrolment_status, updated_at, 'l1', "
                    "gen_random_uuid()::varchar from students")
        con.execute("insert into bronze.attendance select attendance_id, student_id, session_date, status, "
                    "delivery_code, _source_file, _source_row, now(), 'l1' from attendance_raw")


def dbt_build_absence_marts(settings: Settings, target, *extra: str) -> subprocess.CompletedProcess:
    """The production build command, limited to the two marts and everything upstream of them.

    Run by the dbt CLI rather than through the Dagster assets so that this stays
    a test of the models only, quick and independent of the layer selections.
    """
    with warehouse_env(settings):
        return subprocess.run(
            [dbt_executable(), *dbt_build_args(), "--select", "+student_absence +programme_attendance", *extra,
             "--project-dir", str(eduwh_project.project_dir), "--profiles-dir", str(eduwh_project.profiles_dir),
             "--target-path", str(target)],
            capture_output=True, text=True, check=False,
        )


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory, landing) -> Settings:
    tmp = tmp_path_factory.mktemp("absence_warehouse")
    settings = Settings.from_env({"EDUWH_DATA_DIR": str(tmp / "data"), "DAGSTER_HOME": str(tmp / "home")})
    settings.warehouse.parent.mkdir(parents=True)
    write_bronze(settings.warehouse, landing)
    build = dbt_build_absence_marts(settings, tmp / "target")
    assert build.returncode == 0, build.stdout[-4000:]
    return settings


def table(settings: Settings, name: str) -> pd.DataFrame:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(f"select * from {name}").df()


def test_warehouse_student_absence(warehouse, oracle_out):
    got = table(warehouse, "gold.student_absence")
    assert list(got.columns) == STUDENT_ABSENCE_COLUMNS
    compare_frames(got, hand_frame(STUDENT_ABSENCE_COLUMNS, STUDENT_ABSENCE, "gold.student_absence"),
                   KEYS["student_absence"], atol=0.0)
    compare_frames(got, oracle_out["student_absence"], KEYS["student_absence"], atol=0.0,
                   name="gold.student_absence vs oracle")


def test_warehouse_programme_attendance(warehouse, oracle_out):
    got = table(warehouse, "gold.programme_attendance")
    assert list(got.columns) == PROGRAMME_ATTENDANCE_COLUMNS
    compare_frames(got, hand_frame(PROGRAMME_ATTENDANCE_COLUMNS, PROGRAMME_ATTENDANCE, "gold.programme_attendance"),
                   KEYS["programme_attendance"], atol=0.0)
    compare_frames(got, oracle_out["programme_attendance"], KEYS["programme_attendance"], atol=0.0,
                   name="gold.programme_attendance vs oracle")


@pytest.mark.parametrize("mart, rows", [("student_absence", len(STUDENT_ABSENCE)),
                                        ("programme_attendance", len(PROGRAMME_ATTENDANCE))])
def test_pandera_contracts_pass_on_the_built_marts(warehouse, mart, rows):
    """The contracts judge flags, rates and bands by the vars and the seed; dbt built by the same."""
    with duckdb.connect(str(warehouse.warehouse), read_only=True) as conn:
        report = validate_table(conn, CONTRACTS[f"gold.{mart}"])
    assert (report.passed, report.by_rule, report.rows_checked) == (True, {}, rows)


def test_band_limits_are_a_seed_in_silver(warehouse):
    # Silver, so the warehouse keeps its four schemas and gold only the SPEC's marts.
    bands = table(warehouse, "silver.absence_bands").sort_values("min_absence_rate", ascending=False)
    assert list(bands.itertuples(index=False, name=None)) == [
        ("severe", 0.20), ("moderate", 0.10), ("at_risk", 0.05), ("satisfactory", 0.0)]


def test_thresholds_are_dbt_variables(warehouse, tmp_path):
    """A school that counts 3 sessions as enough rebuilds with one variable changed.

    On a copy of the warehouse, so the shared one keeps the defaults. `--vars` stands in for
    editing dbt_project.yml, which the checks would also read: this test is about dbt alone.
    """
    copy = Settings.from_env({"EDUWH_DATA_DIR": str(tmp_path / "data"), "DAGSTER_HOME": str(tmp_path / "home")})
    copy.warehouse.parent.mkdir(parents=True)
    shutil.copy(warehouse.warehouse, copy.warehouse)
    # Changed thresholds touch every row, so the documented way is a full rebuild.
    build = dbt_build_absence_marts(copy, tmp_path / "target", "--vars", "{absence_min_sessions: 3}", "--full-refresh")
    assert build.returncode == 0, build.stdout[-4000:]
    summer = table(copy, "gold.student_absence").set_index(["student_id", "academic_year"]).loc[("S2", "2024/25")]
    # 2 absences in 3 sessions now counts: persistent, severe (2/3 >= 0.5), band severe.
    assert (summer["is_persistent_absentee"], summer["is_severe_absentee"], summer["absence_band"]) == (
        True, True, "severe")
    s5 = table(copy, "gold.student_absence").set_index("student_id").loc["S5"]
    assert s5["absence_band"] is None  # 2 sessions: still too few
    programme = table(copy, "gold.programme_attendance").set_index(["programme_code", "academic_year"])
    assert programme.loc[("P1", "2024/25"), ["eligible_students", "persistent_absentees"]].tolist() == [1, 1]
    assert programme.loc[("P1", "2024/25"), "persistent_absence_rate"] == 1.0


# --- Dagster: the seed is an asset of the silver step, so gold's lineage has no gap -----------------


def test_seed_is_a_silver_asset_upstream_of_the_absence_marts():
    from eduwh_assets.transform.assets import gold_dbt_assets, silver_dbt_assets

    seed = AssetKey(["silver", "absence_bands"])
    assert seed in silver_dbt_assets.keys, (
        "the absence_bands seed is selected by neither dbt layer; SILVER_SELECTION needs `path:seeds`")
    assert silver_dbt_assets.group_names_by_key[seed] == "silver"
    absence = AssetKey(["gold", "student_absence"])
    programme = AssetKey(["gold", "programme_attendance"])
    assert {absence, programme} <= set(gold_dbt_assets.keys)
    specs = {spec.key: spec for spec in gold_dbt_assets.specs}
    changes = {AssetKey(["silver", f"changed_{record}"]) for record in ("students", "classes", "attendance", "assessments")}
    assert {dep.asset_key for dep in specs[absence].deps} == {
        seed, AssetKey(["silver", "dim_student"]), AssetKey(["silver", "dim_class"]),
        AssetKey(["silver", "fact_attendance"])} | changes
    assert {dep.asset_key for dep in specs[programme].deps} == {absence, AssetKey(["silver", "dim_programme"])}
    # The seed's own dbt tests are checks on it, in the silver step that builds it.
    seed_checks = {spec.name for spec in silver_dbt_assets.check_specs if spec.asset_key == seed}
    assert "unique_absence_bands_band" in seed_checks
