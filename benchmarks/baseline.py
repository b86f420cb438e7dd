"""The benchmark's reference: a plain DuckDB SQL implementation of SPEC §3-§4, run as its own process.

    python -m benchmarks.baseline --landing DIR --sis-url URL --warehouse FILE
    python -m benchmarks.baseline --compare BASELINE.duckdb EDUWH.duckdb

The first form builds, from scratch, one DuckDB file holding bronze, silver,
quarantine and gold as SPEC §4 defines them, from every complete delivery in
the landing folder and the SIS tables in PostgreSQL. It has no Dagster, dlt or
dbt: a few DuckDB statements per delivered file to land it, then one SQL
statement per table. It prints one JSON line: the row counts and the wall time
of each step. The second form compares the gold schemas of two warehouses cell
by cell and prints the differences (exit status 1 when they differ).

It is written from the SPEC text alone, independently of eduwh's dbt models, so
that agreement between the two is evidence that both follow the SPEC. It is one
long file on purpose: the whole reference reads top to bottom beside the SPEC.
Choices where the SPEC leaves room, stated here once:
- Text values are trimmed of space, tab, LF, VT, FF and CR before they are
  judged; a value that is empty after trimming is missing. Keys are compared
  trimmed, so ` A1` and `A1` are the same record.
- A date is valid when it is exactly `YYYY-MM-DD` (ASCII digits) and names a
  real day of a year from 0001.
- A number is valid when it is a finite decimal literal: optional sign, digits
  with an optional fraction (`5`, `5.`, `.5`, `45.0`), optional exponent
  (`1e2`); `nan`, `inf`, hex, `1e400` (overflows to infinity), words and
  booleans are not numbers. JSON strings holding such a literal count as numbers.
- Status is compared trimmed and lower-cased; the fact keeps the lower-case value.
- Only the manifest's files are read: `attendance*.csv`, `assessments*.json`
  (a JSON array of objects) and `assessments*.jsonl` (JSON Lines; blank lines
  skipped). A file that DuckDB cannot parse is reported and skipped.
- A fact's class is the student's current class_id; class_daily_performance
  leaves out rows of students with no class_id.
DuckDB runs with memory_limit 1GB and 2 threads, eduwh's defaults
(eduwh_assets/config.py); --memory-limit and --threads change them.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import io
import json
import re
import sys
import time
from pathlib import Path

import duckdb

MANIFEST_NAME = "_manifest.json"
CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
PATTERNS = {
    "attendance": ("attendance*.csv",),
    "assessments": ("assessments*.json", "assessments*.jsonl"),
}
ATTENDANCE_COLUMNS = ("attendance_id", "student_id", "session_date", "status")
ASSESSMENT_COLUMNS = ("assessment_id", "student_id", "subject", "score", "max_score", "assessed_on")
WS = " \t\n\x0b\x0c\r"
# SPEC §4 gold: defaults of the dbt variables and the bands' seed.
PERSISTENT_ABSENCE_THRESHOLD = 0.10
SEVERE_ABSENCE_THRESHOLD = 0.50
ABSENCE_MIN_SESSIONS = 10
BANDS = (("severe", 0.20), ("moderate", 0.10), ("at_risk", 0.05))  # else satisfactory

# Every gold table and its key, for the comparison.
GOLD_KEYS: dict[str, tuple[str, ...]] = {
    "student_performance_summary": ("student_id",),
    "class_daily_performance": ("class_id", "activity_date"),
    "student_risk_features": ("student_id",),
    "student_absence": ("student_id", "academic_year"),
    "programme_attendance": ("programme_code", "academic_year"),
    "delivery_quality": ("delivery_code", "source", "outcome"),
}


def log(msg: str) -> None:
    print(f"baseline: {msg}", file=sys.stderr, flush=True)


def sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


TRIM_CHARS = sql_str(WS)  # DuckDB string literals take these characters as they are


def t(expr: str) -> str:
    """SQL: the value trimmed of SPEC whitespace, NULL when nothing is left."""
    return f"nullif(trim({expr}, {TRIM_CHARS}), '')"


# --- the landing zone ------------------------------------------------------------------------------


def discover(landing: Path) -> list[tuple[str, list[tuple[str, str, Path]]]]:
    """Complete deliveries in code order, each with its manifest's (source, file name, path) in name order."""
    deliveries = []
    for folder in sorted(landing.iterdir(), key=lambda p: p.name):
        if not folder.is_dir():
            continue
        code = folder.name
        if not CODE.fullmatch(code):
            log(f"skipped folder {code!r}: not a valid delivery code")
            continue
        manifest_path = folder / MANIFEST_NAME
        if not manifest_path.is_file():
            log(f"skipped delivery {code}: no {MANIFEST_NAME} (incomplete)")
            continue
        try:
            manifest = json.loads(manifest_path.read_bytes().decode("utf-8"))
            files = manifest["files"]
            if not isinstance(files, dict) or not all(
                isinstance(v, dict) and isinstance(v.get("rows"), int) and not isinstance(v.get("rows"), bool)
                for v in files.values()
            ):
                raise ValueError("files is not {name: {rows: int}}")
        except Exception as exc:  # noqa: BLE001 - any unreadable manifest skips its delivery only
            log(f"skipped delivery {code}: unreadable manifest ({type(exc).__name__})")
            continue
        listed = []
        for name in sorted(files):
            source = next((s for s, pats in PATTERNS.items() if any(fnmatch.fnmatchcase(name, p) for p in pats)), None)
            if source is None or "/" in name:
                continue
            path = folder / name
            if not path.is_file():
                log(f"delivery {code}: manifest lists {name}, which is missing")
                continue
            listed.append((source, name, path))
        deliveries.append((code, listed))
    return deliveries


