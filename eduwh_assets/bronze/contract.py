"""The bronze tables' columns, and their creation before anything reads them.

dlt creates a table the first time rows arrive for it. A source that has sent
nothing yet (an institution that delivers assessments only, an empty SIS table)
would leave its table missing, and every dbt model that reads it would fail.
So each bronze table is created empty with exactly the columns and types dlt
gives it: dlt then finds the table, adds nothing, and loads into it.
"""

from __future__ import annotations

import duckdb

from eduwh_assets.bronze.pipelines import BRONZE_DATASET

TEXT = "VARCHAR"
KEY = "VARCHAR NOT NULL"  # dlt declares primary and merge keys NOT NULL
TIMESTAMP = "TIMESTAMP WITH TIME ZONE"

# What every delivered row carries beside its values (docs/architecture.md, "Bronze tables").
DELIVERY_LINEAGE = {
    "delivery_code": KEY,
    "_source_file": KEY,
    "_source_row": "BIGINT NOT NULL",
    "_ingested_at": f"{TIMESTAMP} NOT NULL",
    "_dlt_load_id": "VARCHAR NOT NULL",
}
SIS_LINEAGE = {"_dlt_load_id": "VARCHAR NOT NULL", "_dlt_id": "VARCHAR NOT NULL"}

# bronze table -> column -> DuckDB type, in the order dlt creates them.
BRONZE_TABLES: dict[str, dict[str, str]] = {
    "sis_programmes": {
        "programme_code": KEY,
        "programme_name": TEXT,
        "faculty": TEXT,
        "level": TEXT,
        "updated_at": TIMESTAMP,
        **SIS_LINEAGE,
    },
    "sis_classes": {
        "class_id": KEY,
        "class_name": TEXT,
        "programme_code": TEXT,
        "academic_year": TEXT,
        "updated_at": TIMESTAMP,
        **SIS_LINEAGE,
    },
    "sis_students": {
        "student_id": KEY,
        "first_name": TEXT,
        "last_name": TEXT,
        "email": TEXT,
        "date_of_birth": "DATE",
        "gender": TEXT,
        "class_id": TEXT,
        "enrolment_status": TEXT,
        "updated_at": TIMESTAMP,
        **SIS_LINEAGE,
    },
    "attendance": {
        "attendance_id": TEXT,
        "student_id": TEXT,
        "session_date": TEXT,
        "status": TEXT,
        **DELIVERY_LINEAGE,
    },
    "assessments": {
        "assessment_id": TEXT,
        "student_id": TEXT,
        "subject": TEXT,
        "score": TEXT,
        "max_score": TEXT,
        "assessed_on": TEXT,
        **DELIVERY_LINEAGE,
    },
}


def ensure_bronze_tables(con: duckdb.DuckDBPyConnection, tables: list[str] | None = None) -> list[str]:
    """Create each bronze table (all, or `tables`) that does not exist yet, empty. Returns those created."""
    con.execute(f'CREATE SCHEMA IF NOT EXISTS "{BRONZE_DATASET}"')
    existing = {
        name
        for (name,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [BRONZE_DATASET]
        ).fetchall()
    }
    created = []
    for table in tables or list(BRONZE_TABLES):
        if table in existing:
            continue
        columns = ", ".join(f'"{name}" {kind}' for name, kind in BRONZE_TABLES[table].items())
        con.execute(f'CREATE TABLE "{BRONZE_DATASET}"."{table}" ({columns})')
        created.append(table)
    return created
