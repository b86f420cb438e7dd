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
    """A PostgreSQL server the tests may create databases on, as a plain `postgresql://` URL.

    EDUWH_TEST_PG_URL names an existing server (any URL form EDUWH_SIS_URL
    accepts, whose user may CREATE DATABASE); otherwise an embedded pgserver
    (Unix socket, trust authentication) is started for the session.
    """
    external = os.environ.get("EDUWH_TEST_PG_URL")
    if external:
        yield external
        return
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    yield server.get_uri()  # postgresql://postgres:@/postgres?host=<socket dir>, as pgserver prints it
    server.cleanup()


@pytest.fixture
def fresh_pg_url(pg_admin_url) -> str:
    """A new, empty database on the test server, for one test, as the SQLAlchemy URL eduwh connects with.

    That form (postgresql+psycopg2://) also works with sqlalchemy.create_engine directly.
    """
    return create_database(pg_admin_url)


def create_database(admin_url: str) -> str:
    """Create a database on `admin_url`'s server; return its URL in the form sqlalchemy_url gives."""
    import sqlalchemy as sa

    from eduwh_assets.sources.sis_server import sqlalchemy_url

    name = f"eduwh_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy_url(admin_url)
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    url = sa.make_url(admin).set(database=name)
    return url.render_as_string(hide_password=False)


# The password-protected server's login: every character a URL treats specially,
# and a "%40" that must reach the server as written, not decoded a second time.
PG_PASSWORD_USER = "registrar"
PG_PASSWORD = "p@ss:w/rd#%40?"


@pytest.fixture(scope="session")
def pg_password_url(tmp_path_factory) -> str:
    """A PostgreSQL server on a loopback TCP port that demands a password (scram-sha-256).

    Yields `postgresql://registrar:<percent-encoded PG_PASSWORD>@127.0.0.1:<port>/postgres`;
    the user may CREATE DATABASE. EDUWH_TEST_PG_PASSWORD_URL names an existing
    server instead: a URL with host, port, user and password, whose user may
    create databases. Otherwise the PostgreSQL binaries in the pgserver wheel
    run a throw-away server for the session.
    """
    external = os.environ.get("EDUWH_TEST_PG_PASSWORD_URL")
    if external:
        yield external
        return
    import pgserver
    import psycopg2
    from urllib.parse import quote

    root = tmp_path_factory.mktemp("pg_password")
    data, sockets, log = root / "data", root / "sockets", root / "server.log"
    data.mkdir(mode=0o700)
    sockets.mkdir()
    superuser_password = uuid.uuid4().hex
    pwfile = root / "superuser.pw"
    pwfile.write_text(superuser_password + "\n")
    pwfile.chmod(0o600)
    user = _postgres_system_user(root, data, sockets, pwfile)

    pgserver.initdb(
        ["-U", "postgres", "--auth=scram-sha-256", f"--pwfile={pwfile}", "--encoding=utf8"],
        pgdata=data, user=user, timeout=120,
    )
    port = free_port()
    # Loopback TCP only; the Unix socket goes to a private folder, where no other server can clash with it.
    options = f"-h 127.0.0.1 -p {port} -k {sockets}"
    try:
        pgserver.pg_ctl(["-w", "-t", "60", "-o", options, "-l", str(log), "start"], pgdata=data, user=user, timeout=90)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        server_log = log.read_text()[-2000:] if log.exists() else "(no server log)"
        pytest.fail(f"the password-protected PostgreSQL did not start:\n{server_log}", pytrace=False)
    try:
        conn = psycopg2.connect(
            host="127.0.0.1", port=port, user="postgres", password=superuser_password, dbname="postgres"
        )
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"CREATE ROLE {PG_PASSWORD_USER} LOGIN CREATEDB PASSWORD %s", (PG_PASSWORD,))
        conn.close()
        yield f"postgresql://{PG_PASSWORD_USER}:{quote(PG_PASSWORD, safe='')}@127.0.0.1:{port}/postgres"
    finally:
        pgserver.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data, user=user, timeout=60)


def _postgres_system_user(root: Path, *owned: Path) -> str | None:
    """The system user PostgreSQL runs as: None (ourselves), or pgserver's own user when we are root.

    PostgreSQL refuses to run as root. pgserver creates a `pgserver` user for
    this; the same user is given the server's folders and a way to reach them
    and the binaries.
    """
    if os.name != "posix" or os.geteuid() != 0:
        return None
    import pwd
    import stat

    import pgserver
    from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

    name = "pgserver"
    ensure_user_exists(name)
    entry = pwd.getpwnam(name)
    bin_dir = Path(pgserver.__file__).parent / "pginstall" / "bin"
    ensure_prefix_permissions(bin_dir)
    read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(bin_dir, read | execute)
    ensure_folder_permissions(bin_dir.parent / "lib", read)
    ensure_prefix_permissions(root)  # every folder above root becomes traversable; root itself is chowned
    for path in (root, *owned):
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return name


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


def eduwh_resources(settings: Settings) -> dict:
    """Every resource eduwh's assets, checks, sensors and schedules take, for the plain `settings`."""
    from dagster_dlt import DagsterDltResource

    from eduwh_assets.transform.project import dbt_cli
    from eduwh_assets.warehouse import Warehouse

    return {
        "settings": settings,
        "warehouse": Warehouse.from_settings(settings),
        "dlt_resource": DagsterDltResource(),
        "dbt": dbt_cli(),
    }


def make_settings(tmp: Path, **env: str) -> Settings:
    """Settings for a throw-away warehouse under `tmp`, with overrides as EDUWH_* values."""
    base = {"EDUWH_DATA_DIR": str(tmp / "data"), "DAGSTER_HOME": str(tmp / "dagster_home")}
    base.update(env)
    return Settings.from_env(base)
