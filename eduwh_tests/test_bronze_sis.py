"""bronze/sis_*: the SIS tables land incrementally from a real PostgreSQL into a real DuckDB file."""

from datetime import date, datetime, timedelta, timezone

import duckdb
import sqlalchemy as sa
from dagster import DagsterInstance, materialize

from eduwh_assets.bronze.sis import sis_assets, sis_unchanged
from eduwh_assets.warehouse import Warehouse
from eduwh_tests.conftest import eduwh_resources, free_port, make_settings

T0 = datetime(2025, 9, 1, 8, 0, tzinfo=timezone.utc)

PROGRAMMES = [
    ("P1", "Computing", "Science", "L3", T0),
    ("P2", "History", "Humanities", "L2", T0 + timedelta(minutes=1)),
]
CLASSES = [
    ("C1", "Computing 1A", "P1", "2025/26", T0),
    ("C2", "Computing 1B", "P1", "2025/26", T0),
    ("C3", "History 1A", "P2", "2025/26", T0 + timedelta(minutes=2)),
]
STUDENTS = [
    ("S1", "Ada", "Lovelace", "ada@example.org", date(2007, 12, 10), "F", "C1", "active", T0),
    ("S2", "Alan", "Turing", "alan@example.org", date(2007, 6, 23), "M", "C1", "active", T0),
    ("S3", "Grace", "Hopper", "grace@example.org", date(2006, 12, 9), "F", "C2", "suspended", T0),
    ("S4", "Mary", "Beard", "mary@example.org", date(2007, 1, 1), "F", "C3", "active", T0 + timedelta(minutes=3)),
    ("S5", "Eric", "Hobsbawm", "eric@example.org", date(2006, 6, 9), "M", "C3", "withdrawn", T0 + timedelta(minutes=3)),
]

DDL = """
CREATE SCHEMA sis;
CREATE TABLE sis.programmes (programme_code text PRIMARY KEY, programme_name text, faculty text,
    level text, updated_at timestamptz NOT NULL);
CREATE TABLE sis.classes (class_id text PRIMARY KEY, class_name text, programme_code text,
    academic_year text, updated_at timestamptz NOT NULL);
CREATE TABLE sis.students (student_id text PRIMARY KEY, first_name text, last_name text, email text,
    date_of_birth date, gender text, class_id text, enrolment_status text, updated_at timestamptz NOT NULL);
"""