def csv_header(path: Path) -> list[str] | None:
    """The trimmed column names of a CSV file's first record (a UTF-8 BOM removed), or None if empty."""
    with open(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        try:
            first = next(csv.reader(text))
        except StopIteration:
            return None
    return [name.strip(WS) for name in first]


def land_attendance(con: duckdb.DuckDBPyConnection, code: str, name: str, path: Path) -> int:
    header = csv_header(path)
    if header is None:
        return 0
    cols = {f"c{i}": "VARCHAR" for i in range(len(header))}
    # header=false: record 0 is the header, so the table's rowid is the row's 1-based position.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE landed AS SELECT * FROM read_csv(?, header=false, auto_detect=false, "
        "delim=',', quote='\"', escape='\"', nullstr='\x01\x02', columns=" + repr(cols) + ")",
        [str(path)],
    )
    pick = []
    for col in ATTENDANCE_COLUMNS:
        pick.append(f"c{header.index(col)}" if col in header else "NULL")
    con.execute(
        f"INSERT INTO bronze.attendance SELECT ?, ?, rowid, {', '.join(pick)} FROM landed WHERE rowid > 0",
        [code, name],
    )
    return con.execute("SELECT count(*) - 1 FROM landed").fetchone()[0]


def land_assessments(con: duckdb.DuckDBPyConnection, code: str, name: str, path: Path) -> int:
    fmt = "newline_delimited" if name.endswith(".jsonl") else "array"
    cols = {c: "VARCHAR" for c in ASSESSMENT_COLUMNS}
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE landed AS SELECT * FROM read_json(?, format='{fmt}', records=true, "
        f"columns={cols!r})",
        [str(path)],
    )
    con.execute(
        f"INSERT INTO bronze.assessments SELECT ?, ?, rowid + 1, {', '.join(ASSESSMENT_COLUMNS)} FROM landed",
        [code, name],
    )
    return con.execute("SELECT count(*) FROM landed").fetchone()[0]


# --- the SIS --------------------------------------------------------------------------------------


def fetch_sis(con: duckdb.DuckDBPyConnection, url: str) -> dict[str, int]:
    """Copy sis.programmes, sis.classes and sis.students into bronze through Arrow."""
    import psycopg2
    import pyarrow as pa

    scheme, _, rest = url.partition("://")
    dsn = f"postgresql://{rest}" if scheme.startswith("postgres") else url
    counts = {}
    pg = psycopg2.connect(dsn)
    try:
        for table in ("programmes", "classes", "students"):
            with pg.cursor() as cur:
                cur.execute(f"SELECT * FROM sis.{table}")
                records = cur.fetchall()
                names = [d.name for d in cur.description]
            frame = pa.table({name: pa.array([r[i] for r in records]) if records else pa.array([], pa.string())
                              for i, name in enumerate(names)})
            con.register("sis_frame", frame)
            con.execute(f"CREATE TABLE bronze.sis_{table} AS SELECT * FROM sis_frame")
            con.unregister("sis_frame")
            counts[f"sis_{table}"] = len(records)
    finally:
        pg.close()
    return counts


# --- silver, quarantine and gold ------------------------------------------------------------------

DATE_OK = "(regexp_full_match({v}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') AND try_cast({v} AS DATE) IS NOT NULL " \
          "AND {v} >= '0001-01-01')"
