"""The help desk over time: the navigators' queue, answering and closing, overdue alerts,
the retention sweep and erasure, re-routing, and the desk's figures.

Shares its helpers with :mod:`tests.domain.test_helpdesk` (asking, routing, deadlines,
links and who reads a request).
"""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain import hub
from grants.domain.errors import InvalidInput, InvalidState, NotAllowed, NotFound
from grants.domain.helpdesk import (
    LINK_EMAIL,
    REPLY_EMAIL,
    Asked,
    erase,
    new_reference,
    requester_reply,
    working_deadline,
)
from grants.domain.helpdesk_admin import reroute
from grants.domain.helpdesk_desk import (
    NAVIGATOR_OUTCOMES,
    QueueRow,
    assign,
    close,
    queue,
    queue_counts,
    reply,
    request_for_navigator,
)
from grants.domain.helpdesk_figures import AnswerTimes, desk_figures
from grants.domain.helpdesk_links import open_link, request_for_device
from grants.domain.helpdesk_retention import alert_overdue, sweep, timed_work
from grants.domain.hub import ServiceContent
from grants.models import (
    AuditEvent,
    Country,
    HelpLink,
    HelpMessage,
    HelpRequest,
    HelpState,
    HubOrganization,
    Notification,
    OutboxMessage,
    Outcome,
    Role,
    Topic,
    User,
)
from tests.domain.test_helpdesk import (
    NOW,
    Desk,
    count,
    key,
    make_request,
    navigator_of,
    open_desk,
    stored,
)
from tests.factories import make_user
from tests.support import counting_statements

HOUR = timedelta(hours=1)
PERSONAL = ("name", "contact_email", "contact_phone", "city", "text", "requester_id")
"""The columns erasure empties."""


def write_request(db: Session, partner_id: int, n: int, **columns: Any) -> HelpRequest:
    """A request written straight to the table, for what only reads them (the queue, the
    figures): request number ``n`` arrived ``n`` minutes after :data:`NOW`."""
    created = columns.pop("created_at", NOW + timedelta(minutes=n))
    values: dict[str, Any] = {
        "reference": new_reference(),
        "partner_id": partner_id,
        "country": "US",
        "language": "en",
        "topic": Topic.GRIEF,
        "can_pay": "nothing",
        "urgent": False,
        "state": HelpState.NEW,
        "contact_email": f"r{n}@example.org",
        "created_at": created,
        "answer_due_at": created + timedelta(days=2),
        "last_message_at": created,
        **columns,
    }
    found = HelpRequest(**values)
    db.add(found)
    return found


# --- the queue -------------------------------------------------------------------------------


def test_the_queue_lists_urgent_requests_first_then_the_oldest(db: Session) -> None:
    desk = open_desk(db)
    calm_new = make_request(db, at=NOW)
    urgent_new = make_request(db, at=NOW + timedelta(hours=2), topic=Topic.CRISIS.value)
    calm_old = make_request(db, at=NOW - timedelta(hours=1))
    urgent_old = make_request(db, at=NOW + timedelta(hours=1), topic=Topic.CRISIS.value)
    done = make_request(db, at=NOW - timedelta(days=1))
    close(
        db, key=key(), actor=desk.navigator, reference=done.reference, outcome="referred", now=NOW
    )
    reply(db, key=key(), actor=desk.colleague, reference=calm_old.reference, body="Hi", now=NOW)

    later = NOW + timedelta(hours=3)
    listed = queue(db, desk.navigator, now=later)
    assert [row.reference for row in listed.items] == [
        urgent_old.reference,
        urgent_new.reference,
        calm_old.reference,
        calm_new.reference,
    ]
    assert listed.total == 4
    first, _, answered, _ = listed.items
    assert first.urgent
    assert first.state is HelpState.NEW
    assert answered.assignee == desk.colleague.display_name
    assert not answered.assigned_to_me
    assert answered.answered
    assert not answered.waiting_on_desk
    closed = queue(db, desk.navigator, closed=True, now=later)
    assert [(row.reference, row.outcome) for row in closed.items] == [
        (done.reference, Outcome.REFERRED)
    ]
    assert not {"name", "text", "city", "contact_email"} & {f.name for f in fields(QueueRow)}
    assert queue(db, navigator_of(db, None), now=later).total == 0
    assert queue(db, open_desk(db, "Northside").navigator, now=later).total == 0


