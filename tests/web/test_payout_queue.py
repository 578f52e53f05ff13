"""Finance's therapy payouts through the screens: the queue of requests, approving and
rejecting, paying approved ones in a batch, the CSV export, bad input, and who may reach what."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.clock import date_in, today_in
from grants.domain import redemptions
from grants.domain.dates import format_day
from grants.domain.ledger import fund_balances
from grants.domain.money import Money
from grants.models import (
    AuditEvent,
    Country,
    LedgerTransaction,
    PayoutBatch,
    Redemption,
    RedemptionState,
    Role,
    TransactionKind,
    Wallet,
)
from tests.factories import fund_wallet, make_ambassador, make_fund, make_user
from tests.support import counting_statements, csrf_token, form_fields, sign_in, submit

TODAY = today_in("America/New_York")
"""Today for the people of these tests (en_US, so in New York's time zone)."""
THIS_YEAR = TODAY.year
SESSION_DAY = date(THIS_YEAR, 1, 1)


class Payouts:
    """Two therapy funds, ambassadors in both countries with credit, and finance."""

    def __init__(self, db: Session) -> None:
        self.db = db
        self.manager = make_user(db, Role.MANAGER, email="morgan@example.org")
        self.finance = make_user(db, Role.FINANCE, email="frankie@example.org", name="Frankie")
        start, end = date(THIS_YEAR, 1, 1), date(THIS_YEAR, 12, 31)
        self.usd = make_fund(db, budget=10_000_000, manager=self.manager, start=start, end=end)
        self.gbp = make_fund(
            db, currency="GBP", budget=10_000_000, manager=self.manager, start=start, end=end
        )
        self.jess = self.wallet(make_ambassador(db, programme="EQUAL", name="Jess Marlowe"))
        self.dani = self.wallet(make_ambassador(db, programme="RADAR", name="Dani Reyes"))
        self.priya = self.wallet(
            make_ambassador(db, programme="GLOW", country=Country.GB, name="Priya Shah")
        )
        self.keys = 0

    def wallet(self, ambassador, amount: int = 500_000) -> Wallet:  # type: ignore[no-untyped-def]
        fund = self.usd if ambassador.country is Country.US else self.gbp
        return fund_wallet(self.db, fund, ambassador, amount, self.manager)

    def request(self, wallet: Wallet, minor: int, provider: str = "Dr Lee, Nashville") -> int:
        self.keys += 1
        receipt = redemptions.request_redemption(
            self.db,
            key=f"redeem-{self.keys}",
            actor=wallet.user,
            wallet_id=wallet.id,
            amount=Money(minor, wallet.currency),
            provider_name=provider,
            session_date=SESSION_DAY,
            now=datetime.now(UTC),
        )
        assert receipt.object_id is not None
        return receipt.object_id

    def approved(self, wallet: Wallet, minor: int, provider: str = "Dr Lee, Nashville") -> int:
        redemption_id = self.request(wallet, minor, provider)
        self.keys += 1
        redemptions.approve_redemption(
            self.db,
            key=f"approve-{self.keys}",
            actor=self.finance,
            redemption_id=redemption_id,
            now=datetime.now(UTC),
        )
        return redemption_id

    def state(self, redemption_id: int) -> RedemptionState:
        self.db.expire_all()
        state = self.db.scalar(select(Redemption.state).where(Redemption.id == redemption_id))
        self.db.commit()
        assert state is not None
        return state

    def footprint(self) -> tuple[int, ...]:
        """Counts any write would change: ledger transactions, audit events, payout batches
        and redemptions per state."""
        self.db.rollback()
        counts = (
            self.db.scalar(select(func.count()).select_from(LedgerTransaction)) or 0,
            self.db.scalar(select(func.count()).select_from(AuditEvent)) or 0,
            self.db.scalar(select(func.count()).select_from(PayoutBatch)) or 0,
            *(
                self.db.scalar(select(func.count()).where(Redemption.state == state)) or 0
                for state in RedemptionState
            ),
        )
        self.db.commit()
        return counts

    def transactions(self, kind: TransactionKind) -> int:
        self.db.rollback()
        count = self.db.scalar(
            select(func.count())
            .select_from(LedgerTransaction)
            .where(LedgerTransaction.kind == kind)
        )
        self.db.commit()
        return count or 0


@pytest.fixture
def world(db: Session) -> Payouts:
    payouts = Payouts(db)
    db.commit()
    return payouts


@pytest.fixture
def finance(app: Flask, world: Payouts) -> FlaskClient:
    return sign_in(app, world.finance.email)


def approve_url(redemption_id: int) -> str:
    return f"/finance/redemptions/{redemption_id}/approve"


def reject_url(redemption_id: int) -> str:
    return f"/finance/redemptions/{redemption_id}/reject"


# --- the queue and the decisions ------------------------------------------------------------


def test_the_queue_shows_requests_oldest_first_with_their_details(
    world: Payouts, finance: FlaskClient
) -> None:
    first = world.request(world.jess, 8_000, "Dr Lee, Nashville")
    second = world.request(world.priya, 6_550, "Talk Therapy Ltd")
    world.approved(world.dani, 1_000, "Already Approved Clinic")
    world.db.commit()

    page = finance.get("/finance/redemptions").get_data(as_text=True)
    assert page.index("Jess Marlowe") < page.index("Priya Shah")
    for text in ("EQUAL", "GLOW", "Dr Lee, Nashville", "Talk Therapy Ltd", "$80.00", "£65.50"):
        assert text in page
    assert SESSION_DAY.isoformat() in page
    assert "Already Approved Clinic" not in page
    assert approve_url(first) in page
    assert f"/finance/redemptions/{second}" in page
    keys = re.findall(r'name="key" value="([^"]+)"', page)
    assert len(keys) == len(set(keys)) == 2, "each row's form carries its own key"


def test_the_queue_is_paginated_and_loads_each_page_in_a_fixed_number_of_queries(
    app: Flask, world: Payouts, finance: FlaskClient
) -> None:
    def statements_for(path: str) -> int:
        with counting_statements(app) as statements:
            assert finance.get(path).status_code == 200
        return len(statements)

    for _ in range(3):
        world.request(world.jess, 100)
    world.db.commit()
    few = statements_for("/finance/redemptions")
    for _ in range(27):
        world.request(world.dani, 100)
    world.db.commit()
    assert statements_for("/finance/redemptions") == few
    first = finance.get("/finance/redemptions").get_data(as_text=True)
    assert first.count("Review or reject") == 25
    assert "Page 1 of 2 (30 in all)" in first
    second = finance.get("/finance/redemptions?page=2").get_data(as_text=True)
    assert second.count("Review or reject") == 5


def test_approving_from_the_queue_posts_once(world: Payouts, finance: FlaskClient) -> None:
    redemption_id = world.request(world.jess, 8_000)
    world.db.commit()
    fields = form_fields(finance, "/finance/redemptions", approve_url(redemption_id))
    response = finance.post(approve_url(redemption_id), data=fields)
    assert response.status_code == 302
    assert response.headers["Location"] == "/finance/redemptions"
    page = finance.get("/finance/redemptions").get_data(as_text=True)
    assert "Approved $80.00 for Dr Lee, Nashville." in page
    assert world.state(redemption_id) is RedemptionState.APPROVED
    before = world.footprint()

    again = finance.post(approve_url(redemption_id), data=fields)
    assert again.status_code == 302
    assert "already approved" in finance.get("/finance/redemptions").get_data(as_text=True)
    assert world.footprint() == before
    assert world.transactions(TransactionKind.REDEMPTION_APPROVAL) == 1
    world.db.expire_all()
    assert fund_balances(world.db, world.usd.id).payable == 8_000


def test_rejecting_needs_a_reason_and_returns_the_credit(
    world: Payouts, finance: FlaskClient
) -> None:
    redemption_id = world.request(world.jess, 8_000)
    world.db.commit()
    detail = f"/finance/redemptions/{redemption_id}"
    page = finance.get(detail).get_data(as_text=True)
    assert "Dr Lee, Nashville" in page
    assert "Jess Marlowe" in page
    stale_approval = form_fields(finance, detail, approve_url(redemption_id))
    before = world.footprint()

    for reason, status, message in (
        ("", 422, "Enter a reason."),
        ("   ", 422, "Enter a reason."),
        ("x" * 501, 422, "Field cannot be longer than 500 characters."),
    ):
        refused = submit(finance, detail, {"reason": reason}, action=reject_url(redemption_id))
        assert refused.status_code == status
        assert message in refused.get_data(as_text=True)
        assert world.footprint() == before

    fields = form_fields(finance, detail, reject_url(redemption_id))
    fields["reason"] = "The session date is after the receipt date."
    assert finance.post(reject_url(redemption_id), data=fields).status_code == 302
    assert finance.post(reject_url(redemption_id), data=fields).status_code == 302
    assert world.state(redemption_id) is RedemptionState.REJECTED
    assert world.transactions(TransactionKind.REDEMPTION_RELEASE) == 1
    world.db.expire_all()
    rejected = world.db.get_one(Redemption, redemption_id)
    assert rejected.reason == "The session date is after the receipt date."
    assert rejected.wallet.available == 500_000
    world.db.commit()
    page = finance.get(detail).get_data(as_text=True)
    assert "The session date is after the receipt date." in page
    assert "by Frankie" in page
    assert reject_url(redemption_id) not in page

    late = finance.post(approve_url(redemption_id), data=stale_approval)
    assert late.status_code == 409
    assert "This redemption is rejected, not requested." in late.get_data(as_text=True)
    assert world.transactions(TransactionKind.REDEMPTION_APPROVAL) == 0


def test_a_decided_redemption_cannot_be_decided_again(world: Payouts, finance: FlaskClient) -> None:
    redemption_id = world.request(world.jess, 8_000)
    world.db.commit()
    stale = form_fields(finance, f"/finance/redemptions/{redemption_id}", reject_url(redemption_id))
    submit(finance, "/finance/redemptions", {}, action=approve_url(redemption_id))
    before = world.footprint()
    refused = finance.post(reject_url(redemption_id), data={**stale, "reason": "Too late"})
    assert refused.status_code == 409
    assert "This redemption is approved, not requested." in refused.get_data(as_text=True)
    assert world.footprint() == before


def test_finance_cannot_decide_their_own_redemption(app: Flask, world: Payouts) -> None:
    both = make_ambassador(world.db, extra_roles=[Role.FINANCE], email="fin.amb@example.org")
    own = world.request(world.wallet(both), 5_000)
    world.db.commit()
    client = sign_in(app, "fin.amb@example.org")
    before = world.footprint()
    refused = submit(client, "/finance/redemptions", {}, action=approve_url(own))
    assert refused.status_code == 403
    assert "You cannot decide on your own redemption" in refused.get_data(as_text=True)
    refused = submit(
        client, f"/finance/redemptions/{own}", {"reason": "Mine"}, action=reject_url(own)
    )
    assert refused.status_code == 403
    assert "ask another member of finance" in refused.get_data(as_text=True)
    assert world.footprint() == before
    assert world.state(own) is RedemptionState.REQUESTED


# --- batches and the export -----------------------------------------------------------------


def test_paying_a_batch_and_exporting_it(world: Payouts, finance: FlaskClient) -> None:
    first = world.approved(world.jess, 8_000, "Dr Lee, Nashville")
    second = world.approved(world.dani, 12_550, '=HYPERLINK("http://evil.example","x")')
    left = world.approved(world.jess, 3_000, "Calm Minds LLC")
    pounds = world.approved(world.priya, 6_000, "Talk Therapy Ltd")
    world.db.commit()

    page = finance.get("/finance/payouts").get_data(as_text=True)
    for redemption_id in (first, second, left, pounds):
        assert f'name="redemption_ids" value="{redemption_id}"' in page
    approved_csv = finance.get("/finance/payouts/approved.csv")
    assert approved_csv.status_code == 200
    assert approved_csv.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert approved_csv.headers["Cache-Control"] == "no-store"
    assert approved_csv.headers["Content-Disposition"].startswith(
        'attachment; filename="payouts-approved-'
    )
    assert approved_csv.get_data(as_text=True).count("\r\n") == 5

    fields = form_fields(finance, "/finance/payouts")
    data = {
        **fields,
        "redemption_ids": [str(first), str(second)],
        "payment_reference": " ACH 0601 ",
    }
    response = finance.post("/finance/payouts", data=data)
    assert response.status_code == 302
    assert response.headers["Location"] == "/finance/payouts/batches"
    batches = finance.get("/finance/payouts/batches").get_data(as_text=True)
    assert "2 redemptions were marked paid under reference ACH 0601." in batches
    assert "$205.50" in batches
    assert "/finance/payouts/batch.csv?reference=ACH+0601" in batches
    before = world.footprint()

    again = finance.post("/finance/payouts", data=data)
    assert again.status_code == 302
    assert "already recorded as paid" in finance.get("/finance/payouts/batches").get_data(
        as_text=True
    )
    assert world.footprint() == before
    assert world.transactions(TransactionKind.PROVIDER_PAYMENT) == 2
    assert [world.state(i) for i in (first, second, left, pounds)] == [
        RedemptionState.PAID,
        RedemptionState.PAID,
        RedemptionState.APPROVED,
        RedemptionState.APPROVED,
    ]
    world.db.expire_all()
    balances = fund_balances(world.db, world.usd.id)
    assert (balances.payable, balances.paid) == (3_000, 20_550)
    world.db.commit()

    export = finance.get("/finance/payouts/batch.csv?reference=ACH+0601")
    assert export.status_code == 200
    assert export.headers["Content-Disposition"] == 'attachment; filename="payouts-ACH-0601.csv"'
    assert export.get_data(as_text=True) == (
        "provider_name,amount,currency,session_date,redemption_id,payment_reference\r\n"
        f'"Dr Lee, Nashville",80.00,USD,{SESSION_DAY.isoformat()},{first},ACH 0601\r\n'
        f'"\'=HYPERLINK(""http://evil.example"",""x"")",125.50,USD,{SESSION_DAY.isoformat()},'
        f"{second},ACH 0601\r\n"
    )
    assert finance.get("/finance/payouts/batch.csv?reference=NOPE").status_code == 404
    assert finance.get("/finance/payouts/batch.csv").status_code == 422
    page = finance.get("/finance/payouts").get_data(as_text=True)
    assert f'value="{first}"' not in page
    assert f'value="{left}"' in page


def test_batch_refusals_say_why_and_write_nothing(world: Payouts, finance: FlaskClient) -> None:
    dollars = world.approved(world.jess, 8_000)
    pounds = world.approved(world.priya, 6_000)
    requested = world.request(world.dani, 2_000)
    world.db.commit()
    before = world.footprint()
    cases = [
        ({"payment_reference": "ACH 1"}, 422, "Choose at least one approved redemption to pay."),
        ({"redemption_ids": [str(dollars)], "payment_reference": ""}, 422, "Enter a payment"),
        (
            {"redemption_ids": [str(dollars)], "payment_reference": "R" * 101},
            422,
            "Field cannot be longer than 100 characters.",
        ),
        (
            {"redemption_ids": ["seven"], "payment_reference": "ACH 1"},
            422,
            "could not be coerced",
        ),
        (
            {"redemption_ids": ["9" * 10], "payment_reference": "ACH 1"},
            422,
            "could not be coerced",
        ),
        (
            {"redemption_ids": [str(dollars), str(pounds)], "payment_reference": "ACH 1"},
            422,
            "A batch is paid in one currency; this one mixes GBP and USD.",
        ),
        (
            {"redemption_ids": [str(dollars), str(requested)], "payment_reference": "ACH 1"},
            409,
            f"Only approved redemptions can be paid: redemption {requested} is requested.",
        ),
        (
            {"redemption_ids": [str(dollars), "987654"], "payment_reference": "ACH 1"},
            404,
            "There is no redemption 987654.",
        ),
    ]
    for changes, status, message in cases:
        response = finance.post(
            "/finance/payouts", data={**form_fields(finance, "/finance/payouts"), **changes}
        )
        assert response.status_code == status, (changes, response.status_code)
        assert message in response.get_data(as_text=True), changes
        assert world.footprint() == before, changes
    assert world.state(dollars) is RedemptionState.APPROVED


def batch_rows(page: str) -> list[str]:
    """The text of each row of the table of batches on ``page``, tags removed."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        " ".join(re.sub(r"<[^>]+>", " ", row).split())
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_the_batches_page_lists_each_batch_paid_latest_first(
    app: Flask, world: Payouts, finance: FlaskClient
) -> None:
    """Each batch's reference, date, number of redemptions, total, whether a statement has
    settled it, and its CSV and bank-file links (ACH for dollars only), latest first, read
    from the batches' own rows: the page costs the same statements for one batch as for a
    page and more."""
    dollars = [world.approved(world.jess, 8_000), world.approved(world.dani, 12_550)]
    pounds = world.approved(world.priya, 6_000)
    world.db.commit()
    for ids, reference in ((dollars, "ACH 0601"), ([pounds], "FPS 0602")):
        data = {
            **form_fields(finance, "/finance/payouts"),
            "redemption_ids": [str(i) for i in ids],
            "payment_reference": reference,
        }
        assert finance.post("/finance/payouts", data=data).status_code == 302
    world.db.rollback()
    stored = world.db.execute(
        select(
            PayoutBatch.payment_reference,
            PayoutBatch.redemptions,
            PayoutBatch.amount,
            PayoutBatch.paid_at,
            PayoutBatch.paid_by_id,
        ).order_by(PayoutBatch.id)
    ).all()
    world.db.commit()
    assert [row[:3] for row in stored] == [("ACH 0601", 2, 20_550), ("FPS 0602", 1, 6_000)]
    assert {row.paid_by_id for row in stored} == {world.finance.id}
    day = format_day(date_in(stored[0].paid_at, "America/New_York"), "en_US")

    with counting_statements(app) as statements:
        page = finance.get("/finance/payouts/batches").get_data(as_text=True)
    few = len(statements)
    assert batch_rows(page) == [
        f"FPS 0602 {day} 1 £60.00 Not settled CSV of FPS 0602 pain.001 (XML) of FPS 0602",
        f"ACH 0601 {day} 2 $205.50 Not settled CSV of ACH 0601 pain.001 (XML) of ACH 0601 "
        "ACH (NACHA) of ACH 0601",
    ]
    assert '<a href="/finance/payouts/batch.csv?reference=FPS+0602">' in page

    for n in range(25):
        paid = world.approved(world.jess, 100 + n)
        world.db.commit()
        data = {
            **form_fields(finance, "/finance/payouts"),
            "redemption_ids": [str(paid)],
            "payment_reference": f"ACH {n:04d}",
        }
        assert finance.post("/finance/payouts", data=data).status_code == 302
    with counting_statements(app) as statements:
        first = finance.get("/finance/payouts/batches").get_data(as_text=True)
    assert len(statements) == few
    assert len(batch_rows(first)) == 25
    assert batch_rows(first)[0].startswith("ACH 0024 ")
    assert "Page 1 of 2 (27 in all)" in first
    second = finance.get("/finance/payouts/batches?page=2").get_data(as_text=True)
    assert batch_rows(second) == batch_rows(page)


# --- who may reach what ---------------------------------------------------------------------


FINANCE_PAGES = [
    "/finance/redemptions",
    "/finance/redemptions/{id}",
    "/finance/payouts",
    "/finance/payouts/batches",
    "/finance/payouts/approved.csv",
    "/finance/payouts/batch.csv?reference=ACH",
]
FINANCE_ACTIONS = [
    "/finance/redemptions/{id}/approve",
    "/finance/redemptions/{id}/reject",
    "/finance/payouts",
]


@pytest.fixture
def outsiders(world: Payouts) -> dict[str, str]:
    """An ambassador, a recipient and a manager: none of them finance."""
    recipient = make_user(world.db, Role.RECIPIENT, email="bo@example.org")
    world.db.commit()
    return {
        "ambassador": world.jess.user.email,
        "recipient": recipient.email,
        "manager": world.manager.email,
    }


@pytest.mark.parametrize("who", ["ambassador", "recipient", "manager"])
def test_only_finance_reaches_the_payout_screens(
    app: Flask, world: Payouts, outsiders: dict[str, str], who: str
) -> None:
    requested = world.request(world.jess, 8_000, "Dr Lee, Nashville")
    approved = world.approved(world.dani, 2_000, "Calm Minds LLC")
    world.db.commit()
    client = sign_in(app, outsiders[who])
    token = csrf_token(client, "/finance/redemptions")  # the 403 page signs out by form
    before = world.footprint()
    for redemption_id in (requested, approved, 987654):
        for path in FINANCE_PAGES:
            response = client.get(path.format(id=redemption_id))
            assert response.status_code == 403, (who, path)
            text = response.get_data(as_text=True)
            assert "Dr Lee" not in text
            assert "Calm Minds" not in text
        for path in FINANCE_ACTIONS:
            response = client.post(
                path.format(id=redemption_id),
                data={
                    "csrf_token": token,
                    "key": f"{who}-{path}",
                    "reason": "No",
                    "redemption_ids": [str(approved)],
                    "payment_reference": "ACH X",
                },
            )
            assert response.status_code == 403, (who, path)
    assert world.footprint() == before


def test_anonymous_visitors_are_sent_to_sign_in(app: Flask, world: Payouts) -> None:
    requested = world.request(world.jess, 8_000)
    world.db.commit()
    client = app.test_client()
    token = csrf_token(client, "/login")
    before = world.footprint()
    for path in FINANCE_PAGES + FINANCE_ACTIONS:
        url = path.format(id=requested)
        for response in (client.get(url), client.post(url, data={"csrf_token": token})):
            if response.status_code == 405:
                continue
            assert response.status_code == 302, url
            assert response.headers["Location"].startswith("/login?next=")
    assert world.footprint() == before


def test_the_finance_dashboard_counts_payouts_and_links_to_them(
    world: Payouts, finance: FlaskClient
) -> None:
    world.request(world.jess, 1_000)
    world.request(world.jess, 1_000)
    world.approved(world.dani, 1_000)
    world.db.commit()
    page = finance.get("/finance/").get_data(as_text=True)
    section = page.split("<h2>Therapy payouts</h2>", 1)[1].split("</section>", 1)[0]
    assert re.search(r">2</span><span class=\"stat-label\">waiting for a decision", section)
    assert re.search(r">1</span><span class=\"stat-label\">approved, to pay", section)
    for path in ("/finance/redemptions", "/finance/payouts", "/finance/payouts/batches"):
        assert f'href="{path}"' in section
