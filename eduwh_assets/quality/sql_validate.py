"""Validating a warehouse table against its contract, in DuckDB, where the data is.

A table is never read into pandas to check it. The contract's SQL rules
(`sql_compile`) run as: one look at the column types for the table's shape;
one scan counting every row rule (`sql_row_scan`), then a read of the first
SAMPLE_ROWS row ids of each rule that failed, for the UI; a query per key (a
duplicate may be anywhere) and per foreign key (another table), over the
whole table even when row rules are restricted (`where`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
import pyarrow
from dagster import MetadataValue

from eduwh_assets.quality.contracts.dtypes import frame_from_arrow
from eduwh_assets.quality.contracts.table import TableContract, unique_rule
from eduwh_assets.markdown import frame_table
from eduwh_assets.quality.sql_compile import ContractSQL, TableRule, compile_contract, schema_failures, sql_values
from eduwh_assets.quality.sql_row_scan import (
    ROWID,
    RULE_ERRORS,
    SAMPLE_ROWS,
    WHOLE_TABLE_VIOLATIONS,
    first_failing_ids,
    first_line,
    one_row,
    run_row_rules,
)
from eduwh_assets.quality.warehouse import qualified, quote, relation_kind


@dataclass
class ValidationReport:
    """The outcome of validating one table against its contract."""

    table: str
    rows_checked: int = 0
    failed_rows: int = 0
    # rule -> failed rows (row-level rules) or distinct failure cases (dtype, missing column)
    by_rule: dict[str, int] = field(default_factory=dict)
    sample: pd.DataFrame = field(default_factory=pd.DataFrame)
    problem: str | None = None  # the table cannot be checked at all (missing)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.problem is None and not self.by_rule

    @property
    def summary(self) -> str:
        if self.problem:
            return self.problem
        if self.passed:
            return f"{self.table}: {self.rows_checked} rows meet the contract"
        rules = ", ".join(f"{rule} ({n})" for rule, n in self.by_rule.items())
        return f"{self.table}: {self.failed_rows} of {self.rows_checked} rows fail; {rules}"

    def metadata(self) -> dict:
        return {
            "table": self.table,
            "rows_checked": self.rows_checked,
            "failed_rows": self.failed_rows,
            "failures_by_rule": MetadataValue.json(dict(self.by_rule)),
            "failed_rule_count": len(self.by_rule),
            "sample_failing_rows": MetadataValue.md(frame_table(self.sample) if len(self.sample) else "none"),
            "seconds": round(self.seconds, 3),
        }


def _column_types(conn: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    return dict(conn.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {qualified(table)})").fetchall())


def _source(kind: str, table: str, column_types: dict[str, str], deliveries: list[str] | None) -> str:
    """The relation the rules read: a stable row id, NaN read as NULL, and with `deliveries` only their rows.

    The row id is DuckDB's rowid for tables, the scan position for views. NaN
    becomes NULL because pandas treats both as missing (nullable, ignore_na).
    Every rule of a delivery table (its key includes delivery_code) holds within one delivery.
    """
    columns = [
        f"CASE WHEN isnan({quote(c)}) THEN NULL ELSE {quote(c)} END AS {quote(c)}"
        if t in ("FLOAT", "DOUBLE")
        else quote(c)
        for c, t in column_types.items()
    ]
    rowid = "row_number() OVER () - 1" if kind == "VIEW" else "rowid"
    where = ""
    if deliveries is not None:
        where = f" WHERE delivery_code IN {sql_values(deliveries)}" if deliveries else " WHERE false"
    return f"(SELECT {rowid} AS {ROWID}, {', '.join(columns)} FROM {qualified(table)}{where})"


def _run_table_rules(conn: duckdb.DuckDBPyConnection, rules: tuple[TableRule, ...], src: str, cases: dict[str, str]) -> None:
    for rule in rules:
        try:
            [holds] = one_row(conn, rule.query.replace("{table}", src))
        except RULE_ERRORS as exc:
            cases[rule.name] = first_line(exc)
            continue
        if not holds:
            cases[rule.name] = str(holds)


def _duplicates_sql(src: str, key: tuple[str, ...]) -> str:
    """Rows whose key another row shares. Like pandas' duplicated(keep=False), NULLs compare equal,
    but a key that is all NULL is no key."""
    cols = ", ".join(quote(c) for c in key)
    some_value = " OR ".join(f"{quote(c)} IS NOT NULL" for c in key)
    same = " AND ".join(f"t.{quote(c)} IS NOT DISTINCT FROM d.{quote(c)}" for c in key)
    return (
        f"WITH d AS (SELECT {cols} FROM {src} WHERE {some_value} GROUP BY ALL HAVING count(*) > 1) "
        f"SELECT t.{ROWID} FROM {src} t SEMI JOIN d ON {same}"
    )


def _unresolved_sql(conn: duckdb.DuckDBPyConnection, src: str, fk) -> str:
    col = f"t.{quote(fk.column)}"
    if relation_kind(conn, fk.ref_table) is None:
        # With no referenced table nothing resolves.
        return f"SELECT t.{ROWID} FROM {src} t WHERE {col} IS NOT NULL"
    return (
        f"SELECT t.{ROWID} FROM {src} t WHERE {col} IS NOT NULL AND NOT EXISTS "
        f"(SELECT 1 FROM {qualified(fk.ref_table)} r WHERE r.{quote(fk.ref_column)} = {col})"
    )


def _run_whole_table_rules(
    conn: duckdb.DuckDBPyConnection, compiled: ContractSQL, src: str, column_types: dict[str, str], cases: dict[str, str]
) -> dict[str, np.ndarray]:
    """Keys and foreign keys, a query each: rule -> the sorted ids of the rows breaking it (if any do).

    The ids come back whole: a key or a foreign key rarely fails, and when it
    does the rows are needed to count each failed row once across all rules.
    """
    violating_rows: dict[str, str] = {}
    for key in compiled.keys:
        if set(key) <= set(column_types):  # a missing column is already reported
            violating_rows[unique_rule(list(key))] = _duplicates_sql(src, key)
    for fk in compiled.contract.foreign_keys:
        if fk.column in column_types:
            violating_rows[fk.rule] = _unresolved_sql(conn, src, fk)
    failing: dict[str, np.ndarray] = {}
    for rule, sql in violating_rows.items():
        try:
            ids = conn.sql(f"SELECT {ROWID} FROM ({sql}) ORDER BY {ROWID}").fetchnumpy()[ROWID]
        except RULE_ERRORS as exc:
            cases[rule] = first_line(exc)
            continue
        if len(ids):
            failing[rule] = np.asarray(ids, dtype=np.int64)
    return failing


def validate_table(
    conn: duckdb.DuckDBPyConnection,
    contract: TableContract,
    deliveries: list[str] | None = None,
    where: str | None = None,
) -> ValidationReport:
    """Validate a warehouse table against its contract, in DuckDB.

    `deliveries` restricts every rule to those deliveries' rows. `where`, a SQL
    predicate on the table's columns, restricts the row rules further (say, to
    the rows a run changed); keys and foreign keys are judged over the whole
    (delivery-filtered) table, since a duplicate or a dangling reference may
    involve rows outside it.
    """
    started = time.perf_counter()
    report = ValidationReport(table=contract.table)
    kind = relation_kind(conn, contract.table)
    if kind is None:
        report.problem = f"{contract.table} does not exist in the warehouse"
        return report
    compiled = compile_contract(contract)
    column_types = _column_types(conn, contract.table)
    src = _source(kind, contract.table, column_types, deliveries)
    rows_src = f"(SELECT * FROM {src} WHERE ({where}))" if where else src

    # Rule -> failure case, for failures that are no rows: the table's shape, a rule that cannot run.
    cases = schema_failures(contract, column_types)
    _run_table_rules(conn, compiled.table_rules, src, cases)
    whole_table = _run_whole_table_rules(conn, compiled, src, column_types, cases)
    whole_table_ids = np.unique(np.concatenate(list(whole_table.values()))) if whole_table else np.array([], np.int64)

    # Pandera skips the checks of a missing column (column_in_dataframe says it); so do we.
    row_rules = [r for r in compiled.row_rules if r.column is None or r.column in column_types]
    if len(whole_table_ids):
        conn.register(WHOLE_TABLE_VIOLATIONS, pyarrow.table({ROWID: whole_table_ids}))
    try:
        scan, row_rules = run_row_rules(conn, row_rules, rows_src, bool(len(whole_table_ids)), cases)
    finally:
        if len(whole_table_ids):
            conn.unregister(WHOLE_TABLE_VIOLATIONS)
    failed_row_rules = [r for r in row_rules if scan.counts[r.name]]
    first_ids = first_failing_ids(conn, failed_row_rules, rows_src)
    first_ids.update({rule: ids[:SAMPLE_ROWS].tolist() for rule, ids in whole_table.items()})

    report.rows_checked = int(scan.rows)
    # Rows breaking a whole-table rule outside `where` fail too, though the scan did not read them.
    report.failed_rows = int(scan.failing) + len(whole_table_ids) - int(scan.whole_table_failing)
    counts = {r.name: int(scan.counts[r.name]) for r in failed_row_rules}
    counts.update({rule: len(ids) for rule, ids in whole_table.items()})
    counts.update({rule: 1 for rule in cases})
    report.by_rule = dict(sorted(counts.items()))
    report.sample = _sample(conn, src, first_ids)
    report.seconds = time.perf_counter() - started
    return report


def _sample(conn: duckdb.DuckDBPyConnection, src: str, ids_by_rule: dict[str, list[int]]) -> pd.DataFrame:
    """Up to SAMPLE_ROWS failing rows, taken round-robin over the failed rules so every one shows."""
    queues = {rule: list(ids) for rule, ids in sorted(ids_by_rule.items()) if ids}
    picked: list[tuple[str, int]] = []
    while len(picked) < SAMPLE_ROWS and any(queues.values()):
        for rule, ids in queues.items():
            if ids and len(picked) < SAMPLE_ROWS:
                picked.append((rule, ids.pop(0)))
    if not picked:
        return pd.DataFrame()
    wanted = ", ".join(str(int(rowid)) for rowid in sorted({rowid for _, rowid in picked}))
    rows = frame_from_arrow(conn.sql(f"SELECT * FROM {src} WHERE {ROWID} IN ({wanted})").to_arrow_table())
    by_id = {record.pop(ROWID): record for record in rows.to_dict("records")}
    return pd.DataFrame([{"failed_rule": rule, **by_id[rowid]} for rule, rowid in picked])

