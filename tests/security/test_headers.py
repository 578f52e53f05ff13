"""Protective headers on every kind of page, error pages that reveal nothing, and templates
the Content-Security-Policy can serve as they are (no inline script or style)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from grants import PROJECT_ROOT
from grants.extensions import db as database
from tests.security.world import SecurityWorld, build_security_world
from tests.support import csrf_token, form_fields, sign_in

TEMPLATES = PROJECT_ROOT / "templates"


def pages(app: Flask, db: Session) -> list[tuple[str, TestResponse]]:
    """A page of every blueprint, as someone who may see it, and error pages."""
    world = build_security_world(app, db)
    anonymous = app.test_client()
    admin = sign_in(app, world.emails["admin"])
    manager = sign_in(app, world.emails["manager"])
    finance = sign_in(app, world.emails["finance"])
    ambassador = sign_in(app, world.emails["ambassador"])
    partner = sign_in(app, world.emails["partner"])
    visits = [
        ("main", manager, "/"),
        ("auth", anonymous, "/login"),
        ("admin", admin, "/admin/"),
        ("manager", manager, "/manager/grants"),
        ("finance", finance, "/finance/"),
        ("finance CSV", finance, "/finance/payouts/approved.csv"),
        ("ambassador", ambassador, world.path("/wallet/{own_wallet}/redeem")),
        ("claim", anonymous, world.path("/claim/{foreign_token}")),
        ("partner", partner, world.path("/partner/applications/{own_application}")),
        ("manager's rounds", manager, world.path("/manager/rounds/{funding_round}")),
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


# ------------------------------------------------------------------------------- the help desk


def care_answers(app: Flask, db: Session) -> tuple[SecurityWorld, list[tuple[str, TestResponse]]]:
    """Every kind of answer under ``/care/``: the form, its refusals, a private link's page
    and its button, a request's page and its 404, the answer and erasure forms."""
    app.config["HELPDESK_MIN_FILL_SECONDS"] = 0
    world = build_security_world(app, db)
    anonymous = app.test_client()
    avery = sign_in(app, world.emails["ambassador"])
    request_page = world.path("/care/requests/{help_request}")
    token = csrf_token(anonymous, "/care/?country=US")
    mine = {"csrf_token": csrf_token(avery, request_page)}
    visits: list[tuple[str, FlaskClient, str, str, dict[str, str] | None]] = [
        ("the form", anonymous, "GET", "/care/", None),
        ("the form for a country", anonymous, "GET", "/care/?country=GB", None),
        ("no such country", anonymous, "GET", "/care/?country=ZZ", None),
        ("the form refused", anonymous, "POST", "/care/", {"csrf_token": token}),
        ("the form without a token", anonymous, "POST", "/care/", {}),
        ("a link's page", anonymous, "GET", world.path("/care/link/{help_link}"), None),
        ("an unknown link", anonymous, "GET", "/care/link/not-a-real-token", None),
        ("a request's page", avery, "GET", request_page, None),
        ("someone else's request", anonymous, "GET", request_page, None),
        ("an answer without its key", avery, "POST", f"{request_page}/answer", mine),
        ("an erasure without its key", avery, "POST", f"{request_page}/erase", mine),
        (
            "the button of a link",
            anonymous,
            "POST",
            world.path("/care/link/{help_link}"),
            {"csrf_token": token},
        ),
    ]
    answered = []
    for name, client, method, path, data in visits:
        response = client.open(path, method=method, data=data)
        response.get_data()
        response.close()
        answered.append((name, response))
    return world, answered


def test_no_help_desk_page_is_kept_by_any_cache(app: Flask, db: Session) -> None:
    """``Cache-Control: no-store`` on everything under ``/care/``, refusals and 404s too,
    and on the navigators' screens; and the protective headers of every page."""
    world, answered = care_answers(app, db)
    statuses = {name: response.status_code for name, response in answered}
    assert statuses == {
        "the form": 200,
        "the form for a country": 200,
        "no such country": 400,
        "the form refused": 400,
        "the form without a token": 400,
        "a link's page": 200,
        "an unknown link": 404,
        "a request's page": 200,
        "someone else's request": 404,
        "an answer without its key": 400,
        "an erasure without its key": 400,
        "the button of a link": 302,
    }
    for name, response in answered:
        assert response.headers.get("Cache-Control") == "no-store", name
        assert "Cookie" in response.vary, name
        assert_protective_headers(name, response)
    navigator = sign_in(app, world.emails["navigator"])
    for path in ("/helpdesk/", world.path("/helpdesk/requests/{help_request}")):
        response = navigator.get(path)
        assert response.status_code == 200, path
        assert "no-store" in response.headers.get("Cache-Control", ""), path
        assert_protective_headers(path, response)


