"""Deciding applications: an award drafts the grant (its schedule scaled to the cent, each
later tranche waiting for a report) and goes through four eyes; a decline needs a reason;
an application is decided once, never by a conflicted manager; the partner is told."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain import applications, awards, reviews
from grants.domain.errors import InvalidInput, InvalidState, NotAllowed
from grants.domain.grants import Instalment, ReportDue, approve_grant, submit_grant
from grants.models import (
    Application,
    ApplicationState,
    Grant,
    GrantCategory,
    GrantStatus,
    Notification,
    Tranche,
    User,
)
from tests.portal.portal_world import NOW, Portal
from tests.portal.test_rounds import count, events, refused


@pytest.fixture
def world(db: Session) -> Portal:
    return Portal(db)


@pytest.fixture
def round_id(world: Portal) -> int:
    return world.open_round()


def applied(
    world: Portal,
    round_id: int,
    person: User | None = None,
    **changes: object,
) -> Application:
    """An application submitted with the world's complete draft and ``changes``."""
    person = person or world.backline_person
    application = applications.start_application(world.db, actor=person, round_id=round_id, now=NOW)
    draft = replace(world.complete_draft(round_id), **changes)  # type: ignore[arg-type]
    applications.save_application(
        world.db, actor=person, application_id=application.id, draft=draft, now=NOW
    )
    applications.submit_application(
        world.db, key=world.key(), actor=person, application_id=application.id, now=NOW
    )
    world.db.refresh(application)
    return application


def award(
    world: Portal, application: Application, amount: str, actor: User | None = None
) -> object:
    return awards.award(
        world.db,
        key=world.key(),
        actor=actor or world.opener,
        application_id=application.id,
        amount=amount,
        now=NOW,
    )


def decline(
    world: Portal, application: Application, reason: str, actor: User | None = None
) -> object:
    return awards.decline(
        world.db,
        key=world.key(),
        actor=actor or world.opener,
        application_id=application.id,
        reason=reason,
        now=NOW,
    )


def stored(db: Session, application_id: int) -> Application:
    found = db.get(Application, application_id, populate_existing=True)
    assert found is not None
    return found


def grant_of(db: Session, application: Application) -> Grant:
    grant_id = stored(db, application.id).grant_id
    assert grant_id is not None
    return db.get_one(Grant, grant_id, populate_existing=True)


def test_an_award_of_another_amount_scales_the_tranches_to_the_cent(
    world: Portal, db: Session, round_id: int
) -> None:
    application = applied(world, round_id)
    award(world, application, "10,000.01")
    found = stored(db, application.id)
    assert found.state is ApplicationState.AWARDED
    assert (found.amount_asked, found.amount_awarded) == (1_200_000, 1_000_001)
    assert (found.decided_by_id, found.decided_at) == (world.opener.id, NOW)
    grant = grant_of(db, application)
    assert [(t.due_date, t.amount) for t in grant.tranches] == [
        (date(2026, 4, 1), 500_001),
        (date(2026, 9, 1), 500_000),
    ]
    assert sum(t.amount for t in grant.tranches) == grant.amount == 1_000_001
    (event,) = events(db, "application.award")
    assert json.loads(event.after) == {
        "state": "awarded",
        "amount": 1_000_001,
        "asked": 1_200_000,
        "grant": grant.id,
    }
    assert [e.object_id for e in events(db, "grant.create")] == [grant.id]


def test_three_equal_tranches_scaled_to_a_hundred_give_the_odd_cent_to_the_first(
    world: Portal, db: Session, round_id: int
) -> None:
    application = applied(
        world,
        round_id,
        tranches=[
            Instalment(date(2026, 4, 1), "4,000.00"),
            Instalment(date(2026, 7, 1), "4,000.00"),
            Instalment(date(2026, 10, 1), "4,000.00"),
        ],
    )
    award(world, application, "100.00")
    assert [t.amount for t in grant_of(db, application).tranches] == [3_334, 3_333, 3_333]


def test_an_award_of_the_amount_asked_keeps_the_schedule(
    world: Portal, db: Session, round_id: int
) -> None:
    application = applied(
        world,
        round_id,
        tranches=[
            Instalment(date(2026, 4, 1), "7,000.01"),
            Instalment(date(2026, 9, 1), "4,999.99"),
        ],
    )
    award(world, application, "12,000.00")
    assert [t.amount for t in grant_of(db, application).tranches] == [700_001, 499_999]


