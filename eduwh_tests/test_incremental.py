"""Incremental builds give exactly the tables a full rebuild gives (SPEC §8).

For each seed, a random sequence of changes is applied to a real landing zone
and a real PostgreSQL SIS: new deliveries, restatements of delivered files
(bad rows fixed, good rows broken, statuses, scores, students and dates
changed, rows added and removed, a file emptied), retractions of files, late
students reaching the SIS, students changing class (some to a new class) or
enrolment status, and classes moving to another programme. Every seed makes
every kind of change, in a random order, and several changes pile up between
two builds, as they do between two runs.

After each step one warehouse is brought up to date the way production does
it: the SIS sync and the pending deliveries through the real loaders
(`load_sis`, `Ledger.pending`, `load_deliveries`), then the real silver and
gold dbt assets through `dagster.materialize`, so `build_layer` decides
between a full and an incremental build, the models apply the change records
and the records are emptied after gold. A second warehouse is built from
scratch from the same landing zone and SIS: the same loaders into a new file,
then one `dbt build --full-refresh` of every model. Every table of silver,
quarantine and gold (the change records aside), and the bronze tables they
are built from, must hold the same rows in both, cell by cell, compared with
EXCEPT ALL both ways; only the load lineage columns (_ingested_at, _dlt_*)
differ legitimately. Row counts are checked against the manifests and the
SIS, and after the last step the incremental warehouse is compared with the
independent pandas oracle.

The SIS sync is incremental on updated_at and merges on the key; it cannot
see a row deleted from the SIS, so deletions are not among the changes.

Speed: a production build costs about 17 CPU-seconds even at this tiny scale
(25 with its dbt tests), nearly all of it dbt's start-up and per-node
overhead, twice (silver, then gold). So each seed's sequence runs in a process
of its own, all seeds at once, and each step's full rebuild runs beside its
incremental build, keeping both cores busy; and in those processes
`lighten_the_builds` leaves out what writes no table (dbt's data tests,
dagster-dbt's version probe and metadata adapter). Set
EDUWH_TEST_INCREMENTAL_SEEDS / EDUWH_TEST_INCREMENTAL_STEPS for a longer run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from eduwh_assets.config import PROJECT_ROOT
from eduwh_assets.warehouse import Warehouse
from eduwh_tests.conftest import eduwh_resources

# Small enough for CI; EDUWH_TEST_INCREMENTAL_SEEDS="1,2,3,4" and EDUWH_TEST_INCREMENTAL_STEPS=6 run more.
SEEDS = [int(s) for s in os.environ.get("EDUWH_TEST_INCREMENTAL_SEEDS", "11,13").split(",")]
STEPS = int(os.environ.get("EDUWH_TEST_INCREMENTAL_STEPS", "3"))  # compared steps per seed, after the first build
CHAIN_TIMEOUT_SECONDS = 900
COMPARED_SCHEMAS = ("bronze", "silver", "quarantine", "gold")
# Lineage of a load: when and in which dlt load a row arrived, which differs between two warehouses.
LOAD_COLUMNS = {"_ingested_at", "_dlt_load_id", "_dlt_id"}
# Bronze's data tables; the rest of bronze is dlt's bookkeeping.
BRONZE_TABLES = ("attendance", "assessments", "sis_programmes", "sis_classes", "sis_students")
# Doubles are compared to 9 decimal places (they are rates and percentages): two builds
# may add the same values in another order, which can move the last bit.
DOUBLE_DECIMALS = 9

ORACLE_TABLES = {
    "fact_attendance": "silver.fact_attendance",
    "fact_assessment": "silver.fact_assessment",
    "attendance_rejects": "quarantine.attendance_rejects",
    "assessment_rejects": "quarantine.assessment_rejects",
    "student_performance_summary": "gold.student_performance_summary",
    "class_daily_performance": "gold.class_daily_performance",
    "student_risk_features": "gold.student_risk_features",
    "delivery_quality": "gold.delivery_quality",
    "student_absence": "gold.student_absence",
    "programme_attendance": "gold.programme_attendance",
}

# The kinds of change a step may make (World methods).
CHANGES = [
    "new_delivery",
    "restate",
    "retract",
    "late_student",
    "class_change",
    "status_change",
    "class_programme_change",
]

STATUSES = ["present", "late", "absent", "excused"]
MESSY_STATUSES = [" Late ", "ABSENT", "Present ", " excused"]
BAD_STATUSES = ["holiday", "sick", "", "P"]
BAD_DATES = ["2025-02-30", "2025-13-01", "31/10/2025", ""]
SUBJECTS = ["Mathematics", "English", "Biology", "History"]
ENROLMENT = ["active", "suspended", "withdrawn", "completed"]
# Weekdays from late August 2025 (so two academic years) into the winter.
DAYS = [d for d in (date(2025, 8, 18) + timedelta(n) for n in range(160)) if d.weekday() < 5]
DAYS_PER_DELIVERY = 5


def plan(seed: int) -> list[list[str]]:
    """The kinds of change of each step, from their own random stream so the data draws cannot shift them.

    Every kind occurs in every seed's sequence, in a random order, dealt into STEPS
    steps of random sizes; one step in two gets an extra new delivery or restatement.
    """
    rng = np.random.default_rng([seed, 1])
    kinds = [str(k) for k in rng.permutation(list(CHANGES))]
    cuts = sorted(int(c) for c in rng.choice(np.arange(1, len(kinds)), size=STEPS - 1, replace=False))
    steps = [kinds[a:b] for a, b in zip([0, *cuts], [*cuts, len(kinds)])]
    for step in steps:
        if rng.random() < 0.5:
            step.insert(int(rng.integers(0, len(step) + 1)), str(rng.choice(["new_delivery", "restate"])))
    return steps


# --- the world: a landing zone and a SIS that change step by step -------------------------------


@dataclass
class DataFile:
    delivery: str
    name: str
    rows: list[dict]

    @property
    def source(self) -> str:
        return "attendance" if self.name.startswith("attendance") else "assessments"

    @property
    def key(self) -> str:
        return "attendance_id" if self.source == "attendance" else "assessment_id"


@dataclass
class World:
    rng: np.random.Generator
    landing: Path
    sis_url: str
    files: dict[tuple[str, str], DataFile] = field(default_factory=dict)
    deliveries: list[str] = field(default_factory=list)
    students: list[str] = field(default_factory=list)  # in the SIS
    late: list[str] = field(default_factory=list)  # referenced by deliveries, not yet in the SIS
    unknown: list[str] = field(default_factory=lambda: ["U01", "U02"])  # never in the SIS
    classes: list[str] = field(default_factory=list)
    programmes: list[str] = field(default_factory=lambda: ["P1", "P2", "P3"])
    next_id: int = 1
    clock: int = 1_750_000_000  # file modification times, strictly increasing

    # -- SIS -----------------------------------------------------------------------------------

    def engine(self) -> sa.Engine:
        return sa.create_engine(self.sis_url, poolclass=sa.pool.NullPool)

    def sql(self, statement: str, **params) -> None:
        engine = self.engine()
        with engine.begin() as conn:
            conn.execute(sa.text(statement), params)
        engine.dispose()

    def write_sis(self) -> None:
        from eduwh_assets.generate.writers import SIS_DDL

        self.classes = ["C1", "C2", "C3", "C4"]
        self.students = [f"S{n:02d}" for n in range(1, 41)]
        self.late = [f"L{n}" for n in range(1, 6)]
        engine = self.engine()
        with engine.begin() as conn:
            conn.exec_driver_sql(SIS_DDL)
            for i, code in enumerate(self.programmes):
                conn.execute(
                    sa.text("insert into sis.programmes values (:c, :n, :f, 'L3', now())"),
                    {"c": code, "n": f"Programme {code}", "f": ["Science", "Arts"][i % 2]},
                )
            for class_id, programme in zip(self.classes, ["P1", "P1", "P2", "P3"]):
                conn.execute(
                    sa.text("insert into sis.classes values (:c, :n, :p, '2025/26', now())"),
                    {"c": class_id, "n": f"Class {class_id}", "p": programme},
                )
            for student in self.students:
                self._insert_student(conn, student)
        engine.dispose()

    def _insert_student(self, conn, student: str) -> None:
        # One student without a class: their facts belong to no class.
        class_id = None if student == "S40" else str(self.rng.choice(self.classes))
        status = str(self.rng.choice(ENROLMENT, p=[0.8, 0.1, 0.05, 0.05]))
        conn.execute(
            sa.text(
                "insert into sis.students values (:s, 'First', 'Last', :e, date '2009-03-01', 'f', :c, :st, now())"
            ),
            {"s": student, "e": f"{student.lower()}@example.org", "c": class_id, "st": status},
        )

    def sis_frames(self) -> dict[str, pd.DataFrame]:
        engine = self.engine()
        with engine.connect() as conn:
            frames = {t: pd.read_sql(f"select * from sis.{t}", conn) for t in ("programmes", "classes", "students")}
        engine.dispose()
        return frames

    # -- files -----------------------------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        self.next_id += 1
        return f"{prefix}{self.next_id}"

    def write_file(self, f: DataFile) -> None:
        path = self.landing / f.delivery / f.name
        path.parent.mkdir(parents=True, exist_ok=True)
        if f.source == "attendance":
            columns = ["attendance_id", "student_id", "session_date", "status"]
            pd.DataFrame(f.rows, columns=columns).to_csv(path, index=False)
        elif f.name.endswith(".jsonl"):
            path.write_text("".join(json.dumps(r) + "\n" for r in f.rows))
        else:
            path.write_text(json.dumps(f.rows, indent=1))
        # A restated file gets a new version even when its size is unchanged.
        self.clock += 10
        os.utime(path, (self.clock, self.clock))

    def write_manifest(self, code: str) -> None:
        from eduwh_assets.sources.landing import MANIFEST_NAME

        files = {name: {"rows": len(f.rows)} for (d, name), f in sorted(self.files.items()) if d == code}
        (self.landing / code / MANIFEST_NAME).write_text(json.dumps({"delivery_code": code, "files": files}))

    def manifest_rows(self, source: str) -> int:
        from eduwh_assets.sources.landing import MANIFEST_NAME

        total = 0
        for code in self.deliveries:
            manifest = json.loads((self.landing / code / MANIFEST_NAME).read_text())
            total += sum(e["rows"] for name, e in manifest["files"].items() if name.startswith(source))
        return total

    def any_student(self, known_share: float = 0.9) -> str:
        if self.rng.random() < known_share or not (self.late or self.unknown):
            return str(self.rng.choice(self.students))
        return str(self.rng.choice(self.late + self.unknown))

    def earlier_ids(self, source: str) -> list[str]:
        return sorted(
            {(r[f.key] or "").strip() for f in self.files.values() if f.source == source for r in f.rows} - {""}
        )

    def attendance_row(self, days: list[date]) -> dict:
        row = {
            "attendance_id": self.new_id("A"),
            "student_id": self.any_student(),
            "session_date": str(self.rng.choice(days)),
            "status": str(self.rng.choice(STATUSES, p=[0.7, 0.1, 0.15, 0.05])),
        }
        kind = self.rng.random()
        if kind < 0.03:
            row["status"] = str(self.rng.choice(MESSY_STATUSES))
        elif kind < 0.06:
            row["status"] = str(self.rng.choice(BAD_STATUSES))
        elif kind < 0.08:
            row["session_date"] = str(self.rng.choice(BAD_DATES))
        elif kind < 0.09:
            row["attendance_id"] = ""
        elif kind < 0.10:
            row["attendance_id"] = f" {row['attendance_id']} "
        return row

    def assessment_row(self, days: list[date]) -> dict:
        max_score = int(self.rng.choice([10, 20, 50, 100]))
        score = round(float(self.rng.uniform(0, max_score)), int(self.rng.integers(0, 2)))
        row = {
            "assessment_id": self.new_id("X"),
            "student_id": self.any_student(),
            "subject": str(self.rng.choice(SUBJECTS)),
            # JSON numbers and numeric strings both occur.
            "score": score if self.rng.random() < 0.7 else str(score),
            "max_score": max_score,
            "assessed_on": str(self.rng.choice(days)),
        }
        kind = self.rng.random()
        if kind < 0.04:
            row["score"] = str(self.rng.choice(["abc", "", "n/a"]))
        elif kind < 0.07:
            row["score"] = max_score + 5
        elif kind < 0.09:
            row["assessed_on"] = str(self.rng.choice(BAD_DATES))
        elif kind < 0.10:
            row["assessment_id"] = ""
        return row

    def make_row(self, source: str, days: list[date]) -> dict:
        return self.attendance_row(days) if source == "attendance" else self.assessment_row(days)

    # -- the changes a step may make -----------------------------------------------------------

    def new_delivery(self) -> str:
        code = f"D{len(self.deliveries) + 1:02d}"
        k = len(self.deliveries)
        if k and self.rng.random() < 0.25:
            k = int(self.rng.integers(0, k))  # a late delivery of older sessions: as_of_date stays put
        days = DAYS[(k * DAYS_PER_DELIVERY) % len(DAYS):][:DAYS_PER_DELIVERY]
        rows = {
            "attendance": [self.attendance_row(days) for _ in range(int(self.rng.integers(80, 160)))],
            "assessments": [self.assessment_row(days) for _ in range(int(self.rng.integers(15, 40)))],
        }
        for source, these in rows.items():
            key = "attendance_id" if source == "attendance" else "assessment_id"
            # Records of earlier deliveries restated, with other values.
            earlier = self.earlier_ids(source)
            for _ in range(min(len(earlier), int(self.rng.integers(0, 8)))):
                row = self.make_row(source, days)
                row[key] = str(self.rng.choice(earlier))
                these.insert(int(self.rng.integers(0, len(these) + 1)), row)
            # The same record twice in one delivery: the later row in file order wins.
            for _ in range(int(self.rng.integers(0, 3))):
                row = dict(these[int(self.rng.integers(0, len(these)))])
                if self.rng.random() < 0.5:
                    row = {**self.make_row(source, days), key: row[key]}
                these.insert(int(self.rng.integers(0, len(these) + 1)), row)
        attendance = rows["attendance"]
        if self.rng.random() < 0.5:
            cut = len(attendance) // 2
            parts = {"attendance_a.csv": attendance[:cut], "attendance_b.csv": attendance[cut:]}
        else:
            parts = {"attendance.csv": attendance}
        parts["assessments.jsonl" if self.rng.random() < 0.5 else "assessments.json"] = rows["assessments"]
        for name, these in parts.items():
            self.files[(code, name)] = DataFile(code, name, these)
            self.write_file(self.files[(code, name)])
        self.write_manifest(code)
        self.deliveries.append(code)
        return f"new delivery {code} ({', '.join(f'{n}: {len(r)} rows' for n, r in parts.items())})"

    @staticmethod
    def looks_valid(source: str, row: dict) -> bool:
        if source == "attendance":
            return (
                bool(row["attendance_id"].strip())
                and row["status"].strip().lower() in STATUSES
                and row["session_date"] not in BAD_DATES
            )
        try:
            return bool(row["assessment_id"]) and 0 <= float(row["score"]) <= float(row["max_score"])
        except ValueError:
            return False

    def restate(self) -> str:
        f = self.files[sorted(self.files)[int(self.rng.integers(0, len(self.files)))]]
        days = DAYS[: len(self.deliveries) * DAYS_PER_DELIVERY + DAYS_PER_DELIVERY]
        done = []
        if f.rows and self.rng.random() < 0.06:
            f.rows.clear()
            done.append("emptied")
        for _ in range(int(self.rng.integers(1, 5)) if not done else 0):
            if not f.rows:
                f.rows.append(self.make_row(f.source, days))
                done.append("add")
                continue
            i = int(self.rng.integers(0, len(f.rows)))
            row = f.rows[i]
            what = str(self.rng.choice(["fix", "break", "value", "student", "date", "add", "remove", "restate_key"]))
            if what == "fix":
                bad = [j for j, r in enumerate(f.rows) if not self.looks_valid(f.source, r)]
                i = int(self.rng.choice(bad)) if bad else i
                good = self.make_row(f.source, days)
                good[f.key] = f.rows[i][f.key].strip() or good[f.key]
                f.rows[i] = good
            elif what == "break":
                if f.source == "attendance":
                    field_, value = ("status", "holiday") if self.rng.random() < 0.6 else ("session_date", "2025-02-30")
                    row[field_] = value
                else:
                    row["score"] = str(self.rng.choice(["abc", "-1", "999"]))
            elif what == "value":
                if f.source == "attendance":
                    row["status"] = str(self.rng.choice(STATUSES))
                else:
                    row["score"] = round(float(self.rng.uniform(0, float(row["max_score"]))), 1)
            elif what == "student":
                row["student_id"] = self.any_student(0.7)
            elif what == "date":
                row["session_date" if f.source == "attendance" else "assessed_on"] = str(self.rng.choice(DAYS[:60]))
            elif what == "add":
                f.rows.insert(i, self.make_row(f.source, days))
            elif what == "remove":
                del f.rows[i]
            else:  # the row now restates another record, of any delivery
                earlier = self.earlier_ids(f.source)
                row[f.key] = str(self.rng.choice(earlier)) if earlier else row[f.key]
            done.append(what)
        self.write_file(f)
        self.write_manifest(f.delivery)
        return f"restated {f.delivery}/{f.name} ({', '.join(done)}; now {len(f.rows)} rows)"

    def retract(self) -> str:
        f = self.files.pop(sorted(self.files)[int(self.rng.integers(0, len(self.files)))])
        (self.landing / f.delivery / f.name).unlink()
        self.write_manifest(f.delivery)
        return f"retracted {f.delivery}/{f.name} ({len(f.rows)} rows)"

    def late_student(self) -> str:
        if not self.late:
            return "no late student left"
        referenced = {r["student_id"] for f in self.files.values() for r in f.rows}
        pool = [s for s in self.late if s in referenced] or self.late
        student = pool[int(self.rng.integers(0, len(pool)))]
        engine = self.engine()
        with engine.begin() as conn:
            self._insert_student(conn, student)
        engine.dispose()
        self.late.remove(student)
        self.students.append(student)
        return f"late student {student} reached the SIS"

    def class_change(self) -> str:
        student = str(self.rng.choice(self.students))
        if self.rng.random() < 0.25:
            new_class = f"C{len(self.classes) + 1}"
            self.sql(
                "insert into sis.classes values (:c, :n, :p, '2025/26', now())",
                c=new_class, n=f"Class {new_class}", p=str(self.rng.choice(self.programmes)),
            )
            self.classes.append(new_class)
        else:
            new_class = str(self.rng.choice(self.classes))
        self.sql(
            "update sis.students set class_id = :c, updated_at = now() where student_id = :s", c=new_class, s=student
        )
        return f"student {student} moved to class {new_class}"

    def status_change(self) -> str:
        student = str(self.rng.choice(self.students))
        status = str(self.rng.choice(ENROLMENT))
        self.sql(
            "update sis.students set enrolment_status = :e, updated_at = now() where student_id = :s",
            e=status, s=student,
        )
        return f"student {student} now {status}"

    def class_programme_change(self) -> str:
        class_id = str(self.rng.choice(self.classes))
        programme = str(self.rng.choice(self.programmes))
        self.sql(
            "update sis.classes set programme_code = :p, updated_at = now() where class_id = :c",
            p=programme, c=class_id,
        )
        return f"class {class_id} now in programme {programme}"

    def apply(self, kinds: list[str]) -> list[str]:
        return [getattr(self, kind)() for kind in kinds]


# --- building warehouses ------------------------------------------------------------------------


def lighten_the_builds() -> None:
    """Make the production builds cheaper without changing what they write; in a chain process only.

    - dbt's data tests are left out of the build (`--exclude-resource-type test`): they
      only read tables, and two warehouses with equal tables get equal verdicts; the
      other tests of the suite run them on full builds.
    """
    import eduwh_assets.transform.assets as transform_assets

    production_args = transform_assets.dbt_build_args
    transform_assets.dbt_build_args = lambda full_refresh=False: [
        *production_args(full_refresh=full_refresh), "--exclude-resource-type", "test"
    ]


def load_bronze(settings, *, only_pending: bool) -> None:
    """The SIS sync, then the deliveries bronze does not hold as they are now (every one for a new warehouse)."""
    from eduwh_assets.bronze.delivery_load import load_deliveries
    from eduwh_assets.bronze.ledger import Ledger
    from dagster import materialize

    from eduwh_assets.bronze.sis import sis_assets
    from eduwh_assets.sources.landing import LandingZone

    sis = materialize([sis_assets], resources=eduwh_resources(settings), raise_on_error=False)
    assert sis.success, "the SIS sync failed"
    complete = LandingZone.from_settings(settings).discover().complete
    if only_pending:
        complete = Ledger.read(Warehouse.from_settings(settings)).pending(complete)
    codes = [d.code for d in complete]
    if codes:
        for source in ("attendance", "assessments"):
            load = load_deliveries(settings, Warehouse.from_settings(settings), codes, source)
            failed = {d.delivery_code: d.outcomes.failed for d in load.deliveries if d.outcomes.failed}
            assert not failed, f"files failed to load: {failed}"


def build_silver_and_gold(settings, instance) -> None:
    """The production dbt steps, silver then gold, each deciding itself between a full and an incremental build."""
    from dagster import materialize

    from eduwh_assets.transform.assets import dbt_layer_assets

    result = materialize(
        dbt_layer_assets,
        resources=eduwh_resources(settings),
        instance=instance,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    failures = [
        f"{e.step_key}: {e.step_failure_data.error.message if e.step_failure_data.error else ''}"
        for e in result.all_events
        if e.is_step_failure
    ]
    assert result.success, f"the production build failed: {failures}"


def start_full_rebuild(settings, log: Path) -> subprocess.Popen:
    """Bronze from scratch with the real loaders, then every model built in one `dbt build --full-refresh`.

    Returns the running dbt process. Its warehouse path stays the same from step to
    step (the file is removed first), so dbt's partial parsing stays valid.
    """
    from eduwh_assets.bronze.contract import ensure_bronze_tables
    from eduwh_assets.transform.project import dbt_build_args, dbt_env, dbt_executable, eduwh_project

    for path in (settings.warehouse, settings.warehouse.with_name(settings.warehouse.name + ".wal")):
        path.unlink(missing_ok=True)
    load_bronze(settings, only_pending=False)
    with Warehouse.from_settings(settings).get_connection() as con:
        ensure_bronze_tables(con)
    args = [
        # No data tests, as in lighten_the_builds.
        dbt_executable(), *dbt_build_args(full_refresh=True), "--exclude-resource-type", "test",
        "--project-dir", str(eduwh_project.project_dir), "--profiles-dir", str(eduwh_project.profiles_dir),
        "--target-path", str(settings.data_dir / "dbt-full"), "--quiet",
    ]
    with log.open("ab") as out:
        return subprocess.Popen(args, env={**os.environ, **dbt_env(settings)}, stdout=out, stderr=subprocess.STDOUT)


# --- comparing warehouses -----------------------------------------------------------------------


def compared_tables(con, catalog: str) -> set[tuple[str, str]]:
    rows = con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_catalog = ? and table_type = 'BASE TABLE' and list_contains(?, table_schema)",
        [catalog, list(COMPARED_SCHEMAS)],
    ).fetchall()
    return {
        (schema, name)
        for schema, name in rows
        if not name.startswith("changed_") and (schema != "bronze" or name in BRONZE_TABLES)
    }


def column_list(con, catalog: str, schema: str, table: str) -> list[tuple[str, str]]:
    return con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_catalog = ? and table_schema = ? and table_name = ? order by ordinal_position",
        [catalog, schema, table],
    ).fetchall()


def warehouse_differences(incremental: Path, full: Path, sample: int = 6) -> list[str]:
    """Every difference between the two warehouses' compared tables, one message per table."""
    problems: list[str] = []
    with duckdb.connect() as con:
        con.execute(f"attach '{incremental}' as incr (read_only)")
        con.execute(f"attach '{full}' as rebuilt (read_only)")
        tables_incr, tables_full = compared_tables(con, "incr"), compared_tables(con, "rebuilt")
        if tables_incr != tables_full:
            problems.append(
                f"table sets differ: only incremental {sorted(tables_incr - tables_full)}, "
                f"only full {sorted(tables_full - tables_incr)}"
            )
        for schema, table in sorted(tables_incr & tables_full):
            columns = [c for c in column_list(con, "incr", schema, table) if c[0] not in LOAD_COLUMNS]
            other = [c for c in column_list(con, "rebuilt", schema, table) if c[0] not in LOAD_COLUMNS]
            if columns != other:
                problems.append(f"{schema}.{table}: columns differ: incremental {columns}, full {other}")
                continue
            select = ", ".join(
                f'round("{c}", {DOUBLE_DECIMALS}) as "{c}"' if t in ("DOUBLE", "FLOAT") else f'"{c}"'
                for c, t in columns
            )
            incr_sql = f'select {select} from incr."{schema}"."{table}"'
            full_sql = f'select {select} from rebuilt."{schema}"."{table}"'

            def rows(sql: str) -> tuple[int, list[tuple]]:
                count = con.execute(f"select count(*) from ({sql})").fetchone()[0]
                return count, con.execute(f"select * from ({sql}) order by all limit {sample}").fetchall()

            only_incr = rows(f"{incr_sql} except all {full_sql}")
            only_full = rows(f"{full_sql} except all {incr_sql}")
            if only_incr[0] or only_full[0]:
                counts = [
                    con.execute(f'select count(*) from {db}."{schema}"."{table}"').fetchone()[0]
                    for db in ("incr", "rebuilt")
                ]
                problems.append(
                    f"{schema}.{table} (incremental {counts[0]} rows, full {counts[1]}): "
                    f"{only_incr[0]} row(s) only in the incremental build, {only_full[0]} only in the full one\n"
                    f"    columns {[c for c, _ in columns]}\n"
                    + "".join(f"    incremental only: {r}\n" for r in only_incr[1])
                    + "".join(f"    full only:        {r}\n" for r in only_full[1])
                )
    return problems


