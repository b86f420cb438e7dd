"""The deployment files, checked as far as this machine can without a Docker engine.

The compose file is parsed and its services wired as documented; the image's
CMD is run in the local venv and answers a gRPC health check; both instance
configs load into Dagster's own config schema.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml
from dagster import DagsterInstance

from eduwh_assets.config import PROJECT_ROOT
from eduwh_assets.dagster_internals import dagster_instance_config, pg_config, process_config
from eduwh_tests.conftest import free_port

BIN = Path(sys.executable).parent
PG_ENV = {
    "DAGSTER_PG_HOST": "postgres",
    "DAGSTER_PG_PORT": "5432",
    "DAGSTER_PG_DB": "dagster",
    "DAGSTER_PG_USER": "eduwh",
    "DAGSTER_PG_PASSWORD": "not-a-real-secret",
}


def dockerfile_cmd() -> list[str]:
    lines = (PROJECT_ROOT / "Dockerfile").read_text().splitlines()
    cmd = [line for line in lines if line.startswith("CMD ")]
    assert len(cmd) == 1, cmd
    return json.loads(cmd[0][len("CMD ") :])


def test_compose_file_wires_the_stack():
    doc = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    services = doc["services"]
    assert set(services) == {"postgres", "azurite", "code", "webserver", "daemon"}
    assert services["code"]["build"] == "."
    for name in ("webserver", "daemon"):
        assert services[name]["image"] == services["code"]["image"]
        assert services[name]["depends_on"]["code"] == {"condition": "service_healthy"}
        assert services[name]["environment"]["DAGSTER_PG_HOST"] == "postgres"
    assert services["webserver"]["command"][:1] == ["dagster-webserver"]
    assert services["daemon"]["command"][:2] == ["dagster-daemon", "run"]
    # Only the code server opens the warehouse, so only it mounts the warehouse volume.
    assert [s for s, spec in services.items() if any("warehouse:" in v for v in spec.get("volumes", []))] == ["code"]
    assert services["code"]["environment"]["EDUWH_LANDING"] == "az://landing"

    workspace = yaml.safe_load((PROJECT_ROOT / "deploy" / "workspace.yaml").read_text())
    assert workspace == {"load_from": [{"grpc_server": {"host": "code", "port": 4000, "location_name": "eduwh"}}]}
    assert dockerfile_cmd()[-2:] == ["-p", "4000"]


def test_image_cmd_serves_the_code_location(tmp_path):
    """The Dockerfile's CMD, on a loopback port, answers Dagster's own gRPC health check."""
    cmd = dockerfile_cmd()
    assert cmd[:3] == ["dagster", "api", "grpc"]
    port = str(free_port())
    cmd = [str(BIN / "dagster"), *cmd[1:]]
    cmd[cmd.index("-h") + 1] = "127.0.0.1"
    cmd[cmd.index("-p") + 1] = port
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "EDUWH_DATA_DIR": str(tmp_path / "data")}
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    server = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        check = None
        while time.monotonic() < deadline:
            check = subprocess.run(
                [str(BIN / "dagster"), "api", "grpc-health-check", "-p", port, "--host", "127.0.0.1"],
                env=env,
                capture_output=True,
                text=True,
            )
            if check.returncode == 0:
                break
            assert server.poll() is None, server.stdout.read().decode()[-3000:]
            time.sleep(1)
        assert check is not None and check.returncode == 0, f"{shlex.join(cmd)}: {check.stdout}{check.stderr}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            # Under load the server can take longer to wind down; the check above is what counts.
            server.kill()
            server.wait(timeout=30)


def test_local_instance_config_enforces_the_warehouse_pool(tmp_path):
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.global_op_concurrency_default_limit == 1
        # A pool seen for the first time gets the default limit: no `dagster instance concurrency set` step.
        instance.event_log_storage.initialize_concurrency_limit_to_default("duckdb_warehouse")
        info = instance.event_log_storage.get_concurrency_info("duckdb_warehouse")
        assert (info.slot_count, info.active_slot_count) == (1, 0)
        assert instance.get_concurrency_config().pool_config.pool_granularity.value == "op"
        assert instance.get_settings("telemetry") == {"enabled": False}


def test_deploy_instance_config_validates_with_env(monkeypatch):
    for name, value in PG_ENV.items():
        monkeypatch.setenv(name, value)
    config, _ = dagster_instance_config(str(PROJECT_ROOT / "deploy"))
    local, _ = dagster_instance_config(str(PROJECT_ROOT))
    assert config["run_coordinator"] == local["run_coordinator"]
    assert config["concurrency"] == local["concurrency"]
    assert config["telemetry"] == {"enabled": False}
    storage = process_config(pg_config(), config["storage"]["postgres"])
    assert storage.success, storage.errors
    assert storage.value["postgres_db"] == {
        "hostname": "postgres",
        "port": 5432,
        "db_name": "dagster",
        "username": "eduwh",
        "password": "not-a-real-secret",
        "params": {},
        "scheme": "postgresql",
    }
