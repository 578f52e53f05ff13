"""axe-core on every main page of every role, in Chromium: no serious or critical violation.

The engine is vendored under ``tests/browser/vendor/axe-core/`` (its README gives the
version). The app's Content-Security-Policy (``default-src 'self'``) rightly refuses a
``<script>`` tag added to the page, so axe is given to each page as an init script, which
the browser runs in every new document before the page's own content, outside the policy.
Each page is loaded as its viewer sees it and ``axe.run()`` checks the whole document
against axe's default rules, WCAG 2.x A and AA included. Forms are also checked after a
refused submission, where their error messages are shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from grants.domain import gifts
from grants.domain.money import Money
from grants.models import (
    Fund,
    FundKind,
    Gift,
    GiftState,
    Grant,
    GrantStatus,
    Partner,
    Redemption,
    RedemptionState,
    Relation,
    SupportLine,
    Tranche,
    User,
    Wallet,
    WalletKind,
)
from grants.security import password_hasher, password_rules
from grants.seed.demo import DEMO_PASSWORD, email_for
from grants.seed.scale import seed_scale
from tests.browser.pages import sign_in

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}
ERROR_STATUS = {
    "/no-such-page": 404,
    "/claim/not-a-real-claim-token": 404,
    "/password/reset/not-a-real-token": 404,
    "#forbidden": 403,
}
"""Error pages checked, by path (or by the fragment marking a path whose viewer may not see
it), and the status they answer with."""


@dataclass(frozen=True)
class Site:
    """Who signs in and the ids of the objects whose pages are checked."""

    ambassador: str
    recipient: str
    wallet_id: int
    received_wallet_id: int
    gift_id: int
    redemption_id: int
    requested_id: int
    grant_id: int
    draft_id: int
    tranche_id: int
    partner_id: int
    fund_id: int
    line_id: int
    claim_token: str


def build_site(db: Session) -> Site:
    """A small programme with something in every list, and a fresh claimable gift."""
    now = datetime.now(UTC)
    seed_scale(
        db,
        ambassadors=30,
        postings=800,
        now=now,
        hasher=password_hasher(),
        rules=password_rules(),
    )
    busiest = db.execute(
        select(Wallet.id, Wallet.user_id)
        .join(Redemption, Redemption.wallet_id == Wallet.id)
        .join(Gift, Gift.giver_wallet_id == Wallet.id)
        .where(Wallet.kind == WalletKind.AMBASSADOR)
        .group_by(Wallet.id, Wallet.user_id)
        .order_by(func.count(Redemption.id).desc(), Wallet.id)
        .limit(1)
    ).one()
    claimed = db.scalars(select(Gift).where(Gift.state == GiftState.CLAIMED)).first()
    assert claimed is not None
    assert claimed.recipient_wallet is not None
    password = password_hasher().hash(DEMO_PASSWORD)
    viewers = (busiest.user_id, claimed.recipient_wallet.user_id)
    db.execute(update(User).where(User.id.in_(viewers)).values(password_hash=password))
    giver = db.get_one(User, busiest.user_id)
    fresh = gifts.give_gift(
        db,
        key="accessibility:gift",
        actor=giver,
        wallet_id=busiest.id,
        amount=Money(2_500, db.get_one(Wallet, busiest.id).currency),
        recipient_name="Sam Drummer",
        recipient_email="sam.drummer@example.org",
        relation=Relation.BANDMATE,
        message="For the tour",
        now=now,
    )
    assert fresh.claim_token is not None

    def first(query: Any) -> int:
        found = db.scalar(query.limit(1))
        assert found is not None, query
        return int(found)

    site = Site(
        ambassador=giver.email,
        recipient=claimed.recipient_wallet.user.email,
        wallet_id=busiest.id,
        received_wallet_id=claimed.recipient_wallet.id,
        gift_id=first(select(Gift.id).where(Gift.giver_wallet_id == busiest.id)),
        redemption_id=first(select(Redemption.id).where(Redemption.wallet_id == busiest.id)),
        requested_id=first(
            select(Redemption.id).where(Redemption.state == RedemptionState.REQUESTED)
        ),
        grant_id=first(select(Grant.id).where(Grant.status == GrantStatus.ACTIVE)),
        draft_id=first(select(Grant.id).where(Grant.status == GrantStatus.DRAFT)),
        tranche_id=first(
            select(Tranche.id)
            .join(Grant)
            .where(Grant.status == GrantStatus.ACTIVE, Tranche.paid_on.is_(None))
        ),
        partner_id=first(select(Partner.id).order_by(Partner.id)),
        fund_id=first(select(Fund.id).where(Fund.kind == FundKind.THERAPY)),
        line_id=first(select(SupportLine.id).order_by(SupportLine.id)),
        claim_token=fresh.claim_token,
    )
    db.commit()
    return site


def pages_of(role: str, site: Site) -> tuple[str | None, list[str]]:
    """Who signs in for ``role`` and the paths checked for them."""
    wallet = site.wallet_id
    return {
        "anonymous": (
            None,
            [
                "/login",
                f"/claim/{site.claim_token}",
                "/claim/not-a-real-claim-token",
                "/no-such-page",
                "/password/forgot",
                "/password/reset/not-a-real-token",
            ],
        ),
        "admin": (
            email_for("admin"),
            [
                "/admin/",
                "/admin/support-lines",
                "/admin/support-lines/new",
                f"/admin/support-lines/{site.line_id}/edit",
            ],
        ),
        "manager": (
            email_for("manager"),
            [
                "/manager/",
                "/manager/partners",
                "/manager/partners/new",
                f"/manager/partners/{site.partner_id}",
                f"/manager/partners/{site.partner_id}/edit",
                "/manager/grants",
                "/manager/grants/new",
                f"/manager/grants/{site.grant_id}",
                f"/manager/grants/{site.draft_id}/edit",
                "/manager/funds/new",
                f"/manager/funds/{site.fund_id}",
                "/manager/credit-use",
                "/manager/allowances/new",
                "/manager/allowances/new?q=a",
                "/manager/allowances/new?q=nobody-by-this-name",
                "/manager/allowances/new?ambassador=1",
                "/manager/allowances/cohort",
                "/manager/cohort-import",
                f"/wallet/{wallet}/allowances#forbidden",
            ],
        ),
        "finance": (
            email_for("finance"),
            [
                "/finance/",
                "/finance/redemptions",
                f"/finance/redemptions/{site.requested_id}",
                "/finance/payouts",
                "/finance/payouts/batches",
                "/finance/reports",
                f"/finance/tranches/{site.tranche_id}/pay",
            ],
        ),
        "ambassador": (
            site.ambassador,
            [
                "/wallet/",
                f"/wallet/{wallet}/allowances",
                f"/wallet/{wallet}/gifts",
                f"/wallet/{wallet}/redemptions",
                f"/wallet/{wallet}/redeem",
                f"/wallet/{wallet}/give",
                f"/wallet/gifts/{site.gift_id}",
                f"/wallet/redemptions/{site.redemption_id}",
                "/account",
                "/account/password",
                "/account/email",
            ],
        ),
        "recipient": (
            site.recipient,
            ["/wallet/", f"/wallet/{site.received_wallet_id}/received"],
        ),
    }[role]


def new_page(contexts: Any) -> Any:
    """A page in a fresh context whose every document gets axe before its own content."""
    page = contexts().new_page()
    page.add_init_script(path=str(AXE))
    return page


def blocking_violations(page: Any) -> list[str]:
    """axe's serious and critical violations on the page, one line per element."""
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    found = []
    for violation in results["violations"]:
        if violation["impact"] not in BLOCKING:
            continue
        for node in violation["nodes"]:
            found.append(
                f"{violation['impact']} {violation['id']} ({violation['help']}): "
                f"{', '.join(map(str, node['target']))}: {node['failureSummary']}"
            )
    return found


