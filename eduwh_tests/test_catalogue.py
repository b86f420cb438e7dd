"""The catalogue: owners, kinds, code references, sources upstream of bronze, gold's freshness, schema-change checks."""

from datetime import timedelta

import sqlalchemy as sa
from dagster import AssetKey, DagsterInstance, materialize

from eduwh_assets.bronze.sis import sis_assets
from eduwh_assets.catalogue import OWNERS, schema_change_checks
from eduwh_assets.config import WAREHOUSE_POOL
from eduwh_tests.conftest import eduwh_resources, make_settings
from eduwh_tests.test_bronze_sis import seed_sis

GOLD = {
    "class_daily_performance",
    "delivery_quality",
    "programme_attendance",
    "student_absence",
    "student_performance_summary",
    "student_risk_features",
}
SOURCES = {"sis/programmes", "sis/classes", "sis/students", "landing/attendance", "landing/assessments"}


def graph():
    from eduwh_assets.definitions import defs

    return defs.resolve_asset_graph()


def test_every_asset_has_owners_kinds_and_a_description():
    g = graph()
    for key in g.get_all_asset_keys():
        node = g.get(key)
        assert node.owners == OWNERS, key
        assert node.kinds, key
        assert node.description, key


def test_every_built_asset_links_its_code():
    g = graph()
    missing = [
        key.to_user_string()
        for key in g.get_all_asset_keys()
        if g.get(key).is_materializable and "dagster/code_references" not in g.get(key).metadata
    ]
    assert missing == []


def test_the_sources_are_external_assets_upstream_of_bronze():
    g = graph()
    external = {k.to_user_string() for k in g.get_all_asset_keys() if not g.get(k).is_materializable}
    assert external == SOURCES
    upstream = {
        key: {p.to_user_string() for p in g.get(AssetKey.from_user_string(key)).parent_keys}
        for key in ("bronze/sis_programmes", "bronze/sis_classes", "bronze/sis_students", "bronze/attendance", "bronze/assessments")
    }
    assert upstream == {
        "bronze/sis_programmes": {"sis/programmes"},
        "bronze/sis_classes": {"sis/classes"},
        "bronze/sis_students": {"sis/students"},
        "bronze/attendance": {"landing/attendance"},
        "bronze/assessments": {"landing/assessments"},
    }
    # Every asset with no parent is a source: lineage starts where the data does.
    roots = {k.to_user_string() for k in g.get_all_asset_keys() if not g.get(k).parent_keys}
    # The absence bands are a dbt seed, part of the project rather than received.
    assert roots == SOURCES | {"silver/absence_bands"}


def test_gold_has_a_freshness_policy_and_nothing_else_does():
    g = graph()
    with_policy = {k.path[-1]: g.get(k).freshness_policy for k in g.get_all_asset_keys() if g.get(k).freshness_policy}
    assert set(with_policy) == GOLD
    for policy in with_policy.values():
        assert policy.fail_window.to_timedelta() == timedelta(hours=48)
        assert policy.warn_window.to_timedelta() == timedelta(hours=26)


def test_instance_config_enables_freshness():
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parent.parent
    for config in (root / "dagster.yaml", root / "deploy" / "dagster.yaml"):
        assert yaml.safe_load(config.read_text())["freshness"] == {"enabled": True}, config


def test_bronze_and_gold_have_a_schema_change_check():
    g = graph()
    checked = {k.asset_key.to_user_string() for k in g.asset_check_keys if k.name == "column_schema_change"}
    bronze = {"bronze/" + t for t in ("attendance", "assessments", "sis_programmes", "sis_classes", "sis_students")}
    assert checked == bronze | {"gold/" + t for t in GOLD}


def test_a_column_added_in_the_sis_fails_the_schema_change_check(tmp_path, fresh_pg_url):
    """A real SIS grows a column between two syncs: the check on bronze/sis_programmes names it."""
    url = fresh_pg_url
    seed_sis(url)
    settings = make_settings(tmp_path, EDUWH_SIS_URL=url)
    instance = DagsterInstance.ephemeral()
    programmes = AssetKey(["bronze", "sis_programmes"])
    assets = [sis_assets, schema_change_checks([programmes])]
    resources = eduwh_resources(settings)

    def sync():
        result = materialize(assets, resources=resources, instance=instance)
        (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.asset_key == programmes]
        return evaluation

    assert sync().passed  # the first materialisation has nothing to compare with
    assert sync().passed  # same columns
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE sis.programmes ADD COLUMN campus text"))
        conn.execute(sa.text("UPDATE sis.programmes SET campus = 'North', updated_at = now() WHERE programme_code = 'P1'"))
    engine.dispose()
    changed = sync()
    assert not changed.passed
    assert changed.description == "added campus (varchar)"


def test_every_step_that_opens_the_warehouse_queues_on_its_pool():
    """Two steps that open the DuckDB file at once would collide on its lock; the pool keeps them apart."""
    from eduwh_assets.definitions import defs

    repo = defs.get_repository_def()
    steps = {a.node_def.name: a.node_def.pool for a in repo.assets_defs_by_key.values() if a.is_executable}
    steps |= {c.node_def.name: c.node_def.pool for c in repo.asset_checks_defs_by_key.values()}
    # Dagster's schema-change checks compare materialisation metadata in the instance; they never open the file.
    instance_only = {name for name in steps if name.startswith("column_schema_change")}
    assert instance_only == {"column_schema_change_checks"}
    assert len(steps) == 31
    assert {name: pool for name, pool in steps.items() if name not in instance_only and pool != WAREHOUSE_POOL} == {}
