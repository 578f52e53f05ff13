"""Invitations, as the admin sends one and the invited person receives it: the email, the
link that sets their password and signs them in, and every way a link stops working (used,
replaced by a newer one, withdrawn, expired at the 7-day boundary, altered), each answered
with a clear page and no write."""

from __future__ import annotations

import email.message
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants import clock
from grants.domain import invitations
from grants.domain.invitations import InvitationDetails, InviteOutcome
from grants.domain.user_admin import Membership
from grants.models import (
    Ambassador,
    AuditEvent,
    CohortStatus,
    Country,
    Invitation,
    OutboxMessage,
    Role,
    User,
)
from tests.factories import make_programme, make_user
from tests.security.test_rate_limits import assert_too_many, from_address, limited_app
from tests.support import PASSWORD, form_fields, sign_in, submit
from tests.wallets import deliver_outbox, outbox

INVITE = "/admin/users/invite"
LINK = re.compile(r"https?://[^\s/\"<]+/invitations/[A-Za-z0-9_-]+")
NEW_PASSWORD = "a tune for the road home"


def parts_of(message: email.message.Message) -> dict[str, str]:
    """The plain text and HTML of an email, by content type."""
    found = {}
    for part in message.walk():
        if part.get_content_maintype() == "multipart":
            continue
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        found[part.get_content_type()] = payload.decode(part.get_content_charset() or "utf-8")
    return found


def link_in(message: email.message.Message) -> str:
    text = parts_of(message)["text/plain"]
    match = LINK.search(text)
    assert match, text
    return match.group(0)


def path_of(link: str) -> str:
    return link.removeprefix("http://localhost")


@pytest.fixture
def admin(app: Flask, db: Session) -> FlaskClient:
    make_user(db, Role.ADMIN, email="ada@example.org", name="Ada Admin")
    make_programme(db, "GLOW")
    db.commit()
    return sign_in(app, "ada@example.org")


def glow_id(db: Session) -> int:
    db.rollback()
    return make_programme(db, "GLOW").id


def invite_through_the_form(
    admin: FlaskClient, db: Session, email: str = "Rosa.Rivera@Example.org", **changes: str
) -> int:
    fields = {
        "email": email,
        "display_name": "Rosa Rivera",
        "roles": "ambassador",
        "programme_id": str(glow_id(db)),
        "country": "GB",
        "cohort_status": "current",
        **changes,
    }
    response = submit(admin, INVITE, fields)
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.headers["Location"].rsplit("/", 1)[1])


def counts(db: Session) -> dict[str, int]:
    db.rollback()
    return {
        model.__name__: db.scalar(select(func.count()).select_from(model)) or 0
        for model in (User, Invitation, OutboxMessage, AuditEvent, Ambassador)
    }


