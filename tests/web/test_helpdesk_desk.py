"""The help desk behind ``/care``: the navigators' queue and request pages under
``/helpdesk``, the admins' routing, working weeks, navigators and re-routing under
``/admin/helpdesk``, the managers' figures under ``/manager/helpdesk``, the allocation
report's help desk table, and the retention sweep.

A navigator reads only what was routed to their partner (anyone else's request is a 404);
an admin routes requests without ever reading one; a manager and the report see counts,
with anything under 5 shown as ``<5``. Requests are made through the public form of
:mod:`tests.web.test_helpdesk_care`, whose helpers these tests share, or, where a test
needs many at set times, through the same domain operation the form calls.
"""

from __future__ import annotations

import contextvars
import itertools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from grants.domain import helpdesk, helpdesk_desk
from grants.domain.helpdesk import REPLY_EMAIL
from grants.domain.helpdesk_retention import Swept
from grants.models import (
    AuditEvent,
    HelpdeskRoute,
    HelpLink,
    HelpMessage,
    HelpRequest,
    HelpState,
    OutboxMessage,
    OutboxState,
    Outcome,
    Partner,
    Role,
    Topic,
    User,
)
from grants.models.helpdesk import ANY
from grants.reports.queries import Privacy, ReportParameters, collect
from grants.reports.tables import find_table
from grants.tasks import run_helpdesk
from tests.conftest import end_test_transaction
from tests.factories import make_user
from tests.support import form_fields, sign_in, submit
from tests.wallets import deliver_outbox
from tests.web.test_helpdesk_care import (
    ASKED,
    CITY,
    EMAIL,
    NAME,
    NOW,
    PERSONAL,
    PHONE,
    TEXT,
    Clock,
    Desk,
    asked,
    count,
    emails_to,
    open_desk,
    page,
    private_link_on,
    request_url,
    stand_clock,
    stored,
    subject_of,
    text_of,
)

REPLY = "Hola Quenby: el Teléfono de la Esperanza tiene voluntarios que conocen bien la música."
"""A navigator's answer."""
DESK_REFERENCE = re.compile(r'href="/helpdesk/requests/(HD-[0-9A-Z-]+)"')

_keys = itertools.count(1)


@pytest.fixture
def app(make_app):  # type: ignore[no-untyped-def]
    application: Flask = make_app(HELPDESK_MIN_FILL_SECONDS=0)
    return application


