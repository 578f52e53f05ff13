"""Partner grants through the screens: partners, funds, the grant lifecycle with four eyes,
finance paying tranches, the dashboards, bad input, and who may reach what."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.routing import Rule, ValidationError

from grants.clock import today_in
from grants.domain.ledger import fund_balances
from grants.models import (
    AuditEvent,
    Fund,
    Grant,
    GrantStatus,
    IdempotencyRecord,
    LedgerTransaction,
    Partner,
    ReportingRequirement,
    Role,
    Tranche,
)
from tests.factories import make_user
from tests.support import csrf_token, form_fields, sign_in, submit

THIS_YEAR = datetime.now(UTC).year
TODAY = today_in("America/New_York")
"""Today for the people of these tests (en_US, so in New York's time zone)."""


@pytest.fixture
def people(db: Session) -> dict[str, str]:
    """Two managers, a finance officer, an ambassador and a recipient; their emails."""
    emails = {
        "drafter": make_user(db, Role.MANAGER).email,
        "approver": make_user(db, Role.MANAGER).email,
        "finance": make_user(db, Role.FINANCE).email,
        "ambassador": make_user(db, Role.AMBASSADOR).email,
        "recipient": make_user(db, Role.RECIPIENT).email,
    }
    db.commit()
    return emails


def add_partner(client: FlaskClient, **changes: str) -> int:
    response = submit(
        client,
        "/manager/partners/new",
        {
            "legal_name": "Music Health Alliance Inc.",
            "display_name": "Music Health Alliance",
            "country": "US",
            "registration_number": "26-1234567",
            "contact_email": "grants@mha.example",
            "website_url": "https://mha.example",
            **changes,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.headers["Location"].rsplit("/", 1)[1])


def open_grants_fund(client: FlaskClient, budget: str = "100000") -> int:
    response = submit(
        client,
        "/manager/funds/new",
        {
            "name": f"Partner grants {THIS_YEAR} (USD)",
            "kind": "grants",
            "currency": "USD",
            "plan_year_start": f"{THIS_YEAR}-01-01",
            "plan_year_end": f"{THIS_YEAR}-12-31",
            "budget": budget,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.headers["Location"].rsplit("/", 1)[1])


def draft_grant(client: FlaskClient, fund_id: int, partner_id: int, **changes: str) -> int:
    response = submit(
        client,
        "/manager/grants/new",
        {
            "fund_id": str(fund_id),
            "partner_id": str(partner_id),
            "category": "services",
            "purpose": "Crisis line for touring crews",
            "amount": "30000.00",
            "tranches-0-due_date": f"{THIS_YEAR}-01-15",
            "tranches-0-amount": "20000",
            "tranches-1-due_date": f"{THIS_YEAR}-12-01",
            "tranches-1-amount": "10000.00",
            "reports-0-title": "Outcomes report",
            "reports-0-due_date": (TODAY + timedelta(days=10)).isoformat(),
            **changes,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.headers["Location"].rsplit("/", 1)[1])


def decide(client: FlaskClient, grant_id: int, decision: str, **changes: str):  # type: ignore[no-untyped-def]
    action = f"/manager/grants/{grant_id}/{decision}"
    return submit(client, f"/manager/grants/{grant_id}", changes, action=action)


def test_a_grant_from_draft_to_closed_through_the_screens(
    app: Flask, db: Session, people: dict[str, str]
) -> None:
    drafter = sign_in(app, people["drafter"])
    approver = sign_in(app, people["approver"])
    finance = sign_in(app, people["finance"])

    partner_id = add_partner(drafter)
    fund_id = open_grants_fund(drafter)
    grant_id = draft_grant(drafter, fund_id, partner_id)
    page = drafter.get(f"/manager/grants/{grant_id}").get_data(as_text=True)
    assert "Crisis line for touring crews" in page
    assert "$30,000.00" in page
    assert "Draft" in page

    assert decide(drafter, grant_id, "submit").status_code == 302
    page = drafter.get(f"/manager/grants/{grant_id}").get_data(as_text=True)
    assert "another manager approves or rejects it" in page
    assert f"/manager/grants/{grant_id}/approve" not in page

    waiting = approver.get("/manager/").get_data(as_text=True)
    assert "Grants waiting for you" in waiting
    assert f"/manager/grants/{grant_id}" in waiting
    assert decide(approver, grant_id, "approve").status_code == 302
    db.expire_all()
    assert fund_balances(db, fund_id).remaining == 7_000_000
    db.commit()

    queue = finance.get("/finance/").get_data(as_text=True)
    tranche_ids = [int(n) for n in re.findall(r"/finance/tranches/(\d+)/pay", queue)]
    assert len(tranche_ids) == 2
    first_url = f"/finance/tranches/{tranche_ids[0]}/pay"
    fields = form_fields(finance, first_url)
    paid = {**fields, "payment_reference": "ACH 0001", "paid_on": TODAY.isoformat()}
    assert finance.post(first_url, data=paid).status_code == 302
    resent = finance.post(first_url, data=paid)
    assert resent.status_code == 302
    assert "already recorded" in finance.get("/finance/").get_data(as_text=True)
    assert (
        db.scalar(select(func.count()).select_from(Tranche).where(Tranche.paid_on.is_not(None)))
        == 1
    )
    db.commit()

    other = {
        **form_fields(finance, first_url),
        "payment_reference": "ACH 0002",
        "paid_on": TODAY.isoformat(),
    }
    refused = finance.post(first_url, data=other)
    assert refused.status_code == 409
    assert "already paid" in refused.get_data(as_text=True)
    assert (
        submit(
            finance,
            f"/finance/tranches/{tranche_ids[1]}/pay",
            {"payment_reference": "ACH 0003", "paid_on": TODAY.isoformat()},
        ).status_code
        == 302
    )

    assert decide(approver, grant_id, "close").status_code == 302
    db.expire_all()
    grant = db.get_one(Grant, grant_id)
    assert grant.status is GrantStatus.CLOSED
    balances = fund_balances(db, fund_id)
    assert (balances.remaining, balances.paid_to_partners) == (7_000_000, 3_000_000)
    history = drafter.get(f"/manager/grants/{grant_id}").get_data(as_text=True)
    for step in ("create", "submit", "approve", "pay tranche", "close"):
        assert f": {step}" in history


def test_the_dashboard_shows_where_the_money_is_and_what_is_due(
    app: Flask, db: Session, people: dict[str, str]
) -> None:
    drafter = sign_in(app, people["drafter"])
    approver = sign_in(app, people["approver"])
    fund_id = open_grants_fund(drafter)
    grant_id = draft_grant(drafter, fund_id, add_partner(drafter))
    decide(drafter, grant_id, "submit")
    decide(approver, grant_id, "approve")

    page = drafter.get("/manager/").get_data(as_text=True)
    assert "$100,000.00" in page  # budget
    assert "$30,000.00" in page  # committed
    assert "$70,000.00" in page  # remaining
    assert 'aria-label="0.0% paid, 30.0% committed, the rest remaining"' in page
    overdue = page.split("Overdue tranches", 1)[1].split("Reports due", 1)[0]
    if TODAY.replace(month=1, day=15) < TODAY:
        assert "$20,000.00" in overdue
    reports = page.split("Reports due in the next 30 days", 1)[1]
    assert "Outcomes report" in reports


def test_bad_input_is_refused_with_a_message_and_writes_nothing(
    app: Flask, db: Session, people: dict[str, str]
) -> None:
    drafter = sign_in(app, people["drafter"])
    partner_id = add_partner(drafter)
    fund_id = open_grants_fund(drafter)
    db.commit()

    def count() -> tuple[int, ...]:
        db.rollback()
        return tuple(
            db.scalar(select(func.count()).select_from(model)) or 0
            for model in (Grant, Partner, Fund, LedgerTransaction, AuditEvent)
        )

    before = count()
    cases = [
        (
            "/manager/partners/new",
            {"display_name": "X", "legal_name": "X", "registration_number": "12-34"},
            "nine digits",
        ),
        (
            "/manager/partners/new",
            {
                "display_name": "X",
                "legal_name": "X",
                "registration_number": "12-3456789",
                "website_url": "javascript:alert(1)",
            },
            "https://",
        ),
        (
            "/manager/funds/new",
            {
                "name": "F",
                "kind": "grants",
                "currency": "USD",
                "plan_year_start": "2026-01-01",
                "plan_year_end": "2026-12-31",
                "budget": "10.001",
            },
            "at most 2 decimal places",
        ),
        (
            "/manager/funds/new",
            {
                "name": "F",
                "kind": "grants",
                "currency": "USD",
                "plan_year_start": "2026-12-31",
                "plan_year_end": "2026-01-01",
                "budget": "10",
            },
            "must end after it starts",
        ),
    ]
    grant_fields = {
        "fund_id": str(fund_id),
        "partner_id": str(partner_id),
        "category": "services",
        "purpose": "P",
    }
    for amount, message in (
        ("0", "greater than zero"),
        ("-5", "greater than zero"),
        ("12.345", "at most 2 decimal places"),
        ("ten", "in figures"),
    ):
        cases.append(("/manager/grants/new", {**grant_fields, "amount": amount}, message))
    for field in ("fund_id", "partner_id"):
        huge = {**grant_fields, "amount": "100", field: "9" * 10}
        cases.append(("/manager/grants/new", huge, "Invalid Choice: could not coerce."))
    cases.append(
        (
            "/manager/grants/new",
            {
                **grant_fields,
                "amount": "100",
                "tranches-0-due_date": f"{THIS_YEAR + 1}-01-01",
                "tranches-0-amount": "100",
            },
            "must fall in the plan year",
        )
    )
    cases.append(
        (
            "/manager/grants/new",
            {**grant_fields, "amount": "100", "tranches-0-amount": "100"},
            "Tranche 1: give both",
        )
    )
    for url, changes, message in cases:
        response = submit(drafter, url, changes)
        assert response.status_code == 422, (url, changes)
        assert message in response.get_data(as_text=True), (url, changes)
        assert count() == before, (url, changes)

    grant_id = draft_grant(drafter, fund_id, partner_id, **{"tranches-1-amount": "9999.99"})
    refused = decide(drafter, grant_id, "submit")
    assert refused.status_code == 303
    shown = drafter.get(refused.headers["Location"]).get_data(as_text=True)
    assert "add up to $29,999.99, not the grant&#39;s $30,000.00" in shown
    db.rollback()
    assert db.get_one(Grant, grant_id).status is GrantStatus.DRAFT


MISMATCH = "The tranches add up to $29,999.99, not the grant&#39;s $30,000.00."


def test_a_draft_whose_tranches_do_not_add_up_is_flagged_when_saved(
    app: Flask, db: Session, people: dict[str, str]
) -> None:
    drafter = sign_in(app, people["drafter"])
    fund_id, partner_id = open_grants_fund(drafter), add_partner(drafter)

    saved = submit(
        drafter,
        "/manager/grants/new",
        {
            "fund_id": str(fund_id),
            "partner_id": str(partner_id),
            "category": "services",
            "purpose": "Crisis line for touring crews",
            "amount": "30000",
            "tranches-0-due_date": f"{THIS_YEAR}-01-15",
            "tranches-0-amount": "20000",
            "tranches-1-due_date": f"{THIS_YEAR}-12-01",
            "tranches-1-amount": "9999.99",
        },
    )
    assert saved.status_code == 302
    grant_url = saved.headers["Location"]
    page = drafter.get(grant_url).get_data(as_text=True)
    assert "The grant was saved as a draft." in page
    warning = page.split('<div class="warning"', 1)[1].split("</div>", 1)[0]
    assert MISMATCH in warning

    edit_url = f"{grant_url}/edit"
    purpose = {"purpose": "Crisis line for touring crews"}  # a text area the reader leaves out
    edited = drafter.post(
        edit_url,
        data={**form_fields(drafter, edit_url), **purpose, "tranches-1-amount": "10000"},
    )
    assert edited.status_code == 302
    page = drafter.get(grant_url).get_data(as_text=True)
    assert "The draft was saved." in page
    assert "The tranches add up to" not in page

    emptied = {f"tranches-{row}-{part}": "" for row in (0, 1) for part in ("due_date", "amount")}
    emptying = drafter.post(edit_url, data={**form_fields(drafter, edit_url), **purpose, **emptied})
    assert emptying.status_code == 302
    page = drafter.get(grant_url).get_data(as_text=True)
    assert "The tranches add up to $0.00, not the grant&#39;s $30,000.00." in page


def test_a_refused_submit_is_shown_at_the_grants_own_address(
    app: Flask, db: Session, people: dict[str, str]
) -> None:
    drafter = sign_in(app, people["drafter"])
    fund_id, partner_id = open_grants_fund(drafter), add_partner(drafter)
    grant_id = draft_grant(drafter, fund_id, partner_id, **{"tranches-1-amount": "9999.99"})
    grant_url = f"/manager/grants/{grant_id}"
    fields = form_fields(drafter, grant_url, f"{grant_url}/submit")

    refused = drafter.post(f"{grant_url}/submit", data=fields, follow_redirects=True)

    assert refused.status_code == 200
    assert refused.request.path == grant_url
    page = refused.get_data(as_text=True)
    assert "The draft was not submitted for approval." in page
    assert page.count(MISMATCH) == 1, "what is wrong, said once"
    assert "Submit for approval" in page
    db.rollback()
    assert db.get_one(Grant, grant_id).status is GrantStatus.DRAFT
    again = drafter.get(grant_url).get_data(as_text=True)
    assert MISMATCH in again, "the draft still says what stops it"


def test_approving_ones_own_grant_and_editing_a_submitted_one_are_refused(
    app: Flask, db: Session, people: dict[str, str]
) -> None:
    drafter = sign_in(app, people["drafter"])
    grant_id = draft_grant(drafter, open_grants_fund(drafter), add_partner(drafter))
    edit_url = f"/manager/grants/{grant_id}/edit"
    edit_fields = form_fields(drafter, edit_url)
    decide(drafter, grant_id, "submit")

    fields = form_fields(
        drafter, f"/manager/grants/{grant_id}", f"/manager/grants/{grant_id}/cancel"
    )
    own = drafter.post(
        f"/manager/grants/{grant_id}/approve",
        data={"csrf_token": fields["csrf_token"], "key": "mine-1"},
    )
    assert own.status_code == 403
    assert "four eyes" in own.get_data(as_text=True)

    edited = drafter.post(edit_url, data={**edit_fields, "purpose": "Changed"})
    assert edited.status_code == 409
    assert "only a draft can be edited" in edited.get_data(as_text=True)
    db.rollback()
    grant = db.get_one(Grant, grant_id)
    assert (grant.status, grant.purpose) == (GrantStatus.SUBMITTED, "Crisis line for touring crews")
    assert (
        db.scalar(
            select(func.count())
            .select_from(IdempotencyRecord)
            .where(IdempotencyRecord.key == "mine-1")
        )
        == 1
    )


def test_nobody_who_drafted_edited_or_submitted_a_grant_may_decide_it_on_its_page(
    app: Flask, db: Session, people: dict[str, str]
) -> None:
    """One manager drafts, another edits, an admin submits: none of them is offered the
    decision or may post it; a third manager approves."""
    editor = make_user(db, Role.MANAGER, name="Eddie Editor").email
    admin = make_user(db, Role.ADMIN, name="Ada Admin").email
    third = make_user(db, Role.MANAGER, name="Thea Third").email
    db.commit()
    drafter = sign_in(app, people["drafter"])
    grant_id = draft_grant(drafter, open_grants_fund(drafter), add_partner(drafter))
    edited = submit(
        sign_in(app, editor), f"/manager/grants/{grant_id}/edit", {"purpose": "Crew care"}
    )
    assert edited.status_code == 302, edited.get_data(as_text=True)
    assert decide(sign_in(app, admin), grant_id, "submit").status_code == 302

    for number, email in enumerate((people["drafter"], editor, admin)):
        author = sign_in(app, email)
        page = author.get(f"/manager/grants/{grant_id}").get_data(as_text=True)
        assert f"/manager/grants/{grant_id}/approve" not in page
        assert f"/manager/grants/{grant_id}/reject" not in page
        assert "You drafted, edited or submitted this grant" in page
        token = csrf_token(author, f"/manager/grants/{grant_id}")
        for decision, extra in (("approve", {}), ("reject", {"reason": "No"})):
            refused = author.post(
                f"/manager/grants/{grant_id}/{decision}",
                data={"csrf_token": token, "key": f"author-{number}-{decision}", **extra},
            )
            assert refused.status_code == 403
            assert "a manager who did not draft, edit or submit it" in refused.get_data(
                as_text=True
            )
    db.rollback()
    grant = db.get_one(Grant, grant_id)
    assert (grant.status, grant.purpose, grant.decided_by_id) == (
        GrantStatus.SUBMITTED,
        "Crew care",
        None,
    )

    approver = sign_in(app, third)
    assert f"/manager/grants/{grant_id}/approve" in approver.get(
        f"/manager/grants/{grant_id}"
    ).get_data(as_text=True)
    assert decide(approver, grant_id, "approve").status_code == 302
    db.rollback()
    assert db.get_one(Grant, grant_id).status is GrantStatus.APPROVED


def test_lists_search_filter_sort_and_page(app: Flask, db: Session, people: dict[str, str]) -> None:
    drafter = sign_in(app, people["drafter"])
    for number in range(30):
        db.add(
            Partner(
                legal_name=f"Partner {number:02d} Ltd",
                display_name=f"Partner {number:02d}",
                country="GB" if number % 3 == 0 else "US",
                registration_number="1234567",
                active=number != 7,
            )
        )
    db.commit()
    first = drafter.get("/manager/partners").get_data(as_text=True)
    assert "Page 1 of 2 (29 in all)" in first
    assert first.index("Partner 00") < first.index("Partner 01")
    assert "Partner 07" not in first

    descending = drafter.get("/manager/partners?sort=-name").get_data(as_text=True)
    assert descending.index("Partner 29") < descending.index("Partner 28")
    assert "Partner 07" in drafter.get("/manager/partners?status=all&q=07").get_data(as_text=True)
    british = drafter.get("/manager/partners?country=GB&status=all").get_data(as_text=True)
    assert "(10 in all)" not in british  # one page: no pager
    assert british.count("United Kingdom</td>") == 10
    wildcard = drafter.get("/manager/partners?q=%25").get_data(as_text=True)
    assert "No partners match." in wildcard
    unknown_sort = drafter.get("/manager/partners?sort=password_hash&page=abc")
    assert unknown_sort.status_code == 200
    assert "Page 1 of 2" in unknown_sort.get_data(as_text=True)


def test_page_numbers_and_ids_that_are_no_plain_number_are_ignored(
    app: Flask, db: Session, people: dict[str, str]
) -> None:
    """Superscripts and Arabic-Indic digits pass ``str.isdigit`` but ``int`` refuses ``²``,
    and a number of thousands of digits fits no database integer: each means page 1, or no
    filter."""
    drafter = sign_in(app, people["drafter"])
    fund_id = open_grants_fund(drafter)
    partner_id = add_partner(drafter)
    draft_grant(drafter, fund_id, partner_id)
    huge = "9" * 10_000
    odd = ("page=²", f"page={huge}", "fund=²", f"fund={huge}", "partner=\u0661", "partner=²")
    for query in odd:
        response = drafter.get(f"/manager/grants?{query}")
        assert response.status_code == 200, query
        assert "Crisis line for touring crews" in response.get_data(as_text=True), query
    for query in ("page=²", f"page={huge}"):
        response = drafter.get(f"/manager/partners?{query}")
        assert response.status_code == 200, query
        assert "Music Health Alliance" in response.get_data(as_text=True), query
    filtered = drafter.get(f"/manager/grants?fund={fund_id + 1}").get_data(as_text=True)
    assert "No grants match." in filtered


def test_a_nul_character_in_a_search_is_refused_and_a_field_with_one_is_named(
    app: Flask, db: Session, people: dict[str, str]
) -> None:
    """PostgreSQL can neither store nor compare text holding NUL: a search carrying one is a
    400, on SQLite too; a form field carrying one is refused by its form, which says which
    field is wrong, and nothing is written."""
    drafter = sign_in(app, people["drafter"])
    for path in ("/manager/grants?q=a%00b", "/manager/partners?q=%00", "/manager/grants%00"):
        response = drafter.get(path)
        assert response.status_code in (400, 404), path
        assert "Traceback" not in response.get_data(as_text=True)
    assert drafter.get("/manager/grants?q=a%00b").status_code == 400
    db.rollback()
    before = db.scalar(select(func.count()).select_from(Partner))
    refused = submit(
        drafter,
        "/manager/partners/new",
        {
            "legal_name": "Sound Minds Inc.",
            "display_name": "Sound\x00Minds",
            "country": "US",
            "registration_number": "12-3456789",
        },
    )
    assert refused.status_code == 422
    assert "cannot contain control characters" in refused.get_data(as_text=True)
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Partner)) == before


def sample_url(rule: Rule) -> str:
    """A concrete URL for ``rule``: 1 for every id, the first decision the rule accepts."""
    for decision in ("approve", "cancel"):
        try:
            return rule.build(dict.fromkeys(rule.arguments, 1) | {"decision": decision})[1]
        except (ValidationError, ValueError):
            continue
    raise AssertionError(f"cannot build {rule}")


def test_ambassadors_recipients_and_finance_reach_no_manager_route(
    app: Flask, people: dict[str, str]
) -> None:
    """Every manager and finance route, by every method, with a valid CSRF token so that the
    role check itself answers."""
    rules = [
        rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".")[0] in {"manager", "finance"}
    ]
    assert len(rules) >= 12
    landing = {"ambassador": "/wallet/", "recipient": "/wallet/", "finance": "/finance/"}
    for role, page in landing.items():
        client = sign_in(app, people[role])
        token = csrf_token(client, page)
        for rule in rules:
            if role == "finance" and rule.endpoint.startswith("finance."):
                continue
            url = sample_url(rule)
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                data = {"csrf_token": token} if method == "POST" else None
                response = client.open(url, method=method, data=data)
                assert response.status_code == 403, (role, method, url, response.status_code)
                assert "does not have access" in response.get_data(as_text=True)
    manager = sign_in(app, people["drafter"])
    assert manager.get("/finance/").status_code == 403


def test_reject_cancel_budget_reports_and_partner_changes_through_the_screens(
    app: Flask, db: Session, people: dict[str, str]
) -> None:
    drafter = sign_in(app, people["drafter"])
    approver = sign_in(app, people["approver"])
    partner_id = add_partner(drafter)
    fund_id = open_grants_fund(drafter)

    rejected = draft_grant(drafter, fund_id, partner_id)
    decide(drafter, rejected, "submit")
    no_reason = decide(approver, rejected, "reject", reason=" ")
    assert no_reason.status_code == 422
    assert decide(approver, rejected, "reject", reason="Outside our remit").status_code == 302
    assert "Outside our remit" in drafter.get(f"/manager/grants/{rejected}").get_data(as_text=True)

    cancelled = draft_grant(drafter, fund_id, partner_id)
    decide(drafter, cancelled, "submit")
    decide(approver, cancelled, "approve")
    report_id = db.scalars(
        select(ReportingRequirement.id).where(ReportingRequirement.grant_id == cancelled)
    ).one()
    db.commit()
    received = submit(
        drafter,
        f"/manager/grants/{cancelled}",
        {},
        action=f"/manager/reports/{report_id}/received",
    )
    assert received.status_code == 302
    assert decide(drafter, cancelled, "cancel", reason="Partner closed the line").status_code == 302
    db.expire_all()
    assert db.get_one(Grant, cancelled).status is GrantStatus.CANCELLED
    assert db.get_one(ReportingRequirement, report_id).received_at is not None
    assert fund_balances(db, fund_id).remaining == 10_000_000
    db.commit()

    lowered = submit(
        drafter,
        f"/manager/funds/{fund_id}",
        {"direction": "lower", "amount": "100000.01", "reason": "Board cut"},
    )
    assert lowered.status_code == 409
    assert "below what is already allocated" in lowered.get_data(as_text=True)
    raised = submit(
        drafter,
        f"/manager/funds/{fund_id}",
        {"direction": "raise", "amount": "2500.50", "reason": "Donor match"},
    )
    assert raised.status_code == 302
    db.expire_all()
    assert fund_balances(db, fund_id).budget == 10_250_050
    db.commit()

    edited = submit(
        drafter,
        f"/manager/partners/{partner_id}/edit",
        {"display_name": "MHA", "notes": "Nashville"},
    )
    assert edited.status_code == 302
    page = drafter.get(f"/manager/partners/{partner_id}").get_data(as_text=True)
    assert "MHA" in page
    assert "Nashville" in page
    toggled = submit(
        drafter,
        f"/manager/partners/{partner_id}",
        {},
        action=f"/manager/partners/{partner_id}/active",
    )
    assert toggled.status_code == 302
    db.expire_all()
    assert db.get_one(Partner, partner_id).active is False
    new_grant_page = drafter.get("/manager/grants/new").get_data(as_text=True)
    assert ">MHA</option>" not in new_grant_page


def test_two_approval_requests_racing_for_the_last_of_the_budget(
    app: Flask, db: Session, people: dict[str, str]
) -> None:
    """Two managers press Approve at once on two grants that fit the fund only one at a time."""
    drafter = sign_in(app, people["drafter"])
    third = make_user(db, Role.MANAGER).email
    db.commit()
    fund_id = open_grants_fund(drafter)
    partner_id = add_partner(drafter)
    big = {"amount": "60000", "tranches-0-amount": "40000", "tranches-1-amount": "20000"}
    grant_ids = [draft_grant(drafter, fund_id, partner_id, **big) for _ in range(2)]
    for grant_id in grant_ids:
        decide(drafter, grant_id, "submit")
    approvers = [sign_in(app, people["approver"]), sign_in(app, third)]
    forms = [
        (
            client,
            grant_id,
            form_fields(
                client, f"/manager/grants/{grant_id}", f"/manager/grants/{grant_id}/approve"
            ),
        )
        for client, grant_id in zip(approvers, grant_ids, strict=True)
    ]
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def approve(client: FlaskClient, grant_id: int, fields: dict[str, str]) -> None:
        barrier.wait(30)
        statuses.append(client.post(f"/manager/grants/{grant_id}/approve", data=fields).status_code)

    threads = [threading.Thread(target=approve, args=form) for form in forms]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(statuses) == [302, 409]
    db.expire_all()
    assert fund_balances(db, fund_id).remaining == 4_000_000
    assert sorted(db.get_one(Grant, g).status.value for g in grant_ids) == ["approved", "submitted"]
