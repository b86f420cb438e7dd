"""Dagster asset checks built from the Pandera contracts in `schemas.py`.

A check never loads a whole table into pandas. The rules that need the whole
table at once run in DuckDB SQL: key uniqueness (a duplicate may sit in another
chunk) and foreign keys (they need another table). Everything else — dtypes,
nulls, allowed values, ranges, cross-column rules — is Pandera, applied to
record batches of `CHUNK_ROWS` rows with `lazy=True`, and the failure cases of
all chunks are merged. Rows are identified by DuckDB's `rowid`, so a row that
breaks a SQL rule and a Pandera rule is one failed row, not two.

Failure counts are reported per rule under the names Pandera uses
(`<column>:<check>`, `unique(a, b)` for compound keys, the rule name for
cross-column checks), so a chunked run reports exactly what validating the
whole frame at once would, plus the foreign-key rules.
"""

import copy
import time
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
import pandera.pandas as pa
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetChecksDefinition,
    MetadataValue,
    ResourceParam,
    asset_check,
)

from eduwh_assets.config import WAREHOUSE_POOL, Settings
from eduwh_assets.partitions import deliveries_of_run
from eduwh_assets.quality.schemas import CONTRACTS, TableContract, frame_from_arrow, unique_rule
from eduwh_assets.quality.warehouse import (
    WarehouseMissing,
    open_warehouse,
    qualified,
    quote,
    relation_kind,
)

# Rows per Pandera batch: about 300 MB of pandas for the widest fact table.
CHUNK_ROWS = 500_000
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


class _Failures:
    """Failure cases merged across chunks and SQL rules."""

    def __init__(self) -> None:
        self.row_ids: dict[str, list[np.ndarray]] = {}
        self.cases: dict[str, set[str]] = {}  # schema-level failures, one per distinct case
        self.samples: dict[str, list[dict]] = {}
        self.sampled_ids: dict[str, set] = {}

    def add_rows(self, rule: str, ids: np.ndarray) -> None:
        if len(ids):
            self.row_ids.setdefault(rule, []).append(np.asarray(ids, dtype=np.int64))

    def add_case(self, rule: str, case: str) -> None:
        self.cases.setdefault(rule, set()).add(case)

    def add_samples(self, rule: str, rows: pd.DataFrame) -> None:
        """Keep up to SAMPLE_ROWS rows (indexed by rowid) per rule, each row once."""
        kept = self.samples.setdefault(rule, [])
        seen = self.sampled_ids.setdefault(rule, set())
        for rowid, record in zip(rows.index, rows.to_dict("records")):
            if len(kept) >= SAMPLE_ROWS:
                break
            if rowid not in seen:
                seen.add(rowid)
                kept.append(record)

    def wants_samples(self, rule: str) -> bool:
        return len(self.samples.get(rule, ())) < SAMPLE_ROWS

    def by_rule(self) -> dict[str, int]:
        counts = {rule: int(np.unique(np.concatenate(parts)).size) for rule, parts in self.row_ids.items()}
        counts.update({rule: len(cases) for rule, cases in self.cases.items()})
        return dict(sorted(counts.items()))

    def failed_rows(self) -> int:
        parts = [p for parts in self.row_ids.values() for p in parts]
        return int(np.unique(np.concatenate(parts)).size) if parts else 0

    def sample(self) -> pd.DataFrame:
        """Up to SAMPLE_ROWS failing rows, taken round-robin so every failed rule shows."""
        picked: list[dict] = []
        queues = {rule: list(rows) for rule, rows in sorted(self.samples.items())}
        while len(picked) < SAMPLE_ROWS and any(queues.values()):
            for rule, rows in queues.items():
                if rows and len(picked) < SAMPLE_ROWS:
                    picked.append({"failed_rule": rule, **rows.pop(0)})
        return pd.DataFrame(picked)


def _rule_name(schema_context: str, column, check: str, failure_case, contract: TableContract) -> str:
    if check == "multiple_fields_uniqueness":
        return unique_rule(contract.compound_key or [str(column)])
    if check in ("column_in_dataframe", "column_in_schema"):
        return f"{failure_case}:{check}"
    if schema_context == "DataFrameSchema":
        return check
    return f"{column}:{check}"


