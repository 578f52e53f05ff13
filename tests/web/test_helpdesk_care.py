"""The public help desk under ``/care``, as a person asking for help meets it: the country
first, its emergency number and crisis lines above the form, in the visitor's language;
the bot checks; the request routed and opened on this device with its private link shown
once; the private link that asks for a press and then works on one device only; answering
and erasing from the request's page; a request made while signed in; and the emails the
worker sends the requester.

The hub is the seeded one (:func:`grants.seed.hub.seed_hub`): Spain's emergency number is
112, its crisis lines 024 and the Teléfono de la Esperanza. The navigators' side is in
:mod:`tests.web.test_helpdesk_desk`, which shares the helpers here.
"""

from __future__ import annotations

import email.header
import email.message
import hashlib
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from grants import clock
from grants.domain.helpdesk import LINK_EMAIL
from grants.domain.helpdesk_links import REFERENCE
from grants.models import (
    AuditEvent,
    Country,
    HelpLink,
    HelpMessage,
    HelpRequest,
    HelpState,
    IdempotencyRecord,
    LinkKind,
    OutboxMessage,
    OutboxState,
    Outcome,
    Partner,
    Topic,
)
from grants.seed.hub import seed_hub
from grants.web.helpdesk import care_forms
from tests.factories import make_ambassador
from tests.support import csrf_token, form_fields, sign_in, submit
from tests.wallets import deliver_outbox, outbox

NOW = datetime(2026, 12, 2, 15, tzinfo=UTC)
"""A Wednesday: 10:00 in New York, where Backline's desk works, and 16:00 in Madrid."""

NAME = "Quenby Marchetti"
EMAIL = "quenby.marchetti@example.org"
PHONE = "612 345 678"
PHONE_E164 = "+34612345678"
CITY = "Villanueva de la Serena"
TEXT = "Busco una terapeuta que conozca la vida de los músicos de gira."
ASKED = {
    "name": NAME,
    "email": EMAIL,
    "phone": "",
    "city": CITY,
    "language": "es",
    "topic": Topic.FINDING_A_THERAPIST.value,
    "can_pay": "some",
    "text": TEXT,
}
"""A requester's form, filled in as a person in Spain would."""
PERSONAL = (NAME, EMAIL, PHONE, PHONE_E164, CITY, TEXT)
"""What only the requester and their partner's navigators may ever read."""

PRIVATE_LINK = re.compile(r"http://localhost/care/link/[A-Za-z0-9_-]+")
LINE_024 = "024 \N{EN DASH} Línea de atención a la conducta suicida"
"""Spain's crisis line, as the seeded hub names it."""
DANGER_ES = "Si estás en peligro ahora, llama al 112"
NOT_A_CRISIS_SERVICE_ES = (
    "Este servicio de orientación no es un servicio para situaciones de crisis: una persona "
    "responde en un plazo de dos días laborables."
)
NOT_A_CRISIS_SERVICE_EN = (
    "This help desk is not a crisis service: a person answers within two working days."
)


@pytest.fixture
def app(make_app):  # type: ignore[no-untyped-def]
    """The application, its form checks passing a form sent at once (the bot-check tests
    set the minimum time themselves)."""
    application: Flask = make_app(HELPDESK_MIN_FILL_SECONDS=0)
    return application


@dataclass
class Clock:
    """The application's clock, standing at ``moment`` until moved."""

    moment: datetime = NOW

    def move(self, by: timedelta) -> datetime:
        self.moment += by
        return self.moment

    def stand(self, moment: datetime) -> None:
        self.moment = moment


def stand_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The application's clock, standing at :data:`NOW` until a test moves it."""
    standing = Clock()
    monkeypatch.setattr(clock, "now", lambda: standing.moment)
    return standing