def add_requests(db: Session, desk: Desk, numbers: range) -> None:
    """Requests ``numbers``, a third of them taken by the colleague, one in seven urgent."""
    for n in numbers:
        taken = n % 3 == 0
        write_request(
            db,
            desk.partner_id,
            n,
            urgent=n % 7 == 0,
            state=HelpState.ASSIGNED if taken else HelpState.NEW,
            assignee_id=desk.colleague.id if taken else None,
        )
    db.flush()


def test_the_queue_costs_the_same_statements_however_long_it_is(db: Session) -> None:
    desk = open_desk(db)
    navigator = desk.navigator

    def statements_for_page() -> tuple[int, int, int]:
        db.commit()
        assert navigator.partner_id is not None  # loaded before counting
        with counting_statements(db) as statements:
            listed = queue(db, navigator, now=NOW)
        return len(statements), len(listed.items), listed.total

    add_requests(db, desk, range(10))
    few, shown, total = statements_for_page()
    assert (shown, total) == (10, 10)
    add_requests(db, desk, range(10, 200))
    many, shown, total = statements_for_page()
    assert (shown, total) == (50, 200)
    assert few == many


# --- answering and closing ------------------------------------------------------------------


def hub_service(db: Session, *, published: bool) -> str:
    """The id of a hub service, published or only proposed."""
    organisation = HubOrganization(id=hub.new_id(), name="988 Lifeline", created_at=NOW)
    db.add(organisation)
    db.flush()
    version = hub.propose(
        db,
        actor=None,
        content=ServiceContent(
            name="988 Suicide & Crisis Lifeline",
            checked_on=date(2026, 11, 1),
            descriptions={"en": "Call or text 988."},
            countries=("US",),
            topics=("crisis",),
            url="https://988lifeline.org/",
        ),
        now=NOW,
        organization_id=organisation.id,
    )
    if published:
        hub.publish(db, actor=None, version_id=version.id, now=NOW)
    return version.service_id


def test_the_first_answer_takes_the_request_and_is_emailed_with_a_new_link(db: Session) -> None:
    desk = open_desk(db)
    made = make_request(db)
    service = hub_service(db, published=True)
    first = NOW + timedelta(hours=1)
    reply(
        db,
        key=key(),
        actor=desk.navigator,
        reference=made.reference,
        body="Here is a line you can call.",
        service_ids=[service],
        now=first,
    )
    found = stored(db, made)
    assert (found.first_answered_at, found.picked_up_at) == (first, first)
    assert (found.assignee_id, found.state) == (desk.navigator.id, HelpState.ASSIGNED)
    assert [m.services for m in db.scalars(select(HelpMessage))] == [[service]]
    emails = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == REPLY_EMAIL)).all()
    assert [email.recipient for email in emails] == ["quenby.marchetti@example.org"]
    assert emails[0].payload is not None
    token = json.loads(emails[0].payload)["token"]
    assert open_link(db, token, now=first).reference == made.reference

    second = first + timedelta(hours=1)
    reply(db, key=key(), actor=desk.colleague, reference=made.reference, body="More", now=second)
    found = stored(db, made)
    assert found.first_answered_at == first
    assert found.assignee_id == desk.navigator.id
    assert count(db, OutboxMessage, OutboxMessage.kind == REPLY_EMAIL) == 2


def test_an_answer_to_a_requester_without_email_is_not_emailed(db: Session) -> None:
    desk = open_desk(db)
    made = make_request(db, email="", phone="(212) 736-5000")
    reply(db, key=key(), actor=desk.navigator, reference=made.reference, body="Call", now=NOW)
    assert count(db, HelpMessage) == 1
    assert count(db, OutboxMessage, OutboxMessage.kind == REPLY_EMAIL) == 0
    assert count(db, OutboxMessage, OutboxMessage.kind == LINK_EMAIL) == 0


def test_an_answer_carries_only_up_to_ten_services_on_the_hub(db: Session) -> None:
    desk = open_desk(db)
    made = make_request(db)
    published, proposed = hub_service(db, published=True), hub_service(db, published=False)

    def answer(services: list[str]) -> None:
        reply(
            db,
            key=key(),
            actor=desk.navigator,
            reference=made.reference,
            body="See these",
            service_ids=services,
            now=NOW,
        )

    for services in ([proposed], [published, hub.new_id()], [hub.new_id() for _ in range(11)]):
        with pytest.raises(InvalidInput) as refused:
            answer(services)
        assert refused.value.field == "services"
    with pytest.raises(InvalidInput, match="at most 10"):
        answer([published] + [hub.new_id() for _ in range(10)])
    assert count(db, HelpMessage) == 0
    assert stored(db, made).first_answered_at is None
    answer([published] * 11)
    assert [m.services for m in db.scalars(select(HelpMessage))] == [[published]]


