"""Custom checks: each with its pandas function and its SQL form, side by side.

Pandera's built-in checks translate to SQL from their name and statistics; a
custom check's function cannot be read, so it keeps its SQL form in the
Check's statistics. The pandas form is the reference: the tests hold the two
to the same failure counts.

A SQL form is a DuckDB predicate that is TRUE for a row meeting the rule; NULL
or FALSE is a violation, as a pandas result of NA or False is. It sees NULL
where pandas sees NaN.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

# Keys of a custom Check's statistics holding its SQL form.
SQL_PREDICATE = "sql"
SQL_TABLE_QUERY = "sql_table"

# Floating point tolerance for recomputed ratios (rates, score_pct).
TOLERANCE = 1e-9


def column_check(name: str, fn, sql: str) -> pa.Check:
    """A rule on one column's values; `sql` names the column `{column}` (replaced, not str.format). Nulls pass."""
    return pa.Check(fn, name=name, statistics={SQL_PREDICATE: sql})


def frame_check(name: str, fn, sql: str) -> pa.Check:
    """A dataframe-level (cross-column) rule. Nulls are handled inside `fn` and `sql`, never skipped silently."""
    return pa.Check(fn, name=name, error=name, ignore_na=False, statistics={SQL_PREDICATE: sql})


def table_check(name: str, fn, sql: str) -> pa.Check:
    """A rule on the table as a whole; `sql` is a query of one boolean over the relation `{table}`."""
    return pa.Check(fn, name=name, error=name, statistics={SQL_TABLE_QUERY: sql})


def sql_list(values) -> str:
    """A parenthesised list of SQL string literals, for IN."""
    return "(" + ", ".join("'" + str(v).replace("'", "''") + "'" for v in values) + ")"


def rate_matches(rate: pd.Series, numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """rate = numerator / denominator, and NULL exactly when the denominator is 0 (or unknown)."""
    num = numerator.astype("float64")
    den = denominator.astype("float64")
    has_den = den.fillna(0) > 0
    expected = num / den.where(has_den)
    close = (rate.astype("float64") - expected).abs() <= TOLERANCE
    return (has_den & close.fillna(False)) | (~has_den & rate.isna())


def rate_matches_sql(rate: str, numerator: str, denominator: str) -> str:
    return (
        f"CASE WHEN coalesce({denominator}, 0) > 0 "
        f"THEN abs({rate} - ({numerator})::DOUBLE / ({denominator})) <= {TOLERANCE!r} "
        f"ELSE {rate} IS NULL END"
    )
