"""The help desk, the requester's and the navigators' sides: routing, deadlines, the urgency
flag, what a request may say, idempotent asking, private links (also under concurrency, on
both engines), who reads a request, the queue, answering and closing.

The timed work (overdue alerts, the retention sweep, erasure), re-routing and the figures are
in :mod:`tests.domain.test_helpdesk_retention`, which shares the helpers here.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from grants.domain.errors import (
    IdempotencyConflict,
    InvalidInput,
    InvalidState,
    NotFound,
)
from grants.domain.helpdesk import (
    LINK_EMAIL,
    Ask,
    Asked,
    answer_deadline,
    ask,
    check_ask,
    desk_time_zone,
    requester_reply,
    route_for,
    signals_risk,
    working_deadline,
)
from grants.domain.helpdesk_admin import set_route
from grants.domain.helpdesk_desk import (
    close,
    open_request,
    reply,
    request_for_navigator,
)
from grants.domain.helpdesk_links import open_link, request_for_device
from grants.extensions import db as database
from grants.models import (
    AuditEvent,
    Country,
    HelpLink,
    HelpMessage,
    HelpRequest,
    IdempotencyRecord,
    LinkKind,
    Notification,
    OutboxMessage,
    Partner,
    Role,
    Topic,
    User,
)
from tests.domain.test_concurrency import START_TIMEOUT, Threads
from tests.factories import make_user

NOW = datetime(2026, 11, 23, 15, tzinfo=UTC)
"""A Monday, 10:00 in New York."""
RACERS = 4

_keys = itertools.count(1)


def key(what: str = "op") -> str:
    return f"{what}-{next(_keys)}"


def form(**changes: str) -> Ask:
    """A requester's form, filled in, with ``changes``."""
    values = {
        "name": "Quenby Marchetti",
        "email": "quenby.marchetti@example.org",
        "phone": "",
        "country": "US",
        "city": "Tuscaloosa",
        "language": "en",
        "topic": Topic.FINDING_A_THERAPIST.value,
        "can_pay": "some",
        "text": "I am looking for a therapist who knows touring musicians.",
    }
    values.update(changes)
    return Ask(**values)


def make_partner(
    db: Session,
    name: str,
    *,
    country: Country = Country.US,
    time_zone: str | None = None,
    working_days: str = "12345",
    active: bool = True,
) -> Partner:
    partner = Partner(
        legal_name=f"{name} Inc.",
        display_name=name,
        country=country,
        time_zone=time_zone,
        working_days=working_days,
        active=active,
    )
    db.add(partner)
    db.flush()
    return partner


def navigator_of(db: Session, partner_id: int | None) -> User:
    """A navigator working for ``partner_id`` (none with ``None``)."""
    user = make_user(db, Role.NAVIGATOR)
    user.partner_id = partner_id
    db.flush()
    return user


@dataclass(frozen=True)
class Desk:
    """A partner's help desk and two of its navigators."""

    partner_id: int
    navigator: User
    colleague: User


def open_desk(db: Session, name: str = "Backline", **partner_fields: Any) -> Desk:
    """A partner called ``name`` (Backline answers whatever no route names) and two navigators."""
    partner = make_partner(db, name, **partner_fields)
    return Desk(partner.id, navigator_of(db, partner.id), navigator_of(db, partner.id))


def make_request(
    db: Session, *, at: datetime = NOW, requester_id: int | None = None, **changes: str
) -> Asked:
    return ask(db, key=key("ask"), asked=form(**changes), requester_id=requester_id, now=at)


def count(db: Session, model: Any, *where: Any) -> int:
    return db.scalar(select(func.count()).select_from(model).where(*where)) or 0


def stored(db: Session, made: Asked) -> HelpRequest:
    return db.get_one(HelpRequest, made.request_id)


# --- routing --------------------------------------------------------------------------------


