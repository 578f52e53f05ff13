"""One transaction per request or command: where a domain operation's work is committed.

A web view (through :mod:`grants.web.actions`), a ``flask grants`` command or a worker task
hands :func:`run` one domain operation. The operation flushes and never commits; :func:`run`
commits once when it succeeds and then does what must follow that commit: it wakes the
worker if the transaction recorded outbox messages (:func:`grants.outbox.wake`), so nothing is
sent for work that was not committed. A refusal that the operation recorded against its
idempotency key is committed, so that a retry gets the same answer; any other refusal or error
rolls everything back. (The bulk loader of :mod:`grants.seed` commits its own batches, and
the worker's outbox delivery commits each step of a delivery, as their modules explain.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session

from grants.domain.errors import DomainError
from grants.extensions import db
from grants.outbox import wake

T = TypeVar("T")


def run(
    operation: Callable[[], T], *, session: Session | None = None, all_or_nothing: bool = False
) -> T:
    """Run ``operation`` as one transaction and return what it returned.

    Commits on success, then wakes the worker if the transaction recorded outbox messages. A
    :class:`DomainError` is re-raised after committing what it recorded (or rolling back);
    any other exception is re-raised after rolling back. With ``all_or_nothing`` (a command
    made of several operations) a refusal rolls everything back, recorded or not, so no part
    of the command is kept.
    """
    session = session or db.session()
    try:
        result = operation()
    except DomainError as error:
        if error.recorded and not all_or_nothing:
            session.commit()
        else:
            session.rollback()
        raise
    except BaseException:
        session.rollback()
        raise
    try:
        session.commit()
    except BaseException:
        session.rollback()
        raise
    wake(session)
    return result
