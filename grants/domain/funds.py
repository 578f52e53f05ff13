"""Opening funds with their ledger accounts."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from grants.domain.errors import InvalidInput
from grants.domain.ledger import open_fund_accounts
from grants.domain.money import Money
from grants.models import Fund, FundKind


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
