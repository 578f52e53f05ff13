"""Signing in and out, sessions and cookies, CSRF, and the error pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from grants.extensions import db as database
from grants.models import Role, User
from grants.security import password_hasher
from tests.factories import make_user
from tests.support import PASSWORD, csrf_token, login, post_form

FAILED = "That email and password do not match an active account."


def session_cookie(response) -> str:  # type: ignore[no-untyped-def]
    cookies = [
        value for value in response.headers.getlist("Set-Cookie") if value.startswith("session=")
    ]
    assert cookies, "no session cookie was set"
    return cookies[-1]


def test_login_succeeds_and_lands_on_the_role_dashboard(client: FlaskClient, db: Session) -> None:
    make_user(db, Role.FINANCE, email="pat@example.org", name="Pat Payer")
    db.commit()
    response = login(client, "PAT@Example.org")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    page = client.get("/", follow_redirects=True)
    text = page.get_data(as_text=True)
    assert page.request.path == "/finance/"
    assert "Welcome, Pat Payer." in text
    assert "<h1>Finance</h1>" in text
    assert db.get(User, 1) is not None


def test_session_cookie_is_httponly_lax_and_lasts_eight_hours(
    client: FlaskClient, db: Session
) -> None:
    make_user(db, Role.MANAGER, email="m@example.org")
    db.commit()
    cookie = session_cookie(login(client, "m@example.org"))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie
    expires = parsedate_to_datetime(cookie.split("Expires=")[1].split(";")[0])
    remaining = expires - datetime.now(UTC)
    assert timedelta(hours=7, minutes=59) < remaining <= timedelta(hours=8)


def test_secure_cookies_mark_the_session_cookie_secure(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(SECURE_COOKIES=True, PUBLIC_URL="https://localhost")
    with app.app_context():
        make_user(database.session, Role.MANAGER, email="m@example.org")
        database.session.commit()
    client = app.test_client()
    cookie = session_cookie(login(client, "m@example.org"))
    assert "Secure" in cookie
    assert "Strict-Transport-Security" in client.get("/login").headers


@pytest.mark.parametrize("email", ["nobody@example.org", "known@example.org"])
def test_unknown_email_and_wrong_password_get_the_same_answer(
    client: FlaskClient, db: Session, email: str
) -> None:
    make_user(db, Role.MANAGER, email="known@example.org")
    db.commit()
    response = login(client, email, "not the password at all")
    assert response.status_code == 401
    assert FAILED in response.get_data(as_text=True)
    assert client.get("/manager/").status_code == 302


@pytest.mark.parametrize("state", ["deactivated", "no password"])
def test_accounts_that_cannot_sign_in_get_the_same_answer(
    client: FlaskClient, db: Session, state: str
) -> None:
    user = make_user(
        db,
        Role.MANAGER,
        email="x@example.org",
        password=None if state == "no password" else PASSWORD,
    )
    if state == "deactivated":
        user.active = False
    db.commit()
    response = login(client, "x@example.org")
    assert response.status_code == 401
    assert FAILED in response.get_data(as_text=True)


def test_a_deactivated_user_loses_an_open_session(client: FlaskClient, db: Session) -> None:
    user = make_user(db, Role.MANAGER, email="m@example.org")
    db.commit()
    login(client, "m@example.org")
    assert client.get("/manager/").status_code == 200
    user.active = False
    db.commit()
    assert client.get("/manager/").status_code == 302


def test_empty_fields_are_refused_without_a_lookup(client: FlaskClient) -> None:
    response = post_form(client, "/login", {"email": "", "password": ""})
    assert response.status_code == 400
    assert "This field is required." in response.get_data(as_text=True)


def test_a_nul_character_in_the_email_or_password_is_refused_without_a_lookup(
    client: FlaskClient, db: Session
) -> None:
    """PostgreSQL cannot compare text holding NUL: the form refuses it, naming the field."""
    user = make_user(db, Role.MANAGER, email="morgan@example.org")
    db.commit()
    for email, password in (("morgan@example.org\x00", PASSWORD), (user.email, "\x00")):
        response = post_form(client, "/login", {"email": email, "password": password})
        assert response.status_code == 400
        assert "cannot contain control characters" in response.get_data(as_text=True)
    db.rollback()
    assert db.get_one(User, user.id).last_login_at is None
    assert login(client, user.email).status_code == 302


def test_login_clears_whatever_the_session_held_before(client: FlaskClient, db: Session) -> None:
    make_user(db, Role.MANAGER, email="m@example.org")
    db.commit()
    with client.session_transaction() as before:
        before["planted"] = "by an attacker"
    login(client, "m@example.org")
    with client.session_transaction() as after:
        assert "planted" not in after
        assert after["_user_id"] == "1"


def test_password_is_rehashed_when_the_parameters_change(
    app: Flask, client: FlaskClient, db: Session
) -> None:
    user = make_user(db, Role.MANAGER, email="m@example.org")
    db.commit()
    old_hash = user.password_hash
    stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    app.extensions["grants.password_hasher"] = stronger
    assert stronger.check_needs_rehash(old_hash)
    db.commit()  # end the test's read transaction, or SQLite keeps showing its snapshot
    assert login(client, "m@example.org").status_code == 302
    db.refresh(user)
    assert user.password_hash != old_hash
    assert user.password_hash.startswith("$argon2id$v=19$m=16,t=2,p=1$")
    assert not password_hasher().check_needs_rehash(user.password_hash)
    assert user.last_login_at is not None


def test_next_takes_the_user_back_but_never_off_site(client: FlaskClient, db: Session) -> None:
    make_user(db, Role.MANAGER, Role.FINANCE, email="m@example.org")
    db.commit()
    first = client.get("/finance/")
    assert first.status_code == 302
    assert first.headers["Location"] == "/login?next=%2Ffinance%2F"
    token = csrf_token(client, "/login?next=%2Ffinance%2F")
    response = client.post(
        "/login",
        data={
            "email": "m@example.org",
            "password": PASSWORD,
            "next": "/finance/",
            "csrf_token": token,
        },
    )
    assert response.headers["Location"] == "/finance/"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"]
)
def test_an_off_site_next_is_ignored(client: FlaskClient, db: Session, target: str) -> None:
    make_user(db, Role.MANAGER, email="m@example.org")
    db.commit()
    token = csrf_token(client, "/login")
    response = client.post(
        "/login",
        data={"email": "m@example.org", "password": PASSWORD, "next": target, "csrf_token": token},
    )
    assert response.headers["Location"] == "/"


def test_logout_ends_the_session(client: FlaskClient, db: Session) -> None:
    make_user(db, Role.MANAGER, email="m@example.org")
    db.commit()
    login(client, "m@example.org")
    response = post_form(client, "/logout", {}, form_url="/manager/")
    assert response.headers["Location"] == "/login"
    assert client.get("/manager/").status_code == 302
    with client.session_transaction() as session:
        assert "_user_id" not in session


def test_logout_is_not_possible_by_get(client: FlaskClient, db: Session) -> None:
    make_user(db, Role.MANAGER, email="m@example.org")
    db.commit()
    login(client, "m@example.org")
    response = client.get("/logout")
    assert response.status_code == 405
    assert response.headers["Allow"]
    assert client.get("/manager/").status_code == 200


def test_a_form_without_a_csrf_token_is_refused_and_signs_nobody_in(
    client: FlaskClient, db: Session
) -> None:
    make_user(db, Role.MANAGER, email="m@example.org")
    db.commit()
    response = client.post("/login", data={"email": "m@example.org", "password": PASSWORD})
    assert response.status_code == 400
    assert "This form has expired or did not come from this site." in response.get_data(
        as_text=True
    )
    assert client.get("/manager/").status_code == 302
    assert db.get(User, 1).last_login_at is None


def test_logout_without_a_csrf_token_is_refused(client: FlaskClient, db: Session) -> None:
    make_user(db, Role.MANAGER, email="m@example.org")
    db.commit()
    login(client, "m@example.org")
    assert client.post("/logout").status_code == 400
    assert client.get("/manager/").status_code == 200


def test_an_oversized_body_gets_413_and_writes_nothing(client: FlaskClient, db: Session) -> None:
    make_user(db, Role.MANAGER, email="m@example.org")
    db.commit()
    token = csrf_token(client, "/login")
    response = client.post(
        "/login",
        data={"email": "m@example.org", "password": "x" * (1024 * 1024 + 1), "csrf_token": token},
    )
    assert response.status_code == 413
    assert "larger than this service accepts" in response.get_data(as_text=True)
    assert db.get(User, 1).last_login_at is None


def test_error_pages_reveal_nothing(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(TESTING=False)

    @app.route("/explode")
    def explode() -> str:
        raise RuntimeError("secret internals: table users password_hash")

    client = app.test_client()
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    assert "There is nothing at this address" in missing.get_data(as_text=True)

    broken = client.get("/explode")
    text = broken.get_data(as_text=True)
    assert broken.status_code == 500
    assert "Something went wrong" in text
    assert "secret internals" not in text
    assert "Traceback" not in text


def test_responses_carry_protective_headers(client: FlaskClient) -> None:
    headers = client.get("/login").headers
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in headers
