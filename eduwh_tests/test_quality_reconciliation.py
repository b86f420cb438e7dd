"""Load reconciliation: bronze row counts per file against each delivery's manifest, per partition."""

from __future__ import annotations

import json

import duckdb
from dagster import AssetKey, BackfillPolicy, DagsterInstance, MaterializeResult, asset, materialize

from conftest import make_settings
from eduwh_assets.partitions import deliveries_partitions
from eduwh_assets.partitions import range_tags
from eduwh_assets.quality.reconciliation import reconciliation_checks, run_reconciliation
from eduwh_assets.warehouse import Warehouse
from eduwh_tests.conftest import eduwh_resources

# delivery -> file -> (rows declared in the manifest, rows that reach bronze)
DELIVERIES = {
    "D1": {"attendance.csv": (3, 3), "assessments.json": (2, 2)},
    "D2": {"attendance_a.csv": (4, 3), "attendance_b.csv": (2, 0), "assessments.jsonl": (1, 1)},
}


def write_landing(root) -> None:
    for code, files in DELIVERIES.items():
        folder = root / code
        folder.mkdir(parents=True)
        for name in files:
            (folder / name).write_text("delivered\n")  # contents do not matter: bronze rows are built below
        manifest = {"delivery_code": code, "files": {name: {"rows": n} for name, (n, _) in files.items()}}
        (folder / "_manifest.json").write_text(json.dumps(manifest))


def bronze_assets(settings):
    """Partitioned bronze assets that load the 'received' rows of their delivery into DuckDB."""

    def load(code: str, source: str) -> None:
        table = f"bronze.{source}"
        with duckdb.connect(str(settings.warehouse)) as conn:
            conn.execute("CREATE SCHEMA IF NOT EXISTS bronze")
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (delivery_code VARCHAR, _source_file VARCHAR, _source_row BIGINT)"
            )
            conn.execute(f"DELETE FROM {table} WHERE delivery_code = ?", [code])
            for name, (_, received) in DELIVERIES[code].items():
                if name.startswith(source):
                    conn.execute(
                        f"INSERT INTO {table} SELECT ?, ?, i FROM range(1, ? + 1) r(i)", [code, name, received]
                    )

    # One partition or a range of them in one run, as the real bronze assets.
    single_run = BackfillPolicy.single_run()

    @asset(key=AssetKey(["bronze", "attendance"]), partitions_def=deliveries_partitions, backfill_policy=single_run)
    def attendance(context):
        for code in context.partition_keys:
            load(code, "attendance")
        return MaterializeResult()

    @asset(key=AssetKey(["bronze", "assessments"]), partitions_def=deliveries_partitions, backfill_policy=single_run)
    def assessments(context):
        for code in context.partition_keys:
            load(code, "assessments")
        return MaterializeResult()

    return [attendance, assessments]


def run_partition(settings, instance, code, **kwargs):
    return materialize(
        [*bronze_assets(settings), *reconciliation_checks],
        resources=eduwh_resources(settings),
        instance=instance,
        partition_key=code,
        raise_on_error=False,
        **kwargs,
    )


def test_reconciliation_per_delivery_partition(tmp_path):
    settings = make_settings(tmp_path)
    write_landing(tmp_path / "data" / "landing")
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("deliveries", ["D1", "D2"])

    good = run_partition(settings, instance, "D1")
    assert good.success
    evaluations = {(e.asset_key.to_user_string(), e.partition): e for e in good.get_asset_check_evaluations()}
    assert sorted(evaluations) == [("bronze/assessments", "D1"), ("bronze/attendance", "D1")]
    assert all(e.passed for e in evaluations.values())
    assert evaluations[("bronze/attendance", "D1")].description == (
        "1 attendance file(s) in 1 delivery(ies) match their manifests"
    )

    bad = run_partition(settings, instance, "D2")
    evaluations = {(e.asset_key.to_user_string(), e.partition): e for e in bad.get_asset_check_evaluations()}
    assessments, attendance = evaluations[("bronze/assessments", "D2")], evaluations[("bronze/attendance", "D2")]
    assert assessments.passed is True
    assert attendance.passed is False
    assert attendance.description == (
        "D2/attendance_a.csv: manifest 4 rows, received 3 rows; "
        "D2/attendance_b.csv: manifest 2 rows, received 0 rows"
    )
    assert attendance.metadata["mismatches"].value == [
        {"delivery_code": "D2", "file": "attendance_a.csv", "manifest_rows": 4, "received_rows": 3},
        {"delivery_code": "D2", "file": "attendance_b.csv", "manifest_rows": 2, "received_rows": 0},
    ]
    assert attendance.metadata["files_checked"].value == 2
    assert attendance.metadata["mismatched_files"].value == 2
    # Not blocking: bronze has no downstream in this run, and a mismatch is for people to chase.
    assert attendance.blocking is False


def test_reconciliation_without_partition_checks_every_delivery(tmp_path):
    settings = make_settings(tmp_path)
    write_landing(tmp_path / "data" / "landing")
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse)) as conn:
        conn.execute("CREATE SCHEMA bronze")
        conn.execute("CREATE TABLE bronze.assessments (delivery_code VARCHAR, _source_file VARCHAR, _source_row BIGINT)")
        conn.execute(
            "INSERT INTO bronze.assessments VALUES ('D1', 'assessments.json', 1), ('D1', 'assessments.json', 2), "
            "('D1', 'assessments_extra.json', 1), ('D2', 'assessments.jsonl', 1)"
        )
    result = run_reconciliation(settings, Warehouse.from_settings(settings), "assessments", None)
    assert result.passed is False
    assert result.description == "D1/assessments_extra.json: not in the manifest, received 1 rows"
    assert result.metadata["deliveries"].value == ["D1", "D2"]
    assert result.metadata["files_checked"].value == 3


def test_a_range_run_records_each_deliverys_verdict_on_its_partition(tmp_path):
    settings = make_settings(tmp_path)
    write_landing(tmp_path / "data" / "landing")
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("deliveries", ["D1", "D2"])
    # A range run, tagged as `eduwh run` and single-run backfills tag it.
    result = run_partition(settings, instance, None, tags=range_tags("D1", "D2"))
    by_partition = {
        (e.asset_key.to_user_string(), e.partition): e.passed
        for e in result.get_asset_check_evaluations()
        if e.check_name == "manifest_reconciliation"
    }
    # D2's attendance files fall short of its manifest (see write_landing); everything else matches.
    assert by_partition == {
        ("bronze/attendance", "D1"): True, ("bronze/attendance", "D2"): False,
        ("bronze/assessments", "D1"): True, ("bronze/assessments", "D2"): True,
        # ...and the run's verdict over both, which Dagster keeps against no partition.
        ("bronze/attendance", None): False, ("bronze/assessments", None): True,
    }
