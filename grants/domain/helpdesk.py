"""The help desk, the requester's side: asking for help, and coming back to the request.

Anyone, signed in or not, asks for help in finding care (:func:`ask`). The request is routed
to the help-desk partner of its country and language (:func:`route_for`), flagged urgent when
its topic or its words signal immediate risk (:func:`signals_risk`), and given deadlines in
the partner's own working days (:func:`working_deadline`). The requester gets a reference
and a private link.

How the requester comes back (a private link that works once per device) is in
:mod:`grants.domain.helpdesk_links`; the navigators' side in :mod:`grants.domain.helpdesk_desk`.

Operations flush and never commit; each writes an audit event that names the request by
its id and reference only, never by anything personal, since the audit trail is never
erased.
"""

from __future__ import annotations

import json
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from grants.domain import audit
from grants.domain import outbox as messages
from grants.domain.account_tokens import COUNTRY_TIME_ZONES
from grants.domain.accounts import EMAIL_MAX, normalise_email
from grants.domain.errors import InvalidInput, InvalidState, NotFound
from grants.domain.helpdesk_links import new_link
from grants.domain.helpdesk_notices import tell_assignee_of_answer, tell_navigators_of_new
from grants.domain.hub import HUB_LANGUAGES
from grants.domain.hub_contacts import country_code
from grants.domain.idempotency import Receipt, idempotent
from grants.models import (
    Author,
    CanPay,
    Country,
    HelpdeskRoute,
    HelpLink,
    HelpMessage,
    HelpRequest,
    HelpState,
    LinkKind,
    OutboxMessage,
    OutboxState,
    Outcome,
    Partner,
    Topic,
)
from grants.models.helpdesk import ANY as ANY_ROUTE
from grants.models.helpdesk import TEXT_MAX

NAME_MAX = 120
CITY_MAX = 100
PICKUP_WITHIN = timedelta(hours=4)
"""An urgent request not picked up within this is overdue."""
ANSWER_WITHIN_WORKING_DAYS = 2
"""Any request not answered within this many of its partner's working days is overdue."""
DEFAULT_PARTNER = "Backline"
"""The partner that answers when no route names one (the programme's desk until now)."""

LINK_EMAIL = "helpdesk.link"
"""The outbox's kind for the email that confirms a request; payload ``request``, ``token``."""
REPLY_EMAIL = "helpdesk.reply"
"""The outbox's kind for a navigator's answer; payload ``message``, ``token``."""

RISK_PHRASES = (
    # English
    "suicid",
    "kill myself",
    "end my life",
    "take my life",
    "want to die",
    "better off dead",
    "self-harm",
    "self harm",
    "hurt myself",
    "overdose",
    # Spanish
    "matarme",
    "quitarme la vida",
    "no quiero vivir",
    "quiero morir",
    "hacerme dano",
    "autolesion",
    # French
    "me tuer",
    "en finir",
    "mettre fin a mes jours",
    "envie de mourir",
    "me faire du mal",
    "automutil",
    # German
    "suizid",
    "selbstmord",
    "mich umbringen",
    "nicht mehr leben",
    "sterben will",
    "selbstverletz",
    "mir etwas antun",
    # Portuguese
    "me matar",
    "tirar minha vida",
    "tirar a minha vida",
    "nao quero viver",
    "quero morrer",
    "me machucar",
    "automutil",
)
"""Words that signal immediate risk, in each of the hub's languages, folded as
:func:`_folded` folds a text (lower case, no accents). A match flags a request urgent for
the navigators; it never refuses one."""


def _folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.split())


def signals_risk(topic: Topic, text: str) -> bool:
    """Whether a request's topic or words signal immediate risk."""
    if topic is Topic.CRISIS:
        return True
    folded = _folded(text)
    return any(phrase in folded for phrase in RISK_PHRASES)


# --- values ---------------------------------------------------------------------------------


_REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford's base 32: no I, L, O or U to misread."""


def new_reference() -> str:
    """A fresh reference such as ``HD-7K3M-9QXA`` (40 random bits)."""
    characters = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))
    return f"HD-{characters[:4]}-{characters[4:]}"


def _no_control(text: str, *, field: str, label: str) -> str:
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t\r" for c in text):
        raise InvalidInput(f"{label} cannot contain control characters.", field=field)
    return text


