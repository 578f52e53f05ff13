"""The profile page, as the person it belongs to uses it: name, language and locale, time
zone (by default their country's, or their locale's), changing the password (which signs
out everywhere else) and changing the email address (confirmed by a link sent to the new
address, while the old one is told).

Bad input is answered on the form and writes nothing: a wrong current password, an unknown
time zone or language, an address another account uses (when asked, or taken by the time
the link is followed), a used, tampered or expired confirmation link, a post without its
form's CSRF token.
"""

from __future__ import annotations

import email.message
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from grants import clock
from grants.models import AccountToken, AuditEvent, Country, OutboxMessage, Role, User
from tests.factories import build_world, make_ambassador, make_user
from tests.support import PASSWORD, form_fields, login, sign_in, submit
from tests.wallets import outbox
from tests.web.test_password_reset import html_of, text_of

CONFIRM_LINK = re.compile(r"http://localhost/account/email/confirm/[A-Za-z0-9_-]+")
NEW_PASSWORD = "a quieter tour bus 7"


def snapshot(db: Session) -> dict[str, object]:
    """What a refused form must leave as it was: every user's details and the counts of the
    rows an account change writes."""
    db.rollback()
    users = db.execute(
        select(
            User.id,
            User.email,
            User.display_name,
            User.locale,
            User.time_zone,
            User.password_hash,
            User.session_version,
        ).order_by(User.id)
    ).all()
    counts = {
        model.__name__: db.scalar(select(func.count()).select_from(model)) or 0
        for model in (AccountToken, OutboxMessage, AuditEvent)
    }
    return {"users": [tuple(row) for row in users], **counts}


def user(db: Session, email: str) -> User:
    db.rollback()
    found = db.scalar(select(User).where(User.email == email))
    assert found is not None
    return found


def selected(page: TestResponse, name: str) -> str:
    """The option chosen in the select ``name`` of ``page``."""
    body = page.get_data(as_text=True)
    select_html = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', body, re.S)
    assert select_html, name
    chosen = re.search(r'<option selected value="([^"]*)"', select_html[1]) or re.search(
        r'<option value="([^"]*)" selected', select_html[1]
    )
    assert chosen, select_html[1][:300]
    return chosen[1]


@pytest.fixture
def jo(db: Session) -> str:
    make_user(db, Role.MANAGER, email="jo@example.org", name="Jo Bassist")
    db.commit()
    return "jo@example.org"


def confirm_link_in(messages: list[email.message.Message], to: str) -> str:
    """The confirmation link in the email sent to ``to``."""
    for message in messages:
        if message["To"] == to:
            match = CONFIRM_LINK.search(text_of(message))
            assert match
            return match.group(0)
    raise AssertionError(f"no email to {to}")


# --- the page and its fields --------------------------------------------------------------


def test_the_profile_is_reached_from_the_header_and_only_when_signed_in(
    app: Flask, jo: str
) -> None:
    assert app.test_client().get("/account").headers["Location"].startswith("/login")
    client = sign_in(app, jo)
    home = client.get("/manager/").get_data(as_text=True)
    assert '<a class="who" href="/account">Jo Bassist</a>' in home
    page = client.get("/account")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Your profile" in body
    assert 'value="Jo Bassist"' in body
    assert "jo@example.org" in body
    assert selected(page, "locale") == "en_US"


def test_the_time_zone_follows_the_country_then_the_locale_until_chosen(
    app: Flask, db: Session
) -> None:
    make_ambassador(db, email="us@example.org", name="Uma US")
    make_ambassador(db, email="gb@example.org", name="Gwen GB", country=Country.GB, locale="en_US")
    make_user(db, Role.FINANCE, email="brit@example.org", locale="en_GB")
    make_user(db, Role.FINANCE, email="yank@example.org", locale="en_US")
    db.commit()
    expected = {
        "us@example.org": "America/New_York",
        "gb@example.org": "Europe/London",
        "brit@example.org": "Europe/London",
        "yank@example.org": "America/New_York",
    }
    before = snapshot(db)["users"]
    for address, zone in expected.items():
        client = sign_in(app, address)
        page = client.get("/account")
        assert selected(page, "time_zone") == "", address
        assert f'<option selected value="">Automatic: {zone.replace("_", " ")}</option>' in (
            page.get_data(as_text=True)
        )
        assert submit(client, "/account", {}).status_code == 302
    assert snapshot(db)["users"] == before, "saving the form as shown keeps the automatic zone"


