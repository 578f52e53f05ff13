"""Idempotent operations: a retried request returns the first outcome and posts nothing new."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grants.domain.errors import REPLAYABLE, DomainError, IdempotencyConflict, InvalidInput
from grants.models import IdempotencyRecord

KEY_MAX = 100


@dataclass(frozen=True)
class Receipt:
    """What a mutating operation did.

    ``replayed`` is true when the outcome comes from an earlier request with the same key.
    ``claim_token`` is only ever given to the request that created a gift: it is not stored.
    """

    operation: str
    object_id: int | None = None
    transaction_id: int | None = None
    replayed: bool = False
    claim_token: str | None = None


def request_hash(operation: str, actor_id: int | None, request: Mapping[str, object]) -> str:
    """A digest of everything that makes two requests the same request."""
    canonical = json.dumps(
        {"operation": operation, "actor": actor_id, "request": request},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> str:
    """``key`` if it is usable as an idempotency key, else :class:`InvalidInput`."""
    if not key or len(key) > KEY_MAX or not key.isprintable() or key != key.strip():
        raise InvalidInput("This form is missing its request key; reload the page.", field="key")
    return key


def idempotent(
    session: Session,
    *,
    key: str,
    actor_id: int | None,
    operation: str,
    request: Mapping[str, object],
    perform: Callable[[], Receipt],
) -> Receipt:
    """Run ``perform`` once per ``key``.

    The record of the key is written in the same transaction as whatever ``perform`` writes.
    A domain refusal raised by ``perform`` undoes its writes but is itself recorded, so the
    caller should commit after a refusal too: a retry then gets the same refusal. The same
    key with a different request raises :class:`IdempotencyConflict`.
    """
    check_key(key)
    digest = request_hash(operation, actor_id, request)
    record = _find(session, key)
    if record is None:
        record = IdempotencyRecord(
            key=key, actor_id=actor_id, operation=operation, request_hash=digest, outcome="{}"
        )
        try:
            with session.begin_nested():
                session.add(record)
        except IntegrityError:
            record = _find(session, key)
            assert record is not None, "an idempotency key vanished after a unique violation"
        else:
            return _perform_and_record(session, record, perform)
    if record.request_hash != digest:
        raise IdempotencyConflict
    return _replay(record)


def _find(session: Session, key: str) -> IdempotencyRecord | None:
    return session.scalar(
        select(IdempotencyRecord)
        .where(IdempotencyRecord.key == key)
        .execution_options(populate_existing=True)
    )


def _perform_and_record(
    session: Session, record: IdempotencyRecord, perform: Callable[[], Receipt]
) -> Receipt:
    savepoint = session.begin_nested()
    try:
        receipt = perform()
    except DomainError as refusal:
        savepoint.rollback()
        kind = next(
            (cls.__name__ for cls in type(refusal).__mro__ if cls.__name__ in REPLAYABLE),
            DomainError.__name__,
        )
        record.outcome = json.dumps({"refusal": {"error": kind, "message": refusal.message}})
        session.flush()
        refusal.recorded = True
        raise
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()
    record.outcome = json.dumps({"result": asdict(replace(receipt, claim_token=None))})
    session.flush()
    return receipt


def _replay(record: IdempotencyRecord) -> Receipt:
    outcome = json.loads(record.outcome)
    if "refusal" in outcome:
        refusal = outcome["refusal"]
        error = REPLAYABLE.get(refusal["error"], DomainError)(refusal["message"])
        error.recorded = True
        raise error
    if "result" not in outcome:
        raise IdempotencyConflict("This request is still being processed; try again shortly.")
    return replace(Receipt(**outcome["result"]), replayed=True)
