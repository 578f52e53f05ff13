"""Protective headers on every kind of page, error pages that reveal nothing, and templates
the Content-Security-Policy can serve as they are (no inline script or style)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from grants import PROJECT_ROOT
from tests.security.world import build_security_world
from tests.support import sign_in

TEMPLATES = PROJECT_ROOT / "templates"


def pages(app: Flask, db: Session) -> list[tuple[str, TestResponse]]:
    """A page of every blueprint, as someone who may see it, and error pages."""
    world = build_security_world(app, db)
    anonymous = app.test_client()
    admin = sign_in(app, world.emails["admin"])
    manager = sign_in(app, world.emails["manager"])
    finance = sign_in(app, world.emails["finance"])
    ambassador = sign_in(app, world.emails["ambassador"])
    visits = [
        ("main", manager, "/"),
        ("auth", anonymous, "/login"),
        ("admin", admin, "/admin/"),
        ("manager", manager, "/manager/grants"),
        ("finance", finance, "/finance/"),
        ("finance CSV", finance, "/finance/payouts/approved.csv"),
        ("ambassador", ambassador, world.path("/wallet/{own_wallet}/redeem")),
        ("claim", anonymous, world.path("/claim/{foreign_token}")),
        ("static", anonymous, "/static/css/app.css"),
        ("404 page", ambassador, world.path("/wallet/gifts/{foreign_gift}")),
        ("403 page", ambassador, "/finance/"),
        ("405 page", anonymous, "/logout"),
        ("unknown claim link", anonymous, "/claim/not-a-real-token"),
    ]
    answered = []
    for name, client, path in visits:
        response = client.get(path)
        response.get_data()
        response.close()
        answered.append((name, response))
    return answered


def assert_protective_headers(name: str, response: TestResponse) -> None:
    headers = response.headers
    policy = headers.get("Content-Security-Policy", "")
    directives = {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}
    assert directives.get("default-src") == ["'self'"], name
    assert directives.get("frame-ancestors") == ["'none'"], name
    assert "'unsafe-inline'" not in policy, name
    assert "'unsafe-eval'" not in policy, name
    assert "script-src" not in directives or directives["script-src"] == ["'self'"], name
    assert headers.get("X-Content-Type-Options") == "nosniff", name
    assert headers.get("Referrer-Policy") in {"same-origin", "no-referrer", "strict-origin"}, name
    assert headers.get("X-Frame-Options") == "DENY", name


def test_every_blueprint_and_error_page_sends_the_protective_headers(
    app: Flask, db: Session
) -> None:
    answered = pages(app, db)
    statuses = {name: response.status_code for name, response in answered}
    assert statuses["404 page"] == 404
    assert statuses["403 page"] == 403
    assert statuses["405 page"] == 405
    assert statuses["unknown claim link"] == 404
    for name, response in answered:
        assert_protective_headers(name, response)
        assert "Strict-Transport-Security" not in response.headers, name


def test_secure_cookies_bring_hsts_and_secure_session_cookies(make_app, db: Session) -> None:  # type: ignore[no-untyped-def]
    app: Flask = make_app(SECURE_COOKIES=True, PUBLIC_URL="https://localhost")
    with app.app_context():
        for name, response in pages(app, db):
            assert_protective_headers(name, response)
            hsts = response.headers.get("Strict-Transport-Security", "")
            assert re.fullmatch(r"max-age=(\d+); includeSubDomains", hsts), name
            assert int(hsts.split("=")[1].split(";")[0]) >= 31536000
    client = app.test_client()
    response = client.get("/login")
    cookie = response.headers.get("Set-Cookie", "")
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_an_error_in_a_view_shows_a_plain_500_page_without_a_trace(make_app) -> None:  # type: ignore[no-untyped-def]
    app: Flask = make_app(TESTING=False)
    assert not app.debug

    @app.route("/explode")
    def explode() -> str:
        raise RuntimeError("internal detail: password=hunter2 at grants/secret.py")

    response = app.test_client().get("/explode")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "<h1>Something went wrong</h1>" in body
    assert "nothing was saved" in body
    for leak in ("Traceback", "RuntimeError", "hunter2", "internal detail", 'File "', ".py"):
        assert leak not in body, leak
    assert_protective_headers("500 page", response)


def template_files() -> list[Path]:
    found = sorted(TEMPLATES.rglob("*"))
    return [path for path in found if path.is_file()]


@pytest.mark.parametrize(
    "path", template_files(), ids=lambda path: str(path.relative_to(TEMPLATES))
)
def test_no_template_has_inline_script_or_style(path: Path) -> None:
    """Pages end in .html (so Jinja escapes them) and carry no inline script or style. An
    email (``email/``) has a plain text part (.txt, never shown as HTML) and may style its
    HTML inline, as mail clients need: no page of the site serves it."""
    email = path.relative_to(TEMPLATES).parts[0] == "email"
    suffixes = {".html", ".txt"} if email else {".html"}
    assert path.suffix in suffixes, "templates end in .html, so Jinja escapes them"
    source = path.read_text(encoding="utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)", source, re.IGNORECASE), "inline <script>"
    assert not re.search(r"<style\b", source, re.IGNORECASE), "<style> element"
    if not email:
        assert not re.search(r"\sstyle\s*=", source, re.IGNORECASE), "style= attribute"
    assert not re.search(r"\son[a-z]+\s*=", source, re.IGNORECASE), "event handler attribute"
    assert "javascript:" not in source.lower(), "javascript: URL"
    assert not re.search(r"\|\s*safe\b", source), "|safe"
