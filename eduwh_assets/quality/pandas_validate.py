"""The reference validation: Pandera on a whole in-memory frame.

The SQL path (`sql_validate.validate_table`) must report what this reports,
plus the foreign keys; the tests hold the two to the same failure counts.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from eduwh_assets.quality.contracts.table import TableContract, unique_rule


def _rule_name(schema_context: str, column, check: str, failure_case, contract: TableContract) -> str:
    if check == "multiple_fields_uniqueness":
        return unique_rule(contract.compound_key or [str(column)])
    if check in ("column_in_dataframe", "column_in_schema"):
        return f"{failure_case}:{check}"
    if schema_context == "DataFrameSchema":
        return check
    return f"{column}:{check}"


def validate_frame(frame: pd.DataFrame, contract: TableContract) -> dict[str, int]:
    """Failure counts by rule from Pandera on a whole in-memory frame (no foreign keys).

    The reference the SQL `validate_table` must agree with. A row-level rule
    counts failing rows; any other failure counts distinct failure cases, and a
    wrong dtype is one case per column (Pandera lists every value of an object
    column instead, which says nothing more).
    """
    try:
        contract.schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        return {}
    failures: dict[str, set] = {}
    for case in cases.astype({"check": str, "column": str}).to_dict("records"):
        rule = _rule_name(case["schema_context"], case["column"], case["check"], case["failure_case"], contract)
        if case["check"].startswith("dtype("):
            identity = "dtype"
        elif pd.notna(case["index"]):
            identity = int(case["index"])
        else:
            identity = str(case["failure_case"])
        failures.setdefault(rule, set()).add(identity)
    return {rule: len(ids) for rule, ids in sorted(failures.items())}
