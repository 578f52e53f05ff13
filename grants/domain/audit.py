"""The hash-chained audit trail: appending events and verifying the chain."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grants import clock
from grants.domain.statements import Prepared
from grants.models import AuditEvent, AuditHead

GENESIS_HASH = "0" * 64


def _canonical(value: Mapping[str, object]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def event_hash(event: AuditEvent) -> str:
    """The SHA-256 of every field of ``event`` but its own hash, and of the previous hash."""
    return chain_hash({name: getattr(event, name) for name in HASHED_FIELDS})


HASHED_FIELDS = (
    "seq",
    "occurred_at",
    "actor_id",
    "action",
    "object_type",
    "object_id",
    "before",
    "after",
    "prev_hash",
)


def chain_hash(fields: Mapping[str, Any]) -> str:
    """The hash an event with these :data:`HASHED_FIELDS` carries in the chain."""
    payload = [fields[name] for name in HASHED_FIELDS]
    payload[1] = fields["occurred_at"].astimezone(UTC).isoformat(timespec="microseconds")
    return hashlib.sha256(json.dumps(payload, separators=(",", ":")).encode()).hexdigest()


_heads: Table = AuditHead.__table__  # type: ignore[assignment]
_events: Table = AuditEvent.__table__  # type: ignore[assignment]
_ADVANCE = Prepared(
    update(_heads)
    .where(_heads.c.id == 1)
    .values(seq=_heads.c.seq + bindparam("count"))
    .returning(_heads.c.seq, _heads.c.last_hash)
)
_APPEND = Prepared(
    insert(_events).values({name: bindparam(name) for name in (*HASHED_FIELDS, "hash")})
)
_MOVE_HEAD = Prepared(
    update(_heads).where(_heads.c.id == 1).values(last_hash=bindparam("new_hash"))
)


def _advance_head(session: Session, count: int) -> tuple[int, str]:
    """Take the next ``count`` sequence numbers, returning the first and the hash it chains
    to, and lock the chain's head until the transaction ends (the head row is created on
    first use)."""
    row = _ADVANCE.run(session, {"count": count}).fetchone()
    if row is None:
        try:
            with session.begin_nested():
                session.execute(insert(_heads).values(id=1, seq=0, last_hash=GENESIS_HASH))
        except IntegrityError:
            pass
        row = _ADVANCE.run(session, {"count": count}).fetchone()
    last_seq, last_hash = row
    return last_seq - count + 1, last_hash


@dataclass(frozen=True)
class Event:
    """One event to append with :func:`record_all`: what :func:`record` takes."""

    actor_id: int | None
    action: str
    object_type: str
    object_id: int | None
    before: Mapping[str, object] | None = None
    after: Mapping[str, object] | None = None


def record(
    session: Session,
    *,
    actor_id: int | None,
    action: str,
    object_type: str,
    object_id: int | None,
    before: Mapping[str, object] | None = None,
    after: Mapping[str, object] | None = None,
) -> int:
    """Append one event to the chain and return its sequence number.

    The chain's head row is locked until the transaction ends, so events are appended one
    at a time; operations call this last, to keep that lock short and always taken last.
    """
    return record_all(session, [Event(actor_id, action, object_type, object_id, before, after)])


def record_all(session: Session, events: Sequence[Event]) -> int:
    """Append ``events`` to the chain, in their order, and return the sequence number of
    the last.

    One operation's events are appended together: the head moves once by their number,
    they are written in one batch, each chained to the one before it, and the head then
    names the last one's hash. The head stays locked until the transaction ends, as with
    :func:`record`.
    """
    if not events:
        raise ValueError("record_all needs at least one event")
    seq, previous = _advance_head(session, len(events))
    occurred_at = clock.now()
    rows = []
    for number, event in enumerate(events, start=seq):
        fields = chained_event(
            seq=number,
            occurred_at=occurred_at,
            actor_id=event.actor_id,
            action=event.action,
            object_type=event.object_type,
            object_id=event.object_id,
            before=event.before,
            after=event.after,
            prev_hash=previous,
        )
        previous = chain_hash(fields)
        rows.append({**fields, "hash": previous})
    if len(rows) == 1:
        _APPEND.run(session, rows[0])
    else:
        _APPEND.run_many(session, rows)
    _MOVE_HEAD.run(session, {"new_hash": previous})
    return seq + len(rows) - 1


def chained_event(
    seq: int,
    occurred_at: datetime,
    actor_id: int | None,
    action: str,
    object_type: str,
    object_id: int | None,
    before: Mapping[str, object] | None,
    after: Mapping[str, object] | None,
    prev_hash: str,
) -> dict[str, Any]:
    """The :data:`HASHED_FIELDS` of an event (its parameters, in that order) as they are
    stored and hashed: ``before`` and ``after`` as canonical JSON."""
    return {
        "seq": seq,
        "occurred_at": occurred_at,
        "actor_id": actor_id,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "before": _canonical(before or {}),
        "after": _canonical(after or {}),
        "prev_hash": prev_hash,
    }


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
