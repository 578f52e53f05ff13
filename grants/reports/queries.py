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
from grants.domain.privacy import SMALL_CELL_THRESHOLD, SUPPRESSED, suppress_small_count
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


class CellKind(StrEnum):
    """What a row of the therapy table counts."""

    AMBASSADORS = "ambassadors"
    """The ambassadors of one programme in one country, in their own wallets."""
    RECIPIENTS = "recipients"
    """Bandmates and crew: credit they claimed from gifts, in their own wallets."""
    COMBINED = "combined"
    """At the programme level: the groups withheld in one fund, added together."""


BANDMATES_AND_CREW = "Bandmates and crew"
COMBINED_GROUPS = "Withheld groups"


@dataclass(frozen=True)
class TherapyCell:
    """One row of the therapy table: a group of wallets of one fund, in minor units.

    For every row ``allocated - claimed - redeemed - expired = held + available``, where
    ``allocated`` is the allowance of an ambassador group and the credit received from gifts
    of the bandmates-and-crew row, and ``claimed`` is what recipients claimed from the
    group's gifts. Money figures are ``None`` when withheld at the ``programme`` level.
    """

    fund_id: int
    fund: str
    kind: CellKind
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
    held_gifts: int | None
    """Held for gifts not yet claimed, revoked or expired."""
    held_sessions: int | None
    """Held for session requests finance has not decided."""
    available: int | None
    """Credit its holders can spend or give now."""

    @property
    def suppressed(self) -> bool:
        return self.allocated is None

    @property
    def held(self) -> int | None:
        if self.held_gifts is None or self.held_sessions is None:
            return None
        return self.held_gifts + self.held_sessions

    @property
    def outstanding(self) -> int | None:
        """Credit still owed to the group's people: held and available."""
        if self.held is None or self.available is None:
            return None
        return self.held + self.available


@dataclass(frozen=True)
class Reconciliation:
    """How one fund's outstanding amount is made up, in minor units: ``available +
    held_gifts + held_sessions + payable + awarded = outstanding`` (the funds table's).
    The therapy figures are ``None`` when withheld at the ``programme`` level."""

    fund_id: int
    fund: str
    available: int | None
    held_gifts: int | None
    held_sessions: int | None
    payable: int | None
    """Approved session requests not yet paid to the therapists."""
    awarded: int
    """Grants awarded and not yet paid."""
    outstanding: int