@pytest.fixture(autouse=True)
def at(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return stand_clock(monkeypatch)


@dataclass(frozen=True)
class Desk:
    """The ids of the two help-desk partners: Backline answers when no route says
    otherwise; MusiCares answers only what is routed to it."""

    backline: int
    musicares: int


def make_partner(db: Session, name: str, **fields: Any) -> Partner:
    partner = Partner(legal_name=f"{name} Inc.", display_name=name, country=Country.US, **fields)
    db.add(partner)
    db.flush()
    return partner


def open_desk(db: Session) -> Desk:
    """The seeded hub and two partners, committed."""
    seed_hub(db, now=NOW)
    found = Desk(
        backline=make_partner(db, "Backline").id, musicares=make_partner(db, "MusiCares").id
    )
    db.commit()
    return found


@pytest.fixture
def desk(db: Session) -> Desk:
    return open_desk(db)


# --- steps ----------------------------------------------------------------------------------


def care_page(country: str = "ES", lang: str | None = "es") -> str:
    return f"/care/?country={country}" + (f"&lang={lang}" if lang else "")


def ask_for_help(
    client: FlaskClient, *, country: str = "ES", lang: str | None = "es", **changes: str
) -> TestResponse:
    """Fill in the form of ``country``'s page as a browser shows it, and send it."""
    action = "/care/" + (f"?lang={lang}" if lang else "")
    return submit(client, care_page(country, lang), {**ASKED, **changes}, action=action)


def reference_of(response: TestResponse) -> str:
    """The reference of the request a sent form redirected to."""
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    match = re.fullmatch(
        rf"/care/requests/({REFERENCE.pattern})(\?lang=\w+)?", response.headers["Location"]
    )
    assert match, response.headers["Location"]
    return match.group(1)


def asked(client: FlaskClient, *, lang: str | None = "es", **changes: str) -> str:
    """Ask for help through the form; the request's reference."""
    return reference_of(ask_for_help(client, lang=lang, **changes))


def request_url(reference: str) -> str:
    return f"/care/requests/{reference}"


def page(
    client: FlaskClient, url: str, status: int = 200, headers: dict[str, str] | None = None
) -> str:
    """The page at ``url``, which must answer ``status``."""
    response = client.get(url, headers=headers or {})
    text = response.get_data(as_text=True)
    assert response.status_code == status, (url, response.status_code, text[:2000])
    return text


def stored(db: Session, reference: str) -> HelpRequest:
    """Request ``reference`` as the database holds it now."""
    db.rollback()
    found = db.scalar(select(HelpRequest).where(HelpRequest.reference == reference))
    assert found is not None, reference
    return found


def count(db: Session, model: Any, *where: Any) -> int:
    db.rollback()
    return db.scalar(select(func.count()).select_from(model).where(*where)) or 0


def written(db: Session) -> dict[str, int]:
    """Rows of what a refused request must not write."""
    return {
        model.__name__: count(db, model)
        for model in (
            HelpRequest,
            HelpLink,
            HelpMessage,
            OutboxMessage,
            AuditEvent,
            IdempotencyRecord,
        )
    }


def private_link_on(html: str) -> str | None:
    match = PRIVATE_LINK.search(html)
    return match.group(0) if match else None


def cookies_set(response: TestResponse) -> list[str]:
    return response.headers.getlist("Set-Cookie")


def device_cookie(response: TestResponse) -> str:
    """The ``care_device`` cookie a response sets, as its header says it."""
    (found,) = [c for c in cookies_set(response) if c.startswith("care_device=")]
    return found


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def text_of(message: email.message.Message) -> str:
    """The plain-text part of ``message``, as a mail client shows it."""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8")
    raise AssertionError("no plain-text part")


def html_of(message: email.message.Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/html":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8")
    raise AssertionError("no HTML part")


def emails_to(app: Flask, address: str) -> list[email.message.Message]:
    """The emails ``address`` has once the worker has delivered what is due."""
    return [message for message in outbox(app) if message["To"] == address]


def subject_of(message: email.message.Message) -> str:
    return str(email.header.make_header(email.header.decode_header(message["Subject"])))


# --- the page before the form ---------------------------------------------------------------


def test_without_a_country_the_page_asks_for_one_and_says_to_call_the_local_number(
    client: FlaskClient, db: Session, desk: Desk
) -> None:
    response = client.get("/care/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "If you are in danger now, call your local emergency number" in html
    assert "This help desk is not a crisis service. Choose your country" in html
    assert 'id="care-country-first" name="country"' in html
    assert '<option value="ES">Spain</option>' in html
    assert 'method="post"' not in html, "no request form before a country is chosen"
    assert 'name="website"' not in html
    assert written(db)["HelpRequest"] == 0


@pytest.mark.parametrize(
    ("url", "headers"),
    [(care_page("ES", "es"), {}), (care_page("ES", None), {"Accept-Language": "es-ES,es;q=0.9"})],
    ids=["lang-parameter", "accept-language"],
)
def test_a_country_shows_its_emergency_number_and_crisis_lines_above_the_form_in_spanish(
    client: FlaskClient, db: Session, desk: Desk, url: str, headers: dict[str, str]
) -> None:
    html = page(client, url, headers=headers)
    form = html.index('<form method="post"')
    assert html.index(DANGER_ES) < form
    assert html.index('href="tel:112"') < form
    assert html.index(NOT_A_CRISIS_SERVICE_ES) < form
    assert html.index(LINE_024) < form
    assert html.index("Teléfono de la Esperanza") < form
    assert NOT_A_CRISIS_SERVICE_EN not in html
    assert "Ayúdame a encontrar atención" in html
    assert '<option value="ES" selected>' in html
    assert re.search(r'<option value="es" lang="es" selected>', html)
    assert written(db)["HelpRequest"] == 0


@pytest.mark.parametrize(
    ("lang", "message"),
    [(None, "Choose your country from the list."), ("es", "Elige tu país de la lista.")],
)
def test_an_unknown_country_is_a_400_with_the_message_and_the_chooser(
    client: FlaskClient, db: Session, desk: Desk, lang: str | None, message: str
) -> None:
    html = page(client, care_page("XX", lang), 400)
    assert message in html
    assert 'id="care-country-first"' in html
    assert 'method="post"' not in html
    assert written(db)["HelpRequest"] == 0


# --- asking ---------------------------------------------------------------------------------


def test_a_request_is_routed_and_opens_on_this_device_with_its_private_link_shown_once(
    app: Flask, client: FlaskClient, db: Session, desk: Desk
) -> None:
    response = ask_for_help(client)
    reference = reference_of(response)
    assert response.headers["Location"] == f"/care/requests/{reference}?lang=es"

    cookie = device_cookie(response)
    assert f"Path=/care/requests/{reference};" in cookie + ";"
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Max-Age=31536000" in cookie
    token = cookie.split(";", 1)[0].removeprefix("care_device=")

    found = stored(db, reference)
    assert found.partner_id == desk.backline, "no route: Backline answers"
    assert (found.name, found.contact_email, found.contact_phone) == (NAME, EMAIL, None)
    assert (found.country, found.language, found.city, found.text) == ("ES", "es", CITY, TEXT)
    assert (found.topic, found.can_pay.value) == (Topic.FINDING_A_THERAPIST, "some")
    assert (found.state, found.urgent, found.pickup_due_at) == (HelpState.NEW, False, None)
    assert found.requester_id is None
    assert found.created_at == NOW
    assert found.answer_due_at == datetime(2026, 12, 4, 15, tzinfo=UTC), "Friday 10:00 NY"
    assert count(db, HelpRequest) == 1
    devices = list(db.scalars(select(HelpLink).where(HelpLink.kind == LinkKind.DEVICE)))
    assert [link.token_hash for link in devices] == [token_hash(token)]
    assert count(db, HelpLink, HelpLink.token_hash == token) == 0, "only its hash is kept"
    (confirmation,) = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == LINK_EMAIL))
    assert confirmation.state is OutboxState.PENDING
    assert f'"request":{found.id}' in (confirmation.payload or "")
    (event,) = db.scalars(select(AuditEvent).where(AuditEvent.action == "help_request.asked"))
    assert not any(value in str(event.after) for value in PERSONAL)

    first = client.get(response.headers["Location"])
    html = first.get_data(as_text=True)
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == "no-store"
    assert f"Tu solicitud {reference}" in html
    assert "Hemos recibido tu solicitud" in html
    assert "Te hemos enviado por correo electrónico un enlace a esta página." in html
    shown = private_link_on(html)
    assert shown is not None
    assert TEXT in html
    assert html.index(DANGER_ES) < html.index('id="care-thread-heading"'), (
        "the confirmation shows the danger panel first, urgent or not"
    )

    again = page(client, request_url(reference) + "?lang=es")
    assert private_link_on(again) is None, "the private link is shown once"
    assert "Hemos recibido tu solicitud" not in again
    assert TEXT in again
    assert again.index('id="care-thread-heading"') < again.index(DANGER_ES), (
        "later, a request that is not urgent shows its thread first"
    )

    page(app.test_client(), request_url(reference), 404)
    link = db.scalar(
        select(HelpLink).where(HelpLink.token_hash == token_hash(shown.rsplit("/")[-1]))
    )
    assert link is not None
    assert (link.kind, link.used_at) == (LinkKind.LINK, None)