def test_a_private_link_sends_no_referrer(app: Flask, db: Session) -> None:
    """The page of a private link carries the token in its address: no answer of it tells
    the next page where the visitor came from, whether the link works or not."""
    answered = dict(care_answers(app, db)[1])
    for name in ("a link's page", "an unknown link", "the button of a link"):
        assert answered[name].headers.get("Referrer-Policy") == "no-referrer", name


def device_cookie(response: TestResponse) -> dict[str, str]:
    """The attributes of the ``care_device`` cookie ``response`` sets (``name`` its value),
    lower-cased names."""
    for header in response.headers.getlist("Set-Cookie"):
        name, _, rest = header.partition("=")
        if name == "care_device":
            value, *attributes = rest.split("; ")
            found = {"care_device": value}
            for attribute in attributes:
                key, _, setting = attribute.partition("=")
                found[key.lower()] = setting
            return found
    raise AssertionError("no care_device cookie was set")


ASKED = {
    "name": "Quinn",
    "email": "quinn@example.org",
    "country": "US",
    "language": "en",
    "topic": "finding-a-therapist",
    "can_pay": "some",
    "text": "Looking for a therapist who knows touring musicians.",
}


@pytest.mark.parametrize("secure", [False, True], ids=["http", "secure cookies"])
def test_the_device_cookie_is_http_only_lax_and_only_for_its_request(
    make_app,  # type: ignore[no-untyped-def]
    secure: bool,
) -> None:
    """Opening a private link, or asking on this browser, gives the device a cookie that
    scripts cannot read, that no other site's request carries, and that only the pages of
    that one request receive (Secure when cookies are)."""
    if secure:
        app: Flask = make_app(
            SECURE_COOKIES=True, PUBLIC_URL="https://localhost", HELPDESK_MIN_FILL_SECONDS=0
        )
    else:
        app = make_app(HELPDESK_MIN_FILL_SECONDS=0)
    with app.app_context():
        world = build_security_world(app, database.session)
        database.session.remove()
    opener = app.test_client()
    link = world.path("/care/link/{help_link}")
    opened = opener.post(link, data={"csrf_token": csrf_token(opener, link)})
    asker = app.test_client()
    fields = form_fields(asker, "/care/?country=US", "/care/")
    asked = asker.post("/care/", data={**fields, **ASKED})
    for name, response in (("a link opened", opened), ("a request made", asked)):
        assert response.status_code == 302, name
        page = response.headers["Location"]
        reference = page.rsplit("/", 1)[1]
        assert page.endswith(f"/care/requests/{reference}"), name
        cookie = device_cookie(response)
        assert cookie["path"] == f"/care/requests/{reference}", name
        assert "httponly" in cookie, name
        assert cookie["samesite"] == "Lax", name
        assert ("secure" in cookie) == secure, name
        assert len(cookie["care_device"]) >= 43, "256 random bits"
        assert cookie["care_device"] != world.help_link, name
    assert opener.get(world.path("/care/requests/{help_request}")).status_code == 200
    assert opener.get(world.path("/care/requests/{foreign_help_request}")).status_code == 404


def test_a_private_link_sends_no_referrer_when_its_button_is_refused(
    app: Flask, db: Session
) -> None:
    world = build_security_world(app, db)
    link = world.path("/care/link/{help_link}")
    response = app.test_client().post(link, data={"csrf_token": "forged." + "A" * 40})
    response.close()
    assert response.status_code == 400
    assert response.headers.get("Referrer-Policy") == "no-referrer"


# ------------------------------------------------------------------------------- the partner portal


