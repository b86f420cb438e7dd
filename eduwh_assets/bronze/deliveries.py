"""Delivery files -> bronze.attendance (CSV) and bronze.assessments (JSON / JSON Lines).

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
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from collections.abc import Callable
from typing import Any

import dlt
import duckdb
import numpy as np
import pyarrow as pa
from dagster import (
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    Failure,
    MaterializeResult,
    MetadataValue,
    ResourceParam,
    asset,
)
from dlt.pipeline.exceptions import PipelineStepFailed

from eduwh_assets.bronze.contract import ensure_bronze_tables
from eduwh_assets.bronze.ledger import FINGERPRINTS, fingerprints_in, pipeline_name, schema_name
from eduwh_assets.bronze.metadata import table_metadata
from eduwh_assets.bronze.pipelines import (
    BRONZE_DATASET,
    bronze_pipeline,
    table_exists,
)
from eduwh_assets.bronze.readers import read_delivered_file
from eduwh_assets.bronze.readers.columns import VALUE_COLUMNS
from eduwh_assets.bronze.readers.file_input import FileRejected
from eduwh_assets.config import WAREHOUSE_POOL, Settings
from eduwh_assets.console import PROGRESS
from eduwh_assets.partitions import deliveries_partitions
from eduwh_assets.sources.assets import landing_source_key
from eduwh_assets.sources.landing import (
    MANIFEST_NAME,
    Delivery,
    LandingZone,
    LandingZoneError,
    ManifestError,
)
from eduwh_assets.warehouse import Warehouse

LINEAGE_COLUMNS = ("delivery_code", "_source_file", "_source_row", "_ingested_at")
MERGE_KEY = ["delivery_code", "_source_file"]


class DeliveryNotReady(RuntimeError):
    """The partition's delivery has no manifest (or no folder) in the landing zone."""


# --- lineage and the dlt resource ---------------------------------------------------------------


def _constant_text(value: str, n: int) -> pa.Array:
    """`n` copies of `value` as one Arrow string array, built from buffers (pa.repeat is ~20x slower)."""
    encoded = value.encode("utf-8")
    width = len(encoded)
    if width * n >= 2**31:  # past 32-bit offsets
        offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64) if width else np.zeros(n + 1, np.int64)
        return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(encoded * n))
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32) if width else np.zeros(n + 1, np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(encoded * n))


def _micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime, computed exactly (no float rounding)."""
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def with_lineage(
    values: pa.Table, delivery_code: str, file_name: str, ingested_at: datetime, first_row: int = 1
) -> pa.Table:
    """`values` plus delivery_code, _source_file, _source_row and _ingested_at.

    _source_row is 1-based within the file; `first_row` is that of values' first row, for a
    file handed over in several batches.
    """
    n = values.num_rows
    row_numbers = np.arange(first_row, first_row + n, dtype=np.int64)
    arrays = [
        *values.columns,
        _constant_text(delivery_code, n),
        _constant_text(file_name, n),
        # from_buffers: pa.array(ndarray) pays a one-off ~0.2 s initialisation in each process
        pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(row_numbers)]),
        # Also from buffers: a timezone-aware pa.scalar(datetime) imports pandas on first use (~0.15 s).
        pa.Array.from_buffers(pa.timestamp("us", tz="UTC"), n, [None, pa.py_buffer(np.full(n, _micros(ingested_at), np.int64))]),
    ]
    lineage_fields = [
        pa.field("delivery_code", arrays[-4].type, nullable=False),
        pa.field("_source_file", arrays[-3].type, nullable=False),
        pa.field("_source_row", pa.int64(), nullable=False),
        pa.field("_ingested_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
    # Non-nullable lineage fields match the column hints, so dlt has no hint conflict to warn about.
    schema = pa.schema([*values.schema, *lineage_fields])
    return pa.Table.from_arrays(arrays, schema=schema)


def column_hints(source: str) -> dict[str, dict[str, Any]]:
    """Declared so every column exists with its contract type even when a first file leaves some all-null."""
    hints: dict[str, dict[str, Any]] = {c: {"data_type": "text", "nullable": True} for c in VALUE_COLUMNS[source]}
    hints["delivery_code"] = {"data_type": "text", "nullable": False}
    hints["_source_file"] = {"data_type": "text", "nullable": False}
    hints["_source_row"] = {"data_type": "bigint", "nullable": False}
    hints["_ingested_at"] = {"data_type": "timestamp", "timezone": True, "nullable": False}
    return hints


@dataclass
class FileOutcomes:
    """What happened to each of the delivery's files in one run."""

    loaded: dict[str, int] = field(default_factory=dict)  # file -> rows
    skipped_unchanged: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # file -> reason
    emptied: list[str] = field(default_factory=list)  # re-delivered with no rows: old rows must go
    retracted: list[str] = field(default_factory=list)  # loaded before, no longer in the manifest: rows go

    @property
    def rows_to_delete(self) -> list[str]:
        """Files whose old rows no load will replace, so they are deleted before the load."""
        return self.emptied + self.retracted


