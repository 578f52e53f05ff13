"""The request boundary: no view commits or catches a refusal itself, and the one unit of
work commits once, keeps what a recorded refusal wrote (unless a command asks for all or
nothing), and wakes the outbox's worker only after a commit that recorded a message."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants import clock
from grants.domain import outbox
from grants.domain.errors import DomainError, InvalidInput, NotAllowed
from grants.domain.idempotency import Receipt, idempotent
from grants.extensions import db as database
from grants.models import IdempotencyRecord, OutboxMessage, Programme
from grants.tasks import huey_of
from grants.unit_of_work import run
from tests.wallets import free_port

WEB = Path(__file__).resolve().parents[2] / "grants" / "web"
BOUNDARY = WEB / "actions.py"
"""The boundary itself: it turns a refusal into a value for the views."""


# --- no view settles a transaction itself ----------------------------------------------------


def _names_domain_error(handler: ast.ExceptHandler) -> bool:
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(
        (isinstance(kind, ast.Name) and kind.id == "DomainError")
        or (isinstance(kind, ast.Attribute) and kind.attr == "DomainError")
        for kind in kinds
    )


def settling(source: str) -> list[tuple[int, str]]:
    """Each line of ``source`` that commits or catches every refusal, with what it does."""
    found = []
    for node in ast.walk(ast.parse(source)):
        called = node.func if isinstance(node, ast.Call) else None
        if isinstance(called, ast.Attribute) and called.attr == "commit":
            found.append((node.lineno, ".commit("))
        if isinstance(node, ast.ExceptHandler) and _names_domain_error(node):
            found.append((node.lineno, "except DomainError"))
    return sorted(found)


def test_the_finder_sees_what_it_looks_for() -> None:
    source = (
        "try:\n    run()\nexcept (NotFound, DomainError):\n    pass\n"
        "db.session.commit()\n"
        "try:\n    run()\nexcept errors.DomainError:\n    pass\n"
        "try:\n    run()\nexcept NotFound:\n    pass\n"
        "# db.session.commit() in a comment\n"
    )
    assert settling(source) == [
        (3, "except DomainError"),
        (5, ".commit("),
        (8, "except DomainError"),
    ]


def test_no_view_commits_or_catches_a_refusal_itself() -> None:
    """Every view hands its operation to :mod:`grants.web.actions`, which runs it through the
    unit of work: a ``.commit(`` or an ``except DomainError`` in a view is a second way
    through a request."""
    views = sorted(path for path in WEB.rglob("*.py") if path != BOUNDARY)
    assert len(views) > 10
    offences = [
        f"{path.relative_to(WEB.parents[1])}:{line}: {what}"
        for path in views
        for line, what in settling(path.read_text(encoding="utf-8"))
    ]
    assert offences == [], "views settling their own transaction:\n" + "\n".join(offences)


# --- the unit of work ------------------------------------------------------------------------


def programmes() -> list[str]:
    """The programme codes committed to the database, read over a connection of their own
    (not the session under test)."""
    with database.engine.connect() as connection:
        return list(connection.scalars(select(Programme.code).order_by(Programme.code)))


def records() -> int:
    """The idempotency records committed to the database."""
    with database.engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(IdempotencyRecord)) or 0


def messages() -> int:
    """The outbox messages committed to the database."""
    with database.engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(OutboxMessage)) or 0


def add_programme(session: Session, code: str) -> None:
    session.add(Programme(code=code, name=code))
    session.flush()


def record_message(session: Session) -> None:
    """What an operation that must send something does beside its postings."""
    outbox.record(session, kind="test.note", payload={}, now=clock.now())


def queued(app: Flask) -> int:
    """Deliveries waiting in the application's real queue."""
    return int(huey_of(app).pending_count())


def test_a_commit_that_recorded_a_message_wakes_the_worker_once(app: Flask, db: Session) -> None:
    def operation() -> str:
        add_programme(db, "GLOW")
        record_message(db)
        assert queued(app) == 0, "nothing is queued before the commit"
        return "done"

    assert run(operation) == "done"
    assert queued(app) == 1, "the commit queued one delivery"
    run(lambda: add_programme(db, "RADAR"))
    assert queued(app) == 1, "a later transaction that recorded nothing queues nothing"


@pytest.mark.parametrize("recorded", [False, True])
def test_a_refused_operation_leaves_no_message(app: Flask, db: Session, recorded: bool) -> None:
    """Refused before it was recorded, or refused and recorded against its key (the refused
    attempt's own writes, its message among them, rolled back to the key's savepoint). The
    second may still wake the worker, which then finds nothing to send (see
    :func:`grants.domain.outbox.record`)."""

    def perform() -> Receipt:
        add_programme(db, "GLOW")
        record_message(db)
        raise NotAllowed("Your account cannot do that.")

    def refused() -> Receipt:
        if not recorded:
            return perform()
        return idempotent(
            db, key="k-1", actor_id=None, operation="test.refuse", request={}, perform=perform
        )

    with pytest.raises(NotAllowed) as refusal:
        run(refused)
    assert refusal.value.recorded is recorded
    run(lambda: add_programme(db, "RADAR"))
    assert queued(app) == (1 if recorded else 0)
    assert (programmes(), messages(), records()) == (["RADAR"], 0, int(recorded))


def test_an_exception_rolls_back_and_wakes_nothing(app: Flask, db: Session) -> None:
    def broken() -> None:
        add_programme(db, "GLOW")
        record_message(db)
        raise RuntimeError("the disk is full")

    with pytest.raises(RuntimeError, match="disk is full"):
        run(broken)
    assert queued(app) == 0
    assert (programmes(), messages()) == ([], 0), "what the operation wrote was rolled back"


def test_a_command_of_several_operations_keeps_none_of_them_on_a_refusal(
    app: Flask, db: Session
) -> None:
    """``all_or_nothing``: a refusal recorded by the second operation does not commit the
    first, as it would for a request of one operation."""

    def command() -> None:
        add_programme(db, "GLOW")
        refusal = InvalidInput("Enter a name.", field="name")
        refusal.recorded = True
        raise refusal

    with pytest.raises(InvalidInput):
        run(command, all_or_nothing=True)
    assert programmes() == []


def test_a_recorded_refusal_is_committed_and_an_unrecorded_one_rolled_back(
    app: Flask, db: Session
) -> None:
    def refused(code: str, *, recorded: bool) -> None:
        add_programme(db, code)
        refusal = InvalidInput("Enter a name.", field="name")
        refusal.recorded = recorded
        raise refusal

    with pytest.raises(InvalidInput):
        run(lambda: refused("GLOW", recorded=False))
    assert programmes() == []
    with pytest.raises(InvalidInput):
        run(lambda: refused("RADAR", recorded=True))
    assert programmes() == ["RADAR"]


def test_a_refusal_recorded_against_its_key_survives_for_the_retry(app: Flask, db: Session) -> None:
    """Through :func:`~grants.domain.idempotency.idempotent`, as the operations record a
    refusal: the record is committed, what the refused attempt wrote is not, and a retry
    with the same key gets the same refusal from the record."""

    def request() -> Receipt:
        def perform() -> Receipt:
            add_programme(db, "GLOW")
            raise InvalidInput("Enter a name.", field="name")

        return idempotent(
            db, key="k-1", actor_id=None, operation="test.refuse", request={}, perform=perform
        )

    with pytest.raises(InvalidInput) as first:
        run(request)
    assert first.value.recorded
    assert (records(), programmes()) == (1, [])
    with pytest.raises(InvalidInput, match="Enter a name") as again:
        run(request)
    assert again.value.recorded
    assert (records(), programmes()) == (1, [])


def test_a_queue_that_is_down_is_logged_and_leaves_the_commit(
    make_app,  # type: ignore[no-untyped-def]
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The queue is a Redis server nobody listens for: the wake fails, the commit stands and
    the message waits in the outbox for the worker's next pass."""
    app: Flask = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    with app.app_context(), caplog.at_level(logging.ERROR, logger="grants.outbox"):
        session = database.session()

        def operation() -> None:
            add_programme(session, "GLOW")
            record_message(session)

        run(operation)
        assert (programmes(), messages()) == (["GLOW"], 1)
    assert "The worker could not be woken" in caplog.text


def test_a_refusal_is_the_domain_error_that_was_raised(app: Flask, db: Session) -> None:
    """``run`` re-raises the operation's own refusal, for the entry point to answer."""
    refusal = DomainError("No.")

    def refused() -> None:
        raise refusal

    with pytest.raises(DomainError) as raised:
        run(refused)
    assert raised.value is refusal