def test_an_invited_ambassador_is_emailed_a_link_that_sets_their_password_and_signs_them_in(
    app: Flask, db: Session, admin: FlaskClient
) -> None:
    user_id = invite_through_the_form(admin, db)
    page = admin.get(f"/admin/users/{user_id}").get_data(as_text=True)
    assert "Invited" in page
    assert "the link works until" in page

    db.rollback()
    invited = db.get(User, user_id)
    assert invited is not None
    assert invited.email == "rosa.rivera@example.org"
    assert not invited.active
    assert invited.password_hash is None
    assert invited.roles == [Role.AMBASSADOR]
    membership = db.scalar(select(Ambassador).where(Ambassador.user_id == user_id))
    assert membership is not None
    assert (membership.country, membership.cohort_status) == (Country.GB, CohortStatus.CURRENT)
    stored = db.scalars(select(Invitation)).one()
    assert len(stored.token_hash) == 64

    (message,) = outbox(app)
    assert message["To"] == "rosa.rivera@example.org"
    assert message["Subject"] == "Ada Admin has invited you to Heart & Soul Funding"
    text, html = parts_of(message)["text/plain"], parts_of(message)["text/html"]
    link = link_in(message)
    assert link.startswith("http://localhost/invitations/")
    token = link.rsplit("/", 1)[1]
    assert len(token) >= 43  # 256 bits, base64url
    assert token not in stored.token_hash
    for body in (text, html):
        assert "Hello Rosa Rivera" in body
        assert "You join" in body
        assert "GLOW" in body
        assert "United Kingdom" in body
        assert "give therapy credit to bandmates and crew" in body
        assert link in body
    assert "The link works once, until" in text

    visitor = app.test_client()
    opened = visitor.get(path_of(link))
    assert opened.headers["Referrer-Policy"] == "no-referrer"
    assert opened.headers["Cache-Control"] == "no-store"
    page = opened.get_data(as_text=True)
    assert "Welcome, Rosa Rivera" in page
    assert "Choose your password" in page
    response = submit(
        visitor, path_of(link), {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    )
    assert response.status_code == 302
    home = visitor.get("/", follow_redirects=True).get_data(as_text=True)
    assert "Your account is ready" in home
    assert visitor.get("/wallet/").status_code == 200

    db.rollback()
    invited = db.get(User, user_id)
    assert invited is not None
    assert invited.active
    assert invited.password_hash
    assert db.scalars(select(Invitation.accepted_at)).one() is not None
    actions = db.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    assert actions == ["user.invite", "invitation.send", "invitation.accept", "user.activate"]
    sign_in(app, "rosa.rivera@example.org", NEW_PASSWORD)


def test_a_used_link_is_refused_clearly_and_writes_nothing(
    app: Flask, db: Session, admin: FlaskClient
) -> None:
    invite_through_the_form(admin, db)
    link = path_of(link_in(outbox(app)[-1]))
    visitor = app.test_client()
    fields = form_fields(visitor, link)
    good = {**fields, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    assert visitor.post(link, data=good).status_code == 302

    stranger = app.test_client()
    before = counts(db)
    page = stranger.get(link)
    assert page.status_code == 410
    assert "already been accepted" in page.get_data(as_text=True)
    again = stranger.post(link, data={**good, "password": "another good passphrase"})
    assert again.status_code in (400, 410)
    assert counts(db) == before
    sign_in(app, "rosa.rivera@example.org", NEW_PASSWORD)


def test_a_weak_or_mismatched_password_is_refused_on_the_form(
    app: Flask, db: Session, admin: FlaskClient
) -> None:
    invite_through_the_form(admin, db)
    link = path_of(link_in(outbox(app)[-1]))
    visitor = app.test_client()
    before = counts(db)
    weak = submit(visitor, link, {"password": "short", "password_again": "short"})
    assert weak.status_code == 422
    assert "at least 12 characters" in weak.get_data(as_text=True)
    named = submit(visitor, link, {"password": "rosa rivera", "password_again": "rosa rivera"})
    assert named.status_code == 422
    differ = submit(visitor, link, {"password": NEW_PASSWORD, "password_again": "something else"})
    assert differ.status_code == 422
    assert "The two passwords differ" in differ.get_data(as_text=True)
    assert counts(db) == before


def test_resending_makes_a_new_link_and_kills_the_old_one(
    app: Flask, db: Session, admin: FlaskClient
) -> None:
    user_id = invite_through_the_form(admin, db)
    first = path_of(link_in(outbox(app)[-1]))
    page = f"/admin/users/{user_id}"
    response = submit(admin, page, {}, action=f"/admin/users/{user_id}/invitation/resend")
    assert response.status_code == 302
    emails = outbox(app)
    assert len(emails) == 2
    second = path_of(link_in(emails[-1]))
    assert second != first

    visitor = app.test_client()
    old = visitor.get(first)
    assert old.status_code == 410
    assert "a newer one was sent" in old.get_data(as_text=True)
    assert visitor.get(second).status_code == 200
    db.rollback()
    revoked, pending = db.scalars(select(Invitation).order_by(Invitation.id)).all()
    assert revoked.revoked_at is not None
    assert pending.revoked_at is None


def test_a_withdrawn_invitation_stops_working_and_its_email_is_not_sent(
    app: Flask, db: Session, admin: FlaskClient
) -> None:
    user_id = invite_through_the_form(admin, db)
    response = submit(
        admin,
        f"/admin/users/{user_id}",
        {},
        action=f"/admin/users/{user_id}/invitation/revoke",
    )
    assert response.status_code == 302
    assert deliver_outbox(app).dropped == 1
    assert outbox(app) == []
    db.rollback()
    token_hash = db.scalars(select(Invitation.token_hash)).one()
    assert token_hash
    page = admin.get(f"/admin/users/{user_id}").get_data(as_text=True)
    assert "withdrawn" in page
    assert "Send the invitation again" in page
    actions = db.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    assert actions[-1] == "invitation.revoke"


def test_a_link_expires_at_the_seven_day_boundary(
    app: Flask, db: Session, admin: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent_at = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    monkeypatch.setattr(clock, "now", lambda: sent_at)
    invite_through_the_form(admin, db)
    link = path_of(link_in(outbox(app)[-1]))
    visitor = app.test_client()

    monkeypatch.setattr(clock, "now", lambda: sent_at + timedelta(days=7, microseconds=-1))
    assert visitor.get(link).status_code == 200

    monkeypatch.setattr(clock, "now", lambda: sent_at + timedelta(days=7))
    before = counts(db)
    expired = visitor.get(link)
    assert expired.status_code == 410
    assert "This invitation link has expired" in expired.get_data(as_text=True)
    fields = form_fields(app.test_client(), "/login")
    posted = visitor.post(
        link,
        data={
            "csrf_token": fields["csrf_token"],
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
        },
    )
    assert posted.status_code in (400, 410)
    assert counts(db) == before


def test_an_altered_or_unknown_link_is_not_valid(
    app: Flask, db: Session, admin: FlaskClient
) -> None:
    invite_through_the_form(admin, db)
    link = path_of(link_in(outbox(app)[-1]))
    altered = link[:-2] + ("AA" if not link.endswith("AA") else "BB")
    visitor = app.test_client()
    before = counts(db)
    for path in (altered, "/invitations/nothing", "/invitations/" + "x" * 300):
        response = visitor.get(path)
        assert response.status_code == 404
        assert "This invitation link is not valid" in response.get_data(as_text=True)
    assert counts(db) == before


def test_inviting_someone_with_an_active_account_is_refused_with_a_way_to_their_page(
    app: Flask, db: Session, admin: FlaskClient
) -> None:
    existing = make_user(db, Role.MANAGER, email="max@example.org", name="Max Manager")
    db.commit()
    before = counts(db)
    response = submit(
        admin,
        INVITE,
        {"email": "MAX@example.org", "display_name": "Max", "roles": "finance"},
    )
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "max@example.org already has an active account" in page
    assert f"/admin/users/{existing.id}" in page
    assert counts(db) == before


def test_inviting_an_invited_person_again_updates_them_rather_than_adding_another(
    app: Flask, db: Session, admin: FlaskClient
) -> None:
    user_id = invite_through_the_form(admin, db)
    again = invite_through_the_form(
        admin, db, email="ROSA.RIVERA@example.org", display_name="Rosa R.", roles="manager"
    )
    assert again == user_id
    db.rollback()
    assert db.scalar(select(func.count()).select_from(User).where(User.email.like("rosa%"))) == 1
    person = db.get(User, user_id)
    assert person is not None
    assert person.display_name == "Rosa R."
    assert person.roles == [Role.MANAGER]
    membership = db.scalar(select(Ambassador).where(Ambassador.user_id == user_id))
    assert membership is not None
    assert membership.cohort_status is CohortStatus.ALUMNI
    first, second = db.scalars(select(Invitation).order_by(Invitation.id)).all()
    assert first.revoked_at is not None
    assert second.is_pending(clock.now())


def test_the_invitation_form_refuses_bad_input_without_writing(
    app: Flask, db: Session, admin: FlaskClient
) -> None:
    before = counts(db)
    cases = [
        {"email": "not an email", "display_name": "X", "roles": "finance"},
        {"email": "x@example.org", "display_name": "X", "roles": ""},
        {"email": "x@example.org", "display_name": "X", "roles": "emperor"},
        {"email": "x@example.org", "display_name": "X", "roles": "ambassador", "programme_id": ""},
    ]
    for fields in cases:
        response = submit(admin, INVITE, fields)
        assert response.status_code == 422, fields
    assert counts(db) == before
    assert "Choose the ambassador" in submit(admin, INVITE, cases[-1]).get_data(as_text=True)


def test_invite_person_in_a_loop_says_what_it_did_for_each(app: Flask, db: Session) -> None:
    """What a cohort's list does: one transaction, one call per row."""
    actor = make_user(db, Role.ADMIN, email="ada@example.org")
    make_user(db, Role.MANAGER, email="active@example.org")
    gone = make_user(db, Role.MANAGER, email="gone@example.org")
    gone.active = False
    glow = make_programme(db, "GLOW")
    now = clock.now()
    member = Membership(glow.id, Country.US, CohortStatus.UPCOMING)
    rows = [
        InvitationDetails("new@example.org", "New Person", ("ambassador",), member),
        InvitationDetails("NEW@example.org", "New Person", ("ambassador",), member),
        InvitationDetails("active@example.org", "Active", ("ambassador",), member),
        InvitationDetails("gone@example.org", "Gone", ("ambassador",), member),
    ]
    outcomes = [
        invitations.invite_person(db, actor=actor, details=row, now=now).outcome for row in rows
    ]
    db.commit()
    assert outcomes == [
        InviteOutcome.CREATED,
        InviteOutcome.UPDATED,
        InviteOutcome.ALREADY_ACTIVE,
        InviteOutcome.DEACTIVATED,
    ]
    assert db.scalar(select(func.count()).select_from(Invitation)) == 2
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 2


def test_the_invitation_page_without_a_csrf_token_is_refused(
    app: Flask, db: Session, admin: FlaskClient
) -> None:
    invite_through_the_form(admin, db)
    link = path_of(link_in(outbox(app)[-1]))
    before = counts(db)
    response = app.test_client().post(
        link, data={"password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    )
    assert response.status_code == 400
    assert counts(db) == before
    assert PASSWORD != NEW_PASSWORD


def test_invitation_links_are_limited_per_address(make_app) -> None:  # type: ignore[no-untyped-def]
    """Guessing at links is slowed down as for claim links: a few tries a minute per
    address, then 429, while another address is still answered."""
    app = limited_app(make_app, RATE_LIMIT_INVITATION="3 per minute")
    guesser = from_address(app, "198.51.100.30")
    for _ in range(3):
        assert guesser.get(f"/invitations/{uuid.uuid4().hex}").status_code == 404
    assert_too_many(guesser.get(f"/invitations/{uuid.uuid4().hex}"))
    assert from_address(app, "198.51.100.31").get("/invitations/unknown").status_code == 404


def test_a_resubmitted_invitation_form_sends_one_invitation(
    app: Flask, db: Session, admin: FlaskClient
) -> None:
    fields = form_fields(admin, INVITE)
    fields.update(email="twice@example.org", display_name="Twice", roles="finance")
    first = admin.post(INVITE, data=fields)
    again = admin.post(INVITE, data=fields)
    assert first.status_code == again.status_code == 302
    assert first.headers["Location"] == again.headers["Location"]
    assert len(outbox(app)) == 1
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Invitation)) == 1


def test_inviting_a_deactivated_person_is_refused_with_a_way_to_reactivate(
    app: Flask, db: Session, admin: FlaskClient
) -> None:
    gone = make_user(db, Role.FINANCE, email="gone@example.org", name="Gone Person")
    gone.active = False
    db.commit()
    before = counts(db)
    response = submit(
        admin, INVITE, {"email": "gone@example.org", "display_name": "Gone", "roles": "finance"}
    )
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "has an account that was deactivated" in page
    assert f"/admin/users/{gone.id}" in page
    assert counts(db) == before
