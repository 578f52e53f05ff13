"""``flask grants seed-demo`` prints a login for every journey a newcomer can try, each of
which signs in and lands on its home page; and the admin's navigation reaches the screens
the admin may open."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.models import Gift, GiftState, Role, User, Wallet, WalletKind
from grants.seed.demo import DEMO_PASSWORD, email_for
from tests.support import login

HOMES = {
    "admin": ("/admin/", "Admin"),
    "manager": ("/manager/", "Programme"),
    "manager.two": ("/manager/", "Programme"),
    "finance": ("/finance/", "Finance"),
    "ambassador": ("/wallet/", "$"),
    "ambassador.uk": ("/wallet/", "£"),
    "recipient": ("/wallet/", "£160.00"),
    "navigator": ("/hub/", "Resource hub"),
    "navigator.two": ("/hub/", "Resource hub"),
    "partner": ("/partner/", "Backline"),
    "partner.musicares": ("/partner/", "MusiCares"),
}
"""Each demo login's email local part, its home page and something that home page shows."""

ROLES = {
    "admin": Role.ADMIN,
    "manager": Role.MANAGER,
    "manager.two": Role.MANAGER,
    "finance": Role.FINANCE,
    "ambassador": Role.AMBASSADOR,
    "ambassador.uk": Role.AMBASSADOR,
    "recipient": Role.RECIPIENT,
    "navigator": Role.NAVIGATOR,
    "navigator.two": Role.NAVIGATOR,
    "partner": Role.PARTNER,
    "partner.musicares": Role.PARTNER,
}


def seeded(runner: FlaskCliRunner) -> str:
    result = runner.invoke(args=["grants", "seed-demo"])
    assert result.exit_code == 0, result.output
    return str(result.output)


def test_seed_demo_prints_a_login_for_every_role_and_each_reaches_its_home(
    app: Flask, runner: FlaskCliRunner, db: Session
) -> None:
    output = seeded(runner)
    printed = re.findall(r"^  (\w+) +(\S+@heartandsoul\.example)\b(.*)$", output, re.M)
    assert [(role, email) for role, email, _ in printed] == [
        (ROLES[local].value, email_for(local)) for local in HOMES
    ]
    notes = {email: note.strip() for _, email, note in printed}
    assert "United States" in notes[email_for("ambassador")]
    assert "USD" in notes[email_for("ambassador")]
    assert "United Kingdom" in notes[email_for("ambassador.uk")]
    assert "GBP" in notes[email_for("ambassador.uk")]
    assert "approves" in notes[email_for("manager.two")]
    assert "publishes" in notes[email_for("navigator.two")]
    assert DEMO_PASSWORD in output

    for local, (home, shown) in HOMES.items():
        client: FlaskClient = app.test_client()
        signed_in = login(client, email_for(local), DEMO_PASSWORD)
        assert signed_in.status_code == 302, local
        landing = client.get("/", follow_redirects=True)
        assert landing.status_code == 200, local
        assert landing.request.path == home, local
        assert shown in landing.get_data(as_text=True), local


def test_the_demo_recipient_claimed_a_gift_and_the_books_verify(
    runner: FlaskCliRunner, db: Session
) -> None:
    seeded(runner)
    db.rollback()
    recipient = db.scalar(select(User).where(User.email == email_for("recipient")))
    assert recipient is not None
    [wallet] = db.scalars(select(Wallet).where(Wallet.user_id == recipient.id))
    assert wallet.kind is WalletKind.RECIPIENT
    assert wallet.currency == "GBP"
    [gift] = db.scalars(select(Gift).where(Gift.recipient_wallet_id == wallet.id))
    assert gift.state is GiftState.CLAIMED
    assert gift.giver_wallet.user.email == email_for("ambassador.uk")

    ledger = runner.invoke(args=["grants", "ledger", "verify"])
    assert ledger.exit_code == 0, ledger.output
    audit = runner.invoke(args=["grants", "audit", "verify"])
    assert audit.exit_code == 0, audit.output
    assert "nothing changed" in seeded(runner)
    assert runner.invoke(args=["grants", "ledger", "verify"]).exit_code == 0
    assert runner.invoke(args=["grants", "audit", "verify"]).exit_code == 0


def test_the_admin_navigation_reaches_the_manager_screens_it_may_open(
    client: FlaskClient, runner: FlaskCliRunner
) -> None:
    seeded(runner)
    login(client, email_for("admin"), DEMO_PASSWORD)
    home = client.get("/admin/").get_data(as_text=True)
    assert 'href="/manager/"' in home
    assert 'href="/finance/"' not in home
    manager_home = client.get("/manager/")
    assert manager_home.status_code == 200
    screens = set(re.findall(r'href="(/manager/[^"?#]*)"', manager_home.get_data(as_text=True)))
    assert {"/manager/partners", "/manager/grants", "/manager/allowances/new"} <= screens
    for screen in sorted(screens):
        assert client.get(screen).status_code == 200, screen
    assert client.get("/finance/").status_code == 403
