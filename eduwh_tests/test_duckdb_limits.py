"""DuckDB's memory limit and threads are set in one place and reach every connection: dlt, dbt, checks."""

from __future__ import annotations

import subprocess

from eduwh_assets.transform.project import dbt_executable, eduwh_project, warehouse_env
from eduwh_assets.warehouse import Warehouse
from eduwh_tests.conftest import make_settings

SETTING = "select current_setting('memory_limit') || ' / ' || current_setting('threads') as limits"
# DuckDB reports 700MB (decimal) in binary units.
EXPECTED = "667.5 MiB / 1"


def test_every_connection_gets_the_configured_limits(tmp_path):
    settings = make_settings(tmp_path, EDUWH_DUCKDB_MEMORY_LIMIT="700MB", EDUWH_DUCKDB_THREADS="1")
    settings.warehouse.parent.mkdir(parents=True)
    warehouse = Warehouse.from_settings(settings)
    # The read-write connection that dlt's loads and bronze's own queries run on.
    with warehouse.get_connection() as con:
        assert con.execute(SETTING).fetchone()[0] == EXPECTED
    # The read-only connection every check, export and ledger read opens.
    with warehouse.read_only_connection() as con:
        assert con.execute(SETTING).fetchone()[0] == EXPECTED
    # dbt's connection, through the profile and the variables the assets hand it.
    with warehouse_env(settings):
        shown = subprocess.run(
            [dbt_executable(), "show", "--inline", SETTING, "--project-dir", str(eduwh_project.project_dir),
             "--profiles-dir", str(eduwh_project.profiles_dir), "--target-path", str(tmp_path / "target"),
             "--output", "json", "--log-format", "text"],
            capture_output=True, text=True, check=False,
        )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert f'"limits": "{EXPECTED}"' in shown.stdout
