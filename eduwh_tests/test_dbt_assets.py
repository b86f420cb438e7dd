"""How eduwh_dbt appears in Dagster: keys, groups, lineage, checks, pool, and the dbt helpers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

from dagster import AssetKey

from eduwh_assets.config import PROJECT_ROOT, WAREHOUSE_POOL, Settings
from eduwh_assets.transform.assets import dbt_layer_assets, gold_dbt_assets, silver_dbt_assets
from eduwh_assets.transform.project import PREPARE_COMMAND, dbt_build_args, dbt_env, warehouse_env

SILVER = [
    "stg_sis__programmes", "stg_sis__classes", "stg_sis__students",
    "stg_deliveries__attendance", "stg_deliveries__assessments",
    "dim_programme", "dim_class", "dim_student", "dim_date",
    "attendance_outcomes", "assessment_outcomes", "fact_attendance", "fact_assessment",
    # What changed since the last complete build (docs/architecture.md, "Incremental builds").
    "changed_files", "changed_students", "changed_classes", "changed_attendance", "changed_assessments",
    "absence_bands",  # the seed of absence band limits
]
GOLD = [
    "student_performance_summary", "class_daily_performance", "student_risk_features", "delivery_quality",
    "student_absence", "programme_attendance",
]
QUARANTINE = ["attendance_rejects", "assessment_rejects"]
BRONZE = ["sis_programmes", "sis_classes", "sis_students", "attendance", "assessments"]


def key(*path: str) -> AssetKey:
    return AssetKey(list(path))


def test_keys_and_groups_follow_the_layers():
    expected = (
        {key("silver", m): "silver" for m in SILVER}
        | {key("gold", m): "gold" for m in GOLD}
        | {key("quarantine", m): "quarantine" for m in QUARANTINE}
    )
    groups = {}
    for layer in dbt_layer_assets:
        groups |= layer.group_names_by_key
        for spec in layer.specs:
            assert spec.kinds == {"dbt", "duckdb"}
    assert groups == expected


def test_gold_builds_in_its_own_step_after_silver():
    # The blocking Pandera checks on silver run between the two steps.
    assert set(gold_dbt_assets.keys) == {key("gold", m) for m in GOLD}
    assert set(silver_dbt_assets.keys) == {key("silver", m) for m in SILVER} | {key("quarantine", m) for m in QUARANTINE}


def test_sources_are_the_bronze_assets_so_lineage_has_no_gap():
    specs = {spec.key: spec for layer in dbt_layer_assets for spec in layer.specs}
    deps = {dep.asset_key for spec in specs.values() for dep in spec.deps}
    external = deps - set(specs)
    assert external == {key("bronze", table) for table in BRONZE}
    staging = specs[key("silver", "stg_deliveries__attendance")]
    assert {dep.asset_key for dep in staging.deps} == {key("bronze", "attendance")}
    summary = specs[key("gold", "student_performance_summary")]
    assert {dep.asset_key for dep in summary.deps} == {
        key("silver", "dim_student"), key("silver", "dim_class"),
        key("silver", "fact_attendance"), key("silver", "fact_assessment"),
        key("silver", "changed_students"), key("silver", "changed_classes"),
        key("silver", "changed_attendance"), key("silver", "changed_assessments"),
    }


def test_warehouse_pool_and_no_partitions():
    for layer in dbt_layer_assets:
        assert layer.op.pool == WAREHOUSE_POOL
        assert layer.partitions_def is None


def test_dbt_tests_are_checks_blocking_unless_warn():
    checks = {spec.name: spec for layer in dbt_layer_assets for spec in layer.check_specs}
    assert checks["unique_fact_attendance_attendance_id"].blocking
    assert checks["delivery_quality_reconciles_with_bronze"].asset_key == key("gold", "delivery_quality")
    # Only the SIS cross-references are warnings: a SIS inconsistency is reported, not fatal.
    assert {name for name, spec in checks.items() if not spec.blocking} == {
        "relationships_dim_class_programme_code__programme_code__ref_dim_programme_",
        "relationships_dim_student_class_id__class_id__ref_dim_class_",
        "relationships_class_daily_performance_class_id__class_id__ref_dim_class_",
        "relationships_student_absence_class_id__class_id__ref_dim_class_",
    }


def test_build_args():
    production = ["build", "--indirect-selection", "buildable", "--exclude-resource-type", "unit_test"]
    assert dbt_build_args() == production
    assert dbt_build_args(full_refresh=True) == [*production, "--full-refresh"]


def test_warehouse_env_is_absolute_and_restored(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({"EDUWH_DATA_DIR": str(tmp_path), "EDUWH_WAREHOUSE": "wh/w.duckdb"})
    assert dbt_env(settings) == {
        "EDUWH_WAREHOUSE": str(tmp_path / "wh" / "w.duckdb"),
        "EDUWH_DUCKDB_MEMORY_LIMIT": "1GB",
        "EDUWH_DUCKDB_THREADS": "2",
    }
    monkeypatch.setenv("EDUWH_WAREHOUSE", "before")
    with warehouse_env(settings):
        assert os.environ["EDUWH_WAREHOUSE"] == str(tmp_path / "wh" / "w.duckdb")
        assert (tmp_path / "wh").is_dir()
    assert os.environ["EDUWH_WAREHOUSE"] == "before"
    monkeypatch.delenv("EDUWH_WAREHOUSE")
    with warehouse_env(settings):
        pass
    assert "EDUWH_WAREHOUSE" not in os.environ


def test_missing_manifest_names_the_prepare_command(tmp_path):
    # A copy of the project that was never parsed; the real one is left alone.
    unprepared = tmp_path / "eduwh_dbt"
    unprepared.mkdir()
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy(PROJECT_ROOT / "eduwh_dbt" / name, unprepared / name)
    shutil.copytree(PROJECT_ROOT / "eduwh_dbt" / "seeds", unprepared / "seeds")
    script = textwrap.dedent(
        f"""
        import pathlib
        import eduwh_assets.config
        eduwh_assets.config.DBT_PROJECT_DIR = pathlib.Path({str(unprepared)!r})
        import eduwh_assets.transform
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "manifest" in proc.stderr and PREPARE_COMMAND in proc.stderr



def test_the_manifest_names_the_project_by_its_absolute_path():
    """dbt reuses the install-time parse: a relative project path breaks seed loading at run time."""
    import json
    from pathlib import Path

    from eduwh_assets.transform.project import eduwh_project

    manifest = json.loads(eduwh_project.manifest_path.read_text())
    roots = {node["root_path"] for node in manifest["nodes"].values() if "root_path" in node}
    assert roots == {str(PROJECT_ROOT / "eduwh_dbt")} and Path(roots.pop()).is_absolute()
