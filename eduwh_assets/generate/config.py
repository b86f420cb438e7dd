"""How big and how messy a generated data set is.

A config plus its seed fully determines the output: the same config always
produces byte-identical delivery files and identical SIS rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date

# Per scale: students, deliveries and school days per delivery. Attendance rows
# are roughly students x deliveries x days, less the days after a student
# withdraws, plus the injected extra rows.
SCALES: dict[str, dict[str, int]] = {
    "tiny": {"students": 60, "deliveries": 3, "days_per_delivery": 15},
    "small": {"students": 1030, "deliveries": 10, "days_per_delivery": 10},
    "demo": {"students": 1720, "deliveries": 12, "days_per_delivery": 10},
    "1m": {"students": 5420, "deliveries": 19, "days_per_delivery": 10},
    "10m": {"students": 54200, "deliveries": 19, "days_per_delivery": 10},
}
DEFAULT_SCALE = "demo"

# Share of attendance rows lost to students who withdraw or complete part-way
# (about 9% of students, on average half-way through), net of the injected
# extra rows; used to size a data set from a target row count.
_ROW_YIELD = 0.97


@dataclass(frozen=True)
class GeneratorConfig:
    seed: int = 42
    students: int = SCALES[DEFAULT_SCALE]["students"]
    deliveries: int = SCALES[DEFAULT_SCALE]["deliveries"]
    days_per_delivery: int = SCALES[DEFAULT_SCALE]["days_per_delivery"]
    start_date: date = date(2025, 9, 1)
    students_per_class: int = 25
    assessments_per_month: float = 4.0
    at_risk_share: float = 0.12
    late_student_share: float = 0.01
    # Injected problems. Attendance and assessments each get these shares of
    # their rows, and at least `min_injected` per delivery (when the share is
    # not zero) so that even the tiny scale holds a few of every kind.
    missing_key_share: float = 0.005
    bad_date_share: float = 0.005
    bad_status_share: float = 0.005
    bad_score_share: float = 0.01
    unknown_student_share: float = 0.005
    messy_share: float = 0.01
    duplicate_share: float = 0.005
    restatement_share: float = 0.006
    min_injected: int = 2
    scale: str = DEFAULT_SCALE

    def __post_init__(self) -> None:
        if self.students < 1 or self.deliveries < 1 or self.days_per_delivery < 1:
            raise ValueError("students, deliveries and days_per_delivery must be at least 1")

    @property
    def school_days(self) -> int:
        return self.deliveries * self.days_per_delivery

    @classmethod
    def for_scale(
        cls,
        name: str = DEFAULT_SCALE,
        seed: int = 42,
        *,
        attendance_rows: int | None = None,
        deliveries: int | None = None,
    ) -> "GeneratorConfig":
        """A named scale; `attendance_rows` resizes the student count to reach about that many rows."""
        if name not in SCALES:
            raise ValueError(f"unknown scale {name!r}; choose one of {', '.join(SCALES)}")
        shape = dict(SCALES[name])
        if deliveries is not None:
            shape["deliveries"] = deliveries
        if attendance_rows is not None:
            if attendance_rows < 1:
                raise ValueError("attendance_rows must be positive")
            days = shape["deliveries"] * shape["days_per_delivery"]
            shape["students"] = max(1, math.ceil(attendance_rows / days / _ROW_YIELD))
        elif deliveries is not None:
            # Keep the scale's row count when only the number of deliveries changes.
            base = SCALES[name]
            rows = base["students"] * base["deliveries"] * base["days_per_delivery"]
            shape["students"] = max(1, math.ceil(rows / (deliveries * shape["days_per_delivery"])))
        return cls(seed=seed, scale=name, **shape)

    def with_(self, **changes) -> "GeneratorConfig":
        return replace(self, **changes)
