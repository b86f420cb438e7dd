"""The faults a production warehouse meets, each tried on a real `eduwh run` process.

One generated data set (SIS in PostgreSQL, deliveries in a local landing zone)
is built once cleanly; every fault scenario then runs the real command line in
its own folder, breaks it the way users do (SIGKILL during ingest and during
dbt, SIGTERM, Ctrl-C, a deleted, overwritten or restored older warehouse, a
full disk, a holder of the warehouse pool that dies while another run waits),
and the run after the fault must end with every bronze, silver, quarantine and
gold table equal to the clean build.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from eduwh_assets.cli.disk_space import ran_out_of_space
from eduwh_assets.config import PROJECT_ROOT, WAREHOUSE_POOL
from eduwh_assets.generate.config import GeneratorConfig
from eduwh_assets.generate.dataset import generate
from eduwh_assets.generate.writers import write_landing, write_sis
from eduwh_tests.conftest import eduwh_resources, create_database

LAYERS = ("bronze", "silver", "quarantine", "gold")
# Columns that record when or in which load a row arrived, not what it holds.
VOLATILE = ("_dlt_load_id", "_dlt_id", "_ingested_at")
# A run on this data takes well under a minute; a run that waits for a dead one never ends.
RUN_TIMEOUT = 240


def table_checksums(warehouse: Path) -> dict[str, tuple[int, int]]:
    """(row count, order-independent hash of every row's stable columns) for each table of every layer."""
    out = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ? and table_type = 'BASE TABLE' and not starts_with(table_name, '_dlt') "
            "order by 1, 2",
            [list(LAYERS)],
        ).fetchall()
        for schema, table in tables:
            columns = [
                c
                for (c,) in con.execute(
                    "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
                    "order by ordinal_position",
                    [schema, table],
                ).fetchall()
                if c not in VOLATILE
            ]
            row = ", ".join(f'"{c}"' for c in columns)
            out[f"{schema}.{table}"] = con.execute(
                f'select count(*), coalesce(sum(hash({row})::hugeint), 0) from "{schema}"."{table}"'
            ).fetchone()
    return out


class Folder:
    """One warehouse, Dagster instance and data folder, driven through the real `eduwh` command."""

    def __init__(self, root: Path, landing: Path, sis_url: str):
        self.root = root
        self.env = {
            **os.environ,
            "EDUWH_DATA_DIR": str(root / "data"),
            "DAGSTER_HOME": str(root / "dagster"),
            "EDUWH_LANDING": str(landing),
            "EDUWH_SIS_URL": sis_url,
        }
        self.warehouse = root / "data" / "warehouse.duckdb"

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "eduwh_assets", *args]

    def run(self, *args: str, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.command(*args), cwd=PROJECT_ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def start(self, *args: str, own_process_group: bool = False) -> subprocess.Popen:
        """The command running; `own_process_group` makes it a terminal's foreground job, as Ctrl-C sees it."""
        return subprocess.Popen(
            self.command(*args), cwd=PROJECT_ROOT, env=self.env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, process_group=0 if own_process_group else None,
        )

    def instance(self) -> DagsterInstance:
        return DagsterInstance.from_config(self.env["DAGSTER_HOME"])


DBT_PROGRESS = "  dbt "  # how the console starts a line of dbt's progress


def wait_for_line(proc: subprocess.Popen, needle: str, timeout: float = RUN_TIMEOUT) -> list[str]:
    """Read the process's output until a line contains `needle`; returns what was read."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        seen.append(line)
        if needle in line:
            return seen
        if time.monotonic() > deadline:
            break
    raise AssertionError(f"{needle!r} never printed; output ended with:\n{''.join(seen[-30:])}")


@pytest.fixture(scope="module")
def world(tmp_path_factory, pg_admin_url):
    root = tmp_path_factory.mktemp("resilience")
    dataset = generate(GeneratorConfig.for_scale("tiny", seed=20261201))
    sis_url = create_database(pg_admin_url)
    write_sis(dataset, sis_url)
    landing = root / "landing"
    write_landing(dataset, str(landing))
    clean = Folder(root / "clean", landing, sis_url)
    result = clean.run("run")
    assert result.returncode == 0, result.stdout + result.stderr
    return {"root": root, "landing": landing, "sis_url": sis_url, "clean": table_checksums(clean.warehouse)}


def folder(world, name: str) -> Folder:
    return Folder(world["root"] / name, world["landing"], world["sis_url"])


def built_folder(world, name: str) -> Folder:
    """A copy of the clean build (warehouse and instance), as a user's folder after a good run."""
    here = folder(world, name)
    shutil.copytree(world["root"] / "clean", here.root)
    return here


def assert_no_run_is_stuck(instance: DagsterInstance) -> None:
    unfinished = instance.get_runs(
        filters=RunsFilter(statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING])
    )
    assert unfinished == []
    pool = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
    assert pool.claimed_slots == [] and pool.pending_steps == []


