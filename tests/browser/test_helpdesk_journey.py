"""The help desk end to end, in Chromium, with every email through a real SMTP server.

An anonymous visitor on a phone asks for help in Spanish; Backline's navigator reads the
request, answers it with a crisis line of the hub attached; the visitor opens the emailed
link, answers through it, and the navigator closes the request. Ninety days later (the
clock moved on) the worker's sweep has erased the name, the contact and the thread, and the
managers' figures still count the request.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from email.message import Message
from email.parser import BytesParser
from email.policy import default
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import func, select

from grants import clock
from grants.extensions import db as database
from grants.models import (
    Country,
    HelpdeskRoute,
    HelpLink,
    HelpMessage,
    HelpRequest,
    HelpState,
    Outcome,
    Partner,
    Role,
)
from grants.models.helpdesk import ANY
from grants.seed.hub import seed_hub
from grants.tasks import run_helpdesk
from tests.factories import make_user
from tests.support import PASSWORD
from tests.wallets import deliver_outbox, free_port

PHONE = {"width": 390, "height": 844}


class Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.received: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(BytesParser(policy=default).parsebytes(envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture
def app(make_app: Any, inbox: tuple[Inbox, int]) -> Flask:
    """The app (the one the live server serves) mailing through the loopback SMTP server,
    with the hub seeded, Backline answering every country, and Backline's navigator."""
    _handler, port = inbox
    app: Flask = make_app(
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=port,
        MAIL_USE_TLS=False,
        MAIL_DEFAULT_SENDER="Heart & Soul Funding <help@heartandsoul.example>",
        HELPDESK_MIN_FILL_SECONDS=1,
    )
    with app.app_context():
        session = database.session
        seed_hub(session, now=clock.now())
        backline = Partner(legal_name="Backline Care", display_name="Backline", country=Country.US)
        session.add(backline)
        session.flush()
        session.add(HelpdeskRoute(country=ANY, language=ANY, partner_id=backline.id))
        navigator = make_user(
            session, Role.NAVIGATOR, email="noor@backline.example", name="Noor Navigator"
        )
        navigator.partner_id = backline.id
        make_user(session, Role.MANAGER, email="morgan@example.org", name="Morgan Manager")
        session.commit()
    return app


def text_of(message: Message) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def to(inbox: Inbox, address: str) -> list[Message]:
    return [message for message in inbox.received if message["To"] == address]


def link_in(message: Message) -> str:
    found = re.search(r"https?://\S+/care/link/[\w-]+", text_of(message))
    assert found is not None, text_of(message)
    return found.group(0)


def no_sideways_scroll(page: Any) -> None:
    """The page does not scroll sideways on the phone."""
    page.wait_for_load_state()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} scrolls sideways ({width} px)"


