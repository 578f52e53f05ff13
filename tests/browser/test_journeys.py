"""The gift journey in a real browser: an ambassador gives credit, the bandmate claims it from
the emailed link and pays for a session with a provider from the directory and their invoice,
finance approves and pays; balances on screen match the ledger at every step. A
double-clicked submit button posts once."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.domain.money import format_money
from grants.domain.wallets import wallet_balances
from grants.models import Gift, GiftState, Redemption, RedemptionState, User, Wallet, WalletKind
from tests.browser.pages import sign_in
from tests.factories import TODAY, World, build_world
from tests.wallets import INVOICE, claim_link_in, outbox, verified_provider

RECIPIENT_PASSWORD = "snare drum at dawn"


def shown_balances(page: Any, wallet_id: int) -> tuple[str, str]:
    """The available and held credit of a wallet as the wallet page shows them."""
    page.goto(page.url.split("/wallet/")[0] + "/wallet/")
    return (
        page.locator(f"#wallet-{wallet_id}-available").inner_text(),
        page.locator(f"#wallet-{wallet_id}-held").inner_text(),
    )


def ledger_balances(db: Session, wallet_id: int) -> tuple[str, str]:
    """The same two figures read from the ledger and formatted as the page formats them.

    The read's transaction ends at once: on SQLite it holds the write lock the live server
    needs next.
    """
    db.rollback()
    found = wallet_balances(db, wallet_id)
    db.rollback()
    return (
        format_money(found.available, found.currency, "en_US"),
        format_money(found.held, found.currency, "en_US"),
    )


def test_a_gift_from_giving_to_payout(
    app: Flask, db: Session, live_server: str, contexts: Any
) -> None:
    world: World = build_world(db)
    ambassador = contexts().new_page()
    sign_in(ambassador, live_server, world.avery)
    assert shown_balances(ambassador, world.avery_wallet) == ("$600.00", "$0.00")

    ambassador.goto(f"{live_server}/wallet/{world.avery_wallet}/give")
    ambassador.locator('[name="recipient_name"]').fill("Sam Drummer")
    ambassador.locator('[name="recipient_email"]').fill("sam@example.org")
    ambassador.locator('[name="relation"]').select_option("bandmate")
    ambassador.locator('[name="amount"]').fill("150")
    ambassador.locator('[name="message"]').fill("For the tour")
    ambassador.get_by_role("button", name="Give credit").click()
    ambassador.wait_for_load_state()
    assert "Sam Drummer" in ambassador.locator("main").inner_text()
    assert shown_balances(ambassador, world.avery_wallet) == ("$450.00", "$150.00")
    assert shown_balances(ambassador, world.avery_wallet) == ledger_balances(db, world.avery_wallet)

    (email,) = outbox(app)
    assert email["To"] == "sam@example.org"
    link = claim_link_in(email)
    assert link.startswith(f"{live_server}/claim/")

    bandmate = contexts().new_page()
    bandmate.goto(link)
    assert "Avery Ambassador" in bandmate.get_by_role("heading", level=1).inner_text()
    assert bandmate.locator("#claim-amount").inner_text() == "$150.00"
    bandmate.locator('[name="display_name"]').fill("Sam Drummer")
    bandmate.locator('[name="password"]').fill(RECIPIENT_PASSWORD)
    bandmate.locator('[name="password_again"]').fill(RECIPIENT_PASSWORD)
    bandmate.get_by_role("button", name="Claim $150.00").click()
    bandmate.wait_for_url(f"{live_server}/wallet/")
    db.rollback()
    sam = db.scalar(select(User).where(User.email == "sam@example.org"))
    assert sam is not None
    sam_wallet = db.scalar(
        select(Wallet.id).where(Wallet.user_id == sam.id, Wallet.kind == WalletKind.RECIPIENT)
    )
    assert sam_wallet is not None
    assert db.scalar(select(Gift.state)) is GiftState.CLAIMED
    db.rollback()
    assert shown_balances(bandmate, sam_wallet) == ("$150.00", "$0.00")
    assert shown_balances(ambassador, world.avery_wallet) == ("$450.00", "$0.00")

    rivera = verified_provider(app)
    bandmate.goto(f"{live_server}/wallet/{sam_wallet}/redeem?q=rivera&city=nash")
    bandmate.locator(f'input[name="provider_id"][value="{rivera}"]').check()
    bandmate.locator('[name="invoice"]').set_input_files(
        files=[{"name": "invoice.pdf", "mimeType": "application/pdf", "buffer": INVOICE}]
    )
    bandmate.locator('[name="session_date"]').fill(TODAY.isoformat())
    bandmate.locator('[name="amount"]').fill("95.50")
    bandmate.get_by_role("button", name="Send to finance").click()
    bandmate.wait_for_load_state()
    assert shown_balances(bandmate, sam_wallet) == ("$54.50", "$95.50")
    assert shown_balances(bandmate, sam_wallet) == ledger_balances(db, sam_wallet)

    finance = contexts().new_page()
    sign_in(finance, live_server, world.finance)
    finance.goto(f"{live_server}/finance/redemptions")
    finance.get_by_role("button", name="Approve $95.50 for Dr Rivera").click()
    finance.wait_for_load_state()
    assert "Approved $95.50 for Dr Rivera." in finance.locator("main").inner_text()
    finance.goto(f"{live_server}/finance/payouts")
    finance.get_by_label("Pay $95.50 to Dr Rivera").check()
    finance.locator('[name="payment_reference"]').fill("BACS-2026-0042")
    finance.get_by_role("button", name="Mark selected as paid").click()
    finance.wait_for_load_state()
    assert "marked paid under reference BACS-2026-0042" in finance.locator("main").inner_text()

    db.rollback()
    redemption = db.scalars(select(Redemption)).one()
    assert (redemption.state, redemption.payment_reference) == (
        RedemptionState.PAID,
        "BACS-2026-0042",
    )
    db.rollback()
    assert shown_balances(bandmate, sam_wallet) == ("$54.50", "$0.00")
    assert shown_balances(bandmate, sam_wallet) == ledger_balances(db, sam_wallet)
    assert shown_balances(ambassador, world.avery_wallet) == ledger_balances(db, world.avery_wallet)


def settled_on(page: Any, url: str) -> None:
    """Wait until the page has loaded ``url``, whatever navigations were aborted on the way
    (``wait_for_url`` gives up on the first aborted one)."""
    for _ in range(100):
        if page.url == url:
            page.wait_for_load_state("networkidle")
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"the page stayed on {page.url}, not {url}")


class SlowPosts:
    """WSGI middleware that holds every POST for a moment before the application sees it,
    as a slow network would, so that a second click reaches the server while the first
    request is still on its way; it counts the POSTs it passes on."""

    def __init__(self, application: Any, delay: float) -> None:
        self.application = application
        self.delay = delay
        self.posts = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ["REQUEST_METHOD"] == "POST":
            self.posts += 1
            time.sleep(self.delay)
        return self.application(environ, start_response)


def test_a_double_clicked_submit_button_posts_once(
    app: Flask, db: Session, live_server: str, contexts: Any
) -> None:
    world: World = build_world(db)
    page = contexts().new_page()
    sign_in(page, live_server, world.avery)
    rivera = verified_provider(app)
    page.goto(f"{live_server}/wallet/{world.avery_wallet}/redeem?q=rivera")
    page.locator(f'input[name="provider_id"][value="{rivera}"]').check()
    page.locator('[name="session_date"]').fill(TODAY.isoformat())
    page.locator('[name="amount"]').fill("80")
    slow = SlowPosts(app.wsgi_app, delay=0.5)
    app.wsgi_app = slow  # type: ignore[method-assign]

    button = page.get_by_role("button", name="Send to finance")
    button.scroll_into_view_if_needed()
    box = button.bounding_box()
    assert box is not None
    middle = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.click(*middle)
    page.wait_for_timeout(150)
    page.mouse.click(*middle)
    settled_on(page, f"{live_server}/wallet/")

    assert slow.posts == 2
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Redemption)) == 1
    db.rollback()
    assert shown_balances(page, world.avery_wallet) == ("$520.00", "$80.00")
    assert shown_balances(page, world.avery_wallet) == ledger_balances(db, world.avery_wallet)
