"""Sessions end on the server: a session cookie copied before signing out, before a password
change or before an admin deactivates the account is refused afterwards and writes nothing.

Each test signs Avery in, copies the session cookie into a second client (as a thief
would), reads a redemption form with the copy, ends the session, then sends the copy again.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_login import login_user
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.domain.accounts import find_user_by_email, set_password
from grants.models import AuditEvent, Role, User
from grants.security import password_hasher, password_rules
from grants.web.hooks import money
from tests.factories import TODAY, World, build_world, make_user
from tests.support import counting_statements, form_fields, login, sign_in
from tests.wallets import counts, redeem_page

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def world(db: Session) -> World:
    return build_world(db)


class Thief:
    """A client that sends the session cookie it copied, whatever the server answers."""

    def __init__(self, app: Flask, victim: FlaskClient) -> None:
        cookie = victim.get_cookie("session")
        assert cookie is not None
        self.cookie = cookie.value
        self.client = app.test_client()

    def get(self, url: str):  # type: ignore[no-untyped-def]
        self.client.set_cookie("session", self.cookie)
        return self.client.get(url)

    def post(self, url: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
        self.client.set_cookie("session", self.cookie)
        return self.client.post(url, data=data)


def prepared_theft(app: Flask, world: World) -> tuple[FlaskClient, Thief, dict[str, str]]:
    """Avery signed in on the redemption form, a copy of Avery's cookie taken then, and the
    form's fields (its CSRF token is the one the copied cookie holds)."""
    avery = sign_in(app, world.avery)
    fields = form_fields(avery, redeem_page(world.avery_wallet))
    thief = Thief(app, avery)
    assert thief.get("/wallet/").status_code == 200
    return avery, thief, fields


def assert_signed_out_and_writes_nothing(
    db: Session, world: World, thief: Thief, fields: dict[str, str]
) -> None:
    """The copied cookie is sent to sign in, and its redemption writes nothing."""
    page = thief.get("/wallet/")
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/login")
    before = counts(db)
    posted = thief.post(
        redeem_page(world.avery_wallet),
        data={
            **fields,
            "provider_name": "Dr Rivera",
            "session_date": (TODAY - timedelta(days=3)).isoformat(),
            "amount": "120.50",
        },
    )
    assert posted.status_code == 302
    assert posted.headers["Location"].startswith("/login")
    assert counts(db) == before
    again = thief.get("/wallet/")
    assert again.headers["Location"].startswith("/login")


def test_a_cookie_copied_before_logout_is_signed_out_and_writes_nothing(
    app: Flask, db: Session, world: World
) -> None:
    avery, thief, fields = prepared_theft(app, world)
    logout_fields = form_fields(avery, "/wallet/", "/logout")
    response = avery.post("/logout", data={"csrf_token": logout_fields["csrf_token"]})
    assert response.headers["Location"] == "/login"
    assert_signed_out_and_writes_nothing(db, world, thief, fields)
    user = find_user_by_email(db, world.avery)
    assert user is not None
    assert user_events(db, user.id)[-1:] == ["user.sign_out"]


def user_events(db: Session, user_id: int) -> list[str]:
    """The audit trail's actions on one user, oldest first."""
    db.rollback()
    return list(
        db.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.object_type == "user", AuditEvent.object_id == user_id)
            .order_by(AuditEvent.seq)
        )
    )


def test_logout_ends_the_sessions_on_every_device(app: Flask, db: Session, world: World) -> None:
    laptop = sign_in(app, world.avery)
    phone = sign_in(app, world.avery)
    other = sign_in(app, world.other)
    token = form_fields(laptop, "/wallet/", "/logout")["csrf_token"]
    laptop.post("/logout", data={"csrf_token": token})
    assert phone.get("/wallet/").headers["Location"].startswith("/login")
    assert other.get("/wallet/").status_code == 200
    again = sign_in(app, world.avery)
    assert again.get("/wallet/").status_code == 200


def test_a_cookie_copied_before_a_password_change_is_signed_out_and_writes_nothing(
    app: Flask, db: Session, world: World
) -> None:
    _avery, thief, fields = prepared_theft(app, world)
    db.rollback()
    user = find_user_by_email(db, world.avery)
    assert user is not None
    set_password(
        db, user=user, password=NEW_PASSWORD, hasher=password_hasher(), rules=password_rules()
    )
    db.commit()
    assert_signed_out_and_writes_nothing(db, world, thief, fields)
    assert login(app.test_client(), world.avery).status_code == 401
    assert login(app.test_client(), world.avery, NEW_PASSWORD).status_code == 302