def test_name_language_and_time_zone_are_saved_and_recorded(
    app: Flask, db: Session, jo: str
) -> None:
    client = sign_in(app, jo)
    saved = submit(
        client,
        "/account",
        {"display_name": "  Jo   Drummer ", "locale": "en_GB", "time_zone": "Asia/Tokyo"},
    )
    assert saved.status_code == 302
    page = client.get("/account")
    body = page.get_data(as_text=True)
    assert "Your profile is saved." in body
    assert '<a class="who" href="/account" aria-current="page">Jo Drummer</a>' in body
    assert selected(page, "locale") == "en_GB"
    assert selected(page, "time_zone") == "Asia/Tokyo"
    found = user(db, jo)
    assert (found.display_name, found.locale, found.time_zone) == (
        "Jo Drummer",
        "en_GB",
        "Asia/Tokyo",
    )
    event = db.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert event is not None
    assert event.action == "user.update_profile"
    assert event.actor_id == found.id
    assert json.loads(event.before or "") == {
        "display_name": "Jo Bassist",
        "locale": "en_US",
        "time_zone": None,
    }

    again = snapshot(db)
    assert submit(client, "/account", {}).status_code == 302
    assert "Nothing was changed." in client.get("/account").get_data(as_text=True)
    assert snapshot(db) == again


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "Choose one of the time zones listed."),
        ({"locale": "fr_FR"}, "Choose one of the languages listed."),
        ({"display_name": "   "}, "This field is required."),
        ({"display_name": "x" * 121}, "longer than 120 characters"),
        ({"display_name": "Jo\u200bBassist\u0007"}, "cannot contain control characters"),
    ],
)
def test_a_bad_profile_value_is_refused_and_writes_nothing(
    app: Flask, db: Session, jo: str, changes: dict[str, str], message: str
) -> None:
    client = sign_in(app, jo)
    before = snapshot(db)
    refused = submit(client, "/account", changes)
    assert refused.status_code in (400, 422)
    assert message in refused.get_data(as_text=True)
    assert snapshot(db) == before


# --- the password -------------------------------------------------------------------------


