"""Sample data for a fresh clone: `eduwh run` calls `ensure_sample_data` before its first run."""

from __future__ import annotations

from typing import Any

from eduwh_assets.generate.config import DEFAULT_SCALE, GeneratorConfig
from eduwh_assets.generate.core import generate
from eduwh_assets.generate.writers import is_seeded, landing_has_deliveries, write_landing, write_sis
from eduwh_assets.sources import sis_server

SAMPLE_SEED = 42


def ensure_sample_data(settings: Any, scale: str = DEFAULT_SCALE, seed: int = SAMPLE_SEED) -> list[str]:
    """Seed the embedded SIS and the default landing zone when they are empty; returns what was done.

    Only the embedded defaults are touched: an external SIS (settings.sis_url)
    or a landing zone the user chose is never written. Both parts come from one
    generated data set, so the SIS knows the students the deliveries mention
    (apart from the deliberately late ones).
    """
    done: list[str] = []
    seed_sis = sis_server.is_embedded(settings) and not is_seeded(sis_server.sis_url(settings))
    fill_landing = settings.landing_is_default and not landing_has_deliveries(settings.landing)
    if not (seed_sis or fill_landing):
        return done
    dataset = generate(GeneratorConfig.for_scale(scale, seed))
    if seed_sis:
        counts = write_sis(dataset, sis_server.sis_url(settings))
        done.append("seeded the embedded SIS: " + ", ".join(f"{n} {t}" for t, n in counts.items()))
    if fill_landing:
        written = write_landing(dataset, settings.landing)
        rows = sum(f.rows for d in written for f in d.files)
        done.append(f"wrote {len(written)} sample deliveries ({rows} rows) to {settings.landing}")
    return done
