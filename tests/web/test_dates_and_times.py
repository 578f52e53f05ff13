"""Dates and times on the screens and in the emails: each in the viewer's locale (``27 Dec
2026`` in en_GB, ``Dec 27, 2026`` in en_US) and time zone, a time with its zone's name;
the ``<time datetime>`` attributes stay ISO 8601. A person's "today" is their own date,
and a fund's plan year ends at midnight in the fund's time zone.

The application's clock stands at 23:30 UTC on 14 July 2026: 00:30 on the 15th in London
(BST), 19:30 on the 14th in New York (EDT)."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, date, datetime

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants import clock
from grants.domain import plan_year, redemptions
from grants.domain.errors import InvalidState
from grants.domain.money import Money
from grants.domain.support import seed_default_lines
from grants.models import Country, Fund, Redemption, Role, Tranche, User
from tests.factories import (
    forget_emails,
    fund_wallet,
    make_ambassador,
    make_fund,
    make_user,
)
from tests.support import sign_in, submit
from tests.wallets import body_of, claim_link_in, give_gift, outbox, redeem_page
from tests.web.test_grant_screens import add_partner, decide

NOW = datetime(2026, 7, 14, 23, 30, tzinfo=UTC)
NARROW = "\u202f"
"""The narrow no-break space Babel writes before AM and PM in en_US."""

_keys = itertools.count(1)


@pytest.fixture(autouse=True)
def clock_at_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "now", lambda: NOW)


@pytest.fixture
def people(db: Session) -> dict[str, object]:
    """A UK ambassador (en_GB, London) and a US one (en_US, New York), each with credit in
    a 2026 fund of their currency; finance in each locale; a manager."""
    manager = make_user(db, Role.MANAGER, email="manager@example.org")
    make_user(db, Role.FINANCE, email="finance.uk@example.org", locale="en_GB")
    make_user(db, Role.FINANCE, email="finance.us@example.org")
    uk_fund = make_fund(db, currency="GBP", budget=1_000_000, manager=manager)
    us_fund = make_fund(db, currency="USD", budget=1_000_000, manager=manager)
    briton = make_ambassador(
        db, email="niamh@example.org", name="Niamh Carter", country=Country.GB, locale="en_GB"
    )
    american = make_ambassador(db, email="avery@example.org", name="Avery Ambassador")
    found = {
        "uk_wallet": fund_wallet(db, uk_fund, briton, 50_000, manager).id,
        "us_wallet": fund_wallet(db, us_fund, american, 50_000, manager).id,
        "uk_fund": uk_fund.id,
        "us_fund": us_fund.id,
    }
    seed_default_lines(db)
    forget_emails(db)
    db.commit()
    return found


def visible(page: str) -> str:
    """The page's text without its tags, runs of ASCII white space made one space (a narrow
    no-break space is kept)."""
    return re.sub(r"[ \t\r\n]+", " ", re.sub(r"<[^>]+>", " ", page)).strip()


# --- today is the person's own date ---------------------------------------------------------


def test_a_uk_ambassador_just_after_midnight_in_summer_may_ask_for_todays_session(
    app: Flask, db: Session, people: dict[str, int]
) -> None:
    """The bug: at 00:30 BST the UTC date is still yesterday, and today's session was
    refused as in the future. Today is accepted; tomorrow is refused and writes nothing."""
    client = sign_in(app, "niamh@example.org")
    wallet = people["uk_wallet"]
    refused = submit(
        client,
        redeem_page(wallet),
        {"provider_name": "Dr Rivera", "session_date": "2026-07-16", "amount": "60.00"},
    )
    assert refused.status_code == 422
    assert "The session date cannot be in the future." in refused.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(Redemption)) == 0
    db.rollback()

    accepted = submit(
        client,
        redeem_page(wallet),
        {"provider_name": "Dr Rivera", "session_date": "2026-07-15", "amount": "60.00"},
    )
    assert accepted.status_code == 302
    [session_date] = db.scalars(select(Redemption.session_date)).all()
    assert session_date == date(2026, 7, 15)


def test_a_us_ambassador_in_the_evening_cannot_ask_for_the_utc_date(
    app: Flask, db: Session, people: dict[str, int]
) -> None:
    """19:30 in New York on the 14th: the 15th (already the UTC date) is tomorrow."""
    client = sign_in(app, "avery@example.org")
    fields = {"provider_name": "Dr Lee", "amount": "60.00"}
    refused = submit(
        client, redeem_page(people["us_wallet"]), fields | {"session_date": "2026-07-15"}
    )
    assert refused.status_code == 422
    assert "The session date cannot be in the future." in refused.get_data(as_text=True)
    accepted = submit(
        client, redeem_page(people["us_wallet"]), fields | {"session_date": "2026-07-14"}
    )
    assert accepted.status_code == 302


# --- each viewer's locale and time zone -----------------------------------------------------


def _requested(db: Session, people: dict[str, int]) -> int:
    """A redemption the UK ambassador asked for at NOW."""
    niamh = db.scalars(select(User).where(User.email == "niamh@example.org")).one()
    receipt = redemptions.request_redemption(
        db,
        key=f"dates-{next(_keys)}",
        actor=niamh,
        wallet_id=people["uk_wallet"],
        amount=Money(6_000, "GBP"),
        provider_name="Dr Rivera",
        session_date=date(2026, 7, 15),
        now=NOW,
    )
    db.commit()
    assert receipt.object_id is not None
    return receipt.object_id


def test_the_wallet_and_a_request_in_en_gb_and_london_time(
    app: Flask, db: Session, people: dict[str, int]
) -> None:
    redemption_id = _requested(db, people)
    client = sign_in(app, "niamh@example.org")
    wallet = client.get("/wallet/").get_data(as_text=True)
    assert 'Spend it on sessions by <time datetime="2026-12-31">31 Dec 2026</time>' in wallet
    assert '<time datetime="2026-07-15">15 Jul 2026</time>' in wallet
    page = client.get(f"/wallet/redemptions/{redemption_id}").get_data(as_text=True)
    assert '<time datetime="2026-07-14T23:30:00+00:00">15 Jul 2026, 00:30 BST</time>' in page
    assert "UTC" not in visible(page)
    redeem = client.get(redeem_page(people["uk_wallet"])).get_data(as_text=True)
    assert "within the plan year (1 Jan 2026 to 31 Dec 2026)" in redeem


def test_finance_see_the_same_request_each_in_their_own_locale_and_time_zone(
    app: Flask, db: Session, people: dict[str, int]
) -> None:
    redemption_id = _requested(db, people)
    url = f"/finance/redemptions/{redemption_id}"
    uk = sign_in(app, "finance.uk@example.org").get(url).get_data(as_text=True)
    us = sign_in(app, "finance.us@example.org").get(url).get_data(as_text=True)
    assert ">15 Jul 2026, 00:30 BST</time>" in uk
    assert f">Jul 14, 2026, 7:30{NARROW}PM EDT</time>" in us
    assert ">15 Jul 2026</time>" in uk  # the session date: a day, in no time zone
    assert ">Jul 15, 2026</time>" in us
    for page in (uk, us):
        assert 'datetime="2026-07-14T23:30:00+00:00"' in page
        assert 'datetime="2026-07-15"' in page

    queue_uk = sign_in(app, "finance.uk@example.org").get("/finance/redemptions")
    queue_us = sign_in(app, "finance.us@example.org").get("/finance/redemptions")
    assert ">15 Jul 2026</time>" in queue_uk.get_data(as_text=True)
    assert ">Jul 14, 2026</time>" in queue_us.get_data(as_text=True), "asked on the 14th there"


def test_a_chosen_time_zone_is_used_on_every_page(
    app: Flask, db: Session, people: dict[str, int]
) -> None:
    redemption_id = _requested(db, people)
    finance = db.scalars(select(User).where(User.email == "finance.uk@example.org")).one()
    finance.time_zone = "Asia/Tokyo"
    db.commit()
    page = sign_in(app, "finance.uk@example.org").get(f"/finance/redemptions/{redemption_id}")
    assert ">15 Jul 2026, 08:30 JST</time>" in page.get_data(as_text=True)


def test_the_fund_pages_state_each_funds_time_zone(
    app: Flask, db: Session, people: dict[str, int]
) -> None:
    client = sign_in(app, "manager@example.org")
    page = visible(client.get(f"/manager/funds/{people['uk_fund']}").get_data(as_text=True))
    assert "plan year Jan 1, 2026 to Dec 31, 2026 in Europe/London time" in page
    funds = visible(sign_in(app, "finance.us@example.org").get("/finance/").get_data(as_text=True))
    assert "Jan 1, 2026 to Dec 31, 2026 America/New York" in funds
    assert "Jan 1, 2026 to Dec 31, 2026 Europe/London" in funds


def test_a_manager_opens_a_fund_in_a_time_zone_they_choose(
    app: Flask, db: Session, people: dict[str, int]
) -> None:
    client = sign_in(app, "manager@example.org")
    fields = {
        "name": "Therapy Nashville 2027",
        "kind": "therapy",
        "currency": "USD",
        "plan_year_start": "2027-01-01",
        "plan_year_end": "2027-12-31",
        "budget": "1000.00",
    }
    refused = submit(client, "/manager/funds/new", fields | {"time_zone": "Mars/Olympus_Mons"})
    assert refused.status_code == 422
    assert "Choose a time zone from the list." in refused.get_data(as_text=True)
    db.rollback()
    assert db.scalar(select(func.count()).where(Fund.name == "Therapy Nashville 2027")) == 0
    opened = submit(client, "/manager/funds/new", fields | {"time_zone": "America/Chicago"})
    assert opened.status_code == 302
    db.rollback()
    fund = db.scalars(select(Fund).where(Fund.name == "Therapy Nashville 2027")).one()
    assert fund.time_zone == "America/Chicago"
    by_currency = submit(
        client, "/manager/funds/new", fields | {"name": "Therapy UK 2027", "currency": "GBP"}
    )
    assert by_currency.status_code == 302
    db.rollback()
    uk = db.scalars(select(Fund).where(Fund.name == "Therapy UK 2027")).one()
    assert uk.time_zone == "Europe/London"


# --- gifts: the claim email and the claim page, in the fund's time zone ---------------------


def test_the_claim_email_and_page_state_the_deadline_in_the_funds_time_zone(
    app: Flask, db: Session, people: dict[str, int]
) -> None:
    """Given at 00:30 BST on 15 July, a gift can be claimed for 30 days: until 00:30 BST on
    14 August, written in the giver's locale with the fund's zone named."""
    giver = sign_in(app, "niamh@example.org")
    assert give_gift(giver, people["uk_wallet"], amount="40.00").status_code == 302
    [message] = outbox(app)
    body = body_of(message)
    assert "Claim it by 14 Aug 2026, 00:30 BST (Europe/London time) at this address:" in body
    link = claim_link_in(message)

    anonymous = app.test_client()
    page = anonymous.get(link, headers={"Accept-Language": "en-US,en;q=0.8"})
    text = visible(page.get_data(as_text=True))
    assert f"Claim by Aug 14, 2026, 12:30{NARROW}AM BST" in text
    assert "(Europe/London time, where the fund is kept)" in text
    british = anonymous.get(link, headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert "Claim by 14 Aug 2026, 00:30 BST" in visible(british.get_data(as_text=True))

    given = visible(giver.get("/wallet/").get_data(as_text=True))
    assert "until 14 Aug 2026" in given


def test_a_plan_year_ends_at_midnight_in_the_funds_time_zone_on_the_screens(
    app: Flask, db: Session, people: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 23:30 GMT on 31 December a UK ambassador may still give; at 00:30 on 1 January
    (still 31 December in New York) the London fund's year is over, and the New York
    fund's is not."""
    monkeypatch.setattr(clock, "now", lambda: datetime(2026, 12, 31, 23, 30, tzinfo=UTC))
    uk = sign_in(app, "niamh@example.org")
    us = sign_in(app, "avery@example.org")
    assert uk.get(f"/wallet/{people['uk_wallet']}/give").status_code == 200
    monkeypatch.setattr(clock, "now", lambda: datetime(2027, 1, 1, 0, 30, tzinfo=UTC))
    assert uk.get(f"/wallet/{people['uk_wallet']}/give").status_code == 403
    assert "Give credit" not in uk.get("/wallet/").get_data(as_text=True)
    assert us.get(f"/wallet/{people['us_wallet']}/give").status_code == 200
    assert "Give credit to a bandmate" in us.get("/wallet/").get_data(as_text=True)


