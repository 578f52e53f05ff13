"""The one clock: what time it is, for every view, command and background task.

Entry points read it once and pass ``now`` (or ``today``) into the domain operations they
call, which never read the time themselves to decide anything. Times are aware and in UTC;
a day is a day somewhere: :func:`today_in` and :func:`date_in` say which.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo


def now() -> datetime:
    """The current instant, in UTC."""
    return datetime.now(UTC)


def today() -> date:
    """Today's date in UTC, for what belongs to no one place (a file's name, a report's
    default year); a person's or a fund's day is :func:`today_in` their time zone."""
    return now().date()


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The time zone called ``name`` (an IANA name), read once."""
    return ZoneInfo(name)


def date_in(moment: datetime, time_zone: str) -> date:
    """The day it is in ``time_zone`` at ``moment`` (an aware instant)."""
    return moment.astimezone(zone(time_zone)).date()


def today_in(time_zone: str) -> date:
    """Today's date in ``time_zone``: the day a person's action, or a fund's plan year, is
    judged by."""
    return date_in(now(), time_zone)


def start_of_day(day: date, time_zone: str) -> datetime:
    """The first instant of ``day`` in ``time_zone``, in UTC (midnight there, whatever the
    clocks did that night)."""
    return datetime.combine(day, time(0), tzinfo=zone(time_zone)).astimezone(UTC)


def end_of_day(day: date, time_zone: str) -> datetime:
    """The first instant after ``day`` in ``time_zone``, in UTC."""
    return start_of_day(day + timedelta(days=1), time_zone)
