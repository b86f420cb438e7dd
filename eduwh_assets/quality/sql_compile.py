"""A Pandera contract translated to DuckDB SQL rules, under the names Pandera reports them by.

- Column presence, `strict` and dtypes are judged from the table's column
  types (`schema_failures`; `logical_type` classes DuckDB's types as
  `frame_from_arrow` does).
- Every row rule (`nullable=False`, Pandera's built-in checks from their name
  and statistics, the custom checks from the SQL kept beside their pandas
  function) becomes a predicate.
- Table rules are a query of one boolean; keys become tuples of columns, and
  foreign keys stay on the contract.

Rule names are Pandera's: `<column>:<check>`, `unique(a, b)` for compound
keys, the rule name for cross-column checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandera.pandas as pa
from pandera.engines import pandas_engine

from eduwh_assets.quality.contracts.custom_checks import SQL_PREDICATE, SQL_TABLE_QUERY
from eduwh_assets.quality.contracts.dtypes import LOGICAL_DTYPES, logical_type
from eduwh_assets.quality.contracts.table import TableContract, unique_rule
from eduwh_assets.quality.regex_to_re2 import pattern_source, re2_pattern
from eduwh_assets.quality.warehouse import quote


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


def sql_values(values) -> str:
    return "(" + ", ".join(sql_literal(v) for v in values) + ")"


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
        return f"{col} {'IN' if name == 'isin' else 'NOT IN'} {sql_values(values)}"
    if name == "str_matches":
        # pandas' str.match is re.match: anchored at the start only.
        return f"regexp_matches({col}, {sql_literal('^(?:' + re2_pattern(pattern_source(stats['pattern'])) + ')')})"
    if name == "str_contains":
        return f"regexp_matches({col}, {sql_literal(re2_pattern(pattern_source(stats['pattern'])))})"
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