def _collect_failure_cases(
    failures: _Failures, cases: pd.DataFrame, contract: TableContract, frame: pd.DataFrame | None
) -> None:
    """Fold Pandera's failure_cases (index = rowid) into `failures`.

    Grouped by (context, column, check) so the rule name is worked out once per
    group, not once per failing value: a bad chunk can have hundreds of thousands.
    """
    cases = cases.assign(check=cases["check"].astype(str), column=cases["column"].astype(str))
    row_level = cases[cases["index"].notna()]
    for (context, column, check), group in row_level.groupby(["schema_context", "column", "check"], sort=False):
        rule = _rule_name(context, column, check, None, contract)
        ids = np.unique(group["index"].astype("int64").to_numpy())
        failures.add_rows(rule, ids)
        if frame is not None and failures.wants_samples(rule):
            failures.add_samples(rule, frame.loc[frame.index.intersection(ids[:SAMPLE_ROWS])])
    for row in cases[cases["index"].isna()].itertuples(index=False):
        rule = _rule_name(row.schema_context, row.column, row.check, row.failure_case, contract)
        failures.add_case(rule, str(row.failure_case))


def without_uniqueness(schema: pa.DataFrameSchema) -> pa.DataFrameSchema:
    """The schema minus its key rules, which are checked over the whole table in SQL instead."""
    keys = [name for name, col in schema.columns.items() if col.unique]
    chunk_schema = schema.update_columns({name: {"unique": False} for name in keys}) if keys else copy.copy(schema)
    chunk_schema.unique = None
    return chunk_schema


def validate_frame(frame: pd.DataFrame, contract: TableContract) -> dict[str, int]:
    """Failure counts by rule from Pandera on a whole in-memory frame (no foreign keys).

    This is the reference the chunked `validate_table` must agree with.
    """
    failures = _Failures()
    try:
        contract.schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        _collect_failure_cases(failures, exc.failure_cases, contract, None)
    return failures.by_rule()


def _source(kind: str, table: str, deliveries: list[str] | None = None) -> str:
    """A relation with a stable row id: DuckDB's rowid for tables, the scan position for views.

    With `deliveries`, only those deliveries' rows: every rule of a delivery
    table (its key includes delivery_code) holds within one delivery.
    """
    where = ""
    if deliveries is not None:
        codes = ", ".join("'" + code.replace("'", "''") + "'" for code in deliveries)
        where = f" WHERE delivery_code IN ({codes})" if codes else " WHERE false"
    if kind == "VIEW":
        return f"(SELECT row_number() OVER () - 1 AS {ROWID}, * FROM {qualified(table)}{where})"
    return f"(SELECT rowid AS {ROWID}, * FROM {qualified(table)}{where})"


def _sql_rule(
    conn: duckdb.DuckDBPyConnection, failures: _Failures, rule: str, src: str, violating_ids_sql: str
) -> None:
    ids = conn.sql(violating_ids_sql).fetchnumpy()[ROWID]
    if len(ids):
        failures.add_rows(rule, ids)
        first = ", ".join(str(int(i)) for i in np.sort(ids)[:SAMPLE_ROWS])
        rows = frame_from_arrow(conn.sql(f"SELECT * FROM {src} t WHERE {ROWID} IN ({first}) ORDER BY {ROWID}").to_arrow_table())
        failures.add_samples(rule, rows.set_index(ROWID))