NUM_OK = "coalesce(regexp_full_match({v}, '[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][+-]?[0-9]+)?') " \
         "AND isfinite(try_cast({v} AS DOUBLE)), false)"


def academic_year(d: str) -> str:
    y = f"(year({d}) - CASE WHEN month({d}) >= 9 THEN 0 ELSE 1 END)"
    return f"({y}::VARCHAR || '/' || lpad((({y} + 1) % 100)::VARCHAR, 2, '0'))"


def band_sql(rate: str) -> str:
    whens = " ".join(f"WHEN {rate} >= {limit} THEN '{band}'" for band, limit in BANDS)
    return f"CASE {whens} ELSE 'satisfactory' END"


TRANSFORM: list[tuple[str, str]] = [
    ("silver.dim_programme", """
        CREATE TABLE silver.dim_programme AS
        SELECT programme_code, programme_name, faculty, level FROM bronze.sis_programmes"""),
    ("silver.dim_class", """
        CREATE TABLE silver.dim_class AS
        SELECT class_id, class_name, programme_code, academic_year FROM bronze.sis_classes"""),
    ("silver.dim_student", """
        CREATE TABLE silver.dim_student AS
        SELECT student_id, first_name, last_name, email, date_of_birth, gender, class_id, enrolment_status
        FROM bronze.sis_students"""),
    # Every received attendance row with its trimmed values and its one outcome.
    ("silver.attendance_outcomes", f"""
        CREATE TABLE silver.attendance_outcomes AS
        WITH v AS (
            SELECT b.*, {t('attendance_id')} AS k_id, {t('student_id')} AS k_student,
                   {t('session_date')} AS k_date, lower({t('status')}) AS k_status
            FROM bronze.attendance b
        ), ranked AS (
            SELECT v.*, row_number() OVER (PARTITION BY k_id
                       ORDER BY delivery_code DESC, _source_file DESC, _source_row DESC) AS rn
            FROM v
        )
        SELECT r.*,
            CASE
                WHEN k_id IS NULL THEN 'missing_key'
                WHEN rn > 1 THEN 'superseded'
                WHEN k_student IS NULL THEN 'missing_key'
                WHEN NOT coalesce({DATE_OK.format(v='k_date')}, false) THEN 'bad_date'
                WHEN k_status IS NULL OR k_status NOT IN ('present', 'late', 'absent', 'excused') THEN 'bad_status'
                WHEN k_student NOT IN (SELECT student_id FROM silver.dim_student WHERE student_id IS NOT NULL)
                    THEN 'unknown_student'
                ELSE 'loaded'
            END AS outcome
        FROM ranked r"""),
    ("silver.assessment_outcomes", f"""
        CREATE TABLE silver.assessment_outcomes AS
        WITH v AS (
            SELECT b.*, {t('assessment_id')} AS k_id, {t('student_id')} AS k_student, {t('subject')} AS k_subject,
                   {t('score')} AS k_score, {t('max_score')} AS k_max, {t('assessed_on')} AS k_date
            FROM bronze.assessments b
        ), ranked AS (
            SELECT v.*, row_number() OVER (PARTITION BY k_id
                       ORDER BY delivery_code DESC, _source_file DESC, _source_row DESC) AS rn
            FROM v
        )
        SELECT r.*,
            CASE
                WHEN k_id IS NULL THEN 'missing_key'
                WHEN rn > 1 THEN 'superseded'
                WHEN k_student IS NULL THEN 'missing_key'
                WHEN NOT coalesce({DATE_OK.format(v='k_date')}, false) THEN 'bad_date'
                WHEN NOT {NUM_OK.format(v='k_score')} OR NOT {NUM_OK.format(v='k_max')}
                    OR try_cast(k_max AS DOUBLE) <= 0 OR try_cast(k_score AS DOUBLE) < 0
                    OR try_cast(k_score AS DOUBLE) > try_cast(k_max AS DOUBLE) THEN 'bad_score'
                WHEN k_student NOT IN (SELECT student_id FROM silver.dim_student WHERE student_id IS NOT NULL)
                    THEN 'unknown_student'
                ELSE 'loaded'
            END AS outcome
        FROM ranked r"""),
    ("quarantine.attendance_rejects", """
        CREATE TABLE quarantine.attendance_rejects AS
        SELECT attendance_id, student_id, session_date, status, delivery_code, _source_file, _source_row,
               outcome AS reason
        FROM silver.attendance_outcomes WHERE outcome NOT IN ('loaded', 'superseded')"""),
    ("quarantine.assessment_rejects", """
        CREATE TABLE quarantine.assessment_rejects AS
        SELECT assessment_id, student_id, subject, score, max_score, assessed_on, delivery_code, _source_file,
               _source_row, outcome AS reason
        FROM silver.assessment_outcomes WHERE outcome NOT IN ('loaded', 'superseded')"""),
    ("silver.fact_attendance", """
        CREATE TABLE silver.fact_attendance AS
        SELECT o.k_id AS attendance_id, o.k_student AS student_id, s.class_id, try_cast(o.k_date AS DATE) AS session_date,
               o.k_status AS status, o.k_status IN ('present', 'late') AS is_present,
               o.delivery_code, o._source_file, o._source_row
        FROM silver.attendance_outcomes o JOIN silver.dim_student s ON s.student_id = o.k_student
        WHERE o.outcome = 'loaded'"""),
    ("silver.fact_assessment", """
        CREATE TABLE silver.fact_assessment AS
        SELECT o.k_id AS assessment_id, o.k_student AS student_id, s.class_id, o.k_subject AS subject,
               try_cast(o.k_score AS DOUBLE) AS score, try_cast(o.k_max AS DOUBLE) AS max_score,
               100 * try_cast(o.k_score AS DOUBLE) / try_cast(o.k_max AS DOUBLE) AS score_pct,
               try_cast(o.k_date AS DATE) AS assessed_on,
               o.delivery_code, o._source_file, o._source_row
        FROM silver.assessment_outcomes o JOIN silver.dim_student s ON s.student_id = o.k_student
        WHERE o.outcome = 'loaded'"""),
    ("silver.dim_date", f"""
        CREATE TABLE silver.dim_date AS
        WITH bounds AS (
            SELECT min(d) AS lo, max(d) AS hi FROM (
                SELECT session_date AS d FROM silver.fact_attendance
                UNION ALL SELECT assessed_on FROM silver.fact_assessment)
        )
        SELECT g.d AS date_day, year(g.d) AS year, month(g.d) AS month, dayofweek(g.d) AS day_of_week,
               {academic_year('g.d')} AS academic_year
        FROM (SELECT unnest(generate_series(lo::TIMESTAMP, hi::TIMESTAMP, INTERVAL 1 DAY))::DATE AS d
              FROM bounds WHERE lo IS NOT NULL) g"""),
    ("gold.student_performance_summary", """
        CREATE TABLE gold.student_performance_summary AS
        WITH att AS (
            SELECT student_id, count(*) AS total, count(*) FILTER (WHERE is_present) AS present,
                   count(*) FILTER (WHERE status = 'absent') AS absent,
                   count(*) FILTER (WHERE status = 'excused') AS excused
            FROM silver.fact_attendance GROUP BY student_id
        ), ass AS (
            SELECT student_id, count(*) AS n, avg(score_pct) AS avg_pct, min(score_pct) AS min_pct,
                   max(score_pct) AS max_pct
            FROM silver.fact_assessment GROUP BY student_id
        )
        SELECT s.student_id, s.class_id, c.programme_code, s.enrolment_status,
               coalesce(att.total, 0) AS total_attendance_records, coalesce(att.present, 0) AS present_days,
               coalesce(att.absent, 0) AS absent_days, coalesce(att.excused, 0) AS excused_days,
               CASE WHEN coalesce(att.present, 0) + coalesce(att.absent, 0) > 0
                    THEN att.present / (att.present + att.absent) END AS attendance_rate,
               coalesce(ass.n, 0) AS total_assessments, ass.avg_pct AS avg_score_pct,
               ass.min_pct AS min_score_pct, ass.max_pct AS max_score_pct
        FROM silver.dim_student s
        LEFT JOIN silver.dim_class c ON c.class_id = s.class_id
        LEFT JOIN att ON att.student_id = s.student_id
        LEFT JOIN ass ON ass.student_id = s.student_id"""),
    ("gold.class_daily_performance", """
        CREATE TABLE gold.class_daily_performance AS
        WITH att AS (
            SELECT class_id, session_date AS activity_date, count(DISTINCT student_id) AS students,
                   count(*) FILTER (WHERE is_present) AS present, count(*) FILTER (WHERE status = 'absent') AS absent,
                   count(*) FILTER (WHERE status = 'excused') AS excused
            FROM silver.fact_attendance WHERE class_id IS NOT NULL GROUP BY ALL
        ), ass AS (
            SELECT class_id, assessed_on AS activity_date, count(DISTINCT student_id) AS students,
                   count(*) AS n, avg(score_pct) AS avg_pct
            FROM silver.fact_assessment WHERE class_id IS NOT NULL GROUP BY ALL
        ), days AS (
            SELECT class_id, activity_date FROM att UNION SELECT class_id, activity_date FROM ass
        ), active AS (
            SELECT class_id, count(*) AS n FROM silver.dim_student WHERE enrolment_status = 'active' GROUP BY ALL
        )
        SELECT d.class_id, d.activity_date, coalesce(active.n, 0) AS total_students,
               coalesce(att.students, 0) AS students_with_attendance, coalesce(att.present, 0) AS present_count,
               coalesce(att.absent, 0) AS absent_count, coalesce(att.excused, 0) AS excused_count,
               CASE WHEN coalesce(att.present, 0) + coalesce(att.absent, 0) > 0
                    THEN att.present / (att.present + att.absent) END AS attendance_rate,
               coalesce(ass.students, 0) AS students_with_assessment, coalesce(ass.n, 0) AS assessment_count,
               ass.avg_pct AS avg_score_pct
        FROM days d
        LEFT JOIN att ON att.class_id = d.class_id AND att.activity_date = d.activity_date
        LEFT JOIN ass ON ass.class_id = d.class_id AND ass.activity_date = d.activity_date
        LEFT JOIN active ON active.class_id = d.class_id"""),
    ("gold.student_risk_features", """
        CREATE TABLE gold.student_risk_features AS
        WITH latest AS (SELECT max(session_date) AS d FROM silver.fact_attendance),
        recent AS (
            SELECT f.student_id, count(*) FILTER (WHERE is_present) AS present,
                   count(*) FILTER (WHERE status = 'absent') AS absent
            FROM silver.fact_attendance f, latest
            WHERE f.session_date BETWEEN latest.d - 27 AND latest.d GROUP BY ALL
        ), last_present AS (
            SELECT student_id, max(session_date) AS d FROM silver.fact_attendance WHERE is_present GROUP BY ALL
        ), failed AS (
            SELECT student_id, count(*) FILTER (WHERE score_pct < 40) AS n FROM silver.fact_assessment GROUP BY ALL
        ), rates AS (
            SELECT s.student_id, latest.d AS as_of_date,
                   CASE WHEN coalesce(r.present, 0) + coalesce(r.absent, 0) > 0
                        THEN r.present / (r.present + r.absent) END AS attendance_rate_28d,
                   (latest.d - lp.d)::BIGINT AS days_since_last_present,
                   coalesce(failed.n, 0) AS failed_assessments
            FROM silver.dim_student s CROSS JOIN latest
            LEFT JOIN recent r ON r.student_id = s.student_id
            LEFT JOIN last_present lp ON lp.student_id = s.student_id
            LEFT JOIN failed ON failed.student_id = s.student_id
        )
        SELECT *, coalesce(attendance_rate_28d < 0.8, false) OR failed_assessments >= 2 AS at_risk FROM rates"""),
    ("gold.student_absence", f"""
        CREATE TABLE gold.student_absence AS
        WITH f AS (
            SELECT student_id, attendance_id, session_date, status, status IN ('absent', 'excused') AS away,
                   {academic_year('session_date')} AS academic_year
            FROM silver.fact_attendance
        ), islands AS (
            SELECT student_id, academic_year, away,
                   row_number() OVER (PARTITION BY student_id, academic_year ORDER BY session_date, attendance_id)
                 - row_number() OVER (PARTITION BY student_id, academic_year, away
                                      ORDER BY session_date, attendance_id) AS island
            FROM f
        ), streaks AS (
            SELECT student_id, academic_year, max(n) AS longest FROM (
                SELECT student_id, academic_year, island, count(*) AS n FROM islands WHERE away GROUP BY ALL
            ) GROUP BY ALL
        ), agg AS (
            SELECT student_id, academic_year, count(*) AS possible,
                   count(*) FILTER (WHERE status IN ('present', 'late')) AS attended,
                   count(*) FILTER (WHERE status = 'excused') AS authorised,
                   count(*) FILTER (WHERE status = 'absent') AS unauthorised
            FROM f GROUP BY ALL
        ), rated AS (
            SELECT a.student_id, a.academic_year, s.class_id, c.programme_code,
                   a.possible AS possible_sessions, a.attended AS attended_sessions,
                   a.authorised AS authorised_absences, a.unauthorised AS unauthorised_absences,
                   (a.authorised + a.unauthorised) / a.possible AS absence_rate,
                   coalesce(st.longest, 0) AS longest_absence_streak
            FROM agg a
            JOIN silver.dim_student s ON s.student_id = a.student_id
            LEFT JOIN silver.dim_class c ON c.class_id = s.class_id
            LEFT JOIN streaks st ON st.student_id = a.student_id AND st.academic_year = a.academic_year
        )
        SELECT student_id, academic_year, class_id, programme_code, possible_sessions, attended_sessions,
               authorised_absences, unauthorised_absences, absence_rate,
               absence_rate >= {PERSISTENT_ABSENCE_THRESHOLD} AND possible_sessions >= {ABSENCE_MIN_SESSIONS}
                   AS is_persistent_absentee,
               absence_rate >= {SEVERE_ABSENCE_THRESHOLD} AND possible_sessions >= {ABSENCE_MIN_SESSIONS}
                   AS is_severe_absentee,
               CASE WHEN possible_sessions >= {ABSENCE_MIN_SESSIONS} THEN {band_sql('absence_rate')} END
                   AS absence_band,
               longest_absence_streak
        FROM rated"""),
    ("gold.programme_attendance", f"""
        CREATE TABLE gold.programme_attendance AS
        WITH agg AS (
            SELECT programme_code, academic_year, count(*) AS students,
                   count(*) FILTER (WHERE possible_sessions >= {ABSENCE_MIN_SESSIONS}) AS eligible_students,
                   count(*) FILTER (WHERE is_persistent_absentee) AS persistent_absentees,
                   sum(possible_sessions)::BIGINT AS possible_sessions,
                   sum(attended_sessions)::BIGINT AS attended_sessions,
                   sum(authorised_absences)::BIGINT AS authorised_absences,
                   sum(unauthorised_absences)::BIGINT AS unauthorised_absences
            FROM gold.student_absence WHERE programme_code IS NOT NULL GROUP BY ALL
        )
        SELECT a.programme_code, a.academic_year, p.programme_name, p.faculty, p.level, a.students,
               a.eligible_students, a.persistent_absentees,
               CASE WHEN a.eligible_students > 0 THEN a.persistent_absentees / a.eligible_students END
                   AS persistent_absence_rate,
               a.possible_sessions, a.attended_sessions, a.authorised_absences, a.unauthorised_absences,
               (a.authorised_absences + a.unauthorised_absences) / a.possible_sessions AS absence_rate
        FROM agg a LEFT JOIN silver.dim_programme p ON p.programme_code = a.programme_code"""),
    ("gold.delivery_quality", """
        CREATE TABLE gold.delivery_quality AS
        SELECT delivery_code, 'attendance' AS source, outcome, count(*) AS row_count
        FROM silver.attendance_outcomes GROUP BY ALL
        UNION ALL
        SELECT delivery_code, 'assessments' AS source, outcome, count(*) AS row_count
        FROM silver.assessment_outcomes GROUP BY ALL"""),
]


