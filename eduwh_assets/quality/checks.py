"""Dagster asset checks built from the Pandera contracts in `contracts/`, run in DuckDB.

The Pandera schemas are the one definition of the rules, but a table is never
read into pandas to check it: each schema is translated to SQL
(`compile_contract`) and DuckDB evaluates it where the data is.

- Column presence, `strict` and dtypes are one look at the table's column
  types (`logical_type` classes DuckDB's types as `frame_from_arrow` does).
- Every row rule — `nullable=False`, Pandera's built-in checks (from their
  name and statistics), the custom checks (from the SQL kept beside their
  pandas function) — becomes a predicate, and one scan counts the violations
  of all of them at once; only a rule that fails is read again, for the
  first SAMPLE_ROWS row ids the UI shows.
- Keys (a duplicate may be anywhere) and foreign keys (another table) are a
  query each, over the whole table even when row rules are restricted (`where`).

Failure counts are reported per rule under the names Pandera uses
(`<column>:<check>`, `unique(a, b)` for compound keys, the rule name for
cross-column checks), so the SQL path reports what `validate_frame` (Pandera
on a whole in-memory frame, the reference the tests compare against) reports,
plus the foreign keys. Rows are identified by DuckDB's `rowid`, so a row that
breaks several rules is one failed row.
"""

import functools
import math
import re
import sys
import time
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetChecksDefinition,
    MetadataValue,
    asset_check,
)
from pandera.engines import pandas_engine

from eduwh_assets.config import WAREHOUSE_POOL
from eduwh_assets.partitions import deliveries_of_run
from eduwh_assets.quality.describe import check_description
from eduwh_assets.quality.contracts import CONTRACTS
from eduwh_assets.quality.contracts.custom_checks import SQL_PREDICATE, SQL_TABLE_QUERY
from eduwh_assets.quality.contracts.dtypes import LOGICAL_DTYPES, frame_from_arrow, logical_type
from eduwh_assets.quality.contracts.table import TableContract, unique_rule
from eduwh_assets.quality.warehouse import qualified, quote, relation_kind
from eduwh_assets.warehouse import Warehouse, WarehouseMissing

SAMPLE_ROWS = 10
CHECK_NAME = "pandera_contract"
ROWID = "__rowid"


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
            "sample_failing_rows": MetadataValue.md(to_markdown(self.sample) if len(self.sample) else "none"),
            "seconds": round(self.seconds, 3),
        }


# --- The reference: Pandera on a whole in-memory frame ------------------------------------------


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


# --- Translation of a contract to SQL -----------------------------------------------------------


@dataclass(frozen=True)
class RowRule:
    """A rule each row must meet: `valid` is TRUE for a good row, FALSE or NULL for a violation."""

    name: str
    valid: str
    column: str | None = None  # the contract column it belongs to; None for a cross-column rule


@dataclass(frozen=True)
class TableRule:
    """A rule on the relation as a whole: `query` returns one boolean, `{table}` standing for the relation."""

    name: str
    query: str


@dataclass(frozen=True)
class ContractSQL:
    """A contract as SQL: its row rules, table rules and keys (foreign keys stay on the contract)."""

    contract: TableContract
    row_rules: tuple[RowRule, ...]
    table_rules: tuple[TableRule, ...]
    keys: tuple[tuple[str, ...], ...]

    @property
    def rule_names(self) -> list[str]:
        """Every rule a well-shaped table can fail (the column presence and dtype rules aside)."""
        return [
            *(r.name for r in self.row_rules),
            *(r.name for r in self.table_rules),
            *(unique_rule(list(key)) for key in self.keys),
            *(fk.rule for fk in self.contract.foreign_keys),
        ]


