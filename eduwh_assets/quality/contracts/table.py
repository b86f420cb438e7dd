"""A table's contract: its Pandera schema plus the foreign keys Pandera cannot express."""

from __future__ import annotations

from dataclasses import dataclass

import pandera.pandas as pa
from dagster import AssetKey


@dataclass(frozen=True)
class ForeignKey:
    column: str
    ref_table: str
    ref_column: str

    @property
    def rule(self) -> str:
        return f"{self.column}:foreign_key({self.ref_table}.{self.ref_column})"


@dataclass(frozen=True)
class TableContract:
    table: str  # "<schema>.<name>" in the warehouse
    schema: pa.DataFrameSchema
    foreign_keys: tuple[ForeignKey, ...] = ()

    @property
    def layer(self) -> str:
        return self.table.split(".", 1)[0]

    @property
    def asset_key(self) -> AssetKey:
        return AssetKey(self.table.split(".", 1))

    @property
    def unique_columns(self) -> list[str]:
        """Columns that are keys on their own (Column(unique=True))."""
        return [name for name, col in self.schema.columns.items() if col.unique]

    @property
    def compound_key(self) -> list[str] | None:
        """The compound key (DataFrameSchema(unique=[...])), if the table has one."""
        unique = self.schema.unique
        return list(unique) if unique else None


def unique_rule(columns: list[str]) -> str:
    """The rule name a uniqueness violation is reported under, for one column or a compound key."""
    if len(columns) == 1:
        return f"{columns[0]}:field_uniqueness"
    return f"unique({', '.join(columns)})"
