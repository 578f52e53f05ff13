"""The account links under concurrency, on SQLite and on PostgreSQL: one reset link used from
several requests at once sets one password, once; and the domain's refusals write nothing."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants import clock
from grants.domain import account_tokens
from grants.domain.errors import InvalidInput, InvalidState, NotFound
from grants.extensions import db as database
from grants.models import AccountToken, AuditEvent, OutboxMessage, Role, TokenPurpose, User
from grants.security import password_hasher, password_rules
from grants.tasks import huey_of, run_prune_links
from tests.domain.test_concurrency import START_TIMEOUT, Threads
from tests.factories import make_user

NOW = datetime(2026, 11, 28, 9, tzinfo=UTC)
THREADS = 4


def issued_token(session: Session, email: str) -> str:
    """Ask for a reset of ``email``'s password and return the token its email will carry."""
    account_tokens.request_password_reset(session, email=email, now=NOW)
    payload = session.scalars(select(OutboxMessage.payload).order_by(OutboxMessage.id.desc()))
    token: str = json.loads(payload.first() or "{}")["token"]
    session.commit()
    return token


def test_one_link_used_from_several_requests_at_once_sets_one_password(app: Flask) -> None:
    with app.app_context():
        session = database.session
        user = make_user(session, Role.MANAGER, email="race@example.org")
        user_id, version = user.id, user.session_version
        session.commit()
        token = issued_token(session, "race@example.org")

        barrier = threading.Barrier(THREADS)

        def use(number: int) -> str:
            barrier.wait(START_TIMEOUT)
            inner = database.session
            try:
                account_tokens.reset_password(
                    inner,
                    token=token,
                    password=f"a new password number {number}",
                    hasher=password_hasher(),
                    rules=password_rules(),
                    now=NOW + timedelta(minutes=5),
                )
            except (InvalidState, NotFound) as refused:
                inner.rollback()
                return refused.message
            inner.commit()
            return "done"

        threads = Threads(app)
        for number in range(THREADS):
            threads.start(f"reset-{number}", lambda number=number: use(number))
        threads.join()

        outcomes = sorted(str(outcome) for outcome in threads.results.values())
        assert outcomes == sorted(["done"] + [account_tokens.USED] * (THREADS - 1))
        session.expire_all()
        found = session.get(User, user_id)
        assert found is not None
        assert found.session_version == version + 1
        resets = select(func.count()).where(AuditEvent.action == "user.reset_password")
        assert session.scalar(resets) == 1


def test_refusals_write_nothing(db: Session) -> None:
    user = make_user(db, Role.MANAGER, email="jo@example.org")
    other = make_user(db, Role.FINANCE, email="taken@example.org")
    db.commit()

    def rows() -> tuple[int, int, int]:
        db.rollback()
        return tuple(  # type: ignore[return-value]
            db.scalar(select(func.count()).select_from(model)) or 0
            for model in (AccountToken, OutboxMessage, AuditEvent)
        )

    before = rows()
    with pytest.raises(InvalidInput):
        account_tokens.request_password_reset(db, email="not an address", now=NOW)
    with pytest.raises(NotFound):
        account_tokens.valid_token(db, "nothing", TokenPurpose.PASSWORD_RESET, now=NOW)
    with pytest.raises(InvalidInput, match="used by another account"):
        account_tokens.request_email_change(
            db,
            user=user,
            new_email=other.email,
            password="correct horse battery",
            hasher=password_hasher(),
            now=NOW,
        )
    with pytest.raises(InvalidInput, match="time zones"):
        account_tokens.update_profile(
            db, user=user, display_name="Jo", locale="en_US", time_zone="Europe/Atlantis"
        )
    assert rows() == before


def test_links_long_expired_are_pruned_every_hour(
    app: Flask, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user(db, Role.MANAGER, email="old@example.org")
    db.commit()
    issued_token(db, "old@example.org")
    kept = account_tokens.PASSWORD_RESET_VALIDITY + account_tokens.KEPT_AFTER_EXPIRY
    monkeypatch.setattr(clock, "now", lambda: NOW + kept)
    assert run_prune_links(app) == 0, "kept for a week after it expired"
    monkeypatch.setattr(clock, "now", lambda: NOW + kept + timedelta(seconds=1))
    assert run_prune_links(app) == 1
    db.rollback()
    assert db.scalar(select(func.count()).select_from(AccountToken)) == 0

    def due(minute: int) -> set[str]:
        moment = datetime(2026, 11, 30, 10, minute, tzinfo=UTC)
        return {task.name for task in huey_of(app).read_periodic(moment)}

    assert [minute for minute in range(60) if "accounts.prune_links" in due(minute)] == [30]