@pytest.mark.parametrize(
    "moment",
    [
        # the step line of the first delivery table: it is committed and the other is loading
        pytest.param("1 asset; ", id="during-ingest"),
        # dbt's first progress line, which the console always shows: silver has built a
        # node and is building the rest (dbt runs several at once, so not always the same)
        pytest.param(DBT_PROGRESS, id="during-dbt"),
    ],
)
def test_a_run_killed_with_sigkill_never_blocks_the_next(world, moment):
    here = folder(world, "sigkill-" + re.sub(r"\W+", "-", moment).strip("-"))
    proc = here.start("run")
    wait_for_line(proc, moment)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    killed_pid = proc.pid
    with here.instance() as instance:
        stuck = instance.get_runs(filters=RunsFilter(statuses=[DagsterRunStatus.STARTED]))
        assert len(stuck) == 1, "the killed run is left STARTED, as Dagster leaves it"

    started = time.monotonic()
    after = here.run("run")
    assert after.returncode == 0, after.stdout + after.stderr
    assert time.monotonic() - started < RUN_TIMEOUT
    assert f"recovered run {stuck[0].run_id[:8]} ({stuck[0].job_name}, pid {killed_pid})" in after.stdout
    with here.instance() as instance:
        dead = instance.get_run_by_id(stuck[0].run_id)
        assert dead.status == DagsterRunStatus.FAILURE
        assert_no_run_is_stuck(instance)
    assert table_checksums(here.warehouse) == world["clean"]
    # The killed process's dlt working folder is gone too.
    from eduwh_assets.bronze.pipelines import WORK_ROOT

    assert not list(WORK_ROOT.glob(f"{killed_pid}-*"))


@pytest.mark.parametrize(
    "stop",
    [
        # what a service manager sends, to the eduwh process alone
        pytest.param("sigterm", id="sigterm"),
        # Ctrl-C in a terminal: SIGINT to the whole foreground job, dbt's processes with it
        pytest.param("ctrl-c", id="ctrl-c"),
    ],
)
def test_a_stopped_run_stops_cleanly_and_the_next_one_finishes(world, stop):
    here = folder(world, stop)
    proc = here.start("run", own_process_group=stop == "ctrl-c")
    wait_for_line(proc, DBT_PROGRESS)
    stopped_at = time.monotonic()
    if stop == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=60)[0]
    assert time.monotonic() - stopped_at < 20, "stopping takes seconds, not minutes"
    assert proc.returncode == 130
    assert "recorded as failed, its duckdb_warehouse slot freed" in rest
    with here.instance() as instance:
        assert_no_run_is_stuck(instance)
        transform = instance.get_runs(filters=RunsFilter(job_name="transform_job"), limit=1)[0]
        assert transform.status == DagsterRunStatus.FAILURE
    after = here.run("run")
    assert after.returncode == 0, after.stdout + after.stderr
    assert "recovered" not in after.stdout  # nothing was left to recover
    assert table_checksums(here.warehouse) == world["clean"]


