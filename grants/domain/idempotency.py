"""Idempotent operations: a retried request returns the first outcome and posts nothing new."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from grants import clock
from grants.domain.errors import REPLAYABLE, DomainError, IdempotencyConflict, InvalidInput
from grants.domain.statements import Prepared
from grants.models import IdempotencyRecord

KEY_MAX = 100


@dataclass(frozen=True)
class Receipt:
    """What a mutating operation did.

    ``replayed`` is true when the outcome comes from an earlier request with the same key.
    ``claim_token`` is only ever given to the request that created a gift: it is not stored.
    ``user_id`` names the person the operation was for, where the caller needs them next
    (the recipient who claimed a gift, to sign them in); ``amount`` and ``currency`` say how
    much it moved (each ambassador's allowance), as the operation read the amount typed.
    """

    operation: str
    object_id: int | None = None
    transaction_id: int | None = None
    replayed: bool = False
    claim_token: str | None = None
    user_id: int | None = None
    amount: int | None = None
    currency: str | None = None


def request_hash(operation: str, actor_id: int | None, request: Mapping[str, object]) -> str:
    """A digest of everything that makes two requests the same request."""
    canonical = json.dumps(
        {"operation": operation, "actor": actor_id, "request": request},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def recorded_result(receipt: Receipt) -> dict[str, object]:
    """What is recorded of an operation that succeeded: its receipt, without the claim token
    (only the request that created a gift is ever given it)."""
    return {"result": asdict(replace(receipt, claim_token=None))}


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

    ``perform`` runs in a savepoint, and its outcome is recorded under the key in the same
    transaction with ``INSERT … ON CONFLICT DO NOTHING``. If the key was already recorded
    (a retry, or a concurrent request with the same key that committed first), whatever
    ``perform`` did is rolled back and the recorded outcome is returned instead, or
    :class:`IdempotencyConflict` raised if the key was used for a different request. A
    domain refusal is recorded too (the error's ``recorded`` is then true, and the caller
    should commit), so a retry gets the same refusal.
    """
    check_key(key)
    digest = request_hash(operation, actor_id, request)
    record = {"key": key, "actor_id": actor_id, "operation": operation, "request_hash": digest}
    savepoint = session.begin_nested()
    try:
        receipt = perform()
    except DomainError as refusal:
        savepoint.rollback()
        kind = next(
            (cls.__name__ for cls in type(refusal).__mro__ if cls.__name__ in REPLAYABLE),
            DomainError.__name__,
        )
        outcome = {"refusal": {"error": kind, "message": refusal.message}}
        if _record(session, record, outcome):
            refusal.recorded = True
            raise
        return _replay(session, key, digest)
    except BaseException:
        savepoint.rollback()
        raise
    if _record(session, record, recorded_result(receipt)):
        savepoint.commit()
        return receipt
    savepoint.rollback()
    return _replay(session, key, digest)


def _claim_statement(dialect: Any) -> Prepared:
    insert = postgresql.insert if dialect is postgresql else sqlite.insert
    fields = ("key", "actor_id", "operation", "request_hash", "outcome", "created_at")
    return Prepared(
        insert(IdempotencyRecord)
        .values({name: bindparam(name) for name in fields})
        .on_conflict_do_nothing(index_elements=[IdempotencyRecord.key])
        .returning(IdempotencyRecord.id)
    )


_CLAIMS = {"postgresql": _claim_statement(postgresql), "sqlite": _claim_statement(sqlite)}
"""Per dialect: write a key's outcome unless the key is already recorded."""


def _record(session: Session, record: Mapping[str, object], outcome: Mapping[str, object]) -> bool:
    """Write the outcome under its key; false if the key is already recorded.

    On PostgreSQL a concurrent insert of the same key makes this wait until that
    transaction ends: it then either finds the key taken or writes its own row.
    """
    values = {**record, "outcome": json.dumps(outcome), "created_at": clock.now()}
    claim = _CLAIMS[session.get_bind().dialect.name]
    return claim.run(session, values).fetchone() is not None


def _replay(session: Session, key: str, digest: str) -> Receipt:
    """The recorded outcome of ``key``: its receipt, marked as replayed, or its refusal."""
    stored = session.execute(
        select(IdempotencyRecord.request_hash, IdempotencyRecord.outcome).where(
            IdempotencyRecord.key == key
        )
    ).one()
    if stored.request_hash != digest:
        raise IdempotencyConflict
    outcome = json.loads(stored.outcome)
    if "refusal" in outcome:
        refusal = outcome["refusal"]
        error = REPLAYABLE.get(refusal["error"], DomainError)(refusal["message"])
        error.recorded = True
        raise error
    return replace(Receipt(**outcome["result"]), replayed=True)