def test_the_most_specific_active_route_wins(db: Session) -> None:
    admin = make_user(db, Role.ADMIN)
    both, country, language, default = (
        make_partner(db, name).id for name in ("Both", "Country", "Language", "Default")
    )
    set_route(db, actor=admin, country="US", language="es", partner_id=both)
    set_route(db, actor=admin, country="US", language="*", partner_id=country)
    set_route(db, actor=admin, country="*", language="es", partner_id=language)
    set_route(db, actor=admin, country="*", language="*", partner_id=default)

    assert route_for(db, "US", "es") == both
    assert route_for(db, "US", "en") == country
    assert route_for(db, "GB", "es") == language
    assert route_for(db, "GB", "en") == default

    db.get_one(Partner, both).active = False
    db.flush()
    assert route_for(db, "US", "es") == country, "an inactive partner's route is skipped"
    db.get_one(Partner, country).active = False
    db.flush()
    assert route_for(db, "US", "es") == language


def test_without_a_route_the_active_partner_called_backline_answers(db: Session) -> None:
    make_partner(db, "Someone else")
    backline = make_partner(db, "Backline")
    assert route_for(db, "FR", "fr") == backline.id
    backline.active = False
    db.flush()
    assert route_for(db, "FR", "fr") is None


def test_with_no_partner_to_answer_asking_is_refused_and_writes_nothing(db: Session) -> None:
    make_partner(db, "Backline", active=False)
    make_partner(db, "Northside")  # active, but no route names it
    tables = (HelpRequest, HelpLink, HelpMessage, OutboxMessage, Notification, AuditEvent)
    before = [count(db, table) for table in tables]
    with pytest.raises(InvalidState, match="cannot take requests") as refused:
        make_request(db)
    assert [count(db, table) for table in tables] == before
    assert refused.value.recorded, "a retry with the same key gets the same refusal"


# --- deadlines ------------------------------------------------------------------------------


def at(day: date, hour: int, zone: str = "America/New_York", minute: int = 0) -> datetime:
    """``hour`` on ``day`` in ``zone``, as UTC."""
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(zone))
    return local.astimezone(UTC)


@pytest.mark.parametrize(
    ("start", "working_days", "due"),
    [
        (at(date(2026, 11, 27), 10), "12345", at(date(2026, 12, 1), 10)),  # Fri -> Tue
        (at(date(2026, 11, 28), 15), "12345", at(date(2026, 12, 2), 0)),  # Sat -> Wed 00:00
        (at(date(2026, 11, 29), 23, minute=59), "12345", at(date(2026, 12, 2), 0)),  # Sun
        (at(date(2026, 11, 23), 10), "12345", at(date(2026, 11, 25), 10)),  # Mon -> Wed
        (at(date(2026, 11, 26), 10), "1234", at(date(2026, 12, 1), 10)),  # Thu -> Tue
        (at(date(2026, 11, 27), 10), "1234", at(date(2026, 12, 2), 0)),  # Fri off -> Wed
        (at(date(2026, 11, 28), 10), "1234567", at(date(2026, 11, 30), 10)),  # every day
    ],
)
def test_two_working_days_skip_the_partner_s_days_off(
    start: datetime, working_days: str, due: datetime
) -> None:
    assert working_deadline(start, "America/New_York", working_days, 2) == due


def test_a_deadline_across_a_change_of_clocks_keeps_the_local_hour() -> None:
    spring = working_deadline(datetime(2026, 3, 6, 15, tzinfo=UTC), "America/New_York", "12345", 2)
    assert spring == datetime(2026, 3, 10, 14, tzinfo=UTC), "Fri 10:00 EST -> Tue 10:00 EDT"
    autumn = working_deadline(
        datetime(2026, 10, 30, 14, tzinfo=UTC), "America/New_York", "12345", 2
    )
    assert autumn == datetime(2026, 11, 3, 15, tzinfo=UTC), "Fri 10:00 EDT -> Tue 10:00 EST"


def test_a_desk_works_in_its_own_zone_else_its_country_s() -> None:
    london = Partner(country=Country.GB, time_zone=None, working_days="12345")
    tokyo = Partner(country=Country.GB, time_zone="Asia/Tokyo", working_days="12345")
    new_york = Partner(country=Country.US, time_zone=None, working_days="12345")
    assert desk_time_zone(london) == "Europe/London"
    assert desk_time_zone(tokyo) == "Asia/Tokyo"
    assert desk_time_zone(new_york) == "America/New_York"
    friday_late = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)  # already Saturday in Tokyo
    assert answer_deadline(london, friday_late) == datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
    assert answer_deadline(tokyo, friday_late) == datetime(2026, 12, 1, 15, tzinfo=UTC)


