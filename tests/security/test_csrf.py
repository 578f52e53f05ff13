"""CSRF: every route that changes something refuses a request without a valid token, and
no GET changes anything.

Each state-changing route is sent the form its page shows, filled in as a browser would
send it, but without its CSRF token, with a forged one and with one from another session:
each is a 400 saying the form did not come from this site, and the database and the report
jobs are as they were. The same form with its own token is then let through (whatever the
route makes of it), so what was refused was the token, not the form.
"""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from tests.security.test_permission_matrix import MATRIX, NOT_GET
from tests.security.world import (
    ROLES,
    SecurityWorld,
    build_security_world,
    clients,
    sign_in,
    snapshot,
    token_of,
)
from tests.support import _FormReader

CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
REFUSAL = "This form has expired or did not come from this site."

FORMS: dict[str, tuple[str, str, str | None]] = {
    "auth.login": ("anonymous", "/login", "/login"),
    "auth.logout": ("ambassador", "/wallet/", "/logout"),
    "claim.claim": ("anonymous", "/claim/{foreign_token}", None),
    "admin.new_support_line": ("admin", "/admin/support-lines/new", None),
    "admin.edit_support_line": ("admin", "/admin/support-lines/{support_line}/edit", None),
    "manager.allocate_to_cohort": (
        "manager",
        "/manager/allowances/cohort?fund_id={fund}&amount=10&programme=&country=",
        "/manager/allowances/cohort",
    ),
    "manager.new_allowance": ("manager", "/manager/allowances/new", None),
    "manager.new_fund": ("manager", "/manager/funds/new", None),
    "manager.fund": ("manager", "/manager/funds/{fund}", None),
    "manager.new_grant": ("manager", "/manager/grants/new", None),
    "manager.edit_grant": ("manager", "/manager/grants/{grant}/edit", None),
    "manager.decide": ("manager", "/manager/grants/{grant}", "/manager/grants/{grant}/close"),
    "manager.decide_with_reason": (
        "manager",
        "/manager/grants/{grant}",
        "/manager/grants/{grant}/cancel",
    ),
    "manager.report_received": (
        "manager",
        "/manager/grants/{grant}",
        "/manager/reports/{reporting}/received",
    ),
    "manager.new_partner": ("manager", "/manager/partners/new", None),
    "manager.edit_partner": ("manager", "/manager/partners/{partner}/edit", None),
    "manager.toggle_partner": (
        "manager",
        "/manager/partners/{partner}",
        "/manager/partners/{partner}/active",
    ),
    "finance.pay": ("finance", "/finance/tranches/{tranche}/pay", None),
    "finance.approve": (
        "finance",
        "/finance/redemptions/{foreign_redemption}",
        "/finance/redemptions/{foreign_redemption}/approve",
    ),
    "finance.reject": (
        "finance",
        "/finance/redemptions/{foreign_redemption}",
        "/finance/redemptions/{foreign_redemption}/reject",
    ),
    "finance.payouts": ("finance", "/finance/payouts", None),
    "finance.report_pdf_download": (
        "finance",
        "/finance/reports?currency=USD&year={year}",
        "/finance/reports/pdf",
    ),
    "finance.retry_report_job": (
        "finance",
        "/finance/reports/jobs/{job}",
        "/finance/reports/jobs/{job}/retry",
    ),
    "ambassador.give": ("ambassador", "/wallet/{own_wallet}/give", None),
    "ambassador.redeem": ("ambassador", "/wallet/{own_wallet}/redeem", None),
    "ambassador.revoke": (
        "ambassador",
        "/wallet/gifts/{own_gift}",
        "/wallet/gifts/{own_gift}/revoke",
    ),
    "ambassador.cancel": (
        "ambassador",
        "/wallet/redemptions/{own_redemption}",
        "/wallet/redemptions/{own_redemption}/cancel",
    ),
}
"""Per state-changing route: who may use it, the page showing its form, and where the form
posts (``None``: back to the page)."""


def shown_form(client: FlaskClient, page: str, action: str | None) -> dict[str, str]:
    """The fields of the form on ``page`` that posts to ``action``, as a browser sends them;
    a confirmation the page does not offer in this state is just its idempotency key."""
    response = client.get(page)
    assert response.status_code == 200, f"{page}: {response.status_code}"
    reader = _FormReader()
    reader.feed(response.get_data(as_text=True))
    targets = {action} if action else {"", page}
    for target, fields in reader.forms:
        if target in targets and "csrf_token" in fields:
            return fields
    return {"csrf_token": "", "key": "a-confirmation-key"}


def text(response: TestResponse) -> str:
    """The body as text (undecodable bytes, as in a PDF, replaced), the response closed."""
    body = response.get_data().decode("utf-8", "replace")
    response.close()
    return body


def changing_endpoints(app: Flask) -> set[str]:
    return {
        rule.endpoint for rule in app.url_map.iter_rules() if (rule.methods or set()) & CHANGING
    }


def test_every_state_changing_route_refuses_a_request_without_a_valid_token(
    app: Flask, db: Session
) -> None:
    assert changing_endpoints(app) == set(FORMS), "add the route's form to FORMS"
    world = build_security_world(app, db)
    visitors = clients(app, world)
    stranger = app.test_client()
    foreign_token = token_of(stranger, "anonymous")
    forms: dict[str, tuple[str, dict[str, str]]] = {}
    for endpoint, (role, page, action) in FORMS.items():
        fields = shown_form(visitors[role], world.path(page), action and world.path(action))
        forms[endpoint] = (world.path(action or page), fields)

    wrong: list[str] = []
    for target, fields in forms.values():
        unsigned = {name: value for name, value in fields.items() if name != "csrf_token"}
        attempts = {
            "no token": unsigned,
            "a forged token": {**unsigned, "csrf_token": "forged." + "A" * 40},
            "another session's token": {**unsigned, "csrf_token": foreign_token},
        }
        for role in ROLES:
            for attempt, data in attempts.items():
                before = snapshot(app, db)
                response = visitors[role].post(target, data=data)
                body = text(response)
                if response.status_code != 400 or REFUSAL not in body:
                    wrong.append(f"{target} as {role} with {attempt}: {response.status_code}")
                if snapshot(app, db) != before:
                    wrong.append(f"{target} as {role} with {attempt} changed the database")
    assert not wrong, "\n".join(wrong)

    for endpoint, (target, fields) in forms.items():
        role = FORMS[endpoint][0]
        client = visitors[role]
        if endpoint == "auth.logout":
            client = sign_in(app, world.emails[role])
        data = {**fields, "csrf_token": token_of(client, role)}
        response = client.post(target, data=data)
        assert REFUSAL not in text(response), f"{target} refused its own form's token"


def get_paths(world: SecurityWorld) -> list[str]:
    """Every address the permission matrix reads with GET, and the previews that take
    their input in the query string."""
    paths = [
        world.path(case.path) for cases in MATRIX.values() for case in cases if case.get != NOT_GET
    ]
    paths.append(world.path("/manager/allowances/cohort?fund_id={fund}&amount=10"))
    paths.append(world.path("/finance/reports/csv?currency=USD&year={year}&table=all"))
    return paths


def test_no_get_changes_anything_whoever_asks(app: Flask, db: Session) -> None:
    world = build_security_world(app, db)
    visitors = clients(app, world)
    wrong = []
    for path in get_paths(world):
        for role in ROLES:
            before = snapshot(app, db)
            text(visitors[role].get(path))
            if snapshot(app, db) != before:
                wrong.append(f"GET {path} as {role} changed the database")
    assert not wrong, "\n".join(wrong)
