"""The allocation report's figures, computed in SQL at a cutoff.

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
gifts, claims) shows as ``<5`` with the money figures of a cell under five people withheld
(DESIGN.md section 4); its totals row adds up the cells shown only, so that no withheld
figure can be found by subtraction.
"""

from __future__ import annotations

import calendar
import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, select, union_all
from sqlalchemy.orm import Session

from grants.domain.errors import InvalidInput, NotFound
from grants.domain.privacy import SUPPRESSED, suppress_small_count
from grants.models import (
    Account,
    AccountKind,
    Ambassador,
    Fund,
    FundKind,
    Grant,
    GrantStatus,
    LedgerTransaction,
    Partner,
    Posting,
    Programme,
    Tranche,
    TransactionKind,
    User,
    Wallet,
    WalletKind,
)
from grants.reports.flows import flows_at, paid_at

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


Count = int | str
"""A count as shown: the number, or ``"<5"`` when it is suppressed."""


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
    def period(self) -> str:
        """The date range as people read it: ``2026`` for a calendar year."""
        if (
            self.start.month == 1
            and self.start.day == 1
            and self.end == date(self.start.year, 12, 31)
        ):
            return str(self.start.year)
        return f"{self.start.isoformat()} to {self.end.isoformat()}"


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


# --- the figures -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FundLine:
    """One fund at the cutoff, in minor units: ``budget = allocated + remaining`` and
    ``allocated = paid + outstanding``."""

    fund_id: int
    name: str
    kind: FundKind
    plan_year_start: date
    plan_year_end: date
    budget: int
    allocated: int
    """Budget that has left the fund: committed to grants, placed in wallets, paid."""
    paid: int
    """Paid to partners and to therapists."""
    outstanding: int
    """Allocated and not yet paid: grants awarded, credit in wallets, payouts approved."""
    remaining: int


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
class TherapyCell:
    """The ambassadors of one programme in one country, in minor units.

    Money figures are ``None`` when the cell counts fewer than five people at the
    ``programme`` level. ``allocated = claimed + redeemed + expired + outstanding``.
    """

    programme: str
    country: str
    people: Count
    allocated: int | None
    gifts: Count
    """Gifts sent and not withdrawn: pending or claimed."""
    gifted: int | None
    claims: Count
    claimed: int | None
    redeemed: int | None
    """Sessions finance approved, paid or not yet."""
    paid: int | None
    """Approved sessions paid to the therapists."""
    expired: int | None
    """Credit that went back to the fund: expired gifts and requests, plan-year close."""
    outstanding: int | None
    """Credit still theirs, held for pending gifts and requests included: a liability."""

    @property
    def suppressed(self) -> bool:
        return self.allocated is None


