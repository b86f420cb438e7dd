"""Behaviour the SIS does not show but the deliveries do: absence, lateness, ability, leaving part-way."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from eduwh_assets.generate.arrow_text import LARGE_STRING
from eduwh_assets.generate.config import GeneratorConfig
from eduwh_assets.generate.random_draws import STUDENT_TRAITS, random_stream
from eduwh_assets.generate.sis_rows import SisRows

# ENROLMENT_STATUSES codes of the students who stop attending part-way (withdrawn, completed).
_LEAVER_CODES = (2, 3)
NEVER = np.iinfo(np.int64).max


@dataclass
class StudentTraits:
    # What a delivery's student codes index: SIS student ids, then unknown ids, then "".
    id_vocabulary: pa.Array
    student_count: int  # codes below this are SIS students
    register_order: np.ndarray  # SIS students sorted by class, then id
    class_index: np.ndarray
    leaving_day: np.ndarray  # first school-day index (from the first delivery) the student no longer attends
    absence_chance: np.ndarray
    lateness_chance: np.ndarray
    excused_chance: np.ndarray
    ability: np.ndarray  # mean score fraction

    @property
    def empty_id_code(self) -> int:
        return len(self.id_vocabulary) - 1


def student_traits(cfg: GeneratorConfig, sis: SisRows, n_school_days: int) -> tuple[StudentTraits, list[str]]:
    """Each student's traits, and the ids deliveries use for students the SIS never holds."""
    rng = random_stream(cfg, STUDENT_TRAITS)
    n = cfg.students
    at_risk = rng.random(n) < cfg.at_risk_share
    absence_chance = np.where(at_risk, rng.beta(4, 8, n), rng.beta(1.2, 30, n))
    lateness_chance = rng.beta(1.5, 30, n)
    excused_chance = rng.beta(1, 60, n)
    ability = np.clip(np.where(at_risk, rng.normal(0.48, 0.1, n), rng.normal(0.68, 0.12, n)), 0.12, 0.98)
    leaving_day = np.full(n, NEVER)
    leavers = np.isin(sis.enrolment_code, _LEAVER_CODES)
    leaving_day[leavers] = rng.integers(1, max(2, n_school_days), int(leavers.sum()))

    digits = sis.student_id_digits
    n_unknown = max(5, math.ceil(cfg.unknown_student_share * n * 2))
    # Counted down from the largest id of the SIS's width, so they never clash with a real one.
    unknown_ids = [f"S{10**digits - 1 - down:0{digits}d}" for down in range(n_unknown)]
    traits = StudentTraits(
        id_vocabulary=pa.array(sis.students["student_id"].tolist() + unknown_ids + [""], LARGE_STRING),
        student_count=n,
        register_order=np.lexsort((np.arange(n), sis.class_of_student)),
        class_index=sis.class_of_student,
        leaving_day=leaving_day,
        absence_chance=absence_chance,
        lateness_chance=lateness_chance,
        excused_chance=excused_chance,
        ability=ability,
    )
    return traits, unknown_ids
