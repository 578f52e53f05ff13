"""CSRF: every route that changes something refuses a request without a valid token, and
no GET changes anything.

Each state-changing route is sent the form its page shows, filled in as a browser would
send it, but without its CSRF token, with a forged one and with one from another session:
each is a 400 saying the form did not come from this site, and the database and the report
jobs are as they were. The same form with its own token is then let through (whatever the
route makes of it), so what was refused was the token, not the form.
"""

from __future__ import annotations

import io
from dataclasses import asdict

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants import clock
from grants.domain import progress
from grants.domain.progress import ReportContent
from grants.extensions import db as database
from grants.models import User
from tests.factories import TODAY
from tests.security.support import FORMS, changing_endpoints, shown_form, stored_files, text
from tests.security.test_permission_matrix import HELP_DESK, MATRIX, NOT_GET
from tests.security.world import (
    PNG,
    ROLES,
    SecurityWorld,
    build_security_world,
    clients,
    fresh_round,
    snapshot,
    token_of,
)
from tests.support import sign_in

REFUSAL = "This form has expired or did not come from this site."


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
            client = sign_in(app, world.emails["leaver"])
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


HELP_DESK_FORMS: tuple[tuple[str, str, str, str | None, dict[str, str]], ...] = (
    (
        "care.ask",
        "anonymous",
        "/care/?country=US",
        "/care/",
        {
            "name": "Quinn",
            "email": "quinn@example.org",
            "country": "US",
            "language": "en",
            "topic": "finding-a-therapist",
            "can_pay": "some",
            "text": "Looking for a therapist in Nashville.",
        },
    ),
    ("care.open_link", "anonymous", "/care/link/{help_link}", None, {}),
    (
        "care.answer",
        "ambassador",
        "/care/requests/{help_request}",
        "/care/requests/{help_request}/answer",
        {"body": "Evenings suit me best."},
    ),
    (
        "admin.reroute",
        "admin",
        "/admin/helpdesk/requests",
        "/admin/helpdesk/requests/{foreign_help_request}/reroute",
        {"partner_id": "{partner}"},
    ),
    (
        "helpdesk.assign",
        "navigator",
        "/helpdesk/requests/{help_request}",
        "/helpdesk/requests/{help_request}/assign",
        {},
    ),
    (
        "helpdesk.reply",
        "navigator",
        "/helpdesk/requests/{help_request}",
        "/helpdesk/requests/{help_request}/reply",
        {"body": "Here are two therapists near you."},
    ),
    (
        "helpdesk.close",
        "navigator",
        "/helpdesk/requests/{help_request}",
        "/helpdesk/requests/{help_request}/close",
        {"outcome": "connected"},
    ),
    (
        "admin.set_route",
        "admin",
        "/admin/helpdesk",
        "/admin/helpdesk/routes",
        {"country": "NZ", "language": "*", "partner_id": "{other_partner}"},
    ),
    (
        "admin.remove_route",
        "admin",
        "/admin/helpdesk",
        "/admin/helpdesk/routes/{help_route}/remove",
        {},
    ),
    (
        "admin.set_week",
        "admin",
        "/admin/helpdesk",
        "/admin/helpdesk/partners/{partner}/week",
        {"time_zone": "America/Chicago", "working_days": "1"},
    ),
    (
        "admin.set_navigator",
        "admin",
        "/admin/helpdesk",
        "/admin/helpdesk/navigators/{navigator}",
        {"partner_id": "{other_partner}"},
    ),
    (
        "care.erase",
        "ambassador",
        "/care/requests/{help_request}",
        "/care/requests/{help_request}/erase",
        {"sure": "y"},
    ),
)
"""Every help desk form: who may use it, the page showing it, where it posts (``None``:
back to the page), and usable values for what it leaves blank; in an order where each still
works (the other partner's request brought to Backline, the erasure last)."""


def test_the_help_desk_forms_do_nothing_without_their_token_and_their_work_with_it(
    make_app,  # type: ignore[no-untyped-def]
) -> None:
    """Each help desk form, filled in so that its own token lets it through (the request
    for help with no minimum time to fill it in), is sent first without a token, with a
    forged one and with another session's: 400 with the refusal, and nothing written. With
    its token, the same form does its work: so what was refused was the token alone."""
    app: Flask = make_app(HELPDESK_MIN_FILL_SECONDS=0)
    changing = {endpoint for endpoint in changing_endpoints(app) if endpoint in HELP_DESK}
    assert changing == {endpoint for endpoint, *_ in HELP_DESK_FORMS}
    with app.app_context():
        db = database.session
        world = build_security_world(app, db)
        visitors = clients(app, world)
        foreign_token = token_of(app.test_client(), "anonymous")
        wrong: list[str] = []
        for endpoint, role, page, action, values in HELP_DESK_FORMS:
            client = visitors[role]
            fields = shown_form(client, world.path(page), action and world.path(action))
            assert fields["csrf_token"], f"{endpoint}: no form on {page}"
            fields |= {name: world.path(value) for name, value in values.items()}
            target = world.path(action or page)
            unsigned = {name: value for name, value in fields.items() if name != "csrf_token"}
            for attempt, data in {
                "no token": unsigned,
                "a forged token": {**unsigned, "csrf_token": "forged." + "A" * 40},
                "another session's token": {**unsigned, "csrf_token": foreign_token},
            }.items():
                before = snapshot(app, db)
                response = client.post(target, data=data)
                if response.status_code != 400 or REFUSAL not in text(response):
                    wrong.append(f"{endpoint} with {attempt}: {response.status_code}")
                if snapshot(app, db) != before:
                    wrong.append(f"{endpoint} with {attempt} changed the database")
            before = snapshot(app, db)
            response = client.post(target, data=fields)
            body = text(response)
            if response.status_code not in (200, 302) or REFUSAL in body:
                wrong.append(f"{endpoint} with its token: {response.status_code}")
            if snapshot(app, db) == before:
                wrong.append(f"{endpoint} with its token changed nothing")
        assert not wrong, "\n".join(wrong)


