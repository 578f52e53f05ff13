"""The report's tables, described once for the PDF and for the CSV export.

A table is a name (used in CSV file names), a title, typed columns and rows of raw values:
money as integer minor units (``None`` when withheld for privacy), counts as numbers or
``"<5"``. Each output formats the values its own way.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from grants.domain.helpdesk_figures import duration
from grants.domain.privacy import suppress_small_count
from grants.models import FundKind, GrantStatus
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
    """One table of the report, with a totals row when it has one.

    ``group`` names a column whose value the PDF and the preview print as a caption above
    each run of rows sharing it (the fund of the therapy rows) instead of in every row; the
    CSV keeps it as a column.
    """

    name: str
    title: str
    columns: tuple[Column, ...]
    rows: list[tuple[Any, ...]]
    totals: tuple[Any, ...] | None
    totals_label: str = "Total"
    group: str | None = None
    note: str = ""

    @property
    def totals_span(self) -> int:
        """How many leading columns the totals row's label spans (those it has no total for)."""
        if self.totals is None:
            return 0
        span = 1
        while span < len(self.totals) and self.totals[span] in (None, ""):
            span += 1
        return span

    @property
    def group_index(self) -> int | None:
        """The position of the ``group`` column, if the table has one."""
        keys = [column.key for column in self.columns]
        return keys.index(self.group) if self.group in keys else None


FUND_KINDS = {FundKind.GRANTS: "Grants", FundKind.THERAPY: "Therapy"}
GRANT_STATUSES = {status: status.value.capitalize() for status in GrantStatus}
"""Status words as people say them: ``Active``, ``Closed``."""

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
RECONCILIATION_COLUMNS = (
    Column("fund", "Fund"),
    Column("available", "Credit available in wallets", Kind.MONEY),
    Column("held_gifts", "Held for pending gifts", Kind.MONEY),
    Column("held_sessions", "Held for pending session requests", Kind.MONEY),
    Column("payable", "Payable to providers", Kind.MONEY),
    Column("awarded", "Grants awarded, not yet paid", Kind.MONEY),
    Column("outstanding", "Outstanding (funds table)", Kind.MONEY),
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
    Column("fund", "Fund"),
    Column("programme", "Programme"),
    Column("country", "Country"),
    Column("people", "People", Kind.COUNT),
    Column("allocated", "Allocated or received", Kind.MONEY),
    Column("gifts", "Gifts", Kind.COUNT),
    Column("gifted", "Gifted", Kind.MONEY),
    Column("claims", "Claims", Kind.COUNT),
    Column("claimed", "Claimed", Kind.MONEY),
    Column("redeemed", "Redeemed", Kind.MONEY),
    Column("paid", "Paid to providers", Kind.MONEY),
    Column("expired", "Expired", Kind.MONEY),
    Column("held", "Held", Kind.MONEY),
    Column("available", "Available", Kind.MONEY),
)
AMBASSADOR_COLUMNS = (
    Column("fund", "Fund"),
    Column("ambassador", "Person"),
    Column("programme", "Programme"),
    Column("country", "Country"),
    Column("allocated", "Allocated or received", Kind.MONEY),
    Column("gifted", "Gifted out", Kind.MONEY),
    Column("redeemed", "Redeemed", Kind.MONEY),
    Column("remaining", "Held and available", Kind.MONEY),
)

TABLE_NAMES = ("funds", "reconciliation", "grants", "therapy", "ambassadors")

THERAPY_NOTE = (
    "Per fund, a row per programme and country of ambassadors, and one row of bandmates and "
    "crew: the credit they claimed from gifts, held in their own wallets (country: that of "
    "the fund's ambassadors). In every row, allocated or received - claimed - redeemed - "
    "expired = held + available."
)
PROTECTED_NOTE = (
    " A group of fewer than 5 people is withheld with other groups, the smallest first, "
    "until the ambassador groups withheld count 5 people or more; they are added up in the "
    "fund's row of withheld groups, so the totals include them. A fund whose wallets belong "
    "to fewer than 5 people shows its budget only."
)
RECONCILIATION_NOTE = (
    "Each fund's outstanding amount, by where it is: credit available and held in the "
    "wallets of the therapy table, approved sessions not yet paid, grants not yet paid."
)