@pytest.mark.parametrize(
    "role", ["anonymous", "admin", "manager", "finance", "ambassador", "recipient"]
)
def test_every_main_page_has_no_serious_accessibility_violation(
    role: str, app: Flask, db: Session, live_server: str, contexts: Any
) -> None:
    site = build_site(db)
    viewer, paths = pages_of(role, site)
    page = new_page(contexts)
    if viewer is not None:
        sign_in(page, live_server, viewer, DEMO_PASSWORD)
        assert "/login" not in page.url, f"{viewer} could not sign in"
    problems: dict[str, list[str]] = {}
    for path in paths:
        address, _, marker = path.partition("#")
        response = page.goto(f"{live_server}{path}")
        assert response is not None
        assert response.url == f"{live_server}{address}", f"{path} moved"
        expected = ERROR_STATUS.get(f"#{marker}" if marker else address, 200)
        assert response.status == expected, (path, response.status)
        assert page.locator("h1").count() >= 1, f"{path} has no heading"
        found = blocking_violations(page)
        if found:
            problems[path] = found
    assert not problems, "\n".join(
        f"{path}:\n  " + "\n  ".join(lines) for path, lines in problems.items()
    )


def test_forms_showing_their_errors_have_no_serious_accessibility_violation(
    app: Flask, db: Session, live_server: str, contexts: Any
) -> None:
    site = build_site(db)
    page = new_page(contexts)
    page.goto(f"{live_server}/login")
    page.get_by_label("Email").fill(email_for("manager"))
    page.get_by_label("Password").fill("not the password at all")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    refused = {"/login": blocking_violations(page)}

    sign_in(page, live_server, site.ambassador, DEMO_PASSWORD)
    for path in (f"/wallet/{site.wallet_id}/give", f"/wallet/{site.wallet_id}/redeem"):
        page.goto(f"{live_server}{path}")
        page.locator('form button[type="submit"]').last.click()
        page.wait_for_load_state()
        refused[path] = blocking_violations(page)

    page = new_page(contexts)
    sign_in(page, live_server, email_for("manager"), DEMO_PASSWORD)
    allowance = "/manager/allowances/new?ambassador=1"
    page.goto(f"{live_server}{allowance}")
    page.locator('form button[type="submit"]').last.click()
    page.wait_for_load_state()
    assert page.locator("#amount-error").count() == 1, "the refusal is shown"
    refused[allowance] = blocking_violations(page)
    problems = {path: lines for path, lines in refused.items() if lines}
    assert not problems, "\n".join(
        f"{path}:\n  " + "\n  ".join(lines) for path, lines in problems.items()
    )


def test_the_check_finds_a_violation_when_there_is_one(
    app: Flask, live_server: str, contexts: Any
) -> None:
    page = new_page(contexts)
    page.goto(f"{live_server}/login")
    assert blocking_violations(page) == []
    engine = page.evaluate("axe.version")
    assert engine == (AXE.parent / "README.md").read_text().split()[2]
    page.evaluate(
        "() => { const field = document.createElement('input');"
        " field.type = 'text'; field.id = 'unlabelled';"
        " document.querySelector('main').appendChild(field); }"
    )
    found = blocking_violations(page)
    assert any("label" in line and "#unlabelled" in line for line in found), found
