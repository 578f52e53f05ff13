"""The partner portal's reminders, sent by the hourly reminder task
(:func:`grants.domain.reminders.send_reminders`):

- a partner organisation's people, when one of its grants' reports is due within 14 days,
  again within 3 days, and once it is overdue (until it is submitted; again after a manager
  asks for changes, while it stays unsubmitted);
- the people of an organisation with a draft application, when its round closes within
  3 days.

Each is a notification with an event key, so a run repeated, or on two workers at once,
tells nobody anything twice. Days are the person's own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain.notifications import (
    PROGRESS_DUE,
    PROGRESS_OVERDUE,
    ROUND_CLOSING,
    Notice,
    notify,
)
from grants.domain.portal_notices import partner_people
from grants.domain.progress import WRITABLE
from grants.domain.rounds import closing_words
from grants.models import (
    Application,
    ApplicationState,
    FundingRound,
    Grant,
    GrantStatus,
    ReportingRequirement,
)

if TYPE_CHECKING:
    from grants.domain.reminders import Person

DUE_SOON = 14
DUE_NOW = 3
ROUND_CLOSING_WITHIN = timedelta(days=3)


def progress_reminders(
    session: Session, now: datetime, people: Callable[[Session, set[int]], dict[int, Person]]
) -> tuple[int, int]:
    """Tell partner people of reports due soon and overdue; (due, overdue) notices made.
    ``people`` gives each person's day and way of writing dates
    (:func:`grants.domain.reminders.people`)."""
    rows = session.execute(
        select(
            ReportingRequirement.id,
            ReportingRequirement.title,
            ReportingRequirement.due_date,
            Grant.partner_id,
        )
        .join(Grant, Grant.id == ReportingRequirement.grant_id)
        .where(
            Grant.status.in_((GrantStatus.APPROVED, GrantStatus.ACTIVE)),
            ReportingRequirement.state.in_(WRITABLE),
            ReportingRequirement.due_date <= (now + timedelta(days=DUE_SOON + 1)).date(),
        )
        .order_by(ReportingRequirement.id)
    ).all()
    staff = partner_people(session, {row.partner_id for row in rows})
    told = people(session, {user_id for ids in staff.values() for user_id in ids})
    due: list[Notice] = []
    overdue: list[Notice] = []
    for row in rows:
        for user_id in staff[row.partner_id]:
            person = told[user_id]
            days_left = (row.due_date - person.today(now)).days
            when = person.day(row.due_date)
            link = f"/partner/reports/{row.id}"
            if days_left < 0:
                overdue.append(
                    Notice(
                        user_id=user_id,
                        kind=PROGRESS_OVERDUE,
                        event_key=f"progress-overdue:{row.id}",
                        title=f"“{row.title}” is overdue",
                        body=f"“{row.title}” was due on {when}. Write it and submit it online.",
                        link=link,
                    )
                )
            elif days_left <= DUE_SOON:
                window = DUE_NOW if days_left <= DUE_NOW else DUE_SOON
                due.append(
                    Notice(
                        user_id=user_id,
                        kind=PROGRESS_DUE,
                        event_key=f"progress-due:{row.id}:{window}",
                        title=f"“{row.title}” is due on {when}",
                        body=(
                            f"“{row.title}” is due on {when}. You can start writing it now; "
                            "it is saved as you go."
                        ),
                        link=link,
                    )
                )
    return len(notify(session, due)), len(notify(session, overdue))


def closing_reminders(session: Session, now: datetime) -> int:
    """Tell the people of organisations with a draft that its round closes within 3 days."""
    drafts = session.execute(
        select(Application.id, Application.partner_id, FundingRound)
        .join(FundingRound, FundingRound.id == Application.round_id)
        .where(
            Application.state == ApplicationState.DRAFT,
            FundingRound.closes_at > now,
            FundingRound.closes_at <= now + ROUND_CLOSING_WITHIN,
        )
        .order_by(Application.id)
    ).all()
    staff = partner_people(session, {row.partner_id for row in drafts})
    notices = [
        Notice(
            user_id=user_id,
            kind=ROUND_CLOSING,
            event_key=f"round-closing:{funding_round.id}",
            title=f"{funding_round.title} closes on {closing_words(funding_round)}",
            body=(
                "Your organisation's application is still a draft. Submit it before the round "
                "closes: after that it can no longer be sent."
            ),
            link=f"/partner/applications/{application_id}",
        )
        for application_id, partner_id, funding_round in drafts
        for user_id in staff[partner_id]
    ]
    return len(notify(session, notices))