# ------------------------------------------------------------------------------- the partner portal

PORTAL_STEPS: tuple[tuple[str, str, str, str | None, dict[str, str], tuple[str, ...]], ...] = (
    (
        "manager.new_round",
        "manager",
        "/manager/rounds/new",
        None,
        {
            "title": "Festival wellness",
            "categories": "festival_wellness",
            "max_amount": "10,000.00",
            "opens": "{next_year}-02-01T09:00",
            "closes": "{next_year}-02-20T17:00",
            "questions-0-prompt": "Who will you reach?",
            "criteria-0-title": "Need",
        },
        ("funding_rounds", "round_questions", "round_criteria"),
    ),
    (
        "manager.edit_round",
        "manager",
        "/manager/rounds/{funding_round}/edit",
        None,
        {"title": "Therapy access (extended)"},
        ("funding_rounds",),
    ),
    (
        "partner.start",
        "partner",
        "/partner/rounds/{fresh_round}",
        "/partner/rounds/{fresh_round}/apply",
        {},
        ("applications",),
    ),
    (
        "partner.application",
        "partner",
        "/partner/applications/{own_application}",
        None,
        {"amount": "1,000.00", "budget-0-item": "Therapists", "budget-0-amount": "1,000.00"},
        ("applications", "budget_lines"),
    ),
    (
        "partner.application_document",
        "partner",
        "/partner/applications/{own_application}",
        "/partner/applications/{own_application}/documents",
        {"document": "{png}"},
        ("documents",),
    ),
    (
        "partner.remove_document",
        "partner",
        "/partner/applications/{own_application}",
        "/partner/documents/{own_document}/remove",
        {},
        ("documents",),
    ),
    (
        "partner.withdraw",
        "partner",
        "/partner/applications/{own_application}",
        "/partner/applications/{own_application}/withdraw",
        {"sure": "y"},
        ("applications",),
    ),
    (
        "partner.report",
        "partner",
        "/partner/reports/{reporting}",
        None,
        {
            "narrative": "Calls answered so far: 420.",
            "reach-0-country": "US",
            "reach-0-people": "40",
        },
        ("report_versions", "report_reach"),
    ),
    (
        "partner.report_document",
        "partner",
        "/partner/reports/{reporting}",
        "/partner/reports/{reporting}/documents",
        {"document": "{png}"},
        ("documents", "report_versions"),
    ),
    (
        "manager.declare_conflict",
        "manager",
        "/manager/applications/{fresh_application}",
        "/manager/applications/{fresh_application}/declare",
        {"conflicted": "no"},
        ("reviews",),
    ),
    (
        "manager.score_application",
        "manager",
        "/manager/applications/{fresh_application}",
        "/manager/applications/{fresh_application}/score",
        {"score_*": "4", "comment": "Strong need."},
        ("reviews", "review_scores"),
    ),
    (
        "manager.award_application",
        "manager",
        "/manager/applications/{fresh_application}",
        "/manager/applications/{fresh_application}/award",
        {},
        ("applications", "grants", "tranches"),
    ),
    (
        "manager.decline_application",
        "manager",
        "/manager/applications/{foreign_application}",
        "/manager/applications/{foreign_application}/decline",
        {"reason": "The round funds services in the US."},
        ("applications",),
    ),
    (
        "manager.ask_for_changes",
        "manager",
        "/manager/reports/{foreign_reporting}",
        "/manager/reports/{foreign_reporting}/changes",
        {"comment": "Say what the sessions cost."},
        ("report_versions", "reporting_requirements"),
    ),
    (
        "manager.accept_report",
        "manager",
        "/manager/reports/{foreign_reporting}",
        "/manager/reports/{foreign_reporting}/accept",
        {},
        ("report_versions", "reporting_requirements"),
    ),
    (
        "manager.tranche_release",
        "manager",
        "/manager/grants/{grant}",
        "/manager/tranches/{tranche}/release",
        {"release_after": "{reporting}"},
        ("tranches",),
    ),
    (
        "manager.invite_partner_person",
        "manager",
        "/manager/partners/{partner}",
        "/manager/partners/{partner}/people",
        {"email": "nia.new@example.org", "display_name": "Nia New"},
        ("users", "user_roles", "invitations"),
    ),
)
"""Every POST route of the partner portal and of the managers' rounds, applications and
reports: the route, who may use it, the page showing its form, where it posts (``None``:
back to the page), usable values for what the page leaves blank (``score_*``: every
criterion's score; ``{png}``: a PNG file), and the tables it writes; in an order where each
still works (Music Minds Matter sends its report in again before it is accepted)."""


