"""Claiming a gift from the link in its email: a new recipient, an existing account, links
that are altered, used, revoked or expired, bad input, double submissions, and what the
page does not tell."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from babel.dates import format_date
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.clock import date_in
from grants.domain import gifts
from grants.domain.dates import format_moment
from grants.domain.money import Money
from grants.domain.wallets import wallet_balances
from grants.models import (
    Gift,
    GiftState,
    IdempotencyRecord,
    Relation,
    Role,
    User,
    Wallet,
    WalletKind,
)
from tests.factories import World, build_world, make_user
from tests.support import PASSWORD, form_fields, login, sign_in, submit
from tests.wallets import balances, claim_link_in, counts, give_gift, outbox, request_session

NEW_PASSWORD = "a long and unusual passphrase"
TODAY = datetime.now(UTC).date()


@pytest.fixture
def world(db: Session) -> World:
    return build_world(db)


def send_gift(app: Flask, world: World, **changes: str) -> str:
    """Avery gives Sam $150 through the screens; returns the claim link from the outbox."""
    giver = sign_in(app, world.avery)
    assert give_gift(giver, world.avery_wallet, **changes).status_code == 302
    return claim_link_in(outbox(app)[-1])


def claim_as_new(client: FlaskClient, link: str, **changes: str):  # type: ignore[no-untyped-def]
    return submit(
        client,
        link,
        {
            "display_name": "Sam Drummer",
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
            **changes,
        },
    )


def gift_state(db: Session) -> GiftState:
    db.rollback()
    return db.scalars(select(Gift.state)).one()


def tampered(link: str) -> str:
    """``link`` with the last character of its token changed."""
    last = link[-1]
    return link[:-1] + ("A" if last != "A" else "B")


def test_a_new_recipient_claims_with_the_link_from_the_outbox(
    app: Flask, db: Session, world: World
) -> None:
    link = send_gift(app, world)
    client = app.test_client()
    response = client.get(link)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Avery Ambassador has given you therapy credit" in page
    assert "$150.00" in page
    expires = db.scalars(select(Gift.expires_at)).one()
    assert f">{format_moment(expires, 'America/New_York', 'en_US')}</time>" in page
    assert "(America/New York time, where the fund is kept)" in page
    assert "Look after yourself on the tour" in page
    assert "Get support now" in page
    assert "988 Suicide &amp; Crisis Lifeline" in page
    assert "Samaritans" not in page
    assert 'name="password_again"' in page
    assert "style=" not in page
    assert "<script" not in page

    response = claim_as_new(client, link)
    assert response.status_code == 302
    assert response.headers["Location"] == "/wallet/"
    assert gift_state(db) is GiftState.CLAIMED
    sam = db.scalars(select(User).where(User.email == "sam@example.org")).one()
    assert sam.display_name == "Sam Drummer"
    assert sam.roles == [Role.RECIPIENT]
    wallet = db.scalars(select(Wallet).where(Wallet.user_id == sam.id)).one()
    assert wallet.kind is WalletKind.RECIPIENT
    assert balances(db, wallet.id) == (15_000, 0)
    assert balances(db, world.avery_wallet) == (45_000, 0)

    page = client.get("/wallet/").get_data(as_text=True)
    assert "The credit Avery Ambassador gave you is in your wallet." in page
    assert f'id="wallet-{wallet.id}-available">$150.00<' in page
    assert "Gifts you received" in page
    assert "Avery Ambassador" in page
    assert "Get support now" in page
    assert "988 Suicide &amp; Crisis Lifeline" in page

    assert request_session(client, wallet.id, amount="40").status_code == 302
    assert balances(db, wallet.id) == (11_000, 4_000)

    giver = sign_in(app, world.avery)
    assert "Claimed" in giver.get("/wallet/").get_data(as_text=True)

    client.post(
        "/logout", data={"csrf_token": form_fields(client, "/wallet/", "/logout")["csrf_token"]}
    )
    assert login(client, "sam@example.org", NEW_PASSWORD).status_code == 302


def test_a_gift_in_pounds_shows_the_uk_lines(app: Flask, db: Session, world: World) -> None:
    briton = sign_in(app, world.uk)
    assert give_gift(briton, world.uk_wallet, amount="80").status_code == 302
    link = claim_link_in(outbox(app)[-1])
    page = app.test_client().get(link).get_data(as_text=True)
    assert "£80.00" in page
    assert "Niamh Carter has given you therapy credit" in page
    assert "Samaritans" in page
    assert "Text SHOUT to 85258" in page
    assert "988 Suicide" not in page
    assert 'href="tel:988"' not in page, (
        "(a bare 988 may occur by chance in the page's random tokens)"
    )


def test_an_existing_account_signs_in_first_and_comes_back(
    app: Flask, db: Session, world: World
) -> None:
    make_user(db, Role.RECIPIENT, email="sam@example.org", name="Sam Existing")
    db.commit()
    link = send_gift(app, world)
    client = app.test_client()
    page = client.get(link).get_data(as_text=True)
    path = link.removeprefix("http://localhost")
    login_link = f"/login?next={path}"
    assert login_link in page

    before = counts(db)
    response = claim_as_new(client, link)
    assert response.status_code == 403
    assert "Sign in as sam@example.org to claim this gift." in response.get_data(as_text=True)
    assert counts(db) == before
    assert gift_state(db) is GiftState.PENDING
    assert (
        db.scalar(select(func.count()).select_from(User).where(User.email == "sam@example.org"))
        == 1
    )

    fields = form_fields(client, login_link, "/login")
    assert fields["next"] == path
    response = client.post(
        "/login", data={**fields, "email": "sam@example.org", "password": PASSWORD}
    )
    assert response.headers["Location"] == path
    page = client.get(path).get_data(as_text=True)
    assert "Claim it into your wallet" in page
    assert 'name="password"' not in page
    response = submit(client, path, {})
    assert response.status_code == 302
    assert gift_state(db) is GiftState.CLAIMED
    sam = db.scalars(select(User).where(User.email == "sam@example.org")).one()
    assert sam.display_name == "Sam Existing"


def test_the_page_tells_nothing_about_which_emails_have_accounts(
    app: Flask, db: Session, world: World
) -> None:
    make_user(db, Role.RECIPIENT, email="known@example.org")
    db.commit()
    known = send_gift(app, world, recipient_email="known@example.org")
    unknown = send_gift(app, world, recipient_email="unknown@example.org")

    def shape(link: str) -> str:
        page = app.test_client().get(link).get_data(as_text=True)
        page = re.sub(r'value="[^"]*"', 'value=""', page)
        page = re.sub(r"/claim/[A-Za-z0-9_-]+", "/claim/TOKEN", page)
        page = re.sub(r"<time [^>]*>[^<]*</time>", "<time>", page)
        return page.replace("unknown@", "EMAIL@").replace("known@", "EMAIL@")

    assert shape(known) == shape(unknown)


def test_signed_in_as_someone_else_cannot_claim(app: Flask, db: Session, world: World) -> None:
    link = send_gift(app, world)
    for email in (world.other, world.avery):
        client = sign_in(app, email)
        page = client.get(link).get_data(as_text=True)
        assert "This gift was sent to sam@example.org" in page
        assert "Claim it into your wallet" not in page
        before = counts(db)
        fields = form_fields(client, "/wallet/", "/logout")
        response = client.post(link, data={"csrf_token": fields["csrf_token"], "key": f"k-{email}"})
        assert response.status_code == 403
        assert counts(db) == before
        assert gift_state(db) is GiftState.PENDING


@pytest.mark.parametrize(
    "mangle",
    [
        tampered,
        lambda link: link[:-1],
        lambda link: link + "x",
        lambda link: link.rsplit("/", 1)[0] + "/" + "A" * 43,
        lambda link: link.rsplit("/", 1)[0] + "/" + "A" * 500,
    ],
    ids=["one-character-changed", "shortened", "lengthened", "unknown", "overlong"],
)
def test_an_altered_link_gets_a_clear_404_and_writes_nothing(
    app: Flask, db: Session, world: World, mangle
) -> None:  # type: ignore[no-untyped-def]
    link = send_gift(app, world)
    client = app.test_client()
    before = counts(db)
    response = client.get(mangle(link))
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "This link is not valid" in page
    assert "This claim link is not valid." in page
    assert "Get support now" in page
    assert "Samaritans" in page
    assert "988 Suicide &amp; Crisis Lifeline" in page
    assert "$150.00" not in page
    assert "Avery" not in page

    fields = form_fields(client, link)
    response = client.post(
        mangle(link),
        data={
            **fields,
            "display_name": "Eve",
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
        },
    )
    assert response.status_code == 404
    assert counts(db) == before
    assert db.scalar(select(func.count()).select_from(User).where(User.display_name == "Eve")) == 0
    assert gift_state(db) is GiftState.PENDING


def test_a_used_link_gets_a_clear_410(app: Flask, db: Session, world: World) -> None:
    link = send_gift(app, world)
    assert claim_as_new(app.test_client(), link).status_code == 302
    client = app.test_client()
    response = client.get(link)
    page = response.get_data(as_text=True)
    assert response.status_code == 410
    assert "This gift can no longer be claimed" in page
    assert "This gift has already been claimed." in page
    assert "Get support now" in page
    assert "988 Suicide &amp; Crisis Lifeline" in page


def test_the_recipient_opening_a_used_link_is_taken_to_their_wallet(
    app: Flask, db: Session, world: World
) -> None:
    """The person who claimed the gift is shown their wallet and when they claimed it, not
    a page telling them to ask for a new gift; anyone else still gets the 410."""
    link = send_gift(app, world)
    client = app.test_client()
    assert claim_as_new(client, link).status_code == 302
    client.get("/wallet/")
    db.rollback()
    claimed_at = db.scalars(select(Gift.settled_at)).one()
    assert claimed_at is not None
    day_in_new_york = date_in(claimed_at, "America/New_York")
    said = f"You claimed this gift on {format_date(day_in_new_york, 'long', locale='en_US')}."

    before = counts(db)
    response = client.get(link)
    assert response.status_code == 302
    assert response.headers["Location"] == "/wallet/"
    page = client.get("/wallet/").get_data(as_text=True)
    assert said in page
    assert "This gift has already been claimed." not in page
    assert counts(db) == before

    for email in (world.avery, world.other):
        other = sign_in(app, email)
        response = other.get(link)
        assert response.status_code == 410
        assert "This gift has already been claimed." in response.get_data(as_text=True)
    assert app.test_client().get(link).status_code == 410


def test_the_recipient_claiming_again_from_another_tab_is_taken_to_their_wallet(
    app: Flask, db: Session, world: World
) -> None:
    make_user(db, Role.RECIPIENT, email="sam@example.org", name="Sam Existing", locale="en_GB")
    db.commit()
    link = send_gift(app, world)
    client = sign_in(app, "sam@example.org")
    first_tab, second_tab = form_fields(client, link), form_fields(client, link)
    assert first_tab["key"] != second_tab["key"]
    assert client.post(link, data=first_tab).status_code == 302
    client.get("/wallet/")
    db.rollback()
    claimed_at = db.scalars(select(Gift.settled_at)).one()
    assert claimed_at is not None

    before = counts(db)
    response = client.post(link, data=second_tab)
    assert response.status_code == 302
    assert response.headers["Location"] == "/wallet/"
    page = client.get("/wallet/").get_data(as_text=True)
    long_date = format_date(claimed_at.date(), "long", locale="en_GB")
    assert f"You claimed this gift on {long_date}." in page
    assert counts(db) == before
    assert gift_state(db) is GiftState.CLAIMED
    sam_wallet = db.scalars(select(Wallet.id).where(Wallet.kind == WalletKind.RECIPIENT)).one()
    assert wallet_balances(db, sam_wallet).available == 15_000


def test_a_revoked_link_gets_a_clear_410_and_cannot_be_claimed(
    app: Flask, db: Session, world: World
) -> None:
    link = send_gift(app, world)
    client = app.test_client()
    fields = form_fields(client, link)
    giver = sign_in(app, world.avery)
    gift_id = db.scalars(select(Gift.id)).one()
    response = submit(
        giver, f"/wallet/gifts/{gift_id}", {}, action=f"/wallet/gifts/{gift_id}/revoke"
    )
    assert response.status_code == 302

    response = client.get(link)
    assert response.status_code == 410
    assert "The person who sent this gift has withdrawn it." in response.get_data(as_text=True)
    before = counts(db)
    response = client.post(
        link,
        data={
            **fields,
            "display_name": "Sam Drummer",
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
        },
    )
    assert response.status_code == 410
    assert "The person who sent this gift has withdrawn it." in response.get_data(as_text=True)
    assert counts(db) == before
    assert (
        db.scalar(select(func.count()).select_from(User).where(User.email == "sam@example.org"))
        == 0
    )
    assert gift_state(db) is GiftState.REVOKED


def test_an_expired_link_gets_a_clear_410_even_before_the_sweep(
    app: Flask, db: Session, world: World
) -> None:
    avery = db.scalars(select(User).where(User.email == world.avery)).one()
    token = gifts.give_gift(
        db,
        key="old-gift",
        actor=avery,
        wallet_id=world.avery_wallet,
        amount=Money(2_000, "USD"),
        recipient_name="Sam Drummer",
        recipient_email="sam@example.org",
        relation=Relation.CREW,
        now=datetime.now(UTC) - timedelta(days=31),
    ).claim_token
    db.commit()
    assert token is not None
    client = app.test_client()
    response = client.get(f"/claim/{token}")
    assert response.status_code == 410
    page = response.get_data(as_text=True)
    assert "This claim link has expired." in page
    assert "Get support now" in page
    assert gift_state(db) is GiftState.PENDING


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"password": "short", "password_again": "short"}, "Choose a password of at least 12"),
        (
            {"password": "password1234", "password_again": "password1234"},
            "That password is too easy to guess",
        ),
        (
            {"password": "sam@example.org", "password_again": "sam@example.org"},
            "A password cannot be your email address or your name.",
        ),
        ({"password_again": "something else entirely"}, "The two passwords differ."),
        ({"display_name": " "}, "This field is required."),
        ({"display_name": "Sam\x00Drummer"}, "control characters"),
    ],
)
def test_bad_names_and_passwords_are_refused_and_write_nothing(
    app: Flask, db: Session, world: World, changes: dict[str, str], message: str
) -> None:
    link = send_gift(app, world)
    client = app.test_client()
    before = counts(db)
    response = claim_as_new(client, link, **changes)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page
    assert "$150.00" in page
    assert counts(db) == before
    assert (
        db.scalar(select(func.count()).select_from(User).where(User.email == "sam@example.org"))
        == 0
    )
    assert gift_state(db) is GiftState.PENDING


def test_a_double_submitted_claim_claims_once(app: Flask, db: Session, world: World) -> None:
    link = send_gift(app, world)
    client = app.test_client()
    data = {
        **form_fields(client, link),
        "display_name": "Sam Drummer",
        "password": NEW_PASSWORD,
        "password_again": NEW_PASSWORD,
    }
    cookie = client.get_cookie("session")
    assert cookie is not None
    first = client.post(link, data=data)
    client.set_cookie("session", cookie.value)
    second = client.post(link, data=data)
    assert (first.status_code, second.status_code) == (302, 302)
    assert second.headers["Location"] == "/wallet/"
    page = client.get("/wallet/").get_data(as_text=True)
    assert "The credit Avery Ambassador gave you is in your wallet." in page
    assert gift_state(db) is GiftState.CLAIMED
    assert (
        db.scalar(select(func.count()).select_from(User).where(User.email == "sam@example.org"))
        == 1
    )
    assert (
        db.scalar(
            select(func.count())
            .select_from(IdempotencyRecord)
            .where(IdempotencyRecord.operation == "gift.claim")
        )
        == 1
    )
    sam_wallet = db.scalars(select(Wallet.id).where(Wallet.kind == WalletKind.RECIPIENT)).one()
    assert wallet_balances(db, sam_wallet).available == 15_000