def test_a_request_with_a_phone_only_is_kept_in_e164_and_emails_nobody(
    client: FlaskClient, db: Session, desk: Desk
) -> None:
    reference = asked(client, email="", phone=PHONE)
    found = stored(db, reference)
    assert (found.contact_email, found.contact_phone) == (None, PHONE_E164)
    assert count(db, OutboxMessage, OutboxMessage.kind == LINK_EMAIL) == 0
    assert count(db, HelpLink, HelpLink.kind == LinkKind.LINK) == 1, "the one shown on the page"
    html = page(client, request_url(reference) + "?lang=es")
    assert private_link_on(html) is not None
    assert "Te hemos enviado por correo electrónico" not in html


def test_a_form_without_a_way_to_reply_is_refused_on_its_field_and_keeps_what_was_typed(
    client: FlaskClient, db: Session, desk: Desk
) -> None:
    response = ask_for_help(client, email="", phone="", lang=None)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Give an email address or a phone number so we can answer." in html
    assert f'value="{NAME}"' in html
    assert TEXT in html
    assert written(db)["HelpRequest"] == 0


def test_a_filled_honeypot_is_a_400_and_writes_nothing(
    client: FlaskClient, db: Session, desk: Desk
) -> None:
    before = written(db)
    response = ask_for_help(client, lang=None, website="https://cheap-pills.example")
    assert response.status_code == 400
    assert "Your request could not be sent. Please try again in a few minutes." in (
        response.get_data(as_text=True)
    )
    assert "care_device" not in " ".join(cookies_set(response))
    assert written(db) == before
    assert before["HelpRequest"] == 0


