"""The partner portal under concurrency, on SQLite and on PostgreSQL: a report's acceptance
racing the payment of the tranche waiting for it, two people of one partner starting its
application, two managers deciding one application, and two finance officers paying one
tranche. Each worker is a request of its own: an application context, a session, one
operation, one commit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import date

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain import applications, awards, progress, tranches
from grants.domain.errors import DomainError, InvalidState
from grants.domain.ledger import fund_balances
from grants.extensions import db as database
from grants.models import (
    Application,
    ApplicationState,
    AuditEvent,
    Grant,
    LedgerTransaction,
    Notification,
    ReportDecision,
    ReportingRequirement,
    ReportState,
    Role,
    Tranche,
    TransactionKind,
    User,
)
from tests.domain.test_concurrency import START_TIMEOUT, Threads
from tests.factories import make_user
from tests.portal.portal_world import NOW, Portal
from tests.portal.test_rounds import count

TODAY = date(2026, 3, 2)
CONTENT = progress.ReportContent(narrative="We held 40 sessions.", sessions_held="40")


def as_request(work: Callable[[], object], refusal: type[DomainError] = InvalidState) -> str:
    """Run ``work`` as a request would: commit on success, commit a recorded refusal, roll
    back any other; ``"done"`` or ``"refused"``."""
    session = database.session
    try:
        work()
    except refusal as error:
        if error.recorded:
            session.commit()
        else:
            session.rollback()
        return "refused"
    except BaseException:
        session.rollback()
        raise
    session.commit()
    return "done"


def user(user_id: int) -> User:
    return database.session.get_one(User, user_id)


def waiting_grant(world: Portal, number: int) -> tuple[int, int, int]:
    """A new approved grant to Backline whose second tranche waits for its report, which
    is submitted: the grant's, the report's and the tranche's ids."""
    round_id = world.open_round(title=f"Round {number}")
    grant = world.award_and_approve(world.apply(round_id, world.backline_person))
    report = grant.reports[0]
    tranche = grant.tranches[1]
    assert tranche.release_after_id == report.id
    db = world.db
    person = world.backline_person
    progress.save_version(db, actor=person, requirement_id=report.id, content=CONTENT, now=NOW)
    progress.submit_version(db, key=world.key(), actor=person, requirement_id=report.id, now=NOW)
    return grant.id, report.id, tranche.id


