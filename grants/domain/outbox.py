"""The transactional outbox: what an operation must send is written in its own transaction.

An operation that must tell someone something (a gift's claim link, today) calls
:func:`record` beside its postings. The row is flushed, never committed: it commits with the
operation or, if the operation rolls back, disappears with it, so a refused or failed
operation sends nothing. After the commit, the entry point wakes the worker
(:func:`grants.outbox.wake`), and the worker delivers (:mod:`grants.outbox`); a periodic task
catches anything a wake missed.

Delivering one message takes three short transactions, none of them open while mail is sent:

1. :func:`claim_next` takes a due message under a lease (``leased_until``) and counts the
   attempt; the lease is committed before anything is sent, so no other worker takes it;
2. the message is sent;
3. :func:`mark_sent` marks it sent (and clears its payload), or :func:`retry_later` puts it
   back with a longer wait, or marks it failed after the last attempt allowed.

A message marked sent is never taken again. A worker killed between 1 and 3 leaves the
message pending and leased: once the lease runs out, another worker sends it once more (and
``attempts`` caps how often that can happen). So a message goes out at least once and, after
a crash at the worst moment, at most once more. That second copy is the same message: every
delivery carries the same Message-ID, made from the row's ``event_id``, by which mail systems
that drop duplicates (Gmail does) recognise a copy of a message they already hold, and the
embedded outbox folder keeps one file per event, which a second delivery overwrites. Exactly
once is more than SMTP can promise: a mail client that does not drop duplicates shows both.

The payload holds what rendering needs at delivery, a claim link's token included. That token
is a bearer secret, so the payload is cleared as soon as the message is sent, given up on or
dropped, and no log line carries it, except the one that shows the link when emails go to
the embedded outbox folder (a machine that sends no mail, where that line is the way out).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, event, insert, or_, select, update
from sqlalchemy.orm import Session

from grants.domain.paging import Page, paginate
from grants.domain.statements import Prepared
from grants.models import OutboxMessage, OutboxState

CLAIM_LINK = "gift.claim_link"
"""The email that gives a gift's recipient the link to claim it; payload ``gift``, ``token``."""

RECORDED = "grants.outbox.recorded"
"""The key, in ``Session.info``, set while the open transaction has recorded messages."""
COMMITTED = "grants.outbox.committed"
"""The key, in ``Session.info``, set once such a transaction has committed, until a wake."""

LONGEST_WAIT = timedelta(hours=1)
"""The longest wait between two attempts."""

ERROR_LENGTH = 200
"""The longest ``last_error`` kept."""
NEW_MESSAGE = Prepared(
    insert(OutboxMessage).values(
        {
            name: bindparam(name)
            for name in (
                "event_id",
                "kind",
                "payload",
                "state",
                "attempts",
                "created_at",
                "next_attempt_at",
                "recipient",
            )
        }
    )
)
"""Built once: a message is written beside a gift's postings, on the gift's hot path."""
CLAIM_TRIES = 3
"""Due rows tried before a worker leaves the rest to the next pass (others took them)."""


@dataclass(frozen=True)
class Claimed:
    """A message taken for delivery: what the worker needs, read when it was taken."""

    id: int
    event_id: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    """Deliveries begun, this one included."""
    created_at: datetime


def record(
    session: Session,
    *,
    kind: str,
    payload: Mapping[str, object],
    now: datetime,
    to: str | None = None,
) -> str:
    """Add a message to the outbox in the caller's transaction (written, never committed);
    returns its ``event_id``.

    The ``event_id`` is new: the key by which every delivery of the message is known. The
    message is due at once. ``payload`` must be JSON; it is kept only until the message
    leaves the outbox. A savepoint rolled back after this (an idempotent replay) takes the
    row with it but leaves the session's note that something was recorded: the wake then
    finds nothing, harmlessly.
    """
    event_id = str(uuid.uuid4())
    NEW_MESSAGE.run(
        session,
        {
            "event_id": event_id,
            "kind": kind,
            "payload": json.dumps(payload, sort_keys=True, separators=(",", ":")),
            "state": OutboxState.PENDING.value,
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
            "recipient": to,
        },
    )
    session.info[RECORDED] = True
    return event_id


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    """The note moves on when the whole transaction commits, not when a savepoint does."""
    if not session.in_nested_transaction() and session.info.pop(RECORDED, False):
        session.info[COMMITTED] = True


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(RECORDED, None)


