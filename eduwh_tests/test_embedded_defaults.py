"""A fresh clone's defaults: the embedded SIS seeds itself on first use; an external SIS is never written."""

from __future__ import annotations

import sqlalchemy as sa
from dagster import materialize

from eduwh_assets.bootstrap import ensure_sample_data, sample_dataset, sis_url
from eduwh_assets.bronze.sis import sis_assets
from eduwh_tests.conftest import eduwh_resources, make_settings


def sis_counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        counts = {t: conn.execute(sa.text(f"select count(*) from sis.{t}")).scalar() for t in ("programmes", "classes", "students")}
    engine.dispose()
    return counts


def test_embedded_sis_is_seeded_on_first_use_by_the_bronze_asset(tmp_path):
    settings = make_settings(tmp_path)  # no EDUWH_SIS_URL: the embedded server under data/sis
    result = materialize([sis_assets], resources=eduwh_resources(settings))
    assert result.success
    dataset = sample_dataset()
    expected = {
        "programmes": len(dataset.programmes),
        "classes": len(dataset.classes),
        "students": len(dataset.sis_students()),  # the late students arrive later
    }
    assert sis_counts(sis_url(settings)) == expected
    materialized = [event.materialization for event in result.get_asset_materialization_events()]
    loaded = {m.asset_key.path[-1]: m.metadata["dagster/row_count"].value for m in materialized}
    assert loaded == {f"sis_{t}": n for t, n in expected.items()}


def test_an_external_sis_and_a_chosen_landing_zone_are_never_written(tmp_path, fresh_pg_url):
    landing = tmp_path / "my_landing"
    settings = make_settings(tmp_path, EDUWH_SIS_URL=fresh_pg_url, EDUWH_LANDING=str(landing))
    assert ensure_sample_data(settings) == []
    engine = sa.create_engine(fresh_pg_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from information_schema.schemata where schema_name = 'sis'")).scalar() == 0
    engine.dispose()
    assert not landing.exists()