# Rows per Arrow table handed to dlt: ~50 MB of attendance, so memory stays bounded at any scale.
BATCH_ROWS = 500_000


def _concat(tables: list[pa.Table]) -> pa.Table:
    # Zero-copy; "default" promotion only matters if one file's lineage text needed 64-bit offsets.
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="default")


def delivery_resource(
    zone: LandingZone,
    deliveries: list[Delivery],
    source: str,
    outcomes: dict[str, FileOutcomes],
    *,
    merge: bool,
    progress: Callable[[str], None] = lambda text: None,
) -> Any:
    """A dlt resource yielding the rows of each new or changed `source` file of each delivery.

    Files are handed to dlt in Arrow tables of about BATCH_ROWS rows: dlt pays a
    few milliseconds per item (schema inference, buffering, a parquet row group),
    which one item per small file multiplies across a range of deliveries. Small
    files share an item; a large one spans several.
    """

    def delivered_files():
        # {delivery_code: {file name: fingerprint}} of every file whose rows are in the table.
        fingerprints = dlt.current.resource_state().setdefault(FINGERPRINTS, {})
        batch: list[pa.Table] = []
        batch_rows = 0
        for delivery in deliveries:
            known = fingerprints.setdefault(delivery.code, {})
            seen = outcomes[delivery.code]
            for file in delivery.files_for(source):
                if known.get(file.name) == file.fingerprint:
                    seen.skipped_unchanged.append(file.name)
                    continue
                progress(f"reading {delivery.code}/{file.name}")
                try:
                    # The whole file is parsed and validated here, before any of its rows is
                    # yielded: a broken file is never half-loaded.
                    parsed = read_delivered_file(source, file.name, partial(zone.open_file, file.path))
                except FileRejected as exc:
                    seen.failed[file.name] = str(exc)
                    continue
                except FileNotFoundError:
                    seen.failed[file.name] = f"{file.name}: disappeared from the landing zone while being read"
                    continue
                with parsed:
                    ingested_at = datetime.now(timezone.utc)
                    first_row = 1
                    for values in parsed.batches():
                        batch.append(with_lineage(values, delivery.code, file.name, ingested_at, first_row))
                        first_row += values.num_rows
                        batch_rows += values.num_rows
                        if batch_rows >= BATCH_ROWS:
                            yield _concat(batch)
                            batch, batch_rows = [], 0
                if not parsed.num_rows and file.name in known:
                    seen.emptied.append(file.name)
                # dlt commits this state in the same load as the rows, and only once the whole
                # extract has succeeded (the last batch is yielded below), so a fingerprint is
                # never stored without its file's rows.
                known[file.name] = file.fingerprint
                seen.loaded[file.name] = parsed.num_rows
            # SPEC §3.2: a delivery is what its latest manifest lists; a file it dropped is retracted.
            listed = {file.name for file in delivery.files_for(source)}
            for name in sorted(set(known) - listed):
                seen.retracted.append(name)
                del known[name]
        if batch:
            yield _concat(batch)

    return dlt.resource(
        delivered_files,
        name=source,
        table_name=source,
        # While bronze holds no row of the files being loaded, no row can share a merge key
        # with them, so a plain append gives the delete-insert result without copying every
        # row through a staging table (the measured difference on 1M-row files). The caller
        # decides from the data itself (`files_have_rows`), so a crashed earlier attempt that
        # left rows behind sends the retry down the merge path, which replaces them.
        write_disposition={"disposition": "merge", "strategy": "delete-insert"} if merge else "append",
        merge_key=MERGE_KEY,
        columns=column_hints(source),
    )


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


# --- Dagster assets ------------------------------------------------------------------------------


def _failure_text(result: DeliveryLoad) -> str:
    failed = result.outcomes.failed
    lines = [f"{len(failed)} {result.source} file(s) of delivery {result.delivery_code} failed to load:"]
    lines += [f"- {reason}" for _, reason in sorted(failed.items())]
    if result.outcomes.loaded:
        lines.append(f"The other {len(result.outcomes.loaded)} file(s) loaded and are committed.")
    return "\n".join(lines)


def _file_outcomes(outcomes: FileOutcomes) -> dict[str, Any]:
    return {
        "loaded": dict(sorted(outcomes.loaded.items())),
        "skipped_unchanged": sorted(outcomes.skipped_unchanged),
        "failed": dict(sorted(outcomes.failed.items())),
        "retracted": sorted(outcomes.retracted),
    }


