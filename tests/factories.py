"""Factories for users and ambassadors, built through the same domain operations as the app."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain.accounts import create_user
from grants.domain.allowances import allocate_allowance
from grants.domain.funds import change_budget, open_fund
from grants.domain.ledger import find_wallet
from grants.domain.money import Money
from grants.models import (
    Ambassador,
    CohortStatus,
    Country,
    Fund,
    FundKind,
    Programme,
    Role,
    User,
    Wallet,
    WalletKind,
)
from grants.security import password_hasher, password_rules
from tests.support import PASSWORD

_sequence = itertools.count(1)


def make_user(
    session: Session,
    *roles: Role,
    email: str | None = None,
    name: str | None = None,
    password: str | None = PASSWORD,
    locale: str = "en_US",
) -> User:
    """A user holding ``roles``, flushed; needs an application context.

    With no roles the user is written directly, since the domain refuses to create one.
    """
    number = next(_sequence)
    email = email or f"person{number}@example.org"
    name = name or f"Person {number}"
    if not roles:
        user = User(
            email=email,
            display_name=name,
            password_hash=password_hasher().hash(password) if password else None,
            locale=locale,
        )
        session.add(user)
        session.flush()
        return user
    return create_user(
        session,
        email=email,
        display_name=name,
        password=password,
        roles=roles,
        hasher=password_hasher(),
        rules=password_rules(),
        locale=locale,
    )


def make_programme(session: Session, code: str = "GLOW") -> Programme:
    """The programme with ``code``, created if missing."""
    programme = session.scalar(select(Programme).where(Programme.code == code))
    if programme is None:
        programme = Programme(code=code, name=code)
        session.add(programme)
        session.flush()
    return programme


def make_ambassador(
    session: Session,
    *,
    programme: str = "GLOW",
    country: Country = Country.US,
    extra_roles: Iterable[Role] = (),
    **user_fields: str,
) -> Ambassador:
    """An ambassador with a user account that can sign in."""
    user = make_user(session, Role.AMBASSADOR, *extra_roles, **user_fields)
    ambassador = Ambassador(
        user=user,
        programme=make_programme(session, programme),
        country=country,
        cohort_status=CohortStatus.CURRENT,
    )
    session.add(ambassador)
    session.flush()
    return ambassador


def make_fund(
    session: Session,
    *,
    currency: str = "USD",
    name: str | None = None,
    start: date = date(2026, 1, 1),
    end: date = date(2026, 12, 31),
    budget: int = 0,
    manager: User | None = None,
) -> Fund:
    """A therapy fund with its ledger accounts and, if ``budget``, that much budget."""
    fund = open_fund(
        session,
        name=name or f"Therapy {currency} {next(_sequence)}",
        kind=FundKind.THERAPY,
        currency=currency,
        start=start,
        end=end,
    )
    if budget:
        change_budget(
            session,
            key=f"budget-{fund.id}-{next(_sequence)}",
            actor=manager or make_user(session, Role.MANAGER),
            fund_id=fund.id,
            amount=Money(budget, currency),
            reason="Initial budget",
        )
    return fund


def fund_wallet(
    session: Session, fund: Fund, ambassador: Ambassador, amount: int, manager: User
) -> Wallet:
    """Allocate ``amount`` to ``ambassador`` from ``fund`` and return their wallet."""
    allocate_allowance(
        session,
        key=f"allowance-{next(_sequence)}",
        actor=manager,
        fund_id=fund.id,
        ambassador_id=ambassador.id,
        amount=Money(amount, fund.currency),
    )
    wallet = find_wallet(session, fund.id, ambassador.user_id, WalletKind.AMBASSADOR)
    assert wallet is not None
    return wallet