def portal_answers(app: Flask, db: Session) -> tuple[SecurityWorld, list[tuple[str, TestResponse]]]:
    """Every kind of answer under ``/partner/``: each page, a form refused and one saved,
    another organisation's objects (404), a missing one, and the door closed to others."""
    world = build_security_world(app, db)
    partner = sign_in(app, world.emails["partner"])
    manager = sign_in(app, world.emails["manager"])
    application = world.path("/partner/applications/{own_application}")
    fields = form_fields(partner, application)
    token = {"csrf_token": fields["csrf_token"]}
    visits: list[tuple[str, FlaskClient, str, str, dict[str, str] | None]] = [
        ("the organisation's page", partner, "GET", "/partner/", None),
        ("a round", partner, "GET", world.path("/partner/rounds/{funding_round}"), None),
        ("an upcoming round", partner, "GET", world.path("/partner/rounds/{upcoming_round}"), None),
        ("the application", partner, "GET", application, None),
        ("the grant", partner, "GET", world.path("/partner/grants/{grant}"), None),
        ("the report", partner, "GET", world.path("/partner/reports/{reporting}"), None),
        (
            "another's application",
            partner,
            "GET",
            world.path("/partner/applications/{foreign_application}"),
            None,
        ),
        ("another's grant", partner, "GET", world.path("/partner/grants/{foreign_grant}"), None),
        (
            "another's report",
            partner,
            "GET",
            world.path("/partner/reports/{foreign_reporting}"),
            None,
        ),
        ("a missing report", partner, "GET", "/partner/reports/999999", None),
        ("the portal to a manager", manager, "GET", "/partner/", None),
        ("a form without its key", partner, "POST", application, token),
        ("a form refused", partner, "POST", application, {**fields, "amount": "-1"}),
        ("a draft saved", partner, "POST", application, {**fields, "action": "save"}),
    ]
    answered = []
    for name, client, method, path, data in visits:
        response = client.open(path, method=method, data=data)
        response.get_data()
        response.close()
        answered.append((name, response))
    return world, answered


def test_no_partner_page_is_kept_by_a_shared_cache(app: Flask, db: Session) -> None:
    """``Cache-Control: private, no-store`` on every answer under ``/partner/``, refusals,
    404s and redirects too; and the protective headers of every page."""
    _, answered = portal_answers(app, db)
    statuses = {name: response.status_code for name, response in answered}
    assert statuses == {
        "the organisation's page": 200,
        "a round": 200,
        "an upcoming round": 404,
        "the application": 200,
        "the grant": 200,
        "the report": 200,
        "another's application": 404,
        "another's grant": 404,
        "another's report": 404,
        "a missing report": 404,
        "the portal to a manager": 403,
        "a form without its key": 400,
        "a form refused": 422,
        "a draft saved": 303,
    }
    for name, response in answered:
        assert response.headers.get("Cache-Control") == "private, no-store", name
        assert_protective_headers(name, response)


def download(app: Flask, db: Session) -> tuple[SecurityWorld, dict[str, TestResponse]]:
    """The world's documents downloaded by whoever may, and refused to whoever may not."""
    world = build_security_world(app, db)
    partner = sign_in(app, world.emails["partner"])
    finance = sign_in(app, world.emails["finance"])
    ambassador = sign_in(app, world.emails["ambassador"])
    answered = {}
    for name, client, path in (
        ("the partner's own", partner, "/documents/{own_document}"),
        ("a report's, to finance", finance, "/documents/{own_report_document}"),
        ("another's", partner, "/documents/{foreign_document}"),
        ("to an ambassador", ambassador, "/documents/{own_document}"),
    ):
        response = client.get(world.path(path))
        response.get_data()
        response.close()
        answered[name] = response
    return world, answered


def test_a_document_is_downloaded_as_an_attachment_that_can_run_nothing(
    app: Flask, db: Session
) -> None:
    """Never shown in the browser: an attachment under its cleaned name, its type not to be
    guessed, a policy that lets it load and run nothing, in a sandbox; kept by no cache."""
    _, answered = download(app, db)
    for name in ("the partner's own", "a report's, to finance"):
        response = answered[name]
        assert response.status_code == 200, name
        disposition = response.headers.get("Content-Disposition", "")
        assert disposition.startswith("attachment;"), name
        assert "filename=" in disposition, name
        assert response.headers.getlist("X-Content-Type-Options") == ["nosniff"], name
        assert response.headers.getlist("Content-Security-Policy") == [
            "default-src 'none'; sandbox"
        ], name
        assert response.headers.get("Cache-Control") == "private, no-store", name
        assert response.headers.get("Content-Type") == "image/png", name
        assert response.headers.get("X-Frame-Options") == "DENY", name
    assert "filename=budget.png" in answered["the partner's own"].headers["Content-Disposition"]
    for name in ("another's", "to an ambassador"):
        response = answered[name]
        assert response.status_code == 404, name
        assert "Content-Disposition" not in response.headers, name
        assert_protective_headers(name, response)
