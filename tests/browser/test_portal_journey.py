"""The partner portal end to end, in Chromium, every screen on a phone (390 px wide).

A manager opens a funding round; Backline and MusiCares apply; a reviewer with a conflict
of interest declares it and sees no scores and no scoring form; two reviewers score both
applications; the manager awards Backline (less than it asked) and declines MusiCares; the
award's draft grant is submitted and approved by a second manager; Backline writes and
submits its first progress report; finance's payment of the tranche waiting on it is
refused, naming the report, until a manager accepts the report; then it is paid.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from grants import clock
from grants.domain.funds import change_budget, open_fund
from grants.domain.money import Money
from grants.extensions import db as database
from grants.models import (
    Application,
    ApplicationState,
    Country,
    FundKind,
    Grant,
    GrantStatus,
    Partner,
    ReportState,
    Role,
    Tranche,
)
from tests.factories import make_user
from tests.support import PASSWORD

PHONE = {"width": 390, "height": 844}
FUND_ZONE = "America/New_York"


@pytest.fixture
def app(make_app: Any) -> Flask:
    """The app with a partner-grants fund whose plan year runs around today, two partners
    with one person each, four managers and a finance officer."""
    app: Flask = make_app()
    today = clock.today_in(FUND_ZONE)
    with app.app_context():
        session = database.session
        opener = make_user(session, Role.MANAGER, email="ola@example.org", name="Ola Opener")
        for email, name in (
            ("rita@example.org", "Rita Reviewer"),
            ("sam@example.org", "Sam Second"),
            ("cora@example.org", "Cora Conflicted"),
        ):
            make_user(session, Role.MANAGER, email=email, name=name)
        make_user(session, Role.FINANCE, email="fin@example.org", name="Fin Finance")
        fund = open_fund(
            session,
            name="Partner grants (USD)",
            kind=FundKind.GRANTS,
            currency="USD",
            start=today - timedelta(days=60),
            end=today + timedelta(days=300),
        )
        change_budget(
            session,
            key="budget",
            actor=opener,
            fund_id=fund.id,
            amount=Money(10_000_000, "USD"),
            reason="Board allocation",
        )
        for name, email in (("Backline", "pat@backline.example"), ("MusiCares", "mel@mc.example")):
            partner = Partner(legal_name=f"{name} Inc.", display_name=name, country=Country.US)
            session.add(partner)
            session.flush()
            person = make_user(session, Role.PARTNER, email=email, name=f"{name} person")
            person.partner_id = partner.id
        session.commit()
    return app


def sign_in(contexts: Any, base: str, email: str) -> Any:
    """A new phone-sized page in a browser of its own, signed in as ``email``."""
    page = contexts().new_page()
    page.set_viewport_size(PHONE)
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    return page


def fits(page: Any) -> None:
    """The page does not scroll sideways on the phone."""
    page.wait_for_load_state()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} scrolls sideways ({width} px)"


def flash(page: Any) -> str:
    return str(page.locator(".flashes").inner_text())


def apply(page: Any, base: str, amount: str, schedule: list[tuple[date, str]], due: date) -> None:
    """Fill in the open round's application and submit it, from the organisation's page."""
    page.goto(f"{base}/partner/")
    fits(page)
    page.click("text=Therapy access")
    fits(page)
    page.click("text=Start an application")
    fits(page)
    page.fill("#purpose", "Free therapy sessions for touring crew.")
    page.select_option("#category", "therapy_access")
    page.fill("#amount", amount)
    page.fill("textarea[name^=answer_]", "Touring crew in the US.")
    page.fill("input[name^=answer_]", "120")
    page.fill("#budget-0-item", "Therapists")
    page.fill("#budget-0-amount", amount)
    for row, (day, part) in enumerate(schedule):
        page.fill(f"#tranches-{row}-due_date", day.isoformat())
        page.fill(f"#tranches-{row}-amount", part)
    page.fill("#reports-0-title", "First progress report")
    page.fill("#reports-0-due_date", due.isoformat())
    page.click("button[value=submit]")
    assert "The application was submitted" in flash(page)
    fits(page)


def test_a_round_from_opening_to_a_tranche_paid_against_an_accepted_report(
    app: Flask, live_server: str, contexts: Any
) -> None:
    base = live_server
    today = clock.today_in(FUND_ZONE)
    now_there = datetime.now(clock.zone(FUND_ZONE)).replace(tzinfo=None, second=0, microsecond=0)

    # The manager opens the round, reviewed by Rita, Sam and Cora.
    opener = sign_in(contexts, base, "ola@example.org")
    opener.goto(f"{base}/manager/rounds/new")
    fits(opener)
    opener.fill("#title", "Therapy access now")
    opener.fill("#max_amount", "20000")
    opener.check("input[name=categories][value=therapy_access]")
    opener.fill("#opens", (now_there - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    opener.fill("#closes", (now_there + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M"))
    opener.fill("#questions-0-prompt", "Who will you reach?")
    opener.fill("#questions-1-prompt", "How many sessions?")
    opener.select_option("#questions-1-kind", "number")
    for row, title in enumerate(("Need", "Reach")):
        opener.fill(f"#criteria-{row}-title", title)
    for name in ("Rita Reviewer", "Sam Second", "Cora Conflicted"):
        opener.get_by_label(name).check()
    opener.click("text=Save round")
    fits(opener)
    round_url = opener.url
    assert re.search(r"/manager/rounds/\d+$", round_url), round_url

    # Both partners apply; Backline in two tranches, the second after its report.
    schedule = [(today + timedelta(days=5), "6000"), (today + timedelta(days=40), "6000")]
    backline = sign_in(contexts, base, "pat@backline.example")
    apply(backline, base, "12000", schedule, today + timedelta(days=20))
    musicares = sign_in(contexts, base, "mel@mc.example")
    apply(
        musicares, base, "8000", [(today + timedelta(days=5), "8000")], today + timedelta(days=20)
    )
    with app.app_context():
        submitted = {
            a.partner.display_name: a.id
            for a in database.session.scalars(select(Application))
            if a.state is ApplicationState.SUBMITTED
        }
    assert set(submitted) == {"Backline", "MusiCares"}

    # Cora declares a conflict on Backline's application: no scores, no scoring form.
    cora = sign_in(contexts, base, "cora@example.org")
    cora.goto(f"{base}/manager/applications/{submitted['Backline']}")
    cora.check("input[name=conflicted][value=yes]")
    cora.fill("#note", "I sit on Backline's board.")
    cora.click("button:has-text('Declare')")
    fits(cora)
    page_text = cora.locator("main").inner_text()
    assert "the scores are hidden from you" in page_text
    assert cora.locator("text=Save scores").count() == 0
    assert cora.locator("text=Award and draft the grant").count() == 0

    # Rita and Sam declare no conflict and score both applications.
    scores = {"rita@example.org": ("4", "5"), "sam@example.org": ("3", "4")}
    for email, (need, reach) in scores.items():
        reviewer = sign_in(contexts, base, email)
        for application_id in submitted.values():
            reviewer.goto(f"{base}/manager/applications/{application_id}")
            reviewer.check("input[name=conflicted][value=no]")
            reviewer.click("button:has-text('Declare')")
            selects = reviewer.locator("select[name^=score_]")
            selects.nth(0).select_option(need)
            selects.nth(1).select_option(reach)
            reviewer.click("text=Save scores")
            fits(reviewer)

    # The round's sheet shows the totals side by side and their mean.
    opener.goto(round_url)
    fits(opener)
    sheet = opener.locator("table").first.inner_text()
    assert "Backline" in sheet
    assert "MusiCares" in sheet
    assert "8.0" in sheet  # (9 + 7) / 2 for each application

    # Backline is awarded 10,000.01 of its 12,000; MusiCares declined.
    opener.goto(f"{base}/manager/applications/{submitted['Backline']}")
    opener.fill("#award-amount", "10000.01")
    opener.click("text=Award and draft the grant")
    fits(opener)
    opener.goto(f"{base}/manager/applications/{submitted['MusiCares']}")
    opener.fill("#decline-reason", "We fund one therapy programme per city this round.")
    opener.click("button:has-text('Decline')")
    fits(opener)
    with app.app_context():
        grant = database.session.scalars(select(Grant)).one()
        grant_id = grant.id
        assert grant.status is GrantStatus.DRAFT
        assert [t.amount for t in grant.tranches] == [500_001, 500_000]
        waiting = grant.tranches[1]
        assert waiting.release_after_id == grant.reports[0].id
        first_id, waiting_id, report_id = grant.tranches[0].id, waiting.id, grant.reports[0].id
    musicares.goto(f"{base}/partner/applications/{submitted['MusiCares']}")
    assert "one therapy programme per city" in musicares.locator("main").inner_text()

    # The award's grant goes through four eyes: Ola submits it, Sam approves it.
    opener.goto(f"{base}/manager/grants/{grant_id}")
    opener.click("text=Submit for approval")
    sam = sign_in(contexts, base, "sam@example.org")
    sam.goto(f"{base}/manager/grants/{grant_id}")
    fits(sam)
    sam.click("button:has-text('Approve')")
    with app.app_context():
        assert database.session.get_one(Grant, grant_id).status is GrantStatus.APPROVED

    # Finance pays the first tranche; the second waits for the report.
    finance = sign_in(contexts, base, "fin@example.org")
    finance.goto(f"{base}/finance/tranches/{first_id}/pay")
    fits(finance)
    finance.fill("#payment_reference", "BANK-1")
    finance.click("button:has-text('Record payment')")
    finance.goto(f"{base}/finance/tranches/{waiting_id}/pay")
    fits(finance)
    assert "First progress report" in finance.locator("main").inner_text()
    finance.fill("#payment_reference", "BANK-2")
    finance.click("button:has-text('Record payment')")
    assert "First progress report" in finance.locator("main").inner_text()
    with app.app_context():
        assert database.session.get_one(Tranche, waiting_id).paid_on is None

    # Backline writes and submits its first report.
    backline.goto(f"{base}/partner/")
    backline.click("text=First progress report")
    fits(backline)
    backline.fill("#narrative", "We held 40 sessions for crews on three tours.")
    backline.fill("#sessions_held", "40")
    backline.select_option("#reach-0-country", "US")
    backline.fill("#reach-0-people", "35")
    backline.fill("#spending-0-amount", "4000")
    backline.click("button[value=submit]")
    assert "The report was submitted" in flash(backline)
    fits(backline)

    # Still refused until a manager accepts it; then paid.
    finance.goto(f"{base}/finance/tranches/{waiting_id}/pay")
    finance.fill("#payment_reference", "BANK-2")
    finance.click("button:has-text('Record payment')")
    with app.app_context():
        assert database.session.get_one(Tranche, waiting_id).paid_on is None
    opener.goto(f"{base}/manager/reports/{report_id}")
    fits(opener)
    assert "40 sessions" in opener.locator("main").inner_text()
    opener.click("text=Accept the report")
    fits(opener)
    finance.goto(f"{base}/finance/tranches/{waiting_id}/pay")
    finance.fill("#payment_reference", "BANK-2")
    finance.click("button:has-text('Record payment')")
    fits(finance)
    with app.app_context():
        paid = database.session.get_one(Tranche, waiting_id)
        assert paid.paid_on is not None
        assert paid.payment_reference == "BANK-2"
        assert paid.release_after is not None
        assert paid.release_after.state is ReportState.ACCEPTED
    backline.goto(f"{base}/partner/grants/{grant_id}")
    fits(backline)
    assert "Accepted" in backline.locator("main").inner_text()