@pytest.fixture(autouse=True)
def at(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return stand_clock(monkeypatch)


@pytest.fixture
def desk(db: Session) -> Desk:
    return open_desk(db)


@dataclass(frozen=True)
class Staff:
    """The people behind the desk, by email, and the navigators' ids."""

    ana: str
    """A navigator of Backline."""
    cy: str
    """A navigator of MusiCares."""
    nil: str
    """A navigator linked to no partner yet."""
    admin: str
    manager: str
    ana_id: int
    nil_id: int


@pytest.fixture
def staff(db: Session, desk: Desk) -> Staff:
    ana = make_user(db, Role.NAVIGATOR, email="ana@backline.example", name="Ana Navarro")
    cy = make_user(db, Role.NAVIGATOR, email="cy@musicares.example", name="Cy Moreau")
    nil = make_user(db, Role.NAVIGATOR, email="nil@example.org", name="Nil Unlinked")
    ana.partner_id, cy.partner_id = desk.backline, desk.musicares
    make_user(db, Role.ADMIN, email="admin@example.org", name="Ada Admin")
    make_user(db, Role.MANAGER, email="manager@example.org", name="Max Manager")
    db.commit()
    return Staff(
        ana=ana.email,
        cy=cy.email,
        nil=nil.email,
        admin="admin@example.org",
        manager="manager@example.org",
        ana_id=ana.id,
        nil_id=nil.id,
    )


# --- steps ----------------------------------------------------------------------------------


def desk_url(reference: str) -> str:
    return f"/helpdesk/requests/{reference}"


def queued(html: str) -> list[str]:
    """The references a queue page lists, in order."""
    return DESK_REFERENCE.findall(html)


def assert_nothing_personal(html: str) -> None:
    for value in (*PERSONAL, REPLY):
        assert value not in html, value


def opened_events(db: Session, request_id: int) -> list[int | None]:
    """The actors of each 'help_request.opened' event of request ``request_id``."""
    db.rollback()
    return list(
        db.scalars(
            select(AuditEvent.actor_id)
            .where(
                AuditEvent.action == "help_request.opened",
                AuditEvent.object_id == request_id,
            )
            .order_by(AuditEvent.id)
        )
    )


def make_request(db: Session, *, at: datetime, country: str = "ES", **changes: str) -> str:
    """A request made at ``at`` through the domain operation the form calls; its reference."""
    values = {**ASKED, "country": country, "phone": "", **changes}
    made = helpdesk.ask(
        db,
        key=f"ask-{next(_keys)}",
        asked=helpdesk.Ask(**values),
        requester_id=None,
        now=at,
    )
    db.commit()
    return made.reference


def answer(db: Session, navigator_id: int, reference: str, *, at: datetime) -> None:
    """Navigator ``navigator_id`` answers ``reference`` at ``at``."""
    helpdesk_desk.reply(
        db,
        key=f"reply-{next(_keys)}",
        actor=db.get_one(User, navigator_id),
        reference=reference,
        body=REPLY,
        now=at,
    )
    db.commit()


def close(db: Session, navigator_id: int, reference: str, *, at: datetime) -> None:
    helpdesk_desk.close(
        db,
        key=f"close-{next(_keys)}",
        actor=db.get_one(User, navigator_id),
        reference=reference,
        outcome=Outcome.REFERRED.value,
        now=at,
    )
    db.commit()


def sweep(app: Flask) -> Swept:
    """The worker's help desk task, run as the worker runs it (its own context)."""
    end_test_transaction()
    return contextvars.Context().run(run_helpdesk, app)


def route(db: Session, country: str, language: str, partner_id: int) -> None:
    db.add(HelpdeskRoute(country=country, language=language, partner_id=partner_id))
    db.commit()


# --- the navigators' queue and pages --------------------------------------------------------


def test_the_queue_lists_its_partner_s_requests_urgent_first_then_oldest_without_content(
    app: Flask, db: Session, desk: Desk, staff: Staff, at: Clock
) -> None:
    route(db, "GB", ANY, desk.musicares)
    requester = app.test_client()
    plain_first = asked(requester)
    at.move(timedelta(hours=1))
    crisis = asked(requester, topic=Topic.CRISIS.value, text="Necesito ayuda ya.")
    at.move(timedelta(hours=1))
    plain_second = asked(requester)
    at.move(timedelta(hours=1))
    words = asked(requester, text="A veces quiero morir.")
    at.move(timedelta(hours=1))
    british = asked(requester, country="GB", lang=None, city="Leeds")
    assert stored(db, british).partner_id == desk.musicares

    ana = sign_in(app, staff.ana)
    response = ana.get("/helpdesk/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    assert "Help desk: Backline" in html
    assert queued(html) == [crisis, words, plain_first, plain_second]
    assert html.count("badge-urgent") == 2
    assert "<strong>4</strong> open" in html
    assert "<strong>2</strong> urgent" in html
    assert "Nobody yet" in html
    assert_nothing_personal(html)
    assert "Necesito ayuda ya." not in html
    assert "quiero morir" not in html
    assert count(db, AuditEvent, AuditEvent.action == "help_request.opened") == 0

    cy = sign_in(app, staff.cy)
    theirs = page(cy, "/helpdesk/")
    assert queued(theirs) == [british]
    assert "Help desk: MusiCares" in theirs
    for reference in (crisis, plain_first):
        assert NAME not in page(cy, desk_url(reference), 404)
        assert opened_events(db, stored(db, reference).id) == []
    page(ana, desk_url(british), 404)
    assert opened_events(db, stored(db, british).id) == []


def test_opening_a_request_shows_it_and_is_audited_every_time(
    app: Flask, db: Session, desk: Desk, staff: Staff
) -> None:
    reference = asked(app.test_client(), phone=PHONE)
    request_id = stored(db, reference).id
    ana = sign_in(app, staff.ana)
    for _time in range(2):
        response = ana.get(desk_url(reference))
        html = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "no-store" in response.headers["Cache-Control"]
        for value in (NAME, EMAIL, "+34612345678", CITY, TEXT):
            assert value in html
        assert "Waiting for a navigator" in html
    assert opened_events(db, request_id) == [staff.ana_id, staff.ana_id]
    (event, _second) = db.scalars(
        select(AuditEvent).where(AuditEvent.action == "help_request.opened")
    )
    assert not any(value in str(event.after) for value in PERSONAL)


def test_a_navigator_takes_answers_with_a_hub_service_and_closes_a_request(
    app: Flask, db: Session, desk: Desk, staff: Staff, at: Clock
) -> None:
    requester = app.test_client()
    reference = asked(requester)
    url = desk_url(reference)
    ana = sign_in(app, staff.ana)

    at.move(timedelta(minutes=30))
    taken = submit(ana, url, {}, action=f"{url}/assign")
    assert taken.status_code == 302
    found = stored(db, reference)
    assert (found.assignee_id, found.state) == (staff.ana_id, HelpState.ASSIGNED)
    assert found.picked_up_at == NOW + timedelta(minutes=30)
    assert "With Ana Navarro" in page(ana, url)

    found_page = page(ana, f"{url}?find=Esperanza")
    match = re.search(
        r'name="services" value="([0-9a-f-]+)"> Teléfono de la Esperanza \(crisis line\)',
        found_page,
    )
    assert match, found_page
    service_id = match.group(1)
    at.move(timedelta(hours=1))
    replied = submit(
        ana, f"{url}?find=Esperanza", {"body": REPLY, "services": service_id}, action=f"{url}/reply"
    )
    assert replied.status_code == 302
    found = stored(db, reference)
    (message,) = db.scalars(select(HelpMessage).where(HelpMessage.request_id == found.id))
    assert (message.author.value, message.navigator_id, message.body) == (
        "navigator",
        staff.ana_id,
        REPLY,
    )
    assert message.services == [service_id]
    assert found.first_answered_at == NOW + timedelta(minutes=90)
    thread = page(ana, url)
    assert "Your answer was added to the thread and emailed to the requester." in thread
    assert thread.index(TEXT) < thread.index(REPLY)
    assert f'href="/help/services/{service_id}">Teléfono de la Esperanza</a>' in thread

    theirs = page(requester, request_url(reference) + "?lang=es")
    assert REPLY in theirs
    assert re.search(rf'href="/help/services/{service_id}[^"]*">Teléfono de la Esperanza<', theirs)
    assert "Una persona del equipo de orientación se está ocupando de tu solicitud." in theirs

    (confirmation, reply) = emails_to(app, EMAIL)
    assert subject_of(reply) == f"Respuesta a tu solicitud {reference}"
    body = text_of(reply)
    assert REPLY in body
    assert f"- Teléfono de la Esperanza: http://localhost/help/services/{service_id}" in body
    assert "Si estás en peligro ahora, llama al 112" in body
    link = private_link_on(body)
    assert link is not None
    assert link != private_link_on(text_of(confirmation)), "each email brings a new link"
    assert count(db, OutboxMessage, OutboxMessage.kind == REPLY_EMAIL) == 1

    unsent = form_fields(ana, url, f"{url}/reply")
    at.move(timedelta(hours=1))
    closed = submit(ana, url, {"outcome": Outcome.REFERRED.value}, action=f"{url}/close")
    assert closed.status_code == 302
    assert closed.headers["Location"] == "/helpdesk/"
    found = stored(db, reference)
    assert (found.state, found.outcome) == (HelpState.CLOSED, Outcome.REFERRED)
    assert found.closed_at == NOW + timedelta(minutes=150)
    assert found.name == NAME, "kept until the retention period ends"
    assert reference not in queued(page(ana, "/helpdesk/"))
    closed_tab = page(ana, "/helpdesk/?show=closed")
    assert queued(closed_tab) == [reference]
    assert "Referred to a listed service" in closed_tab

    refused = ana.post(f"{url}/reply", data={**unsent, "body": "Una cosa más."})
    assert refused.status_code == 409
    assert "Closed: Referred to a listed service" in refused.get_data(as_text=True)
    assert count(db, HelpMessage) == 1
    assert "Send the answer" not in page(ana, url)
    assert "Una cosa más." not in page(requester, request_url(reference))
    assert "This request is closed." in page(requester, request_url(reference))


def test_an_answer_refused_because_a_colleague_closed_the_request_says_why(
    app: Flask, db: Session, desk: Desk, staff: Staff
) -> None:
    reference = asked(app.test_client())
    url = desk_url(reference)
    ana = sign_in(app, staff.ana)
    typing = form_fields(ana, url, f"{url}/reply")
    close(db, staff.ana_id, reference, at=NOW + timedelta(minutes=5))

    refused = ana.post(f"{url}/reply", data={**typing, "body": "Te llamo mañana."})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 409
    assert count(db, HelpMessage) == 0
    assert f"Request {reference} is closed." in html
    assert "Te llamo mañana." in html


def test_a_navigator_linked_to_no_partner_is_told_so_and_reads_nothing(
    app: Flask, db: Session, desk: Desk, staff: Staff
) -> None:
    reference = asked(app.test_client())
    nil = sign_in(app, staff.nil)
    html = page(nil, "/helpdesk/")
    assert "Your account is not linked to a help-desk partner yet" in html
    assert queued(html) == []
    page(nil, desk_url(reference), 404)
    assert opened_events(db, stored(db, reference).id) == []
    page(sign_in(app, staff.manager), "/helpdesk/", 403)


# --- admins ---------------------------------------------------------------------------------


def test_an_admin_routes_a_country_and_language_to_a_partner_and_removes_the_route(
    app: Flask, db: Session, desk: Desk, staff: Staff
) -> None:
    admin = sign_in(app, staff.admin)
    saved = submit(
        admin,
        "/admin/helpdesk",
        {"country": "es", "language": "es", "partner_id": str(desk.musicares)},
        action="/admin/helpdesk/routes",
    )
    assert saved.status_code == 302
    (saved_route,) = db.scalars(select(HelpdeskRoute))
    assert (saved_route.country, saved_route.language) == ("ES", "es")
    assert saved_route.partner_id == desk.musicares
    listed = page(admin, "/admin/helpdesk")
    assert "The route is saved." in listed
    assert re.search(r"<td>ES</td>\s*<td>es</td>\s*<td>MusiCares</td>", listed)

    requester = app.test_client()
    spanish = asked(requester)
    english = asked(requester, language="en")
    assert stored(db, spanish).partner_id == desk.musicares
    assert stored(db, english).partner_id == desk.backline, "the route is for Spanish only"
    assert queued(page(sign_in(app, staff.cy), "/helpdesk/")) == [spanish]
    assert queued(page(sign_in(app, staff.ana), "/helpdesk/")) == [english]

    removed = submit(
        admin, "/admin/helpdesk", {}, action=f"/admin/helpdesk/routes/{saved_route.id}/remove"
    )
    assert removed.status_code == 302
    assert count(db, HelpdeskRoute) == 0
    assert "The route is removed." in page(admin, "/admin/helpdesk")
    after = asked(requester)
    assert stored(db, after).partner_id == desk.backline
    assert stored(db, spanish).partner_id == desk.musicares, "a made request stays where it is"
    assert [e.action for e in db.scalars(select(AuditEvent).order_by(AuditEvent.id))].count(
        "helpdesk.route_removed"
    ) == 1


def set_week(admin: FlaskClient, partner_id: int, zone: str, days: list[str]) -> TestResponse:
    """Send the working-week form of ``partner_id`` with ``zone`` and ``days`` ticked."""
    action = f"/admin/helpdesk/partners/{partner_id}/week"
    fields = form_fields(admin, "/admin/helpdesk", action)
    return admin.post(action, data={**fields, "time_zone": zone, "working_days": days})


def test_a_partner_s_working_week_sets_the_answer_deadline_of_new_requests(
    app: Flask, db: Session, desk: Desk, staff: Staff
) -> None:
    requester = app.test_client()
    before = asked(requester)
    assert stored(db, before).answer_due_at == datetime(2026, 12, 4, 15, tzinfo=UTC), (
        "Wednesday 10:00 in New York plus two working days of Monday to Friday"
    )

    admin = sign_in(app, staff.admin)
    saved = set_week(admin, desk.backline, "America/New_York", ["1", "2", "3", "4"])
    assert saved.status_code == 302
    assert stored(db, before).partner_id == desk.backline
    partner = db.get_one(Partner, desk.backline)
    assert (partner.time_zone, partner.working_days) == ("America/New_York", "1234")
    listed = page(admin, "/admin/helpdesk")
    assert "The working week is saved." in listed
    assert 'value="America/New_York"' in listed

    after = asked(requester)
    assert stored(db, after).answer_due_at == datetime(2026, 12, 7, 15, tzinfo=UTC), (
        "Wednesday 10:00 plus Thursday and, past a Friday to Sunday off, Monday 10:00"
    )
    assert stored(db, before).answer_due_at == datetime(2026, 12, 4, 15, tzinfo=UTC)

    refused = set_week(admin, desk.backline, "Mars/Olympus_Mons", ["1"])
    assert refused.status_code == 302
    assert "Choose a time zone from the list." in page(admin, "/admin/helpdesk")
    db.rollback()
    assert db.get_one(Partner, desk.backline).working_days == "1234"


def test_an_admin_links_a_navigator_to_a_partner(
    app: Flask, db: Session, desk: Desk, staff: Staff
) -> None:
    reference = asked(app.test_client())
    admin = sign_in(app, staff.admin)
    action = f"/admin/helpdesk/navigators/{staff.nil_id}"
    linked = submit(admin, "/admin/helpdesk", {"partner_id": str(desk.backline)}, action=action)
    assert linked.status_code == 302
    db.rollback()
    assert db.get_one(User, staff.nil_id).partner_id == desk.backline
    assert "The navigator&#39;s partner is saved." in page(admin, "/admin/helpdesk")

    nil = sign_in(app, staff.nil)
    assert queued(page(nil, "/helpdesk/")) == [reference]
    assert NAME in page(nil, desk_url(reference))

    unlinked = submit(admin, "/admin/helpdesk", {"partner_id": ""}, action=action)
    assert unlinked.status_code == 302
    db.rollback()
    assert db.get_one(User, staff.nil_id).partner_id is None
    assert "not linked to a help-desk partner" in page(nil, "/helpdesk/")
    page(nil, desk_url(reference), 404)
    changes = db.scalars(
        select(AuditEvent.after).where(AuditEvent.action == "user.partner_set")
    ).all()
    assert len(changes) == 2


def test_rerouting_moves_a_request_to_the_other_desk_untaken(
    app: Flask, db: Session, desk: Desk, staff: Staff
) -> None:
    reference = asked(app.test_client(), phone=PHONE)
    ana = sign_in(app, staff.ana)
    submit(ana, desk_url(reference), {}, action=f"{desk_url(reference)}/assign")
    assert stored(db, reference).assignee_id == staff.ana_id

    admin = sign_in(app, staff.admin)
    listed = page(admin, "/admin/helpdesk/requests")
    assert reference in listed
    assert 'Backline <span class="muted">(taken)</span>' in listed
    moved = submit(
        admin,
        "/admin/helpdesk/requests",
        {"partner_id": str(desk.musicares)},
        action=f"/admin/helpdesk/requests/{reference}/reroute",
    )
    assert moved.status_code == 302
    found = stored(db, reference)
    assert found.partner_id == desk.musicares
    assert (found.assignee_id, found.state, found.picked_up_at) == (None, HelpState.NEW, None)
    assert found.name == NAME
    assert f"Request {reference} was sent to the partner&#39;s desk." in page(
        admin, "/admin/helpdesk/requests"
    )

    assert reference not in queued(page(ana, "/helpdesk/"))
    page(ana, desk_url(reference), 404)
    cy = sign_in(app, staff.cy)
    theirs = page(cy, "/helpdesk/")
    assert queued(theirs) == [reference]
    assert "Nobody yet" in theirs
    assert NAME in page(cy, desk_url(reference))


def test_the_admin_pages_never_show_what_a_request_says_or_who_made_it(
    app: Flask, db: Session, desk: Desk, staff: Staff
) -> None:
    requester = app.test_client()
    reference = asked(requester, phone=PHONE)
    urgent = asked(requester, phone=PHONE, topic=Topic.CRISIS.value)
    admin = sign_in(app, staff.admin)
    for url in ("/admin/helpdesk", "/admin/helpdesk/requests"):
        assert_nothing_personal(page(admin, url))
    listed = page(admin, "/admin/helpdesk/requests")
    assert reference in listed
    assert urgent in listed
    assert "ES · es" in listed
    assert page(admin, desk_url(reference), 403)
    page(sign_in(app, staff.manager), "/admin/helpdesk", 403)
    page(sign_in(app, staff.ana), "/admin/helpdesk/requests", 403)


# --- managers and the report ----------------------------------------------------------------


def test_the_figures_show_small_cells_as_under_five_and_medians_from_five_answered(
    app: Flask, db: Session, desk: Desk, staff: Staff
) -> None:
    spanish = [make_request(db, at=NOW) for _ in range(4)]
    american = make_request(db, at=NOW, country="US", city="Boise")
    for hours, reference in enumerate(spanish, start=1):
        answer(db, staff.ana_id, reference, at=NOW + timedelta(hours=hours))
    manager = sign_in(app, staff.manager)

    html = page(manager, "/manager/helpdesk")
    assert "<li><strong>5</strong> requests</li>" in html
    assert "median <strong>—</strong>, 90th percentile <strong>—</strong>" in html
    assert re.search(
        r'<th scope="row">2026-12</th><td class="num">5</td><td class="num">&lt;5</td>'
        r'<td class="num">&lt;5</td><td class="num">—</td>',
        html,
    ), "four answered: no time is shown"
    assert re.search(r'<th scope="row">Spain</th><td class="num">&lt;5</td>', html)
    assert_nothing_personal(html)

    answer(db, staff.ana_id, american, at=NOW + timedelta(hours=5))
    html = page(manager, "/manager/helpdesk")
    assert "median <strong>3 h 0 min</strong>, 90th percentile <strong>5 h 0 min</strong>" in html
    assert re.search(
        r'<th scope="row">2026-12</th><td class="num">5</td><td class="num">&lt;5</td>'
        r'<td class="num">5</td><td class="num">3 h 0 min</td><td class="num">5 h 0 min</td>',
        html,
    )
    assert re.search(r'<th scope="row">Spain</th><td class="num">&lt;5</td>', html)
    assert re.search(r'<th scope="row">United States</th><td class="num">&lt;5</td>', html)
    assert re.search(r'<th scope="row">Still open</th><td class="num">5</td>', html)
    assert_nothing_personal(html)
    assert "Ana Navarro" not in html
    assert "<li><strong>0</strong>" not in html
    next_year = page(manager, "/manager/helpdesk?year=2027")
    assert "<li><strong>&lt;5</strong> requests</li>" in next_year
    assert "2026-12" not in next_year
    assert "No request yet." in next_year
    page(sign_in(app, staff.ana), "/manager/helpdesk", 403)


@pytest.mark.parametrize("privacy", [Privacy.FINANCE, Privacy.PROGRAMME])
def test_the_allocation_report_counts_help_requests_by_month_with_small_cells_suppressed(
    db: Session, desk: Desk, staff: Staff, privacy: Privacy
) -> None:
    november = datetime(2026, 11, 10, 15, tzinfo=UTC)
    made = [make_request(db, at=november + timedelta(days=n)) for n in range(6)]
    for n, reference in enumerate(made[:5], start=1):
        answer(db, staff.ana_id, reference, at=november + timedelta(days=n - 1, hours=n))
    make_request(db, at=datetime(2026, 12, 1, 9, tzinfo=UTC), topic=Topic.CRISIS.value)
    make_request(db, at=datetime(2026, 12, 31, 23, 59, tzinfo=UTC))
    make_request(db, at=datetime(2027, 1, 1, 0, 0, tzinfo=UTC))
    make_request(db, at=datetime(2025, 12, 31, 23, 59, tzinfo=UTC))

    data = collect(
        db,
        ReportParameters(
            currency="USD", start=date(2026, 1, 1), end=date(2026, 12, 31), privacy=privacy
        ),
    )
    table = find_table(data, "helpdesk")
    assert table is not None
    assert [column.key for column in table.columns] == [
        "month",
        "requests",
        "urgent",
        "connected",
        "referred",
        "no_reply",
        "out_of_scope",
        "withdrawn",
        "open",
        "answered",
        "median",
        "p90",
    ]
    few = "<5"
    assert table.rows == [
        # November's 6 is withheld beside December's 2: with the total known, either gives
        # the other away.
        ("2026-11", "—", few, few, few, few, few, few, 6, 5, "3 h 0 min", "5 h 0 min"),
        ("2026-12", few, few, few, few, few, few, few, few, few, "—", "—"),
    ]
    assert table.totals is None
    assert "counts and times only" in table.note
    assert not any(value in str(table.rows) for value in PERSONAL)


# --- retention ------------------------------------------------------------------------------


def test_ninety_days_after_closing_the_sweep_erases_what_is_personal_and_counts_remain(
    app: Flask, db: Session, runner: FlaskCliRunner, desk: Desk, staff: Staff, at: Clock
) -> None:
    made = [make_request(db, at=NOW) for _ in range(5)]
    for reference in made:
        answer(db, staff.ana_id, reference, at=NOW + timedelta(hours=1))
        close(db, staff.ana_id, reference, at=NOW + timedelta(hours=2))
    closed_at = NOW + timedelta(hours=2)
    assert count(db, HelpMessage) == 5
    assert count(db, HelpLink) > 0

    at.stand(closed_at + timedelta(days=90) - timedelta(seconds=1))
    swept = sweep(app)
    assert swept.erased == 0
    assert all(stored(db, reference).name == NAME for reference in made)

    at.stand(closed_at + timedelta(days=90))
    result = runner.invoke(args=["grants", "helpdesk-sweep"])
    assert result.exit_code == 0, result.output
    assert "5 requests erased" in result.output
    for reference in made:
        found = stored(db, reference)
        assert (found.name, found.contact_email, found.contact_phone) == (None, None, None)
        assert (found.city, found.text) == (None, None)
        assert found.erased_at == closed_at + timedelta(days=90)
        assert (found.state, found.outcome) == (HelpState.CLOSED, Outcome.REFERRED)
        assert found.closed_at == closed_at
        assert found.first_answered_at == NOW + timedelta(hours=1)
    assert count(db, HelpMessage) == 0
    assert count(db, HelpLink) == 0
    assert count(db, AuditEvent, AuditEvent.action == "help_request.erased") == 5
    assert sweep(app).erased == 0, "erasing twice does nothing"

    html = page(sign_in(app, staff.manager), "/manager/helpdesk")
    assert "<li><strong>5</strong> requests</li>" in html
    assert "median <strong>1 h 0 min</strong>" in html
    assert re.search(
        r'<th scope="row">Referred to a listed service</th><td class="num">5</td>', html
    )
    assert re.search(r'<th scope="row">Spain</th><td class="num">5</td>', html)
    assert_nothing_personal(html)

    ana = sign_in(app, staff.ana)
    assert "No closed request is kept." in page(ana, "/helpdesk/?show=closed")
    erased = page(ana, desk_url(made[0]))
    assert "This request was erased" in erased
    assert_nothing_personal(erased)
    assert count(db, HelpRequest) == 5


def test_an_answer_still_pending_when_the_request_is_erased_is_never_sent(
    app: Flask, db: Session, desk: Desk, staff: Staff
) -> None:
    requester = app.test_client()
    reference = asked(requester)
    (confirmation,) = emails_to(app, EMAIL)
    ana = sign_in(app, staff.ana)
    submit(ana, desk_url(reference), {"body": REPLY}, action=f"{desk_url(reference)}/reply")
    assert count(db, OutboxMessage, OutboxMessage.kind == REPLY_EMAIL) == 1

    erased = submit(
        requester,
        request_url(reference),
        {"sure": "y"},
        action=f"{request_url(reference)}/erase",
    )
    assert erased.status_code == 200
    db.rollback()
    (pending,) = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == REPLY_EMAIL))
    assert (pending.state, pending.payload, pending.recipient) == (OutboxState.DROPPED, None, None)
    assert deliver_outbox(app).sent == 0
    assert [m["Message-ID"] for m in emails_to(app, EMAIL)] == [confirmation["Message-ID"]]
    assert count(db, OutboxMessage, OutboxMessage.recipient == EMAIL) == 0, (
        "the address is cleared from the confirmation sent before"
    )
    assert count(db, HelpMessage) == 0
    html = page(ana, desk_url(reference))
    assert "This request was erased" in html
    assert_nothing_personal(html)