def seed_sis(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for statement in DDL.split(";"):
            if statement.strip():
                conn.execute(sa.text(statement))
        conn.execute(
            sa.text("INSERT INTO sis.programmes VALUES (:a, :b, :c, :d, :e)"),
            [dict(zip("abcde", row)) for row in PROGRAMMES],
        )
        conn.execute(
            sa.text("INSERT INTO sis.classes VALUES (:a, :b, :c, :d, :e)"),
            [dict(zip("abcde", row)) for row in CLASSES],
        )
        conn.execute(
            sa.text("INSERT INTO sis.students VALUES (:a, :b, :c, :d, :e, :f, :g, :h, :i)"),
            [dict(zip("abcdefghi", row)) for row in STUDENTS],
        )
    engine.dispose()


def run_sis(settings, instance):
    return materialize([sis_assets], resources=eduwh_resources(settings), instance=instance, raise_on_error=False)


def metadata_by_table(result) -> dict[str, dict]:
    out = {}
    for mat in result.asset_materializations_for_node("bronze_sis"):
        out[mat.asset_key.path[-1]] = {k: v.value for k, v in mat.metadata.items()}
    return out


def query(settings, sql: str):
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_sis_loads_incrementally_and_merges_on_key(tmp_path, fresh_pg_url):
    seed_sis(fresh_pg_url)
    settings = make_settings(tmp_path, EDUWH_SIS_URL=fresh_pg_url)
    instance = DagsterInstance.ephemeral()

    warehouse = Warehouse.from_settings(settings)
    assert not sis_unchanged(settings, warehouse)  # nothing in bronze yet: the sync must run

    # First run: every row is new.
    first = run_sis(settings, instance)
    assert first.success
    meta = metadata_by_table(first)
    assert {t: meta[t]["rows_loaded"] for t in meta} == {"sis_programmes": 2, "sis_classes": 3, "sis_students": 5}
    assert {t: meta[t]["dagster/row_count"] for t in meta} == {"sis_programmes": 2, "sis_classes": 3, "sis_students": 5}
    student_columns = [c.name for c in meta["sis_students"]["dagster/column_schema"].columns]
    assert student_columns[:9] == [
        "student_id", "first_name", "last_name", "email", "date_of_birth",
        "gender", "class_id", "enrolment_status", "updated_at",
    ]
    assert {"_dlt_load_id", "_dlt_id"} <= set(student_columns)
    preview = meta["sis_students"]["preview"]
    assert preview.startswith("| student_id | gender | class_id |")
    assert "Lovelace" not in preview and "ada@example.org" not in preview
    assert query(settings, "SELECT * EXCLUDE (_dlt_load_id, _dlt_id) FROM bronze.sis_students ORDER BY student_id") == [
        tuple(row) for row in STUDENTS
    ]
    assert query(settings, "SELECT programme_code, programme_name FROM bronze.sis_programmes ORDER BY 1") == [
        ("P1", "Computing"), ("P2", "History"),
    ]
    types = dict(
        query(
            settings,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'bronze' AND table_name = 'sis_students'",
        )
    )
    assert types["date_of_birth"] == "DATE"
    assert types["updated_at"] == "TIMESTAMP WITH TIME ZONE"
    # Everything lands in schema bronze itself, with no `bronze_<something>` schema beside it.
    schemas = {s for (s,) in query(settings, "SELECT DISTINCT table_schema FROM information_schema.tables")}
    assert not any(s.startswith("bronze_") for s in schemas)

    # No change in the SIS: `eduwh run` can skip the sync, and a sync loads nothing again.
    assert sis_unchanged(settings, warehouse)
    second = run_sis(settings, instance)
    assert second.success
    meta = metadata_by_table(second)
    assert {t: meta[t]["rows_loaded"] for t in meta} == {"sis_programmes": 0, "sis_classes": 0, "sis_students": 0}
    assert meta["sis_students"]["dagster/row_count"] == 5

    # Update k = 2 students: exactly those two rows are read and merged, one row per key remains.
    later = T0 + timedelta(days=1)
    engine = sa.create_engine(fresh_pg_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE sis.students SET enrolment_status = 'completed', class_id = 'C2', updated_at = :t "
                "WHERE student_id IN ('S1', 'S5')"
            ),
            {"t": later},
        )
    engine.dispose()
    assert not sis_unchanged(settings, warehouse)
    third = run_sis(settings, instance)
    assert third.success
    meta = metadata_by_table(third)
    assert {t: meta[t]["rows_loaded"] for t in meta} == {"sis_programmes": 0, "sis_classes": 0, "sis_students": 2}
    assert meta["sis_students"]["dagster/row_count"] == 5
    assert query(settings, "SELECT count(*), count(DISTINCT student_id) FROM bronze.sis_students") == [(5, 5)]
    assert query(
        settings,
        "SELECT student_id, class_id, enrolment_status, updated_at FROM bronze.sis_students ORDER BY student_id",
    ) == [
        ("S1", "C2", "completed", later),
        ("S2", "C1", "active", T0),
        ("S3", "C2", "suspended", T0),
        ("S4", "C3", "active", T0 + timedelta(minutes=3)),
        ("S5", "C2", "completed", later),
    ]
    assert sis_unchanged(settings, warehouse)
    # A row added with an old timestamp changes the count: the sync runs, and as dlt's cursor
    # has passed that time, it merges nothing; the count stays different, and so does the answer.
    engine = sa.create_engine(fresh_pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO sis.programmes VALUES ('P3', 'Law', 'Humanities', 'L3', :t)"), {"t": T0})
    engine.dispose()
    assert not sis_unchanged(settings, warehouse)


def test_unreachable_sis_names_it_without_the_password_and_writes_nothing(tmp_path):
    password = "Sup3r-Secret-pw"
    port = free_port()  # bound then released: nothing listens there
    url = f"postgresql+psycopg2://registrar:{password}@127.0.0.1:{port}/sis_prod"
    settings = make_settings(tmp_path, EDUWH_SIS_URL=url)
    instance = DagsterInstance.ephemeral()

    result = run_sis(settings, instance)

    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert len(failures) == 1
    message = failures[0].step_failure_data.user_failure_data.description
    assert "127.0.0.1" in message and str(port) in message and "sis_prod" in message
    assert "unavailable" in message
    everything = "\n".join(str(e) for e in instance.all_logs(result.run_id))
    assert password not in everything
    assert password not in message
    assert not settings.warehouse.exists()
