"""What every asset tells the catalogue besides its data: owners, source code, freshness, schema drift.

Applied once, to the merged code location (`definitions.py`), so no layer can
forget it and no decorator repeats it.
"""

from datetime import timedelta

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetChecksDefinition,
    AssetCheckSpec,
    AssetKey,
    AssetSpec,
    FreshnessPolicy,
    TableSchema,
    multi_asset_check,
)

from eduwh_assets.quality.describe import check_description

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


SCHEMA_CHANGE_CHECK = "column_schema_change"


def column_schema(metadata) -> TableSchema | None:
    entry = metadata.get("dagster/column_schema")
    return entry.value if entry is not None else None


def schema_change(previous: TableSchema, latest: TableSchema) -> list[str]:
    """What changed between two column schemas, a line per column: added, removed, or a new type."""
    before = {c.name: c.type for c in previous.columns}
    after = {c.name: c.type for c in latest.columns}
    return (
        [f"added {name} ({after[name]})" for name in after if name not in before]
        + [f"removed {name} ({before[name]})" for name in before if name not in after]
        + [f"{name}: {before[name]} -> {after[name]}" for name in after if name in before and before[name] != after[name]]
    )


def schema_change_checks(asset_keys: list[AssetKey]) -> AssetChecksDefinition:
    """One check per table that warns when its columns or their types differ from its previous materialisation.

    It compares the `dagster/column_schema` of the table's two latest materialisations
    (any partitions), which every eduwh asset records from the warehouse itself.
    """

    @multi_asset_check(
        name="column_schema_change_checks",
        specs=[
            AssetCheckSpec(
                SCHEMA_CHANGE_CHECK,
                asset=key,
                description=check_description(
                    "the table's columns and their types are those of its previous materialisation.",
                    "a column that appears, disappears or changes type upstream quietly breaks whatever reads "
                    "the table by name: dashboards, exports, the next layer. It warns, never blocks.",
                    "if the change was meant (a new SIS column, an eduwh upgrade), tell the table's readers; the "
                    "check passes again with the next materialisation. If not, find the source or model that "
                    "changed in the named columns and restore it.",
                ),
            )
            for key in asset_keys
        ],
        can_subset=True,
        # It reads the Dagster instance, not the warehouse, so it takes no warehouse slot.
    )
    def _checks(context: AssetCheckExecutionContext):
        for check_key in context.selected_asset_check_keys:
            records = context.instance.fetch_materializations(check_key.asset_key, limit=2).records
            schemas = [column_schema(r.asset_materialization.metadata) for r in records]
            if len(schemas) < 2 or None in schemas:
                passed, description = True, "no earlier materialisation with columns to compare with"
            else:
                changes = schema_change(schemas[1], schemas[0])
                passed = not changes
                description = "; ".join(changes) if changes else f"the same {len(schemas[0].columns)} columns as before"
            yield AssetCheckResult(
                asset_key=check_key.asset_key,
                check_name=check_key.name,
                passed=passed,
                severity=AssetCheckSeverity.WARN,
                description=description,
            )

    return _checks
