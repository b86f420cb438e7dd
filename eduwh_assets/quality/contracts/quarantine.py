"""The quarantine contracts: the rejected rows of each delivery source, each with its one reason."""

from __future__ import annotations

import pandera.pandas as pa

from eduwh_assets.quality.contracts.columns import lineage_columns, text_column
from eduwh_assets.rules import REASONS_BY_SOURCE


def _rejects_schema(source: str, raw: list[str]) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            **{c: text_column() for c in raw},
            **lineage_columns(source),
            "reason": text_column(False, [pa.Check.isin(REASONS_BY_SOURCE[source])]),
        },
        # Each received row has exactly one outcome, so a bronze row is rejected at most once.
        unique=["delivery_code", "_source_file", "_source_row"],
        name=f"quarantine.{'attendance' if source == 'attendance' else 'assessment'}_rejects",
    )


QUARANTINE_ATTENDANCE_REJECTS = _rejects_schema(
    "attendance", ["attendance_id", "student_id", "session_date", "status"]
)
QUARANTINE_ASSESSMENT_REJECTS = _rejects_schema(
    "assessments", ["assessment_id", "student_id", "subject", "score", "max_score", "assessed_on"]
)