def test_the_draft_grant_is_the_application_s_and_each_later_tranche_waits_for_a_report(
    world: Portal, db: Session, round_id: int
) -> None:
    application = applied(
        world,
        round_id,
        purpose="Wellness tents at three festivals.",
        category="services",
        tranches=[
            Instalment(date(2026, 12, 1), "4,000.00"),
            Instalment(date(2026, 4, 1), "4,000.00"),
            Instalment(date(2026, 9, 1), "4,000.00"),
        ],
        reports=[
            ReportDue("Final report", date(2026, 12, 31)),
            ReportDue("Start-up report", date(2026, 3, 20)),
            ReportDue("Mid-year report", date(2026, 9, 1)),
            ReportDue("Autumn report", date(2026, 10, 1)),
        ],
    )
    award(world, application, "12,000.00")
    grant = grant_of(db, application)
    assert (grant.fund_id, grant.partner_id, grant.currency) == (
        world.fund.id,
        world.backline.id,
        "USD",
    )
    assert (grant.purpose, grant.category, grant.amount) == (
        "Wellness tents at three festivals.",
        GrantCategory.SERVICES,
        1_200_000,
    )
    assert (grant.status, grant.created_by_id) == (GrantStatus.DRAFT, world.opener.id)
    titles = {report.id: report.title for report in grant.reports}
    assert [(r.title, r.due_date) for r in grant.reports] == [
        ("Start-up report", date(2026, 3, 20)),
        ("Mid-year report", date(2026, 9, 1)),
        ("Autumn report", date(2026, 10, 1)),
        ("Final report", date(2026, 12, 31)),
    ]
    waits = [
        (t.due_date, titles.get(t.release_after_id) if t.release_after_id else None)
        for t in grant.tranches
    ]
    assert waits == [
        (date(2026, 4, 1), None),  # the first tranche never waits
        (date(2026, 9, 1), "Mid-year report"),  # due on the tranche's own date
        (date(2026, 12, 1), "Autumn report"),  # the final report comes after it
    ]


def test_a_later_tranche_with_no_report_before_it_waits_for_none(
    world: Portal, db: Session, round_id: int
) -> None:
    application = applied(
        world,
        round_id,
        tranches=[
            Instalment(date(2026, 4, 1), "6,000.00"),
            Instalment(date(2026, 5, 1), "6,000.00"),
        ],
        reports=[ReportDue("Mid-year report", date(2026, 8, 15))],
    )
    award(world, application, "12,000.00")
    assert [t.release_after_id for t in grant_of(db, application).tranches] == [None, None]


def test_the_awarding_manager_cannot_approve_the_grant_but_another_can(
    world: Portal, db: Session, round_id: int
) -> None:
    application = applied(world, round_id)
    award(world, application, "12,000.00")
    grant = grant_of(db, application)
    submit_grant(db, key=world.key(), actor=world.reviewer, grant_id=grant.id, now=NOW)
    for author in (world.opener, world.reviewer):
        refused(
            db,
            NotAllowed,
            "Grants need four eyes",
            lambda author=author: approve_grant(
                db, key=world.key(), actor=author, grant_id=grant.id, now=NOW
            ),
        )
    approve_grant(db, key=world.key(), actor=world.second, grant_id=grant.id, now=NOW)
    grant = grant_of(db, application)
    assert (grant.status, grant.decided_by_id) == (GrantStatus.APPROVED, world.second.id)


def test_a_conflicted_manager_cannot_decide(world: Portal, db: Session, round_id: int) -> None:
    application = applied(world, round_id)
    reviews.declare(
        db,
        actor=world.reviewer,
        application_id=application.id,
        conflicted=True,
        note="Former employee",
        now=NOW,
    )
    message = "You declared a conflict of interest with this application."
    refused(db, NotAllowed, message, lambda: award(world, application, "12,000.00", world.reviewer))
    refused(db, NotAllowed, message, lambda: decline(world, application, "No", world.reviewer))
    found = stored(db, application.id)
    assert (found.state, found.grant_id) == (ApplicationState.SUBMITTED, None)
    reviews.declare(
        db,
        actor=world.second,
        application_id=application.id,
        conflicted=False,
        note="",
        now=NOW,
    )
    award(world, application, "12,000.00", world.second)
    assert stored(db, application.id).decided_by_id == world.second.id


def test_an_award_is_at_most_the_round_s_most(world: Portal, db: Session, round_id: int) -> None:
    application = applied(world, round_id)
    error = refused(
        db,
        InvalidInput,
        "This round gives at most $20,000.00 to one application.",
        lambda: award(world, application, "20,000.01"),
    )
    assert getattr(error, "field", None) == "amount"
    for typed, message in (("0.00", "greater than zero"), ("ten", "Enter an amount in figures")):
        refused(db, InvalidInput, message, lambda typed=typed: award(world, application, typed))
    assert count(db, Grant) == 0
    award(world, application, "20,000.00")
    assert [t.amount for t in grant_of(db, application).tranches] == [1_000_000, 1_000_000]


def test_an_award_too_small_for_every_tranche_to_get_a_cent_is_refused(
    world: Portal, db: Session, round_id: int
) -> None:
    application = applied(world, round_id)
    refused(db, InvalidInput, "greater than zero", lambda: award(world, application, "0.01"))
    assert stored(db, application.id).state is ApplicationState.SUBMITTED
    award(world, application, "0.02")
    assert [t.amount for t in grant_of(db, application).tranches] == [1, 1]