def test_a_request_s_answer_deadline_follows_its_partner_s_week(db: Session) -> None:
    open_desk(db, time_zone="Europe/London", working_days="1234")
    made = make_request(db, at=datetime(2026, 11, 26, 10, tzinfo=UTC))  # Thursday
    assert stored(db, made).answer_due_at == datetime(2026, 12, 1, 10, tzinfo=UTC)


# --- urgency --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "words",
    [
        "I want to end my life",
        "No quiero vivir así",
        "NO  QUIERO\nVIVIR",
        "Não quero viver mais",
        "Je pense à mettre fin à mes jours",
        "Ich denke an Selbstmord",
        "Ich denke an SELBSTMORD",
        "Tengo pensamientos de autolesión",
    ],
)
def test_words_of_immediate_risk_flag_a_request_in_every_language(words: str) -> None:
    assert signals_risk(Topic.FINDING_A_THERAPIST, words)


def test_a_harmless_text_is_not_urgent_unless_its_topic_is_crisis() -> None:
    harmless = "Busco una terapeuta que hable español cerca de Austin, por favor."
    assert not signals_risk(Topic.FINDING_A_THERAPIST, harmless)
    assert signals_risk(Topic.CRISIS, harmless)


def test_only_an_urgent_request_must_be_picked_up_within_four_hours(db: Session) -> None:
    open_desk(db)
    urgent = make_request(db, text="No quiero vivir", language="es")
    crisis = make_request(db, topic=Topic.CRISIS.value, text="")
    calm = make_request(db)
    assert (urgent.urgent, crisis.urgent, calm.urgent) == (True, True, False)
    assert stored(db, urgent).pickup_due_at == NOW + timedelta(hours=4)
    assert stored(db, crisis).pickup_due_at == NOW + timedelta(hours=4)
    assert stored(db, calm).pickup_due_at is None


# --- what a request may say -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"text": "x" * 4001}, "text"),
        ({"text": "help\x00me"}, "text"),
        ({"name": "Quenby\x00"}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "n" * 121}, "name"),
        ({"phone": "12"}, "phone"),
        ({"phone": "abc"}, "phone"),
        ({"phone": "212 736 500"}, "phone"),
        ({"email": "", "phone": ""}, "email"),
        ({"language": "xx"}, "language"),
        ({"topic": "astrology"}, "topic"),
        ({"can_pay": "millions"}, "can_pay"),
        ({"country": "ZZ"}, "country"),
        ({"city": "c" * 101}, "city"),
    ],
)
def test_a_request_that_is_wrong_is_refused_and_nothing_is_written(
    db: Session, changes: dict[str, str], field: str
) -> None:
    open_desk(db)
    make_request(db)
    tables = (HelpRequest, HelpLink, IdempotencyRecord, OutboxMessage, AuditEvent)
    before = [count(db, table) for table in tables]
    with pytest.raises(InvalidInput) as refused:
        make_request(db, **changes)
    assert refused.value.field == field
    assert [count(db, table) for table in tables] == before


def test_the_longest_text_and_name_are_stored_whole(db: Session) -> None:
    open_desk(db)
    longest = "é" * 3999 + "x"
    made = make_request(db, text=f"  {longest}\n", name="n" * 120, city="c" * 100)
    db.commit()
    db.expire_all()
    found = stored(db, made)
    assert (found.text, found.name, found.city) == (longest, "n" * 120, "c" * 100)


def test_a_phone_is_stored_in_e164_for_the_country_given(db: Session) -> None:
    open_desk(db)
    american = make_request(db, email="", phone="(212) 736-5000", country="us")
    british = make_request(db, email="", phone="020 7946 0018", country="GB")
    abroad = make_request(db, email="", phone="+44 20 7946 0018", country="US")
    assert stored(db, american).contact_phone == "+12127365000"
    assert stored(db, american).country == "US"
    assert stored(db, british).contact_phone == "+442079460018"
    assert stored(db, abroad).contact_phone == "+442079460018"
    assert stored(db, american).contact_email is None
    assert check_ask(form(email="", phone="(212) 736-5000")).phone == "+12127365000"


