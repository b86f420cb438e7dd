"""The one scan that counts the violations of every row rule at once, and the reads of the first failing rows.

Rows are identified by `ROWID` (DuckDB's rowid, or the scan position of a
view), so a row that breaks several rules is one failed row.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from eduwh_assets.quality.sql_compile import RowRule

SAMPLE_ROWS = 10
ROWID = "__rowid"


def one_row(conn: duckdb.DuckDBPyConnection, sql: str) -> tuple:
    """The single row of an aggregate query, its result fully consumed so the connection is free again."""
    [row] = conn.execute(sql).fetchall()
    return row


def _violated(rule: RowRule) -> str:
    return f"NOT coalesce({rule.valid}, false)"


# Errors that mean a rule cannot run on this table (a column missing or of another type, a bad
# cast or overflow in its data): reported as a failure of that rule. Anything else (out of
# memory, I/O, interrupt) is no verdict on the data and propagates.
RULE_ERRORS = (
    duckdb.BinderException,
    duckdb.ConversionException,
    duckdb.OutOfRangeException,
    duckdb.InvalidInputException,
)


def first_line(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


# The rows breaking a key or foreign key, registered on the connection while row rules are scanned,
# so a row breaking both kinds of rule is one failed row without a second scan of the table.
WHOLE_TABLE_VIOLATIONS = "__eduwh_whole_table_violations"


@dataclass
class RowScan:
    rows: int  # rows the row rules read
    failing: int  # of those, rows failing a row rule or a whole-table rule
    whole_table_failing: int  # of those, rows failing a whole-table rule
    counts: dict[str, int]  # row rule -> failing rows


def _count_row_rules(
    conn: duckdb.DuckDBPyConnection, rules: list[RowRule], relation: str, with_whole_table: bool
) -> RowScan:
    """One scan counting the violations of every rule at once."""
    flags = [f"{_violated(rule)} AS v{i}" for i, rule in enumerate(rules)]
    any_flag = [f"v{i}" for i in range(len(rules))]
    if with_whole_table:
        flags.append(f"{ROWID} IN (SELECT {ROWID} FROM {WHOLE_TABLE_VIOLATIONS}) AS whole_table")
        any_flag.append("whole_table")
    aggregates = [
        "count(*)",
        f"count(*) FILTER (WHERE {' OR '.join(any_flag) or 'false'})",
        "count(*) FILTER (WHERE whole_table)" if with_whole_table else "0",
        *(f"count(*) FILTER (WHERE v{i})" for i in range(len(rules))),
    ]
    rows, failing, whole_table, *counts = one_row(
        conn, f"SELECT {', '.join(aggregates)} FROM (SELECT {', '.join([ROWID, *flags])} FROM {relation})"
    )
    return RowScan(rows, failing, whole_table, {rule.name: n for rule, n in zip(rules, counts)})


def run_row_rules(
    conn: duckdb.DuckDBPyConnection, rules: list[RowRule], relation: str, with_whole_table: bool, cases: dict[str, str]
) -> tuple[RowScan, list[RowRule]]:
    """The counting scan, and the rules it could run; a rule that cannot run becomes a failure case."""
    try:
        return _count_row_rules(conn, rules, relation, with_whole_table), rules
    except RULE_ERRORS:
        # Find which rules cannot run (a column they read is missing or of another type) and report
        # each as one failure case, as Pandera reports a check that raised. Only a broken table gets here.
        one_row(conn, f"SELECT count(*) FROM {relation}")  # a broken `where` is the caller's error: raise it
        runnable = []
        for rule in rules:
            try:
                _count_row_rules(conn, [rule], relation, with_whole_table=False)
                runnable.append(rule)
            except RULE_ERRORS as exc:
                cases[rule.name] = first_line(exc)
        return _count_row_rules(conn, runnable, relation, with_whole_table), runnable


def first_failing_ids(conn: duckdb.DuckDBPyConnection, rules: list[RowRule], relation: str) -> dict[str, list[int]]:
    """The first SAMPLE_ROWS failing row ids of each (failed) rule.

    A LIMIT per rule rather than a second scan of every failed rule: a scan
    stops at its tenth violation (DuckDB keeps insertion order, so these are the
    first ten), and reads the whole table only for a rule that rarely fails.
    """
    if not rules:
        return {}
    branches = [
        f"(SELECT {i} AS rule, {ROWID} FROM {relation} WHERE {_violated(r)} LIMIT {SAMPLE_ROWS})"
        for i, r in enumerate(rules)
    ]
    ids: dict[str, list[int]] = {rule.name: [] for rule in rules}
    for i, rowid in conn.execute(" UNION ALL ".join(branches) + f" ORDER BY rule, {ROWID}").fetchall():
        ids[rules[i].name].append(rowid)
    return ids
