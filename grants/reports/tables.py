"""The report's tables, described once for the PDF and for the CSV export.

A table is a name (used in CSV file names), a title, typed columns and rows of raw values:
money as integer minor units (``None`` when withheld for privacy), counts as numbers or
``"<5"``. Each output formats the values its own way.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from grants.domain.privacy import suppress_small_count
from grants.reports.queries import Count, Privacy, ReportData


class Kind(StrEnum):
    """How a column's values are formatted."""

    TEXT = "text"
    MONEY = "money"
    COUNT = "count"
    DATE = "date"


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: Kind = Kind.TEXT

    @property
    def numeric(self) -> bool:
        return self.kind in (Kind.MONEY, Kind.COUNT)


@dataclass(frozen=True)
class Table:
    """One table of the report, with a totals row when it has one."""

    name: str
    title: str
    columns: tuple[Column, ...]
    rows: list[tuple[Any, ...]]
    totals: tuple[Any, ...] | None
    totals_label: str = "Total"

    @property
    def totals_span(self) -> int:
        """How many leading columns the totals row's label spans (those it has no total for)."""
        if self.totals is None:
            return 0
        span = 1
        while span < len(self.totals) and self.totals[span] in (None, ""):
            span += 1
        return span


FUND_COLUMNS = (
    Column("fund", "Fund"),
    Column("kind", "Kind"),
    Column("plan_year_start", "Plan year from", Kind.DATE),
    Column("plan_year_end", "Plan year to", Kind.DATE),
    Column("budget", "Budget", Kind.MONEY),
    Column("allocated", "Allocated or committed", Kind.MONEY),
    Column("paid", "Paid", Kind.MONEY),
    Column("outstanding", "Outstanding", Kind.MONEY),
    Column("remaining", "Remaining", Kind.MONEY),
)
GRANT_COLUMNS = (
    Column("partner", "Partner"),
    Column("grant", "Grant", Kind.COUNT),
    Column("purpose", "Purpose"),
    Column("category", "Category"),
    Column("status", "Status"),
    Column("amount", "Amount", Kind.MONEY),
    Column("paid", "Paid", Kind.MONEY),
    Column("outstanding", "Outstanding", Kind.MONEY),
    Column("tranches_paid", "Tranches paid", Kind.COUNT),
    Column("tranches", "Tranches", Kind.COUNT),
)
THERAPY_COLUMNS = (
    Column("programme", "Programme"),
    Column("country", "Country"),
    Column("ambassadors", "Ambassadors", Kind.COUNT),
    Column("allocated", "Allowance allocated", Kind.MONEY),
    Column("gifts", "Gifts", Kind.COUNT),
    Column("gifted", "Gifted", Kind.MONEY),
    Column("claims", "Claims", Kind.COUNT),
    Column("claimed", "Claimed", Kind.MONEY),
    Column("redeemed", "Redeemed", Kind.MONEY),
    Column("paid", "Paid to providers", Kind.MONEY),
    Column("expired", "Expired", Kind.MONEY),
    Column("outstanding", "Outstanding liability", Kind.MONEY),
)
AMBASSADOR_COLUMNS = (
    Column("ambassador", "Ambassador"),
    Column("programme", "Programme"),
    Column("country", "Country"),
    Column("allocated", "Allocated", Kind.MONEY),
    Column("gifted", "Gifted out", Kind.MONEY),
    Column("redeemed", "Redeemed", Kind.MONEY),
    Column("remaining", "Remaining", Kind.MONEY),
)

TABLE_NAMES = ("funds", "grants", "therapy", "ambassadors")


def report_tables(data: ReportData) -> list[Table]:
    """The report's tables in the order they are printed; no per-ambassador table at the
    programme level."""
    fund_totals = data.fund_totals
    grant_totals = data.grant_totals
    therapy_totals = data.therapy_totals
    programme_level = data.parameters.privacy is Privacy.PROGRAMME

    def count(total: int) -> Count:
        return suppress_small_count(total) if programme_level else total

    tables = [
        Table(
            name="funds",
            title="Funds",
            columns=FUND_COLUMNS,
            rows=[
                (
                    f.name,
                    f.kind.value,
                    f.plan_year_start,
                    f.plan_year_end,
                    f.budget,
                    f.allocated,
                    f.paid,
                    f.outstanding,
                    f.remaining,
                )
                for f in data.funds
            ],
            totals=(
                None,
                None,
                None,
                None,
                *(
                    fund_totals[key]
                    for key in ("budget", "allocated", "paid", "outstanding", "remaining")
                ),
            ),
        ),
        Table(
            name="grants",
            title="Grants by partner",
            columns=GRANT_COLUMNS,
            rows=[
                (
                    g.partner,
                    g.grant_id,
                    g.purpose,
                    g.category,
                    g.status.value,
                    g.amount,
                    g.paid,
                    g.outstanding,
                    g.tranches_paid,
                    g.tranches,
                )
                for g in data.grants
            ],
            totals=(
                None,
                None,
                None,
                None,
                None,
                *(
                    grant_totals[key]
                    for key in ("amount", "paid", "outstanding", "tranches_paid", "tranches")
                ),
            ),
        ),
        Table(
            name="therapy",
            title="Therapy credit by programme and country",
            columns=THERAPY_COLUMNS,
            rows=[
                (
                    c.programme,
                    c.country,
                    c.people,
                    c.allocated,
                    c.gifts,
                    c.gifted,
                    c.claims,
                    c.claimed,
                    c.redeemed,
                    c.paid,
                    c.expired,
                    c.outstanding,
                )
                for c in data.therapy
            ],
            totals=(
                None,
                None,
                count(therapy_totals["people"]),
                therapy_totals["allocated"],
                count(therapy_totals["gifts"]),
                therapy_totals["gifted"],
                count(therapy_totals["claims"]),
                *(
                    therapy_totals[key]
                    for key in ("claimed", "redeemed", "paid", "expired", "outstanding")
                ),
            ),
            totals_label="Total of the cells shown" if programme_level else "Total",
        ),
    ]
    if not programme_level:
        ambassador_totals = data.ambassador_totals
        tables.append(
            Table(
                name="ambassadors",
                title="Therapy credit by ambassador",
                columns=AMBASSADOR_COLUMNS,
                rows=[
                    (a.name, a.programme, a.country, a.allocated, a.gifted, a.redeemed, a.remaining)
                    for a in data.ambassadors
                ],
                totals=(
                    None,
                    None,
                    None,
                    *(
                        ambassador_totals[key]
                        for key in ("allocated", "gifted", "redeemed", "remaining")
                    ),
                ),
            )
        )
    return tables


def find_table(data: ReportData, name: str) -> Table | None:
    """The table called ``name`` in the report, if it has one."""
    return next((table for table in report_tables(data) if table.name == name), None)