# --- asking once ----------------------------------------------------------------------------


def test_the_same_form_sent_twice_makes_one_request_with_new_tokens(db: Session) -> None:
    open_desk(db)
    first = ask(db, key="form-1", asked=form(), requester_id=None, now=NOW)
    again = ask(db, key="form-1", asked=form(), requester_id=None, now=NOW + timedelta(seconds=3))
    assert (first.replayed, again.replayed) == (False, True)
    assert (again.request_id, again.reference) == (first.request_id, first.reference)
    assert len({first.link_token, first.device_token, again.link_token, again.device_token}) == 4
    assert count(db, HelpRequest) == 1
    assert count(db, OutboxMessage, OutboxMessage.kind == LINK_EMAIL) == 1
    assert count(db, AuditEvent, AuditEvent.action == "help_request.asked") == 1
    assert count(db, Notification, Notification.kind == "help.new") == 2
    for token in (first.device_token, again.device_token):
        assert request_for_device(db, first.reference, token, now=NOW) is not None

    reworded = ask(db, key="form-1", asked=form(text="Something else"), requester_id=None, now=NOW)
    assert (reworded.replayed, reworded.request_id) == (True, first.request_id), (
        "the record compares nothing personal: other words are the same form, sent again"
    )
    with pytest.raises(IdempotencyConflict):
        ask(db, key="form-1", asked=form(topic="eating"), requester_id=None, now=NOW)
    assert count(db, HelpRequest) == 1
    records = db.scalars(select(IdempotencyRecord).where(IdempotencyRecord.key == "form-1"))
    assert [record.actor_id for record in records] == [None], "no account named"


# --- private links --------------------------------------------------------------------------


def test_a_private_link_opens_once_and_lets_its_device_back_in(db: Session) -> None:
    open_desk(db)
    made = make_request(db)
    other = make_request(db, name="Someone Else")
    opened = open_link(db, made.link_token, now=NOW + timedelta(minutes=5))
    assert opened.reference == made.reference
    with pytest.raises(NotFound):
        open_link(db, made.link_token, now=NOW + timedelta(minutes=6))

    later = NOW + timedelta(days=200)
    found = request_for_device(db, made.reference, opened.device_token, now=later)
    assert found is not None
    assert found.id == made.request_id
    assert request_for_device(db, other.reference, opened.device_token, now=later) is None
    assert request_for_device(db, made.reference, other.device_token, now=later) is None
    assert request_for_device(db, made.reference, "not-a-token", now=later) is None
    assert request_for_device(db, made.reference, "", now=later) is None
    assert request_for_device(db, "nonsense", opened.device_token, now=later) is None
    assert request_for_device(db, other.reference, other.link_token, now=NOW) is None, (
        "a private link is not a device token"
    )
    assert count(db, AuditEvent, AuditEvent.action == "help_request.link_opened") == 1


def test_a_private_link_expires_thirty_days_after_it_was_made(db: Session) -> None:
    open_desk(db)
    made = make_request(db)
    with pytest.raises(NotFound):
        open_link(db, made.link_token, now=NOW + timedelta(days=30))
    assert count(db, HelpLink, HelpLink.used_at.is_not(None)) == 0
    opened = open_link(db, made.link_token, now=NOW + timedelta(days=30, seconds=-1))
    assert opened.reference == made.reference


def test_only_the_sha256_of_a_token_is_stored_and_tokens_hold_256_bits(db: Session) -> None:
    open_desk(db)
    made = make_request(db)
    tokens = [made.link_token, made.device_token]
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
        assert len(base64.urlsafe_b64decode(token + "=")) == 32
    hashes = set(db.scalars(select(HelpLink.token_hash)))
    assert {hashlib.sha256(token.encode()).hexdigest() for token in tokens} <= hashes
    assert all(re.fullmatch(r"[0-9a-f]{64}", stored_hash) for stored_hash in hashes)
    rows = db.execute(text("SELECT * FROM help_links")).all()
    assert len(rows) == 3, "the emailed link, the page's link, and this device"
    everything = " ".join(str(value) for row in rows for value in row)
    assert not any(token in everything for token in tokens)