def check_counts(world: World, warehouse: Path) -> None:
    """Row counts known without the warehouse: the manifests and the SIS. And no change record left behind."""
    from eduwh_assets.transform.changes import incremental_models

    with duckdb.connect(str(warehouse), read_only=True) as con:
        for source, outcomes in (("attendance", "attendance_outcomes"), ("assessments", "assessment_outcomes")):
            want = world.manifest_rows(source)
            got = {
                "bronze": con.execute(f"select count(*) from bronze.{source}").fetchone()[0],
                "outcomes": con.execute(f"select count(*) from silver.{outcomes}").fetchone()[0],
                "delivery_quality": con.execute(
                    "select coalesce(sum(row_count), 0) from gold.delivery_quality where source = ?", [source]
                ).fetchone()[0],
            }
            assert set(got.values()) == {want}, f"{source}: the manifests list {want} rows, the warehouse has {got}"
        students = con.execute("select count(*) from gold.student_performance_summary").fetchone()[0]
        assert students == len(world.students), (
            f"gold.student_performance_summary has {students} rows, the SIS {len(world.students)} students"
        )
        left = {
            r.sql: con.execute(f"select count(*) from {r.sql}").fetchone()[0]
            for r in incremental_models().change_records
        }
        assert not any(left.values()), f"change records left after a complete build: {left}"


