"""The role decorator and which dashboard each role reaches."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from grants.models import Role
from grants.web import is_safe_next, roles_required
from tests.factories import make_ambassador, make_user
from tests.support import login

DASHBOARDS = {
    "/admin/": ({Role.ADMIN}, "<h1>Admin</h1>"),
    "/manager/": ({Role.MANAGER, Role.ADMIN}, "<h1>Programme</h1>"),
    "/finance/": ({Role.FINANCE}, "<h1>Finance</h1>"),
    "/wallet/": ({Role.AMBASSADOR, Role.RECIPIENT}, "<h1>My therapy credit</h1>"),
}


@pytest.mark.parametrize("path", list(DASHBOARDS))
def test_anonymous_visitors_are_sent_to_sign_in(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("path", list(DASHBOARDS))
def test_each_dashboard_admits_exactly_its_roles(
    client: FlaskClient, db: Session, role: Role, path: str
) -> None:
    make_user(db, role, email="someone@example.org")
    db.commit()
    login(client, "someone@example.org")
    response = client.get(path)
    allowed, heading = DASHBOARDS[path]
    text = response.get_data(as_text=True)
    if role in allowed:
        assert response.status_code == 200
        assert heading in text
    else:
        assert response.status_code == 403
        assert "Your account does not have access to this page." in text
        assert heading not in text


@pytest.mark.parametrize("page", ["99999999999999999999999", str(2**63), "-5", "²", "x"])
def test_the_admin_user_list_reads_any_page_number_as_a_page(
    client: FlaskClient, db: Session, page: str
) -> None:
    """A page number no database integer holds (or no number at all) shows the first page,
    not a 500."""
    make_user(db, Role.ADMIN, email="admin@example.org", name="Ada Admin")
    db.commit()
    login(client, "admin@example.org")
    response = client.get(f"/admin/?page={page}")
    assert response.status_code == 200, page
    assert "Ada Admin" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("roles", "home"),
    [
        ((Role.ADMIN,), "/admin/"),
        ((Role.MANAGER,), "/manager/"),
        ((Role.FINANCE,), "/finance/"),
        ((Role.AMBASSADOR,), "/wallet/"),
        ((Role.RECIPIENT,), "/wallet/"),
        ((Role.FINANCE, Role.MANAGER), "/manager/"),
    ],
)
def test_home_leads_to_the_first_role_dashboard(
    client: FlaskClient, db: Session, roles: tuple[Role, ...], home: str
) -> None:
    make_user(db, *roles, email="someone@example.org")
    db.commit()
    login(client, "someone@example.org")
    assert client.get("/").headers["Location"] == home


def test_a_user_without_roles_is_told_so(client: FlaskClient, db: Session) -> None:
    make_user(db, email="nobody@example.org")
    db.commit()
    login(client, "nobody@example.org")
    response = client.get("/")
    assert response.status_code == 403
    assert "Your account has no role yet." in response.get_data(as_text=True)


def test_navigation_lists_every_role_the_user_holds_and_no_other(
    client: FlaskClient, db: Session
) -> None:
    make_user(db, Role.MANAGER, Role.FINANCE, email="both@example.org")
    db.commit()
    login(client, "both@example.org")
    text = client.get("/finance/").get_data(as_text=True)
    assert '<a href="/manager/">Programme</a>' in text
    assert '<a href="/finance/" aria-current="page">Finance</a>' in text
    assert 'href="/admin/"' not in text
    assert 'href="/wallet/"' not in text


def test_the_wallet_shows_only_the_signed_in_ambassador(client: FlaskClient, db: Session) -> None:
    make_ambassador(db, programme="RADAR", email="me@example.org")
    make_ambassador(db, programme="EQUAL", email="other@example.org")
    db.commit()
    login(client, "me@example.org")
    text = client.get("/wallet/").get_data(as_text=True)
    assert "RADAR ambassador · United States" in text
    assert "EQUAL" not in text


def test_manager_cohort_counts_below_five_are_suppressed(client: FlaskClient, db: Session) -> None:
    for _ in range(5):
        make_ambassador(db, programme="GLOW")
    make_ambassador(db, programme="RADAR")
    make_user(db, Role.MANAGER, email="m@example.org")
    db.commit()
    login(client, "m@example.org")
    text = client.get("/manager/").get_data(as_text=True)
    assert '<td>GLOW</td><td>United States</td><td class="num">5</td>' in text
    assert '<td>RADAR</td><td>United States</td><td class="num">&lt;5</td>' in text


def test_roles_required_needs_a_role() -> None:
    with pytest.raises(ValueError, match="at least one role"):
        roles_required()


def test_roles_required_guards_a_new_view(make_app) -> None:  # type: ignore[no-untyped-def]
    app: Flask = make_app()

    @app.route("/finance-only")
    @roles_required(Role.FINANCE)
    def finance_only() -> str:
        return "ledger secrets"

    from grants.extensions import db as database

    with app.app_context():
        make_user(database.session, Role.AMBASSADOR, email="a@example.org")
        make_user(database.session, Role.FINANCE, email="f@example.org")
        database.session.commit()
    anonymous, ambassador, finance = app.test_client(), app.test_client(), app.test_client()
    login(ambassador, "a@example.org")
    login(finance, "f@example.org")
    assert anonymous.get("/finance-only").status_code == 302
    assert ambassador.get("/finance-only").status_code == 403
    assert "ledger secrets" not in ambassador.get("/finance-only").get_data(as_text=True)
    assert finance.get("/finance-only").get_data(as_text=True) == "ledger secrets"


@pytest.mark.parametrize(
    ("target", "safe"),
    [
        ("/finance/", True),
        ("/wallet/?page=2", True),
        ("", False),
        (None, False),
        ("finance", False),
        ("//evil.example", False),
        ("/\\evil.example", False),
        ("https://evil.example/", False),
        ("/\tevil", False),
    ],
)
def test_is_safe_next(target: str | None, safe: bool) -> None:
    assert is_safe_next(target) is safe
