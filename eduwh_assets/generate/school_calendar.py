"""The school calendar deliveries follow: weekdays outside half-terms and breaks."""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache


def _monday_on_or_before(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _academic_year(day: date) -> int:
    """The calendar year in which the day's academic year starts (September)."""
    return day.year if day.month >= 9 else day.year - 1


@lru_cache(maxsize=None)
def _holidays(academic_year: int) -> tuple[tuple[date, date], ...]:
    """Half-terms and breaks of the academic year starting in September `academic_year` (end exclusive)."""
    year = academic_year
    spans = [
        (_monday_on_or_before(date(year, 10, 27)), 7),  # October half-term
        (_monday_on_or_before(date(year, 12, 22)), 14),  # Christmas
        (_monday_on_or_before(date(year + 1, 2, 16)), 7),  # February half-term
        (_monday_on_or_before(date(year + 1, 4, 3)), 14),  # Easter
        (_monday_on_or_before(date(year + 1, 5, 26)), 7),  # May half-term
    ]
    holidays = [(start, start + timedelta(days=length)) for start, length in spans]
    holidays.append((date(year + 1, 7, 20), date(year + 1, 9, 1)))  # summer
    return tuple(holidays)


def is_school_day(day: date) -> bool:
    if day.weekday() >= 5:
        return False
    return not any(start <= day < end for start, end in _holidays(_academic_year(day)))


def school_days(start: date, count: int) -> list[date]:
    """The first `count` school days on or after `start`."""
    days: list[date] = []
    day = start
    while len(days) < count:
        if is_school_day(day):
            days.append(day)
        day += timedelta(days=1)
    return days


def academic_year_label(day: date) -> str:
    """`2025/26` for any day from September 2025 to August 2026."""
    year = _academic_year(day)
    return f"{year}/{(year + 1) % 100:02d}"
