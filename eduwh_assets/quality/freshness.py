"""Attendance freshness: is the warehouse still receiving registers?

A school that stops sending registers leaves every rate looking fine and
frozen. The check counts the term-time days since the newest valid session;
July and August are the summer break in the academic year of SPEC §4 (a year
starts on 1 September), so days in them do not count.
"""


import datetime as dt

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, AssetKey, ResourceParam, asset_check

from eduwh_assets.config import Settings
from eduwh_assets.quality.describe import check_description
from eduwh_assets.quality.warehouse import relation_kind
from eduwh_assets.warehouse import Warehouse, WarehouseMissing, on_warehouse

SUMMER_MONTHS = (7, 8)
FACT_ATTENDANCE = "silver.fact_attendance"


def term_days_since(newest: dt.date, today: dt.date) -> int:
    """Days after `newest` up to and including `today`, leaving out July and August."""
    days = 0
    day = newest + dt.timedelta(days=1)
    while day <= today:
        if day.month not in SUMMER_MONTHS:
            days += 1
        day += dt.timedelta(days=1)
    return days


def judge_freshness(newest: dt.date | None, today: dt.date, max_age_days: int) -> AssetCheckResult:
    metadata = {"max_age_days": max_age_days, "today": today.isoformat()}
    if newest is None:
        return AssetCheckResult(
            passed=False,
            severity=AssetCheckSeverity.WARN,
            description="No valid attendance session in the warehouse yet: no register has loaded.",
            metadata=metadata,
        )
    age = term_days_since(newest, today)
    metadata |= {"newest_session": newest.isoformat(), "term_days_since_newest": age}
    if age <= max_age_days:
        return AssetCheckResult(
            passed=True,
            description=f"Newest valid session {newest.isoformat()}, {age} term-time day(s) ago.",
            metadata=metadata,
        )
    return AssetCheckResult(
        passed=False,
        severity=AssetCheckSeverity.WARN,
        description=(
            f"Newest valid session {newest.isoformat()} is {age} term-time days old, more than {max_age_days}: "
            "check that the register export still runs and that its deliveries reach the landing zone, "
            "or raise EDUWH_ATTENDANCE_MAX_AGE_DAYS for a longer break."
        ),
        metadata=metadata,
    )


@on_warehouse(asset_check)(
    asset=AssetKey(["silver", "fact_attendance"]),
    name="attendance_freshness",
    blocking=False,
    description=check_description(
        "the number of term-time days (July and August left out) since the newest valid attendance "
        "session, against EDUWH_ATTENDANCE_MAX_AGE_DAYS (default 7).",
        "every rate and at-risk flag is only as current as the registers; a silent export failure freezes "
        "them. It warns, never blocks.",
        "check that the register export still runs and its deliveries land complete (with _manifest.json); "
        "after a planned break, raise EDUWH_ATTENDANCE_MAX_AGE_DAYS.",
    ),
)
def attendance_freshness(
    context: AssetCheckExecutionContext, settings: ResourceParam[Settings], warehouse: Warehouse
) -> AssetCheckResult:
    try:
        with warehouse.read_only_connection() as conn:
            newest = None
            if relation_kind(conn, FACT_ATTENDANCE) is not None:
                newest = conn.execute(f"select max(session_date) from {FACT_ATTENDANCE}").fetchone()[0]
    except WarehouseMissing:
        newest = None
    result = judge_freshness(newest, dt.date.today(), settings.attendance_max_age_days)
    context.log.info(result.description)
    return result
