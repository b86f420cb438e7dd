"""Where the SIS lives: the configured PostgreSQL server, or an embedded one.

With `EDUWH_SIS_URL` set, that server is used as is and never modified by
eduwh. Otherwise a PostgreSQL server bundled with the `pgserver` wheel runs
from `data/sis/`, started on first use in each process and seeded with the
sample data set the first time it is found empty.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

# One server handle per data folder and process: starting pgserver costs about a
# second, and a second handle to the same folder would gain nothing.
_SERVERS: dict[Path, Any] = {}
_LOCK = threading.Lock()
_SEEDED: set[Path] = set()


class SisUnavailableError(RuntimeError):
    """The SIS database cannot be reached. The message names host, port and database, never the password."""


def redact_url(url: str) -> str:
    """The URL with any password replaced by ***, safe for logs and error messages."""
    try:
        import sqlalchemy as sa

        parsed = sa.make_url(url)
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
            server = pgserver.get_server(path)
            _SERVERS[path] = server
    uri = server.get_uri()
    if uri.startswith("postgresql://"):
        uri = "postgresql+psycopg2://" + uri[len("postgresql://") :]
    return uri


def sis_url(settings: Any) -> str:
    """The SQLAlchemy URL of the SIS: `settings.sis_url` unchanged, or the embedded server's, seeded."""
    if settings.sis_url:
        return settings.sis_url
    url = embedded_sis_url(settings.embedded_sis_dir)
    path = Path(settings.embedded_sis_dir).expanduser().resolve()
    if path not in _SEEDED:
        # Imported here: the generator itself uses this module to find the SIS.
        from eduwh_assets.generate.sample import seed_embedded_sis

        done = seed_embedded_sis(url)
        if done:
            print(done, flush=True)
        _SEEDED.add(path)
    return url


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
        port = parsed.port or 5432
        return f"database {parsed.database!r} on {host}:{port} (user {parsed.username!r})"
    except Exception:
        return redact_url(url)


def check_sis(url: str, timeout: int = 5) -> None:
    """Connect once and run `SELECT 1`; raise SisUnavailableError with a clear, password-free message."""
    import sqlalchemy as sa

    engine = None
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": timeout}, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        reason_text = reason[0] if reason else type(exc).__name__
        password = _password(url)
        if password:
            reason_text = reason_text.replace(password, "***")
        raise SisUnavailableError(f"SIS {describe_url(url)} is unavailable: {reason_text}") from None
    finally:
        if engine is not None:
            engine.dispose()


def _password(url: str) -> str | None:
    try:
        import sqlalchemy as sa

        return sa.make_url(url).password or None
    except Exception:
        return None
