"""What a credit holder reads of their wallets: summaries, histories a page at a time, the
lookups that only ever find one's own objects, and a fixed number of queries per page."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from grants import clock
from grants.domain import claims, gifts, redemptions, wallets
from grants.domain.claims import NewRecipient
from grants.domain.money import Money
from grants.models import Ambassador, Fund, Relation, Role, TransactionKind, User, WalletKind
from grants.security import password_hasher, password_rules
from tests.factories import fund_wallet, make_ambassador, make_fund, make_user
from tests.support import counting_statements

TODAY = datetime.now(UTC).date()
_keys = itertools.count(1)


def key() -> str:
    return f"wallet-test-{next(_keys)}"


def open_fund(db: Session, currency: str = "USD", budget: int = 10_000_000) -> Fund:
    """A therapy fund whose plan year runs around today."""
    return make_fund(
        db,
        currency=currency,
        start=TODAY - timedelta(days=200),
        end=TODAY + timedelta(days=100),
        budget=budget,
    )


def give(db: Session, giver: Ambassador, wallet_id: int, amount: int, email: str) -> int:
    receipt = gifts.give_gift(
        db,
        key=key(),
        actor=giver.user,
        wallet_id=wallet_id,
        amount=Money(amount, "USD"),
        recipient_name=f"Crew {email}",
        recipient_email=email,
        relation=Relation.CREW,
        message="For the tour",
        now=datetime.now(UTC),
    )
    assert receipt.object_id is not None
    assert receipt.claim_token is not None
    return receipt.object_id


def redeem(db: Session, user: User, wallet_id: int, amount: int, provider: str) -> int:
    receipt = redemptions.request_redemption(
        db,
        key=key(),
        actor=user,
        wallet_id=wallet_id,
        amount=Money(amount, "USD"),
        provider_name=provider,
        session_date=TODAY,
        now=datetime.now(UTC),
        today=TODAY,
    )
    assert receipt.object_id is not None
    return receipt.object_id


def test_a_person_sees_their_wallets_with_balances_and_plan_year(db: Session) -> None:
    manager = make_user(db, Role.MANAGER)
    us, uk = open_fund(db), open_fund(db, "GBP")
    avery = make_ambassador(db)
    other = make_ambassador(db)
    wallet = fund_wallet(db, us, avery, 60_000, manager)
    fund_wallet(db, us, other, 10_000, manager)
    gift_id = give(db, avery, wallet.id, 15_000, "sam@example.org")
    assert gift_id

    found = wallets.wallets_of(db, avery.user_id)
    assert len(found) == 1
    summary = found[0]
    assert (summary.id, summary.kind, summary.currency) == (wallet.id, WalletKind.AMBASSADOR, "USD")
    assert (summary.available, summary.held, summary.posted) == (45_000, 15_000, 60_000)
    assert summary.plan_year_end == us.plan_year_end
    assert summary.fund_name == us.name
    assert summary.can_redeem_on(TODAY)
    assert summary.can_give_on(TODAY)
    after = us.plan_year_end + timedelta(days=1)
    assert summary.can_redeem_on(after), "sessions of the plan year are paid until it closes"
    assert not summary.can_give_on(after)
    assert not summary.can_redeem_on(us.plan_year_start - timedelta(days=1))
    assert not summary.can_give_on(us.plan_year_start - timedelta(days=1))
    assert uk.id not in {w.fund_id for w in found}

    assert wallets.own_wallet(db, avery.user_id, wallet.id) == summary
    assert wallets.own_wallet(db, other.user_id, wallet.id) is None
    assert wallets.own_wallet(db, avery.user_id, 999_999) is None


def test_histories_of_a_giver_and_of_a_recipient(db: Session) -> None:
    manager = make_user(db, Role.MANAGER)
    fund = open_fund(db)
    avery = make_ambassador(db, name="Avery Giver")
    wallet = fund_wallet(db, fund, avery, 50_000, manager)
    fund_wallet(db, fund, avery, 10_000, manager)
    first = give(db, avery, wallet.id, 5_000, "sam@example.org")
    give(db, avery, wallet.id, 7_000, "kim@example.org")
    token = gifts.give_gift(
        db,
        key=key(),
        actor=avery.user,
        wallet_id=wallet.id,
        amount=Money(3_000, "USD"),
        recipient_name="Sam Drummer",
        recipient_email="sam@example.org",
        relation=Relation.BANDMATE,
        message="Look after yourself",
        now=datetime.now(UTC),
    ).claim_token
    assert token is not None
    claims.claim_gift(
        db,
        key=key(),
        token=token,
        claimant=None,
        new_recipient=NewRecipient("Sam Drummer", "a long and unusual passphrase"),
        hasher=password_hasher(),
        rules=password_rules(),
        now=datetime.now(UTC),
    )
    redemption_id = redeem(db, avery.user, wallet.id, 8_000, "Dr Rivera")

    summary = wallets.own_wallet(db, avery.user_id, wallet.id)
    assert summary is not None
    allowances = wallets.credit_history(db, summary)
    assert [(e.kind, e.amount, e.label) for e in allowances.items] == [
        (TransactionKind.ALLOWANCE, 10_000, "Allowance"),
        (TransactionKind.ALLOWANCE, 50_000, "Allowance"),
    ]
    given = wallets.gifts_given(db, summary)
    assert given.total == 3
    assert [g.amount for g in given.items] == [3_000, 7_000, 5_000]
    assert given.items[-1].id == first
    assert [g.state.value for g in given.items] == ["claimed", "pending", "pending"]
    assert wallets.redemptions(db, summary).items[0].id == redemption_id
    assert wallets.gifts_received(db, summary).total == 0

    sam = db.scalars(select(User).where(User.email == "sam@example.org")).one()
    [received_wallet] = wallets.wallets_of(db, sam.id)
    assert received_wallet.kind is WalletKind.RECIPIENT
    assert received_wallet.available == 3_000
    assert not received_wallet.can_give_on(TODAY)
    assert received_wallet.can_redeem_on(TODAY)
    [received] = wallets.gifts_received(db, received_wallet).items
    assert (received.giver_name, received.amount, received.message) == (
        "Avery Giver",
        3_000,
        "Look after yourself",
    )
    assert received.claimed_at is not None
    assert wallets.gifts_given(db, received_wallet).total == 0
    assert wallets.credit_history(db, received_wallet).total == 0


def test_own_lookups_find_only_the_persons_own_objects(db: Session) -> None:
    manager = make_user(db, Role.MANAGER)
    fund = open_fund(db)
    avery, other = make_ambassador(db), make_ambassador(db)
    wallet = fund_wallet(db, fund, avery, 20_000, manager)
    gift_id = give(db, avery, wallet.id, 1_000, "sam@example.org")
    redemption_id = redeem(db, avery.user, wallet.id, 2_000, "Dr Rivera")

    assert wallets.own_gift(db, avery.user_id, gift_id) is not None
    assert wallets.own_redemption(db, avery.user_id, redemption_id) is not None
    for stranger in (other.user_id, manager.id):
        assert wallets.own_gift(db, stranger, gift_id) is None
        assert wallets.own_redemption(db, stranger, redemption_id) is None
    assert wallets.own_gift(db, avery.user_id, redemption_id + 1000) is None


def test_histories_come_a_page_at_a_time(db: Session) -> None:
    manager = make_user(db, Role.MANAGER)
    fund = open_fund(db)
    avery = make_ambassador(db)
    wallet = fund_wallet(db, fund, avery, 100_000, manager)
    for number in range(5):
        redeem(db, avery.user, wallet.id, 1_000 + number, f"Provider {number}")
    summary = wallets.own_wallet(db, avery.user_id, wallet.id)
    assert summary is not None

    first = wallets.redemptions(db, summary, page=1, per_page=2)
    assert (first.total, first.pages, first.number) == (5, 3, 1)
    assert [r.amount for r in first.items] == [1_004, 1_003]
    assert first.has_next
    assert not first.has_previous
    last = wallets.redemptions(db, summary, page=3, per_page=2)
    assert [r.amount for r in last.items] == [1_000]
    assert last.has_previous
    assert not last.has_next
    beyond = wallets.redemptions(db, summary, page=99, per_page=2)
    assert beyond.number == 3
    assert [r.amount for r in beyond.items] == [1_000]
    nonsense = wallets.redemptions(db, summary, page=-4, per_page=2)
    assert nonsense.number == 1


def test_a_page_of_history_takes_the_same_queries_whatever_its_length(db: Session) -> None:
    manager = make_user(db, Role.MANAGER)
    fund = open_fund(db)
    few, many = make_ambassador(db), make_ambassador(db)
    few_wallet = fund_wallet(db, fund, few, 100_000, manager)
    many_wallet = fund_wallet(db, fund, many, 100_000, manager)
    give(db, few, few_wallet.id, 1_000, "one@example.org")
    redeem(db, few.user, few_wallet.id, 1_000, "Dr One")
    for number in range(8):
        give(db, many, many_wallet.id, 1_000, f"crew{number}@example.org")
        redeem(db, many.user, many_wallet.id, 1_000, f"Dr {number}")
    db.commit()

    def read(user_id: int) -> int:
        db.expire_all()
        with counting_statements(db) as statements:
            [summary] = wallets.wallets_of(db, user_id)
            for reader in (
                wallets.credit_history,
                wallets.gifts_given,
                wallets.gifts_received,
                wallets.redemptions,
            ):
                page = reader(db, summary)
                assert all(item.amount > 0 for item in page.items)
        return len(statements)

    assert read(few.user_id) == read(many.user_id)


def test_sessions_covered_needs_a_price() -> None:
    assert wallets.sessions_covered(45_000, 15_000) == 3
    assert wallets.sessions_covered(44_999, 15_000) == 2
    assert wallets.sessions_covered(45_000, None) is None
    assert wallets.sessions_covered(45_000, 0) is None


def test_sessions_are_described_in_words() -> None:
    assert wallets.describe_sessions(0) == "less than one session"
    assert wallets.describe_sessions(1) == "about 1 session"
    assert wallets.describe_sessions(2) == "about 2 sessions"


def test_today_is_the_utc_date() -> None:
    assert clock.today() == datetime.now(UTC).date()
    assert isinstance(clock.today(), date)
