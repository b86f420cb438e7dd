"""Where the generator's random draws come from, and how many rows a share of problems picks.

Every draw comes from a generator seeded by (seed, purpose, index), so the
output depends on the config alone and never on the clock, and changing one
part of the generator does not shift the draws of another.
"""

from __future__ import annotations

import numpy as np

from eduwh_assets.generate.config import GeneratorConfig

# Purposes, each with its own random stream. The values are part of the seed: never renumber them.
SIS, STUDENT_TRAITS, ATTENDANCE, ASSESSMENTS, LAYOUT = range(5)


def random_stream(cfg: GeneratorConfig, purpose: int, index: int = 0) -> np.random.Generator:
    """The stream for `purpose`; `index` tells apart streams of one purpose, e.g. one per delivery."""
    return np.random.default_rng([cfg.seed, purpose, index])


def injected_count(share: float, rows: int, minimum: int) -> int:
    """How many rows get an injected problem: the share, but at least `minimum` when the share is not zero."""
    if share <= 0 or rows <= 0:
        return 0
    return min(rows, max(minimum, round(share * rows)))
