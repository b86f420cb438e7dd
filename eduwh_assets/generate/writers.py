"""Writing a generated data set: SIS rows into PostgreSQL, deliveries into a landing zone."""

from __future__ import annotations

import io
from typing import Any, Iterable

import pandas as pd

from eduwh_assets.generate.dataset import Dataset
from eduwh_assets.generate.deliveries import GeneratedDelivery
from eduwh_assets.sources.landing import MANIFEST_NAME, LandingZone, is_valid_delivery_code
from eduwh_assets.sources.sis_server import sqlalchemy_url

SIS_DDL = """
CREATE SCHEMA IF NOT EXISTS sis;
DROP TABLE IF EXISTS sis.students, sis.classes, sis.programmes;
CREATE TABLE sis.programmes (
    programme_code text PRIMARY KEY,
    programme_name text,
    faculty text,
    level text,
    updated_at timestamptz NOT NULL
);
CREATE TABLE sis.classes (
    class_id text PRIMARY KEY,
    class_name text,
    programme_code text,
    academic_year text,
    updated_at timestamptz NOT NULL
);
CREATE TABLE sis.students (
    student_id text PRIMARY KEY,
    first_name text,
    last_name text,
    email text,
    date_of_birth date,
    gender text,
    class_id text,
    enrolment_status text,
    updated_at timestamptz NOT NULL
);
-- Incremental ingestion reads `updated_at >= cursor`.
CREATE INDEX ON sis.programmes (updated_at);
CREATE INDEX ON sis.classes (updated_at);
CREATE INDEX ON sis.students (updated_at);
"""

SIS_COLUMNS = {
    "programmes": ["programme_code", "programme_name", "faculty", "level", "updated_at"],
    "classes": ["class_id", "class_name", "programme_code", "academic_year", "updated_at"],
    "students": [
        "student_id", "first_name", "last_name", "email", "date_of_birth", "gender", "class_id",
        "enrolment_status", "updated_at",
    ],
}
# Columns `update_students` may change (updated_at always moves to now()).
_UPDATABLE = set(SIS_COLUMNS["students"]) - {"student_id", "updated_at"}

# Any constant works; it only has to be the same in every process that seeds.
_SEED_LOCK_ID = 0x5E1D5


def _connect(url: str):
    """A raw psycopg2 connection (for COPY) from any PostgreSQL URL form sqlalchemy_url accepts."""
    import sqlalchemy as sa

    engine = sa.create_engine(sqlalchemy_url(url), poolclass=sa.pool.NullPool)
    conn = engine.raw_connection()
    engine.dispose()
    return conn


def _copy(cur, table: str, df: pd.DataFrame) -> None:
    buf = io.StringIO()
    # Timestamps with an explicit UTC offset so the session time zone cannot shift them.
    df.to_csv(buf, index=False, header=False, date_format="%Y-%m-%d %H:%M:%S%z")
    buf.seek(0)
    cur.copy_expert(f"COPY sis.{table} ({', '.join(df.columns)}) FROM STDIN WITH (FORMAT csv)", buf)


def write_sis(dataset: Dataset, url: str, include_late: bool = False) -> dict[str, int]:
    """(Re)create schema `sis` with its three tables and load the data set's rows; returns rows per table.

    Drops and recreates the tables, so it is only for a generator-owned database.
    One transaction: a reader sees the old tables or the new ones, never half.
    """
    tables = {
        "programmes": dataset.programmes,
        "classes": dataset.classes,
        "students": dataset.sis_students(include_late),
    }
    conn = _connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_SEED_LOCK_ID,))
            cur.execute(SIS_DDL)
            for name, df in tables.items():
                _copy(cur, name, df[SIS_COLUMNS[name]])
            cfg = dataset.config
            cur.execute(
                "COMMENT ON SCHEMA sis IS %s",
                (f"eduwh generate: scale={cfg.scale} seed={cfg.seed} students={cfg.students}",),
            )
        conn.commit()
    finally:
        conn.close()
    return {name: len(df) for name, df in tables.items()}


