"""How dbt nodes become eduwh assets: keys and groups follow the warehouse layers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import AssetKey
from dagster_dbt import DagsterDbtTranslator

# Source tables are loaded by the bronze assets of eduwh_assets/bronze.
BRONZE_PREFIX = "bronze"


class EduwhDbtTranslator(DagsterDbtTranslator):
    """`<schema>/<model>` keys (silver, gold, quarantine) and `bronze/<table>` for sources.

    Keying models by their DuckDB schema makes an asset key name the table it
    materialises, and keying sources like the dlt assets joins the two graphs.
    Groups are the layers: bronze (sources), silver, quarantine, gold.
    """

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