def clean_message(raw: str, *, field: str = "text", required: bool = True) -> str:
    """A message's text, trimmed: at most :data:`TEXT_MAX` characters, no control characters
    other than line breaks and tabs."""
    text = raw.replace("\r\n", "\n").strip()
    if required and not text:
        raise InvalidInput("Write your message.", field=field)
    if len(text) > TEXT_MAX:
        raise InvalidInput(f"A message has at most {TEXT_MAX:,} characters.", field=field)
    return _no_control(text, field=field, label="A message")


def read_contact_phone(raw: str, country: str) -> str:
    """A number to reply to, in E.164: a full number of ``country``, or one written with
    ``+`` and its country code."""
    try:
        parsed = phonenumbers.parse(raw.strip(), country)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        raise InvalidInput(
            "That is not a phone number we can call back. Write it with its area code, or "
            "with + and the country code.",
            field="phone",
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True)
class Ask:
    """What a requester typed."""

    name: str
    email: str
    phone: str
    country: str
    city: str
    language: str
    topic: str
    can_pay: str
    text: str


@dataclass(frozen=True)
class Checked:
    """A request's values once checked."""

    name: str
    email: str | None
    phone: str | None
    country: str
    city: str
    language: str
    topic: Topic
    can_pay: CanPay
    text: str


def check_ask(asked: Ask) -> Checked:
    """``asked`` checked, or :class:`InvalidInput` naming the field that is wrong."""
    name = " ".join(asked.name.split())
    if not name:
        raise InvalidInput("Tell us what to call you: a first name or any name.", field="name")
    if len(name) > NAME_MAX:
        raise InvalidInput(f"A name has at most {NAME_MAX} characters.", field="name")
    _no_control(name, field="name", label="A name")
    try:
        country = country_code(asked.country)
    except InvalidInput:
        raise InvalidInput("Choose your country from the list.", field="country") from None
    email = normalise_email(asked.email) if asked.email.strip() else None
    if email is not None and len(email) > EMAIL_MAX:
        raise InvalidInput("That email address is too long.", field="email")
    phone = read_contact_phone(asked.phone, country) if asked.phone.strip() else None
    if email is None and phone is None:
        raise InvalidInput("Give an email address or a phone number to reply to.", field="email")
    city = " ".join(asked.city.split())
    if len(city) > CITY_MAX:
        raise InvalidInput(f"A city has at most {CITY_MAX} characters.", field="city")
    _no_control(city, field="city", label="A city")
    if asked.language not in HUB_LANGUAGES:
        raise InvalidInput("Choose a language from the list.", field="language")
    try:
        topic = Topic(asked.topic)
    except ValueError:
        raise InvalidInput("Choose what kind of help from the list.", field="topic") from None
    try:
        can_pay = CanPay(asked.can_pay)
    except ValueError:
        raise InvalidInput("Choose what you can pay from the list.", field="can_pay") from None
    text = clean_message(asked.text, required=False)
    return Checked(name, email, phone, country, city, asked.language, topic, can_pay, text)


# --- routing and deadlines ------------------------------------------------------------------


def route_for(session: Session, country: str, language: str) -> int | None:
    """The active partner whose navigators answer ``country`` in ``language``: the most
    specific route (country and language, country, language, then the default), else the
    partner called Backline; ``None`` when there is neither."""
    rows = session.execute(
        select(HelpdeskRoute.country, HelpdeskRoute.language, HelpdeskRoute.partner_id)
        .join(Partner, Partner.id == HelpdeskRoute.partner_id)
        .where(
            HelpdeskRoute.country.in_([country, ANY_ROUTE]),
            HelpdeskRoute.language.in_([language, ANY_ROUTE]),
            Partner.active,
        )
    ).all()
    if rows:
        best = max(rows, key=lambda row: (row.country != ANY_ROUTE, row.language != ANY_ROUTE))
        return int(best.partner_id)
    fallback = session.scalar(
        select(Partner.id).where(Partner.display_name == DEFAULT_PARTNER, Partner.active)
    )
    return int(fallback) if fallback is not None else None


def desk_time_zone(partner: Partner) -> str:
    """The zone a partner's help desk works in: its own, else its country's."""
    return partner.time_zone or COUNTRY_TIME_ZONES.get(Country(partner.country), "UTC")


