"""A generated data set: the SIS tables at once, the deliveries built on demand.

Everything follows from the config: the same config always gives byte-identical
delivery files and identical SIS rows, never depending on the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Iterator

import numpy as np
import pandas as pd

from eduwh_assets.generate.assessments import AssessmentBuilder
from eduwh_assets.generate.attendance import AttendanceBuilder
from eduwh_assets.generate.config import GeneratorConfig
from eduwh_assets.generate.deliveries import DeliveryContext, GeneratedDelivery
from eduwh_assets.generate.school_calendar import school_days
from eduwh_assets.generate.sis_rows import sis_rows
from eduwh_assets.generate.student_traits import StudentTraits, student_traits


@dataclass
class Dataset:
    config: GeneratorConfig
    programmes: pd.DataFrame
    classes: pd.DataFrame
    students: pd.DataFrame  # every student, the late ones included
    late_student_ids: list[str]
    unknown_student_ids: list[str]  # ids used in deliveries that never exist in the SIS
    school_days: list[date]
    _traits: StudentTraits
    _cache: list[GeneratedDelivery] | None = None

    @property
    def delivery_codes(self) -> list[str]:
        """Each delivery's code: the date of its last school day."""
        per_delivery = self.config.days_per_delivery
        return [
            self.school_days[(index + 1) * per_delivery - 1].isoformat() for index in range(self.config.deliveries)
        ]

    def sis_students(self, include_late: bool = False) -> pd.DataFrame:
        if include_late:
            return self.students
        return self.students[~self.students["student_id"].isin(self.late_student_ids)].reset_index(drop=True)

    def iter_deliveries(self) -> Iterator[GeneratedDelivery]:
        """Deliveries in code order, built one at a time so large scales need not fit in memory."""
        if self._cache is not None:
            yield from self._cache
            return
        yield from self._build_deliveries()

    @property
    def deliveries(self) -> list[GeneratedDelivery]:
        """All deliveries, built once and kept (fine for the tiny to demo scales)."""
        if self._cache is None:
            self._cache = list(self._build_deliveries())
        return self._cache

    def _build_deliveries(self) -> Iterator[GeneratedDelivery]:
        # One builder per source for the whole run: each carries rows that later deliveries restate.
        context = DeliveryContext(self)
        attendance = AttendanceBuilder(context)
        assessments = AssessmentBuilder(context)
        per_delivery = self.config.days_per_delivery
        for index, code in enumerate(self.delivery_codes):
            days = np.arange(index * per_delivery, (index + 1) * per_delivery)
            attendance_files, attendance_stats = attendance.build(index, days)
            assessment_files, assessment_stats = assessments.build(index, days)
            yield GeneratedDelivery(
                code=code,
                files=attendance_files + assessment_files,
                stats={"attendance": attendance_stats, "assessments": assessment_stats},
            )


def generate(cfg: GeneratorConfig) -> Dataset:
    """Build the SIS tables now; deliveries are built on demand by the returned Dataset."""
    days = school_days(cfg.start_date, cfg.school_days)
    sis = sis_rows(cfg)
    traits, unknown_student_ids = student_traits(cfg, sis, len(days))
    return Dataset(
        config=cfg,
        programmes=sis.programmes,
        classes=sis.classes,
        students=sis.students,
        late_student_ids=sis.late_student_ids,
        unknown_student_ids=unknown_student_ids,
        school_days=days,
        _traits=traits,
    )
