"""The change records that let silver, quarantine and gold be maintained incrementally.

dbt keeps the records (models/changes, docs/architecture.md "Incremental
builds"); this module decides when a build must be a full one and empties the
records once every model that reads them has been refreshed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb

from eduwh_assets.transform.project import eduwh_project


@dataclass(frozen=True)
class Relation:
    schema: str
    name: str

    @property
    def sql(self) -> str:
        return f'"{self.schema}"."{self.name}"'


@dataclass(frozen=True)
class IncrementalModels:
    """What the manifest says about the models that are maintained by change."""

    incremental: tuple[Relation, ...]  # tables a build updates in place
    change_records: tuple[Relation, ...]  # models/changes: what changed since the last complete build
    readers: tuple[Relation, ...]  # the models that read the records


@cache
def incremental_models(manifest_path: Path | None = None) -> IncrementalModels:
    manifest = json.loads(Path(manifest_path or eduwh_project.manifest_path).read_text())
    models = {uid: node for uid, node in manifest["nodes"].items() if node["resource_type"] == "model"}
    records = {uid for uid, node in models.items() if node["fqn"][1:2] == ["changes"]}

    def relation(node: dict) -> Relation:
        return Relation(node["schema"], node.get("alias") or node["name"])

    return IncrementalModels(
        incremental=tuple(
            relation(node) for node in models.values() if node["config"].get("materialized") == "incremental"
        ),
        change_records=tuple(relation(models[uid]) for uid in sorted(records)),
        readers=tuple(
            relation(node)
            for uid, node in models.items()
            if uid not in records and records & set(node["depends_on"]["nodes"])
        ),
    )


def _tables(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    return set(con.execute("select table_schema, table_name from information_schema.tables").fetchall())


def missing_tables(con: duckdb.DuckDBPyConnection, schemas: set[str]) -> list[str]:
    """Incremental tables of `schemas` absent from the warehouse: then the layer's build must be a full one.

    An incremental model only applies changes to what it built before; with
    one of its tables gone (a first build, a dropped table) the changes it
    would have applied are unknown, so the layer is rebuilt from its inputs.
    """
    present = _tables(con)
    return [r.sql for r in incremental_models().incremental if r.schema in schemas and (r.schema, r.name) not in present]


def drop_tables(con: duckdb.DuckDBPyConnection, schemas: set[str]) -> None:
    """Drop the incremental tables of `schemas`, so their next build is a full one.

    A full rebuild of silver records no changes for gold to apply, so gold
    must be rebuilt in full after it.
    """
    for r in incremental_models().incremental:
        if r.schema in schemas:
            con.execute(f"drop table if exists {r.sql}")


def clear_change_records(con: duckdb.DuckDBPyConnection) -> None:
    """Every reader of the change records is up to date: the next build starts with nothing pending."""
    present = _tables(con)
    con.execute("begin")
    for record in incremental_models().change_records:
        if (record.schema, record.name) in present:
            con.execute(f"delete from {record.sql}")
    con.execute("commit")
