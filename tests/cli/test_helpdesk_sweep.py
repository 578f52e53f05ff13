"""``flask grants helpdesk-sweep``: overdue alerts, and erasing help requests past their
retention, run again after a backup is restored (a backup holds what was erased since)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants import clock
from grants.domain.helpdesk import Ask, ask
from grants.domain.helpdesk_desk import close, reply
from grants.extensions import db
from grants.models import (
    Country,
    HelpdeskRoute,
    HelpMessage,
    HelpRequest,
    Notification,
    Outcome,
    Partner,
    Role,
    User,
)
from grants.models.helpdesk import ANY
from tests.factories import make_user

ASKED = datetime(2026, 3, 2, 15, tzinfo=UTC)
"""A Monday."""


def backline_desk(session: Session) -> User:
    """Backline, answering every country and language, and a navigator working for it."""
    backline = Partner(legal_name="Backline Care", display_name="Backline", country=Country.US)
    session.add(backline)
    session.flush()
    session.add(HelpdeskRoute(country=ANY, language=ANY, partner_id=backline.id))
    navigator = make_user(session, Role.NAVIGATOR)
    navigator.partner_id = backline.id
    session.flush()
    return navigator


def open_request(app: Flask) -> tuple[str, int]:
    """Backline's desk and navigator, one request answered and closed; its reference and id."""
    with app.app_context():
        session = db.session
        navigator = backline_desk(session)
        asked = ask(
            session,
            key="sweep-ask",
            asked=Ask(
                name="Jo",
                email="jo@example.org",
                phone="",
                country="GB",
                city="Leeds",
                language="en",
                topic="grief",
                can_pay="nothing",
                text="My bandmate died on tour.",
            ),
            requester_id=None,
            now=ASKED,
        )
        reply(
            session,
            key="sweep-reply",
            actor=navigator,
            reference=asked.reference,
            body="I am sorry. Here is a grief service near you.",
            now=ASKED + timedelta(hours=2),
        )
        close(
            session,
            key="sweep-close",
            actor=navigator,
            reference=asked.reference,
            outcome="referred",
            now=ASKED + timedelta(days=1),
        )
        session.commit()
        return asked.reference, asked.request_id


def personal(app: Flask, request_id: int) -> tuple[Any, ...]:
    with app.app_context():
        found = db.session.get_one(HelpRequest, request_id)
        messages = db.session.scalar(
            select(func.count()).select_from(HelpMessage).where(HelpMessage.request_id == found.id)
        )
        return (found.name, found.contact_email, found.text, messages)


def sweep_at(app: Flask, moment: datetime, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(clock, "now", lambda: moment)
    result = app.test_cli_runner().invoke(args=["grants", "helpdesk-sweep"])
    assert result.exit_code == 0, result.output
    return str(result.output)


def test_the_sweep_erases_on_the_90th_day_and_again_after_a_restore(
    make_app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app: Flask = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'live.sqlite3'}")
    _reference, request_id = open_request(app)
    closed = ASKED + timedelta(days=1)
    assert personal(app, request_id) == (
        "Jo",
        "jo@example.org",
        "My bandmate died on tour.",
        1,
    )

    backup = tmp_path / "before.sqlite3"
    made = app.test_cli_runner().invoke(args=["grants", "backup", "-o", str(backup)])
    assert made.exit_code == 0, made.output

    almost = sweep_at(app, closed + timedelta(days=90, seconds=-1), monkeypatch)
    assert "0 requests erased" in almost
    assert personal(app, request_id)[0] == "Jo"
    done = sweep_at(app, closed + timedelta(days=90), monkeypatch)
    assert "1 request erased" in done
    assert personal(app, request_id) == (None, None, None, 0)

    restored = tmp_path / "restored" / "grants.sqlite3"
    restored.parent.mkdir()
    shutil.copyfile(backup, restored)
    copy: Flask = make_app(DATABASE_URL=f"sqlite:///{restored}")
    assert personal(copy, request_id)[0] == "Jo", "the backup holds what was erased since"
    again = sweep_at(copy, closed + timedelta(days=91), monkeypatch)
    assert "1 request erased" in again
    assert personal(copy, request_id) == (None, None, None, 0)
    with copy.app_context():
        kept = db.session.get_one(HelpRequest, request_id)
        assert (kept.country, kept.topic.value, kept.outcome.value) == ("GB", "grief", "referred")
        assert kept.first_answered_at == ASKED + timedelta(hours=2)
    audit = copy.test_cli_runner().invoke(args=["grants", "audit", "verify"])
    assert audit.exit_code == 0, audit.output


def test_the_sweep_tells_navigators_of_an_unanswered_request_once(
    make_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app: Flask = make_app()
    with app.app_context():
        session = db.session
        navigator = backline_desk(session)
        ask(
            session,
            key="unanswered",
            asked=Ask("Sam", "", "+44 20 7946 0000", "GB", "", "en", "grief", "some", ""),
            requester_id=None,
            now=ASKED,
        )
        session.commit()
        navigator_id = navigator.id
    due = ASKED + timedelta(days=2)
    assert "0 overdue alerts" in sweep_at(app, due - timedelta(seconds=1), monkeypatch)
    assert "1 overdue alert," in sweep_at(app, due, monkeypatch)
    assert "0 overdue alerts" in sweep_at(app, due + timedelta(hours=1), monkeypatch)
    with app.app_context():
        told = db.session.scalars(
            select(Notification.title).where(
                Notification.user_id == navigator_id, Notification.kind == "help.overdue"
            )
        ).all()
    assert len(told) == 1
    assert "not answered in 2 working days" in told[0]


def test_a_request_left_open_and_silent_is_closed_then_erased_in_its_turn(
    make_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app: Flask = make_app()
    with app.app_context():
        session = db.session
        backline_desk(session)
        made = ask(
            session,
            key="silent",
            asked=Ask("Ari", "ari@example.org", "", "US", "", "en", "grief", "some", "Hello?"),
            requester_id=None,
            now=ASKED,
        )
        session.commit()
    silent = ASKED + timedelta(days=90)
    early = sweep_at(app, silent - timedelta(seconds=1), monkeypatch)
    assert "0 silent requests closed" in early
    assert "1 silent request closed, 0 requests erased" in sweep_at(app, silent, monkeypatch)
    with app.app_context():
        found = db.session.get_one(HelpRequest, made.request_id)
        assert (found.outcome, found.closed_at, found.name) == (Outcome.NO_REPLY, silent, "Ari")
    assert "1 request erased" in sweep_at(app, silent + timedelta(days=90), monkeypatch)
    assert personal(app, made.request_id) == (None, None, None, 0)