def test_the_audit_log_shows_and_filters_by_the_admins_own_days(
    app: Flask, db: Session, people: dict[str, int]
) -> None:
    """A request made at 00:30 BST on 15 July is listed at that time, and found by that day
    (not by 14 July, its UTC date), for an admin in London."""
    _requested(db, people)
    make_user(db, Role.ADMIN, email="admin.uk@example.org", locale="en_GB")
    db.commit()
    admin = sign_in(app, "admin.uk@example.org")
    on_the_15th = admin.get("/admin/audit?action=redemption.&since=2026-07-15&until=2026-07-15")
    page = on_the_15th.get_data(as_text=True)
    assert "<code>redemption.request</code>" in page
    assert ">15 Jul 2026, 00:30 BST</time>" in page
    on_the_14th = admin.get("/admin/audit?action=redemption.&until=2026-07-14")
    assert "<code>redemption.request</code>" not in on_the_14th.get_data(as_text=True)


def test_the_giver_is_told_the_claim_deadline_in_their_own_locale_and_time_zone(
    app: Flask, db: Session, people: dict[str, int]
) -> None:
    """The message after giving states when the link lapses, 30 days on, as the giver reads
    a time: in their locale and time zone, the zone named; not as an ISO date."""
    uk = sign_in(app, "niamh@example.org")
    assert give_gift(uk, people["uk_wallet"], amount="40.00").status_code == 302
    told = visible(uk.get("/wallet/").get_data(as_text=True))
    assert "a link to claim it by 14 Aug 2026, 00:30 BST." in told
    us = sign_in(app, "avery@example.org")
    assert give_gift(us, people["us_wallet"], amount="40.00").status_code == 302
    told = visible(us.get("/wallet/").get_data(as_text=True))
    assert f"a link to claim it by Aug 13, 2026, 7:30{NARROW}PM EDT." in told
    assert "2026-08-1" not in told