def resubmit_the_foreign_report(db: Session, world: SecurityWorld) -> None:
    """Music Minds Matter's person sends the report sent back to them in again."""
    person = db.scalars(select(User).where(User.email == world.emails["foreign_partner"])).one()
    progress.save_version(
        db,
        actor=person,
        requirement_id=world.foreign_reporting,
        content=ReportContent(narrative="Forty crew met a counsellor; sessions cost $60."),
        now=clock.now(),
    )
    progress.submit_version(
        db, key="resubmit", actor=person, requirement_id=world.foreign_reporting, now=clock.now()
    )
    db.commit()


def with_file(data: dict[str, str]) -> dict[str, object]:
    """``data`` with a fresh PNG file in the field whose value is ``{png}``."""
    return {
        name: (io.BytesIO(PNG), "logo.png") if value == "{png}" else value
        for name, value in data.items()
    }


def counts(db: Session, tables: tuple[str, ...]) -> dict[str, int]:
    """How many rows each of ``tables`` has."""
    db.rollback()
    found = {
        name: db.scalar(select(func.count()).select_from(database.metadata.tables[name])) or 0
        for name in tables
    }
    db.rollback()
    return found


def test_the_portal_forms_do_nothing_without_their_token_and_their_work_with_it(
    app: Flask, db: Session
) -> None:
    """Each POST route of the portal and of the managers' portal screens, its form filled in
    so that its own token lets it through, is sent first without a token, with a forged one
    and with another session's (uploads as multipart, with their file): 400 with the
    refusal, the rows of the tables it writes counted the same, the database as it was and
    no file stored or removed. With its token, the same form does its work."""
    portal = {endpoint for endpoint, *_ in PORTAL_STEPS}
    changing = {e for e in changing_endpoints(app) if e.startswith(("partner.", "documents."))}
    assert changing <= portal, f"add to PORTAL_STEPS: {changing - portal}"
    assert portal <= changing_endpoints(app), "PORTAL_STEPS names a route that changes nothing"
    world = build_security_world(app, db)
    round_id, application_id = fresh_round(db, world)
    values = {
        name: value for name, value in asdict(world).items() if isinstance(value, (int, str))
    } | {"fresh_round": round_id, "fresh_application": application_id, "next_year": TODAY.year + 1}
    visitors = clients(app, world)
    foreign_token = token_of(app.test_client(), "anonymous")
    wrong: list[str] = []
    for endpoint, role, page, action, usable, tables in PORTAL_STEPS:
        if endpoint == "manager.accept_report":
            resubmit_the_foreign_report(db, world)
        client = visitors[role]
        fields = shown_form(client, page.format(**values), action and action.format(**values))
        assert fields["csrf_token"], f"{endpoint}: no form on {page}"
        for name, value in usable.items():
            if name == "score_*":
                fields |= {field: value for field in fields if field.startswith("score_")}
            else:
                fields[name] = value if value == "{png}" else value.format(**values)
        target = (action or page).format(**values)
        unsigned = {name: value for name, value in fields.items() if name != "csrf_token"}
        for attempt, data in {
            "no token": unsigned,
            "a forged token": {**unsigned, "csrf_token": "forged." + "A" * 40},
            "another session's token": {**unsigned, "csrf_token": foreign_token},
        }.items():
            rows, before, files = counts(db, tables), snapshot(app, db), stored_files(app)
            response = client.post(target, data=with_file(data))
            if response.status_code != 400 or REFUSAL not in text(response):
                wrong.append(f"{endpoint} with {attempt}: {response.status_code}")
            if counts(db, tables) != rows:
                wrong.append(f"{endpoint} with {attempt} wrote rows: {rows} before")
            if snapshot(app, db) != before:
                wrong.append(f"{endpoint} with {attempt} changed the database")
            if stored_files(app) != files:
                wrong.append(f"{endpoint} with {attempt} stored or removed a file")
        before = snapshot(app, db)
        response = client.post(target, data=with_file(fields))
        body = text(response)
        if response.status_code not in (302, 303) or REFUSAL in body:
            wrong.append(f"{endpoint} with its token: {response.status_code}")
        if snapshot(app, db) == before:
            wrong.append(f"{endpoint} with its token changed nothing")
    assert not wrong, "\n".join(wrong)