@dataclass(frozen=True)
class AmbassadorLine:
    """One ambassador's credit (finance level only): no provider, no session date."""

    name: str
    programme: str
    country: str
    allocated: int
    gifted: int
    redeemed: int
    remaining: int


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
    def therapy_totals(self) -> Totals:
        """Totals of the cells shown; a suppressed cell adds nothing."""
        shown = [cell for cell in self.therapy if not cell.suppressed]
        totals = _totals(
            shown,
            ("allocated", "gifted", "claimed", "redeemed", "paid", "expired", "outstanding"),
        )
        for name in ("people", "gifts", "claims"):
            totals.values[name] = sum(
                value for cell in shown if isinstance(value := getattr(cell, name), int)
            )
        return totals

    @property
    def ambassador_totals(self) -> Totals:
        return _totals(self.ambassadors, ("allocated", "gifted", "redeemed", "remaining"))

    def digest(self) -> str:
        """A SHA-256 of every figure and name the report shows: equal digests, equal reports."""
        payload = json.dumps(asdict(self), default=str, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()


def _totals(rows: Sequence[object], names: Sequence[str]) -> Totals:
    return Totals({name: sum(getattr(row, name) or 0 for row in rows) for name in names})


def ledger_position(session: Session, cutoff: datetime | None) -> tuple[int, datetime | None]:
    """The id and time of the last ledger transaction made at or before ``cutoff``
    (``None``: the last one); ``(0, None)`` for an empty ledger."""
    query = select(LedgerTransaction.id, LedgerTransaction.created_at)
    if cutoff is not None:
        query = query.where(
            LedgerTransaction.id
            == select(func.max(LedgerTransaction.id))
            .where(LedgerTransaction.created_at <= cutoff)
            .scalar_subquery()
        )
    else:
        query = query.order_by(LedgerTransaction.id.desc()).limit(1)
    row = session.execute(query).first()
    return (row[0], row[1]) if row else (0, None)


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


def later_postings(position: int) -> Any:
    """Per account, the sum of the postings made after ``position`` (a subquery).

    It reads the range of ``postings.transaction_id`` after the position; grouping by
    ``account_id + 0`` keeps SQLite from walking the whole ``account_id`` index instead.
    """
    account = (Posting.account_id + 0).label("account_id")
    return (
        select(account, func.sum(Posting.amount).label("amount"))
        .where(Posting.transaction_id > position)
        .group_by(account)
        .subquery()
    )


def balance_at(position: int) -> tuple[Any, ColumnElement[int]]:
    """The later-postings subquery and the expression of an account's balance at ``position``."""
    later = later_postings(position)
    return later, Account.balance - func.coalesce(later.c.amount, 0)


def collect(session: Session, parameters: ReportParameters) -> ReportData:
    """Compute every figure of the report described by ``parameters``."""
    position, position_time = ledger_position(session, parameters.cutoff)
    funds = scope_funds(session, parameters)
    fund_ids = [fund.id for fund in funds]
    therapy, ambassadors = _therapy(session, parameters, fund_ids, position)
    return ReportData(
        parameters=parameters,
        position=position,
        position_time=position_time,
        funds=_funds(session, funds, position),
        grants=_grants(session, parameters, fund_ids, position),
        therapy=therapy,
        ambassadors=ambassadors if parameters.privacy is Privacy.FINANCE else [],
    )


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


RETURNED_TO_FUND = (
    TransactionKind.GIFT_RELEASE,
    TransactionKind.REDEMPTION_RELEASE,
    TransactionKind.PLAN_YEAR_CLOSE,
)
"""Kinds that move credit out of a wallet back to its fund (a release back to the wallet
itself nets to zero over the wallet's two accounts)."""


def _wallet_flows(
    session: Session, parameters: ReportParameters, fund_ids: Sequence[int], position: int
) -> Any:
    """Per ambassador wallet, its flows by kind at ``position`` (a subquery), from the
    running totals of :mod:`grants.reports.flows`: the cost follows the number of wallets,
    not the number of postings."""
    sides = union_all(
        select(
            Wallet.id.label("wallet_id"),
            Wallet.account_id.label("account_id"),
            literal(0).label("held"),
        ).where(Wallet.kind == WalletKind.AMBASSADOR, Wallet.fund_id.in_(fund_ids)),
        select(
            Wallet.id.label("wallet_id"),
            Wallet.hold_account_id.label("account_id"),
            literal(1).label("held"),
        ).where(Wallet.kind == WalletKind.AMBASSADOR, Wallet.fund_id.in_(fund_ids)),
    ).subquery()
    flows = flows_at(session, position)
    kind = flows.c.kind
    held = sides.c.held == 1

    def of(*kinds: str) -> ColumnElement[bool]:
        condition: ColumnElement[bool] = kind.in_(kinds)
        return condition

    def total(condition: ColumnElement[bool], sign: int = 1) -> Any:
        return func.coalesce(func.sum(case((condition, flows.c.amount * sign), else_=0)), 0)

    def number(condition: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(case((condition, flows.c.postings), else_=0)), 0)

    allowance = of(TransactionKind.ALLOWANCE.value, f"reversal:{TransactionKind.ALLOWANCE.value}")
    return (
        select(
            sides.c.wallet_id,
            total(and_(allowance, ~held)).label("allocated"),
            (
                number(and_(held, of(TransactionKind.GIFT_HOLD.value)))
                - number(and_(held, of(TransactionKind.GIFT_RELEASE.value)))
            ).label("gifts"),
            total(
                and_(held, of(TransactionKind.GIFT_HOLD.value, TransactionKind.GIFT_RELEASE.value))
            ).label("gifted"),
            number(and_(held, of(TransactionKind.GIFT_CLAIM.value))).label("claims"),
            total(and_(held, of(TransactionKind.GIFT_CLAIM.value)), -1).label("claimed"),
            total(and_(held, of(TransactionKind.REDEMPTION_APPROVAL.value)), -1).label("redeemed"),
            total(of(*(k.value for k in RETURNED_TO_FUND)), -1).label("expired"),
            func.coalesce(func.sum(flows.c.amount), 0).label("outstanding"),
        )
        .select_from(sides)
        .join(flows, flows.c.account_id == sides.c.account_id)
        .group_by(sides.c.wallet_id)
        .subquery()
    )


def _therapy(
    session: Session, parameters: ReportParameters, fund_ids: Sequence[int], position: int
) -> tuple[list[TherapyCell], list[AmbassadorLine]]:
    flows = _wallet_flows(session, parameters, fund_ids, position)
    payments = paid_at(session, parameters.cutoff)
    paid = (
        select(payments.c.wallet_id, func.sum(payments.c.amount).label("amount"))
        .group_by(payments.c.wallet_id)
        .subquery()
    )
    per_wallet = (
        select(
            Wallet.id.label("wallet_id"),
            Ambassador.id.label("ambassador_id"),
            User.display_name.label("name"),
            Programme.code.label("programme"),
            Ambassador.country.label("country"),
            flows.c.allocated,
            flows.c.gifts,
            flows.c.gifted,
            flows.c.claims,
            flows.c.claimed,
            flows.c.redeemed,
            func.coalesce(paid.c.amount, 0).label("paid"),
            flows.c.expired,
            flows.c.outstanding,
        )
        .select_from(flows)
        .join(Wallet, Wallet.id == flows.c.wallet_id)
        .join(Ambassador, Ambassador.user_id == Wallet.user_id)
        .join(Programme, Programme.id == Ambassador.programme_id)
        .join(User, User.id == Wallet.user_id)
        .outerjoin(paid, paid.c.wallet_id == Wallet.id)
    ).subquery()
    figures = ("allocated", "gifted", "claimed", "redeemed", "paid", "expired", "outstanding")
    cells_query = (
        select(
            per_wallet.c.programme,
            per_wallet.c.country,
            func.count(per_wallet.c.ambassador_id.distinct()),
            func.sum(per_wallet.c.gifts),
            func.sum(per_wallet.c.claims),
            *(func.sum(per_wallet.c[name]) for name in figures),
        )
        .group_by(per_wallet.c.programme, per_wallet.c.country)
        .order_by(per_wallet.c.programme, per_wallet.c.country)
    )
    programme_level = parameters.privacy is Privacy.PROGRAMME
    cells = []
    for code, country, people, gifts, claims, *amounts in session.execute(cells_query):
        withheld = programme_level and suppress_small_count(people) == SUPPRESSED
        money = [None if withheld else int(amount) for amount in amounts]

        def shown(count: int) -> Count:
            return suppress_small_count(int(count)) if programme_level else int(count)

        cells.append(
            TherapyCell(
                programme=code,
                country=str(country),
                people=shown(people),
                allocated=money[0],
                gifts=SUPPRESSED if withheld else shown(gifts),
                gifted=money[1],
                claims=SUPPRESSED if withheld else shown(claims),
                claimed=money[2],
                redeemed=money[3],
                paid=money[4],
                expired=money[5],
                outstanding=money[6],
            )
        )
    ambassadors: list[AmbassadorLine] = []
    if not programme_level:
        ambassadors = [
            AmbassadorLine(
                name=name,
                programme=code,
                country=str(country),
                allocated=int(allocated),
                gifted=int(gifted),
                redeemed=int(redeemed),
                remaining=int(outstanding),
            )
            for name, code, country, allocated, gifted, redeemed, outstanding in session.execute(
                select(
                    per_wallet.c.name,
                    per_wallet.c.programme,
                    per_wallet.c.country,
                    per_wallet.c.allocated,
                    per_wallet.c.gifted,
                    per_wallet.c.redeemed,
                    per_wallet.c.outstanding,
                ).order_by(
                    per_wallet.c.programme,
                    per_wallet.c.country,
                    per_wallet.c.name,
                    per_wallet.c.wallet_id,
                )
            )
        ]
    return cells, ambassadors