def working_deadline(start: datetime, time_zone: str, working_days: str, days: int) -> datetime:
    """The moment ``days`` working days after ``start``, in ``time_zone`` with
    ``working_days`` (ISO weekdays, ``12345`` for Monday to Friday): a request that comes in
    on a day off counts from the start of the next working day. Friday 10:00 plus 2 is
    Tuesday 10:00; Saturday 15:00 plus 2 is Wednesday 00:00."""
    zone = ZoneInfo(time_zone)
    worked = {int(day) for day in working_days if day in "1234567"} or {1, 2, 3, 4, 5}
    local = start.astimezone(zone)

    def works(day: date) -> bool:
        return day.isoweekday() in worked

    day, at = local.date(), local.time().replace(tzinfo=None)
    if not works(day):
        while not works(day):
            day += timedelta(days=1)
        at = time(0)
    remaining = days
    while remaining:
        day += timedelta(days=1)
        if works(day):
            remaining -= 1
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def answer_deadline(partner: Partner, start: datetime) -> datetime:
    """When a request that reached ``partner`` at ``start`` must be answered."""
    return working_deadline(
        start, desk_time_zone(partner), partner.working_days, ANSWER_WITHIN_WORKING_DAYS
    )


# --- asking ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Asked:
    """A request made: what the confirmation page needs. The tokens are given only to the
    request that made it (a replay of the same form gets new ones for the same request)."""

    request_id: int
    reference: str
    urgent: bool
    link_token: str
    device_token: str
    replayed: bool = False


def _ask_request(checked: Checked) -> dict[str, object]:
    """What the idempotency record compares of a request: nothing personal, not even as a
    hash (the record outlives the request's erasure). The same form sent twice with other
    words is taken for the first: the requester finds it on its page, and writes more there."""
    return {
        "country": checked.country,
        "language": checked.language,
        "topic": checked.topic.value,
        "can_pay": checked.can_pay.value,
    }


def ask(
    session: Session, *, key: str, asked: Ask, requester_id: int | None, now: datetime
) -> Asked:
    """Make a request for help, once per idempotency ``key``: routed, flagged, given its
    deadlines, with a private link for the confirmation page and a device token for this
    browser, and, when an email address was given, an email with a link of its own."""
    checked = check_ask(asked)

    def perform() -> Receipt:
        partner_id = route_for(session, checked.country, checked.language)
        if partner_id is None:
            raise InvalidState("The help desk cannot take requests at the moment.")
        partner = session.get_one(Partner, partner_id)
        urgent = signals_risk(checked.topic, checked.text)
        reference = new_reference()
        while session.scalar(select(HelpRequest.id).where(HelpRequest.reference == reference)):
            reference = new_reference()
        help_request = HelpRequest(
            reference=reference,
            partner_id=partner_id,
            country=checked.country,
            language=checked.language,
            topic=checked.topic,
            can_pay=checked.can_pay,
            urgent=urgent,
            state=HelpState.NEW,
            name=checked.name,
            contact_email=checked.email,
            contact_phone=checked.phone,
            city=checked.city,
            text=checked.text,
            requester_id=requester_id,
            created_at=now,
            pickup_due_at=now + PICKUP_WITHIN if urgent else None,
            answer_due_at=answer_deadline(partner, now),
            last_message_at=now,
        )
        session.add(help_request)
        session.flush()
        if checked.email is not None:
            token = new_link(session, help_request.id, LinkKind.LINK, now=now)
            messages.record(
                session,
                kind=LINK_EMAIL,
                payload={"request": help_request.id, "token": token},
                now=now,
                to=checked.email,
            )
        tell_navigators_of_new(session, help_request)
        audit.record(
            session,
            actor_id=None,
            action="help_request.asked",
            object_type="help_request",
            object_id=help_request.id,
            after={"reference": reference, "partner_id": partner_id},
        )
        return Receipt("helpdesk.ask", object_id=help_request.id)

    receipt = idempotent(
        session,
        key=key,
        actor_id=None,
        operation="helpdesk.ask",
        request=_ask_request(checked),
        perform=perform,
    )
    assert receipt.object_id is not None
    found = session.get_one(HelpRequest, receipt.object_id)
    return Asked(
        request_id=found.id,
        reference=found.reference,
        urgent=found.urgent,
        link_token=new_link(session, found.id, LinkKind.LINK, now=now),
        device_token=new_link(session, found.id, LinkKind.DEVICE, now=now),
        replayed=receipt.replayed,
    )


# --- the requester's own actions ------------------------------------------------------------