def test_a_tranche_is_paid_only_if_its_report_s_acceptance_committed_first(
    app: Flask, db: Session
) -> None:
    """Whatever the order: either the payment is refused and the tranche stays unpaid, or
    it is paid and the acceptance comes before it in the audit chain. Some runs let one
    side start a little later, so that both orders are seen; the others race outright."""
    world = Portal(db)
    delays = [("", 0.0), ("finance", 0.5), ("manager", 0.5), ("", 0.0), ("", 0.0), ("", 0.0)]
    cases = [waiting_grant(world, number) for number in range(len(delays))]
    opener_id, finance_id = world.opener.id, world.finance.id
    db.commit()

    outcomes = []
    for number, ((grant_id, report_id, tranche_id), (late, delay)) in enumerate(
        zip(cases, delays, strict=True)
    ):
        db.rollback()  # the test's own transaction ends before the requests run
        barrier = threading.Barrier(2)

        def accept(
            report_id: int = report_id,
            pause: float = delay * (late == "manager"),
            barrier: threading.Barrier = barrier,
        ) -> str:
            barrier.wait(START_TIMEOUT)
            time.sleep(pause)
            return as_request(
                lambda: progress.decide_version(
                    database.session,
                    key=f"accept-{report_id}",
                    actor=user(opener_id),
                    requirement_id=report_id,
                    decision=ReportDecision.ACCEPTED,
                    comment="",
                    now=NOW,
                )
            )

        def pay(
            tranche_id: int = tranche_id,
            pause: float = delay * (late == "finance"),
            barrier: threading.Barrier = barrier,
        ) -> str:
            barrier.wait(START_TIMEOUT)
            time.sleep(pause)
            return as_request(
                lambda: tranches.pay_tranche(
                    database.session,
                    key=f"pay-{tranche_id}",
                    actor=user(finance_id),
                    tranche_id=tranche_id,
                    payment_reference=f"ACH-{tranche_id}",
                    paid_on=TODAY,
                    today=TODAY,
                )
            )

        threads = Threads(app)
        threads.start("manager", accept)
        threads.start("finance", pay)
        threads.join()
        assert threads.results["manager"] == "done", "the acceptance never waits for money"

        db.rollback()
        report = db.get_one(ReportingRequirement, report_id, populate_existing=True)
        tranche = db.get_one(Tranche, tranche_id, populate_existing=True)
        assert report.state is ReportState.ACCEPTED
        chain = db.execute(
            select(AuditEvent.action, AuditEvent.seq)
            .where(
                AuditEvent.object_type == "grant",
                AuditEvent.object_id == grant_id,
                AuditEvent.action.in_(("progress.accepted", "grant.pay_tranche")),
            )
            .order_by(AuditEvent.seq)
        ).all()
        paid = threads.results["finance"]
        outcomes.append(paid)
        if paid == "done":
            assert (tranche.paid_on, tranche.payment_reference) == (TODAY, f"ACH-{tranche_id}")
            assert tranche.transaction_id is not None
            assert [action for action, _ in chain] == ["progress.accepted", "grant.pay_tranche"]
        else:
            assert paid == "refused"
            assert (tranche.paid_on, tranche.transaction_id) == (None, None)
            assert [action for action, _ in chain] == ["progress.accepted"]
            tranches.pay_tranche(
                db,
                key=f"pay-again-{tranche_id}",
                actor=world.finance,
                tranche_id=tranche_id,
                payment_reference=f"ACH-{tranche_id}",
                paid_on=TODAY,
                today=TODAY,
            )
            db.commit()
            assert db.get_one(Tranche, tranche_id, populate_existing=True).paid_on == TODAY, (
                "paid once the acceptance is in"
            )
        if late == "finance":
            assert paid == "done", f"run {number}: the payment came well after the acceptance"
        if late == "manager":
            assert paid == "refused", f"run {number}: the payment came well before acceptance"
    db.rollback()
    paid_out = len(cases) * 600_000
    assert fund_balances(db, world.fund.id).paid_to_partners == paid_out
    assert sorted(set(outcomes)) == ["done", "refused"]


def test_two_people_of_one_partner_starting_at_once_make_one_application(
    app: Flask, db: Session
) -> None:
    world = Portal(db)
    colleague = world.person(world.backline)
    people = (world.backline_person.id, colleague.id)
    round_ids = [world.open_round(title=f"Round {number}") for number in range(4)]
    db.commit()
    for round_id in round_ids:
        db.rollback()  # the test's own transaction ends before the requests run
        barrier = threading.Barrier(2)

        def begin(
            person_id: int, round_id: int = round_id, barrier: threading.Barrier = barrier
        ) -> int:
            barrier.wait(START_TIMEOUT)
            session = database.session
            application = applications.start_application(
                session, actor=user(person_id), round_id=round_id, now=NOW
            )
            application_id = application.id
            session.commit()
            return application_id

        threads = Threads(app)
        threads.start("one", lambda begin=begin: begin(people[0]))
        threads.start("two", lambda begin=begin: begin(people[1]))
        threads.join()
        assert threads.results["one"] == threads.results["two"]
        db.rollback()
        assert count(db, Application, Application.round_id == round_id) == 1
        started = db.scalars(
            select(AuditEvent.actor_id).where(
                AuditEvent.action == "application.start",
                AuditEvent.object_id == threads.results["one"],
            )
        ).all()
        assert len(started) == 1
        assert started[0] in people


