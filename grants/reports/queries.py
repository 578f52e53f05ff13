"""The allocation report's figures, computed in SQL at a cutoff: funds, grants, the therapy
rows (:mod:`grants.reports.therapy`) and how each fund's outstanding amount is made up.

The cutoff is a point in the ledger: the last transaction created at or before the cutoff
time (its id is the report's *position*). Ledger rows are append-only, so the postings up
to the position are the ledger as it stood then. Every money figure is a sum of those
postings, grouped in the database:

- an account's balance at the position is its stored balance minus the postings of later
  transactions (an index range on ``postings.transaction_id``), so a report of the current
  ledger reads stored balances;
- flows (allowances, gifts, redemptions, expiry, grant payments) come from the running
  totals per account and transaction kind of :mod:`grants.reports.flows`, corrected by the
  postings between their watermark and the position, grouped per wallet and per programme
  and country in one query; payments to therapists likewise, per wallet.

The date range picks the funds: those of the currency (or the one fund) whose plan year
overlaps it. Grants appear once approved; drafts, submissions and rejections move no money
and are no allocation.

At the ``programme`` privacy level no person is named, and every count under five (people,
gifts, claims) shows as ``<5`` with the money figures of a group under five people withheld
(DESIGN.md section 4). Withheld groups are added up in a row of their own, with enough other
groups that the row counts five people or more, so every section's totals tie to every
other's and no withheld figure can be found by subtraction (:mod:`grants.reports.therapy`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from grants.domain.helpdesk_figures import MonthRow, desk_figures
from grants.models import (
    Account,
    AccountKind,
    Fund,
    FundKind,
    Grant,
    GrantStatus,
    Partner,
    Tranche,
    TransactionKind,
)
from grants.reports.flows import flows_at
from grants.reports.parameters import (
    RANGE_MAX_DAYS,
    Count,
    Privacy,
    ReportParameters,
    report_parameters,
)
from grants.reports.position import balance_at, later_postings, ledger_position
from grants.reports.therapy import (
    BANDMATES_AND_CREW,
    COMBINED_GROUPS,
    COUNT_FIGURES,
    MONEY_FIGURES,
    AmbassadorLine,
    CellKind,
    TherapyCell,
    therapy_rows,
)

__all__ = [
    "BANDMATES_AND_CREW",
    "COMBINED_GROUPS",
    "RANGE_MAX_DAYS",
    "AmbassadorLine",
    "CellKind",
    "Count",
    "FundLine",
    "GrantLine",
    "Privacy",
    "Reconciliation",
    "ReportData",
    "ReportParameters",
    "TherapyCell",
    "balance_at",
    "collect",
    "later_postings",
    "ledger_position",
    "report_parameters",
    "scope_funds",
]


@dataclass(frozen=True)
class FundLine:
    """One fund at the cutoff, in minor units: ``budget = allocated + remaining`` and
    ``allocated = paid + outstanding``.

    At the ``programme`` level a therapy fund whose wallets belong to too few people to be
    shown even added up (see :mod:`grants.reports.therapy`) shows its budget only: its other
    figures would be those few people's credit (``None``)."""

    fund_id: int
    name: str
    kind: FundKind
    plan_year_start: date
    plan_year_end: date
    budget: int
    allocated: int | None
    """Budget that has left the fund: committed to grants, placed in wallets, paid."""
    paid: int | None
    """Paid to partners and to therapists."""
    outstanding: int | None
    """Allocated and not yet paid: grants awarded, credit in wallets, payouts approved."""
    remaining: int | None

    @property
    def withheld(self) -> bool:
        return self.outstanding is None

    def without_figures(self) -> FundLine:
        """The line with nothing but its budget."""
        return replace(self, allocated=None, paid=None, outstanding=None, remaining=None)


