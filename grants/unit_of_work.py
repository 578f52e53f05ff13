"""One transaction per request or command: the single place that commits.

A web view (through :mod:`grants.web.actions`) or a ``flask grants`` command hands
:func:`run` one domain operation. The operation flushes and never commits; :func:`run`
commits once when it succeeds and then runs the effects that must follow that commit (such as
waking the worker that delivers the outbox). A refusal that the operation recorded against
its idempotency key is committed, so that a retry gets the same answer; any other refusal or
error rolls everything back, and its effects are dropped with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session

from grants.domain.errors import DomainError
from grants.extensions import db
from grants.outbox import wake

T = TypeVar("T")
AFTER_COMMIT = "grants.after_commit"
"""The key, in ``Session.info``, of the effects waiting for the transaction to commit."""

logger = logging.getLogger(__name__)


def after_commit(session: Session, effect: Callable[[], None]) -> None:
    """Run ``effect`` once the current transaction of ``session`` has committed; never if
    it rolls back. An effect must not raise for a reason its caller could act on: the
    commit it follows cannot be undone."""
    effects: list[Callable[[], None]] = session.info.setdefault(AFTER_COMMIT, [])
    effects.append(effect)


def run(operation: Callable[[], T], *, session: Session | None = None) -> T:
    """Run ``operation`` as one transaction and return what it returned.

    Commits on success, wakes the worker if the transaction recorded outbox messages
    (:func:`grants.outbox.wake`), then runs the effects registered with :func:`after_commit`. A
    :class:`DomainError` is re-raised after committing what it recorded (or rolling back);
    any other exception is re-raised after rolling back.
    """
    session = session or db.session()
    try:
        result = operation()
    except DomainError as error:
        session.info.pop(AFTER_COMMIT, None)
        if error.recorded:
            session.commit()
        else:
            session.rollback()
        raise
    except BaseException:
        session.info.pop(AFTER_COMMIT, None)
        session.rollback()
        raise
    try:
        session.commit()
    except BaseException:
        session.info.pop(AFTER_COMMIT, None)
        session.rollback()
        raise
    wake(session)
    for effect in session.info.pop(AFTER_COMMIT, ()):
        try:
            effect()
        except Exception:
            logger.exception("An effect after a committed transaction failed")
    return result
