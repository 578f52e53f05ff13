"""The one clock: what time it is, for every view, command and background task.

Entry points read it once and pass ``now`` (or ``today``) into the domain operations they
call, which never read the time themselves to decide anything. Times are aware and in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime


def now() -> datetime:
    """The current instant, in UTC."""
    return datetime.now(UTC)


def today() -> date:
    """Today's date in UTC: the day a plan year, a payment or a session date is judged by."""
    return now().date()