@pytest.mark.parametrize("outcome", [outcome.value for outcome in NAVIGATOR_OUTCOMES])
def test_a_navigator_closes_a_request_with_an_outcome(db: Session, outcome: str) -> None:
    desk = open_desk(db)
    made = make_request(db)
    done = NOW + timedelta(days=1)
    close(db, key=key(), actor=desk.navigator, reference=made.reference, outcome=outcome, now=done)
    found = stored(db, made)
    assert (found.state, found.outcome, found.closed_at) == (HelpState.CLOSED, outcome, done)
    assert found.assignee_id == desk.navigator.id

    with pytest.raises(InvalidState):
        reply(db, key=key(), actor=desk.navigator, reference=made.reference, body="x", now=done)
    with pytest.raises(InvalidState):
        requester_reply(db, key=key(), request_id=made.request_id, body="more?", now=done)
    with pytest.raises(InvalidState):
        close(
            db, key=key(), actor=desk.navigator, reference=made.reference, outcome=outcome, now=done
        )
    assert count(db, HelpMessage) == 0


def test_withdrawn_is_the_requester_s_and_only_navigators_answer(db: Session) -> None:
    desk = open_desk(db)
    made = make_request(db)
    for outcome in ("withdrawn", "solved", ""):
        with pytest.raises(InvalidInput):
            close(
                db,
                key=key(),
                actor=desk.navigator,
                reference=made.reference,
                outcome=outcome,
                now=NOW,
            )
    manager = make_user(db, Role.MANAGER)
    manager.partner_id = desk.partner_id
    with pytest.raises(NotAllowed):
        reply(db, key=key(), actor=manager, reference=made.reference, body="Hi", now=NOW)
    with pytest.raises(NotAllowed):
        close(db, key=key(), actor=manager, reference=made.reference, outcome="connected", now=NOW)
    with pytest.raises(NotFound):
        reply(
            db,
            key=key(),
            actor=open_desk(db, "Northside").navigator,
            reference=made.reference,
            body="Hi",
            now=NOW,
        )
    found = stored(db, made)
    assert (found.state, found.assignee_id, found.outcome) == (HelpState.NEW, None, None)
    assert count(db, HelpMessage) == 0


def test_a_requester_s_answer_tells_the_navigator_who_has_the_request(db: Session) -> None:
    desk = open_desk(db)
    made = make_request(db)
    reply(db, key=key(), actor=desk.navigator, reference=made.reference, body="Hi", now=NOW)
    later = NOW + timedelta(hours=1)
    requester_reply(db, key=key(), request_id=made.request_id, body="Thank you", now=later)
    assert stored(db, made).last_message_at == later
    told = db.scalars(
        select(Notification.user_id).where(Notification.kind == "help.answered")
    ).all()
    assert told == [desk.navigator.id]
    assert queue(db, desk.navigator, now=later).items[0].waiting_on_desk


# --- overdue alerts -------------------------------------------------------------------------


def overdue_told(db: Session) -> list[tuple[int, str]]:
    rows = db.execute(
        select(Notification.user_id, Notification.event_key).where(
            Notification.kind == "help.overdue"
        )
    )
    return sorted((user_id, event_key) for user_id, event_key in rows)


def test_an_urgent_request_not_picked_up_in_four_hours_is_told_once(db: Session) -> None:
    desk = open_desk(db)
    elsewhere = open_desk(db, "Northside")
    made = make_request(db, topic=Topic.CRISIS.value)
    taken = make_request(db, topic=Topic.CRISIS.value)
    assign(db, key=key(), actor=desk.colleague, reference=taken.reference, now=NOW + HOUR)
    done = make_request(db, topic=Topic.CRISIS.value)
    close(
        db, key=key(), actor=desk.navigator, reference=done.reference, outcome="referred", now=NOW
    )
    due = NOW + 4 * HOUR

    assert alert_overdue(db, now=due - timedelta(seconds=1)) == 0
    assert queue_counts(db, desk.partner_id, now=due - timedelta(seconds=1)).overdue == 0
    assert alert_overdue(db, now=due) == 1
    assert queue_counts(db, desk.partner_id, now=due).overdue == 1
    assert alert_overdue(db, now=due + HOUR) == 0
    db.expire_all()
    assert stored(db, made).pickup_alerted_at == due
    assert stored(db, made).answer_alerted_at is None
    event = f"help-{made.request_id}-pickup-overdue"
    assert overdue_told(db) == sorted([(desk.navigator.id, event), (desk.colleague.id, event)])
    assert elsewhere.navigator.id not in {user_id for user_id, _ in overdue_told(db)}