def locked_request(session: Session, request_id: int) -> HelpRequest | None:
    """Request ``request_id``, not erased, read afresh and locked until the transaction ends
    (``FOR UPDATE`` on PostgreSQL; on SQLite every writing transaction holds the database's
    write lock from its start): a reply, a closing and an erasure of one request happen one
    after the other, each seeing what the one before it did."""
    return session.scalar(
        select(HelpRequest)
        .where(HelpRequest.id == request_id, HelpRequest.erased_at.is_(None))
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def thread(session: Session, request_id: int) -> list[HelpMessage]:
    """A request's messages, oldest first."""
    return list(
        session.scalars(
            select(HelpMessage).where(HelpMessage.request_id == request_id).order_by(HelpMessage.id)
        )
    )


def requester_reply(
    session: Session, *, key: str, request_id: int, body: str, now: datetime
) -> Receipt:
    """The requester answers in their request's thread (once per ``key``); the navigator
    who has it is told. Words that signal immediate risk make the request urgent, and the
    desk's navigators are told. A closed request takes no more answers."""
    text = clean_message(body, field="body")

    def perform() -> Receipt:
        found = locked_request(session, request_id)
        if found is None:
            raise NotFound("There is no such request.")
        if found.state is HelpState.CLOSED:
            raise InvalidState("This request is closed. Ask again if you need more help.")
        message = HelpMessage(
            request_id=found.id, author=Author.REQUESTER, body=text, services=[], created_at=now
        )
        session.add(message)
        found.last_message_at = now
        risk = not found.urgent and signals_risk(found.topic, text)
        if risk:
            found.urgent = True
            if found.picked_up_at is None:
                found.pickup_due_at = now + PICKUP_WITHIN
        session.flush()
        tell_assignee_of_answer(session, found, message.id)
        if risk:
            tell_navigators_of_new(session, found, occasion=f"urgent-{message.id}")
        audit.record(
            session,
            actor_id=None,
            action="help_request.requester_answered",
            object_type="help_request",
            object_id=found.id,
            after={"reference": found.reference, "message_id": message.id},
        )
        return Receipt("helpdesk.requester_reply", object_id=message.id)

    return idempotent(
        session,
        key=key,
        actor_id=None,
        operation="helpdesk.requester_reply",
        request={"request": request_id},
        perform=perform,
    )


def erase(
    session: Session, request_id: int, *, now: datetime, actor_id: int | None, why: str
) -> bool:
    """Erase request ``request_id``'s personal data: the personal columns become empty, its
    thread and links are deleted, and the outbox forgets its emails (one not yet sent is
    dropped; the address is cleared from every one); what the counts need stays. A request
    still open is closed as withdrawn. Returns whether there was anything to erase (erasing
    twice is harmless)."""
    found = locked_request(session, request_id)
    if found is None:
        return False
    message_ids = set(
        session.scalars(select(HelpMessage.id).where(HelpMessage.request_id == request_id))
    )
    if found.contact_email is not None:
        _forget_emails(session, request_id, found.contact_email, message_ids, now=now)
    still_open = found.state != HelpState.CLOSED
    reference = session.execute(
        update(HelpRequest)
        .where(HelpRequest.id == request_id, HelpRequest.erased_at.is_(None))
        .values(
            name=None,
            contact_email=None,
            contact_phone=None,
            city=None,
            text=None,
            requester_id=None,
            erased_at=now,
            **(
                {"state": HelpState.CLOSED, "outcome": Outcome.WITHDRAWN, "closed_at": now}
                if still_open
                else {}
            ),
        )
        .returning(HelpRequest.reference)
    ).scalar_one()
    session.execute(delete(HelpMessage).where(HelpMessage.request_id == request_id))
    session.execute(delete(HelpLink).where(HelpLink.request_id == request_id))
    session.expire_all()
    audit.record(
        session,
        actor_id=actor_id,
        action="help_request.erased",
        object_type="help_request",
        object_id=request_id,
        after={"reference": reference, "why": why},
    )
    return True


def _forget_emails(
    session: Session, request_id: int, address: str, message_ids: set[int], *, now: datetime
) -> None:
    """Drop the unsent emails of request ``request_id`` (its confirmation, and the answers
    ``message_ids``) and clear ``address`` from every help desk email sent to it."""
    kinds = (LINK_EMAIL, REPLY_EMAIL)
    pending = session.execute(
        select(OutboxMessage.id, OutboxMessage.kind, OutboxMessage.payload).where(
            OutboxMessage.kind.in_(kinds),
            OutboxMessage.recipient == address,
            OutboxMessage.state == OutboxState.PENDING,
        )
    ).all()
    for row in pending:
        payload = json.loads(row.payload or "{}")
        if payload.get("request") == request_id or payload.get("message") in message_ids:
            messages.drop(session, row.id, now=now)
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.kind.in_(kinds),
            OutboxMessage.recipient == address,
            OutboxMessage.state != OutboxState.PENDING,
        )
        .values(recipient=None, last_error=None)
    )