def build(landing: Path, sis_url: str, warehouse: Path, memory_limit: str = "1GB", threads: int = 2) -> dict:
    """Build the whole warehouse from scratch; returns row counts and step timings."""
    for p in (warehouse, warehouse.with_name(warehouse.name + ".wal")):
        p.unlink(missing_ok=True)
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    steps: dict[str, float] = {}
    con = duckdb.connect(str(warehouse), config={"memory_limit": memory_limit, "threads": str(threads)})
    try:
        for schema in ("bronze", "silver", "quarantine", "gold"):
            con.execute(f"CREATE SCHEMA {schema}")
        con.execute("""CREATE TABLE bronze.attendance (delivery_code VARCHAR, _source_file VARCHAR,
            _source_row BIGINT, attendance_id VARCHAR, student_id VARCHAR, session_date VARCHAR, status VARCHAR)""")
        con.execute("""CREATE TABLE bronze.assessments (delivery_code VARCHAR, _source_file VARCHAR,
            _source_row BIGINT, assessment_id VARCHAR, student_id VARCHAR, subject VARCHAR, score VARCHAR,
            max_score VARCHAR, assessed_on VARCHAR)""")

        started = time.monotonic()
        counts = fetch_sis(con, sis_url)
        steps["sis"] = time.monotonic() - started

        started = time.monotonic()
        deliveries = discover(landing)
        files = 0
        for code, listed in deliveries:
            for source, name, path in listed:
                lander = land_attendance if source == "attendance" else land_assessments
                try:
                    lander(con, code, name, path)
                    files += 1
                except duckdb.Error as exc:
                    log(f"skipped file {code}/{name}: {str(exc).splitlines()[0]}")
        con.execute("DROP TABLE IF EXISTS landed")
        steps["files"] = time.monotonic() - started

        for table, statement in TRANSFORM:
            started = time.monotonic()
            con.execute(statement)
            steps[table] = time.monotonic() - started
        for schema_table in ("bronze.attendance", "bronze.assessments", "silver.fact_attendance",
                             "silver.fact_assessment", "quarantine.attendance_rejects",
                             "quarantine.assessment_rejects", *(f"gold.{g}" for g in GOLD_KEYS)):
            counts[schema_table] = con.execute(f"SELECT count(*) FROM {schema_table}").fetchone()[0]
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return {"deliveries": len(deliveries), "files": files, "counts": counts, "steps": steps}