def sign_in(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")


def test_a_visitor_asks_in_spanish_is_answered_answers_back_and_is_forgotten_90_days_on(
    app: Flask,
    live_server: str,
    contexts: Any,
    inbox: tuple[Inbox, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handler, _port = inbox
    phone = contexts()
    visitor = phone.new_page()
    visitor.set_viewport_size(PHONE)
    visitor.set_extra_http_headers({"Accept-Language": "es-ES,es;q=0.9"})

    # The visitor chooses a country first, and sees its emergency number before any form.
    visitor.goto(f"{live_server}/care/")
    assert visitor.locator("h1").inner_text() == "Ayúdame a encontrar atención"
    visitor.select_option("#care-country-first", "ES")
    visitor.click("form.hub-chooser button")
    danger = visitor.locator(".care-danger")
    assert "112" in danger.inner_text()
    assert danger.bounding_box()["y"] < visitor.locator("form.care-form").bounding_box()["y"]
    no_sideways_scroll(visitor)

    visitor.fill("#name", "Lucía")
    visitor.fill("#email", "lucia@example.org")
    visitor.fill("#city", "Madrid")
    visitor.select_option("#topic", "finding-a-therapist")
    visitor.check("input[name=can_pay][value=some]")
    visitor.fill("#text", "Toco el bajo en una banda y no duermo desde la gira.")
    visitor.wait_for_timeout(1100)
    visitor.click("form.care-form button[type=submit]")
    visitor.wait_for_url(re.compile(r".*/care/requests/HD-"))
    reference = visitor.url.rsplit("/", 1)[-1]
    assert "Hemos recibido tu solicitud" in visitor.locator(".care-sent").inner_text()
    no_sideways_scroll(visitor)

    with app.app_context():
        asked = database.session.scalars(select(HelpRequest)).one()
        assert (asked.reference, asked.language, asked.country) == (reference, "es", "ES")
        assert asked.urgent is False
    deliver_outbox(app)
    [received] = to(handler, "lucia@example.org")
    [told] = to(handler, "noor@backline.example")
    assert reference in told["Subject"]
    assert "Lucía" not in text_of(told), "a navigator's notice names no one"
    assert "Toco" not in text_of(told)
    assert reference in received["Subject"]
    assert text_of(received).startswith("Hola:")
    assert "Lucía" not in text_of(received), "the confirmation greets nobody by name"
    assert "112" in text_of(received)

    # Backline's navigator reads it, finds a crisis line on the hub and answers.
    desk = contexts().new_page()
    sign_in(desk, live_server, "noor@backline.example")
    desk.goto(f"{live_server}/helpdesk/")
    row = desk.locator("tr", has_text=reference)
    assert "Lucía" not in row.inner_text(), "the queue names no one"
    row.locator("a").click()
    assert "Toco el bajo" in desk.locator(".care-thread").inner_text()
    desk.fill("#find", "024")
    desk.click("text=Search the hub")
    desk.locator("input[name=services]").first.check()
    desk.fill("#body", "Hola Lucía: te mando una línea de ayuda y te llamo mañana.")
    desk.click("text=Send the answer")
    assert "emailed to the requester" in desk.locator(".flashes").inner_text()

    deliver_outbox(app)
    answer = to(handler, "lucia@example.org")[-1]
    assert "te llamo mañana" in text_of(answer)
    assert "024" in text_of(answer), "the attached crisis line is named"

    # The visitor opens the emailed link in a fresh browser (another device) and answers.
    other_device = contexts().new_page()
    other_device.set_viewport_size(PHONE)
    other_device.set_extra_http_headers({"Accept-Language": "es-ES,es;q=0.9"})
    other_device.goto(link_in(answer))
    other_device.click("main form button[type=submit]")
    other_device.wait_for_url(f"{live_server}/care/requests/{reference}")
    assert "te llamo mañana" in other_device.locator(".care-thread").inner_text()
    other_device.fill("#body", "¡Gracias! Mañana por la tarde me va bien.")
    other_device.click("form[action$='/answer'] button")
    assert "Mañana por la tarde" in other_device.locator(".care-thread").inner_text()
    no_sideways_scroll(other_device)

    desk.reload()
    assert "Mañana por la tarde" in desk.locator(".care-thread").inner_text()
    desk.select_option("#outcome", Outcome.CONNECTED.value)
    desk.click("text=Close the request")
    desk.wait_for_url(f"{live_server}/helpdesk/")

    with app.app_context():
        closed = database.session.scalars(select(HelpRequest)).one()
        assert closed.state is HelpState.CLOSED
        assert closed.outcome is Outcome.CONNECTED
        closed_at = closed.closed_at
        assert closed_at is not None
    assert len(to(handler, "lucia@example.org")) == 2, "her own answer is not emailed to her"

    # Ninety days after closing, the worker's sweep erases what identifies her.
    monkeypatch.setattr(clock, "now", lambda: closed_at + timedelta(days=90))
    swept = run_helpdesk(app)
    assert swept.erased == 1
    with app.app_context():
        session = database.session
        gone = session.scalars(select(HelpRequest)).one()
        assert (gone.name, gone.contact_email, gone.city, gone.text) == (None, None, None, None)
        assert session.scalar(select(func.count()).select_from(HelpMessage)) == 0
        assert session.scalar(select(func.count()).select_from(HelpLink)) == 0
        assert (gone.country, gone.topic.value, gone.outcome) == (
            "ES",
            "finding-a-therapist",
            Outcome.CONNECTED,
        )
    other_device.reload()
    assert "Mañana" not in other_device.content()

    manager = contexts().new_page()
    sign_in(manager, live_server, "morgan@example.org")
    manager.goto(f"{live_server}/manager/helpdesk")
    figures = manager.locator("main").inner_text()
    assert "<5 requests" in figures, "the request still counts, as a suppressed cell"
    assert "Lucía" not in figures
