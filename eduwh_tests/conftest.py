"""Shared test fixtures: real PostgreSQL, real Azurite, real DuckDB files.

Every external component is started here by the suite itself. When one is
missing the fixture fails loudly with the command that installs it; nothing
is skipped.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from eduwh_assets.config import PROJECT_ROOT, Settings

# Azurite's public, well-known development account. Not a secret.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise TimeoutError(f"the process serving port {port} exited with code {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


# --- PostgreSQL ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory) -> str:
    """A PostgreSQL server the tests may create databases on.

    EDUWH_TEST_PG_URL names an existing server (a SQLAlchemy URL whose user may
    CREATE DATABASE); otherwise an embedded pgserver is started for the session.
    """
    external = os.environ.get("EDUWH_TEST_PG_URL")
    if external:
        yield external
        return
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    uri = server.get_uri()
    yield uri.replace("postgresql://", "postgresql+psycopg2://", 1)
    server.cleanup()


@pytest.fixture
def fresh_pg_url(pg_admin_url) -> str:
    """A new, empty database on the test server, for one test."""
    return create_database(pg_admin_url)


def create_database(admin_url: str) -> str:
    import sqlalchemy as sa

    name = f"eduwh_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    url = sa.make_url(admin_url).set(database=name)
    return url.render_as_string(hide_password=False)


# --- Azurite --------------------------------------------------------------------------------


def azurite_command() -> list[str]:
    local = PROJECT_ROOT / ".tools" / "node_modules" / ".bin" / "azurite-blob"
    exe = str(local) if local.exists() else shutil.which("azurite-blob")
    if not exe:
        pytest.fail(
            "Azurite is not installed. `make test` installs it; or run "
            "`npm install --prefix .tools azurite@3.35.0`.",
            pytrace=False,
        )
    return [exe]


@pytest.fixture(scope="session")
def azurite(tmp_path_factory) -> str:
    """A running Azurite blob service on a free loopback port; yields its connection string."""
    port = free_port()
    workdir = tmp_path_factory.mktemp("azurite")
    proc = subprocess.Popen(
        azurite_command()
        + [
            "--inMemoryPersistence",
            "--blobHost", "127.0.0.1",
            "--blobPort", str(port),
            "--skipApiVersionCheck",
            "--loose",
        ],
        cwd=workdir,  # Azurite writes its debug log into the working folder
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, proc=proc)
    except TimeoutError:
        proc.kill()
        pytest.fail(f"Azurite did not start: {proc.stderr.read().decode()[-2000:]}", pytrace=False)
    yield (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
    )
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def azure_container(azurite) -> str:
    """A new, empty blob container; yields its az:// URL."""
    from azure.storage.blob import BlobServiceClient

    name = f"landing-{uuid.uuid4().hex[:10]}"
    BlobServiceClient.from_connection_string(azurite).create_container(name)
    return f"az://{name}"


# --- Settings ---------------------------------------------------------------------------------


def make_settings(tmp: Path, **env: str) -> Settings:
    """Settings for a throw-away warehouse under `tmp`, with overrides as EDUWH_* values."""
    base = {"EDUWH_DATA_DIR": str(tmp / "data"), "DAGSTER_HOME": str(tmp / "dagster_home")}
    base.update(env)
    return Settings.from_env(base)
