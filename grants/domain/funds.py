"""Opening funds with their ledger accounts and their opening budget."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.clock import date_in, end_of_day
from grants.domain import audit
from grants.domain.account_tokens import time_zones
from grants.domain.checks import (
    MANAGERS,
    Amount,
    amount_request,
    clean_text,
    read_amount,
    require_role,
    same_currency,
)
from grants.domain.errors import Conflict, InsufficientFunds, InvalidInput, InvalidState, NotFound
from grants.domain.idempotency import Receipt, idempotent
from grants.domain.ledger import Leg, fund_account, open_fund_accounts, post
from grants.domain.money import DEFAULT_LOCALE, Money
from grants.models import AccountKind, Fund, FundKind, TransactionKind, User
from grants.models.funds import default_fund_time_zone


def open_fund(
    session: Session,
    *,
    name: str,
    kind: FundKind,
    currency: str,
    start: date,
    end: date,
    time_zone: str | None = None,
) -> Fund:
    """Create a fund with a zero budget and its ledger accounts; its plan-year days are days
    in ``time_zone``, by default its currency's (:data:`~grants.models.FUND_TIME_ZONES`)."""
    Money(1, currency)  # refuses a currency code that is not ISO 4217
    if end <= start:
        raise InvalidInput("The plan year must end after it starts.", field="plan_year_end")
    fund = Fund(
        name=name,
        kind=kind,
        currency=currency,
        plan_year_start=start,
        plan_year_end=end,
        time_zone=fund_time_zone(time_zone, currency),
    )
    session.add(fund)
    session.flush()
    open_fund_accounts(session, fund)
    return fund


def fund_time_zone(time_zone: str | None, currency: str) -> str:
    """``time_zone`` if it is an IANA name this system knows; its currency's default if it
    is not given; :class:`InvalidInput` otherwise."""
    if not time_zone:
        return default_fund_time_zone(currency)
    if time_zone not in time_zones():
        raise InvalidInput("Choose a time zone from the list.", field="time_zone")
    return time_zone


def create_fund(
    session: Session,
    *,
    key: str,
    actor: User,
    name: str,
    kind: str,
    start: date,
    end: date,
    budget: Amount,
    currency: str | None = None,
    time_zone: str | None = None,
    locale: str = DEFAULT_LOCALE,
) -> Receipt:
    """A manager opens a fund with its opening budget, as one request.

    The fund's currency is ``currency``, else that of a :class:`Money` ``budget``; a budget
    given as text is read in ``locale``. Its plan year is kept in ``time_zone``, by default
    its currency's.
    """
    require_role(actor, *MANAGERS, doing="open funds")
    title = " ".join(
        clean_text(name, field="name", label="the fund's name", required=True, limit=120).split()
    )
    try:
        fund_kind = FundKind(kind)
    except ValueError:
        raise InvalidInput("Choose grants or therapy.", field="kind") from None
    if currency is None:
        if not isinstance(budget, Money):
            raise InvalidInput("Choose the fund's currency.", field="currency")
        currency = budget.currency
    opening = Money(same_currency(budget, currency, field="budget", locale=locale), currency)
    zone = fund_time_zone(time_zone, currency)

    def perform() -> Receipt:
        taken = session.scalar(select(Fund.id).where(func.lower(Fund.name) == title.lower()))
        if taken is not None:
            raise Conflict(f"There is already a fund called {title}.")
        fund = open_fund(
            session,
            name=title,
            kind=fund_kind,
            currency=opening.currency,
            start=start,
            end=end,
            time_zone=zone,
        )
        audit.record(
            session,
            actor_id=actor.id,
            action="fund.create",
            object_type="fund",
            object_id=fund.id,
            after={
                "name": title,
                "kind": fund_kind.value,
                "currency": fund.currency,
                "plan_year": [str(start), str(end)],
                "time_zone": zone,
            },
        )
        change_budget(
            session,
            key=f"{key[:90]}:budget",
            actor=actor,
            fund_id=fund.id,
            amount=opening,
            reason="Opening budget",
        )
        return Receipt("fund.create", object_id=fund.id)

    request = {
        "name": title,
        "kind": fund_kind.value,
        "start": str(start),
        "end": str(end),
        "time_zone": zone,
        "budget": [opening.minor, opening.currency],
    }
    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="fund.create",
        request=request,
        perform=perform,
    )


@dataclass(frozen=True)
class FundTerms:
    """What a credit operation checks of a therapy fund: its currency and its plan year."""

    id: int
    name: str
    kind: FundKind
    currency: str
    plan_year_start: date
    plan_year_end: date
    closed_at: datetime | None
    time_zone: str


def therapy_fund(session: Session, fund_id: int) -> Fund:
    fund = session.get(Fund, fund_id)
    if fund is None or fund.kind is not FundKind.THERAPY:
        raise NotFound("There is no such therapy fund.")
    return fund