@dataclass(frozen=True)
class GrantLine:
    """One approved grant at the cutoff."""

    grant_id: int
    partner: str
    purpose: str
    category: str
    status: GrantStatus
    amount: int
    paid: int
    outstanding: int
    """Awarded and not yet paid (zero once cancelled: the rest went back to the fund)."""
    tranches_paid: int
    tranches: int


@dataclass(frozen=True)
class Reconciliation:
    """How one fund's outstanding amount is made up, in minor units: ``available +
    held_gifts + held_sessions + payable + awarded = outstanding`` (the funds table's).
    The therapy figures, and the outstanding amount of a fund that shows its budget only,
    are ``None`` when withheld at the ``programme`` level."""

    fund_id: int
    fund: str
    available: int | None
    held_gifts: int | None
    held_sessions: int | None
    payable: int | None
    """Approved session requests not yet paid to the therapists."""
    awarded: int
    """Grants awarded and not yet paid."""
    outstanding: int | None


@dataclass(frozen=True)
class Totals:
    """Column totals of a table, by column name."""

    values: dict[str, int] = field(default_factory=dict)

    def __getitem__(self, name: str) -> int:
        return self.values.get(name, 0)


@dataclass(frozen=True)
class ReportData:
    """Everything a report shows, except when it was made."""

    parameters: ReportParameters
    position: int
    """The id of the last ledger transaction the report counts (0: none)."""
    position_time: datetime | None
    """When that transaction was made."""
    funds: list[FundLine]
    grants: list[GrantLine]
    therapy: list[TherapyCell]
    ambassadors: list[AmbassadorLine]
    reconciliation: list[Reconciliation]
    helpdesk: list[MonthRow] = field(default_factory=list)
    """The help desk's months in the period: counts and times only, at the programme level
    whatever the report's level."""

    @property
    def detail_rows(self) -> int:
        """Table rows of the report; large reports are made in the background."""
        return len(self.funds) + len(self.grants) + len(self.therapy) + len(self.ambassadors)

    @property
    def fund_totals(self) -> Totals:
        return _totals(self.funds, ("budget", "allocated", "paid", "outstanding", "remaining"))

    @property
    def grant_totals(self) -> Totals:
        return _totals(self.grants, ("amount", "paid", "outstanding", "tranches_paid", "tranches"))

    @property
    def therapy_totals(self) -> dict[str, Count | None]:
        """Totals of the therapy rows shown: at the ``programme`` level the withheld groups
        count through their combined row. A count total is withheld (``None``) when a count
        in its column shows as ``<5``, since subtracting would give that count away."""
        shown = [cell for cell in self.therapy if not cell.suppressed]
        totals: dict[str, Count | None] = {
            name: sum(getattr(cell, name) for cell in shown) for name in MONEY_FIGURES
        }
        for name in COUNT_FIGURES:
            values = [getattr(cell, name) for cell in shown]
            exact = all(isinstance(value, int) for value in values)
            totals[name] = sum(values) if exact else None
        return totals

    @property
    def therapy_complete(self) -> bool:
        """Whether the therapy totals cover every wallet (no fund's combined row withheld)."""
        return not any(cell.kind is CellKind.COMBINED and cell.suppressed for cell in self.therapy)

    @property
    def ambassador_totals(self) -> Totals:
        return _totals(self.ambassadors, ("allocated", "gifted", "redeemed", "remaining"))

    def digest(self) -> str:
        """A SHA-256 of every figure and name the report shows: equal digests, equal reports."""
        payload = json.dumps(asdict(self), default=str, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()


def _totals(rows: Sequence[object], names: Sequence[str]) -> Totals:
    return Totals({name: sum(getattr(row, name) or 0 for row in rows) for name in names})


def scope_funds(session: Session, parameters: ReportParameters) -> list[Fund]:
    """The funds a report covers: of its currency (or the one fund), plan year overlapping
    the range; by plan year, then name."""
    query = select(Fund).where(
        Fund.currency == parameters.currency,
        Fund.plan_year_start <= parameters.end,
        Fund.plan_year_end >= parameters.start,
    )
    if parameters.fund_id is not None:
        query = query.where(Fund.id == parameters.fund_id)
    return list(session.scalars(query.order_by(Fund.plan_year_start, Fund.name, Fund.id)))


def collect(session: Session, parameters: ReportParameters) -> ReportData:
    """Compute every figure of the report described by ``parameters``."""
    position, position_time = ledger_position(session, parameters.cutoff)
    funds = scope_funds(session, parameters)
    fund_ids = [fund.id for fund in funds]
    therapy, ambassadors = therapy_rows(session, parameters, funds, position)
    hidden = {
        cell.fund_id for cell in therapy if cell.kind is CellKind.COMBINED and cell.suppressed
    }
    fund_lines = [
        line.without_figures() if line.fund_id in hidden else line
        for line in _funds(session, funds, position)
    ]
    return ReportData(
        parameters=parameters,
        position=position,
        position_time=position_time,
        funds=fund_lines,
        grants=_grants(session, parameters, fund_ids, position),
        therapy=therapy,
        ambassadors=ambassadors if parameters.privacy is Privacy.FINANCE else [],
        reconciliation=_reconciliation(session, fund_lines, therapy, position),
        helpdesk=_helpdesk_months(session, parameters),
    )


def _helpdesk_months(session: Session, parameters: ReportParameters) -> list[MonthRow]:
    """The help desk's figures for the whole months the period touches (never part of a
    month: two reports a day apart must not give away one day's requests by their
    difference), counting requests that arrived before the cutoff, if there is one."""
    since = datetime.combine(parameters.start.replace(day=1), time(), UTC)
    after = parameters.end.replace(day=1) + timedelta(days=32)
    until = datetime.combine(after.replace(day=1), time(), UTC)
    if parameters.cutoff is not None:
        until = min(until, parameters.cutoff)
    return desk_figures(session, since=since, until=until).months


def _funds(session: Session, funds: Sequence[Fund], position: int) -> list[FundLine]:
    later, balance = balance_at(position)
    rows = session.execute(
        select(Account.fund_id, Account.kind, func.sum(balance))
        .outerjoin(later, later.c.account_id == Account.id)
        .where(Account.fund_id.in_([fund.id for fund in funds]))
        .group_by(Account.fund_id, Account.kind)
    ).all()
    balances: dict[tuple[int, AccountKind], int] = {
        (fund_id, kind): int(amount) for fund_id, kind, amount in rows
    }
    lines = []
    for fund in funds:

        def of(kind: AccountKind, fund_id: int = fund.id) -> int:
            return balances.get((fund_id, kind), 0)

        budget = -of(AccountKind.BUDGET_SOURCE)
        remaining = of(AccountKind.FUND)
        paid = of(AccountKind.PAID_TO_PARTNERS) + of(AccountKind.PAID_TO_PROVIDERS)
        lines.append(
            FundLine(
                fund_id=fund.id,
                name=fund.name,
                kind=fund.kind,
                plan_year_start=fund.plan_year_start,
                plan_year_end=fund.plan_year_end,
                budget=budget,
                allocated=budget - remaining,
                paid=paid,
                outstanding=budget - remaining - paid,
                remaining=remaining,
            )
        )
    return lines


def _grants(
    session: Session, parameters: ReportParameters, fund_ids: Sequence[int], position: int
) -> list[GrantLine]:
    tranche_paid = and_(Tranche.transaction_id.is_not(None), Tranche.transaction_id <= position)
    tranches = (
        select(
            Tranche.grant_id,
            func.count().label("total"),
            func.count(case((tranche_paid, 1))).label("paid"),
        )
        .group_by(Tranche.grant_id)
        .subquery()
    )
    totals = flows_at(session, position)
    flows = (
        select(
            totals.c.account_id,
            func.sum(totals.c.amount).label("balance"),
            func.sum(
                case(
                    (totals.c.kind == TransactionKind.TRANCHE_PAYMENT.value, -totals.c.amount),
                    else_=0,
                )
            ).label("paid"),
        )
        .where(
            totals.c.account_id.in_(
                select(Grant.account_id).where(
                    Grant.fund_id.in_(fund_ids), Grant.account_id.is_not(None)
                )
            )
        )
        .group_by(totals.c.account_id)
        .having(func.sum(totals.c.postings) > 0)
        .subquery()
    )
    rows = session.execute(
        select(
            Grant.id,
            Partner.display_name,
            Grant.purpose,
            Grant.category,
            Grant.status,
            Grant.ended_at,
            Grant.amount,
            flows.c.paid,
            flows.c.balance,
            func.coalesce(tranches.c.paid, 0),
            func.coalesce(tranches.c.total, 0),
        )
        .join(Partner, Partner.id == Grant.partner_id)
        .join(flows, flows.c.account_id == Grant.account_id)
        .outerjoin(tranches, tranches.c.grant_id == Grant.id)
        .where(Grant.fund_id.in_(fund_ids))
        .order_by(Partner.display_name, Grant.id)
    ).all()
    lines = []
    for (
        grant_id,
        partner,
        purpose,
        category,
        status,
        ended_at,
        amount,
        paid,
        balance,
        tranches_paid,
        tranche_count,
    ) in rows:
        ended = ended_at is not None and (
            parameters.cutoff is None or ended_at <= parameters.cutoff
        )
        if not ended:
            status = GrantStatus.ACTIVE if paid else GrantStatus.APPROVED
        lines.append(
            GrantLine(
                grant_id=grant_id,
                partner=partner,
                purpose=purpose,
                category=category.label,
                status=status,
                amount=amount,
                paid=int(paid),
                outstanding=int(balance),
                tranches_paid=int(tranches_paid),
                tranches=int(tranche_count),
            )
        )
    return lines


def _reconciliation(
    session: Session,
    funds: Sequence[FundLine],
    therapy: Sequence[TherapyCell],
    position: int,
) -> list[Reconciliation]:
    """Per fund, its outstanding amount split by where it is: in wallets (available and
    held), payable to therapists, awarded to partners. Available, payable and awarded are
    account balances at ``position``; held is split between gifts and session requests by
    the therapy rows, whose own figures come from the flows: the two meet only if the
    report's queries agree with the ledger."""
    later, balance = balance_at(position)
    rows = session.execute(
        select(Account.fund_id, Account.kind, func.sum(balance))
        .outerjoin(later, later.c.account_id == Account.id)
        .where(
            Account.fund_id.in_([fund.fund_id for fund in funds]),
            Account.kind.in_(
                [
                    AccountKind.WALLET,
                    AccountKind.WALLET_HOLD,
                    AccountKind.PAYABLE_TO_PROVIDERS,
                    AccountKind.GRANT,
                ]
            ),
        )
        .group_by(Account.fund_id, Account.kind)
    ).all()
    balances = {(fund_id, kind): int(amount) for fund_id, kind, amount in rows}
    lines = []
    for fund in funds:
        cells = [cell for cell in therapy if cell.fund_id == fund.fund_id]
        hidden = fund.withheld
        held = balances.get((fund.fund_id, AccountKind.WALLET_HOLD), 0)
        held_gifts = sum(
            cell.held_gifts or 0
            for cell in cells
            if cell.kind is CellKind.COMBINED or not cell.suppressed
        )
        lines.append(
            Reconciliation(
                fund_id=fund.fund_id,
                fund=fund.name,
                available=None if hidden else balances.get((fund.fund_id, AccountKind.WALLET), 0),
                held_gifts=None if hidden else held_gifts,
                held_sessions=None if hidden else held - held_gifts,
                payable=None
                if hidden
                else balances.get((fund.fund_id, AccountKind.PAYABLE_TO_PROVIDERS), 0),
                awarded=balances.get((fund.fund_id, AccountKind.GRANT), 0),
                outstanding=fund.outstanding,
            )
        )
    return lines
