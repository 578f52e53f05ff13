"""The steps the wallet screen, mail and browser tests share, on the world of
:func:`tests.factories.build_world`: giving and redeeming through the forms (a session is
booked with a verified provider and its invoice, so finance may approve it), what a refused
form must not write, reading the outbox.

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
import io
import re
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.domain.providers import fold
from grants.domain.wallets import wallet_balances
from grants.extensions import db as database
from grants.models import (
    Gift,
    LedgerTransaction,
    OutboxMessage,
    Posting,
    Provider,
    ProviderKind,
    ProviderStatus,
    Redemption,
    User,
    Wallet,
)
from grants.outbox import Delivery, deliver
from tests.conftest import end_test_transaction
from tests.domain.test_documents import pdf
from tests.factories import TODAY
from tests.support import form_fields, submit

CLAIM_LINK = re.compile(r"https?://[^\s/]+/claim/[A-Za-z0-9_-]+")


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


def verified_provider(app: Flask, name: str = "Dr Rivera", city: str = "Nashville") -> int:
    """The id of the verified provider ``name`` in ``app``'s directory, added (and
    committed) if it is not there yet, as finance would have verified them."""

    def find_or_add() -> int:
        with app.app_context():
            session = database.session()
            try:
                found = session.scalar(
                    select(Provider.id).where(
                        Provider.name == name, Provider.status == ProviderStatus.VERIFIED
                    )
                )
                if found is not None:
                    return found
                someone = session.scalars(select(User.id).order_by(User.id)).first()
                assert someone is not None, "a provider is proposed and verified by someone"
                now = datetime.now(UTC)
                provider = Provider(
                    kind=ProviderKind.PERSON,
                    name=name,
                    country="US",
                    city=city,
                    licence_type="LCSW",
                    licence_number="LCSW-1001",
                    licence_issuer="Tennessee Board of Social Work",
                    email="rivera@example.org",
                    search_name=fold(name),
                    search_city=fold(city),
                    status=ProviderStatus.VERIFIED,
                    proposed_by_id=someone,
                    proposed_at=now,
                    verified_by_id=someone,
                    verified_at=now,
                )
                session.add(provider)
                session.commit()
                return provider.id
            finally:
                database.session.remove()

    end_test_transaction()
    return contextvars.Context().run(find_or_add)


INVOICE = pdf()
"""The invoice a session is booked with: a one-page PDF."""


def request_session(client: FlaskClient, wallet_id: int, **changes: str):  # type: ignore[no-untyped-def]
    """Book a session through the form: with the verified provider Dr Rivera and an
    invoice, unless ``changes`` say otherwise. A ``provider_name`` among them proposes
    that provider instead (the form's "not listed" part), and ``invoice=""`` books
    without an invoice."""
    url = redeem_page(wallet_id)
    fields = form_fields(client, url)
    data: dict[str, object] = {
        **fields,
        "session_date": (TODAY - timedelta(days=3)).isoformat(),
        "amount": "120.50",
    }
    if "provider_name" not in changes and "provider_id" not in changes:
        data["provider_id"] = str(verified_provider(client.application))
    invoice = changes.pop("invoice", None)
    if invoice != "":
        data["invoice"] = (io.BytesIO(INVOICE), "invoice.pdf")
    return client.post(url, data={**data, **changes}, content_type="multipart/form-data")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
