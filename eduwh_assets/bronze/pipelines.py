"""The dlt pipeline factory shared by every bronze asset.

Each run gets a pipeline whose working folder is a fresh temporary directory,
so dlt has no local state and restores it (incremental cursors, file
fingerprints, schemas) from the `_dlt_*` tables in the warehouse. State and
data therefore live in the same DuckDB file and cannot disagree: deleting the
warehouse is a full refresh, and nothing outside it needs cleaning up.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import dlt
import duckdb
import psutil


BRONZE_DATASET = "bronze"

# dlt's merge staging tables go to their own schema, named so it sorts away from
# the warehouse layers in DuckDB browsers instead of looking like a `bronze_*` layer.
STAGING_DATASET_LAYOUT = "_dlt_staging_%s"


def dlt_config(*, add_dlt_id: bool) -> dict[str, Any]:
    """The dlt settings every eduwh pipeline runs with (applied only for the duration of a run)."""
    return {
        # Arrow tables skip dlt's row-by-row normaliser; without this they would
        # land without `_dlt_load_id`, which the bronze contract requires.
        "normalize.parquet_normalizer.add_dlt_load_id": True,
        # The SIS tables carry `_dlt_id` per the contract; delivery tables do not,
        # and generating a unique id per row is a measurable cost on large files.
        "normalize.parquet_normalizer.add_dlt_id": add_dlt_id,
        # Merge staging tables would otherwise keep a full copy of the last
        # re-delivered file inside the warehouse.
        "load.truncate_staging_dataset": True,
        # The intermediate parquet files live for seconds in a temp folder;
        # compressing them costs more time than the disk it saves.
        "data_writer.compression": "none",
        # The machines have no route to dlt's telemetry endpoint; do not try.
        "runtime.dlthub_telemetry": False,
    }


# dlt's working folders live here, one per running pipeline, named after the process.
WORK_ROOT = Path(tempfile.gettempdir()) / "eduwh-dlt"


def remove_orphaned_folders(root: Path = WORK_ROOT) -> list[Path]:
    """Remove the working folders of processes that died before they could clean up (SIGKILL)."""
    removed = []
    for folder in root.glob("*-*") if root.exists() else []:
        pid = folder.name.split("-", 1)[0]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


@contextmanager
def working_folder(name: str) -> Iterator[str]:
    """A fresh folder for one pipeline run, removed on exit, and by the next run if this process is killed."""
    remove_orphaned_folders()
    WORK_ROOT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{os.getpid()}-{name}-", dir=WORK_ROOT) as folder:
        yield folder


@contextmanager
def bronze_pipeline(
    name: str,
    connection: duckdb.DuckDBPyConnection,
    *,
    add_dlt_id: bool = False,
) -> Iterator[dlt.Pipeline]:
    """A dlt pipeline named `name` loading into schema `bronze` of the warehouse.

    Use it as a context manager: the temporary working folder is removed on
    exit. Two runs of the same pipeline must not overlap; the Dagster pool
    `duckdb_warehouse` (limit 1) serialises them.

    dlt runs every step on `connection` (an open read-write connection to the
    warehouse, from `Warehouse.get_connection()`) instead of opening the database
    file itself for the state restore, the load and each query in between; the
    caller keeps ownership and closes it.
    """
    with working_folder(name) as workdir, dlt.config.values(
        dlt_config(add_dlt_id=add_dlt_id)
    ):
        destination = dlt.destinations.duckdb(
            credentials=connection,
            staging_dataset_name_layout=STAGING_DATASET_LAYOUT,
        )
        pipeline = dlt.pipeline(
            pipeline_name=name,
            pipelines_dir=workdir,
            destination=destination,
            dataset_name=BRONZE_DATASET,
        )
        # All schemas of a pipeline share the one dataset, so tables are `bronze.<table>`
        # and never `bronze_<schema>.<table>`.
        pipeline.config.use_single_dataset = True
        yield pipeline


def rows_loaded(pipeline: dlt.Pipeline) -> dict[str, int]:
    """Rows each table received in the pipeline's last run (dlt's own tables excluded)."""
    trace = pipeline.last_trace
    info = trace.last_normalize_info if trace is not None else None
    counts = dict(info.row_counts) if info is not None else {}
    return {table: n for table, n in counts.items() if not table.startswith("_dlt")}


def table_exists(con: duckdb.DuckDBPyConnection, table: str, schema: str = BRONZE_DATASET) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [schema, table],
        ).fetchone()[0]
    )
