"""The ledger: which version of which delivered file bronze holds.

It is the file fingerprints the delivery resources keep in their dlt resource
state. dlt stores that state inside the warehouse (`bronze._dlt_pipeline_state`)
in the same load as the rows, and counts it only once the whole load has
completed (`bronze._dlt_loads.status = 0`). So the ledger and bronze cannot
disagree: delete the warehouse and the ledger is empty, restore an older copy
and the ledger is that copy's. Everything that decides what is pending reads it
here; nothing else (the Dagster instance, run tags, sensor cursors) is a record
of what was loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
from dlt.common.versioned_state import decompress_state

from eduwh_assets.bronze.pipelines import BRONZE_DATASET
from eduwh_assets.rules import SOURCES
from eduwh_assets.sources.landing import Delivery
from eduwh_assets.warehouse import Warehouse

# Where each source's fingerprints sit in its pipeline's state (see delivery_resource.py).
FINGERPRINTS = "fingerprints"

# {delivery_code: {file name: fingerprint}}
Held = dict[str, dict[str, str]]
# What bronze holds is asked often (each sensor tick): a writer is waited for only briefly.
LEDGER_WAIT_SECONDS = 30.0


def pipeline_name(source: str) -> str:
    return f"eduwh_bronze_{source}"


def schema_name(source: str) -> str:
    return f"eduwh_{source}"


def fingerprints_in(state: dict, source: str) -> Held:
    """The fingerprints inside a pipeline state dict (dlt's `pipeline.state`, or one read from the warehouse)."""
    resources = state.get("sources", {}).get(schema_name(source), {}).get("resources", {})
    return resources.get(source, {}).get(FINGERPRINTS, {})


def held_files(con: duckdb.DuckDBPyConnection, source: str) -> Held:
    """What bronze holds of `source`, from the last completed load's state; {} on a new warehouse."""
    tables = {
        name
        for (name,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [BRONZE_DATASET]
        ).fetchall()
    }
    if not {"_dlt_pipeline_state", "_dlt_loads"} <= tables:
        return {}
    row = con.execute(
        f'SELECT s.state FROM "{BRONZE_DATASET}"._dlt_pipeline_state AS s '
        f'JOIN "{BRONZE_DATASET}"._dlt_loads AS l ON l.load_id = s._dlt_load_id '
        "WHERE s.pipeline_name = ? AND l.status = 0 ORDER BY l.load_id DESC LIMIT 1",
        [pipeline_name(source)],
    ).fetchone()
    return fingerprints_in(decompress_state(row[0]), source) if row else {}


def bronze_version(warehouse: Warehouse, *, wait_seconds: float = LEDGER_WAIT_SECONDS) -> str | None:
    """The id of the last completed dlt load into bronze, None before the first.

    Every change to bronze (rows merged, files replaced or retracted, SIS rows updated) is
    a dlt load, and a sync that finds nothing new makes none, so two equal versions mean
    bronze has not changed in between.
    """
    if not warehouse.path.exists():
        return None
    with warehouse.read_only_connection(wait_seconds) as con:
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = '_dlt_loads'",
            [BRONZE_DATASET],
        ).fetchone()[0]
        if not exists:
            return None
        return con.execute(f'SELECT max(load_id) FROM "{BRONZE_DATASET}"._dlt_loads WHERE status = 0').fetchone()[0]


@dataclass
class Ledger:
    """What bronze holds, per source, and what that means for the deliveries in the landing zone."""

    held: dict[str, Held] = field(default_factory=dict)

    @classmethod
    def read(cls, warehouse: Warehouse, *, wait_seconds: float = LEDGER_WAIT_SECONDS) -> "Ledger":
        """The ledger of `warehouse`, empty when there is none yet.

        A writer in another process holds DuckDB's lock only for one step; this waits for
        it up to `wait_seconds`, then raises WarehouseBusy naming the process.
        """
        if not warehouse.path.exists():
            return cls({source: {} for source in SOURCES})
        with warehouse.read_only_connection(wait_seconds) as con:
            return cls({source: held_files(con, source) for source in SOURCES})

    def delivery_codes(self) -> set[str]:
        return {code for held in self.held.values() for code, files in held.items() if files}

    def changes(self, delivery: Delivery) -> list[str]:
        """What loading `delivery` would change in bronze, one line per file; [] when it is loaded as is."""
        out: list[str] = []
        for source in SOURCES:
            held = self.held.get(source, {}).get(delivery.code, {})
            present = {f.name: f.fingerprint for f in delivery.files_for(source)}
            out += [f"{name}: new" for name in sorted(present.keys() - held.keys())]
            out += [f"{name}: changed" for name in sorted(present.keys() & held.keys()) if present[name] != held[name]]
            out += [f"{name}: retracted" for name in sorted(held.keys() - present.keys())]
        return out

    def pending(self, deliveries: list[Delivery]) -> list[Delivery]:
        """Deliveries whose files bronze does not hold as they are now (new, changed or retracted files)."""
        return [d for d in deliveries if self.changes(d)]

    def vanished(self, codes_in_landing: set[str]) -> list[str]:
        """Deliveries bronze holds whose folder is no longer in the landing zone (their rows stay)."""
        return sorted(self.delivery_codes() - codes_in_landing)