def test_a_form_sent_too_quickly_is_a_400_that_keeps_what_was_typed(
    app: Flask, client: FlaskClient, db: Session, desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.config["HELPDESK_MIN_FILL_SECONDS"] = 60
    before = written(db)
    fields = form_fields(client, care_page("ES", "es"), "/care/?lang=es")
    response = client.post("/care/?lang=es", data={**fields, **ASKED})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Se ha enviado demasiado rápido. Revisa tu solicitud y vuelve a enviarla." in html
    assert f'value="{NAME}"' in html
    assert f'value="{EMAIL}"' in html
    assert f'value="{CITY}"' in html
    assert f">{TEXT}</textarea>" in html
    assert '<option value="finding-a-therapist" selected>' in html
    assert html.index(DANGER_ES) < html.index('<form method="post"')
    assert written(db) == before

    real = time.time()
    with app.test_request_context(), monkeypatch.context() as earlier:
        earlier.setattr(time, "time", lambda: real - 61)
        shown_a_minute_ago = care_forms.new_stamp()
    sent = client.post("/care/?lang=es", data={**fields, **ASKED, "shown": shown_a_minute_ago})
    assert stored(db, reference_of(sent)).name == NAME
    assert count(db, HelpRequest) == 1


@pytest.mark.parametrize(
    "changes",
    [
        {"topic": Topic.CRISIS.value, "text": "Necesito hablar con alguien."},
        {"topic": Topic.GRIEF.value, "text": "Desde que murió mi hermano, a veces quiero morir."},
    ],
    ids=["crisis-topic", "words-of-risk"],
)
def test_risk_makes_a_request_urgent_and_puts_the_crisis_lines_before_the_thread(
    client: FlaskClient, db: Session, desk: Desk, changes: dict[str, str]
) -> None:
    reference = asked(client, **changes)
    found = stored(db, reference)
    assert found.urgent is True
    assert found.pickup_due_at == NOW + timedelta(hours=4)
    html = page(client, request_url(reference) + "?lang=es")
    danger = html.index('id="care-danger-heading"')
    crisis = html.index('id="care-crisis-heading"')
    thread = html.index('id="care-thread-heading"')
    assert danger < crisis < thread
    assert html.index(DANGER_ES) < thread
    assert html.index(LINE_024) < thread
    assert html.count('id="care-danger-heading"') == 1


def test_the_same_form_sent_twice_makes_one_request(
    client: FlaskClient, db: Session, desk: Desk
) -> None:
    fields = {**form_fields(client, care_page(), "/care/?lang=es"), **ASKED}
    first = client.post("/care/?lang=es", data=fields)
    second = client.post("/care/?lang=es", data=fields)
    assert reference_of(first) == reference_of(second)
    assert count(db, HelpRequest) == 1
    assert count(db, IdempotencyRecord) == 1
    assert count(db, OutboxMessage, OutboxMessage.kind == LINK_EMAIL) == 1
    assert count(db, AuditEvent, AuditEvent.action == "help_request.asked") == 1
    assert TEXT in page(client, request_url(reference_of(second)))


# --- the private link -----------------------------------------------------------------------


def test_a_private_link_asks_for_a_press_then_lets_one_device_in(
    app: Flask, client: FlaskClient, db: Session, desk: Desk
) -> None:
    reference = asked(client)
    link = private_link_on(page(client, request_url(reference)))
    assert link is not None
    token = link.rsplit("/", 1)[1]
    path = link.removeprefix("http://localhost")

    phone = app.test_client()
    before = written(db)
    for _scanned in range(2):
        opened = phone.get(path)
        html = opened.get_data(as_text=True)
        assert opened.status_code == 200
        assert "Open my request on this device" in html
        assert opened.headers["Referrer-Policy"] == "no-referrer"
        assert opened.headers["Cache-Control"] == "no-store"
        assert TEXT not in html
        assert NAME not in html
    assert "care_device" not in " ".join(cookies_set(opened))
    link_row = db.scalar(select(HelpLink).where(HelpLink.token_hash == token_hash(token)))
    assert link_row is not None
    assert link_row.used_at is None, "a GET uses nothing up"
    assert count(db, HelpLink, HelpLink.kind == LinkKind.DEVICE) == 1
    assert count(db, AuditEvent, AuditEvent.action == "help_request.link_opened") == 0
    assert written(db) == before

    pressed = submit(phone, path, {})
    assert pressed.status_code == 302
    assert pressed.headers["Location"] == request_url(reference)
    assert f"Path=/care/requests/{reference};" in device_cookie(pressed)
    assert "HttpOnly" in device_cookie(pressed)
    link_row = db.scalar(select(HelpLink).where(HelpLink.token_hash == token_hash(token)))
    assert link_row is not None
    assert link_row.used_at == NOW
    assert count(db, HelpLink, HelpLink.kind == LinkKind.DEVICE) == 2
    assert count(db, AuditEvent, AuditEvent.action == "help_request.link_opened") == 1
    assert TEXT in page(phone, request_url(reference))

    laptop = app.test_client()
    gone = page(laptop, path, 404)
    assert "This link does not work any more" in gone
    token_of_laptop = csrf_token(laptop, care_page())
    refused = laptop.post(path, data={"csrf_token": token_of_laptop})
    assert refused.status_code == 404
    assert "This link does not work any more" in refused.get_data(as_text=True)
    assert "care_device" not in " ".join(cookies_set(refused))
    page(laptop, request_url(reference), 404)
    assert count(db, HelpLink, HelpLink.kind == LinkKind.DEVICE) == 2
    assert count(db, AuditEvent, AuditEvent.action == "help_request.link_opened") == 1


# --- answering and erasing ------------------------------------------------------------------


def answer_url(reference: str) -> str:
    return f"/care/requests/{reference}/answer"


def test_the_requester_answers_in_the_thread_and_a_too_long_answer_is_refused(
    client: FlaskClient, db: Session, desk: Desk
) -> None:
    reference = asked(client)
    url = request_url(reference)
    sent = submit(
        client, url, {"body": "Prefiero sesiones por la tarde."}, action=answer_url(reference)
    )
    assert sent.status_code == 302
    assert sent.headers["Location"] == url
    found = stored(db, reference)
    (message,) = db.scalars(select(HelpMessage).where(HelpMessage.request_id == found.id))
    assert (message.author.value, message.body, message.created_at) == (
        "requester",
        "Prefiero sesiones por la tarde.",
        NOW,
    )
    html = page(client, url)
    assert "Your answer was sent." in html
    assert html.index(TEXT) < html.index("Prefiero sesiones por la tarde.")

    too_long = "a" * 4001
    refused = submit(client, url, {"body": too_long}, action=answer_url(reference))
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "A message has at most 4,000 characters." in html
    assert count(db, HelpMessage) == 1
    assert stored(db, reference).last_message_at == NOW


def erase_url(reference: str) -> str:
    return f"/care/requests/{reference}/erase"


def test_erasing_needs_the_box_ticked_then_leaves_nothing_personal(
    app: Flask, client: FlaskClient, db: Session, desk: Desk, at: Clock
) -> None:
    reference = asked(client, phone=PHONE)
    url = request_url(reference)
    link = private_link_on(page(client, url))
    assert link is not None
    submit(client, url, {"body": "Mi número es el de arriba."}, action=answer_url(reference))
    request_id = stored(db, reference).id

    unsure = submit(client, url, {}, action=erase_url(reference))
    assert unsure.status_code == 422
    assert "Tick the box to confirm that you want it erased." in unsure.get_data(as_text=True)
    assert stored(db, reference).name == NAME
    assert count(db, HelpMessage) == 1

    at.move(timedelta(hours=2))
    cookie = client.get_cookie("care_device", path=url)
    assert cookie is not None
    erased = submit(client, url, {"sure": "y"}, action=erase_url(reference))
    html = erased.get_data(as_text=True)
    assert erased.status_code == 200
    assert "Your request was erased" in html
    assert reference in html
    assert any(c.startswith("care_device=;") and f"Path={url}" in c for c in cookies_set(erased)), (
        "the device's cookie is deleted"
    )

    found = stored(db, reference)
    assert (found.name, found.contact_email, found.contact_phone) == (None, None, None)
    assert (found.city, found.text, found.requester_id) == (None, None, None)
    assert found.erased_at == NOW + timedelta(hours=2)
    assert (found.state, found.outcome) == (HelpState.CLOSED, Outcome.WITHDRAWN)
    assert found.closed_at == NOW + timedelta(hours=2)
    assert (found.country, found.language, found.topic) == ("ES", "es", Topic.FINDING_A_THERAPIST)
    assert count(db, HelpMessage, HelpMessage.request_id == request_id) == 0
    assert count(db, HelpLink, HelpLink.request_id == request_id) == 0
    (event,) = db.scalars(select(AuditEvent).where(AuditEvent.action == "help_request.erased"))
    assert not any(value in str(event.after) for value in PERSONAL)

    client.set_cookie("care_device", cookie.value, path=url)
    page(client, url, 404)
    assert "This link does not work any more" in page(
        app.test_client(), link.removeprefix("http://localhost"), 404
    )


def test_a_request_made_signed_in_opens_from_the_account_and_for_nobody_else(
    app: Flask, db: Session, desk: Desk
) -> None:
    avery = make_ambassador(db, email="avery@example.org", name="Avery Ambassador")
    make_ambassador(db, email="other@example.org", name="Olive Other")
    db.commit()
    avery_id = avery.user_id

    reference = asked(sign_in(app, "avery@example.org"), country="US", lang=None, city="Boise")
    found = stored(db, reference)
    assert found.requester_id == avery_id
    assert found.country == "US"

    elsewhere = sign_in(app, "avery@example.org")
    account = page(elsewhere, "/account")
    assert "Your requests for help" in account
    assert f'href="/care/requests/{reference}"' in account
    assert elsewhere.get_cookie("care_device", path=request_url(reference)) is None
    assert TEXT in page(elsewhere, request_url(reference))

    other = sign_in(app, "other@example.org")
    assert reference not in page(other, "/account")
    assert TEXT not in page(other, request_url(reference), 404)
    page(app.test_client(), request_url(reference), 404)


# --- emails ---------------------------------------------------------------------------------


def test_the_confirmation_of_a_spanish_request_is_in_spanish_with_a_link_that_works(
    app: Flask, client: FlaskClient, db: Session, desk: Desk
) -> None:
    reference = asked(client)
    (message,) = emails_to(app, EMAIL)
    assert subject_of(message) == f"Hemos recibido tu solicitud de ayuda {reference}"
    text = text_of(message)
    assert text.startswith("Hola:")
    assert NAME not in text, "the confirmation repeats no word of the form to the address typed"
    assert reference in text
    assert DANGER_ES in text
    assert LINE_024 in text
    assert "Este servicio de orientación no es un servicio para situaciones de crisis." in text
    assert TEXT not in text, "what they wrote stays behind the link"
    link = private_link_on(text)
    assert link is not None
    assert link in html_of(message)
    assert '<html lang="es">' in html_of(message)
    (confirmation,) = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == LINK_EMAIL))
    assert (confirmation.state, confirmation.payload) == (OutboxState.SENT, None)

    phone = app.test_client()
    path = link.removeprefix("http://localhost")
    assert "Open my request on this device" in page(phone, path)
    opened = submit(phone, path, {})
    assert opened.headers["Location"] == request_url(reference)
    assert TEXT in page(phone, request_url(reference))
    assert len(emails_to(app, EMAIL)) == 1, "opening the link sends nothing"


def test_after_erasure_nothing_more_is_sent(
    app: Flask, client: FlaskClient, db: Session, desk: Desk
) -> None:
    reference = asked(client)
    url = request_url(reference)
    (confirmation,) = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == LINK_EMAIL))
    assert (confirmation.state, confirmation.recipient) == (OutboxState.PENDING, EMAIL)
    assert submit(client, url, {"sure": "y"}, action=erase_url(reference)).status_code == 200

    db.rollback()
    (dropped,) = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == LINK_EMAIL))
    assert (dropped.state, dropped.payload, dropped.recipient) == (OutboxState.DROPPED, None, None)
    assert deliver_outbox(app).sent == 0
    assert emails_to(app, EMAIL) == []
    assert count(db, OutboxMessage, OutboxMessage.recipient == EMAIL) == 0
