"""Email: through a real SMTP server on loopback, into the outbox folder by default, the
settings that choose between them, and a failure that does not lose the gift."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import select

from grants import create_app
from grants.config import parse_prices, settings_from_environment
from grants.extensions import db as database
from grants.mail import ClaimEmail, MailNotSent, send_claim_email
from grants.models import OutboxMessage
from tests.factories import build_world
from tests.support import sign_in
from tests.wallets import body_of, claim_link_in, deliver_outbox, free_port, give_gift, outbox


class Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on 127.0.0.1, on a port nothing else uses."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_a_gift_email_goes_through_a_real_smtp_server(  # type: ignore[no-untyped-def]
    make_app, smtp_server: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_server
    app: Flask = make_app(
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=port,
        MAIL_USE_TLS=False,
        MAIL_DEFAULT_SENDER="Heart & Soul Funding <gifts@heartandsoul.example>",
    )
    assert app.config["MAIL_BACKEND"] == "smtp"
    with app.app_context():
        world = build_world(database.session)
    client = sign_in(app, world.avery)
    assert give_gift(client, world.avery_wallet).status_code == 302
    assert inbox.received == [], "the worker sends it, not the request"
    deliver_outbox(app)

    [(recipients, message)] = inbox.received
    assert recipients == ["sam@example.org"]
    assert message["To"] == "sam@example.org"
    assert message["From"] == "Heart & Soul Funding <gifts@heartandsoul.example>"
    assert message["Subject"] == "Avery Ambassador has given you therapy credit"
    with app.app_context():
        event_id = database.session.scalars(select(OutboxMessage.event_id)).one()
    assert message["Message-ID"] == f"<{event_id}@heartandsoul.example>"
    text = body_of(message)
    assert "Hello Sam Drummer," in text
    assert "$150.00" in text
    link = claim_link_in(message)
    assert link.startswith("http://localhost/claim/")
    assert outbox(app) == []

    page = app.test_client().get(link)
    assert page.status_code == 200
    assert "Avery Ambassador has given you therapy credit" in page.get_data(as_text=True)


def test_the_embedded_default_writes_to_the_outbox_and_logs_the_link(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app({"INSTANCE_PATH": tmp_path / "instance", "TESTING": True})
    assert app.config["MAIL_BACKEND"] == "file"
    outbox_path = (tmp_path / "instance" / "outbox").resolve()
    assert Path(app.config["MAIL_FILE_PATH"]).resolve() == outbox_path
    email = ClaimEmail(
        to="sam@example.org",
        recipient_name="Sam",
        giver_name="Avery",
        amount="$80.00",
        expires_at=datetime(2026, 12, 24, 12, 0, tzinfo=UTC),
        claim_url="http://localhost/claim/abc",
        time_zone="Europe/London",
        locale="en_GB",
    )
    with app.app_context(), caplog.at_level(logging.INFO, logger="grants.mail"):
        send_claim_email(email)
    [message] = outbox(app, deliver=False)
    assert message["To"] == "sam@example.org"
    assert "http://localhost/claim/abc" in body_of(message)
    assert "Claim it by 24 Dec 2026, 12:00 GMT (Europe/London time) at" in body_of(message)
    assert "Claim link for sam@example.org (written to the outbox): http://localhost/claim/abc" in (
        caplog.text
    )


def test_mail_settings_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRANTS_MAIL_SERVER", "smtp.example.org")
    monkeypatch.setenv("GRANTS_MAIL_PORT", "2525")
    monkeypatch.setenv("GRANTS_MAIL_USERNAME", "gifts")
    monkeypatch.setenv("GRANTS_MAIL_PASSWORD", "s3cret-value")
    monkeypatch.setenv("GRANTS_MAIL_USE_TLS", "false")
    monkeypatch.setenv("GRANTS_MAIL_DEFAULT_SENDER", "Gifts <gifts@example.org>")
    monkeypatch.setenv("GRANTS_PUBLIC_URL", "https://funding.example.org")
    monkeypatch.setenv("GRANTS_TYPICAL_SESSION_PRICE", "USD=12000, GBP=9000")
    app = create_app({"INSTANCE_PATH": tmp_path / "instance"})
    config = app.config
    assert config["MAIL_BACKEND"] == "smtp"
    assert (config["MAIL_SERVER"], config["MAIL_PORT"]) == ("smtp.example.org", 2525)
    assert (config["MAIL_USERNAME"], config["MAIL_PASSWORD"]) == ("gifts", "s3cret-value")
    assert config["MAIL_USE_TLS"] is False
    assert config["MAIL_DEFAULT_SENDER"] == "Gifts <gifts@example.org>"
    assert config["PUBLIC_URL"] == "https://funding.example.org"
    assert config["TYPICAL_SESSION_PRICE"] == {"USD": 12_000, "GBP": 9_000}
    mailman = app.extensions["mailman"]
    assert (mailman.server, mailman.port, mailman.use_tls) == ("smtp.example.org", 2525, False)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("GRANTS_MAIL_USE_TLS", "perhaps"),
        ("GRANTS_MAIL_PORT", "twenty-five"),
        ("GRANTS_TYPICAL_SESSION_PRICE", "USD:150"),
    ],
)
def test_a_malformed_mail_setting_stops_start_up(variable: str, value: str) -> None:
    with pytest.raises(ValueError, match=variable):
        settings_from_environment({variable: value})


def test_session_prices_parse() -> None:
    assert parse_prices("") == {}
    assert parse_prices("usd=15000") == {"USD": 15_000}
    with pytest.raises(ValueError, match="CURRENCY=minor units"):
        parse_prices("USD=150.00")


def test_claim_links_use_the_public_url_when_set(make_app) -> None:  # type: ignore[no-untyped-def]
    app: Flask = make_app(PUBLIC_URL="https://funding.example.org/")
    app.config["SERVER_NAME"] = "funding.example.org"
    with app.app_context():
        world = build_world(database.session)
    client = sign_in(app, world.avery)
    assert give_gift(client, world.avery_wallet).status_code == 302
    link = claim_link_in(outbox(app)[0])
    assert link.startswith("https://funding.example.org/claim/")
    token = link.rsplit("/", 1)[1]
    assert app.test_client().get(f"/claim/{token}").status_code == 200


def test_an_unreachable_server_raises_mail_not_sent(  # type: ignore[no-untyped-def]
    make_app, caplog: pytest.LogCaptureFixture
) -> None:
    app: Flask = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_USE_TLS=False)
    email = ClaimEmail(
        to="sam@example.org",
        recipient_name="Sam",
        giver_name="Avery",
        amount="$80.00",
        expires_at=datetime(2026, 12, 24, tzinfo=UTC),
        claim_url="http://localhost/claim/secret-token",
    )
    with (
        app.app_context(),
        caplog.at_level(logging.INFO, logger="grants.mail"),
        pytest.raises(MailNotSent),
    ):
        send_claim_email(email)
    assert "The claim email to sam@example.org could not be sent" in caplog.text
    assert "secret-token" not in caplog.text
