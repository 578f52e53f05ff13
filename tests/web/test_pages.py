"""The base layout: accessible, self-contained, and the same on every page."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from grants.models import Role
from tests.factories import make_user
from tests.support import login


class PageAudit(HTMLParser):
    """Collects what the checks below need from a page."""

    def __init__(self) -> None:
        super().__init__()
        self.external: list[str] = []
        self.inputs: list[dict[str, str | None]] = []
        self.label_targets: set[str] = set()
        self.landmarks: set[str] = set()
        self.scripts = 0
        self.inline_styles = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        for name in ("src", "href"):
            value = attributes.get(name) or ""
            if tag in {"link", "script", "img"} and re.match(r"^(https?:)?//", value):
                self.external.append(value)
        if tag == "input" and attributes.get("type") not in {"hidden", "submit"}:
            self.inputs.append(attributes)
        if tag == "label" and attributes.get("for"):
            self.label_targets.add(attributes["for"] or "")
        if tag in {"main", "header", "nav", "footer"}:
            self.landmarks.add(tag)
        if tag == "script":
            self.scripts += 1
        if "style" in attributes:
            self.inline_styles += 1


def audit(html: str) -> PageAudit:
    parser = PageAudit()
    parser.feed(html)
    return parser


def test_login_page_has_labelled_fields_and_landmarks(client: FlaskClient) -> None:
    page = audit(client.get("/login").get_data(as_text=True))
    assert {"main", "header", "footer"} <= page.landmarks
    assert [field["id"] for field in page.inputs] == ["email", "password"]
    assert {"email", "password"} <= page.label_targets
    assert page.external == []
    assert page.scripts == 0
    assert page.inline_styles == 0


@pytest.mark.parametrize(
    ("role", "path"),
    [
        (Role.ADMIN, "/admin/"),
        (Role.MANAGER, "/manager/"),
        (Role.FINANCE, "/finance/"),
        (Role.AMBASSADOR, "/wallet/"),
    ],
)
def test_dashboards_fetch_nothing_from_other_hosts_and_run_no_script(
    client: FlaskClient, db: Session, role: Role, path: str
) -> None:
    make_user(db, role, email="someone@example.org")
    db.commit()
    login(client, "someone@example.org")
    html = client.get(path).get_data(as_text=True)
    page = audit(html)
    assert {"main", "header", "nav", "footer"} <= page.landmarks
    assert page.external == []
    assert page.scripts == 0
    assert page.inline_styles == 0
    assert 'href="#content"' in html


def test_form_errors_are_tied_to_their_fields(client: FlaskClient) -> None:
    from tests.support import post_form

    html = post_form(client, "/login", {"email": "", "password": ""}).get_data(as_text=True)
    assert 'aria-describedby="email-error"' in html
    assert 'aria-invalid="true"' in html
    assert '<p class="error" id="email-error">This field is required.</p>' in html


def test_the_stylesheet_ships_with_the_package_and_shows_focus(client: FlaskClient) -> None:
    with client.get("/static/css/app.css") as response:
        assert response.status_code == 200
        css = response.get_data(as_text=True)
    assert ":focus-visible" in css
    assert "http" not in css
    assert "@import" not in css