@dataclass(frozen=True)
class AmbassadorLine:
    """One person's credit in one fund (finance level only): an ambassador, or a bandmate
    or crew member holding credit claimed from gifts. No provider, no session date."""

    fund: str
    name: str
    programme: str
    country: str
    allocated: int
    """The allowance of an ambassador; what a bandmate or crew member received."""
    gifted: int
    redeemed: int
    remaining: int
    """Held and available."""


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
    fund_lines = _funds(session, funds, position)
    therapy, ambassadors = _therapy(session, parameters, funds, position)
    return ReportData(
        parameters=parameters,
        position=position,
        position_time=position_time,
        funds=fund_lines,
        grants=_grants(session, parameters, fund_ids, position),
        therapy=therapy,
        ambassadors=ambassadors if parameters.privacy is Privacy.FINANCE else [],
        reconciliation=_reconciliation(session, fund_lines, therapy, position),
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

GIFT_HOLD_KINDS = (
    TransactionKind.GIFT_HOLD,
    TransactionKind.GIFT_CLAIM,
    TransactionKind.GIFT_RELEASE,
)
"""Kinds whose postings on a hold account make up the credit held for pending gifts."""

MONEY_FIGURES = (
    "allocated",
    "gifted",
    "claimed",
    "redeemed",
    "paid",
    "expired",
    "held_gifts",
    "held_sessions",
    "available",
)
"""The money columns of a therapy row, in the order the wallet query returns them."""

COUNT_FIGURES = ("people", "gifts", "claims")


def _wallet_flows(session: Session, fund_ids: Sequence[int], position: int) -> Any:
    """Per wallet of the funds (ambassadors' and bandmates' alike), its flows by kind at
    ``position`` (a subquery), from the running totals of :mod:`grants.reports.flows`: the
    cost follows the number of wallets, not the number of postings.

    A plan-year close empties every hold of its fund, so a wallet whose hold account took
    part in one holds nothing for gifts any more, whatever its gift postings add up to.
    """
    sides = union_all(
        select(
            Wallet.id.label("wallet_id"),
            Wallet.account_id.label("account_id"),
            literal(0).label("held"),
        ).where(Wallet.fund_id.in_(fund_ids)),
        select(
            Wallet.id.label("wallet_id"),
            Wallet.hold_account_id.label("account_id"),
            literal(1).label("held"),
        ).where(Wallet.fund_id.in_(fund_ids)),
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

    received = of(
        TransactionKind.ALLOWANCE.value,
        f"reversal:{TransactionKind.ALLOWANCE.value}",
        TransactionKind.GIFT_CLAIM.value,
    )
    closed = number(and_(held, of(TransactionKind.PLAN_YEAR_CLOSE.value))) > 0
    held_gifts = case((closed, 0), else_=total(and_(held, of(*(k.value for k in GIFT_HOLD_KINDS)))))
    return (
        select(
            sides.c.wallet_id,
            total(and_(received, ~held)).label("allocated"),
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
            held_gifts.label("held_gifts"),
            (total(held) - held_gifts).label("held_sessions"),
            total(~held).label("available"),
        )
        .select_from(sides)
        .join(flows, flows.c.account_id == sides.c.account_id)
        .group_by(sides.c.wallet_id)
        .subquery()
    )


@dataclass
class _Group:
    """The raw figures of one therapy row before privacy is applied."""

    fund_id: int
    kind: CellKind
    programme: str
    country: str
    counts: dict[str, int]
    money: dict[str, int]

    @property
    def people(self) -> int:
        return self.counts["people"]

    def add(self, other: _Group) -> None:
        for name in COUNT_FIGURES:
            self.counts[name] += other.counts[name]
        for name in MONEY_FIGURES:
            self.money[name] += other.money[name]


def _therapy(
    session: Session,
    parameters: ReportParameters,
    funds: Sequence[Fund],
    position: int,
) -> tuple[list[TherapyCell], list[AmbassadorLine]]:
    fund_ids = [fund.id for fund in funds]
    flows = _wallet_flows(session, fund_ids, position)
    payments = paid_at(session, parameters.cutoff)
    paid = (
        select(payments.c.wallet_id, func.sum(payments.c.amount).label("amount"))
        .group_by(payments.c.wallet_id)
        .subquery()
    )
    per_wallet = (
        select(
            Wallet.id.label("wallet_id"),
            Wallet.fund_id.label("fund_id"),
            Wallet.kind.label("kind"),
            Wallet.user_id.label("user_id"),
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
            flows.c.held_gifts,
            flows.c.held_sessions,
            flows.c.available,
        )
        .select_from(flows)
        .join(Wallet, Wallet.id == flows.c.wallet_id)
        .join(User, User.id == Wallet.user_id)
        .outerjoin(
            Ambassador,
            and_(Ambassador.user_id == Wallet.user_id, Wallet.kind == WalletKind.AMBASSADOR),
        )
        .outerjoin(Programme, Programme.id == Ambassador.programme_id)
        .outerjoin(paid, paid.c.wallet_id == Wallet.id)
    ).subquery()
    groups_query = (
        select(
            per_wallet.c.fund_id,
            per_wallet.c.kind,
            per_wallet.c.programme,
            per_wallet.c.country,
            func.count(per_wallet.c.user_id.distinct()),
            func.sum(per_wallet.c.gifts),
            func.sum(per_wallet.c.claims),
            *(func.sum(per_wallet.c[name]) for name in MONEY_FIGURES),
        )
        .group_by(
            per_wallet.c.fund_id, per_wallet.c.kind, per_wallet.c.programme, per_wallet.c.country
        )
        .order_by(
            per_wallet.c.fund_id, per_wallet.c.kind, per_wallet.c.programme, per_wallet.c.country
        )
    )
    by_fund: dict[int, list[_Group]] = {fund_id: [] for fund_id in fund_ids}
    for fund_id, kind, code, country, *figures in session.execute(groups_query):
        recipients = WalletKind(kind) is WalletKind.RECIPIENT
        by_fund[fund_id].append(
            _Group(
                fund_id=fund_id,
                kind=CellKind.RECIPIENTS if recipients else CellKind.AMBASSADORS,
                programme=BANDMATES_AND_CREW if recipients else code,
                country="" if recipients else str(country),
                counts={
                    name: int(value) for name, value in zip(COUNT_FIGURES, figures[:3], strict=True)
                },
                money={
                    name: int(value) for name, value in zip(MONEY_FIGURES, figures[3:], strict=True)
                },
            )
        )
    names = {fund.id: fund.name for fund in funds}
    programme_level = parameters.privacy is Privacy.PROGRAMME
    cells: list[TherapyCell] = []
    for fund_id, groups in by_fund.items():
        countries = {group.country for group in groups if group.kind is CellKind.AMBASSADORS}
        for group in groups:
            if group.kind is CellKind.RECIPIENTS and len(countries) == 1:
                group.country = countries.pop()
        ordered = sorted(groups, key=lambda g: (g.kind is CellKind.RECIPIENTS, g.programme))
        if programme_level:
            cells.extend(_protected(names[fund_id], ordered))
        else:
            cells.extend(_cell(names[fund_id], group) for group in ordered)
    ambassadors: list[AmbassadorLine] = []
    if not programme_level:
        ambassadors = [
            AmbassadorLine(
                fund=names[fund_id],
                name=name,
                programme=code or BANDMATES_AND_CREW,
                country=str(country) if country else "",
                allocated=int(allocated),
                gifted=int(gifted),
                redeemed=int(redeemed),
                remaining=int(held_gifts) + int(held_sessions) + int(available),
            )
            for (
                fund_id,
                name,
                code,
                country,
                allocated,
                gifted,
                redeemed,
                held_gifts,
                held_sessions,
                available,
            ) in session.execute(
                select(
                    per_wallet.c.fund_id,
                    per_wallet.c.name,
                    per_wallet.c.programme,
                    per_wallet.c.country,
                    per_wallet.c.allocated,
                    per_wallet.c.gifted,
                    per_wallet.c.redeemed,
                    per_wallet.c.held_gifts,
                    per_wallet.c.held_sessions,
                    per_wallet.c.available,
                ).order_by(
                    per_wallet.c.fund_id,
                    per_wallet.c.kind,
                    per_wallet.c.programme,
                    per_wallet.c.country,
                    per_wallet.c.name,
                    per_wallet.c.wallet_id,
                )
            )
        ]
    return cells, ambassadors


def _cell(
    fund: str,
    group: _Group,
    *,
    kind: CellKind | None = None,
    counts: dict[str, Count | None] | None = None,
    withheld: bool = False,
) -> TherapyCell:
    """A therapy row of ``group``: its own figures, or the counts given and no money."""
    shown: dict[str, Count | None] = counts if counts is not None else dict(group.counts)

    def money(name: str) -> int | None:
        return None if withheld else group.money[name]

    return TherapyCell(
        fund_id=group.fund_id,
        fund=fund,
        kind=kind or group.kind,
        programme=group.programme,
        country=group.country,
        people=shown["people"],
        gifts=shown["gifts"],
        claims=shown["claims"],
        allocated=money("allocated"),
        gifted=money("gifted"),
        claimed=money("claimed"),
        redeemed=money("redeemed"),
        paid=money("paid"),
        expired=money("expired"),
        held_gifts=money("held_gifts"),
        held_sessions=money("held_sessions"),
        available=money("available"),
    )


def _protected(fund: str, groups: Sequence[_Group]) -> list[TherapyCell]:
    """The rows of one fund at the ``programme`` level, with complementary suppression.

    A group of fewer than five people is withheld. The withheld groups are added up in a
    row of their own, so that the table's totals still tie to the funds table; when that
    row would count fewer than five people or stand for a single group, the smallest groups
    shown are withheld too, until it counts five people or more from two groups or more. A
    withheld group's figures can then be found neither in its row nor by subtracting the
    rows shown from the totals. Counts of gifts and claims under five show as ``<5``.
    """
    small = [group for group in groups if group.people < SMALL_CELL_THRESHOLD]
    if not small:
        return [_cell(fund, group, counts=_small_counts(group.counts)) for group in groups]
    withheld = list(small)
    spare = sorted(
        (group for group in groups if group.people >= SMALL_CELL_THRESHOLD),
        key=lambda g: (g.people, g.programme, g.country),
    )
    while spare and (
        sum(group.people for group in withheld) < SMALL_CELL_THRESHOLD or len(withheld) < 2
    ):
        withheld.append(spare.pop(0))
    rows = []
    for group in groups:
        if group not in withheld:
            rows.append(_cell(fund, group, counts=_small_counts(group.counts)))
        elif group.people < SMALL_CELL_THRESHOLD:
            rows.append(
                _cell(fund, group, counts=dict.fromkeys(COUNT_FIGURES, SUPPRESSED), withheld=True)
            )
        else:
            rows.append(
                _cell(fund, group, counts=dict.fromkeys(COUNT_FIGURES, None), withheld=True)
            )
    combined = _Group(
        fund_id=withheld[0].fund_id,
        kind=CellKind.COMBINED,
        programme=COMBINED_GROUPS,
        country="",
        counts=dict.fromkeys(COUNT_FIGURES, 0),
        money=dict.fromkeys(MONEY_FIGURES, 0),
    )
    for group in withheld:
        combined.add(group)
    countries = {group.country for group in withheld}
    combined.country = countries.pop() if len(countries) == 1 else ""
    if combined.people >= SMALL_CELL_THRESHOLD and len(withheld) >= 2:
        rows.append(_cell(fund, combined, counts=_small_counts(combined.counts)))
    else:
        rows.append(
            _cell(fund, combined, counts=dict.fromkeys(COUNT_FIGURES, SUPPRESSED), withheld=True)
        )
    return rows


def _small_counts(counts: dict[str, int]) -> dict[str, Count | None]:
    return {name: suppress_small_count(value) for name, value in counts.items()}


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
        hidden = any(cell.kind is CellKind.COMBINED and cell.suppressed for cell in cells)
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