def test_a_deleted_warehouse_is_reloaded_from_the_sources(world):
    here = built_folder(world, "deleted")
    here.warehouse.unlink()
    after = here.run("run")
    assert after.returncode == 0, after.stdout + after.stderr
    assert "No new or changed deliveries" not in after.stdout
    assert table_checksums(here.warehouse) == world["clean"]


def test_a_restored_older_warehouse_loads_what_it_misses(world):
    """The warehouse, not the Dagster instance, records what is loaded: an older copy catches up."""
    landing = world["root"] / "restored-landing"
    deliveries = sorted(p for p in world["landing"].iterdir() if p.is_dir())
    assert len(deliveries) >= 2
    for delivery in deliveries[: len(deliveries) // 2]:
        shutil.copytree(delivery, landing / delivery.name)
    here = Folder(world["root"] / "restored", landing, world["sis_url"])
    first = here.run("run")
    assert first.returncode == 0, first.stdout + first.stderr
    older = here.root / "warehouse-older.duckdb"
    wal = here.warehouse.with_name(here.warehouse.name + ".wal")
    assert not wal.exists()  # a finished run leaves everything in the file itself
    shutil.copyfile(here.warehouse, older)
    for delivery in deliveries[len(deliveries) // 2 :]:
        shutil.copytree(delivery, landing / delivery.name)
    second = here.run("run")
    assert second.returncode == 0, second.stdout + second.stderr
    assert table_checksums(here.warehouse) == world["clean"]

    shutil.copyfile(older, here.warehouse)  # the backup from before the second half arrived
    wal.unlink(missing_ok=True)
    after = here.run("run")
    assert after.returncode == 0, after.stdout + after.stderr
    assert "No new or changed deliveries" not in after.stdout
    assert table_checksums(here.warehouse) == world["clean"]


def test_out_of_space_is_read_from_the_error_and_its_causes():
    full = OSError(errno.ENOSPC, "No space left on device")
    assert ran_out_of_space(full, disk_is_low=False)
    try:
        try:
            raise full
        except OSError as exc:
            raise RuntimeError("dbt build failed") from exc
    except RuntimeError as wrapped:
        assert ran_out_of_space(wrapped, disk_is_low=False)
    assert ran_out_of_space(RuntimeError("IO Error: Could not write file: No space left on device"), disk_is_low=False)
    assert ran_out_of_space(RuntimeError("(sqlite3.OperationalError) database or disk is full"), disk_is_low=False)
    # SQLite's plain "disk I/O error" counts only when a disk is in fact nearly full.
    assert ran_out_of_space(RuntimeError("(sqlite3.OperationalError) disk I/O error"), disk_is_low=True)
    assert not ran_out_of_space(RuntimeError("(sqlite3.OperationalError) disk I/O error"), disk_is_low=False)
    assert not ran_out_of_space(OSError(errno.EACCES, "Permission denied"), disk_is_low=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting the small disk (tmpfs) needs root, as CI has")
def test_a_full_disk_is_named_and_the_run_after_freeing_space_completes(world):
    """A real full disk (a small tmpfs holding the data folder and the instance), then room made."""
    disk = world["root"] / "full-disk"
    disk.mkdir()
    # A clean build of this data set needs about 25 MiB; 12 MiB runs out part-way.
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(disk)], check=True)
    try:
        here = Folder(disk / "folder", world["landing"], world["sis_url"])
        full = here.run("run")
        assert full.returncode in (1, 2), full.stdout + full.stderr  # a failed step, or a failed instance write
        assert f"the disk holding {here.root / 'data'} has only " in full.stderr, full.stderr
        assert "Free some space, then run `eduwh run` again" in full.stderr
        if full.returncode == 2:
            assert "Traceback" not in full.stderr
        subprocess.run(["mount", "-o", "remount,size=256m", str(disk)], check=True)  # space freed
        after = here.run("run")
        assert after.returncode == 0, after.stdout + after.stderr
        assert "the disk holding" not in after.stderr
        assert table_checksums(here.warehouse) == world["clean"]
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=False)