def add_late_students(dataset: Dataset, url: str) -> int:
    """Insert the students that deliveries mention but the SIS held back; returns how many were added.

    Their updated_at is now(), so an incremental SIS sync picks them up. Students
    already present are left alone.
    """
    late = dataset.students[dataset.students["student_id"].isin(dataset.late_student_ids)]
    cols = [c for c in SIS_COLUMNS["students"] if c != "updated_at"]
    rows = [tuple(None if pd.isna(v) else v for v in rec) for rec in late[cols].itertuples(index=False)]
    conn = _connect(url)
    try:
        with conn.cursor() as cur:
            added = 0
            for row in rows:
                cur.execute(
                    f"INSERT INTO sis.students ({', '.join(cols)}, updated_at) "
                    f"VALUES ({', '.join(['%s'] * len(cols))}, now()) ON CONFLICT (student_id) DO NOTHING",
                    row,
                )
                added += cur.rowcount
        conn.commit()
    finally:
        conn.close()
    return added


def update_students(url: str, student_ids: Iterable[str], **changes: Any) -> int:
    """Change these students (e.g. enrolment_status="withdrawn"); their updated_at moves to now().

    With no changes only updated_at moves, which is what an incremental sync
    test needs. Returns the number of rows updated.
    """
    unknown = set(changes) - _UPDATABLE
    if unknown:
        raise ValueError(f"cannot update {sorted(unknown)}; updatable columns: {sorted(_UPDATABLE)}")
    sets = [f"{col} = %s" for col in changes] + ["updated_at = now()"]
    conn = _connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                f"UPDATE sis.students SET {', '.join(sets)} WHERE student_id = ANY(%s)",
                (*changes.values(), list(student_ids)),
            )
            count = cur.rowcount
        conn.commit()
    finally:
        conn.close()
    return count


def is_seeded(url: str) -> bool:
    """True when the SIS already holds a `sis.students` table with rows."""
    conn = _connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('sis.students') IS NOT NULL")
            if not cur.fetchone()[0]:
                return False
            cur.execute("SELECT EXISTS (SELECT 1 FROM sis.students)")
            return bool(cur.fetchone()[0])
    finally:
        conn.close()


def write_landing(
    dataset: Dataset,
    landing_url: str,
    azure_connection_string: str | None = None,
    deliveries: Iterable[GeneratedDelivery] | None = None,
) -> list[GeneratedDelivery]:
    """Write every delivery folder, each file first and `_manifest.json` last; returns what was written.

    Local folders and `az://` containers go through the same fsspec calls.
    Deliveries are built and written one at a time, so memory stays at one
    delivery even at the largest scales. The returned deliveries keep their
    stats and file names; file contents are dropped once written.
    """
    zone = LandingZone(landing_url, azure_connection_string)
    written: list[GeneratedDelivery] = []
    for delivery in deliveries if deliveries is not None else dataset.iter_deliveries():
        folder = f"{zone.root}/{delivery.code}"
        if not zone.is_azure:
            zone.fs.makedirs(folder, exist_ok=True)
        for f in delivery.files:
            zone.fs.pipe_file(f"{folder}/{f.name}", f.data)
        # The manifest marks the delivery complete, so it must land after every file.
        zone.fs.pipe_file(f"{folder}/{MANIFEST_NAME}", delivery.manifest_bytes())
        written.append(
            GeneratedDelivery(
                code=delivery.code,
                files=[type(f)(name=f.name, source=f.source, data=b"", rows=f.rows) for f in delivery.files],
                stats=delivery.stats,
            )
        )
    return written


def landing_has_deliveries(landing_url: str, azure_connection_string: str | None = None) -> bool:
    zone = LandingZone(landing_url, azure_connection_string)
    return any(is_valid_delivery_code(name) for name in zone.folder_names())