def report_tables(data: ReportData) -> list[Table]:
    """The report's tables in the order they are printed; no per-person table at the
    programme level."""
    fund_totals = data.fund_totals
    grant_totals = data.grant_totals
    programme_level = data.parameters.privacy is Privacy.PROGRAMME

    tables = [
        Table(
            name="funds",
            title="Funds",
            columns=FUND_COLUMNS,
            rows=[
                (
                    f.name,
                    FUND_KINDS[f.kind],
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
            totals_label="Total of the rows shown"
            if any(line.withheld for line in data.funds)
            else "Total",
        ),
        _reconciliation_table(data),
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
                    GRANT_STATUSES[g.status],
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
        _therapy_table(data),
    ]
    if not programme_level:
        ambassador_totals = data.ambassador_totals
        tables.append(
            Table(
                name="ambassadors",
                title="Therapy credit by person",
                columns=AMBASSADOR_COLUMNS,
                rows=[
                    (
                        a.fund,
                        a.name,
                        a.programme,
                        a.country,
                        a.allocated,
                        a.gifted,
                        a.redeemed,
                        a.remaining,
                    )
                    for a in data.ambassadors
                ],
                totals=(
                    None,
                    None,
                    None,
                    None,
                    *(
                        ambassador_totals[key]
                        for key in ("allocated", "gifted", "redeemed", "remaining")
                    ),
                ),
                group="fund",
            )
        )
    tables.append(_helpdesk_table(data))
    return tables


HELPDESK_OUTCOMES = (
    ("connected", "Connected to care"),
    ("referred", "Referred"),
    ("no_reply", "No reply"),
    ("out_of_scope", "Out of scope"),
    ("withdrawn", "Withdrawn"),
    ("open", "Still open"),
)
HELPDESK_COLUMNS = (
    Column("month", "Month (UTC)"),
    Column("requests", "Requests", Kind.COUNT),
    Column("urgent", "Urgent", Kind.COUNT),
    *(Column(key, label, Kind.COUNT) for key, label in HELPDESK_OUTCOMES),
    Column("answered", "Answered", Kind.COUNT),
    Column("median", "Median first answer"),
    Column("p90", "90th percentile"),
)
HELPDESK_NOTE = (
    "Requests for help that arrived in the months of the period (whole months), in every "
    "country and currency, up to the cutoff: counts and times only, at the programme level "
    "whatever this report's level. A count under 5 shows as <5 (a cell with none as well), "
    "and a time only where 5 or more were answered. Outcomes are as they stand now."
)


def _helpdesk_table(data: ReportData) -> Table:
    return Table(
        name="helpdesk",
        title="Help desk",
        columns=HELPDESK_COLUMNS,
        rows=[
            (
                row.month,
                row.requests,
                row.urgent,
                *(row.outcomes.get(key, suppress_small_count(0)) for key, _ in HELPDESK_OUTCOMES),
                row.times.answered,
                duration(row.times.median),
                duration(row.times.p90),
            )
            for row in data.helpdesk
        ],
        totals=None,
        note=HELPDESK_NOTE,
    )


def _reconciliation_table(data: ReportData) -> Table:
    lines = data.reconciliation
    names = ("available", "held_gifts", "held_sessions", "payable", "awarded", "outstanding")

    def total(name: str) -> int | None:
        values = [getattr(line, name) for line in lines]
        return None if None in values else sum(values)

    return Table(
        name="reconciliation",
        title="Outstanding, by where it is",
        columns=RECONCILIATION_COLUMNS,
        rows=[(line.fund, *(getattr(line, name) for name in names)) for line in lines],
        totals=(None, *(total(name) for name in names)),
        note=RECONCILIATION_NOTE,
    )


def _therapy_table(data: ReportData) -> Table:
    totals = data.therapy_totals
    programme_level = data.parameters.privacy is Privacy.PROGRAMME
    return Table(
        name="therapy",
        title="Therapy credit by programme and country",
        columns=THERAPY_COLUMNS,
        rows=[
            (
                c.fund,
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
                c.held,
                c.available,
            )
            for c in data.therapy
        ],
        totals=(
            None,
            None,
            None,
            totals["people"],
            totals["allocated"],
            totals["gifts"],
            totals["gifted"],
            totals["claims"],
            totals["claimed"],
            totals["redeemed"],
            totals["paid"],
            totals["expired"],
            _sum(totals["held_gifts"], totals["held_sessions"]),
            totals["available"],
        ),
        totals_label="Total" if data.therapy_complete else "Total of the rows shown",
        group="fund",
        note=THERAPY_NOTE + (PROTECTED_NOTE if programme_level else ""),
    )


def _sum(*values: Count | None) -> int | None:
    numbers = [value for value in values if isinstance(value, int)]
    return sum(numbers) if len(numbers) == len(values) else None


def find_table(data: ReportData, name: str) -> Table | None:
    """The table called ``name`` in the report, if it has one."""
    return next((table for table in report_tables(data) if table.name == name), None)