def test_a_request_not_answered_in_two_working_days_is_told_once(db: Session) -> None:
    desk = open_desk(db)
    made = make_request(db)
    answered = make_request(db)
    reply(db, key=key(), actor=desk.navigator, reference=answered.reference, body="Hi", now=NOW)
    due = stored(db, made).answer_due_at
    assert due == NOW + timedelta(days=2), "Monday 10:00 to Wednesday 10:00"

    assert alert_overdue(db, now=due - timedelta(seconds=1)) == 0
    assert timed_work(db, now=due).alerted == 1
    assert alert_overdue(db, now=due + timedelta(days=3)) == 0
    db.expire_all()
    assert (stored(db, made).answer_alerted_at, stored(db, made).pickup_alerted_at) == (due, None)
    assert stored(db, answered).answer_alerted_at is None
    event = f"help-{made.request_id}-answer-overdue"
    assert overdue_told(db) == sorted([(desk.navigator.id, event), (desk.colleague.id, event)])
    assert queue(db, desk.navigator, now=due).items[0].overdue


# --- retention and erasure ------------------------------------------------------------------


def closed_request(db: Session, desk: Desk, *, closed_at: datetime) -> Asked:
    """A request with a thread of two messages, answered and closed at ``closed_at``."""
    made = make_request(
        db, at=closed_at - timedelta(days=1), phone="(212) 736-5000", requester_id=None
    )
    reply(
        db,
        key=key(),
        actor=desk.navigator,
        reference=made.reference,
        body="Here is a therapist.",
        now=closed_at - 20 * HOUR,
    )
    requester_reply(
        db, key=key(), request_id=made.request_id, body="Thank you!", now=closed_at - 10 * HOUR
    )
    close(
        db,
        key=key(),
        actor=desk.navigator,
        reference=made.reference,
        outcome="connected",
        now=closed_at,
    )
    return made


def kept(found: HelpRequest) -> tuple[object, ...]:
    """What the counts need, which erasure keeps."""
    return (
        found.country,
        found.language,
        found.topic,
        found.can_pay,
        found.urgent,
        found.state,
        found.outcome,
        found.created_at,
        found.first_answered_at,
        found.closed_at,
        found.partner_id,
    )


def test_a_closed_request_is_erased_ninety_days_after_it_closed(db: Session) -> None:
    desk = open_desk(db)
    made = closed_request(db, desk, closed_at=NOW)
    other = closed_request(db, desk, closed_at=NOW + timedelta(seconds=1))
    before = kept(stored(db, made))
    assert count(db, HelpMessage, HelpMessage.request_id == made.request_id) == 2
    assert count(db, HelpLink, HelpLink.request_id == made.request_id) == 4

    assert sweep(db, now=NOW + timedelta(days=90, seconds=-1)) == 0
    assert stored(db, made).erased_at is None
    assert sweep(db, now=NOW + timedelta(days=90)) == 1

    found = stored(db, made)
    assert [getattr(found, column) for column in PERSONAL] == [None] * len(PERSONAL)
    assert found.erased_at == NOW + timedelta(days=90)
    assert kept(found) == before
    assert found.outcome is Outcome.CONNECTED
    assert found.first_answered_at == NOW - 20 * HOUR
    assert count(db, HelpMessage, HelpMessage.request_id == made.request_id) == 0
    assert count(db, HelpLink, HelpLink.request_id == made.request_id) == 0
    assert stored(db, other).name == "Quenby Marchetti", "closed a second later, kept"
    assert count(db, HelpMessage, HelpMessage.request_id == other.request_id) == 2
    assert request_for_device(db, made.reference, made.device_token, now=NOW) is None
    erased = db.scalars(
        select(AuditEvent.after).where(AuditEvent.action == "help_request.erased")
    ).all()
    assert [json.loads(after)["why"] for after in erased] == ["retention"]
    assert sweep(db, now=NOW + timedelta(days=90)) == 0


def test_the_retention_period_is_a_parameter(db: Session) -> None:
    desk = open_desk(db)
    made = closed_request(db, desk, closed_at=NOW)
    month = timedelta(days=30)
    assert sweep(db, now=NOW + month) == 0, "the default is 90 days"
    assert timed_work(db, now=NOW + month - timedelta(seconds=1), retention_days=30).erased == 0
    assert timed_work(db, now=NOW + month, retention_days=30).erased == 1
    assert stored(db, made).erased_at == NOW + month