def per_delivery_table(results: list[DeliveryLoad]) -> str:
    rows = [
        f"| {r.delivery_code} | {r.rows_loaded} | {len(r.outcomes.loaded)} | "
        f"{len(r.outcomes.skipped_unchanged)} | {len(r.outcomes.failed)} | {len(r.outcomes.retracted)} |"
        for r in results
    ]
    header = "| delivery | rows loaded | files loaded | unchanged | failed | retracted |\n|---|---|---|---|---|---|\n"
    return header + "\n".join(rows)


def _materialise(context: AssetExecutionContext, settings: Settings, warehouse: Warehouse, source: str):
    # One partition, or a range of them in one run (a single-run backfill, or `eduwh run`).
    codes = list(context.partition_keys)
    try:
        load = load_deliveries(
            settings, warehouse, codes, source, progress=lambda text: context.log.info(text, extra=PROGRESS)
        )
    except (LandingZoneError, ManifestError, DeliveryNotReady) as exc:
        raise Failure(description=str(exc)) from None
    results = load.deliveries
    # One log message for the run, not one per delivery: each is a write to the event log.
    context.log.info(
        "\n".join(
            f"bronze.{source} <- {r.delivery_code}: {r.rows_loaded} rows from {len(r.outcomes.loaded)} "
            f"file(s); {len(r.outcomes.skipped_unchanged)} unchanged, {len(r.outcomes.failed)} failed"
            + (f", retracted {', '.join(r.outcomes.retracted)}" if r.outcomes.retracted else "")
            for r in results
        )
        + f"\n({'delete-insert' if results[0].merged else 'append'}; seconds {load.seconds})"
    )
    # Each partition's materialisation tells its own delivery's figures, in a range run too;
    # what the run did as a whole is shared by all of them.
    for r in results:
        context.add_asset_metadata(
            {
                **load.table_metadata[r.delivery_code],
                "delivery_code": MetadataValue.text(r.delivery_code),
                "rows_loaded": MetadataValue.int(r.rows_loaded),
                "files_loaded": MetadataValue.int(len(r.outcomes.loaded)),
                "files_skipped_unchanged": MetadataValue.int(len(r.outcomes.skipped_unchanged)),
                "files_failed": MetadataValue.int(len(r.outcomes.failed)),
                "files_retracted": MetadataValue.int(len(r.outcomes.retracted)),
                "files": MetadataValue.json(_file_outcomes(r.outcomes)),
            },
            partition_key=r.delivery_code,
        )
    metadata = {
        "write_disposition": MetadataValue.text("delete-insert" if results[0].merged else "append"),
        "seconds": MetadataValue.json(load.seconds),
    }
    if len(results) > 1:
        metadata["deliveries_in_run"] = MetadataValue.int(len(codes))
        metadata["per_delivery"] = MetadataValue.md(per_delivery_table(results))
    failed = [r for r in results if r.outcomes.failed]
    # Record the materialisation whenever the table changed, even if some files failed,
    # so the UI shows what is now in bronze; then fail the run for the broken files.
    if any(r.outcomes.loaded for r in results) or not failed:
        yield MaterializeResult(metadata=metadata)
    if failed:
        raise Failure(
            description="\n\n".join(_failure_text(r) for r in failed),
            metadata={
                "failed_files": MetadataValue.json(
                    {f"{r.delivery_code}/{name}": reason for r in failed for name, reason in sorted(r.outcomes.failed.items())}
                    if len(results) > 1
                    else dict(sorted(failed[0].outcomes.failed.items()))
                )
            },
        )


@asset(
    key=AssetKey(["bronze", "attendance"]),
    deps=[landing_source_key("attendance")],
    group_name="bronze",
    kinds={"csv", "dlt", "duckdb"},
    partitions_def=deliveries_partitions,
    # A backfill of many deliveries is one run and one dlt load, not one per delivery.
    backfill_policy=BackfillPolicy.single_run(),
    pool=WAREHOUSE_POOL,
    description=(
        "Attendance rows of each delivery's attendance*.csv files, values as received (text), "
        "with delivery_code, _source_file, _source_row, _ingested_at and _dlt_load_id."
    ),
)
def attendance(context: AssetExecutionContext, settings: ResourceParam[Settings], warehouse: Warehouse):
    yield from _materialise(context, settings, warehouse, "attendance")


@asset(
    key=AssetKey(["bronze", "assessments"]),
    deps=[landing_source_key("assessments")],
    group_name="bronze",
    kinds={"json", "dlt", "duckdb"},
    partitions_def=deliveries_partitions,
    # A backfill of many deliveries is one run and one dlt load, not one per delivery.
    backfill_policy=BackfillPolicy.single_run(),
    pool=WAREHOUSE_POOL,
    description=(
        "Assessment objects of each delivery's assessments*.json / *.jsonl files, values as received "
        "(numbers keep their literal text), with the same lineage columns as bronze/attendance."
    ),
)
def assessments(context: AssetExecutionContext, settings: ResourceParam[Settings], warehouse: Warehouse):
    yield from _materialise(context, settings, warehouse, "assessments")
