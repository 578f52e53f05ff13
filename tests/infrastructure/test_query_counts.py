"""The SQL statements a page sends do not grow with the data: each main page of each role is
requested on a dataset and on one three times its size, and must send the same number of
statements both times, and no more than :data:`BOUND`.

Statements are counted with the engine's ``before_cursor_execute`` event while the request
runs. The ledger's prepared statements (``grants.domain.statements``) bypass that event, but
they only write, and these are GET pages.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, select, text, update

from grants.domain import grants as grant_operations
from grants.domain.money import Money
from grants.extensions import db
from grants.models import (
    Country,
    Fund,
    FundKind,
    Gift,
    GiftState,
    Grant,
    GrantStatus,
    Partner,
    Redemption,
    RedemptionState,
    SupportLine,
    User,
    Wallet,
    WalletKind,
)
from grants.security import password_hasher, password_rules
from grants.seed.demo import DEMO_PASSWORD, email_for
from grants.seed.scale import seed_scale
from tests.support import counting_statements, login

BOUND = 25
"""The most statements any of these pages may send, whatever the size of the data."""
AMBASSADORS = 40
FIRST_AMBASSADOR = 1
"""The id of the first ambassador the demo seeds (Jess Marlowe, current), in both datasets:
the allowance form is counted for them."""
POSTINGS = 1_500
"""Postings of the smaller dataset; the larger one has three times as many, and three times
the partners, grants, support lines and history of the wallet that is looked at."""


@dataclass(frozen=True)
class Sample:
    """Ids of the objects whose pages are requested, and who may see them."""

    ambassador: str
    recipient: str
    wallet_id: int
    recipient_wallet_id: int
    gift_id: int
    redemption_id: int
    requested_id: int
    grant_id: int
    partner_id: int
    fund_id: int


def build(app: Flask, size: int) -> Sample:
    """The scale dataset at ``size`` times :data:`POSTINGS`, with ``size`` times the extras."""
    now = datetime.now(UTC)
    with app.app_context():
        session = db.session()
        seed_scale(
            session,
            ambassadors=AMBASSADORS,
            postings=POSTINGS * size,
            now=now,
            hasher=password_hasher(),
            rules=password_rules(),
        )
        for number in range(8 * size):
            session.add(
                Partner(
                    legal_name=f"Stage Crew Support {number} Inc.",
                    display_name=f"Stage Crew Support {number}",
                    country=Country.US,
                )
            )
            session.add(
                SupportLine(
                    country=Country.US,
                    name=f"Local line {number}",
                    phone=f"555-01{number:02d}",
                    sort_order=200,
                )
            )
        session.commit()
        manager = session.scalars(select(User).where(User.email == email_for("manager"))).one()
        second = session.scalars(select(User).where(User.email == email_for("manager.two"))).one()
        fund = session.scalars(select(Fund).where(Fund.kind == FundKind.GRANTS)).one()
        partners = session.scalars(select(Partner).order_by(Partner.id)).all()
        for number in range(8 * size):
            receipt = grant_operations.create_grant(
                session,
                key=f"query-counts:{number}",
                actor=manager,
                draft=grant_operations.GrantDraft(
                    fund_id=fund.id,
                    partner_id=partners[number % len(partners)].id,
                    purpose=f"Crew wellbeing sessions, round {number}",
                    category="services",
                    amount=Money(200_000, fund.currency),
                    tranches=[
                        grant_operations.Instalment(
                            fund.plan_year_start + timedelta(days=30), Money(100_000, "USD")
                        ),
                        grant_operations.Instalment(fund.plan_year_end, Money(100_000, "USD")),
                    ],
                    reports=[grant_operations.ReportDue("Outcomes", fund.plan_year_end)],
                ),
            )
            assert receipt.object_id is not None
            grant_operations.submit_grant(
                session,
                key=f"query-counts:{number}:submit",
                actor=manager,
                grant_id=receipt.object_id,
                now=now,
            )
            if number % 2:
                grant_operations.approve_grant(
                    session,
                    key=f"query-counts:{number}:approve",
                    actor=second,
                    grant_id=receipt.object_id,
                    now=now,
                )
        session.commit()

        busiest = session.execute(
            select(Wallet.id, Wallet.user_id)
            .join(Redemption, Redemption.wallet_id == Wallet.id)
            .where(Wallet.kind == WalletKind.AMBASSADOR)
            .group_by(Wallet.id, Wallet.user_id)
            .order_by(func.count(Redemption.id).desc(), Wallet.id)
            .limit(1)
        ).one()
        gift = session.scalars(
            select(Gift).where(Gift.state == GiftState.CLAIMED).order_by(Gift.id)
        ).first()
        assert gift is not None
        assert gift.recipient_wallet is not None
        password = password_hasher().hash(DEMO_PASSWORD)
        holders = (busiest.user_id, gift.recipient_wallet.user_id)
        session.execute(update(User).where(User.id.in_(holders)).values(password_hash=password))
        sample = Sample(
            ambassador=session.get_one(User, busiest.user_id).email,
            recipient=gift.recipient_wallet.user.email,
            wallet_id=busiest.id,
            recipient_wallet_id=gift.recipient_wallet.id,
            gift_id=_first(session, select(Gift.id).where(Gift.giver_wallet_id == busiest.id)),
            redemption_id=_first(
                session, select(Redemption.id).where(Redemption.wallet_id == busiest.id)
            ),
            requested_id=_first(
                session,
                select(Redemption.id).where(Redemption.state == RedemptionState.REQUESTED),
            ),
            grant_id=_first(
                session,
                select(Grant.id).where(Grant.status == GrantStatus.ACTIVE),
            ),
            partner_id=partners[0].id,
            fund_id=fund.id,
        )
        session.commit()
        return sample


def _first(session: Any, query: Any) -> int:
    found = session.scalar(query.order_by(text("1")).limit(1))
    assert found is not None, f"nothing for {query}"
    return int(found)


def pages(sample: Sample) -> dict[str, list[str]]:
    """The pages counted, by who signs in to see them (``None``: nobody)."""
    wallet, received = sample.wallet_id, sample.recipient_wallet_id
    return {
        "": ["/login"],
        email_for("admin"): ["/admin/", "/admin/?page=2", "/admin/support-lines"],
        email_for("manager"): [
            "/manager/",
            "/manager/partners",
            "/manager/partners?page=2",
            f"/manager/partners/{sample.partner_id}",
            "/manager/grants",
            "/manager/grants?page=2",
            f"/manager/grants/{sample.grant_id}",
            f"/manager/funds/{sample.fund_id}",
            f"/manager/funds/{sample.fund_id}?page=2",
            "/manager/credit-use",
            "/manager/allowances/new",
            "/manager/allowances/new?q=marlowe",
            "/manager/allowances/new?q=nobody-by-this-name",
            f"/manager/allowances/new?ambassador={FIRST_AMBASSADOR}",
            "/manager/allowances/cohort",
        ],
        email_for("finance"): [
            "/finance/",
            "/finance/redemptions",
            "/finance/redemptions?page=2",
            f"/finance/redemptions/{sample.requested_id}",
            "/finance/payouts",
            "/finance/payouts/batches",
            "/finance/reports",
        ],
        sample.ambassador: [
            "/wallet/",
            f"/wallet/{wallet}/allowances",
            f"/wallet/{wallet}/gifts",
            f"/wallet/{wallet}/redemptions",
            f"/wallet/{wallet}/redemptions?page=2",
            f"/wallet/{wallet}/redeem",
            f"/wallet/{wallet}/give",
            f"/wallet/gifts/{sample.gift_id}",
            f"/wallet/redemptions/{sample.redemption_id}",
        ],
        sample.recipient: ["/wallet/", f"/wallet/{received}/received"],
    }


PLACEHOLDERS = Sample(**{field.name: f"<{field.name}>" for field in fields(Sample)})  # type: ignore[arg-type]
"""A sample whose ids are their names: :func:`pages` of it names each page, such as
``/wallet/<wallet_id>/gifts``, the same for both datasets, whose samples are other rows."""


def measure(app: Flask, sample: Sample) -> dict[str, int]:
    """Statements per page (by its name in :data:`PLACEHOLDERS`), each page requested once
    signed in as its viewer."""
    counts: dict[str, int] = {}
    named = pages(PLACEHOLDERS).values()
    for (viewer, urls), names in zip(pages(sample).items(), named, strict=True):
        client = app.test_client()
        if viewer:
            assert login(client, viewer, DEMO_PASSWORD).status_code == 302, viewer
        for url, name in zip(urls, names, strict=True):
            client.get(url)  # warm: caches of templates and compiled statements
            with counting_statements(app) as seen:
                response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            counts[name] = len(seen)
    return counts


def second_database(make_app: Any, app: Flask, tmp_path: Path) -> Flask:
    """An application on an empty database for the larger dataset."""
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            bigger: Flask = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'larger.sqlite3'}")
            return bigger
        db.session.remove()
        tables = ", ".join(f'"{table.name}"' for table in db.metadata.sorted_tables)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return app


def test_main_pages_send_a_bounded_number_of_statements_whatever_the_size(
    make_app: Any, tmp_path: Path
) -> None:
    small_app: Flask = make_app()
    small = measure(small_app, build(small_app, 1))
    large_app = second_database(make_app, small_app, tmp_path)
    large_sample = build(large_app, 3)
    large = measure(large_app, large_sample)

    table = "\n".join(f"  {url:<40}{small[url]:>4}{large[url]:>4}" for url in small)
    grown = {url: (small[url], large[url]) for url in small if large[url] != small[url]}
    assert not grown, f"statements grow with the data (url, small, large):\n{table}"
    over = {url: count for url, count in large.items() if count > BOUND}
    assert not over, f"pages over {BOUND} statements:\n{table}"

    client = large_app.test_client()
    login(client, email_for("manager"), DEMO_PASSWORD)
    fund_page = client.get(f"/manager/funds/{large_sample.fund_id}").get_data(as_text=True)
    assert "Page 1 of 2 (34 in all)" in fund_page