def committed_since_wake(session: Session) -> bool:
    """Whether a transaction of ``session`` that recorded messages has committed since the
    last call; the call takes the news, so the next one answers false until another does."""
    return bool(session.info.pop(COMMITTED, False))


def claim_next(session: Session, *, now: datetime, lease: timedelta) -> Claimed | None:
    """Take the next due message under a lease that ends at ``now + lease``, counting the
    attempt; ``None`` when nothing is due. The caller commits before sending.

    Due means pending, its next attempt not in the future and no lease running. The row is
    read with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite's write transactions run one at
    a time), and taken with an update that repeats the conditions, so two workers never hold
    one message at once.
    """
    due = (
        select(
            OutboxMessage.id,
            OutboxMessage.event_id,
            OutboxMessage.kind,
            OutboxMessage.payload,
            OutboxMessage.attempts,
            OutboxMessage.created_at,
        )
        .where(
            OutboxMessage.state == OutboxState.PENDING,
            OutboxMessage.next_attempt_at <= now,
            or_(OutboxMessage.leased_until.is_(None), OutboxMessage.leased_until <= now),
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    for _ in range(CLAIM_TRIES):
        row = session.execute(due).one_or_none()
        if row is None:
            return None
        taken = session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == row.id,
                OutboxMessage.state == OutboxState.PENDING,
                or_(OutboxMessage.leased_until.is_(None), OutboxMessage.leased_until <= now),
            )
            .values(leased_until=now + lease, attempts=OutboxMessage.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        if getattr(taken, "rowcount", 0) == 1:
            return Claimed(
                id=row.id,
                event_id=row.event_id,
                kind=row.kind,
                payload=json.loads(row.payload or "{}"),
                attempts=row.attempts + 1,
                created_at=row.created_at,
            )
    return None


def mark_sent(session: Session, message_id: int, *, now: datetime) -> bool:
    """Mark a message sent and clear its payload; false if it was no longer pending."""
    return _finish(session, message_id, OutboxState.SENT, now=now, error=None)


def drop(session: Session, message_id: int, *, now: datetime) -> bool:
    """Mark a message as having nothing left to send, and clear its payload."""
    return _finish(session, message_id, OutboxState.DROPPED, now=now, error=None)


def give_up(session: Session, message_id: int, *, now: datetime, error: str) -> bool:
    """Mark a message failed for good, and clear its payload."""
    return _finish(session, message_id, OutboxState.FAILED, now=now, error=error)


def backoff(attempts: int, first: timedelta) -> timedelta:
    """The wait after the ``attempts``-th failed delivery: ``first``, then twice as long each
    time, never more than :data:`LONGEST_WAIT`."""
    wait: timedelta = first * 2 ** max(0, min(attempts - 1, 20))
    return min(wait, max(first, LONGEST_WAIT))


def retry_later(
    session: Session,
    claimed: Claimed,
    *,
    now: datetime,
    error: str,
    first_wait: timedelta,
    max_attempts: int,
) -> OutboxState:
    """After a failed delivery: wait (:func:`backoff`) and try again, or, when ``claimed``
    was the last attempt allowed, give up. Returns the state the message is left in."""
    if claimed.attempts >= max_attempts:
        give_up(session, claimed.id, now=now, error=error)
        return OutboxState.FAILED
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == claimed.id, OutboxMessage.state == OutboxState.PENDING)
        .values(
            next_attempt_at=now + backoff(claimed.attempts, first_wait),
            leased_until=None,
            last_error=error[:ERROR_LENGTH],
        )
        .execution_options(synchronize_session=False)
    )
    return OutboxState.PENDING


def _finish(
    session: Session, message_id: int, state: OutboxState, *, now: datetime, error: str | None
) -> bool:
    values: dict[str, object] = {"state": state, "payload": None, "leased_until": None}
    if state is OutboxState.SENT:
        values["sent_at"] = now
    if error is not None:
        values["last_error"] = error[:ERROR_LENGTH]
    done = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.state == OutboxState.PENDING)
        .values(values)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(done, "rowcount", 0) == 1)


def undelivered(session: Session, *, page: int) -> Page[OutboxMessage]:
    """The messages given up on after the last attempt allowed, newest first, a page at a
    time: what the admins' list of messages not delivered shows."""
    return paginate(
        session,
        select(OutboxMessage)
        .where(OutboxMessage.state == OutboxState.FAILED)
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()),
        page,
    )