def test_an_open_request_is_never_swept(db: Session) -> None:
    desk = open_desk(db)
    made = make_request(db, at=NOW - timedelta(days=1000))
    assign(db, key=key(), actor=desk.navigator, reference=made.reference, now=NOW)
    assert sweep(db, now=NOW + timedelta(days=1000), retention_days=1) == 0
    found = stored(db, made)
    assert (found.erased_at, found.name, found.state) == (None, "Quenby Marchetti", "assigned")


def test_erasing_an_open_request_withdraws_it_and_erasing_twice_does_nothing(
    db: Session,
) -> None:
    desk = open_desk(db)
    made = make_request(db)
    reply(db, key=key(), actor=desk.navigator, reference=made.reference, body="Hi", now=NOW)
    asked_at = NOW + HOUR
    assert erase(db, made.request_id, now=asked_at, actor_id=None, why="requester")

    found = stored(db, made)
    assert (found.state, found.outcome) == (HelpState.CLOSED, Outcome.WITHDRAWN)
    assert (found.closed_at, found.erased_at) == (asked_at, asked_at)
    assert [getattr(found, column) for column in PERSONAL] == [None] * len(PERSONAL)
    assert count(db, HelpMessage) == 0
    assert count(db, HelpLink) == 0
    with pytest.raises(NotFound):
        open_link(db, made.link_token, now=asked_at)
    assert queue(db, desk.navigator, closed=True, now=asked_at).total == 0

    assert not erase(db, made.request_id, now=asked_at + HOUR, actor_id=None, why="again")
    assert stored(db, made).erased_at == asked_at
    assert count(db, AuditEvent, AuditEvent.action == "help_request.erased") == 1


def test_an_erased_request_leaves_no_address_in_the_outbox(db: Session) -> None:
    desk = open_desk(db)
    made = make_request(db)
    reply(db, key=key(), actor=desk.navigator, reference=made.reference, body="Hi", now=NOW)
    kinds = set(db.scalars(select(OutboxMessage.kind)))
    assert {LINK_EMAIL, REPLY_EMAIL} <= kinds
    erase(db, made.request_id, now=NOW + HOUR, actor_id=None, why="requester")
    address = "quenby.marchetti@example.org"
    assert count(db, OutboxMessage, OutboxMessage.recipient == address) == 0


# --- re-routing -----------------------------------------------------------------------------


def test_rerouting_hands_a_request_untaken_to_the_other_desk(db: Session) -> None:
    desk = open_desk(db)
    northside = open_desk(db, "Northside", country=Country.GB, working_days="1234")
    admin = make_user(db, Role.ADMIN)
    thursday = datetime(2026, 11, 26, 15, tzinfo=UTC)
    made = make_request(db, at=thursday)
    assign(db, key=key(), actor=desk.navigator, reference=made.reference, now=thursday)
    assert stored(db, made).answer_due_at == datetime(2026, 11, 30, 15, tzinfo=UTC)

    reroute(db, actor=admin, reference=made.reference, partner_id=northside.partner_id, now=NOW)
    found = stored(db, made)
    assert (found.partner_id, found.assignee_id, found.state) == (
        northside.partner_id,
        None,
        HelpState.NEW,
    )
    assert found.answer_due_at == working_deadline(thursday, "Europe/London", "1234", 2)
    assert found.answer_due_at == datetime(2026, 12, 1, 15, tzinfo=UTC)
    assert found.picked_up_at is None, "the new desk has yet to pick it up"
    told = db.scalars(
        select(Notification.user_id).where(
            Notification.kind == "help.new",
            Notification.event_key.like(f"help-{made.request_id}-%"),
        )
    ).all()
    assert sorted(told) == sorted(
        [desk.navigator.id, desk.colleague.id, northside.navigator.id, northside.colleague.id]
    )
    with pytest.raises(NotFound):
        request_for_navigator(db, desk.navigator, made.reference)
    assert request_for_navigator(db, northside.navigator, made.reference).id == made.request_id
    assert count(db, AuditEvent, AuditEvent.action == "help_request.rerouted") == 1


