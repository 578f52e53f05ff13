"""A new claim link for a gift: only its giver asks, only while nobody has claimed it; the
recipient is emailed the new link through the outbox and the old one stops working, and a
resubmitted button sends one email."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain import gifts
from grants.domain.accounts import find_user_by_email
from grants.domain.errors import InvalidState, NotFound
from grants.models import AuditEvent, Gift, GiftState, OutboxMessage, OutboxState
from grants.outbox import Delivery
from tests.factories import World, build_world
from tests.support import csrf_token, form_fields, sign_in, submit
from tests.wallets import claim_link_in, deliver_outbox, give_gift, outbox


@pytest.fixture
def world(db: Session) -> World:
    return build_world(db)


def gift_page(gift_id: int) -> str:
    return f"/wallet/gifts/{gift_id}"


def resend_action(gift_id: int) -> str:
    return f"/wallet/gifts/{gift_id}/resend"


def given(app: Flask, db: Session, world: World) -> tuple[int, str]:
    """Avery gives Sam a gift through the screens: its id and the link Sam was emailed."""
    giver = sign_in(app, world.avery)
    assert give_gift(giver, world.avery_wallet).status_code == 302
    link = claim_link_in(outbox(app)[-1])
    db.rollback()
    return db.scalars(select(Gift.id)).one(), link


def test_the_giver_sends_a_new_link_and_the_old_one_stops_working(
    app: Flask, db: Session, world: World
) -> None:
    gift_id, first = given(app, db, world)
    giver = sign_in(app, world.avery)
    page = giver.get(gift_page(gift_id)).get_data(as_text=True)
    assert "Send a new link" in page

    response = submit(giver, gift_page(gift_id), {}, action=resend_action(gift_id))
    assert response.status_code == 302
    assert response.headers["Location"] == gift_page(gift_id)
    page = giver.get(gift_page(gift_id)).get_data(as_text=True)
    assert "We are emailing sam@example.org a new link to claim the gift" in page

    emails = outbox(app)
    assert len(emails) == 2
    second = claim_link_in(emails[-1])
    assert second != first
    assert emails[-1]["Message-ID"] != emails[0]["Message-ID"], "a new event"
    assert app.test_client().get(first).status_code == 404
    assert app.test_client().get(second).status_code == 200

    db.rollback()
    gift = db.get(Gift, gift_id)
    assert gift is not None
    assert gift.state is GiftState.PENDING
    [event] = db.scalars(select(AuditEvent).where(AuditEvent.action == "gift.resend")).all()
    assert event.object_id == gift_id


def test_a_resubmitted_button_sends_one_new_link(app: Flask, db: Session, world: World) -> None:
    gift_id, _ = given(app, db, world)
    giver = sign_in(app, world.avery)
    fields = form_fields(giver, gift_page(gift_id), resend_action(gift_id))
    first = giver.post(resend_action(gift_id), data=fields)
    again = giver.post(resend_action(gift_id), data=fields)
    assert (first.status_code, again.status_code) == (302, 302)
    assert "This new link was already sent; it was not sent twice." in giver.get(
        gift_page(gift_id)
    ).get_data(as_text=True)
    assert len(outbox(app)) == 2


def test_an_email_of_the_old_link_not_yet_sent_is_not_sent(
    app: Flask, db: Session, world: World
) -> None:
    giver = sign_in(app, world.avery)
    assert give_gift(giver, world.avery_wallet).status_code == 302
    db.rollback()
    gift_id = db.scalars(select(Gift.id)).one()
    db.rollback()
    response = submit(giver, gift_page(gift_id), {}, action=resend_action(gift_id))
    assert response.status_code == 302

    assert deliver_outbox(app) == Delivery(sent=1, dropped=1)
    [email] = outbox(app)
    assert app.test_client().get(claim_link_in(email)).status_code == 200
    states = [message.state for message in db.scalars(select(OutboxMessage))]
    assert sorted(states) == [OutboxState.DROPPED, OutboxState.SENT]


def test_nobody_but_the_giver_sends_a_new_link(app: Flask, db: Session, world: World) -> None:
    gift_id, first = given(app, db, world)
    other = sign_in(app, world.other)
    fields = {"csrf_token": csrf_token(other, "/wallet/"), "key": "another-persons-try"}
    assert other.post(resend_action(gift_id), data=fields).status_code == 404

    actor = find_user_by_email(db, world.other)
    assert actor is not None
    with pytest.raises(NotFound):
        gifts.resend_claim_link(
            db, key="someone-else", actor=actor, gift_id=gift_id, now=datetime.now(UTC)
        )
    db.rollback()
    assert len(outbox(app)) == 1
    assert app.test_client().get(first).status_code == 200


def test_only_a_gift_waiting_to_be_claimed_gets_a_new_link(
    app: Flask, db: Session, world: World
) -> None:
    gift_id, _ = given(app, db, world)
    giver = sign_in(app, world.avery)
    fields = form_fields(giver, gift_page(gift_id), resend_action(gift_id))
    revoke = form_fields(giver, gift_page(gift_id), f"/wallet/gifts/{gift_id}/revoke")
    assert fields["key"] != revoke["key"], "each button has a key of its own"
    assert giver.post(f"/wallet/gifts/{gift_id}/revoke", data=revoke).status_code == 302

    response = giver.post(resend_action(gift_id), data=fields)
    assert response.status_code == 409
    assert "The person who sent this gift has withdrawn it." in response.get_data(as_text=True)
    assert "Send a new link" not in giver.get(gift_page(gift_id)).get_data(as_text=True)
    assert len(outbox(app)) == 1


def test_an_expired_gift_gets_no_new_link(app: Flask, db: Session, world: World) -> None:
    gift_id, _ = given(app, db, world)
    actor = find_user_by_email(db, world.avery)
    assert actor is not None
    gift = db.get(Gift, gift_id)
    assert gift is not None
    with pytest.raises(InvalidState, match="expired"):
        gifts.resend_claim_link(
            db,
            key="too-late",
            actor=actor,
            gift_id=gift_id,
            now=gift.expires_at + timedelta(seconds=1),
        )
    db.rollback()
    assert len(outbox(app)) == 1