def open_therapy_fund(session: Session, fund_id: int) -> Fund:
    fund = therapy_fund(session, fund_id)
    if fund.closed_at is not None:
        raise InvalidState(f"The plan year of {fund.name} is closed.")
    return fund


def credit_usable(*, plan_year_start: date, plan_year_end: date, closed: bool, on: date) -> bool:
    """Whether a fund's credit can be given or spent on the day ``on``: its plan year has
    begun and not ended, and has not been closed. Screens ask this too, to offer the forms."""
    return not closed and plan_year_start <= on <= plan_year_end


def fund_today(fund: Fund | FundTerms, now: datetime) -> date:
    """The day it is at ``now`` where the fund keeps its plan year (its time zone)."""
    return date_in(now, fund.time_zone)


def plan_year_over(fund: Fund | FundTerms, now: datetime) -> bool:
    """Whether the fund's plan year is closed, or its last day has ended in its time zone."""
    return fund.closed_at is not None or fund_today(fund, now) > fund.plan_year_end


def plan_year_deadline(fund: Fund | FundTerms) -> datetime:
    """The first instant after the fund's plan year: midnight after its last day in the
    fund's time zone, in UTC."""
    return end_of_day(fund.plan_year_end, fund.time_zone)


def change_budget(
    session: Session,
    *,
    key: str,
    actor: User,
    fund_id: int,
    amount: Amount,
    reason: str,
    locale: str = DEFAULT_LOCALE,
) -> Receipt:
    """Raise (positive ``amount``) the fund's budget; see :func:`lower_budget` to lower it.

    ``amount`` may be the text the manager typed, read in ``locale`` and the fund's currency.
    """
    return _budget(
        session,
        key=key,
        actor=actor,
        fund_id=fund_id,
        amount=amount,
        reason=reason,
        locale=locale,
        lower=False,
    )


def lower_budget(
    session: Session,
    *,
    key: str,
    actor: User,
    fund_id: int,
    amount: Amount,
    reason: str,
    locale: str = DEFAULT_LOCALE,
) -> Receipt:
    """Lower the fund's budget by ``amount``; never below what is already allocated."""
    return _budget(
        session,
        key=key,
        actor=actor,
        fund_id=fund_id,
        amount=amount,
        reason=reason,
        locale=locale,
        lower=True,
    )


def _budget(
    session: Session,
    *,
    key: str,
    actor: User,
    fund_id: int,
    amount: Amount,
    reason: str,
    locale: str,
    lower: bool,
) -> Receipt:
    require_role(actor, *MANAGERS, doing="change a fund's budget")
    reason = clean_text(reason, field="reason", label="a reason", required=True)
    chosen = session.get(Fund, fund_id)  # held, so the operation finds it in the session
    amount = read_amount(amount, None if chosen is None else chosen.currency, locale=locale)
    operation = budget_operation(lower=lower)

    def perform() -> Receipt:
        fund = session.get(Fund, fund_id)
        if fund is None:
            raise NotFound("There is no such fund.")
        if fund.closed_at is not None:
            raise InvalidState(f"The plan year of {fund.name} is closed.")
        minor = same_currency(amount, fund.currency, locale=locale)
        source = fund_account(session, fund.id, AccountKind.BUDGET_SOURCE)
        pool = fund_account(session, fund.id, AccountKind.FUND)
        sign = -1 if lower else 1
        try:
            transaction_id = post(
                session,
                kind=TransactionKind.BUDGET_DECREASE if lower else TransactionKind.BUDGET_INCREASE,
                legs=[Leg(source, -sign * minor), Leg(pool, sign * minor)],
                actor_id=actor.id,
                memo=budget_memo(reason),
            )
        except InsufficientFunds as error:
            raise type(error)(
                "The budget cannot go below what is already allocated or committed."
            ) from None
        audit.record(
            session,
            actor_id=actor.id,
            action=operation,
            object_type="fund",
            object_id=fund.id,
            after=budget_audit(minor, fund.currency, reason, transaction_id),
        )
        return Receipt(operation, object_id=fund.id, transaction_id=transaction_id)

    request = budget_request(fund_id, amount, reason)
    return idempotent(
        session, key=key, actor_id=actor.id, operation=operation, request=request, perform=perform
    )


def budget_operation(*, lower: bool) -> str:
    """The operation (and audit action) of raising or lowering a fund's budget."""
    return "fund.budget_decrease" if lower else "fund.budget_increase"


def budget_request(fund_id: int, amount: Amount, reason: str) -> dict[str, object]:
    """What makes two budget changes the same request."""
    return {"fund": fund_id, **amount_request(amount), "reason": reason}


def budget_memo(reason: str) -> str:
    """The memo of a budget change's ledger transaction: its reason."""
    return reason


def budget_audit(minor: int, currency: str, reason: str, transaction_id: int) -> dict[str, object]:
    """The audit ``after`` of a budget change of ``minor`` units of ``currency``."""
    return {"amount": minor, "currency": currency, "reason": reason, "transaction": transaction_id}
