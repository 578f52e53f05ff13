"""The help desk under concurrency, and the rules its review added: an erasure racing a
navigator's answer leaves nothing personal behind, two navigators closing one request close
it once, a desk with nobody to tell keeps its alerts, and a requester's risky answer makes
the request urgent. On both engines."""

from __future__ import annotations

import threading
from datetime import timedelta

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain.errors import DomainError
from grants.domain.helpdesk import LINK_EMAIL, REPLY_EMAIL, erase, requester_reply
from grants.domain.helpdesk_desk import close, reply
from grants.domain.helpdesk_retention import alert_overdue
from grants.extensions import db as database
from grants.models import (
    AuditEvent,
    HelpLink,
    HelpMessage,
    HelpRequest,
    HelpState,
    Notification,
    OutboxMessage,
    OutboxState,
    Outcome,
)
from tests.domain.test_concurrency import START_TIMEOUT, Threads
from tests.domain.test_helpdesk import (
    NOW,
    count,
    key,
    make_partner,
    make_request,
    navigator_of,
    open_desk,
    stored,
)

ROUNDS = 4


def test_an_erasure_racing_an_answer_leaves_nothing_personal(app: Flask, db: Session) -> None:
    desk = open_desk(db)
    requests = [make_request(db) for _ in range(ROUNDS)]
    navigator_id = desk.navigator.id
    db.commit()
    for made in requests:
        barrier = threading.Barrier(2)

        def answer(reference: str = made.reference, barrier: threading.Barrier = barrier) -> str:
            barrier.wait(START_TIMEOUT)
            session = database.session
            navigator = session.get_one(type(desk.navigator), navigator_id)
            try:
                reply(
                    session,
                    key=key("race-reply"),
                    actor=navigator,
                    reference=reference,
                    body="I can call you tomorrow.",
                    now=NOW + timedelta(hours=1),
                )
            except DomainError:
                session.rollback()
                return "refused"
            session.commit()
            return "answered"

        def forget(request_id: int = made.request_id, barrier: threading.Barrier = barrier) -> str:
            barrier.wait(START_TIMEOUT)
            session = database.session
            erase(session, request_id, now=NOW + timedelta(hours=1), actor_id=None, why="race")
            session.commit()
            return "erased"

        threads = Threads(app)
        threads.start("navigator", answer)
        threads.start("requester", forget)
        threads.join()
        assert threads.results["requester"] == "erased"

        db.rollback()
        found = stored(db, made)
        assert found.erased_at is not None
        assert (found.state, found.outcome) == (HelpState.CLOSED, Outcome.WITHDRAWN)
        assert count(db, HelpMessage, HelpMessage.request_id == made.request_id) == 0
        assert count(db, HelpLink, HelpLink.request_id == made.request_id) == 0
        db.rollback()
    about_requests = OutboxMessage.kind.in_((LINK_EMAIL, REPLY_EMAIL))
    assert count(db, OutboxMessage, about_requests, OutboxMessage.recipient.is_not(None)) == 0
    pending = db.scalars(
        select(OutboxMessage).where(
            OutboxMessage.kind == REPLY_EMAIL, OutboxMessage.state == OutboxState.PENDING
        )
    ).all()
    assert pending == [], "no answer waits to be emailed about an erased request"


def test_two_navigators_closing_one_request_close_it_once(app: Flask, db: Session) -> None:
    desk = open_desk(db)
    made = make_request(db)
    ids = (desk.navigator.id, desk.colleague.id)
    db.commit()
    barrier = threading.Barrier(2)

    def close_as(user_id: int, outcome: str) -> str:
        barrier.wait(START_TIMEOUT)
        session = database.session
        navigator = session.get_one(type(desk.navigator), user_id)
        try:
            close(
                session,
                key=key("race-close"),
                actor=navigator,
                reference=made.reference,
                outcome=outcome,
                now=NOW + timedelta(hours=2),
            )
        except DomainError:
            session.rollback()
            return "refused"
        session.commit()
        return outcome

    threads = Threads(app)
    threads.start("one", lambda: close_as(ids[0], "connected"))
    threads.start("two", lambda: close_as(ids[1], "referred"))
    threads.join()

    outcomes = sorted(str(value) for value in threads.results.values())
    assert "refused" in outcomes
    assert len(outcomes) == 2
    db.rollback()
    assert count(db, AuditEvent, AuditEvent.action == "help_request.closed") == 1
    kept = stored(db, made).outcome
    assert kept is not None
    assert kept.value in outcomes


def test_a_desk_with_nobody_to_tell_keeps_its_alert_until_someone_works_there(
    db: Session,
) -> None:
    lonely = make_partner(db, "Backline")
    made = make_request(db)
    due = stored(db, made).answer_due_at
    assert alert_overdue(db, now=due) == 0
    assert stored(db, made).answer_alerted_at is None, "nobody was told, so nothing is spent"
    navigator = navigator_of(db, lonely.id)
    assert alert_overdue(db, now=due + timedelta(minutes=10)) == 1
    told = db.scalars(
        select(Notification.title).where(
            Notification.user_id == navigator.id, Notification.kind == "help.overdue"
        )
    ).all()
    assert len(told) == 1


def test_a_requester_s_risky_answer_makes_the_request_urgent_and_tells_the_desk(
    db: Session,
) -> None:
    desk = open_desk(db)
    made = make_request(db)
    assert stored(db, made).urgent is False
    later = NOW + timedelta(days=1)
    requester_reply(
        db, key=key("risky"), request_id=made.request_id, body="Quiero morir esta noche.", now=later
    )
    found: HelpRequest = stored(db, made)
    assert found.urgent is True
    assert found.pickup_due_at == later + timedelta(hours=4)
    told = db.scalars(
        select(Notification.user_id).where(
            Notification.kind == "help.new", Notification.title.like("Urgent%")
        )
    ).all()
    assert sorted(told) == sorted([desk.navigator.id, desk.colleague.id])

    requester_reply(db, key=key("calm"), request_id=made.request_id, body="Thank you.", now=later)
    assert count(db, Notification, Notification.title.like("Urgent%")) == 2, "told once"
