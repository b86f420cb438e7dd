"""Sample data for a fresh clone: `eduwh run` calls `ensure_sample_data` before its first run."""

from __future__ import annotations

from typing import Any

from eduwh_assets.generate.config import DEFAULT_SCALE, GeneratorConfig
from eduwh_assets.generate.dataset import generate
from eduwh_assets.generate.writers import is_seeded, landing_has_deliveries, write_landing, write_sis
from eduwh_assets.sources import sis_server

SAMPLE_SEED = 42


def sample_dataset(scale: str = DEFAULT_SCALE, seed: int = SAMPLE_SEED):
    # Deterministic, so the SIS and the landing zone, seeded at different times,
    # still come from one data set and agree on the students.
    return generate(GeneratorConfig.for_scale(scale, seed))


def seed_embedded_sis(url: str, scale: str = DEFAULT_SCALE, seed: int = SAMPLE_SEED) -> str | None:
    """Seed the embedded SIS at `url` if it is empty; returns what was done, or None."""
    if is_seeded(url):
        return None
    counts = write_sis(sample_dataset(scale, seed), url)
    return "seeded the embedded SIS: " + ", ".join(f"{n} {t}" for t, n in counts.items())


def ensure_sample_data(settings: Any, scale: str = DEFAULT_SCALE, seed: int = SAMPLE_SEED) -> list[str]:
    """Seed the embedded SIS and the default landing zone when they are empty; returns what was done.

    Only the embedded defaults are touched: an external SIS (settings.sis_url)
    or a landing zone the user chose is never written.
    """
    done: list[str] = []
    if sis_server.is_embedded(settings):
        sis_server.sis_url(settings)  # starting the embedded SIS seeds it
    if settings.landing_is_default and not landing_has_deliveries(settings.landing):
        written = write_landing(sample_dataset(scale, seed), settings.landing)
        rows = sum(f.rows for d in written for f in d.files)
        done.append(f"wrote {len(written)} sample deliveries ({rows} rows) to {settings.landing}")
    return done
