"""Settings, read once from the environment, with the embedded defaults of the spec.

Every other module takes a `Settings` (or values from it) as an argument rather
than reading `os.environ` itself, so there is one place that knows the variables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# The project root: the folder holding pyproject.toml, eduwh_assets/ and eduwh_dbt/.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "eduwh_dbt"

# Name of the Dagster concurrency pool shared by every writer of the DuckDB warehouse.
WAREHOUSE_POOL = "duckdb_warehouse"

# DuckDB's memory and threads on every connection (dlt, dbt, checks). DuckDB's own default
# is 80% of the machine's memory per connection; with dbt and dlt beside it that is too much.
# At 1 GB it spills big sorts and joins to disk instead, which keeps each phase under 2 GiB.
DEFAULT_DUCKDB_MEMORY_LIMIT = "1GB"
DEFAULT_DUCKDB_THREADS = 2
# Term-time days without a new valid session before the attendance freshness check warns.
DEFAULT_ATTENDANCE_MAX_AGE_DAYS = 7


@dataclass(frozen=True)
class Settings:
    """Where the warehouse, the landing zone and the SIS are.

    `sis_url` is None when the embedded PostgreSQL server under `data_dir/sis`
    is to be used. `azure_connection_string` is a secret: it is never logged
    and never part of `repr()`.
    """

    data_dir: Path
    warehouse: Path
    landing: str
    sis_url: str | None
    azure_connection_string: str | None
    dagster_home: Path
    duckdb_memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT
    duckdb_threads: int = DEFAULT_DUCKDB_THREADS
    attendance_max_age_days: int = DEFAULT_ATTENDANCE_MAX_AGE_DAYS

    def __repr__(self) -> str:  # keep secrets out of logs and tracebacks
        return (
            f"Settings(warehouse={str(self.warehouse)!r}, landing={self.landing!r}, "
            f"sis={'external' if self.sis_url else 'embedded'}, dagster_home={str(self.dagster_home)!r})"
        )

    @property
    def duckdb_config(self) -> dict[str, str]:
        """The settings every DuckDB connection to the warehouse opens with."""
        return {"memory_limit": self.duckdb_memory_limit, "threads": str(self.duckdb_threads)}

    @property
    def embedded_sis_dir(self) -> Path:
        return self.data_dir / "sis"

    @property
    def rejects_dir(self) -> Path:
        return self.data_dir / "rejects"

    @property
    def landing_is_default(self) -> bool:
        return self.landing == str(self.data_dir / "landing")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("EDUWH_DATA_DIR", str(PROJECT_ROOT / "data"))).resolve()
        warehouse = Path(env.get("EDUWH_WAREHOUSE") or data_dir / "warehouse.duckdb")
        if not warehouse.is_absolute():
            warehouse = (Path.cwd() / warehouse).resolve()
        landing = env.get("EDUWH_LANDING") or str(data_dir / "landing")
        if "://" not in landing:
            landing = str(Path(landing).resolve())
        elif landing.startswith("file://"):
            landing = str(Path(landing[len("file://") :]).resolve())
        return cls(
            data_dir=data_dir,
            warehouse=warehouse,
            landing=landing.rstrip("/") if "://" in landing else landing,
            sis_url=env.get("EDUWH_SIS_URL") or None,
            azure_connection_string=env.get("EDUWH_AZURE_CONNECTION_STRING") or None,
            dagster_home=Path(env.get("DAGSTER_HOME") or data_dir / "dagster").resolve(),
            duckdb_memory_limit=env.get("EDUWH_DUCKDB_MEMORY_LIMIT") or DEFAULT_DUCKDB_MEMORY_LIMIT,
            duckdb_threads=int(env.get("EDUWH_DUCKDB_THREADS") or DEFAULT_DUCKDB_THREADS),
            attendance_max_age_days=int(env.get("EDUWH_ATTENDANCE_MAX_AGE_DAYS") or DEFAULT_ATTENDANCE_MAX_AGE_DAYS),
        )