def sql_literal(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and math.isfinite(value):
        # As a DOUBLE: a bare 0.8 is DECIMAL in DuckDB, and pandas compares floats.
        return f"{float(value)!r}::DOUBLE"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise NotImplementedError(f"no SQL literal for {value!r} ({type(value).__name__})")


def _sql_values(values) -> str:
    return "(" + ", ".join(sql_literal(v) for v in values) + ")"


@functools.cache
def _python_whitespace_class() -> str:
    """Python's `\\s` (str.isspace, Unicode) as the body of an RE2 class; RE2's `\\s` is [\\t\\n\\f\\r ] only."""
    return "".join(f"\\x{{{c:X}}}" for c in range(sys.maxunicode + 1) if chr(c).isspace())


# Escapes whose meaning in Python (Unicode-aware) differs from RE2's (ASCII), or that RE2 lacks.
_UNTRANSLATED_ESCAPES = set("wWbB123456789N")


def re2_pattern(pattern: str) -> str:
    """A Python `re` pattern rewritten for RE2 (DuckDB's regexp functions) so both match the same strings.

    `\\d` is any Unicode decimal digit and `\\s` any Unicode space in Python, and
    `$` also matches before a final newline; RE2 reads all three more narrowly.
    What cannot be translated faithfully raises NotImplementedError, so a rule
    never silently means something else in SQL. Anchoring (re.match) is the caller's.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 == n:
                raise ValueError(f"pattern ends with a backslash: {pattern!r}")
            esc = pattern[i + 1]
            i += 2
            if esc == "d":
                out.append(r"\p{Nd}")
            elif esc == "D":
                out.append(r"\P{Nd}")
            elif esc == "s":
                out.append(_python_whitespace_class() if in_class else f"[{_python_whitespace_class()}]")
            elif esc == "S" and not in_class:
                out.append(f"[^{_python_whitespace_class()}]")
            elif esc == "Z" and not in_class:
                out.append(r"\z")
            elif esc in "uU":
                width = 4 if esc == "u" else 8
                out.append(f"\\x{{{pattern[i:i + width]}}}")
                i += width
            elif esc in _UNTRANSLATED_ESCAPES or esc == "S":
                raise NotImplementedError(f"\\{esc} has no faithful RE2 translation (pattern {pattern!r})")
            else:
                out.append("\\" + esc)
            continue
        if in_class:
            in_class = ch != "]"
            out.append(ch)
            i += 1
            continue
        if ch == "[":
            in_class = True
            out.append(ch)
            i += 1
            if pattern.startswith("^", i):
                out.append("^")
                i += 1
            if pattern.startswith("]", i):  # a leading ] is a literal in both dialects
                out.append("]")
                i += 1
            continue
        if ch == "$":
            if i + 1 < n and pattern[i + 1] not in "|)":
                raise NotImplementedError(f"$ inside a pattern has no RE2 translation: {pattern!r}")
            out.append(r"(?:\n?\z)")
            i += 1
            continue
        if pattern.startswith("(?", i) and not (pattern.startswith("(?:", i) or pattern.startswith("(?P<", i)):
            raise NotImplementedError(f"group {pattern[i:i + 4]!r}... has no RE2 translation (pattern {pattern!r})")
        out.append(ch)
        i += 1
    return "".join(out)


def _regex_source(pattern) -> str:
    if isinstance(pattern, re.Pattern):
        if pattern.flags & ~re.UNICODE:
            raise NotImplementedError(f"regex flags have no translation: {pattern!r}")
        return pattern.pattern
    return pattern


def _builtin_sql(check: pa.Check, col: str) -> str:
    """A built-in Pandera check on column `col` (quoted) as a predicate, from its name and statistics."""
    name, stats = check.registry_name, check.statistics
    comparisons = {
        "equal_to": ("=", "value"),
        "not_equal_to": ("<>", "value"),
        "greater_than": (">", "min_value"),
        "greater_than_or_equal_to": (">=", "min_value"),
        "less_than": ("<", "max_value"),
        "less_than_or_equal_to": ("<=", "max_value"),
    }
    if name in comparisons:
        op, key = comparisons[name]
        return f"{col} {op} {sql_literal(stats[key])}"
    if name == "in_range":
        low = ">=" if stats.get("include_min", True) else ">"
        high = "<=" if stats.get("include_max", True) else "<"
        return f"{col} {low} {sql_literal(stats['min_value'])} AND {col} {high} {sql_literal(stats['max_value'])}"
    if name in ("isin", "notin"):
        values = list(stats["allowed_values" if name == "isin" else "forbidden_values"])
        if not values:
            return "FALSE" if name == "isin" else "TRUE"
        return f"{col} {'IN' if name == 'isin' else 'NOT IN'} {_sql_values(values)}"
    if name == "str_matches":
        # pandas' str.match is re.match: anchored at the start only.
        return f"regexp_matches({col}, {sql_literal('^(?:' + re2_pattern(_regex_source(stats['pattern'])) + ')')})"
    if name == "str_contains":
        return f"regexp_matches({col}, {sql_literal(re2_pattern(_regex_source(stats['pattern'])))})"
    if name == "str_startswith":
        return f"starts_with({col}, {sql_literal(stats['string'])})"
    if name == "str_endswith":
        return f"ends_with({col}, {sql_literal(stats['string'])})"
    if name == "str_length":
        # length() counts code points, as Python's len does.
        if stats.get("exact_value") is not None:
            return f"length({col}) = {sql_literal(stats['exact_value'])}"
        bounds = [f"length({col}) >= {sql_literal(stats['min_value'])}"] if stats.get("min_value") is not None else []
        if stats.get("max_value") is not None:
            bounds.append(f"length({col}) <= {sql_literal(stats['max_value'])}")
        return " AND ".join(bounds)
    raise NotImplementedError(
        f"check {check.name!r} has no SQL form (build a custom check with custom_checks.column_check)"
    )


def _check_identifier(check: pa.Check) -> str:
    """What Pandera calls a check in its failure cases (and so in our rule names)."""
    return check.error if check.error is not None else check.name


def _refuse_untranslatable(contract: TableContract) -> None:
    """Schema options the translation does not carry: fail loudly rather than check less than Pandera would."""
    schema = contract.schema
    problems = []
    if schema.ordered or schema.coerce or schema.index is not None or schema.strict == "filter":
        problems.append("ordered / coerce / index / strict='filter'")
    for name, column in schema.columns.items():
        if column.regex or column.coerce:
            problems.append(f"column {name}: regex or coerce")
    for check in [*schema.checks, *(c for col in schema.columns.values() for c in col.checks)]:
        if check.groupby is not None or check.element_wise:
            problems.append(f"check {check.name}: groupby or element_wise")
    if problems:
        raise NotImplementedError(f"{contract.table}: no SQL translation for {', '.join(problems)}")


def compile_contract(contract: TableContract) -> ContractSQL:
    """The contract's Pandera schema as SQL rules, with Pandera's rule names."""
    _refuse_untranslatable(contract)
    schema = contract.schema
    row_rules: list[RowRule] = []
    table_rules: list[TableRule] = []
    for name, column in schema.columns.items():
        col = quote(name)
        if not column.nullable:
            row_rules.append(RowRule(f"{name}:not_nullable", f"{col} IS NOT NULL", name))
        for check in column.checks:
            custom = check.statistics.get(SQL_PREDICATE)
            predicate = custom.replace("{column}", col) if custom is not None else _builtin_sql(check, col)
            # Pandera's ignore_na: a null value passes a column check.
            valid = f"{col} IS NULL OR ({predicate})" if check.ignore_na else predicate
            row_rules.append(RowRule(f"{name}:{_check_identifier(check)}", valid, name))
    for check in schema.checks:
        if SQL_TABLE_QUERY in check.statistics:
            table_rules.append(TableRule(_check_identifier(check), check.statistics[SQL_TABLE_QUERY]))
        elif SQL_PREDICATE in check.statistics and not check.ignore_na:
            row_rules.append(RowRule(_check_identifier(check), check.statistics[SQL_PREDICATE]))
        else:
            raise NotImplementedError(
                f"{contract.table}: dataframe check {check.name!r} has no SQL form "
                "(build it with custom_checks.frame_check or custom_checks.table_check)"
            )
    keys = [(c,) for c in contract.unique_columns]
    if contract.compound_key:
        keys.append(tuple(contract.compound_key))
    return ContractSQL(contract, tuple(row_rules), tuple(table_rules), tuple(keys))


def _logical_name(column: pa.Column) -> str:
    for name, dtype in LOGICAL_DTYPES.items():
        if column.dtype == pandas_engine.Engine.dtype(dtype):
            return name
    raise NotImplementedError(f"column {column.name}: dtype {column.dtype} is none of {sorted(LOGICAL_DTYPES)}")


def schema_failures(contract: TableContract, column_types: dict[str, str]) -> dict[str, str]:
    """Rule -> failure case for the table's shape: missing columns, extra ones under strict, wrong dtypes."""
    failures: dict[str, str] = {}
    schema = contract.schema
    for name, column in schema.columns.items():
        if name not in column_types:
            if column.required:
                failures[f"{name}:column_in_dataframe"] = name
        elif logical_type(column_types[name]) != _logical_name(column):
            failures[f"{name}:dtype('{column.dtype}')"] = column_types[name]
    if schema.strict is True:
        for name in column_types:
            if name not in schema.columns:
                failures[f"{name}:column_in_schema"] = name
    return failures


# --- Running the SQL -----------------------------------------------------------------------------


def _one_row(conn: duckdb.DuckDBPyConnection, sql: str) -> tuple:
    """The single row of an aggregate query, its result fully consumed so the connection is free again."""
    [row] = conn.execute(sql).fetchall()
    return row


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
        where = f" WHERE delivery_code IN {_sql_values(deliveries)}" if deliveries else " WHERE false"
    return f"(SELECT {rowid} AS {ROWID}, {', '.join(columns)} FROM {qualified(table)}{where})"


def _violated(rule: RowRule) -> str:
    return f"NOT coalesce({rule.valid}, false)"


# Errors that mean a rule cannot run on this table (a column missing or of another type, a bad
# cast or overflow in its data): reported as a failure of that rule. Anything else (out of
# memory, I/O, interrupt) is no verdict on the data and propagates.
_RULE_ERRORS = (
    duckdb.BinderException,
    duckdb.ConversionException,
    duckdb.OutOfRangeException,
    duckdb.InvalidInputException,
)


def _first_line(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


# The rows breaking a key or foreign key, registered on the connection while row rules are scanned,
# so a row breaking both kinds of rule is one failed row without a second scan of the table.
_WHOLE_TABLE_VIOLATIONS = "__eduwh_whole_table_violations"


@dataclass
class _RowScan:
    rows: int  # rows the row rules read
    failing: int  # of those, rows failing a row rule or a whole-table rule
    whole_table_failing: int  # of those, rows failing a whole-table rule
    counts: dict[str, int]  # row rule -> failing rows


def _count_row_rules(
    conn: duckdb.DuckDBPyConnection, rules: list[RowRule], relation: str, with_whole_table: bool
) -> _RowScan:
    """One scan counting the violations of every rule at once."""
    flags = [f"{_violated(rule)} AS v{i}" for i, rule in enumerate(rules)]
    any_flag = [f"v{i}" for i in range(len(rules))]
    if with_whole_table:
        flags.append(f"{ROWID} IN (SELECT {ROWID} FROM {_WHOLE_TABLE_VIOLATIONS}) AS whole_table")
        any_flag.append("whole_table")
    aggregates = [
        "count(*)",
        f"count(*) FILTER (WHERE {' OR '.join(any_flag) or 'false'})",
        "count(*) FILTER (WHERE whole_table)" if with_whole_table else "0",
        *(f"count(*) FILTER (WHERE v{i})" for i in range(len(rules))),
    ]
    rows, failing, whole_table, *counts = _one_row(
        conn, f"SELECT {', '.join(aggregates)} FROM (SELECT {', '.join([ROWID, *flags])} FROM {relation})"
    )
    return _RowScan(rows, failing, whole_table, {rule.name: n for rule, n in zip(rules, counts)})


def _run_row_rules(
    conn: duckdb.DuckDBPyConnection, rules: list[RowRule], relation: str, with_whole_table: bool, cases: dict[str, str]
) -> tuple[_RowScan, list[RowRule]]:
    """The counting scan, and the rules it could run; a rule that cannot run becomes a failure case."""
    try:
        return _count_row_rules(conn, rules, relation, with_whole_table), rules
    except _RULE_ERRORS:
        # Find which rules cannot run (a column they read is missing or of another type) and report
        # each as one failure case, as Pandera reports a check that raised. Only a broken table gets here.
        _one_row(conn, f"SELECT count(*) FROM {relation}")  # a broken `where` is the caller's error: raise it
        runnable = []
        for rule in rules:
            try:
                _count_row_rules(conn, [rule], relation, with_whole_table=False)
                runnable.append(rule)
            except _RULE_ERRORS as exc:
                cases[rule.name] = _first_line(exc)
        return _count_row_rules(conn, runnable, relation, with_whole_table), runnable


def _first_failing_ids(conn: duckdb.DuckDBPyConnection, rules: list[RowRule], relation: str) -> dict[str, list[int]]:
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


def _run_table_rules(conn: duckdb.DuckDBPyConnection, rules: tuple[TableRule, ...], src: str, cases: dict[str, str]) -> None:
    for rule in rules:
        try:
            [holds] = _one_row(conn, rule.query.replace("{table}", src))
        except _RULE_ERRORS as exc:
            cases[rule.name] = _first_line(exc)
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
        except _RULE_ERRORS as exc:
            cases[rule] = _first_line(exc)
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
        conn.register(_WHOLE_TABLE_VIOLATIONS, pyarrow.table({ROWID: whole_table_ids}))
    try:
        scan, row_rules = _run_row_rules(conn, row_rules, rows_src, bool(len(whole_table_ids)), cases)
    finally:
        if len(whole_table_ids):
            conn.unregister(_WHOLE_TABLE_VIOLATIONS)
    failed_row_rules = [r for r in row_rules if scan.counts[r.name]]
    first_ids = _first_failing_ids(conn, failed_row_rules, rows_src)
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


# --- Dagster ---------------------------------------------------------------------------------


def to_markdown(frame: pd.DataFrame, max_width: int = 60) -> str:
    """A small markdown table for the Dagster UI (no extra dependency)."""

    def cell(value) -> str:
        text = "" if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA else str(value)
        text = text.replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    header = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def run_contract_check(
    warehouse: Warehouse,
    contract: TableContract,
    severity: AssetCheckSeverity,
    deliveries: list[str] | None = None,
    where: str | None = None,
) -> AssetCheckResult:
    try:
        with warehouse.read_only_connection() as conn:
            report = validate_table(conn, contract, deliveries=deliveries, where=where)
    except WarehouseMissing as exc:
        report = ValidationReport(table=contract.table, problem=str(exc))
    return AssetCheckResult(
        passed=report.passed,
        severity=severity,
        description=report.summary,
        metadata=report.metadata(),
    )


def build_contract_check(
    contract: TableContract, *, blocking: bool, severity: AssetCheckSeverity
) -> AssetChecksDefinition:
    """One Pandera check on the asset under `contract.asset_key`, wherever that asset is defined."""

    @asset_check(
        asset=contract.asset_key,
        name=CHECK_NAME,
        blocking=blocking,
        # DuckDB lets no reader in while another process writes, so checks queue with the writers.
        pool=WAREHOUSE_POOL,
        description=contract_description(contract, blocking),
        metadata={"table": contract.table, "layer": contract.layer},
    )
    def _check(context: AssetCheckExecutionContext, warehouse: Warehouse) -> AssetCheckResult:
        # In a delivery run, judge only the deliveries it loaded: the rest of the
        # table was checked when it was loaded, and rescanning it all is most of
        # an incremental run's cost at scale.
        deliveries = (
            deliveries_of_run(context.run.tags, context.instance) if contract.table in DELIVERY_TABLES else None
        )
        result = run_contract_check(warehouse, contract, severity, deliveries)
        context.log.info(result.description)
        return result

    return _check


def contract_description(contract: TableContract, blocking: bool) -> str:
    what = (
        f"the Pandera contract of {contract.table}: dtypes, allowed values, ranges, cross-column rules, "
        "unique keys and foreign keys. The result names each failed rule with its row count and sample rows."
    )
    if not blocking:
        return check_description(
            what,
            "bronze keeps values as received, so this warns and never blocks: silver quarantines the bad rows "
            "with a reason code and loads the rest.",
            "the quarantine tables and the reject exports list each bad row by delivery, file and row; fix them "
            "at the source and send a new delivery, whose rows supersede the old ones.",
        )
    return check_description(
        what,
        f"{contract.table} feeds what is built after it, so a failure blocks those assets in this run: "
        "nothing downstream is built from rows that break the contract.",
        "bad input is quarantined before silver, so a failure here means the build itself is wrong. "
        "Rebuild everything with `eduwh run --full-refresh`; if the rule still fails, report it with the "
        "sample rows from this check's metadata.",
    )


def contract_severity(contract: TableContract) -> tuple[bool, AssetCheckSeverity]:
    """Bronze keeps bad values by design, so its checks warn; every later layer guards integrity and blocks."""
    if contract.layer == "bronze":
        return False, AssetCheckSeverity.WARN
    return True, AssetCheckSeverity.ERROR


# Bronze tables partitioned by delivery.
DELIVERY_TABLES = {"bronze.attendance", "bronze.assessments"}

contract_checks: list[AssetChecksDefinition] = []
for _contract in CONTRACTS.values():
    _blocking, _severity = contract_severity(_contract)
    contract_checks.append(build_contract_check(_contract, blocking=_blocking, severity=_severity))
del _contract, _blocking, _severity
