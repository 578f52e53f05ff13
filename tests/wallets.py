"""A small world of wallets for the screen, mail and browser tests, and the steps they share:
signing in, giving and redeeming through the forms, reading the outbox.

Emails leave through the outbox: a gift records its claim email, and the worker sends it.
Here :func:`deliver_outbox` runs the worker's delivery step in the test's own process, and
:func:`outbox` runs it before reading the folder, so a test sees what the recipient has once
the worker has been. The queue itself is not used: the test application's tasks would wait
in it for a consumer, and report jobs must (``tests/reports/test_jobs.py``); the queue and
the worker process are tested in ``tests/infrastructure/test_outbox.py``.
"""

from __future__ import annotations

import contextvars
import email
import re
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.domain.support import seed_default_lines
from grants.domain.wallets import wallet_balances
from grants.models import (
    Country,
    Gift,
    LedgerTransaction,
    OutboxMessage,
    Posting,
    Redemption,
    Role,
    Wallet,
)
from grants.outbox import Delivery, deliver
from tests.conftest import end_test_transaction
from tests.factories import fund_wallet, make_ambassador, make_fund, make_user
from tests.support import login, submit

TODAY = datetime.now(UTC).date()
CLAIM_LINK = re.compile(r"https?://[^\s/]+/claim/[A-Za-z0-9_-]+")


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
    db.commit()
    return world


def sign_in(app: Flask, user_email: str) -> FlaskClient:
    client = app.test_client()
    response = login(client, user_email)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def counts(db: Session) -> dict[str, int]:
    """Rows of what a refused form must not write."""
    db.rollback()
    return {
        model.__name__: db.scalar(select(func.count()).select_from(model)) or 0
        for model in (Gift, Redemption, LedgerTransaction, Posting, Wallet, OutboxMessage)
    }


def balances(db: Session, wallet_id: int) -> tuple[int, int]:
    db.rollback()
    found = wallet_balances(db, wallet_id)
    return found.available, found.held


def deliver_outbox(app: Flask) -> Delivery:
    """Send what the outbox holds that is due, as the worker woken after a commit would."""
    end_test_transaction()
    return contextvars.Context().run(deliver, app)


def outbox(app: Flask, *, deliver: bool = True) -> list[email.message.Message]:
    """The emails written to the outbox folder, oldest first, once the worker has sent what
    was due (unless ``deliver`` is false)."""
    if deliver:
        deliver_outbox(app)
    folder = Path(app.config["MAIL_FILE_PATH"])
    messages = []
    for path in sorted(folder.glob("*.log")) if folder.exists() else []:
        for chunk in path.read_bytes().split(b"-" * 79 + b"\n"):
            if chunk.strip():
                messages.append(email.message_from_bytes(chunk))
    return messages


def body_of(message: email.message.Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(message.get_content_charset() or "utf-8")


def claim_link_in(message: email.message.Message) -> str:
    match = CLAIM_LINK.search(body_of(message))
    assert match, body_of(message)
    return match.group(0)


def redeem_page(wallet_id: int) -> str:
    return f"/wallet/{wallet_id}/redeem"


def give_page(wallet_id: int) -> str:
    return f"/wallet/{wallet_id}/give"


def give_gift(client: FlaskClient, wallet_id: int, **changes: str):  # type: ignore[no-untyped-def]
    return submit(
        client,
        give_page(wallet_id),
        {
            "recipient_name": "Sam Drummer",
            "recipient_email": "sam@example.org",
            "relation": "bandmate",
            "amount": "150",
            "message": "Look after yourself on the tour",
            **changes,
        },
    )


def request_session(client: FlaskClient, wallet_id: int, **changes: str):  # type: ignore[no-untyped-def]
    return submit(
        client,
        redeem_page(wallet_id),
        {
            "provider_name": "Dr Rivera",
            "session_date": (TODAY - timedelta(days=3)).isoformat(),
            "amount": "120.50",
            **changes,
        },
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
