"""A range of deliveries -> bronze.attendance (CSV) or bronze.assessments (JSON / JSON Lines), in one dlt run.

One Dagster partition is one delivery. A file is the unit of loading:

- it is parsed and validated whole (in bounded blocks, through the landing zone's
  fsspec filesystem, so local and az:// share this code; see readers/) before
  any row is handed to dlt, so a broken file is never half-loaded and does not
  stop the delivery's other files;
- its rows are merged on (delivery_code, _source_file) with delete-insert, so a
  re-delivered file replaces the rows it had;
- its fingerprint (size and version) goes into dlt resource state once it is
  extracted, and that state is committed in the same load as its rows, so an
  unchanged file that is already loaded is never read again.

Values are kept as text exactly as received; judging them is silver's job.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dlt
import duckdb
from dlt.pipeline.exceptions import PipelineStepFailed

from eduwh_assets.bronze.contract import ensure_bronze_tables
from eduwh_assets.bronze.delivery_resource import FileOutcomes, delivery_resource
from eduwh_assets.bronze.ledger import fingerprints_in, pipeline_name, schema_name
from eduwh_assets.bronze.metadata import table_metadata
from eduwh_assets.bronze.pipelines import (
    BRONZE_DATASET,
    bronze_pipeline,
    table_exists,
)
from eduwh_assets.config import Settings
from eduwh_assets.sources.landing import MANIFEST_NAME, Delivery, LandingZone, LandingZoneError
from eduwh_assets.warehouse import Warehouse


class DeliveryNotReady(RuntimeError):
    """The partition's delivery has no manifest (or no folder) in the landing zone."""


@dataclass
class DeliveryLoad:
    delivery_code: str
    source: str
    rows_loaded: int
    outcomes: FileOutcomes
    merged: bool  # False when the run's files took the append path


@dataclass
class RangeLoad:
    """One dlt load of the `source` files of a run's deliveries, and what bronze holds afterwards."""

    source: str
    deliveries: list[DeliveryLoad]
    # per delivery code: dagster/row_count, dagster/column_schema and a preview of that delivery's rows
    table_metadata: dict[str, dict[str, Any]]
    # wall seconds per phase, so a slow run shows where its time went
    seconds: dict[str, float]


def pending_files(deliveries: list[Delivery], source: str, known: dict[str, dict[str, str]]) -> list[tuple[str, str]]:
    """(delivery_code, file name) of each `source` file that is new or changed since it was loaded."""
    return [
        (delivery.code, file.name)
        for delivery in deliveries
        for file in delivery.files_for(source)
        if known.get(delivery.code, {}).get(file.name) != file.fingerprint
    ]


def files_have_rows(con: duckdb.DuckDBPyConnection, table: str, files: list[tuple[str, str]]) -> bool:
    """Whether bronze already holds a row of any of `files` (so loading them must replace rows)."""
    if not files or not table_exists(con, table):
        return False
    codes = sorted({code for code, _ in files})
    # Neither a delivery code nor a file name can contain "/", so "code/file" names a file uniquely.
    # The delivery_code filter comes first so DuckDB can skip row groups of other deliveries.
    return bool(
        con.execute(
            f'SELECT EXISTS (SELECT 1 FROM "{BRONZE_DATASET}"."{table}" '
            "WHERE list_contains(?, delivery_code) AND list_contains(?, delivery_code || '/' || _source_file))",
            [codes, [f"{code}/{name}" for code, name in files]],
        ).fetchone()[0]
    )


def _delete_files(con: duckdb.DuckDBPyConnection, table: str, code: str, file_names: list[str]) -> None:
    if table_exists(con, table):
        con.execute(
            f'DELETE FROM "{BRONZE_DATASET}"."{table}" WHERE delivery_code = ? AND list_contains(?, _source_file)',
            [code, file_names],
        )


def open_delivery(settings: Settings, code: str) -> tuple[LandingZone, Delivery]:
    """The landing zone and the complete delivery `code`; raises when it is unreachable or incomplete."""
    zone = LandingZone.from_settings(settings)
    delivery = zone.delivery(code)
    if delivery is None:
        raise DeliveryNotReady(
            f"delivery {code!r} has no {MANIFEST_NAME} in landing zone {zone.url}: it is missing or still "
            "incomplete, and only complete deliveries are ingested"
        )
    return zone, delivery


def load_deliveries(
    settings: Settings,
    warehouse: Warehouse,
    codes: list[str],
    source: str,
    progress: Callable[[str], None] = lambda text: None,
) -> RangeLoad:
    """Load the `source` files ('attendance' or 'assessments') of deliveries `codes` into bronze.

    One dlt run (one extract, normalize and load) covers them all, so a range of
    deliveries pays the pipeline's fixed cost once. Files that fail are listed in
    each delivery's outcomes; the others are committed.
    Raises LandingZoneError, ManifestError or DeliveryNotReady before anything is written.
    """
    clock = time.perf_counter()
    seconds: dict[str, float] = {}

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[phase] = round(now - clock, 3)
        clock = now

    opened = [open_delivery(settings, code) for code in codes]
    zone = opened[0][0]
    deliveries = [delivery for _, delivery in opened]
    outcomes = {code: FileOutcomes() for code in codes}
    lap("open_deliveries")
    # One connection for the whole load: dlt's state restore, its load and our own queries
    # all run on it, rather than each opening (and checkpointing) the database file again.
    with warehouse.get_connection() as con, bronze_pipeline(pipeline_name(source), con) as pipeline:
        # The file fingerprints live in the warehouse's dlt state; the working folder is fresh.
        pipeline.sync_destination()
        # Delete-insert is needed only when a file about to be loaded already has rows
        # (re-delivered, or left behind by a crashed attempt: the retry then replaces them).
        # Otherwise no row can share a merge key with what is loaded, so a plain append
        # gives the same result without copying every row through a staging table.
        merge = files_have_rows(con, source, pending_files(deliveries, source, fingerprints_in(pipeline.state, source)))
        lap("restore_state")
        resource = delivery_resource(zone, deliveries, source, outcomes, merge=merge, progress=progress)
        try:
            pipeline.extract(resource, schema=dlt.Schema(schema_name(source)))
        except PipelineStepFailed as exc:
            if isinstance(exc.exception, LandingZoneError):
                raise exc.exception from None  # the zone went away mid-read: nothing is loaded
            raise
        lap("read_and_extract")
        for code, seen in outcomes.items():
            if seen.rows_to_delete:
                # A file re-delivered empty, or retracted, yields no rows for delete-insert to key
                # on. Deleting before the load is safe: if the load fails, the ledger is not
                # committed, so the next run finds the same files pending and does the same.
                _delete_files(con, source, code, seen.rows_to_delete)
        progress(f"normalizing {sum(len(seen.loaded) for seen in outcomes.values())} file(s)")
        pipeline.normalize()
        lap("normalize")
        progress(f"loading into bronze.{source}")
        pipeline.load()
        # A source with no rows yet gets no table from dlt; dbt and the checks still need it.
        ensure_bronze_tables(con, [source])
        lap("load")
        metadata = {
            code: table_metadata(
                con, source, order_by=["_source_file", "_source_row"], where="delivery_code = ?", params=[code]
            )
            for code in codes
        }
        lap("metadata")
    results = [
        DeliveryLoad(delivery_code=code, source=source, rows_loaded=sum(seen.loaded.values()), outcomes=seen, merged=merge)
        for code, seen in outcomes.items()
    ]
    return RangeLoad(source=source, deliveries=results, table_metadata=metadata, seconds=seconds)