def check_oracle(world: World, warehouse: Path) -> None:
    from eduwh_tests.oracle import KEYS, compare_frames, expected, read_landing

    attendance_raw, assessments_raw = read_landing(world.landing)
    want = expected(world.sis_frames(), attendance_raw, assessments_raw)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for name, table in ORACLE_TABLES.items():
            compare_frames(con.execute(f"select * from {table}").df(), want[name], KEYS[name], name=table)


# --- one seed's sequence, in a process of its own -----------------------------------------------


def run_chain(seed: int, workdir: Path, pg_admin_url: str) -> dict:
    """Build, then change and compare STEPS times. Raises AssertionError on the first difference."""
    from dagster import DagsterInstance

    from eduwh_tests.conftest import create_database, make_settings

    lighten_the_builds()
    timings: dict[str, float] = {}
    clock = time.monotonic()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.monotonic()
        timings[phase] = round(timings.get(phase, 0.0) + now - clock, 1)
        clock = now

    world = World(
        rng=np.random.default_rng([seed, 0]), landing=workdir / "landing", sis_url=create_database(pg_admin_url)
    )
    world.landing.mkdir(parents=True)
    world.write_sis()
    history = [world.new_delivery(), world.new_delivery()]
    env = {"EDUWH_SIS_URL": world.sis_url, "EDUWH_LANDING": str(world.landing)}
    incremental = make_settings(workdir / "incremental", **env)
    full = make_settings(workdir / "full", **env)
    with DagsterInstance.ephemeral() as instance:
        lap("set-up")
        load_bronze(incremental, only_pending=True)
        lap("bronze")
        build_silver_and_gold(incremental, instance)
        lap("first build")
        check_counts(world, incremental.warehouse)
        for step, kinds in enumerate(plan(seed), start=1):
            history.append(f"step {step}: " + "; ".join(world.apply(kinds)))
            load_bronze(incremental, only_pending=True)
            lap("bronze")
            rebuild = start_full_rebuild(full, workdir / "full_rebuild.log")
            lap("full rebuild: bronze")
            try:
                build_silver_and_gold(incremental, instance)
                lap("incremental builds")
            finally:
                code = rebuild.wait()
                lap("full rebuild: waiting for dbt")
            assert code == 0, f"the full rebuild failed (exit {code}); see {workdir / 'full_rebuild.log'}"
            problems = warehouse_differences(incremental.warehouse, full.warehouse)
            story = "\n  ".join(history)
            assert not problems, (
                f"seed {seed}: after step {step} the incremental warehouse differs from a full rebuild.\n"
                f"Steps:\n  {story}\nDifferences:\n" + "\n".join(problems)
            )
            check_counts(world, incremental.warehouse)
            lap("comparing")
    check_oracle(world, incremental.warehouse)
    lap("oracle")
    return {"history": history, "timings": timings}


