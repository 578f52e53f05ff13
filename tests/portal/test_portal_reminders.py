"""The partner portal's reminders: a report due in 14 days, in 3 and overdue, and a round
closing within 3 days while an organisation has a draft; each once, to the organisation's
people only."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain.reminders import send_reminders
from grants.models import Notification, ReportState
from tests.portal.portal_world import NOW, Portal, progress


def kinds_of(db: Session, user_id: int) -> list[tuple[str, str]]:
    return [
        (n.kind, n.event_key)
        for n in db.scalars(
            select(Notification).where(Notification.user_id == user_id).order_by(Notification.id)
        )
    ]


def partner_kinds(db: Session, user_id: int) -> list[str]:
    return [
        key
        for kind, key in kinds_of(db, user_id)
        if kind in ("progress.due", "progress.overdue", "round.closing")
    ]


def test_a_report_is_reminded_at_14_days_at_3_and_when_overdue_once_each(db: Session) -> None:
    world = Portal(db)
    application = world.apply(world.open_round(), world.backline_person)
    grant = world.award_and_approve(application)
    requirement = grant.reports[0]
    assert str(requirement.due_date) == "2026-08-15"
    person = world.backline_person.id

    send_reminders(db, now=datetime(2026, 7, 31, 12, tzinfo=UTC))
    assert partner_kinds(db, person) == []
    send_reminders(db, now=datetime(2026, 8, 1, 12, tzinfo=UTC))
    send_reminders(db, now=datetime(2026, 8, 1, 13, tzinfo=UTC))
    assert partner_kinds(db, person) == [f"progress-due:{requirement.id}:14"]
    send_reminders(db, now=datetime(2026, 8, 12, 12, tzinfo=UTC))
    assert partner_kinds(db, person)[-1] == f"progress-due:{requirement.id}:3"
    send_reminders(db, now=datetime(2026, 8, 16, 12, tzinfo=UTC))
    send_reminders(db, now=datetime(2026, 8, 17, 12, tzinfo=UTC))
    assert partner_kinds(db, person) == [
        f"progress-due:{requirement.id}:14",
        f"progress-due:{requirement.id}:3",
        f"progress-overdue:{requirement.id}",
    ]
    assert partner_kinds(db, world.musicares_person.id) == []


def test_a_submitted_report_is_not_reminded(db: Session) -> None:
    world = Portal(db)
    application = world.apply(world.open_round(), world.backline_person)
    grant = world.award_and_approve(application)
    requirement = grant.reports[0]
    progress.save_version(
        db,
        actor=world.backline_person,
        requirement_id=requirement.id,
        content=progress.ReportContent(narrative="Done early."),
        now=NOW,
    )
    progress.submit_version(
        db, key="early", actor=world.backline_person, requirement_id=requirement.id, now=NOW
    )
    db.refresh(requirement)
    assert requirement.state is ReportState.SUBMITTED
    send_reminders(db, now=datetime(2026, 8, 16, 12, tzinfo=UTC))
    assert partner_kinds(db, world.backline_person.id) == []


def test_a_round_closing_is_reminded_to_organisations_with_a_draft_only(db: Session) -> None:
    world = Portal(db)
    round_id = world.open_round()
    world.apply(round_id, world.backline_person, submit=False)
    world.apply(round_id, world.musicares_person)
    closes = datetime(2026, 3, 31, 21, tzinfo=UTC)
    send_reminders(db, now=datetime(2026, 3, 28, 20, 59, tzinfo=UTC))
    assert partner_kinds(db, world.backline_person.id) == []
    send_reminders(db, now=datetime(2026, 3, 28, 21, tzinfo=UTC))
    send_reminders(db, now=datetime(2026, 3, 30, 9, tzinfo=UTC))
    assert partner_kinds(db, world.backline_person.id) == [f"round-closing:{round_id}"]
    assert partner_kinds(db, world.musicares_person.id) == []
    send_reminders(db, now=closes)
    assert len(partner_kinds(db, world.backline_person.id)) == 1
