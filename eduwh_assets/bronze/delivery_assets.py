"""The bronze/attendance and bronze/assessments assets: one partition is one delivery.

Both come from `delivery_asset`; they differ only in their source, file format and description.
"""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    BackfillPolicy,
    Failure,
    MaterializeResult,
    MetadataValue,
    ResourceParam,
    asset,
)

from eduwh_assets.bronze.delivery_load import DeliveryNotReady, load_deliveries
from eduwh_assets.bronze.delivery_outcomes import failure_text, file_outcomes_metadata, per_delivery_table
from eduwh_assets.config import Settings
from eduwh_assets.console import PROGRESS
from eduwh_assets.partitions import deliveries_partitions
from eduwh_assets.sources.assets import landing_source_key
from eduwh_assets.sources.landing import LandingZoneError, ManifestError
from eduwh_assets.warehouse import Warehouse, on_warehouse


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
                "files": MetadataValue.json(file_outcomes_metadata(r.outcomes)),
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
            description="\n\n".join(failure_text(r) for r in failed),
            metadata={
                "failed_files": MetadataValue.json(
                    {f"{r.delivery_code}/{name}": reason for r in failed for name, reason in sorted(r.outcomes.failed.items())}
                    if len(results) > 1
                    else dict(sorted(failed[0].outcomes.failed.items()))
                )
            },
        )



def delivery_asset(source: str, *, file_kind: str, description: str) -> AssetsDefinition:
    """The partitioned bronze asset that loads each delivery's `source` files (`file_kind`: csv, json)."""

    @on_warehouse(asset)(
        key=AssetKey(["bronze", source]),
        deps=[landing_source_key(source)],
        group_name="bronze",
        kinds={file_kind, "dlt", "duckdb"},
        partitions_def=deliveries_partitions,
        # A backfill of many deliveries is one run and one dlt load, not one per delivery.
        backfill_policy=BackfillPolicy.single_run(),
        description=description,
    )
    def load_delivered_files(context: AssetExecutionContext, settings: ResourceParam[Settings], warehouse: Warehouse):
        yield from _materialise(context, settings, warehouse, source)

    return load_delivered_files


attendance = delivery_asset(
    "attendance",
    file_kind="csv",
    description=(
        "Attendance rows of each delivery's attendance*.csv files, values as received (text), "
        "with delivery_code, _source_file, _source_row, _ingested_at and _dlt_load_id."
    ),
)

assessments = delivery_asset(
    "assessments",
    file_kind="json",
    description=(
        "Assessment objects of each delivery's assessments*.json / *.jsonl files, values as received "
        "(numbers keep their literal text), with the same lineage columns as bronze/attendance."
    ),
)