# --- comparing gold -------------------------------------------------------------------------------

NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
           "UHUGEINT", "FLOAT", "DOUBLE", "REAL")


def _is_numeric(type_name: str) -> bool:
    return type_name.upper() in NUMERIC or type_name.upper().startswith("DECIMAL")


def compare_gold(baseline: Path, eduwh: Path, rel_tol: float = 1e-9, samples: int = 5) -> dict[str, dict]:
    """Gold of two warehouses, table by table, joined on each table's key.

    Per table: rows on each side, rows only in one side, rows whose columns differ
    (floats equal within `rel_tol` relative), columns one side lacks, the count of
    differing cells per column, and a few differing rows. `differing` is the sum of
    the row counts, so 0 means identical on the columns both sides have.
    """
    con = duckdb.connect(config={"memory_limit": "1GB", "threads": "2"})
    con.execute(f"ATTACH {sql_str(str(baseline))} AS b (READ_ONLY)")
    con.execute(f"ATTACH {sql_str(str(eduwh))} AS e (READ_ONLY)")
    result: dict[str, dict] = {}
    try:
        for table, keys in GOLD_KEYS.items():
            cols = {}
            for db in ("b", "e"):
                cols[db] = dict(con.execute(
                    "SELECT column_name, data_type FROM duckdb_columns() "
                    "WHERE database_name = ? AND schema_name = 'gold' AND table_name = ? ORDER BY column_index",
                    [db, table]).fetchall())
            if not cols["b"] or not cols["e"]:
                result[table] = {"differing": -1, "error": f"missing in {'baseline' if not cols['b'] else 'eduwh'}"}
                continue
            common = [c for c in cols["b"] if c in cols["e"]]
            on = " AND ".join(f"x.{k} IS NOT DISTINCT FROM y.{k}" for k in keys)
            checks = {}
            for c in common:
                if c in keys:
                    continue
                tb, te = cols["b"][c], cols["e"][c]
                if _is_numeric(tb) and _is_numeric(te):
                    a, b = f"x.{c}::DOUBLE", f"y.{c}::DOUBLE"
                    checks[c] = (f"(({a} IS NULL) <> ({b} IS NULL) OR abs({a} - {b}) > "
                                 f"{rel_tol} * greatest(abs({a}), abs({b}), 1e-300))")
                elif tb == te:
                    checks[c] = f"(x.{c} IS DISTINCT FROM y.{c})"
                else:
                    checks[c] = f"(x.{c}::VARCHAR IS DISTINCT FROM y.{c}::VARCHAR)"
            diff_any = " OR ".join(checks.values()) or "false"
            joined = ("SELECT x._in AS in_b, y._in AS in_e, "
                      + ", ".join([f"coalesce({chk}, false) AS d_{c}" for c, chk in checks.items()] + [f"coalesce({diff_any}, false) AS d_any"])
                      + f" FROM (SELECT *, true AS _in FROM b.gold.{table}) x "
                      f"FULL OUTER JOIN (SELECT *, true AS _in FROM e.gold.{table}) y ON {on}")
            con.execute(f"CREATE OR REPLACE TEMP TABLE cmp AS {joined}")
            row = con.execute(
                "SELECT count(*) FILTER (WHERE in_b AND in_e IS NULL), count(*) FILTER (WHERE in_e AND in_b IS NOT TRUE), "
                "count(*) FILTER (WHERE in_b AND in_e AND d_any) FROM cmp").fetchone()
            only_b, only_e, changed = row
            per_col = {}
            for c in checks:
                n = con.execute(f"SELECT count(*) FROM cmp WHERE in_b AND in_e AND d_{c}").fetchone()[0]
                if n:
                    per_col[c] = n
            n_b = con.execute(f"SELECT count(*) FROM b.gold.{table}").fetchone()[0]
            n_e = con.execute(f"SELECT count(*) FROM e.gold.{table}").fetchone()[0]
            dup = {}
            for db in ("b", "e"):
                key_list = ", ".join(keys)
                dup[db] = con.execute(
                    f"SELECT count(*) - count(DISTINCT ({key_list})) FROM {db}.gold.{table}").fetchone()[0]
            sample_rows = []
            if only_b or only_e or changed:
                sel = ", ".join(["x._in", "y._in"] + [f"x.{c}" for c in common] + [f"y.{c}" for c in common]
                                + [f"coalesce({checks[c]}, false)" for c in checks])
                for rec in con.execute(
                    f"SELECT {sel} FROM (SELECT *, true AS _in FROM b.gold.{table}) x "
                    f"FULL OUTER JOIN (SELECT *, true AS _in FROM e.gold.{table}) y ON {on} "
                    f"WHERE x._in IS NULL OR y._in IS NULL OR coalesce({diff_any}, false) "
                    f"ORDER BY {', '.join(f'coalesce(x.{k}, y.{k})' for k in keys)} LIMIT {samples}"
                ).fetchall():
                    in_x, in_y = rec[0], rec[1]
                    xs, ys = rec[2:2 + len(common)], rec[2 + len(common):2 + 2 * len(common)]
                    flags = dict(zip(checks, rec[2 + 2 * len(common):]))
                    if in_x and in_y:
                        sample = {c: xs[i] for i, c in enumerate(common) if c in keys}
                        sample.update({c: {"baseline": xs[i], "eduwh": ys[i]}
                                       for i, c in enumerate(common) if flags.get(c)})
                    else:
                        side, vals = ("baseline only", xs) if in_x else ("eduwh only", ys)
                        sample = {"row": side, **dict(zip(common, vals))}
                    sample_rows.append(sample)
            result[table] = {
                "differing": only_b + only_e + changed + dup["b"] + dup["e"],
                "rows_baseline": n_b, "rows_eduwh": n_e,
                "only_baseline": only_b, "only_eduwh": only_e, "changed": changed,
                "duplicate_keys_baseline": dup["b"], "duplicate_keys_eduwh": dup["e"],
                "changed_cells": per_col,
                "columns_only_baseline": [c for c in cols["b"] if c not in cols["e"]],
                "columns_only_eduwh": [c for c in cols["e"] if c not in cols["b"]],
                "samples": sample_rows,
            }
    finally:
        con.close()
    return result


