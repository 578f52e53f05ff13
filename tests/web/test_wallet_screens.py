"""The wallet through the screens: balances and history, redeeming and cancelling, giving
and revoking, bad input, double submissions, and who may reach what."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.domain import redemptions
from grants.domain.money import Money
from grants.domain.support import seed_default_lines
from grants.models import (
    Fund,
    Gift,
    GiftState,
    OutboxMessage,
    OutboxState,
    Redemption,
    RedemptionState,
    Relation,
    User,
    Wallet,
    WalletKind,
)
from grants.outbox import Delivery
from tests.factories import TODAY, World, build_world, fund_wallet, make_ambassador
from tests.support import csrf_token, form_fields, login, sign_in, submit
from tests.wallets import (
    balances,
    body_of,
    claim_link_in,
    counts,
    deliver_outbox,
    free_port,
    give_gift,
    give_page,
    outbox,
    redeem_page,
    request_session,
)


@pytest.fixture
def world(db: Session) -> World:
    return build_world(db)


def test_the_wallet_shows_balances_plan_year_history_and_support(
    app: Flask, db: Session, world: World
) -> None:
    client = sign_in(app, world.avery)
    response = client.get("/wallet/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<h1>My therapy credit</h1>" in page
    assert "GLOW ambassador · United States" in page
    assert f'id="wallet-{world.avery_wallet}-available">$600.00<' in page
    assert f'id="wallet-{world.avery_wallet}-held">$0.00<' in page
    assert (TODAY + timedelta(days=100)).isoformat() in page
    assert "about 4 sessions at $150.00" in page
    assert "Allowance" in page
    assert "Get support now" in page
    assert "988 Suicide &amp; Crisis Lifeline" in page
    assert 'href="tel:18773036962"' in page
    assert "Text HOME to 741741" in page
    assert "Samaritans" not in page
    assert "$300.00" not in page, "another ambassador's credit"
    assert f"/wallet/{world.avery_wallet}/redeem" in page
    assert f"/wallet/{world.avery_wallet}/give" in page
    assert "style=" not in page
    assert "<script" not in page


def test_a_uk_ambassador_sees_pounds_and_uk_lines(app: Flask, db: Session, world: World) -> None:
    page = sign_in(app, world.uk).get("/wallet/").get_data(as_text=True)
    assert f'id="wallet-{world.uk_wallet}-available">£400.00<' in page
    assert "about 5 sessions at £80.00" in page
    assert "Samaritans" in page
    assert 'href="tel:116123"' in page
    assert "Text SHOUT to 85258" in page
    assert "Music Minds Matter" in page
    assert "988 Suicide" not in page
    assert 'href="tel:988"' not in page, "(a bare 988 may occur by chance in random tokens)"
    assert 'href="tel:999"' in page


def test_the_typical_session_price_is_configurable(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(TYPICAL_SESSION_PRICE={"USD": 20_000})
    with app.app_context():
        from grants.extensions import db as database

        world = build_world(database.session)
    client = sign_in(app, world.avery)
    page = client.get("/wallet/").get_data(as_text=True)
    assert "about 3 sessions at $200.00" in page
    page = sign_in(app, world.uk).get("/wallet/").get_data(as_text=True)
    assert "sessions at" not in page


def test_credit_under_one_session_says_less_than_one_session(
    app: Flask, db: Session, world: World
) -> None:
    manager = db.scalars(select(User).where(User.email == world.manager)).one()
    fund = db.get(Fund, world.fund_id)
    assert fund is not None
    fund_wallet(db, fund, make_ambassador(db, email="low@example.org"), 14_999, manager)
    fund_wallet(db, fund, make_ambassador(db, email="one@example.org"), 29_999, manager)
    db.commit()
    page = sign_in(app, "low@example.org").get("/wallet/").get_data(as_text=True)
    assert "That is less than one session at $150.00, a typical fee" in page
    assert "about 0" not in page
    page = sign_in(app, "one@example.org").get("/wallet/").get_data(as_text=True)
    assert "That is about 1 session at $150.00, a typical fee" in page

    client = sign_in(app, world.uk)
    assert request_session(client, world.uk_wallet, amount="350.01").status_code == 302
    page = client.get("/wallet/").get_data(as_text=True)
    assert f'id="wallet-{world.uk_wallet}-available">£49.99<' in page
    assert "That is less than one session at £80.00, a typical fee" in page
    assert "about 0" not in page


def test_a_person_without_credit_is_told_so(client: FlaskClient, db: Session) -> None:
    make_ambassador(db, email="new@example.org")
    seed_default_lines(db)
    db.commit()
    login(client, "new@example.org")
    page = client.get("/wallet/").get_data(as_text=True)
    assert "You have no therapy credit yet." in page
    assert "Get support now" in page


# --- redeeming -----------------------------------------------------------------------------


def test_redeem_then_cancel_through_the_screens(app: Flask, db: Session, world: World) -> None:
    client = sign_in(app, world.avery)
    form = client.get(redeem_page(world.avery_wallet)).get_data(as_text=True)
    assert "Available" in form
    assert "$600.00" in form
    assert "Get support now" in form

    response = request_session(client, world.avery_wallet)
    assert response.status_code == 302
    assert response.headers["Location"] == "/wallet/"
    redemption = db.scalars(select(Redemption)).one()
    assert (redemption.amount, redemption.provider_name) == (12_050, "Dr Rivera")
    assert redemption.state is RedemptionState.REQUESTED
    assert balances(db, world.avery_wallet) == (47_950, 12_050)

    page = client.get("/wallet/").get_data(as_text=True)
    assert "Your request is with finance." in page
    assert "Dr Rivera" in page
    assert "Waiting for finance" in page
    assert f'id="wallet-{world.avery_wallet}-held">$120.50<' in page
    assert f"/wallet/redemptions/{redemption.id}/cancel" in page

    detail = client.get(f"/wallet/redemptions/{redemption.id}").get_data(as_text=True)
    assert "Dr Rivera" in detail
    assert "$120.50" in detail
    response = submit(
        client,
        f"/wallet/redemptions/{redemption.id}",
        {},
        action=f"/wallet/redemptions/{redemption.id}/cancel",
    )
    assert response.status_code == 302
    db.rollback()
    assert db.get(Redemption, redemption.id).state is RedemptionState.CANCELLED  # type: ignore[union-attr]
    assert balances(db, world.avery_wallet) == (60_000, 0)
    page = client.get("/wallet/").get_data(as_text=True)
    assert "You cancelled the request for $120.50" in page
    assert "Cancelled" in page
    assert f"/wallet/redemptions/{redemption.id}/cancel" not in page


def test_a_rejected_request_shows_its_reason(app: Flask, db: Session, world: World) -> None:
    client = sign_in(app, world.avery)
    assert request_session(client, world.avery_wallet).status_code == 302
    redemption_id = db.scalars(select(Redemption.id)).one()
    finance = db.scalars(select(User).where(User.email == world.finance)).one()
    redemptions.reject_redemption(
        db,
        key="reject-1",
        actor=finance,
        redemption_id=redemption_id,
        reason="The invoice names another patient",
        now=datetime.now(UTC),
    )
    db.commit()
    page = client.get("/wallet/").get_data(as_text=True)
    assert "Rejected" in page
    assert "Reason: The invoice names another patient" in page
    detail = client.get(f"/wallet/redemptions/{redemption_id}").get_data(as_text=True)
    assert "The invoice names another patient" in detail
    assert "Cancel request" not in detail
    assert balances(db, world.avery_wallet) == (60_000, 0)


def test_cancelling_a_decided_request_is_refused_on_the_page(
    app: Flask, db: Session, world: World
) -> None:
    client = sign_in(app, world.avery)
    assert request_session(client, world.avery_wallet).status_code == 302
    redemption_id = db.scalars(select(Redemption.id)).one()
    fields = form_fields(
        client,
        f"/wallet/redemptions/{redemption_id}",
        f"/wallet/redemptions/{redemption_id}/cancel",
    )
    finance = db.scalars(select(User).where(User.email == world.finance)).one()
    redemptions.approve_redemption(
        db, key="approve-1", actor=finance, redemption_id=redemption_id, now=datetime.now(UTC)
    )
    db.commit()
    before = counts(db)
    response = client.post(f"/wallet/redemptions/{redemption_id}/cancel", data=fields)
    assert response.status_code == 409
    assert "This redemption is approved, not requested." in response.get_data(as_text=True)
    assert counts(db) == before
    assert balances(db, world.avery_wallet) == (47_950, 0)


BAD_REDEMPTIONS = [
    ({"amount": "0"}, 422, "Enter an amount greater than zero."),
    ({"amount": "-20"}, 422, "Enter an amount greater than zero."),
    ({"amount": "twenty"}, 422, "Enter an amount in figures, such as 80 or 80.50."),
    ({"amount": "12.345"}, 422, "USD amounts have at most 2 decimal places."),
    ({"amount": "1,00"}, 422, "Write the amount like 1,250.00 or 1250.00."),
    ({"amount": "1,2,3"}, 422, "Write the amount like 1,250.00 or 1250.00."),
    ({"amount": ",5"}, 422, "Write the amount like 1,250.00 or 1250.00."),
    ({"amount": ""}, 422, "This field is required."),
    ({"amount": "600.01"}, 409, "There is not enough available credit for this."),
    (
        {"session_date": (TODAY + timedelta(days=1)).isoformat()},
        422,
        "The session date cannot be in the future.",
    ),
    (
        {"session_date": (TODAY - timedelta(days=201)).isoformat()},
        422,
        "The session must fall within the plan year",
    ),
    ({"session_date": "2026-02-30"}, 422, "Not a valid date value."),
    ({"provider_name": "   "}, 422, "Choose your provider from the list, or tell us"),
    ({"provider_id": "12abc"}, 422, "Choose a provider from the list."),
    ({"provider_id": "987654"}, 422, "Choose a provider from the list, or propose one."),
    ({"provider_name": "Dr\x07Rivera"}, 422, "cannot contain control characters."),
]


@pytest.mark.parametrize(("changes", "status", "message"), BAD_REDEMPTIONS)
def test_bad_redemptions_are_refused_and_write_nothing(
    app: Flask, db: Session, world: World, changes: dict[str, str], status: int, message: str
) -> None:
    client = sign_in(app, world.avery)
    before = counts(db)
    response = request_session(client, world.avery_wallet, **changes)
    page = response.get_data(as_text=True)
    assert response.status_code == status
    assert message in page
    assert "Pay for a session" in page
    assert counts(db) == before
    assert balances(db, world.avery_wallet) == (60_000, 0)


def test_an_amount_is_read_in_the_holders_locale(app: Flask, db: Session, world: World) -> None:
    """A UK ambassador's grouped pounds read as written and a malformed grouping is refused;
    someone whose locale groups with points is read with points."""
    client = sign_in(app, world.uk)
    before = counts(db)
    refused = request_session(client, world.uk_wallet, amount="1,00")
    assert refused.status_code == 422
    assert "Write the amount like 1,250.00 or 1250.00." in refused.get_data(as_text=True)
    assert counts(db) == before
    assert balances(db, world.uk_wallet) == (40_000, 0)
    assert request_session(client, world.uk_wallet, amount="1,00.50").status_code == 422
    assert request_session(client, world.uk_wallet, amount="80.50").status_code == 302
    db.rollback()
    assert db.scalars(select(Redemption.amount)).all() == [8_050]

    user = db.scalars(select(User).where(User.email == world.avery)).one()
    user.locale = "de_DE"
    db.commit()
    client = sign_in(app, world.avery)
    refused = request_session(client, world.avery_wallet, amount="1.00")
    assert refused.status_code == 422
    assert "Write the amount like 1.250,00 or 1250,00." in refused.get_data(as_text=True)
    assert request_session(client, world.avery_wallet, amount="120,50").status_code == 302
    db.rollback()
    assert sorted(db.scalars(select(Redemption.amount)).all()) == [8_050, 12_050]


def test_a_double_submitted_redemption_is_requested_once(
    app: Flask, db: Session, world: World
) -> None:
    client = sign_in(app, world.avery)
    fields = form_fields(client, redeem_page(world.avery_wallet))
    data = {
        **fields,
        "provider_name": "Dr Rivera",
        "session_date": TODAY.isoformat(),
        "amount": "100",
    }
    first = client.post(redeem_page(world.avery_wallet), data=data)
    second = client.post(redeem_page(world.avery_wallet), data=data)
    assert (first.status_code, second.status_code) == (302, 302)
    assert db.scalar(select(func.count()).select_from(Redemption)) == 1
    assert balances(db, world.avery_wallet) == (50_000, 10_000)
    assert "This request was already sent" in client.get("/wallet/").get_data(as_text=True)


# --- giving --------------------------------------------------------------------------------


def test_give_email_and_revoke_through_the_screens(app: Flask, db: Session, world: World) -> None:
    client = sign_in(app, world.avery)
    form = client.get(give_page(world.avery_wallet)).get_data(as_text=True)
    assert "Give credit to a bandmate or crew member" in form
    assert 'name="relation"' in form

    response = give_gift(client, world.avery_wallet)
    assert response.status_code == 302
    gift = db.scalars(select(Gift)).one()
    assert (gift.amount, gift.recipient_email, gift.relation) == (
        15_000,
        "sam@example.org",
        Relation.BANDMATE,
    )
    assert gift.state is GiftState.PENDING
    assert balances(db, world.avery_wallet) == (45_000, 15_000)

    [message] = outbox(app)
    assert message["To"] == "sam@example.org"
    assert message["Subject"] == "Avery Ambassador has given you therapy credit"
    text = body_of(message)
    assert "$150.00" in text
    assert "Look after yourself on the tour" in text
    assert "988 Suicide & Crisis Lifeline" in text
    assert claim_link_in(message).startswith("http://localhost/claim/")

    page = client.get("/wallet/").get_data(as_text=True)
    assert "Your gift of $150.00 to Sam Drummer is waiting for them" in page
    assert "sam@example.org a link" in page
    assert "Waiting to be claimed" in page
    assert f"/wallet/gifts/{gift.id}/revoke" in page
    detail = client.get(f"/wallet/gifts/{gift.id}").get_data(as_text=True)
    assert "sam@example.org" in detail
    assert "Look after yourself on the tour" in detail

    response = submit(
        client, f"/wallet/gifts/{gift.id}", {}, action=f"/wallet/gifts/{gift.id}/revoke"
    )
    assert response.status_code == 302
    db.rollback()
    assert db.get(Gift, gift.id).state is GiftState.REVOKED  # type: ignore[union-attr]
    assert balances(db, world.avery_wallet) == (60_000, 0)
    page = client.get("/wallet/").get_data(as_text=True)
    assert "You revoked the gift of $150.00 to Sam Drummer" in page
    assert "Revoked" in page
    assert f"/wallet/gifts/{gift.id}/revoke" not in page
    assert len(outbox(app)) == 1


BAD_GIFTS = [
    ({"amount": "0"}, 422, "Enter an amount greater than zero."),
    ({"amount": "-1"}, 422, "Enter an amount greater than zero."),
    ({"amount": "1e3"}, 422, "Enter an amount in figures, such as 80 or 80.50."),
    ({"amount": "10.999"}, 422, "USD amounts have at most 2 decimal places."),
    ({"amount": "1,50"}, 422, "Write the amount like 1,250.00 or 1250.00."),
    ({"amount": "600.01"}, 409, "There is not enough available credit for this."),
    ({"recipient_email": "sam@"}, 422, "That is not a valid email address"),
    ({"recipient_email": "not an email"}, 422, "That is not a valid email address"),
    ({"recipient_email": "avery@example.org"}, 422, "You cannot give credit to yourself."),
    ({"recipient_email": " AVERY@Example.org "}, 422, "You cannot give credit to yourself."),
    ({"recipient_name": " "}, 422, "This field is required."),
    ({"relation": "cousin"}, 422, "Not a valid choice."),
    ({"message": "x" * 501}, 422, "Field cannot be longer than 500 characters."),
]


@pytest.mark.parametrize(("changes", "status", "message"), BAD_GIFTS)
def test_bad_gifts_are_refused_write_nothing_and_send_nothing(
    app: Flask, db: Session, world: World, changes: dict[str, str], status: int, message: str
) -> None:
    client = sign_in(app, world.avery)
    before = counts(db)
    response = give_gift(client, world.avery_wallet, **changes)
    page = response.get_data(as_text=True)
    assert response.status_code == status
    assert message in page
    assert "aria-invalid" in page or "form-errors" in page
    assert counts(db) == before
    assert outbox(app) == []
    assert balances(db, world.avery_wallet) == (60_000, 0)


def test_a_double_submitted_gift_is_given_and_emailed_once(
    app: Flask, db: Session, world: World
) -> None:
    client = sign_in(app, world.avery)
    fields = form_fields(client, give_page(world.avery_wallet))
    data = {
        **fields,
        "recipient_name": "Sam Drummer",
        "recipient_email": "sam@example.org",
        "relation": "crew",
        "amount": "50",
    }
    first = client.post(give_page(world.avery_wallet), data=data)
    second = client.post(give_page(world.avery_wallet), data=data)
    assert (first.status_code, second.status_code) == (302, 302)
    assert db.scalar(select(func.count()).select_from(Gift)) == 1
    assert len(outbox(app)) == 1
    assert balances(db, world.avery_wallet) == (55_000, 5_000)
    page = client.get("/wallet/").get_data(as_text=True)
    assert "This gift was already given; it was not given or emailed twice." in page


def test_credit_given_to_you_cannot_be_given_on(app: Flask, db: Session, world: World) -> None:
    giver = sign_in(app, world.avery)
    assert give_gift(giver, world.avery_wallet, recipient_email=world.other).status_code == 302
    link = claim_link_in(outbox(app)[0])
    other = sign_in(app, world.other)
    claimed = submit(other, link, {})
    assert claimed.status_code == 302
    recipient_wallet = db.scalars(
        select(Wallet.id).where(Wallet.kind == WalletKind.RECIPIENT)
    ).one()

    page = other.get("/wallet/").get_data(as_text=True)
    assert f"/wallet/{recipient_wallet}/redeem" in page
    assert f"/wallet/{recipient_wallet}/give" not in page
    assert "Gifts you received" in page
    assert "Avery Ambassador" in page

    response = other.get(give_page(recipient_wallet))
    assert response.status_code == 403
    text = response.get_data(as_text=True)
    assert "Credit you were given cannot be given on" in text
    assert 'name="recipient_email"' not in text

    before, sent = counts(db), len(outbox(app))
    fields = form_fields(other, give_page(world.other_wallet))
    fields.update(
        recipient_name="Kim", recipient_email="kim@example.org", relation="crew", amount="10"
    )
    response = other.post(give_page(recipient_wallet), data=fields)
    assert response.status_code == 403
    assert "Credit you were given cannot be given on." in response.get_data(as_text=True)
    assert counts(db) == before
    assert len(outbox(app)) == sent


def test_a_failed_email_leaves_the_gift_and_is_tried_again_later(  # type: ignore[no-untyped-def]
    make_app, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_USE_TLS=False)
    with app.app_context():
        from grants.extensions import db as database

        world = build_world(database.session)
    client = sign_in(app, world.avery)
    response = give_gift(client, world.avery_wallet)
    assert response.status_code == 302
    page = client.get("/wallet/").get_data(as_text=True)
    assert "we are emailing sam@example.org a link to claim it" in page
    with caplog.at_level(logging.ERROR, logger="grants.mail"):
        assert deliver_outbox(app) == Delivery(retrying=1)
    with app.app_context():
        from grants.extensions import db as database

        gift = database.session.scalars(select(Gift)).one()
        assert gift.state is GiftState.PENDING
        message = database.session.scalars(select(OutboxMessage)).one()
        assert (message.state, message.attempts) == (OutboxState.PENDING, 1)
        assert message.next_attempt_at > datetime.now(UTC)
    assert "The claim email to sam@example.org could not be sent" in caplog.text
    assert "/claim/" not in caplog.text


# --- who may reach what --------------------------------------------------------------------


def make_gift_and_redemption(app: Flask, db: Session, world: World) -> tuple[int, int]:
    client = sign_in(app, world.avery)
    assert give_gift(client, world.avery_wallet).status_code == 302
    assert request_session(client, world.avery_wallet).status_code == 302
    gift_id = db.scalars(select(Gift.id)).one()
    redemption_id = db.scalars(select(Redemption.id)).one()
    return gift_id, redemption_id


def wallet_pages(world: World) -> list[str]:
    return [
        "/wallet/",
        redeem_page(world.avery_wallet),
        give_page(world.avery_wallet),
        f"/wallet/{world.avery_wallet}/redemptions",
    ]


def test_anonymous_visitors_are_sent_to_sign_in(app: Flask, db: Session, world: World) -> None:
    gift_id, redemption_id = make_gift_and_redemption(app, db, world)
    client = app.test_client()
    for path in [
        *wallet_pages(world),
        f"/wallet/gifts/{gift_id}",
        f"/wallet/redemptions/{redemption_id}",
    ]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login?next="), path


@pytest.mark.parametrize("role", ["manager", "finance"])
def test_staff_get_403_on_wallet_pages_and_404_on_gifts_and_redemptions(
    app: Flask, db: Session, world: World, role: str
) -> None:
    gift_id, redemption_id = make_gift_and_redemption(app, db, world)
    client = sign_in(app, getattr(world, role))
    for path in wallet_pages(world):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "$600.00" not in response.get_data(as_text=True)
    for path in (f"/wallet/gifts/{gift_id}", f"/wallet/redemptions/{redemption_id}"):
        response = client.get(path)
        text = response.get_data(as_text=True)
        assert response.status_code == 404, path
        assert "sam@example.org" not in text
        assert "Dr Rivera" not in text
    before = counts(db)
    token = csrf_token(client, f"/{role}/")
    for path in (f"/wallet/gifts/{gift_id}/revoke", f"/wallet/redemptions/{redemption_id}/cancel"):
        response = client.post(path, data={"csrf_token": token, "key": "staff-key"})
        assert response.status_code == 404, path
    assert counts(db) == before


def test_another_ambassadors_wallet_gift_and_redemption_answer_404(
    app: Flask, db: Session, world: World
) -> None:
    gift_id, redemption_id = make_gift_and_redemption(app, db, world)
    other = sign_in(app, world.other)
    own_fields = form_fields(other, redeem_page(world.other_wallet))
    for path in wallet_pages(world)[1:]:
        assert other.get(path).status_code == 404, path
    for path in (f"/wallet/gifts/{gift_id}", f"/wallet/redemptions/{redemption_id}"):
        response = other.get(path)
        text = response.get_data(as_text=True)
        assert response.status_code == 404, path
        assert "Sam Drummer" not in text
        assert "Get support now" in text
    before = counts(db)
    for path in (
        f"/wallet/gifts/{gift_id}/revoke",
        f"/wallet/redemptions/{redemption_id}/cancel",
        redeem_page(world.avery_wallet),
        give_page(world.avery_wallet),
    ):
        response = other.post(
            path,
            data={
                **own_fields,
                "provider_name": "Dr Who",
                "session_date": TODAY.isoformat(),
                "amount": "1",
            },
        )
        assert response.status_code == 404, path
    assert counts(db) == before
    db.rollback()
    assert db.get(Gift, gift_id).state is GiftState.PENDING  # type: ignore[union-attr]
    assert db.get(Redemption, redemption_id).state is RedemptionState.REQUESTED  # type: ignore[union-attr]
    assert "$600.00" not in other.get("/wallet/").get_data(as_text=True)


def test_a_whole_history_comes_a_page_at_a_time(app: Flask, db: Session, world: World) -> None:
    avery = db.scalars(select(User).where(User.email == world.avery)).one()
    for number in range(23):
        redemptions.request_redemption(
            db,
            key=f"history-{number}",
            actor=avery,
            wallet_id=world.avery_wallet,
            amount=Money(100 + number, "USD"),
            provider_name=f"Provider {number:02d}",
            session_date=TODAY,
            now=datetime.now(UTC),
        )
    db.commit()
    client = sign_in(app, world.avery)
    summary = client.get("/wallet/").get_data(as_text=True)
    assert "Provider 22" in summary
    assert "Provider 17" not in summary
    assert f"/wallet/{world.avery_wallet}/redemptions" in summary
    assert ">All requests</a>" in summary

    first = client.get(f"/wallet/{world.avery_wallet}/redemptions").get_data(as_text=True)
    assert "Page 1 of 2 (23 in all)" in first
    assert "Provider 03" in first
    assert "Provider 02" not in first
    second = client.get(f"/wallet/{world.avery_wallet}/redemptions?page=2").get_data(as_text=True)
    assert "Provider 02" in second
    assert "Provider 00" in second
    assert "Provider 03" not in second
    assert client.get(f"/wallet/{world.avery_wallet}/allowances").status_code == 200
    assert client.get(f"/wallet/{world.avery_wallet}/nothing").status_code == 404
