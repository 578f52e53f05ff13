"""The request boundary: no view commits or catches a refusal itself, and the one unit of
work commits once, keeps what a recorded refusal wrote, and runs after-commit effects only
after a commit."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.domain.errors import DomainError, InvalidInput, NotAllowed
from grants.domain.idempotency import Receipt, idempotent
from grants.extensions import db as database
from grants.models import IdempotencyRecord, Programme
from grants.unit_of_work import after_commit, run

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


def add_programme(session: Session, code: str) -> None:
    session.add(Programme(code=code, name=code))
    session.flush()


def test_an_effect_runs_once_after_the_commit(app: Flask, db: Session) -> None:
    seen: list[list[str]] = []

    def operation() -> str:
        add_programme(db, "GLOW")
        after_commit(db, lambda: seen.append(programmes()))
        assert seen == []
        return "done"

    assert run(operation) == "done"
    assert seen == [["GLOW"]], "the effect ran once, and saw the commit"
    run(lambda: add_programme(db, "RADAR"))
    assert seen == [["GLOW"]], "a later transaction does not run it again"


@pytest.mark.parametrize("recorded", [False, True])
def test_an_effect_is_dropped_with_a_refusal(app: Flask, db: Session, recorded: bool) -> None:
    ran: list[str] = []

    def refused() -> None:
        add_programme(db, "GLOW")
        after_commit(db, lambda: ran.append("refused"))
        refusal = NotAllowed("Your account cannot do that.")
        refusal.recorded = recorded
        raise refusal

    with pytest.raises(NotAllowed):
        run(refused)
    assert ran == []
    run(lambda: after_commit(db, lambda: ran.append("next")))
    assert ran == ["next"], "only the next transaction's own effect runs after its commit"


def test_an_effect_is_dropped_with_an_exception(app: Flask, db: Session) -> None:
    ran: list[str] = []

    def broken() -> None:
        add_programme(db, "GLOW")
        after_commit(db, lambda: ran.append("broken"))
        raise RuntimeError("the disk is full")

    with pytest.raises(RuntimeError, match="disk is full"):
        run(broken)
    assert ran == []
    assert programmes() == [], "what the operation wrote was rolled back"


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


def test_a_failing_effect_is_logged_and_leaves_the_commit(
    app: Flask, db: Session, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []

    def failing() -> None:
        raise ConnectionError("the worker is not listening")

    def operation() -> None:
        add_programme(db, "GLOW")
        after_commit(db, failing)
        after_commit(db, lambda: ran.append("second"))

    with caplog.at_level(logging.ERROR, logger="grants.unit_of_work"):
        run(operation)
    assert programmes() == ["GLOW"]
    assert ran == ["second"], "the effects after a failing one still run"
    failures = [r for r in caplog.records if r.name == "grants.unit_of_work"]
    assert len(failures) == 1
    assert failures[0].exc_info is not None
    assert isinstance(failures[0].exc_info[1], ConnectionError)


def test_a_refusal_is_the_domain_error_that_was_raised(app: Flask, db: Session) -> None:
    """``run`` re-raises the operation's own refusal, for the entry point to answer."""
    refusal = DomainError("No.")

    def refused() -> None:
        raise refusal

    with pytest.raises(DomainError) as raised:
        run(refused)
    assert raised.value is refusal
