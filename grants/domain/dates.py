"""Dates and times as people read them: formatted with Babel in a locale, in a time zone.

Stored times are aware and in UTC, and dates are plain days; what a person sees is a day in
their locale's words (``27 Dec 2026`` in en_GB, ``Dec 27, 2026`` in en_US) and a moment in
their own time zone, named (``27 Dec 2026, 16:39 GMT``; ``Dec 27, 2026, 11:39 AM EST``).
Machine-readable copies (a ``<time datetime>`` attribute, a stored payload) stay ISO 8601.

A page may show hundreds of dates, and Babel reads its locale data for each one: each
locale's patterns are read once, and a day already written is remembered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from babel import Locale
from babel.dates import DateTimePattern, parse_pattern

from grants.clock import zone
from grants.domain.errors import InvalidInput
from grants.domain.money import DEFAULT_LOCALE, _locale


@dataclass(frozen=True)
class Patterns:
    """A locale's patterns for a day, a time of day, and the two together."""

    locale: Locale
    day: DateTimePattern
    long_day: DateTimePattern
    time: DateTimePattern
    joined: str
    """How a day and a time are joined, such as ``{1}, {0}`` (the day is ``{1}``)."""


@lru_cache(maxsize=16)
def _patterns(locale: str) -> Patterns:
    parsed = Locale.parse(_locale(locale))
    return Patterns(
        locale=parsed,
        day=parse_pattern(parsed.date_formats["medium"]),
        long_day=parse_pattern(parsed.date_formats["long"]),
        time=parse_pattern(parsed.time_formats["short"]),
        joined=str(parsed.datetime_formats["medium"]),
    )


@lru_cache(maxsize=4096)
def format_day(day: date, locale: str = DEFAULT_LOCALE) -> str:
    """``day`` as ``locale`` writes it briefly: ``27 Dec 2026`` (en_GB), ``Dec 27, 2026``
    (en_US)."""
    patterns = _patterns(locale)
    return patterns.day.apply(day, patterns.locale)


@lru_cache(maxsize=1024)
def format_long_day(day: date, locale: str = DEFAULT_LOCALE) -> str:
    """``day`` in full: ``27 December 2026`` (en_GB), ``December 27, 2026`` (en_US)."""
    patterns = _patterns(locale)
    return patterns.long_day.apply(day, patterns.locale)


def local(moment: datetime, time_zone: str) -> datetime:
    """``moment`` (aware) as the clocks in ``time_zone`` show it."""
    return moment.astimezone(zone(time_zone))


def local_day(moment: datetime, time_zone: str, locale: str = DEFAULT_LOCALE) -> str:
    """The day of ``moment`` in ``time_zone``, written as :func:`format_day` does."""
    return format_day(local(moment, time_zone).date(), locale)


def zone_abbreviation(moment: datetime, time_zone: str) -> str:
    """The short name of ``time_zone``'s time at ``moment``: ``GMT`` or ``BST`` in
    Europe/London, ``EST`` or ``EDT`` in America/New_York (``+03`` where the zone has no
    letters)."""
    return local(moment, time_zone).tzname() or time_zone


def format_moment(moment: datetime, time_zone: str, locale: str = DEFAULT_LOCALE) -> str:
    """``moment`` as a person in ``time_zone`` reads it, with the zone's short name:
    ``27 Dec 2026, 16:39 GMT`` (en_GB), ``Dec 27, 2026, 11:39 AM EST`` (en_US)."""
    there = local(moment, time_zone)
    written = _day_and_time(there.date(), there.hour, there.minute, locale)
    return f"{written} {there.tzname() or time_zone}"


@lru_cache(maxsize=4096)
def _day_and_time(day: date, hour: int, minute: int, locale: str) -> str:
    """A day and a time of day (to the minute) as ``locale`` joins them."""
    patterns = _patterns(locale)
    clock_time = patterns.time.apply(time(hour, minute), patterns.locale)
    written = patterns.joined.replace("{1}", format_day(day, locale))
    return written.replace("{0}", clock_time)


@lru_cache(maxsize=256)
def format_time_of_day(at: time, locale: str = DEFAULT_LOCALE) -> str:
    """A time of day as ``locale`` writes it briefly: ``08:00`` (en_GB), ``8:00 AM``
    (en_US)."""
    patterns = _patterns(locale)
    return patterns.time.apply(at, patterns.locale)


def zone_name(time_zone: str) -> str:
    """An IANA time zone name as people read it: ``America/New York``."""
    return time_zone.replace("_", " ")


def format_deadline(moment: datetime, time_zone: str, locale: str = DEFAULT_LOCALE) -> str:
    """A deadline as an email or a page states it, the zone named in full as well:
    ``27 Dec 2026, 16:39 GMT (Europe/London time)``."""
    written = format_moment(moment, time_zone, locale)
    return written if time_zone == "UTC" else f"{written} ({zone_name(time_zone)} time)"


@dataclass(frozen=True)
class SkippedHour:
    """A day on which a zone's clocks jump forward past a time of day: between ``start`` and
    ``end`` (local, naive) no clock there shows a time."""

    day: date
    start: time
    end: time


def skipped_on(at: time, time_zone: str, *, since: date, days: int = 366) -> SkippedHour | None:
    """The first day from ``since`` (within ``days``) on which ``at`` does not happen in
    ``time_zone``, because the clocks go forward over it; ``None`` when it happens every day."""
    there = zone(time_zone)
    for offset in range(days):
        day = since + timedelta(days=offset)
        wall = datetime.combine(day, at, tzinfo=there)
        if wall.astimezone(UTC).astimezone(there).replace(tzinfo=None) == wall.replace(tzinfo=None):
            continue
        low = datetime.combine(day - timedelta(days=1), time(12), tzinfo=there).astimezone(UTC)
        high = low + timedelta(days=2)
        before = low.astimezone(there).utcoffset() or timedelta(0)
        while high - low > timedelta(seconds=1):
            middle = low + (high - low) / 2
            if middle.astimezone(there).utcoffset() == before:
                low = middle
            else:
                high = middle
        change = high.replace(second=0, microsecond=0)
        return SkippedHour(
            day=day, start=(change + before).time(), end=change.astimezone(there).time()
        )
    return None


def wall_clock_moment(
    wall: datetime, time_zone: str, *, field: str | None = None, locale: str = DEFAULT_LOCALE
) -> datetime:
    """The moment (aware, UTC) at which clocks in ``time_zone`` show ``wall`` (naive), such
    as a report's cutoff typed as "your time". :class:`InvalidInput` (on ``field``) when the
    clocks skip that time as they go forward, or show it twice as they go back, or when it
    lies beyond the last moment a date can hold once in UTC: the person is asked for another
    time, never given one they did not mean."""
    there = zone(time_zone)
    first, second = wall.replace(tzinfo=there, fold=0), wall.replace(tzinfo=there, fold=1)
    written = _day_and_time(wall.date(), wall.hour, wall.minute, locale)
    try:
        first.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(
            f"{written} is too far ahead: choose a nearer time.", field=field
        ) from None
    if first.utcoffset() != second.utcoffset():
        if first.astimezone(UTC).astimezone(there).replace(tzinfo=None) != wall:
            raise InvalidInput(
                f"{written} does not happen in {zone_name(time_zone)}: the clocks go forward "
                "over it. Choose another time.",
                field=field,
            )
        raise InvalidInput(
            f"{written} happens twice in {zone_name(time_zone)}, as the clocks go back. "
            "Choose a time outside that hour.",
            field=field,
        )
    return first.astimezone(UTC)