def main() -> None:
    parser = argparse.ArgumentParser(description="one seed's sequence of test_incremental")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--pg-admin-url", required=True)
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args()
    try:
        outcome = {"ok": True, **run_chain(args.seed, args.workdir, args.pg_admin_url)}
    except AssertionError as exc:  # the message says it all; the last frames say where
        where = "".join(traceback.format_tb(exc.__traceback__)[-2:])
        outcome = {"ok": False, "error": str(exc), "traceback": where}
    except BaseException as exc:  # noqa: BLE001 - reported to the test, which fails with it
        outcome = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    args.result.write_text(json.dumps(outcome))


# --- the tests ----------------------------------------------------------------------------------


@dataclass
class Chain:
    process: subprocess.Popen
    result: Path
    log: Path


@pytest.fixture(scope="module")
def chains(request, tmp_path_factory, pg_admin_url):
    """One process per seed selected in this session, all started at once."""
    selected = sorted(
        {
            item.callspec.params["seed"]
            for item in request.session.items
            if item.module is request.module and hasattr(item, "callspec") and "seed" in item.callspec.params
        }
    )
    started: dict[int, Chain] = {}
    for seed in selected:
        workdir = tmp_path_factory.mktemp(f"incremental_{seed}")
        log = workdir / "chain.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    sys.executable, "-m", "eduwh_tests.test_incremental", "--seed", str(seed),
                    "--workdir", str(workdir), "--pg-admin-url", pg_admin_url, "--result", str(workdir / "result.json"),
                ],
                cwd=PROJECT_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so its dbt children can be stopped with it
            )
        started[seed] = Chain(process, workdir / "result.json", log)
    yield started
    for chain in started.values():
        if chain.process.poll() is None:
            os.killpg(chain.process.pid, signal.SIGKILL)
            chain.process.wait()


def test_every_seed_makes_every_kind_of_change():
    for seed in SEEDS:
        steps = plan(seed)
        assert len(steps) == STEPS and all(steps)
        assert {kind for step in steps for kind in step} == set(CHANGES)


@pytest.mark.parametrize("seed", SEEDS)
def test_incremental_build_equals_full_rebuild(seed, chains):
    chain = chains[seed]
    try:
        chain.process.wait(timeout=CHAIN_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(chain.process.pid, signal.SIGKILL)
        pytest.fail(f"seed {seed} did not finish in {CHAIN_TIMEOUT_SECONDS}s; log: {chain.log}")
    if not chain.result.exists():
        tail = chain.log.read_text(errors="replace")[-4000:]
        pytest.fail(f"seed {seed}: the chain process exited {chain.process.returncode} without a result:\n{tail}")
    outcome = json.loads(chain.result.read_text())
    if not outcome["ok"]:
        pytest.fail(f"{outcome['error']}\n\n{outcome['traceback'][-3000:]}\n(log: {chain.log})", pytrace=False)
    print(f"seed {seed}: " + "\n  ".join(outcome["history"]) + f"\n  seconds {outcome['timings']}")


if __name__ == "__main__":
    main()