# --- refusals name their days in the reader's locale ----------------------------------------


def test_a_session_outside_the_plan_year_is_refused_naming_the_year_in_each_locale(
    app: Flask, db: Session, people: dict[str, int]
) -> None:
    fields = {"provider_name": "Dr Lee", "amount": "60.00", "session_date": "2025-12-01"}
    uk = submit(sign_in(app, "niamh@example.org"), redeem_page(people["uk_wallet"]), fields)
    assert uk.status_code == 422
    assert "within the plan year, 1 Jan 2026 to 31 Dec 2026." in uk.get_data(as_text=True)
    us = submit(sign_in(app, "avery@example.org"), redeem_page(people["us_wallet"]), fields)
    assert us.status_code == 422
    assert "within the plan year, Jan 1, 2026 to Dec 31, 2026." in us.get_data(as_text=True)


def test_a_tranche_outside_the_plan_year_and_a_tranche_paid_twice_name_their_days(
    app: Flask, db: Session, people: dict[str, int]
) -> None:
    """A manager in en_GB and one in en_US are told the plan year in their own words; so are
    finance officers told the day a tranche was already paid."""
    make_user(db, Role.MANAGER, email="manager.uk@example.org", locale="en_GB")
    db.commit()
    briton, american = sign_in(app, "manager.uk@example.org"), sign_in(app, "manager@example.org")
    partner_id = add_partner(briton)
    opened = submit(
        briton,
        "/manager/funds/new",
        {
            "name": "Partner grants 2026 (USD)",
            "kind": "grants",
            "currency": "USD",
            "plan_year_start": "2026-01-01",
            "plan_year_end": "2026-12-31",
            "budget": "100000",
        },
    )
    assert opened.status_code == 302
    fund_id = int(opened.headers["Location"].rsplit("/", 1)[1])
    outside = {"tranches-0-due_date": "2027-01-15", "tranches-0-amount": "30000"}
    for client, said in (
        (briton, "1 Jan 2026 to 31 Dec 2026"),
        (american, "Jan 1, 2026 to Dec 31, 2026"),
    ):
        refused = submit(
            client,
            "/manager/grants/new",
            {
                "fund_id": str(fund_id),
                "partner_id": str(partner_id),
                "category": "services",
                "purpose": "Crisis line for touring crews",
                "amount": "30000.00",
                **outside,
            },
        )
        assert refused.status_code == 422
        assert f"must fall in the plan year, {said}." in refused.get_data(as_text=True)
        db.rollback()

    drafted = submit(
        briton,
        "/manager/grants/new",
        {
            "fund_id": str(fund_id),
            "partner_id": str(partner_id),
            "category": "services",
            "purpose": "Crisis line for touring crews",
            "amount": "30000.00",
            "tranches-0-due_date": "2026-07-01",
            "tranches-0-amount": "30000",
        },
    )
    assert drafted.status_code == 302, drafted.get_data(as_text=True)
    grant_id = int(drafted.headers["Location"].rsplit("/", 1)[1])
    assert decide(briton, grant_id, "submit").status_code == 302
    assert decide(american, grant_id, "approve").status_code == 302
    db.expire_all()
    tranche_id = db.scalars(select(Tranche.id).where(Tranche.grant_id == grant_id)).one()
    db.commit()
    url = f"/finance/tranches/{tranche_id}/pay"
    paying = {"payment_reference": "ACH 0001", "paid_on": "2026-07-01"}
    assert submit(sign_in(app, "finance.uk@example.org"), url, paying).status_code == 302
    for email, said in (
        ("finance.uk@example.org", "1 Jul 2026"),
        ("finance.us@example.org", "Jul 1, 2026"),
    ):
        again = submit(sign_in(app, email), url, paying | {"payment_reference": "ACH 0002"})
        assert again.status_code == 409
        assert f"already paid on {said} with reference ACH 0001" in again.get_data(as_text=True)
        db.rollback()


def test_closing_a_plan_year_too_early_names_its_last_day_in_the_officers_locale(
    db: Session, people: dict[str, int]
) -> None:
    for email, said in (
        ("finance.uk@example.org", "31 Dec 2026 (the end of that day in Europe/London time)"),
        ("finance.us@example.org", "Dec 31, 2026 (the end of that day in Europe/London time)"),
    ):
        officer = db.scalars(select(User).where(User.email == email)).one()
        with pytest.raises(InvalidState, match=re.escape(f"runs until {said}.")):
            plan_year.close_plan_year(
                db, key=f"close-{next(_keys)}", actor=officer, fund_id=people["uk_fund"], now=NOW
            )
        db.rollback()
