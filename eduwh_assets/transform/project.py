"""The eduwh_dbt project as dagster-dbt sees it, and the pure helpers that drive dbt.

This module imports without a manifest, so tools can prepare the project through it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from importlib.metadata import version as installed_version
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject
from packaging.version import Version

from eduwh_assets.config import DBT_PROJECT_DIR, Settings

# profiles.yml lives inside the project, so one folder is all dbt needs.
eduwh_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)

# Run once at install time (the Makefile's install step), from the project root;
# the code location only reads the manifest it writes. Parsing opens no warehouse.
# The paths are absolute: dbt keeps the project path of this parse for its partial
# parses, and a relative one would send seed files to the wrong folder at run time.
PREPARE_COMMAND = '.venv/bin/dbt parse --quiet --project-dir "$PWD/eduwh_dbt" --profiles-dir "$PWD/eduwh_dbt"'


def dbt_executable() -> str:
    """The dbt installed beside this Python, so a run worker needs no PATH set-up."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else "dbt"


class EduwhDbtCli(DbtCliResource):
    """dagster-dbt's CLI resource, without two start-up costs eduwh has no use for.

    Before each command DbtCliResource runs `dbt --version` in a subprocess (about 3 s)
    and opens a dbt adapter in this process (about 3 s per step) for `fetch_row_counts()`
    and `fetch_column_metadata()`. Each model logs those figures itself as dbt builds it
    (`transform/metadata.py`), because that adapter's connection would hold the warehouse
    open beside the asset checks; and the dbt it runs is the dbt-core installed here.
    """

    @cached_property
    def _cli_version(self) -> Version:
        return Version(installed_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):
        return None


def dbt_cli() -> EduwhDbtCli:
    """The resource every dbt step runs through."""
    return EduwhDbtCli(project_dir=eduwh_project, dbt_executable=dbt_executable())


def dbt_build_args(full_refresh: bool = False) -> list[str]:
    """Arguments of the one dbt command the assets run.

    `build` runs models, data tests and unit tests in DAG order, so a failing
    test stops what is downstream of it inside dbt as well as in Dagster.
    Indirect selection is "buildable" because each layer builds in its own
    step: a test that also reads gold (a relationship from gold to a silver
    dimension) must wait for the gold step instead of running before gold
    exists, while a test of gold against bronze still runs with gold.

    Unit tests check the models' logic on fixed inputs, not the data, so they are a
    development check (`dbt_unit_test_args`, run by the test suite and CI), not a
    step of every production build.
    """
    args = ["build", "--indirect-selection", "buildable", "--exclude-resource-type", "unit_test"]
    if full_refresh:
        args.append("--full-refresh")
    return args


def dbt_unit_test_args() -> list[str]:
    """Every dbt unit test, for development and CI (they need the models built once, for column types)."""
    return ["test", "--select", "test_type:unit"]


def dbt_env(settings: Settings) -> dict[str, str]:
    """The variables profiles.yml reads. The path is absolute because dbt runs in its own folder."""
    return {
        "EDUWH_WAREHOUSE": str(settings.warehouse.resolve()),
        "EDUWH_DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit,
        "EDUWH_DUCKDB_THREADS": str(settings.duckdb_threads),
    }


@contextmanager
def warehouse_env(settings: Settings) -> Iterator[None]:
    """Expose `dbt_env(settings)` to the dbt subprocess for the duration of the block.

    DbtCliResource hands the subprocess a copy of os.environ and takes no env of
    its own, so the variables are set here and restored afterwards; a test that
    materialises in-process must not leak its warehouse into the next one.
    """
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    overrides = dbt_env(settings)
    saved = {name: os.environ.get(name) for name in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
