"""The column builders and value formats the contracts of several layers share.

Statuses, reason codes, outcomes and thresholds are SPEC's codes:
eduwh_assets/rules.py reads them from their one home in the dbt project.
"""

from __future__ import annotations

import pandera.pandas as pa

from eduwh_assets.quality.contracts.custom_checks import column_check
from eduwh_assets.quality.contracts.dtypes import FLOAT, INT, TEXT
from eduwh_assets.rules import WHITESPACE

DELIVERY_CODE_REGEX = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
SOURCE_FILE_REGEX = {
    "attendance": r"^attendance.*\.csv$",
    "assessments": r"^assessments.*\.jsonl?$",
}

# Bronze rules say what silver will accept, so they trim the whitespace silver trims (rules.WHITESPACE),
# in pandas and SQL.
SQL_WHITESPACE = " || ".join(f"chr({ord(c)})" for c in WHITESPACE)
# The same set as an RE2 class. A regex is several times faster than trim(x, characters) in DuckDB.
RE2_WHITESPACE = "[" + "".join(f"\\x{{{ord(c):02X}}}" for c in WHITESPACE) + "]"

ACADEMIC_YEAR_TEXT = pa.Check.str_matches(r"^\d{4}/\d{2}$")


def text_column(nullable: bool = True, checks: list[pa.Check] | None = None, **kw) -> pa.Column:
    return pa.Column(TEXT, checks=checks or [], nullable=nullable, **kw)


def count_column(nullable: bool = False) -> pa.Column:
    return pa.Column(INT, pa.Check.ge(0), nullable=nullable)


def rate_column(nullable: bool = True) -> pa.Column:
    return pa.Column(FLOAT, pa.Check.in_range(0, 1), nullable=nullable)


def pct_column(nullable: bool = True) -> pa.Column:
    return pa.Column(FLOAT, pa.Check.in_range(0, 100), nullable=nullable)


def not_blank() -> pa.Check:
    return column_check(
        "not_blank",
        lambda s: s.str.strip(WHITESPACE).str.len() > 0,
        f"NOT regexp_full_match({{column}}, '{RE2_WHITESPACE}*')",
    )


def lineage_columns(source: str) -> dict[str, pa.Column]:
    """Where each received row came from: its delivery, file and row number."""
    return {
        "delivery_code": text_column(False, [pa.Check.str_matches(DELIVERY_CODE_REGEX)]),
        "_source_file": text_column(False, [pa.Check.str_matches(SOURCE_FILE_REGEX[source])]),
        "_source_row": pa.Column(INT, pa.Check.ge(1), nullable=False),
    }