def test_a_decline_needs_a_reason(world: Portal, db: Session, round_id: int) -> None:
    application = applied(world, round_id)
    for reason in ("", "   "):
        refused(
            db,
            InvalidInput,
            "Enter the reason.",
            lambda reason=reason: decline(world, application, reason),
        )
    decline(world, application, "  The round was oversubscribed. ")
    found = stored(db, application.id)
    assert found.state is ApplicationState.DECLINED
    assert found.decision_reason == "The round was oversubscribed."
    assert (found.grant_id, found.amount_awarded) == (None, None)
    assert (found.decided_by_id, found.decided_at) == (world.opener.id, NOW)
    assert count(db, Grant) == 0
    (event,) = events(db, "application.decline")
    assert json.loads(event.after) == {
        "state": "declined",
        "reason": "The round was oversubscribed.",
    }


def test_an_application_is_decided_once(world: Portal, db: Session, round_id: int) -> None:
    awarded = applied(world, round_id)
    award(world, awarded, "12,000.00")
    message = "This application was awarded; it was decided already."
    refused(db, InvalidState, message, lambda: decline(world, awarded, "Changed my mind"))
    refused(db, InvalidState, message, lambda: award(world, awarded, "12,000.00", world.second))
    assert count(db, Grant) == 1

    declined = applied(world, round_id, world.musicares_person)
    decline(world, declined, "Out of scope")
    message = "This application was declined; it was decided already."
    refused(db, InvalidState, message, lambda: award(world, declined, "12,000.00"))
    refused(db, InvalidState, message, lambda: decline(world, declined, "Again"))
    assert count(db, Grant) == 1
    assert stored(db, declined.id).decision_reason == "Out of scope"


def test_a_withdrawn_application_is_not_decided(world: Portal, db: Session, round_id: int) -> None:
    application = applied(world, round_id)
    applications.withdraw_application(
        db, actor=world.backline_person, application_id=application.id, now=NOW
    )
    refused(
        db,
        InvalidState,
        "This application was withdrawn",
        lambda: award(world, application, "12,000.00"),
    )
    assert count(db, Grant) == 0


def test_an_award_replayed_with_its_key_drafts_one_grant(
    world: Portal, db: Session, round_id: int
) -> None:
    application = applied(world, round_id)
    first = awards.award(
        db,
        key="award-1",
        actor=world.opener,
        application_id=application.id,
        amount="9,000.00",
        now=NOW,
    )
    again = awards.award(
        db,
        key="award-1",
        actor=world.opener,
        application_id=application.id,
        amount="9,000",
        now=NOW,
    )
    assert again.replayed
    assert again.object_id == first.object_id == application.id
    assert count(db, Grant) == 1
    assert count(db, Tranche) == 2


def test_the_partner_s_people_are_told_the_decision(
    world: Portal, db: Session, round_id: int
) -> None:
    colleague = world.person(world.backline)
    former = world.person(world.backline)
    former.active = False
    db.flush()
    awarded = applied(world, round_id)
    award(world, awarded, "10,000.00")
    declined = applied(world, round_id, world.musicares_person)
    decline(world, declined, "Out of scope")
    told = db.execute(
        select(Notification.user_id, Notification.event_key, Notification.title)
        .where(Notification.kind == "application.decided")
        .order_by(Notification.id)
    ).all()
    assert [(row.user_id, row.event_key) for row in told] == [
        (world.backline_person.id, f"application:{awarded.id}"),
        (colleague.id, f"application:{awarded.id}"),
        (world.musicares_person.id, f"application:{declined.id}"),
    ]
    assert told[0].title == "Your application to Therapy access 2026 was awarded"
    assert told[2].title == "Your application to Therapy access 2026 was not funded"
    assert "Out of scope" not in " ".join(
        db.scalars(select(Notification.body).where(Notification.kind == "application.decided"))
    )


@settings(max_examples=500, deadline=None, database=None)
@given(
    amounts=st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=24),
    total=st.integers(min_value=1, max_value=10**10),
)
@example(amounts=[600_000, 600_000], total=1_000_001)
@example(amounts=[1, 1, 1], total=100)
@example(amounts=[1, 999_998, 1], total=100)
@example(amounts=[5], total=5)
def test_scale_schedule_adds_up_and_keeps_each_share_within_a_unit(
    amounts: list[int], total: int
) -> None:
    scaled = awards.scale_schedule(amounts, total)
    assert len(scaled) == len(amounts)
    assert sum(scaled) == total
    whole = sum(amounts)
    for amount, share in zip(amounts, scaled, strict=True):
        exact = Fraction(amount * total, whole)
        assert abs(share - exact) < 1
        assert share >= 0
    if whole == total:
        assert scaled == amounts


def test_scale_schedule_examples() -> None:
    assert awards.scale_schedule([600_000, 600_000], 1_000_001) == [500_001, 500_000]
    assert awards.scale_schedule([400_000] * 3, 10_000) == [3_334, 3_333, 3_333]
    assert awards.scale_schedule([1, 2], 4) == [1, 3], "the larger remainder takes the unit"
    assert awards.scale_schedule([], 100) == []
