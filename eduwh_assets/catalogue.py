"""What every asset tells the catalogue besides its data: owners, source code, freshness, schema drift.

Applied once, to the merged code location (`definitions.py`), so no layer can
forget it and no decorator repeats it.
"""

from __future__ import annotations

from datetime import timedelta

from dagster import AssetKey, AssetSpec, FreshnessPolicy, build_column_schema_change_checks

# Who answers for the warehouse's tables. A Dagster owner is an e-mail address or `team:<name>`.
OWNERS = ["team:eduwh-data"]

# Gold feeds the dashboards people open in the morning; deliveries land daily and the
# nightly schedule refreshes gold after them. A day and a bit without a refresh is worth a
# look; two days means a night's run did not happen or failed.
GOLD_FRESHNESS = FreshnessPolicy.time_window(fail_window=timedelta(hours=48), warn_window=timedelta(hours=26))


def catalogued(spec: AssetSpec) -> AssetSpec:
    """`spec` with the project's owners, and gold's freshness policy when it is a gold table."""
    spec = spec.replace_attributes(owners=OWNERS)
    if spec.group_name == "gold":
        spec = spec.replace_attributes(freshness_policy=GOLD_FRESHNESS)
    return spec


def schema_change_checks(asset_keys: list[AssetKey]):
    """One check per table that warns when its columns or their types differ from its previous materialisation.

    A column that appears, disappears or changes type upstream breaks whatever reads the
    table by name, quietly; the check makes the change visible on the asset it happened to.
    """
    return build_column_schema_change_checks(assets=asset_keys)
