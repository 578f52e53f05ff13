"""Opening funds with their ledger accounts and their opening budget."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.domain import audit
from grants.domain.checks import MANAGERS, clean_text, require_role
from grants.domain.credits import change_budget
from grants.domain.errors import Conflict, InvalidInput
from grants.domain.idempotency import Receipt, idempotent
from grants.domain.ledger import open_fund_accounts
from grants.domain.money import Money
from grants.models import Fund, FundKind, User


def open_fund(
    session: Session, *, name: str, kind: FundKind, currency: str, start: date, end: date
) -> Fund:
    """Create a fund with a zero budget and its ledger accounts."""
    Money(1, currency)  # refuses a currency code that is not ISO 4217
    if end <= start:
        raise InvalidInput("The plan year must end after it starts.", field="plan_year_end")
    fund = Fund(name=name, kind=kind, currency=currency, plan_year_start=start, plan_year_end=end)
    session.add(fund)
    session.flush()
    open_fund_accounts(session, fund)
    return fund


def create_fund(
    session: Session,
    *,
    key: str,
    actor: User,
    name: str,
    kind: str,
    start: date,
    end: date,
    budget: Money,
) -> Receipt:
    """A manager opens a fund with its opening budget, as one request."""
    require_role(actor, *MANAGERS, doing="open funds")
    title = " ".join(
        clean_text(name, field="name", label="the fund's name", required=True, limit=120).split()
    )
    try:
        fund_kind = FundKind(kind)
    except ValueError:
        raise InvalidInput("Choose grants or therapy.", field="kind") from None

    def perform() -> Receipt:
        taken = session.scalar(select(Fund.id).where(func.lower(Fund.name) == title.lower()))
        if taken is not None:
            raise Conflict(f"There is already a fund called {title}.")
        fund = open_fund(
            session, name=title, kind=fund_kind, currency=budget.currency, start=start, end=end
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
            },
        )
        change_budget(
            session,
            key=f"{key[:90]}:budget",
            actor=actor,
            fund_id=fund.id,
            amount=budget,
            reason="Opening budget",
        )
        return Receipt("fund.create", object_id=fund.id)

    request = {
        "name": title,
        "kind": fund_kind.value,
        "start": str(start),
        "end": str(end),
        "budget": [budget.minor, budget.currency],
    }
    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="fund.create",
        request=request,
        perform=perform,
    )
