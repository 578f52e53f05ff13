"""The admin's screens for people and programmes: the searchable list, a person's page
(roles, ambassador details, deactivation that signs them out everywhere, reactivation), and
programmes added and renamed; each change an audit event, every refusal clear and writing
nothing, every form refused without its CSRF token."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.models import Ambassador, AuditEvent, CohortStatus, Country, Programme, Role, User
from tests.factories import make_ambassador, make_programme, make_user
from tests.support import form_fields, sign_in, submit


@pytest.fixture
def admin(app: Flask, db: Session) -> FlaskClient:
    make_user(db, Role.ADMIN, email="ada@example.org", name="Ada Admin")
    db.commit()
    return sign_in(app, "ada@example.org")


def user_id(db: Session, email: str) -> int:
    db.rollback()
    found = db.scalar(select(User.id).where(User.email == email))
    assert found is not None
    return found


def events(db: Session) -> list[AuditEvent]:
    db.rollback()
    return list(db.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def rows(db: Session) -> dict[str, int]:
    db.rollback()
    return {
        model.__name__: db.scalar(select(func.count()).select_from(model)) or 0
        for model in (User, AuditEvent, Programme, Ambassador)
    }


def test_the_list_searches_by_name_or_email_in_any_case_and_filters_by_role(
    app: Flask, db: Session, admin: FlaskClient
) -> None:
    make_user(db, Role.MANAGER, email="maria@example.org", name="María José")
    make_user(db, Role.FINANCE, email="fin@books.example", name="Frank Figures")
    make_ambassador(db, email="amb@example.org", name="Ambrose Bierce")
    db.commit()
    page = admin.get("/admin/users").get_data(as_text=True)
    for name in ("Ada Admin", "María José", "Frank Figures", "Ambrose Bierce"):
        assert name in page

    by_name = admin.get("/admin/users?q=MARÍA").get_data(as_text=True)
    assert "María José" in by_name
    assert "Frank Figures" not in by_name
    by_email = admin.get("/admin/users?q=books.example").get_data(as_text=True)
    assert "Frank Figures" in by_email
    assert "María José" not in by_email
    wildcard = admin.get("/admin/users?q=%25").get_data(as_text=True)
    assert "Nobody matches that search" in wildcard
    by_role = admin.get("/admin/users?role=ambassador").get_data(as_text=True)
    assert "Ambrose Bierce" in by_role
    assert "ada@example.org" not in by_role


def test_the_list_pages(app: Flask, db: Session, admin: FlaskClient) -> None:
    for number in range(55):
        make_user(db, Role.RECIPIENT, email=f"r{number:02}@example.org", name=f"Rec {number:02}")
    db.commit()
    first = admin.get("/admin/users?role=recipient").get_data(as_text=True)
    assert "Rec 00" in first
    assert "Rec 54" not in first
    assert "Page 1 of 2 (55 in all)" in first
    second = admin.get("/admin/users?role=recipient&page=2").get_data(as_text=True)
    assert "Rec 54" in second
    assert "Rec 00" not in second


def test_the_admin_changes_roles_and_ambassador_details_on_the_person_s_page(
    app: Flask, db: Session, admin: FlaskClient
) -> None:
    ambassador = make_ambassador(db, email="amb@example.org", name="Ambrose Bierce")
    radar = make_programme(db, "RADAR")
    db.commit()
    person, radar_id = ambassador.user_id, radar.id
    page = f"/admin/users/{person}"
    assert "GLOW: GLOW, United States, current" in admin.get(page).get_data(as_text=True)

    response = submit(
        admin,
        page,
        {"programme_id": str(radar_id), "country": "GB", "cohort_status": "alumni"},
        action=f"{page}/access",
    )
    assert response.status_code == 302
    shown = admin.get(page).get_data(as_text=True)
    assert "roles were saved" in shown
    assert "RADAR: RADAR, United Kingdom, alumni" in shown
    event = events(db)[-1]
    assert event.action == "user.change_access"
    assert json.loads(event.before)["cohort_status"] == "current"
    assert json.loads(event.after) == {
        "roles": ["ambassador"],
        "programme_id": radar_id,
        "country": "GB",
        "cohort_status": "alumni",
    }

    fields = form_fields(admin, page, f"{page}/access")
    fields["roles"] = "manager"
    response = admin.post(f"{page}/access", data=fields)
    assert response.status_code == 302
    db.rollback()
    changed = db.get_one(User, person)
    assert changed.roles == [Role.MANAGER]
    membership = db.scalar(select(Ambassador).where(Ambassador.user_id == person))
    assert membership is not None
    assert membership.country is Country.GB
    assert membership.cohort_status is CohortStatus.ALUMNI


def test_a_refused_role_change_says_why_and_writes_nothing(
    app: Flask, db: Session, admin: FlaskClient
) -> None:
    ada = user_id(db, "ada@example.org")
    page = f"/admin/users/{ada}"
    before = rows(db)
    fields = form_fields(admin, page, f"{page}/access")
    response = admin.post(f"{page}/access", data={**fields, "roles": "manager"})
    assert response.status_code == 403
    assert "You cannot take the admin role from yourself" in response.get_data(as_text=True)
    no_roles = {name: value for name, value in fields.items() if name != "roles"}
    response = admin.post(f"{page}/access", data=no_roles)
    assert response.status_code == 422
    assert "Choose at least one role" in response.get_data(as_text=True)
    assert rows(db) == before


def test_deactivation_ends_every_session_of_the_person_and_reactivation_lets_them_back(
    app: Flask, db: Session, admin: FlaskClient
) -> None:
    make_user(db, Role.MANAGER, email="max@example.org", name="Max Manager")
    db.commit()
    max_id = user_id(db, "max@example.org")
    laptop, phone = sign_in(app, "max@example.org"), sign_in(app, "max@example.org")
    assert laptop.get("/manager/").status_code == 200

    page = f"/admin/users/{max_id}"
    action = f"/admin/users/{max_id}/deactivate?back=user"
    response = submit(admin, page, {}, action=action)
    assert response.status_code == 302
    assert response.headers["Location"] == page
    assert "deactivated and signed out everywhere" in admin.get(page).get_data(as_text=True)
    for device in (laptop, phone):
        signed_out = device.get("/manager/")
        assert signed_out.status_code == 302
        assert signed_out.headers["Location"].startswith("/login")
    assert events(db)[-1].action == "user.deactivate"
    assert json.loads(events(db)[-1].after) == {"active": False}

    response = submit(admin, page, {}, action=f"/admin/users/{max_id}/reactivate?back=user")
    assert response.status_code == 302
    assert laptop.get("/manager/").status_code == 302, "old sessions stay ended"
    assert sign_in(app, "max@example.org").get("/manager/").status_code == 200


def test_an_admin_who_deactivates_another_is_left_and_cannot_deactivate_themselves(
    app: Flask, db: Session, admin: FlaskClient
) -> None:
    make_user(db, Role.ADMIN, email="bea@example.org", name="Bea Admin")
    db.commit()
    bea_id, ada_id = user_id(db, "bea@example.org"), user_id(db, "ada@example.org")
    bea = sign_in(app, "bea@example.org")
    page = f"/admin/users/{bea_id}"
    response = submit(admin, page, {}, action=f"/admin/users/{bea_id}/deactivate?back=user")
    assert response.status_code == 302
    assert bea.get("/admin/").status_code == 302

    own_page = admin.get(f"/admin/users/{ada_id}").get_data(as_text=True)
    assert "Deactivate Ada Admin" not in own_page
    before = rows(db)
    fields = form_fields(admin, page, f"/admin/users/{bea_id}/reactivate?back=user")
    response = admin.post(f"/admin/users/{ada_id}/deactivate?back=user", data=fields)
    assert response.status_code == 403
    assert "You cannot deactivate your own account" in response.get_data(as_text=True)
    assert rows(db) == before


def test_an_invited_person_is_sent_a_new_link_rather_than_reactivated(
    app: Flask, db: Session, admin: FlaskClient
) -> None:
    response = submit(
        admin,
        "/admin/users/invite",
        {"email": "new@example.org", "display_name": "New Person", "roles": "finance"},
    )
    assert response.status_code == 302
    person = user_id(db, "new@example.org")
    page = admin.get(f"/admin/users/{person}").get_data(as_text=True)
    assert "Send a new link" in page
    assert "Reactivate" not in page
    before = rows(db)
    fields = form_fields(
        admin, f"/admin/users/{person}", f"/admin/users/{person}/invitation/resend"
    )
    response = admin.post(f"/admin/users/{person}/reactivate?back=user", data=fields)
    assert response.status_code == 409
    assert "has not accepted their invitation yet" in response.get_data(as_text=True)
    assert rows(db) == before


def test_programmes_are_added_and_renamed_with_audit_events(
    app: Flask, db: Session, admin: FlaskClient
) -> None:
    make_ambassador(db, programme="GLOW")
    db.commit()
    listing = admin.get("/admin/programmes").get_data(as_text=True)
    assert "GLOW" in listing

    response = submit(
        admin,
        "/admin/programmes/new",
        {"code": "nova", "name": "Nova", "description": "For artists starting out."},
    )
    assert response.status_code == 302
    db.rollback()
    nova = db.scalars(select(Programme).where(Programme.code == "NOVA")).one()
    assert (nova.name, nova.description) == ("Nova", "For artists starting out.")
    created = events(db)[-1]
    assert (created.action, created.object_id) == ("programme.create", nova.id)
    assert json.loads(created.after)["code"] == "NOVA"

    edit = f"/admin/programmes/{nova.id}/edit"
    response = submit(admin, edit, {"name": "Nova Rising"})
    assert response.status_code == 302
    renamed = events(db)[-1]
    assert renamed.action == "programme.update"
    assert json.loads(renamed.before)["name"] == "Nova"
    assert json.loads(renamed.after)["name"] == "Nova Rising"
    assert "Nova Rising" in admin.get("/admin/programmes").get_data(as_text=True)

    before = rows(db)
    taken = submit(admin, "/admin/programmes/new", {"code": "GLOW", "name": "Again"})
    assert taken.status_code == 409
    assert "already a programme with the code GLOW" in taken.get_data(as_text=True)
    bad = submit(admin, "/admin/programmes/new", {"code": "no spaces", "name": "X"})
    assert bad.status_code == 422
    assert rows(db) == before


@pytest.mark.parametrize(
    "path",
    ["/admin/users/invite", "/admin/programmes/new", "/admin/users/{ada}/access"],
)
def test_posts_without_a_csrf_token_are_refused(
    app: Flask, db: Session, admin: FlaskClient, path: str
) -> None:
    before = rows(db)
    target = path.format(ada=user_id(db, "ada@example.org"))
    response = admin.post(
        target,
        data={
            "email": "x@example.org",
            "display_name": "X",
            "roles": "finance",
            "code": "X1",
            "name": "X",
            "key": "k",
        },
    )
    assert response.status_code == 400
    assert rows(db) == before