def gold_identical(result: dict[str, dict]) -> bool:
    return all(r.get("differing", -1) == 0 for r in result.values())


def format_comparison(result: dict[str, dict]) -> str:
    lines = [f"{'gold table':<30} {'baseline':>9} {'eduwh':>9} {'only b':>7} {'only e':>7} {'changed':>8}  notes"]
    for table, r in result.items():
        if "error" in r:
            lines.append(f"{table:<30} {r['error']}")
            continue
        notes = []
        if r["changed_cells"]:
            notes.append("cells " + ", ".join(f"{c}={n}" for c, n in r["changed_cells"].items()))
        if r["columns_only_baseline"]:
            notes.append("columns only in baseline: " + ", ".join(r["columns_only_baseline"]))
        if r["columns_only_eduwh"]:
            notes.append("columns only in eduwh: " + ", ".join(r["columns_only_eduwh"]))
        if r["duplicate_keys_baseline"] or r["duplicate_keys_eduwh"]:
            notes.append(f"duplicate keys b={r['duplicate_keys_baseline']} e={r['duplicate_keys_eduwh']}")
        lines.append(f"{table:<30} {r['rows_baseline']:>9,} {r['rows_eduwh']:>9,} {r['only_baseline']:>7,} "
                     f"{r['only_eduwh']:>7,} {r['changed']:>8,}  {'; '.join(notes)}")
        for s in r["samples"]:
            lines.append("    " + json.dumps(s, default=str))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.baseline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--landing", type=Path, help="landing folder (one folder per delivery)")
    parser.add_argument("--sis-url", help="PostgreSQL URL of the SIS")
    parser.add_argument("--warehouse", type=Path, help="DuckDB file to (re)build")
    parser.add_argument("--memory-limit", default="1GB")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BASELINE", "EDUWH"),
                        help="compare the gold schemas of two warehouses instead of building")
    args = parser.parse_args(argv)
    if args.compare:
        result = compare_gold(*args.compare)
        print(format_comparison(result))
        return 0 if gold_identical(result) else 1
    if not (args.landing and args.sis_url and args.warehouse):
        parser.error("--landing, --sis-url and --warehouse are required to build")
    report = build(args.landing, args.sis_url, args.warehouse, args.memory_limit, args.threads)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
