"""Resetting a forgotten password by an emailed link, as the person who forgot it sees it:
asking on the page, reading the email the worker sends, following its link once.

The link works once, for one hour by the application's clock (59:59 after it was made it
works, at one hour it does not), and only the newest one asked for; a tampered, used or
expired link is answered with a clear page and changes nothing. Using it ends every session
of the account. Asking answers the same, header for header, whether or not the address has
an account, and no email goes to an address without one (nor to a deactivated account).
"""

from __future__ import annotations

import email.message
import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from grants import clock
from grants.models import AccountToken, AuditEvent, OutboxMessage, Role, User
from grants.outbox import Delivery
from tests.factories import make_user
from tests.support import PASSWORD, csrf_token, form_fields, login, sign_in, submit
from tests.wallets import deliver_outbox, outbox

NEW_PASSWORD = "a quieter tour bus 7"
RESET_LINK = re.compile(r"http://localhost/password/reset/[A-Za-z0-9_-]+")
FORGOT = "/password/forgot"
START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def text_of(message: email.message.Message) -> str:
    """The plain-text part of ``message``, as a mail client shows it."""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8")
    raise AssertionError("no plain-text part")


def html_of(message: email.message.Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/html":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8")
    raise AssertionError("no HTML part")


def reset_link_in(message: email.message.Message) -> str:
    match = RESET_LINK.search(text_of(message))
    assert match, text_of(message)
    return match.group(0)


def ask_for_reset(client: FlaskClient, address: str) -> TestResponse:
    return submit(client, FORGOT, {"email": address})


def set_password(client: FlaskClient, link: str, password: str = NEW_PASSWORD) -> TestResponse:
    return submit(client, link, {"password": password, "password_again": password})


def password_hash(db: Session, address: str) -> str | None:
    db.rollback()
    return db.scalar(select(User.password_hash).where(User.email == address))


def rows(db: Session) -> dict[str, int]:
    db.rollback()
    return {
        model.__name__: db.scalar(select(func.count()).select_from(model)) or 0
        for model in (AccountToken, OutboxMessage, AuditEvent)
    }


@pytest.fixture
def person(db: Session) -> str:
    make_user(db, Role.AMBASSADOR, email="jo@example.org", name="Jo Bassist")
    db.commit()
    return "jo@example.org"


