"""Where the SIS lives: the configured PostgreSQL server, or an embedded one.

With `EDUWH_SIS_URL` set, that server is used as is and never modified by
eduwh. Otherwise a PostgreSQL server bundled with the `pgserver` wheel runs
from `data/sis/`, started on first use in each process. Seeding it with sample
data is eduwh_assets.bootstrap's part, so this module needs no generator.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

# One server handle per data folder and process: starting pgserver costs about a
# second, and a second handle to the same folder would gain nothing.
_SERVERS: dict[Path, Any] = {}
_LOCK = threading.Lock()


class SisUnavailableError(RuntimeError):
    """The SIS database cannot be reached. The message names host, port and database, never the password."""


class SisUrlError(SisUnavailableError, ValueError):
    """The SIS URL is not a PostgreSQL URL eduwh can connect with. The message never quotes the URL."""


# The one driver eduwh talks to PostgreSQL with. SQLAlchemy 2.1 maps a bare
# postgresql:// to psycopg 3, which eduwh does not install; psycopg2 is a
# dependency, and the generator's COPY (cursor.copy_expert) is psycopg2's API.
SIS_DRIVER = "postgresql+psycopg2"
# Every scheme a user may write for the SIS, each connected through SIS_DRIVER.
# postgres:// is what Heroku and many hosting panels print.
_POSTGRES_SCHEMES = frozenset(
    f"{base}{driver}" for base in ("postgresql", "postgres") for driver in ("", "+psycopg2", "+psycopg")
)
ACCEPTED_SIS_URLS = (
    "postgresql://user:password@host:port/database, with @ : / and other special characters in the "
    "password percent-encoded, and optional ?sslmode=... or ?host=/socket/dir; postgres://, "
    "postgresql+psycopg2:// and postgresql+psycopg:// are accepted too"
)
# RFC 3986 scheme syntax: only a scheme that looks like one is echoed in an error.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}")


def sqlalchemy_url(url: str) -> str:
    """The SQLAlchemy URL eduwh connects with for a PostgreSQL URL as a user writes it.

    Only the scheme changes, to SIS_DRIVER; everything after `://` (percent-encoded
    user and password, host, IPv6 `[::1]`, port, database, query) is kept byte for
    byte, so the mapping is idempotent. Raises SisUrlError for any other scheme or
    driver, or a URL that cannot be parsed.
    """
    import sqlalchemy as sa

    scheme, sep, rest = url.strip().partition("://")
    if not sep:
        raise SisUrlError(f"the SIS URL is not a URL; write {ACCEPTED_SIS_URLS}")
    if scheme.lower() not in _POSTGRES_SCHEMES:
        if not _SCHEME.fullmatch(scheme):
            what = "its scheme is not PostgreSQL's"
        elif "+" in scheme and scheme.lower().split("+", 1)[0] in ("postgresql", "postgres"):
            what = f"driver {scheme.split('+', 1)[1]!r} is not supported (eduwh connects through psycopg2)"
        else:
            what = f"scheme {scheme!r} is not PostgreSQL"
        raise SisUrlError(f"the SIS URL cannot be used: {what}; write {ACCEPTED_SIS_URLS}")
    converted = f"{SIS_DRIVER}://{rest}"
    try:
        sa.make_url(converted)
    except Exception:
        # SQLAlchemy's own message can quote the URL, password included.
        raise SisUrlError(
            f"the SIS URL cannot be parsed (is the port a number?); write {ACCEPTED_SIS_URLS}"
        ) from None
    return converted


def scrub_password(text: str, url: str) -> str:
    """`text` with the URL's password replaced by ***, for messages that may echo a driver's or dlt's words.

    The password is removed as written in the URL (percent-encoded) and as
    decoded, since either may be echoed.
    """
    for secret in sorted(_passwords(url), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _passwords(url: str) -> set[str]:
    """Every spelling of the URL's password: in the user part or as ?password=, encoded and decoded."""
    from urllib.parse import quote

    found: set[str] = set()
    written = re.match(r"[^:/?#]+://[^:@/?#]*:([^@/?#]*)@", url.strip())
    if written:
        found.add(written.group(1))
    try:
        import sqlalchemy as sa

        parsed = sa.make_url(url.strip())
        decoded = [parsed.password, parsed.query.get("password")]
    except Exception:
        decoded = []
    for value in decoded:
        for one in value if isinstance(value, tuple) else (value,):
            if one:
                found.update({one, quote(one, safe=""), quote(one)})
    found.discard("")
    return found


