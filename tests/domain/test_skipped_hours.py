"""The hours a zone's clocks skip when they go forward: a daily email cannot be set for one."""

from __future__ import annotations

from datetime import date, time

import pytest

from grants.domain.dates import SkippedHour, skipped_on

SINCE = date(2026, 11, 28)


@pytest.mark.parametrize(
    ("at", "time_zone", "skipped"),
    [
        (time(1), "Europe/London", SkippedHour(date(2027, 3, 28), time(1), time(2))),
        (time(0, 59), "Europe/London", None),
        (time(2), "Europe/London", None),
        (time(2), "America/New_York", SkippedHour(date(2027, 3, 14), time(2), time(3))),
        (time(1), "America/New_York", None),
        (time(0), "America/Havana", SkippedHour(date(2027, 3, 14), time(0), time(1))),
        (time(2), "Australia/Lord_Howe", SkippedHour(date(2027, 10, 3), time(2), time(2, 30))),
        (time(2, 30), "Australia/Lord_Howe", None),
        (time(0), "Asia/Kolkata", None),
        (time(1), "UTC", None),
    ],
)
def test_a_time_the_clocks_skip_is_found_with_the_day_and_the_hour_they_skip(
    at: time, time_zone: str, skipped: SkippedHour | None
) -> None:
    assert skipped_on(at, time_zone, since=SINCE) == skipped


def test_only_the_coming_days_are_searched() -> None:
    assert skipped_on(time(1), "Europe/London", since=SINCE, days=30) is None
    assert skipped_on(time(1), "Europe/London", since=date(2027, 3, 28), days=1) == SkippedHour(
        date(2027, 3, 28), time(1), time(2)
    )
