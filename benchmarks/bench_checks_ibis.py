"""Pandera contract checks: the current chunked-pandas path against Pandera's Ibis backend.

    .venv/bin/python -m benchmarks.bench_checks_ibis [--rows 2000000] [--bad 100] [--workdir DIR]

Builds a DuckDB file with `bronze.attendance` (text, as dlt lands it) and
`silver.fact_attendance` (typed, with its dimensions for the foreign keys), and
injects `--bad` failing rows for each rule, on disjoint rows spread over the
whole table (a duplicated key fails two rows per injection). Then, each in its
own child process so time and peak RSS are its own, it runs

  eduwh  the production check, `run_contract_check` from eduwh_assets/quality/checks.py
         (Pandera on 500k-row pandas chunks plus DuckDB SQL for keys and foreign keys);
  ibis   the same contract written for `pandera.ibis`, validated with lazy=True against
         an Ibis DuckDB table on a connection opened with the same settings;
  ibis10 the same, keeping 10 failure cases per check and counting failures from each
         check's output (one more query per failed rule);
  sql    a reference lower bound: the same rules written out by hand as DuckDB SQL
         (one scan with a count per row rule, plus the key and foreign-key queries).

Both must find exactly the injected number of failing rows per rule. The
`ibis` contracts are below (`ibis_contract`); what they cannot say the way the
pandas contract does is listed in `IBIS_GAPS` and printed with the figures.

Needs ibis-framework[duckdb] (not a project dependency): pip install "ibis-framework[duckdb]".
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

TABLES = ("bronze.attendance", "silver.fact_attendance")

# Rule slots: row i breaks rule s when i % period == s and i // period < bad.
# Slot 2 and 9 are the clean partners of the duplicated keys in slots 1 and 8.
SILVER_SLOTS = {
    "attendance_id:not_blank": 0,
    "attendance_id:field_uniqueness": 1,
    "student_id:not_nullable": 3,
    "session_date:not_nullable": 4,
    "status:isin": 5,
    "is_present_iff_present_or_late": 6,
    "delivery_code:str_matches": 7,
    "student_id:foreign_key": 8,
    "class_id:foreign_key": 9,
    "_source_file:not_nullable": 10,
}
BRONZE_SLOTS = {
    "attendance_id:not_blank": 0,
    "student_id:not_blank": 1,
    "session_date:valid_date": 2,
    "status:status_after_trim": 3,
    "delivery_code:str_matches": 4,
    "_source_file:str_matches": 5,
    "_source_row:greater_than_or_equal_to": 6,
    "_ingested_at:not_nullable": 7,
    "unique(delivery_code, _source_file, _source_row)": 8,
    "_dlt_load_id:not_nullable": 10,
}
SLOTS = {"silver.fact_attendance": SILVER_SLOTS, "bronze.attendance": BRONZE_SLOTS}
DUPLICATE_RULES = {"attendance_id:field_uniqueness", "unique(delivery_code, _source_file, _source_row)"}

GENERATE_SQL = """
SET TimeZone = 'UTC';
CREATE SCHEMA silver;
CREATE SCHEMA bronze;
CREATE TABLE silver.dim_programme AS
    SELECT 'P' || i AS programme_code, 'Programme ' || i AS programme_name, 'Faculty' AS faculty, 'L3' AS level
    FROM range(20) r(i);
CREATE TABLE silver.dim_class AS
    SELECT 'C' || i AS class_id, 'Class ' || i AS class_name, 'P' || (i % 20) AS programme_code,
           '2025/26' AS academic_year
    FROM range(400) r(i);
CREATE TABLE silver.dim_student AS
    SELECT 'S' || i AS student_id, 'First' AS first_name, 'Last' AS last_name, 's' || i || '@example.org' AS email,
           DATE '2009-01-01' + (i % 365)::INT AS date_of_birth, 'F' AS gender, 'C' || (i % 400) AS class_id,
           'active' AS enrolment_status
    FROM range(20000) r(i);

