"""The hash-chained audit trail: appending events and verifying the chain."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grants.models import AuditEvent, AuditHead

GENESIS_HASH = "0" * 64


def _canonical(value: Mapping[str, object]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def event_hash(event: AuditEvent) -> str:
    """The SHA-256 of every field of ``event`` but its own hash, and of the previous hash."""
    occurred = event.occurred_at.astimezone(UTC).isoformat(timespec="microseconds")
    payload = [
        event.seq,
        occurred,
        event.actor_id,
        event.action,
        event.object_type,
        event.object_id,
        event.before,
        event.after,
        event.prev_hash,
    ]
    return hashlib.sha256(json.dumps(payload, separators=(",", ":")).encode()).hexdigest()


def _locked_head(session: Session) -> AuditHead:
    query = (
        select(AuditHead)
        .where(AuditHead.id == 1)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    head = session.scalar(query)
    if head is not None:
        return head
    try:
        with session.begin_nested():
            session.add(AuditHead(id=1, seq=0, last_hash=GENESIS_HASH))
    except IntegrityError:
        pass
    head = session.scalar(query)
    assert head is not None
    return head


def record(
    session: Session,
    *,
    actor_id: int | None,
    action: str,
    object_type: str,
    object_id: int | None,
    before: Mapping[str, object] | None = None,
    after: Mapping[str, object] | None = None,
) -> AuditEvent:
    """Append one event to the chain.

    The chain's head row is locked until the transaction ends, so events are appended one
    at a time; operations call this last, to keep that lock short.
    """
    head = _locked_head(session)
    event = AuditEvent(
        seq=head.seq + 1,
        occurred_at=datetime.now(UTC),
        actor_id=actor_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=_canonical(before or {}),
        after=_canonical(after or {}),
        prev_hash=head.last_hash,
    )
    event.hash = event_hash(event)
    head.seq = event.seq
    head.last_hash = event.hash
    session.add(event)
    session.flush()
    return event


def verify_chain(session: Session, *, batch_size: int = 5000) -> list[str]:
    """Every break in the chain, as a sentence; an empty list means the chain is intact."""
    problems: list[str] = []
    expected_seq, previous_hash = 1, GENESIS_HASH
    last_seen = 0
    while True:
        events = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.seq > last_seen)
            .order_by(AuditEvent.seq)
            .limit(batch_size)
        ).all()
        if not events:
            break
        for event in events:
            if event.seq != expected_seq:
                problems.append(f"events {expected_seq} to {event.seq - 1} are missing")
            elif event.prev_hash != previous_hash:
                problems.append(f"event {event.seq} does not follow the event before it")
            if event_hash(event) != event.hash:
                problems.append(f"event {event.seq} ({event.action}) was altered")
            expected_seq, previous_hash = event.seq + 1, event.hash
            last_seen = event.seq
            session.expunge(event)
    head = session.get(AuditHead, 1)
    if head is not None and (head.seq != expected_seq - 1 or head.last_hash != previous_hash):
        problems.append(
            f"the chain ends at event {expected_seq - 1} but its head names event {head.seq}: "
            "events at the end were removed"
        )
    return problems
