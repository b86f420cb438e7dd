"""How dbt nodes become eduwh assets: keys and groups follow the warehouse layers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import AssetCheckSpec, AssetKey, AssetSpec
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtProject

from eduwh_assets.quality.describe import check_description

# Source tables are loaded by the bronze assets of eduwh_assets/bronze.
BRONZE_PREFIX = "bronze"

# What a generic dbt test checks, when its YAML gives no description: filled from its arguments.
_WHAT_BY_TEST = {
    "not_null": "{column} is never NULL in {table}.",
    "unique": "no two rows of {table} share a {column}.",
    "unique_combination_of_columns": "no two rows of {table} share a ({columns}).",
    "accepted_values": "{column} of {table} holds only the codes that dbt_project.yml's vars allow.",
    "relationships": "every {column} of {table} is a {field} of {to}.",
    "expression_is_true": "every row of {table} satisfies `{expression}`.",
    "row_count_matches": "{table} has exactly as many rows as {compare_model}.",
}

# How to resolve a failure, by the kind of test.
_INTEGRITY = (
    "bad input is quarantined before silver, so a failure here means the build itself is wrong. "
    "Rebuild everything with `eduwh run --full-refresh`; if the test still fails, report it with its "
    "failing rows (the run's dbt log shows the test's SQL)."
)
_RESOLVE_BY_TEST = {
    "relationships": (
        "a key points at a row its dimension lacks. Run `eduwh run` so the SIS sync and the build catch up; "
        "if the key is still missing, the SIS deleted a row that facts still name: restore it there, then "
        "`eduwh run --full-refresh`."
    ),
    "accepted_values": (
        "a code outside the vars reached this table, so a model and dbt_project.yml's vars disagree: "
        "make them agree, then `eduwh run --full-refresh`."
    ),
}


class EduwhDbtTranslator(DagsterDbtTranslator):
    """`<schema>/<model>` keys (silver, gold, quarantine) and `bronze/<table>` for sources.

    Keying models by their DuckDB schema makes an asset key name the table it
    materialises, and keying sources like the dlt assets joins the two graphs.
    Groups are the layers: bronze (sources), silver, quarantine, gold.
    Each model links to its SQL file (code references), and its description
    is dbt's alone, without the raw SQL dagster-dbt appends by default.
    """

    def __init__(self):
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_code_references=True))

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        return dbt_resource_props.get("description") or (
            f"dbt {dbt_resource_props['resource_type']} {dbt_resource_props['name']}"
        )

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            meta_key = (dbt_resource_props.get("meta") or {}).get("dagster", {}).get("asset_key")
            return AssetKey(meta_key or [BRONZE_PREFIX, dbt_resource_props["name"]])
        schema = dbt_resource_props["config"].get("schema") or dbt_resource_props["schema"]
        return AssetKey([schema, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        # The group is the layer, i.e. the key's prefix. Staging views sit in
        # silver with the star schema they feed, so a job that selects the
        # silver group always builds the views its tables read.
        return self.get_asset_key(dbt_resource_props).path[0]

    def get_asset_check_spec(
        self,
        asset_spec: AssetSpec,
        manifest: Mapping[str, Any],
        unique_id: str,
        project: DbtProject | None,
    ) -> AssetCheckSpec | None:
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None:
            return None
        return spec._replace(description=dbt_test_description(manifest["nodes"][unique_id], asset_spec.key, spec.blocking))


def dbt_test_description(test: Mapping[str, Any], asset_key: AssetKey, blocking: bool) -> str:
    """A dbt test's check description in three parts: its YAML description (or one made from its
    arguments), why a failure matters, and what to do about it."""
    metadata = test.get("test_metadata") or {}
    kind = metadata.get("name")
    table = ".".join(asset_key.path)
    if test.get("description"):
        what = test["description"]
    else:
        kwargs = dict(metadata.get("kwargs") or {})
        if isinstance(kwargs.get("columns"), list):
            kwargs["columns"] = ", ".join(kwargs["columns"])
        kwargs.setdefault("column", test.get("column_name") or kwargs.get("column_name"))
        what = _WHAT_BY_TEST.get(kind, "the dbt test {name} passes on {table}.").format_map(
            {"name": test["name"], "table": table, **kwargs}
        )
    if str((test.get("config") or {}).get("where") or "").startswith("__touched_"):  # macros/changes.sql
        what += " An incremental build judges the rows it changed; a full build, every row."
    when = (
        f"{table} feeds what is built after it, so a failure blocks those assets in this run."
        if blocking
        else "it warns only: nothing downstream waits for it."
    )
    return check_description(what, when, _RESOLVE_BY_TEST.get(kind, _INTEGRITY))
