"""Factories for users, ambassadors, funds and wallets, and the small world of wallets most
screen tests start from, built through the same domain operations as the app."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from grants.clock import today_in
from grants.domain import outbox
from grants.domain.accounts import create_user
from grants.domain.allowances import allocate_allowance
from grants.domain.funds import change_budget, open_fund
from grants.domain.ledger import find_wallet
from grants.domain.money import Money
from grants.domain.support import seed_default_lines
from grants.models import (
    Ambassador,
    CohortStatus,
    Country,
    Fund,
    FundKind,
    OutboxMessage,
    Programme,
    Role,
    User,
    Wallet,
    WalletKind,
)
from grants.security import password_hasher, password_rules
from tests.support import PASSWORD

_sequence = itertools.count(1)
TODAY = today_in("America/New_York")
"""The day the world's plan years run around: today where its people are (the people it
makes are in en_US and in the United States, so in New York's time zone)."""


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


@dataclass(frozen=True)
class World:
    """Emails and ids of the people and wallets the tests use."""

    avery: str
    avery_wallet: int
    other: str
    other_wallet: int
    uk: str
    uk_wallet: int
    manager: str
    finance: str
    fund_id: int


def build_world(db: Session) -> World:
    """Two US ambassadors and a UK one with credit in funds whose plan year runs around
    today, a manager, finance, and the default support lines."""
    manager = make_user(db, Role.MANAGER, email="manager@example.org")
    finance = make_user(db, Role.FINANCE, email="finance@example.org")
    start, end = TODAY - timedelta(days=200), TODAY + timedelta(days=100)
    us = make_fund(db, start=start, end=end, budget=10_000_000, manager=manager)
    uk = make_fund(db, currency="GBP", start=start, end=end, budget=10_000_000, manager=manager)
    avery = make_ambassador(db, email="avery@example.org", name="Avery Ambassador")
    other = make_ambassador(db, email="other@example.org", name="Olive Other")
    briton = make_ambassador(
        db, email="uk@example.org", name="Niamh Carter", country=Country.GB, locale="en_GB"
    )
    world = World(
        avery=avery.user.email,
        avery_wallet=fund_wallet(db, us, avery, 60_000, manager).id,
        other=other.user.email,
        other_wallet=fund_wallet(db, us, other, 30_000, manager).id,
        uk=briton.user.email,
        uk_wallet=fund_wallet(db, uk, briton, 40_000, manager).id,
        manager=manager.email,
        finance=finance.email,
        fund_id=us.id,
    )
    seed_default_lines(db)
    forget_emails(db)
    db.commit()
    return world


def forget_emails(db: Session) -> None:
    """Drop the emails a test's setup left in the outbox (the notifications of the
    allowances that funded its wallets), so that a test sees only the emails it causes. The
    notifications themselves stay in the app, and nothing is left to wake the worker for."""
    db.execute(delete(OutboxMessage))
    db.info.pop(outbox.RECORDED, None)