def test_one_link_opened_from_several_devices_at_once_opens_once(app: Flask, db: Session) -> None:
    open_desk(db)
    made = make_request(db)
    db.commit()
    barrier = threading.Barrier(RACERS)

    def open_it() -> str:
        barrier.wait(START_TIMEOUT)
        session = database.session
        try:
            opened = open_link(session, made.link_token, now=NOW + timedelta(minutes=1))
        except NotFound:
            session.rollback()
            return "refused"
        session.commit()
        return opened.reference

    threads = Threads(app)
    for number in range(RACERS):
        threads.start(f"device-{number}", open_it)
    threads.join()

    outcomes = sorted(str(outcome) for outcome in threads.results.values())
    assert outcomes == sorted([made.reference] + ["refused"] * (RACERS - 1))
    db.rollback()
    assert count(db, HelpLink, HelpLink.used_at.is_not(None)) == 1
    assert count(db, HelpLink, HelpLink.kind == LinkKind.DEVICE) == 2
    assert count(db, AuditEvent, AuditEvent.action == "help_request.link_opened") == 1


# --- who reads a request --------------------------------------------------------------------


def test_only_the_partner_s_navigators_read_a_request(db: Session) -> None:
    desk = open_desk(db)
    elsewhere = open_desk(db, "Northside")
    made = make_request(db)
    unattached = navigator_of(db, None)
    manager = make_user(db, Role.MANAGER)
    manager.partner_id = desk.partner_id
    admin = make_user(db, Role.ADMIN)
    db.flush()

    for outsider in (elsewhere.navigator, unattached, manager, admin):
        with pytest.raises(NotFound):
            request_for_navigator(db, outsider, made.reference)
        with pytest.raises(NotFound):
            open_request(db, outsider, made.reference, now=NOW)
    assert count(db, AuditEvent, AuditEvent.action == "help_request.opened") == 0

    assert open_request(db, desk.navigator, made.reference, now=NOW).id == made.request_id
    open_request(db, desk.navigator, made.reference, now=NOW)
    open_request(db, desk.colleague, made.reference, now=NOW)
    opened = db.execute(
        select(AuditEvent.actor_id, AuditEvent.object_id).where(
            AuditEvent.action == "help_request.opened"
        )
    ).all()
    assert sorted(opened) == sorted(
        [(desk.navigator.id, made.request_id)] * 2 + [(desk.colleague.id, made.request_id)]
    )


def test_the_audit_trail_and_notices_never_hold_what_the_requester_wrote(db: Session) -> None:
    desk = open_desk(db)
    requester = make_user(db)
    made = make_request(
        db,
        requester_id=requester.id,
        phone="(212) 736-5000",
        text="My zebra-kumquat story",
        topic=Topic.CRISIS.value,
    )
    open_request(db, desk.navigator, made.reference, now=NOW)
    reply(db, key=key(), actor=desk.navigator, reference=made.reference, body="Hi", now=NOW)
    requester_reply(db, key=key(), request_id=made.request_id, body="okapi-fig thanks", now=NOW)
    close(
        db, key=key(), actor=desk.navigator, reference=made.reference, outcome="connected", now=NOW
    )
    written = " ".join(
        f"{event.before} {event.after}" for event in db.scalars(select(AuditEvent))
    ).casefold()
    told = " ".join(
        f"{notice.title} {notice.body}" for notice in db.scalars(select(Notification))
    ).casefold()
    assert "help_request.answered" in " ".join(db.scalars(select(AuditEvent.action)))
    for personal in (
        "Quenby",
        "Marchetti",
        "quenby.marchetti@example.org",
        "+12127365000",
        "736-5000",
        "Tuscaloosa",
        "zebra-kumquat",
        "okapi-fig",
    ):
        assert personal.casefold() not in written
        assert personal.casefold() not in told