@pytest.fixture
def at(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Stand the application's clock at ``START`` plus what is given."""

    def stand(offset: timedelta = timedelta(0)) -> None:
        monkeypatch.setattr(clock, "now", lambda: START + offset)

    stand()
    return stand


def test_the_link_sets_a_new_password_once_and_ends_every_session(
    app: Flask, db: Session, person: str
) -> None:
    elsewhere = sign_in(app, person)
    assert elsewhere.get("/account").status_code == 200

    visitor = app.test_client()
    assert 'href="/password/forgot"' in visitor.get("/login").get_data(as_text=True)
    asked = ask_for_reset(visitor, person)
    assert asked.status_code == 200
    assert "Check your email" in asked.get_data(as_text=True)

    (message,) = outbox(app)
    assert message["To"] == person
    assert message["Subject"] == "Reset your Heart & Soul Funding password"
    link = reset_link_in(message)
    assert link in html_of(message)
    assert "one hour" in text_of(message)
    assert "Hello Jo Bassist" in text_of(message)

    page = visitor.get(link)
    assert page.status_code == 200
    assert "Choose a new password" in page.get_data(as_text=True)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    assert link.rsplit("/", 1)[1] not in page.get_data(as_text=True), "only in the address"

    before = password_hash(db, person)
    done = set_password(visitor, link)
    assert done.status_code == 302
    assert done.headers["Location"] == "/login"
    assert password_hash(db, person) != before
    assert "Your new password is set" in visitor.get("/login").get_data(as_text=True)

    assert elsewhere.get("/account").headers["Location"].startswith("/login")
    assert login(app.test_client(), person).status_code == 401
    assert login(app.test_client(), person, NEW_PASSWORD).status_code == 302

    used = visitor.get(link)
    assert used.status_code == 410
    assert "used already" in used.get_data(as_text=True)
    assert used.headers["Referrer-Policy"] == "no-referrer"
    changed = password_hash(db, person)
    again = {
        "csrf_token": csrf_token(visitor, "/login"),
        "password": "another good pass 9",
        "password_again": "another good pass 9",
    }
    assert visitor.post(link, data=again).status_code == 410
    assert password_hash(db, person) == changed

    notices = outbox(app)[1:]
    assert [notice["Subject"] for notice in notices] == ["Your password was reset"]
    assert "reset just now" in " ".join(text_of(notices[0]).split())
    assert "http://localhost/password/forgot" in text_of(notices[0])
    db.rollback()
    actions = db.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    assert actions[-2:] == ["user.request_password_reset", "user.reset_password"]


def test_the_answer_is_the_same_whether_or_not_the_address_has_an_account(
    app: Flask, db: Session, person: str
) -> None:
    answers = [ask_for_reset(app.test_client(), address) for address in (person, "no@example.org")]
    known, unknown = answers
    assert known.status_code == unknown.status_code == 200
    assert known.get_data() == unknown.get_data()
    shown = {"Content-Type", "Content-Length", "Cache-Control", "Referrer-Policy", "Location"}
    assert [(name, value) for name, value in known.headers if name in shown] == [
        (name, value) for name, value in unknown.headers if name in shown
    ]
    assert sorted(name for name, _ in known.headers) == sorted(name for name, _ in unknown.headers)

    assert deliver_outbox(app) == Delivery(sent=1, dropped=1)
    assert [message["To"] for message in outbox(app)] == [person]
    db.rollback()
    asked = db.execute(
        select(AuditEvent.object_id, AuditEvent.after)
        .where(AuditEvent.action == "user.request_password_reset")
        .order_by(AuditEvent.seq)
    ).all()
    assert [object_id is None for object_id, _ in asked] == [False, True]
    assert "no@example.org" not in asked[1].after, "an address without an account is not kept"


def test_a_deactivated_account_and_an_unfinished_invitation_get_no_email(
    app: Flask, db: Session
) -> None:
    gone = make_user(db, Role.AMBASSADOR, email="gone@example.org")
    gone.active = False
    make_user(db, Role.AMBASSADOR, email="invited@example.org", password=None)
    db.commit()
    for address in ("gone@example.org", "invited@example.org"):
        assert "Check your email" in ask_for_reset(app.test_client(), address).get_data(True)
    assert deliver_outbox(app) == Delivery(dropped=2)
    assert outbox(app) == []
    assert rows(db)["AccountToken"] == 0


def test_the_link_works_for_an_hour_by_the_clock(app: Flask, db: Session, person: str, at) -> None:  # type: ignore[no-untyped-def]
    ask_for_reset(app.test_client(), person)
    (message,) = outbox(app)
    link = reset_link_in(message)
    before = password_hash(db, person)

    at(timedelta(minutes=59, seconds=59))
    assert app.test_client().get(link).status_code == 200
    at(timedelta(hours=1))
    expired = app.test_client().get(link)
    assert expired.status_code == 410
    assert "This link has expired" in expired.get_data(as_text=True)

    at(timedelta(minutes=59, seconds=59))
    client = app.test_client()
    fields = form_fields(client, link)
    at(timedelta(hours=1))
    counted = rows(db)
    late = {**fields, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    assert client.post(link, data=late).status_code == 410
    assert password_hash(db, person) == before
    assert rows(db) == counted


def test_an_email_delivered_after_its_link_expired_is_not_sent(
    app: Flask, db: Session, person: str, at
) -> None:  # type: ignore[no-untyped-def]
    ask_for_reset(app.test_client(), person)
    at(timedelta(hours=1))
    assert deliver_outbox(app) == Delivery(dropped=1)
    assert outbox(app) == []


def test_a_tampered_link_is_not_valid_and_changes_nothing(
    app: Flask, db: Session, person: str
) -> None:
    ask_for_reset(app.test_client(), person)
    link = reset_link_in(outbox(app)[0])
    last = link[-1]
    tampered = link[:-1] + ("A" if last != "A" else "B")
    client = app.test_client()
    page = client.get(tampered)
    assert page.status_code == 404
    assert "This link is not valid" in page.get_data(as_text=True)
    assert 'href="/password/forgot"' in page.get_data(as_text=True)
    before, counted = password_hash(db, person), rows(db)
    response = client.post(
        tampered,
        data={
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
            "csrf_token": csrf_token(client, "/login"),
        },
    )
    assert response.status_code == 404
    assert password_hash(db, person) == before
    assert rows(db) == counted
    assert app.test_client().get("/password/reset/" + "x" * 500).status_code == 404


def test_only_the_newest_link_works(app: Flask, db: Session, person: str) -> None:
    ask_for_reset(app.test_client(), person)
    first = reset_link_in(outbox(app)[0])
    ask_for_reset(app.test_client(), person)
    second = reset_link_in(outbox(app)[1])
    assert first != second
    assert app.test_client().get(first).status_code == 404
    assert app.test_client().get(second).status_code == 200
    db.rollback()
    assert db.scalar(select(func.count()).select_from(AccountToken)) == 1


def test_a_link_replaced_before_it_was_sent_is_never_sent(
    app: Flask, db: Session, person: str
) -> None:
    ask_for_reset(app.test_client(), person)
    ask_for_reset(app.test_client(), person)
    assert deliver_outbox(app) == Delivery(sent=1, dropped=1)
    (message,) = outbox(app)
    assert app.test_client().get(reset_link_in(message)).status_code == 200


def test_a_weak_or_mismatched_password_is_refused_and_the_link_still_works(
    app: Flask, db: Session, person: str
) -> None:
    ask_for_reset(app.test_client(), person)
    link = reset_link_in(outbox(app)[0])
    client = app.test_client()
    before, counted = password_hash(db, person), rows(db)
    weak = set_password(client, link, "short")
    assert weak.status_code == 422
    assert "at least 12 characters" in weak.get_data(as_text=True)
    mismatch = submit(client, link, {"password": NEW_PASSWORD, "password_again": "other"})
    assert mismatch.status_code == 422
    assert "The two passwords are not the same." in mismatch.get_data(as_text=True)
    assert password_hash(db, person) == before
    assert rows(db) == counted
    assert set_password(client, link).status_code == 302


def test_a_bad_address_is_refused_on_the_form_and_writes_nothing(
    app: Flask, db: Session, person: str
) -> None:
    counted = rows(db)
    refused = ask_for_reset(app.test_client(), "not an address")
    assert refused.status_code == 422
    assert "not a valid email address" in refused.get_data(as_text=True)
    assert rows(db) == counted


def test_posts_without_the_form_token_are_refused(app: Flask, db: Session, person: str) -> None:
    counted = rows(db)
    assert app.test_client().post(FORGOT, data={"email": person}).status_code == 400
    assert rows(db) == counted
    ask_for_reset(app.test_client(), person)
    link = reset_link_in(outbox(app)[0])
    before, counted = password_hash(db, person), rows(db)
    forged = app.test_client().post(
        link, data={"password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    )
    assert forged.status_code == 400
    assert password_hash(db, person) == before
    assert rows(db) == counted


def test_the_same_person_is_told_in_their_time_zone(app: Flask, db: Session, at) -> None:  # type: ignore[no-untyped-def]
    make_user(db, Role.MANAGER, email="uk@example.org", locale="en_GB")
    db.commit()
    ask_for_reset(app.test_client(), "uk@example.org")
    (message,) = outbox(app)
    assert "28 Nov 2026, 10:00 GMT (Europe/London time)" in text_of(message)
    assert PASSWORD not in text_of(message)


def limited(make_app, **limits: str) -> Flask:  # type: ignore[no-untyped-def]
    """An application with rate limits on: small ones where given."""
    app: Flask = make_app(RATE_LIMITS_ENABLED=True, **limits)
    return app


def from_address(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_asking_is_limited_per_account_from_any_address(make_app, db: Session, person: str) -> None:  # type: ignore[no-untyped-def]
    app = limited(make_app, RATE_LIMIT_PASSWORD_RESET_ACCOUNT="2 per hour")
    for number, typed in enumerate((person, " JO@example.org "), start=1):
        assert ask_for_reset(from_address(app, f"192.0.2.{number}"), typed).status_code == 200
    counted = rows(db)
    refused = ask_for_reset(from_address(app, "192.0.2.3"), person)
    assert refused.status_code == 429
    assert "too many attempts" in refused.get_data(as_text=True)
    assert int(refused.headers["Retry-After"]) > 0
    assert rows(db) == counted
    assert ask_for_reset(from_address(app, "192.0.2.3"), "other@example.org").status_code == 200


def test_asking_is_limited_per_address_whatever_the_account(make_app, db: Session) -> None:  # type: ignore[no-untyped-def]
    app = limited(make_app, RATE_LIMIT_PASSWORD_RESET_ADDRESS="3 per hour")
    client = from_address(app, "203.0.113.7")
    for number in range(3):
        assert ask_for_reset(client, f"guess{number}@example.org").status_code == 200
    counted = rows(db)
    assert ask_for_reset(client, "guess9@example.org").status_code == 429
    assert rows(db) == counted
    assert client.get(FORGOT).status_code == 200, "only asking is limited"
    assert ask_for_reset(from_address(app, "203.0.113.8"), "guess9@example.org").status_code == 200


def test_link_pages_are_limited_per_address(make_app) -> None:  # type: ignore[no-untyped-def]
    app = limited(make_app, RATE_LIMIT_ACCOUNT_LINKS="3 per hour")
    guesser = from_address(app, "198.51.100.20")
    for path in ("/password/reset/a", "/account/email/confirm/b", "/password/reset/c"):
        assert guesser.get(path).status_code == 404
    assert guesser.get("/password/reset/d").status_code == 429
    assert from_address(app, "198.51.100.21").get("/password/reset/d").status_code == 404
