"""Therapy credit journeys in the domain: gifts, claims, redemptions, payouts, plan-year close,
and every refusal the issue lists, each writing nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.domain import allowances, claims, gifts, plan_year, redemptions
from grants.domain.claims import NewRecipient
from grants.domain.errors import (
    InsufficientFunds,
    InvalidInput,
    InvalidState,
    NotAllowed,
    NotFound,
)
from grants.domain.ledger import find_wallet, fund_balances, verify_ledger
from grants.domain.money import Money, parse_money
from grants.domain.wallets import wallet_balances
from grants.models import (
    AuditEvent,
    Country,
    Gift,
    GiftState,
    LedgerTransaction,
    Redemption,
    RedemptionState,
    Role,
    User,
    WalletKind,
)
from grants.security import password_hasher, password_rules
from tests.factories import fund_wallet, make_ambassador, make_fund, make_user

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
TODAY = NOW.date()


class World:
    """A funded therapy fund with one ambassador holding 300.00 USD of credit."""

    def __init__(self, db: Session) -> None:
        self.db = db
        self.manager = make_user(db, Role.MANAGER)
        self.finance = make_user(db, Role.FINANCE)
        self.fund = make_fund(db, budget=100_000, manager=self.manager)
        self.ambassador = make_ambassador(db, email="avery@example.org")
        self.user = self.ambassador.user
        self.wallet = fund_wallet(db, self.fund, self.ambassador, 30_000, self.manager)
        self.keys = 0

    def key(self) -> str:
        self.keys += 1
        return f"key-{self.keys}"

    def gift(self, minor: int = 5_000, email: str = "bo@example.org", **overrides: object):  # type: ignore[no-untyped-def]
        arguments: dict[str, object] = {
            "key": self.key(),
            "actor": self.user,
            "wallet_id": self.wallet.id,
            "amount": Money(minor, "USD"),
            "recipient_name": "Bo Drummer",
            "recipient_email": email,
            "relation": "bandmate",
            "message": "For the tour",
            "now": NOW,
        }
        arguments.update(overrides)
        return gifts.give_gift(self.db, **arguments)  # type: ignore[arg-type]

    def claim(
        self,
        token: str,
        *,
        claimant: User | None = None,
        now: datetime = NOW,
        password: str = "drums all night long",  # noqa: S107
    ):  # type: ignore[no-untyped-def]
        return claims.claim_gift(
            self.db,
            key=self.key(),
            token=token,
            claimant=claimant,
            new_recipient=None if claimant else NewRecipient("Bo Drummer", password),
            hasher=password_hasher(),
            rules=password_rules(),
            now=now,
        )

    def redeem(
        self,
        minor: int = 8_000,
        *,
        actor: User | None = None,
        wallet_id: int | None = None,
        **overrides: object,
    ):  # type: ignore[no-untyped-def]
        arguments: dict[str, object] = {
            "key": self.key(),
            "actor": actor or self.user,
            "wallet_id": wallet_id or self.wallet.id,
            "amount": Money(minor, "USD"),
            "provider_name": "Dr Lee, Nashville",
            "session_date": date(2026, 5, 20),
            "now": NOW,
        }
        arguments.update(overrides)
        return redemptions.request_redemption(self.db, **arguments)  # type: ignore[arg-type]

    def balances(self) -> tuple[int, int]:
        balances = wallet_balances(self.db, self.wallet.id)
        return balances.available, balances.held

    def footprint(self) -> tuple[int, ...]:
        """Counts that any write would change."""
        return tuple(
            self.db.scalar(select(func.count()).select_from(model)) or 0
            for model in (LedgerTransaction, Gift, Redemption, User, AuditEvent)
        )


@pytest.fixture
def world(db: Session) -> World:
    return World(db)


# --- gifts and claims ----------------------------------------------------------------------


def test_a_gift_holds_credit_and_its_claim_moves_it_to_a_new_recipient(world: World) -> None:
    receipt = world.gift(5_000)
    assert receipt.claim_token is not None
    assert len(receipt.claim_token) >= 43  # 256 random bits, URL-safe base64
    gift = world.db.get(Gift, receipt.object_id)
    assert gift.token_hash != receipt.claim_token
    assert receipt.claim_token not in repr(gift.__dict__)
    assert gift.expires_at == NOW + timedelta(days=30)
    assert world.balances() == (25_000, 5_000)

    world.claim(receipt.claim_token)
    world.db.refresh(gift)
    assert gift.state is GiftState.CLAIMED
    recipient = world.db.scalar(select(User).where(User.email == "bo@example.org"))
    assert recipient is not None
    assert recipient.roles == [Role.RECIPIENT]
    recipient_wallet = find_wallet(world.db, world.fund.id, recipient.id, WalletKind.RECIPIENT)
    assert wallet_balances(world.db, recipient_wallet.id).available == 5_000
    assert world.balances() == (25_000, 0)
    assert verify_ledger(world.db) == []


def test_a_claim_attaches_to_an_existing_recipient_who_is_signed_in(world: World) -> None:
    existing = make_user(world.db, Role.RECIPIENT, email="bo@example.org")
    token = world.gift(1_000).claim_token
    with pytest.raises(NotAllowed, match=r"Sign in as bo@example\.org"):
        world.claim(token)
    world.claim(token, claimant=existing)
    assert (
        world.db.scalar(
            select(func.count()).select_from(User).where(User.email == "bo@example.org")
        )
        == 1
    )
    wallet = find_wallet(world.db, world.fund.id, existing.id, WalletKind.RECIPIENT)
    assert wallet_balances(world.db, wallet.id).available == 1_000


def test_an_ambassador_who_receives_a_gift_gets_it_in_a_separate_wallet_they_cannot_gift_from(
    world: World,
) -> None:
    other = make_ambassador(world.db, email="kai@example.org")
    token = world.gift(1_000, email="kai@example.org").claim_token
    world.claim(token, claimant=other.user)
    received = find_wallet(world.db, world.fund.id, other.user_id, WalletKind.RECIPIENT)
    assert received is not None
    with pytest.raises(NotAllowed, match="cannot be given on"):
        gifts.give_gift(
            world.db,
            key="regift",
            actor=other.user,
            wallet_id=received.id,
            amount=Money(500, "USD"),
            recipient_name="Someone",
            recipient_email="someone@example.org",
            relation="crew",
            now=NOW,
        )
    assert wallet_balances(world.db, received.id).available == 1_000


def test_a_gift_never_outlives_the_plan_year(world: World) -> None:
    late = datetime(2026, 12, 20, tzinfo=UTC)
    gift = world.db.get(Gift, world.gift(100, now=late).object_id)
    assert gift.expires_at == datetime(2027, 1, 1, 5, tzinfo=UTC), "midnight in New York"


def test_no_gift_before_the_plan_year_begins_or_after_it_ends(world: World) -> None:
    before = world.footprint()
    with pytest.raises(InvalidState, match=r"The plan year of .* has not begun"):
        world.gift(100, now=datetime(2026, 1, 1, 4, 59, tzinfo=UTC))  # 23:59 in New York
    with pytest.raises(InvalidState, match=r"The plan year of .* has ended"):
        world.gift(100, now=datetime(2027, 1, 1, 5, tzinfo=UTC))  # midnight in New York
    assert world.footprint() == before


def test_revoke_returns_the_credit_and_the_link_stops_working(world: World) -> None:
    receipt = world.gift(5_000)
    gifts.revoke_gift(world.db, key="revoke", actor=world.user, gift_id=receipt.object_id, now=NOW)
    assert world.balances() == (30_000, 0)
    with pytest.raises(InvalidState, match="withdrawn"):
        world.claim(receipt.claim_token)


def test_only_the_giver_can_revoke(world: World) -> None:
    receipt = world.gift(5_000)
    stranger = make_ambassador(world.db)
    with pytest.raises(NotFound):
        gifts.revoke_gift(
            world.db, key="r", actor=stranger.user, gift_id=receipt.object_id, now=NOW
        )
    assert world.balances() == (25_000, 5_000)


def test_a_claim_after_the_deadline_fails_even_before_the_sweep(world: World) -> None:
    receipt = world.gift(5_000)
    deadline = NOW + timedelta(days=30)
    with pytest.raises(InvalidState, match="expired"):
        world.claim(receipt.claim_token, now=deadline)
    world.claim(receipt.claim_token, now=deadline - timedelta(microseconds=1))


def test_sweep_expires_due_gifts_once_and_returns_their_credit(world: World) -> None:
    due = world.gift(1_000)
    world.gift(2_000, email="cy@example.org", validity=timedelta(days=60))
    later = NOW + timedelta(days=31)
    assert gifts.sweep(world.db, now=later) == 1
    assert gifts.sweep(world.db, now=later) == 0
    assert world.db.get(Gift, due.object_id).state is GiftState.EXPIRED
    assert world.balances() == (28_000, 2_000)
    with pytest.raises(InvalidState, match="expired"):
        world.claim(due.claim_token, now=later)


def test_credit_returning_after_the_plan_year_goes_to_the_fund(world: World) -> None:
    world.gift(1_000, now=datetime(2026, 12, 30, tzinfo=UTC))
    before = fund_balances(world.db, world.fund.id).remaining
    assert gifts.sweep(world.db, now=datetime(2027, 1, 2, tzinfo=UTC)) == 1
    assert world.balances() == (29_000, 0)
    assert fund_balances(world.db, world.fund.id).remaining == before + 1_000


def test_sweep_command_is_safe_to_repeat(world: World, runner) -> None:  # type: ignore[no-untyped-def]
    world.gift(1_000, validity=timedelta(seconds=1), now=datetime(2026, 1, 2, tzinfo=UTC))
    world.db.commit()
    assert runner.invoke(args=["grants", "sweep"]).output.strip() == "Expired 1 gift."
    assert runner.invoke(args=["grants", "sweep"]).output.strip() == "Expired 0 gifts."


# --- redemptions ---------------------------------------------------------------------------


def test_redemption_is_held_then_approved_then_paid(world: World) -> None:
    receipt = world.redeem(8_000)
    assert world.balances() == (22_000, 8_000)
    redemptions.approve_redemption(
        world.db, key="a", actor=world.finance, redemption_id=receipt.object_id, now=NOW
    )
    assert world.balances() == (22_000, 0)
    assert fund_balances(world.db, world.fund.id).payable == 8_000
    redemptions.pay_redemption(
        world.db,
        key="p",
        actor=world.finance,
        redemption_id=receipt.object_id,
        payment_reference="BACS-001",
        now=NOW,
    )
    balances = fund_balances(world.db, world.fund.id)
    assert (balances.payable, balances.paid) == (0, 8_000)
    redemption = world.db.get(Redemption, receipt.object_id)
    assert (redemption.state, redemption.payment_reference) == (RedemptionState.PAID, "BACS-001")


def test_paying_twice_is_idempotent_and_a_different_reference_is_refused(world: World) -> None:
    receipt = world.redeem(8_000)
    redemptions.approve_redemption(
        world.db, key="a", actor=world.finance, redemption_id=receipt.object_id, now=NOW
    )
    arguments = {"actor": world.finance, "redemption_id": receipt.object_id, "now": NOW}
    redemptions.pay_redemption(world.db, key="pay", payment_reference="BACS-001", **arguments)
    again = redemptions.pay_redemption(
        world.db, key="pay", payment_reference="BACS-001", **arguments
    )
    assert again.replayed
    with pytest.raises(InvalidState, match="already paid, reference BACS-001"):
        redemptions.pay_redemption(world.db, key="pay-2", payment_reference="BACS-999", **arguments)
    assert fund_balances(world.db, world.fund.id).paid == 8_000


@pytest.mark.parametrize("decision", ["reject", "cancel"])
def test_rejection_and_cancellation_release_the_hold(world: World, decision: str) -> None:
    receipt = world.redeem(8_000)
    if decision == "reject":
        redemptions.reject_redemption(
            world.db,
            key="x",
            actor=world.finance,
            redemption_id=receipt.object_id,
            reason="No invoice",
            now=NOW,
        )
    else:
        redemptions.cancel_redemption(
            world.db, key="x", actor=world.user, redemption_id=receipt.object_id, now=NOW
        )
    assert world.balances() == (30_000, 0)
    redemption = world.db.get(Redemption, receipt.object_id)
    assert redemption.state.value == f"{decision}ed" if decision == "reject" else "cancelled"
    with pytest.raises(InvalidState):
        redemptions.approve_redemption(
            world.db, key="y", actor=world.finance, redemption_id=receipt.object_id, now=NOW
        )


def test_a_redemption_can_spend_exactly_the_available_credit_and_not_a_cent_more(
    world: World,
) -> None:
    with pytest.raises(InsufficientFunds, match="not enough available credit"):
        world.redeem(30_001)
    world.redeem(30_000)
    assert world.balances() == (0, 30_000)


def test_a_recipient_can_redeem_gifted_credit(world: World) -> None:
    token = world.gift(5_000).claim_token
    world.claim(token)
    recipient = world.db.scalar(select(User).where(User.email == "bo@example.org"))
    wallet = find_wallet(world.db, world.fund.id, recipient.id, WalletKind.RECIPIENT)
    world.redeem(5_000, actor=recipient, wallet_id=wallet.id)
    assert wallet_balances(world.db, wallet.id).held == 5_000


# --- plan-year close -----------------------------------------------------------------------


def test_plan_year_close_returns_unspent_credit_and_open_holds_to_the_fund(world: World) -> None:
    world.gift(1_000)
    requested = world.redeem(2_000)
    approved = world.redeem(3_000)
    redemptions.approve_redemption(
        world.db, key="a", actor=world.finance, redemption_id=approved.object_id, now=NOW
    )
    with pytest.raises(InvalidState, match="runs until Dec 31, 2026"):
        plan_year.close_plan_year(
            world.db, key="early", actor=world.finance, fund_id=world.fund.id, now=NOW
        )
    plan_year.close_plan_year(
        world.db,
        key="close",
        actor=world.finance,
        fund_id=world.fund.id,
        now=datetime(2027, 1, 1, 5, tzinfo=UTC),  # midnight in New York, the fund's time zone
    )
    assert world.balances() == (0, 0)
    balances = fund_balances(world.db, world.fund.id)
    assert (balances.remaining, balances.payable) == (100_000 - 3_000, 3_000)
    assert world.db.get(Redemption, requested.object_id).state is RedemptionState.EXPIRED
    with pytest.raises(InvalidState, match="closed"):
        world.redeem(1)
    assert verify_ledger(world.db) == []


# --- refusals, each writing nothing --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", "greater than zero"),
        ("-5", "greater than zero"),
        ("five", "in figures"),
        ("12.345", "at most 2 decimal places"),
        ("1e3", "in figures"),
        ("", "Enter an amount"),
        ("99999999999999999", "too large"),
    ],
)
def test_bad_amounts_are_refused_with_a_message(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_money(text, "USD")


def test_amount_boundaries() -> None:
    assert parse_money("0.01", "USD") == Money(1, "USD")
    assert parse_money("1,234.50", "GBP") == Money(123_450, "GBP")
    assert parse_money("10000000000000", "USD") == Money(10**15, "USD")
    with pytest.raises(InvalidInput, match="too large"):
        parse_money("10000000000000.01", "USD")
    with pytest.raises(TypeError):
        Money(1.5, "USD")  # type: ignore[arg-type]


def refused(world: World, error: type[Exception], match: str, call) -> None:  # type: ignore[no-untyped-def]
    before = (world.footprint(), world.balances())
    with pytest.raises(error, match=match):
        call()
    world.db.commit()  # as an entry point would: only the refusal record may be written
    assert (world.footprint(), world.balances()) == before


def test_refusals_write_nothing(world: World) -> None:
    other = make_ambassador(world.db, email="kai@example.org")
    other_wallet = fund_wallet(world.db, world.fund, other, 1_000, world.manager)
    gbp_fund = make_fund(world.db, currency="GBP", budget=10_000, manager=world.manager)
    briton = make_ambassador(world.db, country=Country.GB)
    world.db.commit()

    refused(
        world,
        InvalidInput,
        "USD account; the amount was given in GBP",
        lambda: world.gift(100, amount=Money(100, "GBP")),
    )
    refused(
        world,
        InvalidInput,
        "USD account; the amount was given in GBP",
        lambda: world.redeem(amount=Money(100, "GBP")),
    )
    refused(world, InvalidInput, "to yourself", lambda: world.gift(100, email="AVERY@example.org"))
    for minor in (0, -1, -5_000):
        refused(world, InvalidInput, "greater than zero", lambda minor=minor: world.gift(minor))
        refused(world, InvalidInput, "greater than zero", lambda minor=minor: world.redeem(minor))
        refused(
            world,
            InvalidInput,
            "greater than zero",
            lambda minor=minor: allowances.allocate_allowance(
                world.db,
                key=f"zero-{minor}",
                actor=world.manager,
                fund_id=world.fund.id,
                ambassador_id=world.ambassador.id,
                amount=Money(minor, "USD"),
            ),
        )
    refused(world, NotFound, "no such wallet", lambda: world.gift(100, wallet_id=other_wallet.id))
    refused(world, NotFound, "no such wallet", lambda: world.redeem(100, wallet_id=other_wallet.id))
    refused(world, InsufficientFunds, "not enough available credit", lambda: world.gift(30_001))
    refused(
        world,
        InvalidInput,
        "in the future",
        lambda: world.redeem(100, session_date=TODAY + timedelta(days=1)),
    )
    refused(
        world,
        InvalidInput,
        "within the plan year",
        lambda: world.redeem(100, session_date=date(2025, 12, 31), now=NOW),
    )
    refused(
        world, InvalidInput, "Enter the provider", lambda: world.redeem(100, provider_name="  ")
    )
    refused(world, InvalidInput, "not a valid email", lambda: world.gift(100, email="not-an-email"))
    refused(world, InvalidInput, "Enter a name", lambda: world.gift(100, recipient_name=" "))
    refused(
        world, InvalidInput, "bandmate, crew or other", lambda: world.gift(100, relation="cousin")
    )
    refused(world, NotAllowed, "cannot give credit", lambda: world.gift(100, actor=world.manager))
    refused(
        world,
        InvalidInput,
        "not paid from a GBP fund",
        lambda: allowances.allocate_allowance(
            world.db,
            key="gb",
            actor=world.manager,
            fund_id=gbp_fund.id,
            ambassador_id=world.ambassador.id,
            amount=Money(100, "GBP"),
        ),
    )
    assert briton.id


def test_claim_refusals_write_nothing(world: World) -> None:
    receipt = world.gift(1_000)
    revoked = world.gift(1_000, email="cy@example.org")
    gifts.revoke_gift(world.db, key="rv", actor=world.user, gift_id=revoked.object_id, now=NOW)
    world.db.commit()

    refused(world, NotFound, "not valid", lambda: world.claim("no-such-token"))
    refused(world, NotFound, "not valid", lambda: world.claim(""))
    refused(world, InvalidState, "withdrawn", lambda: world.claim(revoked.claim_token))
    refused(
        world,
        InvalidState,
        "expired",
        lambda: world.claim(receipt.claim_token, now=NOW + timedelta(days=31)),
    )
    refused(
        world,
        NotAllowed,
        "gift you sent",
        lambda: world.claim(receipt.claim_token, claimant=world.user),
    )
    refused(
        world,
        InvalidInput,
        "at least 12 characters",
        lambda: world.claim(receipt.claim_token, password="short"),
    )
    world.claim(receipt.claim_token)
    world.db.commit()
    refused(world, InvalidState, "already been claimed", lambda: world.claim(receipt.claim_token))


def test_decision_refusals_write_nothing(world: World) -> None:
    own = make_user(world.db, Role.FINANCE, Role.AMBASSADOR, email="fin@example.org")
    own_ambassador_wallet = None
    from grants.models import Ambassador, CohortStatus

    membership = Ambassador(
        user=own,
        programme=world.ambassador.programme,
        country=Country.US,
        cohort_status=CohortStatus.CURRENT,
    )
    world.db.add(membership)
    world.db.flush()
    own_ambassador_wallet = fund_wallet(world.db, world.fund, membership, 1_000, world.manager)
    own_request = world.redeem(500, actor=own, wallet_id=own_ambassador_wallet.id)
    other_request = world.redeem(500)
    world.db.commit()

    refused(
        world,
        NotAllowed,
        "your own redemption",
        lambda: redemptions.approve_redemption(
            world.db, key="own", actor=own, redemption_id=own_request.object_id, now=NOW
        ),
    )
    refused(
        world,
        NotAllowed,
        "cannot decide",
        lambda: redemptions.approve_redemption(
            world.db, key="mgr", actor=world.manager, redemption_id=other_request.object_id, now=NOW
        ),
    )
    refused(
        world,
        InvalidInput,
        "Enter a reason",
        lambda: redemptions.reject_redemption(
            world.db,
            key="why",
            actor=world.finance,
            redemption_id=other_request.object_id,
            reason="",
            now=NOW,
        ),
    )
    refused(
        world,
        NotFound,
        "no such redemption",
        lambda: redemptions.cancel_redemption(
            world.db, key="cx", actor=own, redemption_id=other_request.object_id, now=NOW
        ),
    )
    refused(
        world,
        InvalidState,
        "requested, not approved",
        lambda: redemptions.pay_redemption(
            world.db,
            key="pay",
            actor=world.finance,
            redemption_id=other_request.object_id,
            payment_reference="X",
            now=NOW,
        ),
    )


def test_cohort_allocation_is_all_or_nothing(world: World) -> None:
    for _ in range(3):
        make_ambassador(world.db, programme="RADAR")
    make_ambassador(world.db, programme="RADAR", country=Country.GB)
    preview = allowances.preview_cohort(
        world.db,
        fund_id=world.fund.id,
        amount=Money(20_000, "USD"),
        programme="RADAR",
        country=None,
    )
    assert (len(preview.ambassador_ids), preview.total) == (3, 60_000)
    remaining = fund_balances(world.db, world.fund.id).remaining
    assert remaining == 70_000
    refused(
        world,
        InsufficientFunds,
        "nothing was allocated",
        lambda: allowances.allocate_cohort(
            world.db,
            key="too-much",
            actor=world.manager,
            fund_id=world.fund.id,
            amount=Money(23_334, "USD"),
            programme="RADAR",
        ),
    )
    allowances.allocate_cohort(
        world.db,
        key="fits",
        actor=world.manager,
        fund_id=world.fund.id,
        amount=Money(23_333, "USD"),
        programme="RADAR",
    )
    assert fund_balances(world.db, world.fund.id).remaining == 70_000 - 3 * 23_333


def test_a_deactivated_ambassador_receives_no_new_allowance(world: World) -> None:
    staying = make_ambassador(world.db, programme="RADAR")
    invited = make_ambassador(world.db, programme="RADAR", password=None)
    leaving = make_ambassador(world.db, programme="RADAR")
    leaving.user.active = False
    world.db.commit()

    preview = allowances.preview_cohort(
        world.db,
        fund_id=world.fund.id,
        amount=Money(1_000, "USD"),
        programme="RADAR",
        country=None,
    )
    assert preview.ambassador_ids == [staying.id, invited.id], "an invitee's credit waits"
    refused(
        world,
        InvalidInput,
        "account is deactivated",
        lambda: allowances.allocate_allowance(
            world.db,
            key="to-leaver",
            actor=world.manager,
            fund_id=world.fund.id,
            ambassador_id=leaving.id,
            amount=Money(1_000, "USD"),
        ),
    )