def test_an_overwritten_warehouse_is_named_and_full_refresh_rebuilds_it(world):
    here = built_folder(world, "corrupt")
    with open(here.warehouse, "r+b") as fh:
        fh.write(os.urandom(4096))
    for args in (("run",), ("backfill", "--all")):
        broken = here.run(*args)
        assert broken.returncode == 2
        assert "Traceback" not in broken.stdout + broken.stderr
        assert f"the warehouse {here.warehouse} cannot be opened" in broken.stderr
        assert "`eduwh run --full-refresh` rebuilds it from the sources" in broken.stderr
    # The landing-zone sensor says the same on its tick, instead of failing with a traceback.
    from dagster import build_sensor_context

    from eduwh_assets.automation.sensors import landing_zone_sensor
    from eduwh_assets.config import Settings

    with DagsterInstance.ephemeral() as instance, build_sensor_context(
        instance=instance, resources=eduwh_resources(Settings.from_env(here.env))
    ) as context:
        tick = landing_zone_sensor(context)
    assert tick.run_requests == []
    assert tick.skip_reason.skip_message.startswith(f"the warehouse {here.warehouse} cannot be opened")
    rebuilt = here.run("run", "--full-refresh")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert table_checksums(here.warehouse) == world["clean"]


# A process that holds the warehouse pool the way a run's writing step does, until it is killed.
HOLDER = """
import time
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus
from eduwh_assets.automation.runs import process_tags
from eduwh_assets.config import WAREHOUSE_POOL
with DagsterInstance.get() as instance:
    instance.add_run(DagsterRun(job_name="holder_job", run_id="{run_id}", tags=process_tags(), status=DagsterRunStatus.STARTED))
    status = instance.event_log_storage.claim_concurrency_slot(WAREHOUSE_POOL, "{run_id}", "write")
    assert status.is_claimed, status
    print("holding", flush=True)
    time.sleep(600)
"""


