"""EDUWH_SIS_URL: every PostgreSQL URL form a user writes reaches the SIS through psycopg2.

The mapping is checked as strings, then against real servers: the session
pgserver (Unix socket, trust authentication) and a password-protected server
on a loopback TCP port.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance

from eduwh_assets.bootstrap import sis_url
from eduwh_assets.generate.config import GeneratorConfig
from eduwh_assets.generate.dataset import generate
from eduwh_assets.sources.sis_server import (
    SisUnavailableError,
    SisUrlError,
    check_sis,
    describe_url,
    redact_url,
    scrub_password,
    sqlalchemy_url,
)
from eduwh_tests.conftest import create_database, make_settings
from eduwh_tests.test_bronze_sis import metadata_by_table, query, run_sis, seed_sis

# What seed_sis writes: 2 programmes, 3 classes, 5 students.
SEEDED = {"sis_programmes": 2, "sis_classes": 3, "sis_students": 5}

# --- the mapping, as strings ------------------------------------------------------------------

MAPPED = {
    "plain": (
        "postgresql://registrar:secret@sis.example.org:5432/sis",
        "postgresql+psycopg2://registrar:secret@sis.example.org:5432/sis",
    ),
    "heroku": (
        "postgres://registrar:secret@sis.example.org:5432/sis",
        "postgresql+psycopg2://registrar:secret@sis.example.org:5432/sis",
    ),
    "psycopg2": (
        "postgresql+psycopg2://registrar:secret@sis.example.org:5432/sis",
        "postgresql+psycopg2://registrar:secret@sis.example.org:5432/sis",
    ),
    "psycopg3": (
        "postgresql+psycopg://registrar:secret@sis.example.org:5432/sis",
        "postgresql+psycopg2://registrar:secret@sis.example.org:5432/sis",
    ),
    "upper-case scheme": (
        "PostgreSQL://registrar:secret@sis.example.org:5432/sis",
        "postgresql+psycopg2://registrar:secret@sis.example.org:5432/sis",
    ),
    "query": (
        "postgresql://registrar:secret@sis.example.org:5432/sis?sslmode=require&application_name=eduwh",
        "postgresql+psycopg2://registrar:secret@sis.example.org:5432/sis?sslmode=require&application_name=eduwh",
    ),
    "pgserver socket": (
        "postgresql://postgres:@/postgres?host=/tmp/pgserver-0a1b2c",
        "postgresql+psycopg2://postgres:@/postgres?host=/tmp/pgserver-0a1b2c",
    ),
    "percent-encoded password": (
        "postgresql://registrar:p%40ss%3Aw%2Frd@sis.example.org:5432/sis",
        "postgresql+psycopg2://registrar:p%40ss%3Aw%2Frd@sis.example.org:5432/sis",
    ),
    "no password": (
        "postgresql://registrar@sis.example.org:5432/sis",
        "postgresql+psycopg2://registrar@sis.example.org:5432/sis",
    ),
    "no port": (
        "postgresql://registrar:secret@sis.example.org/sis",
        "postgresql+psycopg2://registrar:secret@sis.example.org/sis",
    ),
    "ipv6": (
        "postgresql://registrar:secret@[::1]:6543/sis",
        "postgresql+psycopg2://registrar:secret@[::1]:6543/sis",
    ),
    "surrounding whitespace": (
        " postgresql://registrar:secret@sis.example.org:5432/sis\n",
        "postgresql+psycopg2://registrar:secret@sis.example.org:5432/sis",
    ),
}


@pytest.mark.parametrize("written, expected", MAPPED.values(), ids=MAPPED.keys())
def test_each_postgresql_form_maps_to_the_psycopg2_url(written, expected):
    assert sqlalchemy_url(written) == expected
    assert sqlalchemy_url(expected) == expected  # idempotent: callers may pass either


def test_the_mapped_url_keeps_every_part_as_written():
    encoded = sa.make_url(sqlalchemy_url("postgres://registrar:p%40ss%3Aw%2Frd@sis.example.org/sis"))
    assert (encoded.username, encoded.password, encoded.host, encoded.port, encoded.database) == (
        "registrar", "p@ss:w/rd", "sis.example.org", None, "sis",
    )
    ipv6 = sa.make_url(sqlalchemy_url("postgresql://registrar@[::1]:6543/sis"))
    assert (ipv6.username, ipv6.password, ipv6.host, ipv6.port, ipv6.database) == (
        "registrar", None, "::1", 6543, "sis",
    )
    socket = sa.make_url(sqlalchemy_url("postgresql://postgres:@/postgres?host=/tmp/pgserver-0a1b2c&sslmode=disable"))
    assert (socket.host, socket.port, dict(socket.query)) == (
        None, None, {"host": "/tmp/pgserver-0a1b2c", "sslmode": "disable"},
    )


ACCEPTED = (
    "write postgresql://user:password@host:port/database, with @ : / and other special characters in the "
    "password percent-encoded, and optional ?sslmode=... or ?host=/socket/dir; postgres://, "
    "postgresql+psycopg2:// and postgresql+psycopg:// are accepted too"
)
REJECTED = {
    "mysql": (
        "mysql://registrar:Hunter2-secret@sis.example.org/sis",
        "the SIS URL cannot be used: scheme 'mysql' is not PostgreSQL; " + ACCEPTED,
    ),
    "asyncpg": (
        "postgresql+asyncpg://registrar:Hunter2-secret@sis.example.org/sis",
        "the SIS URL cannot be used: driver 'asyncpg' is not supported (eduwh connects through psycopg2); "
        + ACCEPTED,
    ),
    "sqlite": ("sqlite:///Hunter2-secret.db", "the SIS URL cannot be used: scheme 'sqlite' is not PostgreSQL; " + ACCEPTED),
    "no scheme": ("registrar:Hunter2-secret@sis.example.org/sis", "the SIS URL is not a URL; " + ACCEPTED),
    "password where the scheme goes": (
        "Hunter2-secret@host://registrar@sis.example.org/sis",
        "the SIS URL cannot be used: its scheme is not PostgreSQL's; " + ACCEPTED,
    ),
    "port not a number": (
        "postgresql://registrar:Hunter2-secret@sis.example.org:54x2/sis",
        "the SIS URL cannot be parsed (is the port a number?); " + ACCEPTED,
    ),
}


@pytest.mark.parametrize("written, message", REJECTED.values(), ids=REJECTED.keys())
def test_other_schemes_and_drivers_are_refused_naming_the_accepted_forms(written, message):
    with pytest.raises(SisUrlError) as raised:
        sqlalchemy_url(written)
    assert str(raised.value) == message
    assert "Hunter2" not in str(raised.value)
    # Callers that handle an unreachable SIS, or a bad value, handle this too.
    assert isinstance(raised.value, SisUnavailableError) and isinstance(raised.value, ValueError)
    with pytest.raises(SisUrlError):
        check_sis(written, timeout=1)
    with pytest.raises(SisUrlError):
        sis_url(make_settings(Path("/nonexistent"), EDUWH_SIS_URL=written))


def test_passwords_are_redacted_and_scrubbed_in_every_spelling():
    url = "postgres://registrar:p%40ss%3Aw%2Frd@sis.example.org:5432/sis"
    assert redact_url(url) == "postgres://registrar:***@sis.example.org:5432/sis"
    assert redact_url("postgresql://registrar@sis.example.org/sis?password=Hunter2&sslmode=require") == (
        "postgresql://registrar@sis.example.org/sis?password=%2A%2A%2A&sslmode=require"
    )
    assert scrub_password("auth p@ss:w/rd failed for p%40ss%3Aw%2Frd", url) == "auth *** failed for ***"
    assert scrub_password("Hunter2 rejected", "postgresql://registrar@db/sis?password=Hunter2") == "*** rejected"
    assert scrub_password("nothing secret", "postgresql://registrar@db/sis") == "nothing secret"
    assert scrub_password("nothing secret", "not a url") == "nothing secret"
    assert describe_url(sqlalchemy_url("postgresql://registrar:secret@[::1]:6543/sis")) == (
        "database 'sis' on [::1]:6543 (user 'registrar')"
    )
    assert describe_url(sqlalchemy_url("postgres://registrar:secret@sis.example.org/sis")) == (
        "database 'sis' on sis.example.org:5432 (user 'registrar')"
    )


def test_an_unsupported_sis_url_fails_the_sis_asset_by_its_form(tmp_path):
    settings = make_settings(tmp_path, EDUWH_SIS_URL="mysql://registrar:Hunter2-secret@sis.example.org/sis")
    instance = DagsterInstance.ephemeral()
    result = run_sis(settings, instance)
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert len(failures) == 1
    message = failures[0].step_failure_data.user_failure_data.description
    assert message == "the SIS URL cannot be used: scheme 'mysql' is not PostgreSQL; " + ACCEPTED
    assert "Hunter2" not in "\n".join(str(e) for e in instance.all_logs(result.run_id))
    assert not settings.warehouse.exists()


# --- the session pgserver: Unix socket, trust authentication --------------------------------------


def with_scheme(url: str, scheme: str) -> str:
    return scheme + "://" + url.split("://", 1)[1]


def assert_loads_the_seeded_sis(tmp_path, url: str) -> None:
    settings = make_settings(tmp_path, EDUWH_SIS_URL=url)
    result = run_sis(settings, DagsterInstance.ephemeral())
    assert result.success
    meta = metadata_by_table(result)
    assert {t: meta[t]["rows_loaded"] for t in meta} == SEEDED
    assert query(settings, "SELECT student_id FROM bronze.sis_students ORDER BY 1") == [
        ("S1",), ("S2",), ("S3",), ("S4",), ("S5",),
    ]


def test_the_session_server_is_named_in_plain_form(pg_admin_url, fresh_pg_url):
    # pgserver prints the plain form and the fixture passes it on as printed (an
    # EDUWH_TEST_PG_URL is passed on as given); databases come back in eduwh's form.
    assert pg_admin_url == os.environ.get("EDUWH_TEST_PG_URL", pg_admin_url)
    if "EDUWH_TEST_PG_URL" not in os.environ:
        assert pg_admin_url.startswith("postgresql://postgres:@/postgres?host=/")
    assert fresh_pg_url.startswith("postgresql+psycopg2://")
    assert sqlalchemy_url(fresh_pg_url) == fresh_pg_url


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_plain_and_heroku_urls_check_and_load_the_sis(tmp_path, fresh_pg_url, scheme):
    seed_sis(fresh_pg_url)
    url = with_scheme(fresh_pg_url, scheme)
    assert check_sis(url) is None
    assert_loads_the_seeded_sis(tmp_path, url)


def test_generate_writes_the_sis_named_by_a_plain_url(tmp_path, fresh_pg_url, capsys):
    from eduwh_assets.cli import main

    dataset = generate(GeneratorConfig.for_scale("tiny", seed=7))
    url = with_scheme(fresh_pg_url, "postgresql")
    assert main(["generate", "--scale", "tiny", "--seed", "7", "--no-landing", "--sis-url", url]) == 0
    held_back = len(dataset.late_student_ids)
    assert f"sis.students {len(dataset.students) - held_back} rows ({held_back} late students held back)" in (
        capsys.readouterr().out
    )
    assert main(["generate", "--scale", "tiny", "--seed", "7", "--sis-url", url, "--late-students"]) == 0
    assert f"added {held_back} late students" in capsys.readouterr().out
    engine = sa.create_engine(fresh_pg_url)
    with engine.connect() as conn:
        counts = [conn.execute(sa.text(f"SELECT count(*) FROM sis.{t}")).scalar() for t in ("programmes", "classes", "students")]
    engine.dispose()
    assert counts == [len(dataset.programmes), len(dataset.classes), len(dataset.students)]


def test_generate_refuses_an_unsupported_sis_url_before_writing(tmp_path, capsys):
    from eduwh_assets.cli import main

    landing = tmp_path / "landing"
    code = main(["generate", "--scale", "tiny", "--landing", str(landing),
                 "--sis-url", "mysql://registrar:Hunter2-secret@sis.example.org/sis"])
    assert code == 2
    captured = capsys.readouterr()
    assert captured.err == "error: --sis-url: the SIS URL cannot be used: scheme 'mysql' is not PostgreSQL; " + ACCEPTED + "\n"
    assert "Hunter2" not in captured.out + captured.err
    assert not landing.exists()


# --- a password-protected server on a loopback TCP port ------------------------------------------


def password_database(pg_password_url: str) -> sa.URL:
    """A new database on the password-protected server, seeded; returns its parsed URL."""
    url = create_database(pg_password_url)
    seed_sis(url)
    return sa.make_url(url)


def written_url(scheme: str, parsed: sa.URL, password: str) -> str:
    """The URL as a user writes it by hand: the password percent-encoded, nothing else touched."""
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    return f"{scheme}://{quote(parsed.username, safe='')}:{quote(password, safe='')}@{host}:{parsed.port}/{parsed.database}"


@pytest.mark.parametrize("scheme", ["postgresql", "postgresql+psycopg2"])
def test_a_percent_encoded_password_reaches_the_server(tmp_path, pg_password_url, scheme):
    parsed = password_database(pg_password_url)
    url = written_url(scheme, parsed, parsed.password)
    assert check_sis(url) is None
    assert_loads_the_seeded_sis(tmp_path, url)


def test_generate_writes_a_password_protected_sis_without_printing_the_password(pg_password_url, capsys):
    from eduwh_assets.cli import main

    dataset = generate(GeneratorConfig.for_scale("tiny", seed=7))
    parsed = sa.make_url(create_database(pg_password_url))
    url = written_url("postgresql", parsed, parsed.password)
    assert main(["generate", "--scale", "tiny", "--seed", "7", "--no-landing", "--sis-url", url]) == 0
    out = capsys.readouterr().out
    held_back = len(dataset.late_student_ids)
    assert f"sis.students {len(dataset.students) - held_back} rows ({held_back} late students held back)" in out
    assert parsed.password not in out and quote(parsed.password, safe="") not in out


def test_a_wrong_password_fails_by_name_without_either_password(tmp_path, pg_password_url):
    parsed = password_database(pg_password_url)
    wrong = "Wr0ng@pa/ss:word"
    url = written_url("postgresql", parsed, wrong)
    secrets = [wrong, quote(wrong, safe=""), parsed.password, quote(parsed.password, safe="")]

    with pytest.raises(SisUnavailableError) as raised:
        check_sis(url)
    message = str(raised.value)
    assert message.startswith(
        f"SIS database '{parsed.database}' on {parsed.host}:{parsed.port} (user '{parsed.username}') is unavailable: "
    )
    assert "authentication failed" in message
    assert not [s for s in secrets if s in message]

    # The same through the SIS asset: the run fails with that message and nothing is written.
    settings = make_settings(tmp_path, EDUWH_SIS_URL=url)
    instance = DagsterInstance.ephemeral()
    result = run_sis(settings, instance)
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert len(failures) == 1
    assert failures[0].step_failure_data.user_failure_data.description == message
    logs = "\n".join(str(e) for e in instance.all_logs(result.run_id))
    assert not [s for s in secrets if s in logs]
    assert not settings.warehouse.exists()
