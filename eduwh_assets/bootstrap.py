"""The embedded defaults a fresh clone runs on: an embedded SIS seeded with sample data, and sample deliveries.

This module joins the two sides so neither depends on the other: the embedded
SIS (sources.sis_server) knows nothing of sample data, and the generator knows
nothing of when a server starts. Only the embedded defaults are ever written:
an external SIS (EDUWH_SIS_URL) or a landing zone the user chose never is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eduwh_assets.generate.config import DEFAULT_SCALE, GeneratorConfig
from eduwh_assets.generate.dataset import Dataset, generate
from eduwh_assets.generate.writers import is_seeded, landing_has_deliveries, write_landing, write_sis
from eduwh_assets.sources import sis_server

SAMPLE_SEED = 42

# Embedded data folders already checked in this process: the check connects, so it is done once.
_SEEDED: set[Path] = set()


def sample_dataset(scale: str = DEFAULT_SCALE, seed: int = SAMPLE_SEED) -> Dataset:
    # Deterministic, so the SIS and the landing zone, seeded at different times,
    # still come from one data set and agree on the students.
    return generate(GeneratorConfig.for_scale(scale, seed))


def sis_url(settings: Any) -> str:
    """The SQLAlchemy URL of a ready SIS: `settings.sis_url` given its driver, or the embedded server's, seeded."""
    if not sis_server.is_embedded(settings):
        return sis_server.sqlalchemy_url(settings.sis_url)
    url = sis_server.embedded_sis_url(settings.embedded_sis_dir)
    path = Path(settings.embedded_sis_dir).expanduser().resolve()
    if path not in _SEEDED:
        done = seed_embedded_sis(url)
        if done:
            print(done, flush=True)
        _SEEDED.add(path)
    return url


def seed_embedded_sis(url: str, scale: str = DEFAULT_SCALE, seed: int = SAMPLE_SEED) -> str | None:
    """Seed the embedded SIS at `url` if it is empty; returns what was done, or None."""
    if is_seeded(url):
        return None
    counts = write_sis(sample_dataset(scale, seed), url)
    return "seeded the embedded SIS: " + ", ".join(f"{n} {table}" for table, n in counts.items())


def ensure_sample_data(settings: Any, scale: str = DEFAULT_SCALE, seed: int = SAMPLE_SEED) -> list[str]:
    """Seed the embedded SIS and the default landing zone when they are empty; returns what was done.

    `eduwh run` calls it before its first run. Seeding the SIS prints its own
    line there, as it does wherever the embedded SIS is first used.
    """
    done: list[str] = []
    if sis_server.is_embedded(settings):
        sis_url(settings)
    if settings.landing_is_default and not landing_has_deliveries(settings.landing):
        written = write_landing(sample_dataset(scale, seed), settings.landing)
        rows = sum(f.rows for d in written for f in d.files)
        done.append(f"wrote {len(written)} sample deliveries ({rows} rows) to {settings.landing}")
    return done
