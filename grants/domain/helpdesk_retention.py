"""The help desk's timed work, run by the periodic worker: telling navigators of requests
past their service levels, and erasing personal data once it has been kept long enough.

- An urgent request not picked up within 4 hours of arriving, and any request without a
  first answer 2 working days (the partner's) after arriving, are overdue: the partner's
  navigators are told once (:func:`alert_overdue`), and the queue shows them as overdue.
- A closed request's personal data is erased once it has been closed for the retention
  period, 90 days unless ``HELPDESK_RETENTION_DAYS`` says otherwise (:func:`sweep`); a
  request left open with its thread silent for as long is closed first, as no reply from
  the requester (:func:`close_abandoned`), so nothing is kept for ever by being forgotten. The
  sweep reads only the stored closing time, so after a backup is restored the next sweep
  erases again whatever the backup held past its time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from grants.domain import audit
from grants.domain.helpdesk import erase
from grants.domain.helpdesk_notices import tell_navigators_overdue
from grants.models import HelpRequest, HelpState, Outcome, Role, User, UserRole

RETENTION_DAYS = 90
"""How long a closed request's personal data is kept, unless configured otherwise."""
SWEEP_BATCH = 500
"""Requests one sweep erases at most; the next run takes the rest."""


def alert_overdue(session: Session, *, now: datetime) -> int:
    """Tell the navigators of each request that has just become overdue, once per deadline
    (a guarded update marks it told). A desk with no active navigator is not marked told,
    so its requests are told of as soon as someone works there. Returns how many deadlines
    were told of."""
    told = 0
    for what, due, alerted, met in (
        (
            "pickup",
            HelpRequest.pickup_due_at,
            HelpRequest.pickup_alerted_at,
            HelpRequest.picked_up_at,
        ),
        (
            "answer",
            HelpRequest.answer_due_at,
            HelpRequest.answer_alerted_at,
            HelpRequest.first_answered_at,
        ),
    ):
        staffed = (
            select(User.id)
            .join(UserRole, UserRole.user_id == User.id)
            .where(
                User.partner_id == HelpRequest.partner_id,
                User.active,
                UserRole.role == Role.NAVIGATOR,
            )
            .exists()
        )
        ids = session.scalars(
            update(HelpRequest)
            .where(
                HelpRequest.state != HelpState.CLOSED,
                due <= now,
                met.is_(None),
                alerted.is_(None),
                staffed,
            )
            .values({alerted.key: now})
            .returning(HelpRequest.id)
            .execution_options(synchronize_session=False)
        ).all()
        for request_id in sorted(ids):
            tell_navigators_overdue(session, session.get_one(HelpRequest, request_id), what=what)
            told += 1
    return told


@dataclass(frozen=True)
class Swept:
    """What one run of the help desk's timed work did."""

    alerted: int
    erased: int
    abandoned: int = 0


def sweep(session: Session, *, now: datetime, retention_days: int = RETENTION_DAYS) -> int:
    """Erase the personal data of requests closed at least ``retention_days`` ago (at most
    :data:`SWEEP_BATCH` a run). Returns how many were erased."""
    before = now - timedelta(days=retention_days)
    due = session.scalars(
        select(HelpRequest.id)
        .where(
            HelpRequest.state == HelpState.CLOSED,
            HelpRequest.closed_at <= before,
            HelpRequest.erased_at.is_(None),
        )
        .order_by(HelpRequest.closed_at, HelpRequest.id)
        .limit(SWEEP_BATCH)
    ).all()
    return sum(
        erase(session, request_id, now=now, actor_id=None, why="retention") for request_id in due
    )


def close_abandoned(
    session: Session, *, now: datetime, retention_days: int = RETENTION_DAYS
) -> int:
    """Close, as no reply from the requester, each open request whose thread has been
    silent for ``retention_days``: its personal data is then erased ``retention_days``
    later, like any closed request's, rather than kept for as long as nobody closes it.
    Returns how many were closed."""
    silent = now - timedelta(days=retention_days)
    ids = session.scalars(
        update(HelpRequest)
        .where(
            HelpRequest.state != HelpState.CLOSED,
            HelpRequest.last_message_at <= silent,
            HelpRequest.erased_at.is_(None),
        )
        .values(state=HelpState.CLOSED, outcome=Outcome.NO_REPLY, closed_at=now)
        .returning(HelpRequest.id)
        .execution_options(synchronize_session=False)
    ).all()
    if not ids:
        return 0
    audit.record_all(
        session,
        [
            audit.Event(
                actor_id=None,
                action="help_request.closed",
                object_type="help_request",
                object_id=request_id,
                after={"state": "closed", "outcome": Outcome.NO_REPLY.value, "why": "silent"},
            )
            for request_id in sorted(ids)
        ],
    )
    return len(ids)


def timed_work(session: Session, *, now: datetime, retention_days: int = RETENTION_DAYS) -> Swept:
    """The periodic task: overdue alerts, requests long silent closed, then the retention
    sweep."""
    alerted = alert_overdue(session, now=now)
    abandoned = close_abandoned(session, now=now, retention_days=retention_days)
    return Swept(
        alerted=alerted,
        erased=sweep(session, now=now, retention_days=retention_days),
        abandoned=abandoned,
    )