CREATE TABLE silver.fact_attendance AS
    WITH g AS (
        SELECT i, CASE WHEN i // {period} < {bad} THEN i % {period} ELSE -1 END AS slot,
               (['present', 'late', 'absent', 'excused'])[1 + (hash(i) % 4)::INT] AS st
        FROM range({rows}) r(i)
    )
    SELECT
        CASE slot WHEN 0 THEN ' ' WHEN 1 THEN 'A' || (i + 1) ELSE 'A' || i END AS attendance_id,
        CASE slot WHEN 3 THEN NULL WHEN 8 THEN 'SX' || i ELSE 'S' || (i % 20000) END AS student_id,
        CASE slot WHEN 9 THEN 'CX' || i ELSE 'C' || ((i % 20000) % 400) END AS class_id,
        CASE slot WHEN 4 THEN NULL ELSE DATE '2025-09-01' + (i % 200)::INT END AS session_date,
        CASE slot WHEN 5 THEN 'sick' WHEN 6 THEN 'absent' ELSE st END AS status,
        CASE slot WHEN 5 THEN false WHEN 6 THEN true ELSE st IN ('present', 'late') END AS is_present,
        CASE slot WHEN 7 THEN 'bad code!' ELSE 'D' || lpad((i // 1000000)::VARCHAR, 3, '0') END AS delivery_code,
        CASE slot WHEN 10 THEN NULL ELSE 'attendance.csv' END AS _source_file
    FROM g ORDER BY i;

CREATE TABLE bronze.attendance AS
    WITH g AS (
        SELECT i, CASE WHEN i // {period} < {bad} THEN i % {period} ELSE -1 END AS slot,
               CASE WHEN i // {period} < {bad} AND i % {period} = 8 THEN i + 1 ELSE i END AS k
        FROM range({rows}) r(i)
    )
    SELECT
        CASE slot WHEN 0 THEN '' ELSE 'A' || i END AS attendance_id,
        CASE slot WHEN 1 THEN '   ' ELSE 'S' || (i % 20000) END AS student_id,
        CASE WHEN slot = 2 AND i % 2 = 0 THEN '2025-02-30' WHEN slot = 2 THEN 'yesterday'
             WHEN i % 7 = 0 THEN ' ' || strftime(DATE '2025-09-01' + (i % 200)::INT, '%Y-%m-%d') || ' '
             ELSE strftime(DATE '2025-09-01' + (i % 200)::INT, '%Y-%m-%d') END AS session_date,
        CASE WHEN slot = 3 THEN 'sick' WHEN i % 5 = 0 THEN ' Present ' WHEN i % 5 = 1 THEN 'LATE'
             ELSE (['present', 'late', 'absent', 'excused'])[1 + (hash(i) % 4)::INT] END AS status,
        CASE slot WHEN 4 THEN '-bad' ELSE 'D' || lpad((k // 1000000)::VARCHAR, 3, '0') END AS delivery_code,
        CASE slot WHEN 5 THEN 'attendance.txt'
                  ELSE 'attendance_D' || lpad((k // 1000000)::VARCHAR, 3, '0') || '.csv' END AS _source_file,
        CASE slot WHEN 6 THEN -i ELSE k + 1 END::BIGINT AS _source_row,
        CASE slot WHEN 7 THEN NULL ELSE TIMESTAMPTZ '2025-09-02 06:00:00+00' END AS _ingested_at,
        CASE slot WHEN 10 THEN NULL ELSE '1764633600.123' END AS _dlt_load_id
    FROM g ORDER BY i;
"""


def expected_failures(table: str, bad: int) -> dict[str, int]:
    expected = {rule: bad * (2 if rule in DUPLICATE_RULES else 1) for rule in SLOTS[table]}
    if table == "silver.fact_attendance" and bad > 1:
        expected["attendance_id:field_uniqueness"] += bad  # the blank ids (all ' ') are duplicates too
    return expected


def generate(path: Path, rows: int, bad: int) -> None:
    import duckdb

    period = rows // bad
    if period <= max(max(s.values()) for s in SLOTS.values()) + 1:
        raise SystemExit(f"--bad {bad} is too many for {rows} rows")
    with duckdb.connect(str(path)) as conn:
        conn.execute(GENERATE_SQL.format(rows=rows, bad=bad, period=period))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def canonical(rule: str) -> str:
    """`col:isin(('a', 'b'))` -> `col:isin`, `col:foreign_key(silver.x.y)` -> `col:foreign_key`; keys stay."""
    if rule.startswith("unique("):
        return rule
    return re.sub(r"\(.*\)$", "", rule)


# --- (a) the eduwh path ---------------------------------------------------------------------


def run_eduwh(warehouse: Path, table: str) -> dict:
    from dagster import AssetCheckSeverity

    from eduwh_assets.config import Settings
    from eduwh_assets.quality.checks import run_contract_check
    from eduwh_assets.quality.schemas import CONTRACTS

    settings = Settings.from_env({"EDUWH_DATA_DIR": str(warehouse.parent), "EDUWH_WAREHOUSE": str(warehouse)})
    started = time.perf_counter()
    result = run_contract_check(settings, CONTRACTS[table], AssetCheckSeverity.WARN)
    seconds = time.perf_counter() - started
    by_rule = result.metadata["failures_by_rule"].data
    return {
        "seconds": seconds,
        "rows": result.metadata["rows_checked"].value,
        "failed_rows": result.metadata["failed_rows"].value,
        "by_rule": {canonical(rule): n for rule, n in by_rule.items()},
        "raw_rules": by_rule,
    }


# --- (b) the pandera.ibis path --------------------------------------------------------------

# What the ibis contracts below could not say as eduwh's pandas contracts say it.
IBIS_GAPS = {
    "bronze.attendance": [
        "not_blank, valid_date, status_after_trim: pandas lambdas, rewritten as Ibis expressions "
        "(strip/length, regex + try_cast(date), strip/lower/isin); same results on this data",
        "foreign keys: none on this table",
    ],
    "silver.fact_attendance": [
        "attendance_id Column(unique=True): silently NOT checked by the Ibis column backend; "
        "expressed as DataFrameSchema(unique=['attendance_id']) instead",
        "is_present_iff_present_or_late: pandas frame check rewritten as an Ibis expression",
        "foreign keys (not in eduwh's Pandera schemas either): a custom Check with "
        "col.isin(<dim table>.col), an IN subquery inside DuckDB",
    ],
    "all": [
        "dtype: exact Ibis types (INTEGER != BIGINT, DECIMAL(38,0) SUM != int64); no coercion "
        "(coerce=True is ignored), no frame_from_arrow-style width normalisation",
        "not_nullable and unique failure cases come back as unexecuted Ibis expressions "
        "(index None): counts and samples need an extra query each",
        "row ids are positions in the check's own result (no rowid), so rows failing several "
        "rules cannot be de-duplicated reliably; failed_rows below is the sum over rules",
        "failure cases are unbounded by default: every failing row comes back to pandas as a dict "
        "(and each failed check pulls its whole boolean output column); set Check(n_failure_cases=N) "
        "and count from the check output (path ibis10)",
        "several unique keys in one schema: only the first violated key is reported (the backend breaks)",
        "head/tail/sample are ignored; element-wise checks become row-at-a-time Python UDFs",
    ],
}


def _ibis_checks():
    import ibis
    import pandera.ibis as pa

    from eduwh_assets.quality.schemas import ATTENDANCE_STATUSES

    def not_blank(data):
        return data.table[data.key].strip().length() > 0

    def valid_date(data):
        text = data.table[data.key].strip()
        return text.re_search(r"^\d{4}-\d{2}-\d{2}$") & text.try_cast("date").notnull()

    def status_after_trim(data):
        return data.table[data.key].strip().lower().isin(list(ATTENDANCE_STATUSES))

    return {
        "not_blank": pa.Check(not_blank, name="not_blank"),
        "valid_date": pa.Check(valid_date, name="valid_date"),
        "status_after_trim": pa.Check(status_after_trim, name="status_after_trim"),
    }


def ibis_contract(table: str, con):
    """The eduwh contract of `table` for pandera.ibis, with the foreign keys as checks on `con`'s tables."""
    import ibis.expr.datatypes as dt
    import pandera.ibis as pa

    from eduwh_assets.quality.schemas import (
        ATTENDANCE_STATUSES,
        DELIVERY_CODE_REGEX,
        PRESENT_STATUSES,
        SOURCE_FILE_REGEX,
    )

    c = _ibis_checks()
    text = dt.string

    if table == "bronze.attendance":
        ts_type = con.table("attendance", database="bronze").schema()["_ingested_at"]
        return pa.DataFrameSchema(
            {
                "attendance_id": pa.Column(text, [c["not_blank"]], nullable=True),
                "student_id": pa.Column(text, [c["not_blank"]], nullable=True),
                "session_date": pa.Column(text, [c["valid_date"]], nullable=True),
                "status": pa.Column(text, [c["status_after_trim"]], nullable=True),
                "delivery_code": pa.Column(text, [pa.Check.str_matches(DELIVERY_CODE_REGEX)]),
                "_source_file": pa.Column(text, [pa.Check.str_matches(SOURCE_FILE_REGEX["attendance"])]),
                "_source_row": pa.Column(dt.int64, [pa.Check.ge(1)]),
                # TIMESTAMPTZ: the type as DuckDB reports it (timestamp('UTC', 6)).
                "_ingested_at": pa.Column(ts_type, nullable=False),
                "_dlt_load_id": pa.Column(text, nullable=False),
            },
            unique=["delivery_code", "_source_file", "_source_row"],
            name=table,
        )

    def foreign_key(ref_schema: str, ref_table: str, column: str):
        ref = con.table(ref_table, database=ref_schema)[column]

        def fk(data):
            return data.table[data.key].isin(ref)

        return pa.Check(fk, name="foreign_key")

    def is_present_iff(data):
        t = data.table
        return (t.is_present == t.status.isin(list(PRESENT_STATUSES))).fill_null(False)

    return pa.DataFrameSchema(
        {
            "attendance_id": pa.Column(text, [c["not_blank"]], nullable=False),
            "student_id": pa.Column(
                text, [c["not_blank"], foreign_key("silver", "dim_student", "student_id")], nullable=False
            ),
            "class_id": pa.Column(text, [foreign_key("silver", "dim_class", "class_id")], nullable=True),
            "session_date": pa.Column(dt.date, nullable=False),
            "status": pa.Column(text, [pa.Check.isin(list(ATTENDANCE_STATUSES))], nullable=False),
            "is_present": pa.Column(dt.boolean, nullable=False),
            "delivery_code": pa.Column(text, [pa.Check.str_matches(DELIVERY_CODE_REGEX)], nullable=False),
            "_source_file": pa.Column(text, nullable=False),
        },
        checks=[pa.Check(is_present_iff, name="is_present_iff_present_or_late", ignore_na=False)],
        # Column(unique=True) is ignored by pandera.ibis: the key goes here instead.
        unique=["attendance_id"],
        name=table,
    )


def _ibis_rule(err, schema) -> str:
    from pandera.errors import SchemaErrorReason

    from eduwh_assets.quality.schemas import unique_rule

    check = err.check
    name = check if isinstance(check, str) else (check.name or check.error or str(check))
    if err.reason_code == SchemaErrorReason.DUPLICATES:
        return unique_rule(list(schema.unique))
    if type(err.schema).__name__ == "Column":
        return f"{err.schema.name}:{name}"
    return name


def _ibis_failed_count(err) -> "ibis.Scalar | None":
    """The number of rows `err` fails, as an Ibis expression over its check output (failure cases may be cut)."""
    import ibis
    from pandera.constants import CHECK_OUTPUT_KEY
    from pandera.errors import SchemaErrorReason

    if err.reason_code == SchemaErrorReason.DUPLICATES or err.check == "not_nullable":
        return err.failure_cases.count()  # not_nullable: the failure cases are the null rows, uncut
    out = err.check_output
    if out is None:
        return None
    col = out[CHECK_OUTPUT_KEY] if isinstance(out, ibis.Table) else out
    ignore_na = getattr(err.check, "ignore_na", True)
    return (~col.fill_null(ignore_na)).cast("int64").sum()


def run_ibis(warehouse: Path, table: str, n_failure_cases: int | None = None) -> dict:
    import ibis
    import pandas as pd
    import pandera.ibis as pa

    from eduwh_assets.config import Settings
    from eduwh_assets.quality.warehouse import open_warehouse

    settings = Settings.from_env({"EDUWH_DATA_DIR": str(warehouse.parent), "EDUWH_WAREHOUSE": str(warehouse)})
    started = time.perf_counter()
    by_rule: dict[str, int] = {}
    problems: list[str] = []
    # Same read-only connection, memory limit, threads and spill folder as the eduwh check.
    with open_warehouse(settings) as raw:
        con = ibis.duckdb.from_connection(raw)
        schema_name, name = table.split(".", 1)
        tbl = con.table(name, database=schema_name)
        rows = tbl.count().execute()
        schema = ibis_contract(table, con)
        if n_failure_cases is not None:
            # Keep only a sample of failure cases; count the failures from each check's output instead.
            for check in [*schema.checks, *(c for col in schema.columns.values() for c in col.checks)]:
                check.n_failure_cases = n_failure_cases
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                schema.validate(tbl, lazy=True)
            except pa.errors.SchemaErrors as exc:
                for err in exc.schema_errors:
                    rule = _ibis_rule(err, schema)
                    cases = err.failure_cases
                    counted = _ibis_failed_count(err) if n_failure_cases is not None else None
                    if counted is not None:
                        n = int(counted.execute())
                    elif isinstance(cases, ibis.Table):
                        n = int(cases.count().execute())  # not_nullable, unique: one more query each
                    elif isinstance(cases, pd.DataFrame):
                        n = len(cases)
                    else:
                        n = 1
                        problems.append(f"{rule}: {cases}")
                    by_rule[rule] = by_rule.get(rule, 0) + n
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": int(rows),
        "failed_rows": sum(by_rule.values()),
        "by_rule": {canonical(rule): n for rule, n in sorted(by_rule.items())},
        "raw_rules": by_rule,
        "problems": problems,
    }


# --- (c) reference: the same rules as hand-written DuckDB SQL, one scan for the row rules -----

# A lower bound, not a proposal: every rule is written out again in SQL, so it duplicates the contract.
SQL_ROW_RULES = {
    "bronze.attendance": {
        "attendance_id:not_blank": "length(trim(attendance_id)) = 0",
        "student_id:not_blank": "length(trim(student_id)) = 0",
        "session_date:valid_date": "NOT (regexp_full_match(trim(session_date), '\\d{4}-\\d{2}-\\d{2}') "
        "AND try_cast(trim(session_date) AS DATE) IS NOT NULL)",
        "status:status_after_trim": "lower(trim(status)) NOT IN ('present', 'late', 'absent', 'excused')",
        "delivery_code:str_matches": "delivery_code IS NOT NULL AND NOT regexp_matches(delivery_code, '{dc}')",
        "_source_file:str_matches": "_source_file IS NOT NULL AND NOT regexp_matches(_source_file, '{sf}')",
        "_source_row:greater_than_or_equal_to": "_source_row < 1",
        "_ingested_at:not_nullable": "_ingested_at IS NULL",
        "_dlt_load_id:not_nullable": "_dlt_load_id IS NULL",
        "delivery_code:not_nullable": "delivery_code IS NULL",
        "_source_file:not_nullable": "_source_file IS NULL",
        "_source_row:not_nullable": "_source_row IS NULL",
    },
    "silver.fact_attendance": {
        "attendance_id:not_nullable": "attendance_id IS NULL",
        "attendance_id:not_blank": "length(trim(attendance_id)) = 0",
        "student_id:not_nullable": "student_id IS NULL",
        "student_id:not_blank": "length(trim(student_id)) = 0",
        "session_date:not_nullable": "session_date IS NULL",
        "status:not_nullable": "status IS NULL",
        "status:isin": "status NOT IN ('present', 'late', 'absent', 'excused')",
        "is_present:not_nullable": "is_present IS NULL",
        "delivery_code:not_nullable": "delivery_code IS NULL",
        "delivery_code:str_matches": "NOT regexp_matches(delivery_code, '{dc}')",
        "_source_file:not_nullable": "_source_file IS NULL",
        "is_present_iff_present_or_late": "NOT coalesce(is_present = (status IN ('present', 'late')), false)",
    },
}
SQL_KEYS = {
    "bronze.attendance": {"unique(delivery_code, _source_file, _source_row)": ["delivery_code", "_source_file", "_source_row"]},
    "silver.fact_attendance": {"attendance_id:field_uniqueness": ["attendance_id"]},
}
SQL_FKS = {
    "silver.fact_attendance": {
        "student_id:foreign_key": ("student_id", "silver.dim_student", "student_id"),
        "class_id:foreign_key": ("class_id", "silver.dim_class", "class_id"),
    },
}


def run_sql(warehouse: Path, table: str) -> dict:
    from eduwh_assets.config import Settings
    from eduwh_assets.quality.schemas import DELIVERY_CODE_REGEX, SOURCE_FILE_REGEX
    from eduwh_assets.quality.warehouse import open_warehouse

    settings = Settings.from_env({"EDUWH_DATA_DIR": str(warehouse.parent), "EDUWH_WAREHOUSE": str(warehouse)})
    started = time.perf_counter()
    rules = {
        rule: cond.replace("{dc}", DELIVERY_CODE_REGEX).replace("{sf}", SOURCE_FILE_REGEX["attendance"])
        for rule, cond in SQL_ROW_RULES[table].items()
    }
    by_rule: dict[str, int] = {}
    with open_warehouse(settings) as conn:
        select = ", ".join(f"count(*) FILTER (WHERE {cond})" for cond in rules.values())
        counts = conn.execute(f"SELECT count(*), {select} FROM {table}").fetchone()
        rows = counts[0]
        by_rule.update(zip(rules, counts[1:]))
        for rule, key in SQL_KEYS[table].items():
            cols = ", ".join(key)
            join = " AND ".join(f"t.{c} IS NOT DISTINCT FROM d.{c}" for c in key)
            by_rule[rule] = conn.execute(
                f"WITH d AS (SELECT {cols} FROM {table} GROUP BY ALL HAVING count(*) > 1) "
                f"SELECT count(*) FROM {table} t SEMI JOIN d ON {join}"
            ).fetchone()[0]
        for rule, (col, ref, ref_col) in SQL_FKS.get(table, {}).items():
            by_rule[rule] = conn.execute(
                f"SELECT count(*) FROM {table} t WHERE {col} IS NOT NULL AND NOT EXISTS "
                f"(SELECT 1 FROM {ref} r WHERE r.{ref_col} = t.{col})"
            ).fetchone()[0]
    by_rule = {rule: int(n) for rule, n in sorted(by_rule.items()) if n}
    return {
        "seconds": time.perf_counter() - started,
        "rows": int(rows),
        "failed_rows": sum(by_rule.values()),
        "by_rule": by_rule,
        "raw_rules": by_rule,
    }


# --- driver ---------------------------------------------------------------------------------

PATHS = {
    "eduwh": run_eduwh,
    "ibis": run_ibis,
    # pandera.ibis keeping 10 failure cases per check (Check(n_failure_cases=10)), counting from the check output
    "ibis10": lambda warehouse, table: run_ibis(warehouse, table, n_failure_cases=10),
    "sql": run_sql,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--bad", type=int, default=100, help="failing rows injected per rule")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--paths", default="eduwh,ibis,ibis10,sql", help="any of eduwh, ibis, ibis10, sql")
    parser.add_argument("--generate-only", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=3, metavar=("PATH", "TABLE", "WAREHOUSE"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.generate_only:
        generate(args.generate_only, args.rows, args.bad)
        return
    if args.child:
        path, table, warehouse = args.child
        out = PATHS[path](Path(warehouse), table)
        out["peak_rss_mib"] = peak_rss_mib()
        print("RESULT " + json.dumps(out))
        return

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="eduwh-bench-ibis-"))
    workdir.mkdir(parents=True, exist_ok=True)
    warehouse = workdir / "bench.duckdb"
    warehouse.unlink(missing_ok=True)
    me = [sys.executable, "-m", "benchmarks.bench_checks_ibis"]
    started = time.perf_counter()
    subprocess.run([*me, "--rows", str(args.rows), "--bad", str(args.bad), "--generate-only", str(warehouse)],
                   check=True)
    print(f"generated {args.rows:,} rows per table, {args.bad} bad rows per rule, "
          f"in {time.perf_counter() - started:.1f}s at {warehouse}")
    with open("/proc/loadavg") as f:
        print("load average before:", " ".join(f.read().split()[:3]))

    ok = True
    lines = []
    for table in TABLES:
        expected = expected_failures(table, args.bad)
        for path in args.paths.split(","):
            proc = subprocess.run([*me, "--child", path, table, str(warehouse)], capture_output=True, text=True)
            result_line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode or not result_line:
                print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"{path} on {table} failed")
            res = json.loads(result_line[0][len("RESULT "):])
            found = res["by_rule"]
            mismatches = {
                rule: (expected.get(rule, 0), found.get(rule, 0))
                for rule in sorted(set(expected) | set(found))
                if expected.get(rule, 0) != found.get(rule, 0)
            }
            ok &= not mismatches
            lines.append((table, path, res, mismatches))
            print(f"  {path:<6} {table:<24} {res['seconds']:7.1f}s  {res['peak_rss_mib']:7.0f} MiB  "
                  f"rules {json.dumps(res['raw_rules'])}", flush=True)
            for rule, (want, got) in mismatches.items():
                print(f"    MISMATCH {rule}: injected {want}, found {got}")
            for problem in res.get("problems", []):
                print(f"    problem: {problem}")
    with open("/proc/loadavg") as f:
        print("load average after:", " ".join(f.read().split()[:3]))

    print()
    print(f"{'table':<24} {'path':<6} {'rows':>12} {'seconds':>8} {'peak RSS MiB':>13} "
          f"{'failing rows':>13} {'rules ok':>9}")
    for table, path, res, mismatches in lines:
        n_rules = len(expected_failures(table, args.bad))
        print(f"{table:<24} {path:<6} {res['rows']:>12,} {res['seconds']:>8.1f} {res['peak_rss_mib']:>13,.0f} "
              f"{res['failed_rows']:>13,} {n_rules - len(mismatches):>4}/{n_rules:<4}")
    print("failing rows: distinct rows for eduwh (it has DuckDB rowids); the sum over rules for ibis and sql")
    print()
    print("what the ibis contracts could not express as eduwh's pandas contracts do:")
    for table, gaps in IBIS_GAPS.items():
        for gap in gaps:
            print(f"  {table}: {gap}")
    print()
    print("every path found exactly the injected failing rows per rule:", "yes" if ok else "NO")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
