"""An operation reads an amount as typed in its own wallet's currency, before it uses its
idempotency key: a malformed amount is refused on its field and never recorded, and the same
amount typed another way is the same request."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.domain import gifts, redemptions
from grants.domain.errors import IdempotencyConflict, InvalidInput
from grants.domain.money import Money
from grants.models import IdempotencyRecord, Redemption, Relation, User
from tests.factories import TODAY, World, build_world


def records(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(IdempotencyRecord)) or 0


def give(db: Session, world: World, key: str, amount: object, locale: str = "en_US"):  # type: ignore[no-untyped-def]
    avery = db.scalars(select(User).where(User.email == world.avery)).one()
    return gifts.give_gift(
        db,
        key=key,
        actor=avery,
        wallet_id=world.avery_wallet,
        amount=amount,  # type: ignore[arg-type]
        recipient_name="Sam Drummer",
        recipient_email="sam@example.org",
        relation=Relation.BANDMATE,
        now=datetime.now(UTC),
        locale=locale,
    )


@pytest.mark.parametrize(
    "typed",
    ["12.345", "1,2", "", "-5", "12e3", Decimal("12.345"), Decimal("NaN"), Decimal("0")],
)
def test_a_malformed_amount_is_refused_on_its_field_and_not_recorded(
    db: Session, typed: str | Decimal
) -> None:
    world = build_world(db)
    before = records(db)
    with pytest.raises(InvalidInput) as refusal:
        give(db, world, "gift-1", typed)
    assert refusal.value.field == "amount"
    assert not refusal.value.recorded
    assert records(db) == before


def test_the_same_amount_typed_another_way_is_the_same_request(db: Session) -> None:
    world = build_world(db)
    first = give(db, world, "gift-1", "12.5")
    assert not first.replayed
    for again in ("12.50", " 12.50 ", Money(1_250, "USD"), Decimal("12.500")):
        assert give(db, world, "gift-1", again).replayed
    with pytest.raises(IdempotencyConflict):
        give(db, world, "gift-1", "12.51")


def test_an_amount_is_read_in_the_wallets_currency_and_the_holders_locale(
    db: Session,
) -> None:
    world = build_world(db)
    briton = db.scalars(select(User).where(User.email == world.uk)).one()
    receipt = redemptions.request_redemption(
        db,
        key="redeem-1",
        actor=briton,
        wallet_id=world.uk_wallet,
        amount="75.5",
        provider_name="Dr Khan, Leeds",
        session_date=TODAY,
        now=datetime.now(UTC),
        locale="en_GB",
    )
    redemption = receipt.object_id
    assert redemption is not None
    held = db.get_one(Redemption, redemption)
    assert (held.amount, held.currency) == (7_550, "GBP")
    with pytest.raises(InvalidInput, match="at most 2 decimal places") as refusal:
        redemptions.request_redemption(
            db,
            key="redeem-2",
            actor=briton,
            wallet_id=world.uk_wallet,
            amount="10.001",
            provider_name="Dr Khan, Leeds",
            session_date=TODAY,
            now=datetime.now(UTC),
            locale="en_GB",
        )
    assert refusal.value.field == "amount"