def test_changing_the_password_keeps_this_session_and_ends_the_others(
    app: Flask, db: Session, jo: str
) -> None:
    elsewhere = sign_in(app, jo)
    client = sign_in(app, jo)
    before = snapshot(db)
    wrong = submit(
        client,
        "/account/password",
        {
            "current_password": "not it at all",
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
        },
    )
    assert wrong.status_code == 422
    assert "That is not your current password." in wrong.get_data(as_text=True)
    weak = submit(
        client,
        "/account/password",
        {"current_password": PASSWORD, "password": "jo bassist", "password_again": "jo bassist"},
    )
    assert weak.status_code == 422
    assert snapshot(db) == before
    assert elsewhere.get("/account").status_code == 200

    changed = submit(
        client,
        "/account/password",
        {"current_password": PASSWORD, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
    )
    assert changed.status_code == 302
    page = client.get("/account")
    assert page.status_code == 200
    assert "Your password is changed." in page.get_data(as_text=True)
    assert elsewhere.get("/account").headers["Location"].startswith("/login")
    assert login(app.test_client(), jo).status_code == 401
    assert login(app.test_client(), jo, NEW_PASSWORD).status_code == 302

    (notice,) = outbox(app)
    assert notice["To"] == jo
    assert notice["Subject"] == "Your password was changed"
    assert "http://localhost/password/forgot" in text_of(notice)


# --- the email address --------------------------------------------------------------------


def ask_for_email_change(
    client: FlaskClient, address: str, password: str = PASSWORD
) -> TestResponse:
    return submit(client, "/account/email", {"new_email": address, "current_password": password})


def test_a_new_address_is_confirmed_by_its_link_and_the_old_one_is_told(
    app: Flask, db: Session, jo: str
) -> None:
    client = sign_in(app, jo)
    asked = ask_for_email_change(client, " Jo.New@Example.org ")
    assert asked.status_code == 302
    page = client.get("/account").get_data(as_text=True)
    assert "We have sent a link to jo.new@example.org" in page
    assert "Waiting for you to confirm jo.new@example.org" in page
    assert user(db, jo).email == jo

    messages = outbox(app)
    assert [message["To"] for message in messages] == ["jo.new@example.org"]
    assert messages[0]["Subject"] == "Confirm your new email address"
    link = confirm_link_in(messages, "jo.new@example.org")
    assert link in html_of(messages[0])

    visitor = app.test_client()
    shown = visitor.get(link)
    assert shown.status_code == 200
    assert shown.headers["Referrer-Policy"] == "no-referrer"
    assert "Use jo.new@example.org" in shown.get_data(as_text=True)
    assert user(db, jo).email == jo, "opening the link changes nothing until confirmed"

    fields = form_fields(visitor, link)
    confirmed = visitor.post(link, data=fields)
    assert confirmed.status_code == 302
    assert user(db, "jo.new@example.org").display_name == "Jo Bassist"
    assert client.get("/account").status_code == 200, "the change signs nobody out"
    assert login(app.test_client(), "jo.new@example.org").status_code == 302
    assert login(app.test_client(), jo).status_code == 401

    notices = outbox(app)[1:]
    assert [notice["To"] for notice in notices] == [jo]
    told = text_of(notices[0])
    assert "changed from jo@example.org to jo.new@example.org" in " ".join(told.split())
    assert "did not" in told
    assert not re.search(r"/(password/reset|account/email/confirm)/", told + html_of(notices[0]))

    used = visitor.get(link)
    assert used.status_code == 410
    assert "used already" in used.get_data(as_text=True)
    assert visitor.post(link, data=fields).status_code == 410
    db.rollback()
    actions = db.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    assert actions[-2:] == ["user.request_email_change", "user.change_email"]


def test_an_address_in_use_is_refused_when_asked_and_writes_nothing(
    app: Flask, db: Session, jo: str
) -> None:
    make_user(db, Role.FINANCE, email="taken@example.org")
    db.commit()
    client = sign_in(app, jo)
    before = snapshot(db)
    for address, message in (
        ("TAKEN@example.org", "That address is used by another account"),
        ("jo@example.org", "That is already your email address."),
        ("not an address", "not a valid email address"),
    ):
        refused = ask_for_email_change(client, address)
        assert refused.status_code == 422
        assert message in refused.get_data(as_text=True)
    wrong = ask_for_email_change(client, "fresh@example.org", "not my password")
    assert wrong.status_code == 422
    assert "That is not your current password." in wrong.get_data(as_text=True)
    assert snapshot(db) == before
    assert outbox(app) == []


def test_an_address_taken_before_the_link_is_followed_is_refused_and_writes_nothing(
    app: Flask, db: Session, jo: str
) -> None:
    client = sign_in(app, jo)
    ask_for_email_change(client, "wanted@example.org")
    link = confirm_link_in(outbox(app), "wanted@example.org")
    make_user(db, Role.FINANCE, email="wanted@example.org")
    db.commit()
    before = snapshot(db)
    visitor = app.test_client()
    refused = visitor.post(link, data=form_fields(visitor, link))
    assert refused.status_code == 409
    assert "is now used by another account" in refused.get_data(as_text=True)
    assert "still signs in with jo@example.org" in refused.get_data(as_text=True)
    assert snapshot(db) == before


def test_a_tampered_or_expired_confirmation_link_changes_nothing(
    app: Flask, db: Session, jo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    monkeypatch.setattr(clock, "now", lambda: start)
    client = sign_in(app, jo)
    ask_for_email_change(client, "later@example.org")
    link = confirm_link_in(outbox(app), "later@example.org")
    before = snapshot(db)

    tampered = app.test_client().get(link[:-2] + ("zz" if not link.endswith("zz") else "yy"))
    assert tampered.status_code == 404
    assert "This link is not valid" in tampered.get_data(as_text=True)

    monkeypatch.setattr(clock, "now", lambda: start + timedelta(hours=23, minutes=59))
    visitor = app.test_client()
    fields = form_fields(visitor, link)
    monkeypatch.setattr(clock, "now", lambda: start + timedelta(hours=24))
    expired = visitor.post(link, data=fields)
    assert expired.status_code == 410
    assert "This link has expired" in expired.get_data(as_text=True)
    assert snapshot(db) == before


def test_posts_without_the_form_token_are_refused(app: Flask, db: Session, jo: str) -> None:
    client = sign_in(app, jo)
    ask_for_email_change(client, "csrf@example.org")
    link = confirm_link_in(outbox(app), "csrf@example.org")
    before = snapshot(db)
    for path, data in (
        ("/account", {"display_name": "Forged", "locale": "en_GB", "time_zone": "UTC"}),
        (
            "/account/password",
            {
                "current_password": PASSWORD,
                "password": NEW_PASSWORD,
                "password_again": NEW_PASSWORD,
            },
        ),
        ("/account/email", {"new_email": "forged@example.org", "current_password": PASSWORD}),
    ):
        assert client.post(path, data=data).status_code == 400, path
    fields = form_fields(app.test_client(), link)
    del fields["csrf_token"]
    assert app.test_client().post(link, data=fields).status_code == 400
    assert snapshot(db) == before


def test_a_uk_ambassador_in_the_world_sees_london_time(app: Flask, db: Session) -> None:
    world = build_world(db)
    page = sign_in(app, world.uk).get("/account")
    assert "Automatic: Europe/London" in page.get_data(as_text=True)
    assert selected(page, "locale") == "en_GB"


def test_asking_for_email_changes_is_limited_per_person(make_app, db: Session) -> None:  # type: ignore[no-untyped-def]
    app = make_app(RATE_LIMITS_ENABLED=True, RATE_LIMIT_EMAIL_CHANGE="1 per hour")
    make_user(db, Role.MANAGER, email="jo@example.org")
    db.commit()
    client = sign_in(app, "jo@example.org")
    assert ask_for_email_change(client, "one@example.org").status_code == 302
    before = snapshot(db)
    assert ask_for_email_change(client, "two@example.org").status_code == 429
    assert snapshot(db) == before
    assert client.get("/account/email").status_code == 200


def test_choosing_automatic_again_follows_the_country_once_more(app: Flask, db: Session) -> None:
    make_ambassador(db, email="gb@example.org", country=Country.GB)
    db.commit()
    client = sign_in(app, "gb@example.org")
    submit(client, "/account", {"time_zone": "America/Chicago"})
    assert user(db, "gb@example.org").time_zone == "America/Chicago"
    submit(client, "/account", {"time_zone": ""})
    assert user(db, "gb@example.org").time_zone is None
    assert "Automatic: Europe/London" in client.get("/account").get_data(as_text=True)


def test_a_new_password_ends_a_pending_email_change_and_a_new_email_ends_a_reset_link(
    app: Flask, db: Session, jo: str
) -> None:
    client = sign_in(app, jo)
    ask_for_email_change(client, "thief@example.org")
    stolen = confirm_link_in(outbox(app), "thief@example.org")
    changed = submit(
        client,
        "/account/password",
        {"current_password": PASSWORD, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
    )
    assert changed.status_code == 302
    assert app.test_client().get(stolen).status_code == 404
    assert "Waiting for you to confirm" not in client.get("/account").get_data(as_text=True)

    submit(app.test_client(), "/password/forgot", {"email": jo})
    reset = re.search(r"http://localhost/password/reset/\S+", text_of(outbox(app)[-1]))
    assert reset
    ask_for_email_change(client, "jo.moved@example.org", NEW_PASSWORD)
    link = confirm_link_in(outbox(app), "jo.moved@example.org")
    visitor = app.test_client()
    assert visitor.post(link, data=form_fields(visitor, link)).status_code == 302
    assert app.test_client().get(reset[0]).status_code == 404, "the reset went to the old address"