def test_a_new_password_set_from_the_command_line_ends_every_session(
    app: Flask, db: Session, world: World
) -> None:
    _avery, thief, fields = prepared_theft(app, world)
    result = app.test_cli_runner().invoke(
        args=["grants", "set-password", "--email", world.avery],
        input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert "every session of theirs has ended" in result.output
    assert NEW_PASSWORD not in result.output
    assert_signed_out_and_writes_nothing(db, world, thief, fields)
    assert login(app.test_client(), world.avery, NEW_PASSWORD).status_code == 302
    weak = app.test_cli_runner().invoke(
        args=["grants", "set-password", "--email", world.avery], input="short\nshort\n"
    )
    assert weak.exit_code == 1
    unknown = app.test_cli_runner().invoke(
        args=["grants", "set-password", "--email", "nobody@example.org"]
    )
    assert unknown.exit_code == 1
    assert "There is no user with the email nobody@example.org." in unknown.output


def admin_toggle(app: Flask, admin: FlaskClient, user_id: int, action: str):  # type: ignore[no-untyped-def]
    fields = form_fields(admin, "/admin/", f"/admin/users/{user_id}/{action}")
    return admin.post(f"/admin/users/{user_id}/{action}", data=fields)


def test_a_cookie_copied_before_an_admin_deactivates_the_user_is_signed_out_and_writes_nothing(
    app: Flask, db: Session, world: World
) -> None:
    make_user(db, Role.ADMIN, email="admin@example.org", name="Ada Admin")
    db.commit()
    _avery, thief, fields = prepared_theft(app, world)
    admin = sign_in(app, "admin@example.org")
    db.rollback()
    avery = find_user_by_email(db, world.avery)
    assert avery is not None
    fields_shown = form_fields(admin, "/admin/", f"/admin/users/{avery.id}/deactivate")
    response = admin.post(f"/admin/users/{avery.id}/deactivate", data=fields_shown)
    assert response.status_code == 302, response.get_data(as_text=True)
    replayed = admin.post(f"/admin/users/{avery.id}/deactivate", data=fields_shown)
    assert replayed.status_code == 302, "the same form sent twice does it once"
    assert user_events(db, avery.id).count("user.deactivate") == 1
    assert "Avery Ambassador was deactivated" in admin.get("/admin/").get_data(as_text=True)
    assert_signed_out_and_writes_nothing(db, world, thief, fields)
    assert login(app.test_client(), world.avery).status_code == 401

    response = admin_toggle(app, admin, avery.id, "reactivate")
    assert response.status_code == 302, response.get_data(as_text=True)
    db.rollback()
    assert db.get_one(User, avery.id).active
    assert thief.get("/wallet/").headers["Location"].startswith("/login")
    assert sign_in(app, world.avery).get("/wallet/").status_code == 200
    actions = db.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.object_type == "user", AuditEvent.object_id == avery.id)
        .order_by(AuditEvent.seq)
    ).all()
    assert actions[-2:] == ["user.deactivate", "user.reactivate"]


def test_an_admin_cannot_deactivate_themselves_and_others_cannot_deactivate_anyone(
    app: Flask, db: Session, world: World
) -> None:
    admin_user = make_user(db, Role.ADMIN, email="admin@example.org", name="Ada Admin")
    db.commit()
    admin = sign_in(app, "admin@example.org")
    db.rollback()
    avery = find_user_by_email(db, world.avery)
    assert avery is not None
    fields = form_fields(admin, "/admin/", f"/admin/users/{avery.id}/deactivate")
    events = db.scalar(select(func.count()).select_from(AuditEvent))
    own = admin.post(f"/admin/users/{admin_user.id}/deactivate", data=fields)
    assert own.status_code == 403
    assert "You cannot deactivate your own account" in own.get_data(as_text=True)
    db.rollback()
    assert db.get_one(User, admin_user.id).active
    assert admin.get("/admin/").status_code == 200

    manager = sign_in(app, world.manager)
    token = form_fields(manager, "/manager/partners/new")["csrf_token"]
    refused = manager.post(
        f"/admin/users/{admin_user.id}/deactivate", data={"csrf_token": token, "key": "k-1"}
    )
    assert refused.status_code == 403
    db.rollback()
    assert db.get_one(User, admin_user.id).active
    assert db.scalar(select(func.count()).select_from(AuditEvent)) == events


def test_a_signed_in_request_reads_its_user_and_roles_in_one_statement(
    app: Flask, world: World
) -> None:
    client = sign_in(app, world.avery)
    with counting_statements(app) as statements:
        page = client.get("/wallet/")
    assert page.status_code == 200
    assert "Balance" in page.get_data(as_text=True)
    about_the_user = [sql for sql in statements if "user_roles" in sql or "FROM users" in sql]
    assert len(about_the_user) == 1, about_the_user
    assert "JOIN user_roles" in about_the_user[0]


def test_each_request_writes_amounts_in_its_own_users_locale(app: Flask, db: Session) -> None:
    """The locale is looked up once per request and kept with that request: a later request in
    the same application context, for someone else, does not inherit it."""
    briton = make_user(db, Role.AMBASSADOR, locale="en_GB")
    american = make_user(db, Role.AMBASSADOR, locale="en_US")
    with app.app_context():
        for person, written in ((briton, "US$12.50"), (american, "$12.50"), (briton, "US$12.50")):
            with app.test_request_context("/wallet/"):
                login_user(person)
                assert money(1_250, "USD") == written
