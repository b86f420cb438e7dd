"""Pandera contracts for every warehouse table: the contracts of SPEC §4 and docs/architecture.md.

Each table has a `TableContract` (table.py): its Pandera schema (dtypes,
allowed values, ranges, key uniqueness, cross-column rules) plus the foreign
keys, which Pandera cannot express because they span tables. The schemas live
in one module per layer; the rules several layers share (column builders,
formats, custom checks with their SQL form) each have one home beside them.

The warehouse checks run these contracts as DuckDB SQL (quality/sql_compile.py
translates them), never through pandas; the dtypes are those `frame_from_arrow`
(dtypes.py) gives a DuckDB result.
"""

from __future__ import annotations

import pandera.pandas as pa

from eduwh_assets.quality.contracts.bronze import (
    BRONZE_ASSESSMENTS,
    BRONZE_ATTENDANCE,
    BRONZE_SIS_CLASSES,
    BRONZE_SIS_PROGRAMMES,
    BRONZE_SIS_STUDENTS,
)
from eduwh_assets.quality.contracts.gold import (
    GOLD_CLASS_DAILY_PERFORMANCE,
    GOLD_DELIVERY_QUALITY,
    GOLD_STUDENT_PERFORMANCE_SUMMARY,
    GOLD_STUDENT_RISK_FEATURES,
)
from eduwh_assets.quality.contracts.gold_absence import GOLD_PROGRAMME_ATTENDANCE, GOLD_STUDENT_ABSENCE
from eduwh_assets.quality.contracts.quarantine import QUARANTINE_ASSESSMENT_REJECTS, QUARANTINE_ATTENDANCE_REJECTS
from eduwh_assets.quality.contracts.silver import (
    SILVER_DIM_CLASS,
    SILVER_DIM_DATE,
    SILVER_DIM_PROGRAMME,
    SILVER_DIM_STUDENT,
    SILVER_FACT_ASSESSMENT,
    SILVER_FACT_ATTENDANCE,
)
from eduwh_assets.quality.contracts.table import ForeignKey, TableContract


def _contract(schema: pa.DataFrameSchema, *fks: ForeignKey) -> TableContract:
    return TableContract(table=schema.name, schema=schema, foreign_keys=tuple(fks))


CONTRACTS: dict[str, TableContract] = {
    c.table: c
    for c in [
        _contract(BRONZE_ATTENDANCE),
        _contract(BRONZE_ASSESSMENTS),
        _contract(BRONZE_SIS_PROGRAMMES),
        _contract(BRONZE_SIS_CLASSES),
        _contract(BRONZE_SIS_STUDENTS),
        _contract(SILVER_DIM_PROGRAMME),
        _contract(SILVER_DIM_CLASS, ForeignKey("programme_code", "silver.dim_programme", "programme_code")),
        _contract(SILVER_DIM_STUDENT),
        _contract(SILVER_DIM_DATE),
        _contract(
            SILVER_FACT_ATTENDANCE,
            ForeignKey("student_id", "silver.dim_student", "student_id"),
            ForeignKey("class_id", "silver.dim_class", "class_id"),
        ),
        _contract(
            SILVER_FACT_ASSESSMENT,
            ForeignKey("student_id", "silver.dim_student", "student_id"),
            ForeignKey("class_id", "silver.dim_class", "class_id"),
        ),
        _contract(QUARANTINE_ATTENDANCE_REJECTS),
        _contract(QUARANTINE_ASSESSMENT_REJECTS),
        _contract(
            GOLD_STUDENT_PERFORMANCE_SUMMARY,
            ForeignKey("student_id", "silver.dim_student", "student_id"),
        ),
        _contract(GOLD_CLASS_DAILY_PERFORMANCE, ForeignKey("class_id", "silver.dim_class", "class_id")),
        _contract(GOLD_STUDENT_RISK_FEATURES, ForeignKey("student_id", "silver.dim_student", "student_id")),
        _contract(GOLD_DELIVERY_QUALITY),
        _contract(GOLD_STUDENT_ABSENCE, ForeignKey("student_id", "silver.dim_student", "student_id")),
        _contract(GOLD_PROGRAMME_ATTENDANCE),
    ]
}
