"""What a report covers: its currency or fund, its period, its cutoff and its privacy level,
checked from what a person asked for."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from grants.domain.dates import format_day
from grants.domain.errors import InvalidInput, NotFound
from grants.models import Fund

RANGE_MAX_DAYS = 5 * 366
"""The longest date range a report covers."""


class Privacy(StrEnum):
    """How much a report shows."""

    FINANCE = "finance"
    """Everything, including a table per ambassador."""
    PROGRAMME = "programme"
    """Aggregates only, with counts under five suppressed."""

    @property
    def label(self) -> str:
        return {
            "finance": "Finance (full detail)",
            "programme": "Programme (aggregates only, counts under 5 suppressed)",
        }[self.value]


Count = int | str | None
"""A count as shown: the number, ``"<5"`` when it is suppressed, or ``None`` when it is
withheld so that a suppressed count cannot be found by subtraction."""


@dataclass(frozen=True)
class ReportParameters:
    """What one report covers. ``cutoff`` ``None`` means the ledger as it is now."""

    currency: str
    start: date
    end: date
    privacy: Privacy
    fund_id: int | None = None
    cutoff: datetime | None = None

    def canonical(self) -> dict[str, Any]:
        """The parameters as plain JSON values, in a fixed order (cache keys, job records)."""
        return {
            "currency": self.currency,
            "fund_id": self.fund_id,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "cutoff": self.cutoff.isoformat() if self.cutoff else None,
            "privacy": self.privacy.value,
        }

    @classmethod
    def from_canonical(cls, values: dict[str, Any]) -> ReportParameters:
        """The parameters :meth:`canonical` wrote."""
        return cls(
            currency=values["currency"],
            fund_id=values["fund_id"],
            start=date.fromisoformat(values["start"]),
            end=date.fromisoformat(values["end"]),
            cutoff=datetime.fromisoformat(values["cutoff"]) if values["cutoff"] else None,
            privacy=Privacy(values["privacy"]),
        )

    @property
    def calendar_year(self) -> bool:
        """Whether the range is one whole calendar year."""
        return (
            self.start.month == 1
            and self.start.day == 1
            and self.end == date(self.start.year, 12, 31)
        )

    @property
    def period(self) -> str:
        """The date range as the CSV and the file name write it: ``2026`` for a calendar
        year, else ``2026-03-01 to 2026-06-30`` (ISO 8601)."""
        if self.calendar_year:
            return str(self.start.year)
        return f"{self.start.isoformat()} to {self.end.isoformat()}"

    def period_in(self, locale: str) -> str:
        """The date range as people read it in ``locale``: ``2026`` for a calendar year, else
        ``1 Mar 2026 to 30 Jun 2026`` (en_GB), ``Mar 1, 2026 to Jun 30, 2026`` (en_US)."""
        if self.calendar_year:
            return str(self.start.year)
        return f"{format_day(self.start, locale)} to {format_day(self.end, locale)}"


def report_parameters(
    session: Session,
    *,
    currency: str | None,
    fund_id: int | None = None,
    year: int | None = None,
    start: date | None = None,
    end: date | None = None,
    cutoff: datetime | None = None,
    privacy: str = Privacy.FINANCE.value,
    now: datetime,
) -> ReportParameters:
    """Check what a person asked for and make it a :class:`ReportParameters`.

    Give a currency or a fund (the fund's currency is the report's), and a plan year or a
    date range. A cutoff must not be in the future; none means now.
    """
    if fund_id is not None:
        fund = session.get(Fund, fund_id)
        if fund is None:
            raise NotFound("There is no such fund.")
        if currency and currency.strip().upper() != fund.currency:
            raise InvalidInput(
                f"{fund.name} is in {fund.currency}, not {currency.strip().upper()}.",
                field="currency",
            )
        code = fund.currency
    else:
        code = (currency or "").strip().upper()
        if len(code) != 3 or not code.isalpha():
            raise InvalidInput("Choose a currency or a fund.", field="currency")
    if year is not None:
        if start is not None or end is not None:
            raise InvalidInput("Give a plan year or a date range, not both.", field="year")
        if not 2000 <= year <= 2100:
            raise InvalidInput("Give a plan year between 2000 and 2100.", field="year")
        start, end = date(year, 1, 1), date(year, 12, calendar.monthrange(year, 12)[1])
    if start is None or end is None:
        raise InvalidInput("Give a plan year or both dates of a range.", field="start")
    if end < start:
        raise InvalidInput("The range ends before it starts.", field="end")
    if (end - start).days > RANGE_MAX_DAYS:
        raise InvalidInput("A report covers at most five years.", field="end")
    if cutoff is not None:
        if cutoff.tzinfo is None:
            cutoff = cutoff.replace(tzinfo=UTC)
        if cutoff > now:
            raise InvalidInput("The cutoff cannot be in the future.", field="cutoff")
        cutoff = cutoff.astimezone(UTC).replace(microsecond=0)
    try:
        level = Privacy(privacy)
    except ValueError:
        raise InvalidInput("Choose the finance or the programme level.", field="privacy") from None
    return ReportParameters(
        currency=code, start=start, end=end, privacy=level, fund_id=fund_id, cutoff=cutoff
    )
