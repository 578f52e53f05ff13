"""The help desk in figures, for managers and the finance reports: counts and times only.

Requests are counted per month they arrived (UTC), per country, per topic and per outcome;
the time to a first answer is given as its median (the mean of the two middle waits when
their number is even) and its 90th percentile by nearest rank. Any
count under 5 is shown as ``<5`` (:func:`grants.domain.privacy.suppress_small_count`), with
another withheld beside it where the total would give it away (:func:`protect`), and a
time is shown only where at least 5 requests were answered, so no cell points at a person.
Nothing personal is read: these queries touch only the columns that erasure keeps.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain.privacy import SMALL_CELL_THRESHOLD, SUPPRESSED, suppress_small_count
from grants.models import HelpRequest

WITHHELD = "—"
"""A count of 5 or more withheld, so that a count under 5 beside it cannot be worked out."""


def protect(counts: Mapping[str, int]) -> dict[str, int | str]:
    """``counts`` as shown beside their total: each under 5 as ``<5``; and when exactly one
    is, the smallest other one withheld too (``—``), since the total less the others would
    give it away."""
    shown: dict[str, int | str] = {key: suppress_small_count(n) for key, n in counts.items()}
    hidden = [key for key, value in shown.items() if value == SUPPRESSED]
    if len(hidden) == 1:
        others = sorted((n, key) for key, n in counts.items() if key not in hidden)
        if others:
            shown[others[0][1]] = WITHHELD
    return shown


def nearest_rank(values: list[int], fraction: float) -> int:
    """The ``fraction`` percentile of sorted ``values`` by nearest rank (0.9: the 90th)."""
    return values[max(0, math.ceil(fraction * len(values)) - 1)]


@dataclass(frozen=True)
class AnswerTimes:
    """How long requests waited for their first answer, in seconds; ``None`` when fewer
    than 5 were answered."""

    answered: int | str
    median: int | None
    p90: int | None


def answer_times(waits: list[int]) -> AnswerTimes:
    """The median and 90th percentile of ``waits`` (seconds), shown only from 5 up."""
    ordered = sorted(waits)
    if len(ordered) < SMALL_CELL_THRESHOLD:
        return AnswerTimes(suppress_small_count(len(ordered)), None, None)
    return AnswerTimes(len(ordered), int(statistics.median(ordered)), nearest_rank(ordered, 0.9))


@dataclass(frozen=True)
class MonthRow:
    """One month of the desk."""

    month: str
    """``2026-11``."""
    requests: int | str
    urgent: int | str
    times: AnswerTimes
    outcomes: dict[str, int | str]
    """By outcome (``open`` for those not closed)."""


@dataclass(frozen=True)
class DeskFigures:
    """Everything the managers' page and the report section show."""

    total: int | str
    months: list[MonthRow]
    by_country: list[tuple[str, int | str]]
    by_topic: list[tuple[str, int | str]]
    by_outcome: list[tuple[str, int | str]]
    times: AnswerTimes
    open_now: int | str


def desk_figures(
    session: Session, *, since: datetime | None = None, until: datetime | None = None
) -> DeskFigures:
    """The desk's figures for requests that arrived in ``[since, until)`` (all if open)."""
    query = select(
        HelpRequest.created_at,
        HelpRequest.first_answered_at,
        HelpRequest.country,
        HelpRequest.topic,
        HelpRequest.outcome,
        HelpRequest.urgent,
        HelpRequest.state,
    )
    if since is not None:
        query = query.where(HelpRequest.created_at >= since)
    if until is not None:
        query = query.where(HelpRequest.created_at < until)
    rows = session.execute(query).all()
    per_month: dict[str, list[int]] = defaultdict(list)
    urgent: Counter[str] = Counter()
    counted: Counter[str] = Counter()
    countries: Counter[str] = Counter()
    topics: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    month_outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    waits: list[int] = []
    open_now = 0
    for row in rows:
        month = row.created_at.strftime("%Y-%m")
        counted[month] += 1
        urgent[month] += int(bool(row.urgent))
        countries[row.country] += 1
        topics[str(row.topic)] += 1
        outcome = str(row.outcome) if row.outcome else "open"
        outcomes[outcome] += 1
        month_outcomes[month][outcome] += 1
        open_now += int(row.outcome is None)
        if row.first_answered_at is not None:
            wait = int((row.first_answered_at - row.created_at).total_seconds())
            per_month[month].append(wait)
            waits.append(wait)

    def cells(counter: Counter[str]) -> list[tuple[str, int | str]]:
        return sorted(protect(counter).items())

    per_month_shown = protect(counted)
    return DeskFigures(
        total=suppress_small_count(len(rows)),
        months=[
            MonthRow(
                month,
                per_month_shown[month],
                suppress_small_count(urgent[month]),
                answer_times(per_month[month]),
                protect(month_outcomes[month]),
            )
            for month in sorted(counted)
        ],
        by_country=cells(countries),
        by_topic=cells(topics),
        by_outcome=cells(outcomes),
        times=answer_times(waits),
        open_now=suppress_small_count(open_now),
    )


def duration(seconds: int | None) -> str:
    """``seconds`` as a reader takes it in: ``3 h 20 min``, ``2 d 4 h``; ``—`` for none."""
    if seconds is None:
        return "—"
    minutes = seconds // 60
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"