def test_an_award_and_a_decline_at_once_decide_the_application_once(
    app: Flask, db: Session
) -> None:
    world = Portal(db)
    cases = []
    for number in range(4):
        round_id = world.open_round(title=f"Round {number}")
        cases.append(world.apply(round_id, world.backline_person).id)
    opener_id, second_id = world.opener.id, world.second.id
    db.commit()
    for application_id in cases:
        db.rollback()  # the test's own transaction ends before the requests run
        barrier = threading.Barrier(2)

        def give(application_id: int = application_id, barrier: threading.Barrier = barrier) -> str:
            barrier.wait(START_TIMEOUT)
            return as_request(
                lambda: awards.award(
                    database.session,
                    key=f"award-{application_id}",
                    actor=user(opener_id),
                    application_id=application_id,
                    amount="12,000.00",
                    now=NOW,
                )
            )

        def refuse(
            application_id: int = application_id, barrier: threading.Barrier = barrier
        ) -> str:
            barrier.wait(START_TIMEOUT)
            return as_request(
                lambda: awards.decline(
                    database.session,
                    key=f"decline-{application_id}",
                    actor=user(second_id),
                    application_id=application_id,
                    reason="Out of scope",
                    now=NOW,
                )
            )

        threads = Threads(app)
        threads.start("award", give)
        threads.start("decline", refuse)
        threads.join()
        results = threads.results
        assert sorted(str(value) for value in results.values()) == ["done", "refused"]

        db.rollback()
        application = db.get_one(Application, application_id, populate_existing=True)
        decisions = db.scalars(
            select(AuditEvent.action).where(
                AuditEvent.object_type == "application",
                AuditEvent.object_id == application_id,
                AuditEvent.action.in_(("application.award", "application.decline")),
            )
        ).all()
        grants = db.scalars(
            select(Grant.id)
            .join(AuditEvent, AuditEvent.object_id == Grant.id)
            .where(AuditEvent.object_type == "grant", AuditEvent.action == "grant.create")
        ).all()
        told = count(
            db,
            Notification,
            Notification.kind == "application.decided",
            Notification.event_key == f"application:{application_id}",
        )
        assert told == 1
        if results["award"] == "done":
            assert application.state is ApplicationState.AWARDED
            assert application.grant_id is not None
            assert application.decided_by_id == opener_id
            assert decisions == ["application.award"]
            assert application.grant_id in grants
        else:
            assert application.state is ApplicationState.DECLINED
            assert (application.grant_id, application.amount_awarded) == (None, None)
            assert application.decided_by_id == second_id
            assert decisions == ["application.decline"]
    awarded = count(db, Application, Application.state == ApplicationState.AWARDED)
    assert count(db, Grant) == awarded, "one grant per award, none for a decline"


def test_two_finance_officers_paying_one_waiting_tranche_pay_it_once(
    app: Flask, db: Session
) -> None:
    world = Portal(db)
    colleague = make_user(db, Role.FINANCE)
    cases = []
    for number in range(3):
        grant_id, report_id, tranche_id = waiting_grant(world, number)
        progress.decide_version(
            db,
            key=world.key(),
            actor=world.second,
            requirement_id=report_id,
            decision=ReportDecision.ACCEPTED,
            comment="",
            now=NOW,
        )
        cases.append((grant_id, tranche_id))
    payers = (world.finance.id, colleague.id)
    db.commit()
    for grant_id, tranche_id in cases:
        db.rollback()  # the test's own transaction ends before the requests run
        barrier = threading.Barrier(2)

        def pay_as(
            payer_id: int, tranche_id: int = tranche_id, barrier: threading.Barrier = barrier
        ) -> str:
            barrier.wait(START_TIMEOUT)
            return as_request(
                lambda: tranches.pay_tranche(
                    database.session,
                    key=f"pay-{tranche_id}-{payer_id}",
                    actor=user(payer_id),
                    tranche_id=tranche_id,
                    payment_reference=f"ACH-{payer_id}",
                    paid_on=TODAY,
                    today=TODAY,
                )
            )

        threads = Threads(app)
        threads.start("one", lambda pay_as=pay_as: pay_as(payers[0]))
        threads.start("two", lambda pay_as=pay_as: pay_as(payers[1]))
        threads.join()
        assert sorted(str(value) for value in threads.results.values()) == ["done", "refused"]

        db.rollback()
        tranche = db.get_one(Tranche, tranche_id, populate_existing=True)
        winner = payers[0] if threads.results["one"] == "done" else payers[1]
        assert (tranche.paid_by_id, tranche.payment_reference) == (winner, f"ACH-{winner}")
        payments = db.scalars(
            select(AuditEvent.id).where(
                AuditEvent.action == "grant.pay_tranche", AuditEvent.object_id == grant_id
            )
        ).all()
        assert len(payments) == 1
    db.rollback()
    assert count(
        db, LedgerTransaction, LedgerTransaction.kind == TransactionKind.TRANCHE_PAYMENT
    ) == len(cases)
    assert fund_balances(db, world.fund.id).paid_to_partners == len(cases) * 600_000