def start_holder(here: Folder, run_id: str) -> subprocess.Popen:
    """A live process whose run `run_id` holds the warehouse pool, as a writing step would."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER.format(run_id=run_id)], cwd=PROJECT_ROOT, env=here.env,
        stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout.readline().strip() == "holding"
    return holder


def needs_the_warehouse(here: Folder) -> Folder:
    """The built folder with its warehouse deleted, so `eduwh run` has bronze to load and needs the pool.

    On a current warehouse with an unchanged SIS, `eduwh run` launches no run at all.
    """
    for path in (here.warehouse, here.warehouse.with_name(here.warehouse.name + ".wal")):
        path.unlink(missing_ok=True)
    return here


def test_a_run_waiting_for_the_pool_names_the_holder_and_recovers_it_when_it_dies(world):
    here = needs_the_warehouse(built_folder(world, "waiting"))
    run_id = "0123abcd-0000-4000-8000-000000000000"
    holder = start_holder(here, run_id)
    waiting = here.start("run")
    try:
        seen = wait_for_line(waiting, f"held by run {run_id[:8]} (holder_job, pid {holder.pid})", timeout=60)
        assert any("waiting" in line for line in seen)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        rest = waiting.communicate(timeout=RUN_TIMEOUT)[0]
    finally:
        holder.kill()
        waiting.kill()
    assert waiting.returncode == 0, rest
    assert f"recovered run {run_id[:8]}" in rest
    with here.instance() as instance:
        assert instance.get_run_by_id(run_id).status == DagsterRunStatus.FAILURE
        assert_no_run_is_stuck(instance)


def test_sigterm_stops_a_run_that_waits_for_the_pool(world):
    here = needs_the_warehouse(built_folder(world, "waiting-stopped"))
    run_id = "0321abcd-0000-4000-8000-000000000000"
    holder = start_holder(here, run_id)
    try:
        waiting = here.start("run")
        wait_for_line(waiting, f"held by run {run_id[:8]}", timeout=60)
        stopped_at = time.monotonic()
        waiting.send_signal(signal.SIGTERM)
        rest = waiting.communicate(timeout=60)[0]
        assert time.monotonic() - stopped_at < 15
        assert waiting.returncode == 130, rest
        assert "eduwh run: stopped" in rest
        with here.instance() as instance:
            others = instance.get_runs(filters=RunsFilter(statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING]))
            assert [r.run_id for r in others] == [run_id]  # only the live holder
    finally:
        holder.kill()


def test_full_refresh_refuses_to_delete_a_warehouse_a_live_run_uses(world):
    here = built_folder(world, "busy")
    run_id = "0456abcd-0000-4000-8000-000000000000"
    holder = start_holder(here, run_id)
    try:
        refused = here.run("run", "--full-refresh")
    finally:
        holder.kill()
    assert refused.returncode == 2
    assert f"run {run_id[:8]} (holder_job, pid {holder.pid}) is using the warehouse" in refused.stderr
    assert here.warehouse.exists()


def test_command_line_errors_are_refused_before_anything_is_written(tmp_path):
    fresh = Folder(tmp_path / "fresh", tmp_path / "fresh" / "data" / "landing", "postgresql://nobody@127.0.0.1:1/none")
    fresh.env.pop("EDUWH_LANDING")
    fresh.env.pop("EDUWH_SIS_URL")  # the embedded defaults, which a real run would seed
    cases = [
        (("run", "--delivery", "no-such-delivery"), "eduwh run: no complete delivery named no-such-delivery in"),
        (("run", "--delivery", "bad code"), "'bad code' is not a delivery code"),
        (("generate", "--attendance-rows", "-5"), "expected a whole number of at least 1, got '-5'"),
        (("backfill", "--delivery", "no-such-delivery"), "eduwh backfill: unknown delivery code(s): no-such-delivery"),
    ]
    for args, message in cases:
        result = fresh.run(*args, timeout=120)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    data = fresh.root / "data"
    # Nothing was seeded or generated: no SIS, no sample deliveries, no warehouse.
    assert not (data / "sis").exists() and not (data / "landing").exists() and not (data / "warehouse.duckdb").exists()


def test_a_killed_process_does_not_keep_the_embedded_sis_running(tmp_path):
    from eduwh_assets.sources.sis_server import forget_dead_users

    pgdata = tmp_path / "sis"
    start = (
        "import sys, time; from eduwh_assets.sources.sis_server import embedded_sis_url; "
        f"embedded_sis_url({str(pgdata)!r}); print('up', flush=True); time.sleep(600)"
    )
    first = subprocess.Popen([sys.executable, "-c", start], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
    assert first.stdout.readline().strip() == "up"
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert (pgdata / "postmaster.pid").exists(), "the killed process left its server running"
    assert json.loads((pgdata / ".handle_pids.json").read_text()) == [first.pid]
    # The next process adopts the server; when it exits, nobody uses it any more, so it stops.
    subprocess.run([sys.executable, "-c", start.replace("time.sleep(600)", "pass")], cwd=PROJECT_ROOT, check=True,
                   capture_output=True, timeout=60)
    assert forget_dead_users(pgdata) == []  # the dead handle was already dropped by the second process
    assert not (pgdata / "postmaster.pid").exists()


def test_a_run_launched_outside_eduwh_recovers_dead_runs_before_it_starts(world):
    """Runs the UI, a sensor or `dagster job execute` launch recover dead runs too (in their resources)."""
    here = built_folder(world, "launched")
    run_id = "0789abcd-0000-4000-8000-000000000000"
    holder = start_holder(here, run_id)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    launched = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "job", "execute", "-m", "eduwh_assets.definitions",
         "-j", "sis_sync_job"],
        cwd=PROJECT_ROOT, env=here.env, capture_output=True, text=True, timeout=RUN_TIMEOUT,
    )
    assert launched.returncode == 0, launched.stdout[-3000:] + launched.stderr[-3000:]
    assert f"recovered run {run_id[:8]} (holder_job, pid {holder.pid})" in launched.stdout + launched.stderr
    with here.instance() as instance:
        assert instance.get_run_by_id(run_id).status == DagsterRunStatus.FAILURE
        assert_no_run_is_stuck(instance)