def _sql_rules(
    conn: duckdb.DuckDBPyConnection, failures: _Failures, contract: TableContract, src: str, columns: set[str]
) -> None:
    keys = [[c] for c in contract.unique_columns]
    if contract.compound_key:
        keys.append(contract.compound_key)
    for key in keys:
        if not set(key) <= columns:
            continue  # the missing column is already reported by Pandera
        cols = ", ".join(quote(c) for c in key)
        join = " AND ".join(f"t.{quote(c)} IS NOT DISTINCT FROM d.{quote(c)}" for c in key)
        # Like pandas' duplicated(keep=False): NULLs compare equal, but a key that is all NULL is no key.
        some_value = " OR ".join(f"t.{quote(c)} IS NOT NULL" for c in key)
        _sql_rule(
            conn,
            failures,
            unique_rule(key),
            src,
            f"WITH d AS (SELECT {cols} FROM {src} GROUP BY ALL HAVING count(*) > 1) "
            f"SELECT t.{ROWID} FROM {src} t SEMI JOIN d ON {join} WHERE {some_value}",
        )
    for fk in contract.foreign_keys:
        if fk.column not in columns:
            continue
        col = f"t.{quote(fk.column)}"
        if relation_kind(conn, fk.ref_table) is None:
            # With no referenced table nothing resolves.
            sql = f"SELECT t.{ROWID} FROM {src} t WHERE {col} IS NOT NULL"
        else:
            sql = (
                f"SELECT t.{ROWID} FROM {src} t WHERE {col} IS NOT NULL AND NOT EXISTS "
                f"(SELECT 1 FROM {qualified(fk.ref_table)} r WHERE r.{quote(fk.ref_column)} = {col})"
            )
        _sql_rule(conn, failures, fk.rule, src, sql)


def validate_table(
    conn: duckdb.DuckDBPyConnection,
    contract: TableContract,
    chunk_size: int = CHUNK_ROWS,
    deliveries: list[str] | None = None,
) -> ValidationReport:
    """Validate a warehouse table against its contract, `chunk_size` rows at a time (optionally some deliveries)."""
    started = time.perf_counter()
    report = ValidationReport(table=contract.table)
    kind = relation_kind(conn, contract.table)
    if kind is None:
        report.problem = f"{contract.table} does not exist in the warehouse"
        return report
    src = _source(kind, contract.table, deliveries)
    failures = _Failures()
    chunk_schema = without_uniqueness(contract.schema)

    # Its own cursor, so the SQL rules below never meet a half-read result on `conn`.
    scan = conn.cursor()
    reader = scan.sql(f"SELECT * FROM {src}").to_arrow_reader(chunk_size)
    columns = {f.name for f in reader.schema} - {ROWID}
    seen_batch = False
    for batch in reader:
        if batch.num_rows == 0:
            continue
        seen_batch = True
        frame = frame_from_arrow(batch).set_index(ROWID)
        frame.index.name = None
        report.rows_checked += len(frame)
        _validate_chunk(failures, chunk_schema, contract, frame)
        del frame
    if not seen_batch:
        # An empty table still has dtypes and columns to check.
        empty = frame_from_arrow(reader.schema.empty_table()).set_index(ROWID)
        empty.index.name = None
        _validate_chunk(failures, chunk_schema, contract, empty)
    scan.close()

    _sql_rules(conn, failures, contract, src, columns)
    report.by_rule = failures.by_rule()
    report.failed_rows = failures.failed_rows()
    report.sample = failures.sample()
    report.seconds = time.perf_counter() - started
    return report


def _validate_chunk(failures: _Failures, schema: pa.DataFrameSchema, contract: TableContract, frame: pd.DataFrame) -> None:
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        _collect_failure_cases(failures, exc.failure_cases, contract, frame)


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
    settings: Settings, contract: TableContract, severity: AssetCheckSeverity, deliveries: list[str] | None = None
) -> AssetCheckResult:
    try:
        with open_warehouse(settings) as conn:
            report = validate_table(conn, contract, deliveries=deliveries)
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
        description=(
            f"Pandera contract of {contract.table}: dtypes, allowed values, ranges, cross-column rules, "
            "unique keys and foreign keys"
            + (" (blocks downstream assets when it fails)" if blocking else " (warns: bronze keeps bad values by design)")
        ),
        metadata={"table": contract.table, "layer": contract.layer},
    )
    def _check(context: AssetCheckExecutionContext, settings: ResourceParam[Settings]) -> AssetCheckResult:
        # In a delivery run, judge only the deliveries it loaded: the rest of the
        # table was checked when it was loaded, and rescanning it all is most of
        # an incremental run's cost at scale.
        deliveries = (
            deliveries_of_run(context.run.tags, context.instance) if contract.table in DELIVERY_TABLES else None
        )
        result = run_contract_check(settings, contract, severity, deliveries)
        context.log.info(result.description)
        return result

    return _check


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