def redact_url(url: str) -> str:
    """The URL with any password replaced by ***, safe for logs and error messages."""
    try:
        import sqlalchemy as sa

        parsed = sa.make_url(url)
        if "password" in parsed.query:
            # libpq also takes the password as a query parameter.
            parsed = parsed.update_query_dict({"password": "***"})
        if parsed.password is None:
            return parsed.render_as_string(hide_password=False)
        return parsed.render_as_string(hide_password=True)
    except Exception:
        # Not a URL SQLAlchemy understands: blank whatever sits between user: and @.
        return re.sub(r"(://[^:/@?#]*:)[^@/]*@", r"\1***@", url)


def embedded_sis_url(pgdata: Path | str) -> str:
    """Start (or reuse) the embedded server whose data folder is `pgdata` and return its URL."""
    path = Path(pgdata).expanduser().resolve()
    with _LOCK:
        server = _SERVERS.get(path)
        if server is None:
            import pgserver

            path.parent.mkdir(parents=True, exist_ok=True)
            forget_dead_users(path)
            server = pgserver.get_server(path)
            _SERVERS[path] = server
    return sqlalchemy_url(server.get_uri())


def forget_dead_users(pgdata: Path) -> list[int]:
    """Drop the processes that died without saying so from pgserver's list of the server's users.

    pgserver stops the embedded server when the last process that uses it exits,
    and counts those processes in a file in the data folder. A process killed with
    SIGKILL never takes itself off, so the server would outlive every later run.
    Returns the pids dropped.
    """
    import psutil
    from pgserver.postgres_server import PostgresServer

    listing = pgdata / ".handle_pids.json"
    with PostgresServer._lock:  # pgserver's own lock for that file
        if not listing.exists():
            return []
        pids = json.loads(listing.read_text() or "[]")
        dead = [pid for pid in pids if not psutil.pid_exists(pid)]
        if dead:
            listing.write_text(json.dumps([pid for pid in pids if pid not in dead]))
    return dead


def is_embedded(settings: Any) -> bool:
    return not settings.sis_url


def describe_url(url: str) -> str:
    """`database on host:port` for messages: enough to find the server, nothing secret."""
    try:
        import sqlalchemy as sa

        parsed = sa.make_url(url)
        host = parsed.host or parsed.query.get("host") or "localhost"
        if isinstance(host, tuple):
            host = host[0]
        if ":" in host:  # IPv6, bracketed so the port stays readable
            host = f"[{host}]"
        port = parsed.port or 5432
        return f"database {parsed.database!r} on {host}:{port} (user {parsed.username!r})"
    except Exception:
        return redact_url(url)


def check_sis(url: str, timeout: int = 5) -> None:
    """Connect once and run `SELECT 1`; raise SisUnavailableError with a clear, password-free message.

    `url` may be any form sqlalchemy_url accepts; one it does not raises SisUrlError.
    """
    import sqlalchemy as sa

    url = sqlalchemy_url(url)
    engine = None
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": timeout}, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        reason_text = reason[0] if reason else type(exc).__name__
        raise SisUnavailableError(
            f"SIS {describe_url(url)} is unavailable: {scrub_password(reason_text, url)}"
        ) from None
    finally:
        if engine is not None:
            engine.dispose()
