"""Signing in and out in a real browser."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from grants.models import Role
from tests.browser.pages import sign_in
from tests.factories import make_user


def test_a_manager_signs_in_reaches_the_dashboard_and_signs_out(
    db: Session, live_server: str, contexts: Any
) -> None:
    make_user(db, Role.MANAGER, email="mo@example.org", name="Mo Manager")
    db.commit()
    page = contexts().new_page()

    sign_in(page, live_server, "mo@example.org")

    assert page.url == f"{live_server}/manager/"
    assert page.get_by_role("heading", level=1).inner_text() == "Programme"
    assert "Mo Manager" in page.locator("header").inner_text()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live_server}/login*")
    page.goto(f"{live_server}/manager/")
    assert page.url.startswith(f"{live_server}/login")


def test_a_wrong_password_is_refused_on_the_form(
    db: Session, live_server: str, contexts: Any
) -> None:
    make_user(db, Role.FINANCE, email="fi@example.org")
    db.commit()
    page = contexts().new_page()

    sign_in(page, live_server, "fi@example.org", password="not the password at all")

    assert page.url.startswith(f"{live_server}/login")
    refusal = "That email and password do not match an active account."
    assert refusal in page.locator("main").inner_text()