def test_rerouting_is_an_admin_s_and_only_of_an_open_request_to_another_desk(
    db: Session,
) -> None:
    desk = open_desk(db)
    northside = open_desk(db, "Northside")
    closed_partner = open_desk(db, "Closed", active=False)
    admin, manager = make_user(db, Role.ADMIN), make_user(db, Role.MANAGER)
    made = make_request(db)
    done = make_request(db)
    close(
        db, key=key(), actor=desk.navigator, reference=done.reference, outcome="referred", now=NOW
    )

    def send(actor: User, reference: str, partner_id: int) -> None:
        reroute(db, actor=actor, reference=reference, partner_id=partner_id, now=NOW)

    with pytest.raises(NotAllowed):
        send(manager, made.reference, northside.partner_id)
    with pytest.raises(NotAllowed):
        send(desk.navigator, made.reference, northside.partner_id)
    with pytest.raises(InvalidInput):
        send(admin, made.reference, desk.partner_id)
    with pytest.raises(InvalidInput):
        send(admin, made.reference, closed_partner.partner_id)
    with pytest.raises(InvalidState):
        send(admin, done.reference, northside.partner_id)
    with pytest.raises(NotFound):
        send(admin, "HD-0000-0000", northside.partner_id)
    assert {stored(db, made).partner_id, stored(db, done).partner_id} == {desk.partner_id}
    assert count(db, AuditEvent, AuditEvent.action == "help_request.rerouted") == 0


def test_a_desk_a_request_comes_back_to_is_told_again(db: Session) -> None:
    desk = open_desk(db)
    northside = open_desk(db, "Northside")
    admin = make_user(db, Role.ADMIN)
    made = make_request(db)
    reroute(db, actor=admin, reference=made.reference, partner_id=northside.partner_id, now=NOW)
    reroute(db, actor=admin, reference=made.reference, partner_id=desk.partner_id, now=NOW)
    mine = (Notification.kind == "help.new", Notification.user_id == desk.navigator.id)
    assert count(db, Notification, *mine) == 2


# --- figures --------------------------------------------------------------------------------


def answered(db: Session, partner_id: int, waits: list[int], **columns: Any) -> None:
    """One request answered after each of ``waits`` hours."""
    for n, wait in enumerate(waits):
        created = NOW + timedelta(minutes=n)
        write_request(
            db,
            partner_id,
            n,
            first_answered_at=created + wait * HOUR,
            created_at=created,
            **columns,
        )
    db.flush()


def test_cells_under_five_are_suppressed(db: Session) -> None:
    desk = open_desk(db)
    for n in range(4):
        write_request(db, desk.partner_id, n, country="US", urgent=True)
    for n in range(4, 9):
        write_request(db, desk.partner_id, n, country="GB")
    db.flush()
    figures = desk_figures(db)
    assert figures.total == 9
    assert figures.by_country == [("GB", "—"), ("US", "<5")], (
        "GB withheld too: the total less GB would give the US's 4 away"
    )
    assert figures.by_topic == [("grief", 9)]
    assert figures.by_outcome == [("open", 9)]
    assert figures.open_now == 9
    assert [(m.month, m.requests, m.urgent) for m in figures.months] == [("2026-11", 9, "<5")]
    assert figures.times == AnswerTimes("<5", None, None)
    assert desk_figures(db, until=NOW + timedelta(minutes=4)).total == "<5"


def test_answer_times_need_five_answered_and_use_the_nearest_rank(db: Session) -> None:
    desk = open_desk(db)
    answered(db, desk.partner_id, [10, 1, 7, 2])
    assert desk_figures(db).times == AnswerTimes("<5", None, None)
    answered(db, desk.partner_id, [4])
    assert desk_figures(db).times == AnswerTimes(5, 4 * 3600, 10 * 3600)
    assert desk_figures(db).months[0].times == AnswerTimes(5, 4 * 3600, 10 * 3600)


def test_answer_times_of_ten_requests(db: Session) -> None:
    """Waits of 1 to 10 hours: the 90th percentile by nearest rank is the 9th, 9 hours; the
    median of an even count is the mean of the two middle waits, 5 h 30 min."""
    desk = open_desk(db)
    answered(db, desk.partner_id, list(range(10, 0, -1)))
    assert desk_figures(db).times == AnswerTimes(10, 5 * 3600 + 1800, 9 * 3600)


def test_the_figures_read_no_personal_column(db: Session) -> None:
    desk = open_desk(db)
    closed_request(db, desk, closed_at=NOW)
    db.commit()
    with counting_statements(db) as statements:
        figures = desk_figures(db)
    assert figures.by_outcome == [("connected", "<5")]
    read = " ".join(statements)
    assert "help_requests" in read
    for column in PERSONAL:
        assert f"help_requests.{column}" not in read
