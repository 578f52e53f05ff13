"""Credit use per programme and country: exact figures from the ledger, computed in one query,
and no figure of a cell counting fewer than five people."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.domain import allowances, claims, gifts, plan_year, redemptions
from grants.domain.credit_use import CreditUse, credit_use
from grants.domain.gifts import hash_token
from grants.domain.ledger import reverse
from grants.domain.money import Money
from grants.models import (
    Account,
    Ambassador,
    Country,
    Gift,
    GiftState,
    Redemption,
    RedemptionState,
    Role,
    Wallet,
    WalletKind,
)
from grants.reports.flows import fold
from grants.security import password_hasher, password_rules
from tests.factories import fund_wallet, make_ambassador, make_fund, make_user
from tests.support import counting_statements

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


class Cohorts:
    """Ambassadors in programmes and countries, with a manager and a member of finance."""

    def __init__(self, db: Session) -> None:
        self.db = db
        self.manager = make_user(db, Role.MANAGER)
        self.finance = make_user(db, Role.FINANCE)
        self.usd = make_fund(db, budget=10_000_000, manager=self.manager)
        self.gbp = make_fund(db, currency="GBP", budget=10_000_000, manager=self.manager)
        self.keys = 0

    def key(self) -> str:
        self.keys += 1
        return f"k{self.keys}"

    def funded(
        self, count: int, *, programme: str = "GLOW", country: Country = Country.US, each: int
    ) -> list[Wallet]:
        fund = self.usd if country is Country.US else self.gbp
        return [
            fund_wallet(
                self.db,
                fund,
                make_ambassador(self.db, programme=programme, country=country),
                each,
                self.manager,
            )
            for _ in range(count)
        ]

    def gift(self, wallet: Wallet, minor: int) -> str:
        receipt = gifts.give_gift(
            self.db,
            key=self.key(),
            actor=wallet.user,
            wallet_id=wallet.id,
            amount=Money(minor, wallet.currency),
            recipient_name="Bo Drummer",
            recipient_email=f"bo{self.key()}@example.org",
            relation="bandmate",
            now=NOW,
        )
        assert receipt.claim_token is not None
        return receipt.claim_token

    def redeem(self, wallet: Wallet, minor: int, *, decide: str | None = None) -> int:
        receipt = redemptions.request_redemption(
            self.db,
            key=self.key(),
            actor=wallet.user,
            wallet_id=wallet.id,
            amount=Money(minor, wallet.currency),
            provider_name="Dr Lee",
            session_date=date(2026, 5, 20),
            now=NOW,
        )
        assert receipt.object_id is not None
        common = {"actor": self.finance, "redemption_id": receipt.object_id, "now": NOW}
        if decide in {"approve", "pay"}:
            redemptions.approve_redemption(self.db, key=self.key(), **common)  # type: ignore[arg-type]
        if decide == "pay":
            redemptions.pay_redemption(self.db, key=self.key(), payment_reference="R1", **common)  # type: ignore[arg-type]
        if decide == "reject":
            redemptions.reject_redemption(self.db, key=self.key(), reason="No receipt", **common)  # type: ignore[arg-type]
        return receipt.object_id


@pytest.fixture
def cohorts(db: Session) -> Cohorts:
    return Cohorts(db)


def test_figures_per_programme_and_country(cohorts: Cohorts) -> None:
    glow = cohorts.funded(5, each=50_000)
    cohorts.gift(glow[0], 10_000)  # pending: gifted
    claimed = cohorts.gift(glow[1], 5_000)
    claims.claim_gift(
        cohorts.db,
        key=cohorts.key(),
        token=claimed,
        claimant=None,
        new_recipient=claims.NewRecipient("Bo Drummer", "drums all night long"),
        hasher=password_hasher(),
        rules=password_rules(),
        now=NOW,
    )
    revoked = cohorts.gift(glow[2], 7_000)
    gift_id = cohorts.db.scalar(select(Gift.id).where(Gift.token_hash == hash_token(revoked)))
    assert gift_id is not None
    gifts.revoke_gift(cohorts.db, key=cohorts.key(), actor=glow[2].user, gift_id=gift_id, now=NOW)
    cohorts.redeem(glow[0], 8_000)  # requested: still outstanding
    cohorts.redeem(glow[1], 9_000, decide="approve")
    cohorts.redeem(glow[2], 11_000, decide="pay")
    cohorts.redeem(glow[3], 4_000, decide="reject")
    radar = cohorts.funded(6, programme="RADAR", country=Country.GB, each=20_000)
    cohorts.redeem(radar[0], 3_000, decide="approve")

    assert credit_use(cohorts.db) == [
        CreditUse("GLOW", Country.US, "USD", 5, 250_000, 15_000, 20_000, 215_000),
        CreditUse("RADAR", Country.GB, "GBP", 6, 120_000, 0, 3_000, 117_000),
    ]
    by_fund = credit_use(cohorts.db, fund_id=cohorts.gbp.id)
    assert [(c.programme, c.people) for c in by_fund] == [("RADAR", 6)]


def test_four_people_are_suppressed_and_five_are_shown(cohorts: Cohorts) -> None:
    four = cohorts.funded(4, programme="EQUAL", each=30_000)
    cohorts.redeem(four[0], 25_000, decide="pay")
    cohorts.funded(5, programme="GLOW", each=30_000)
    small, shown = credit_use(cohorts.db)
    assert small == CreditUse("EQUAL", Country.US, "USD", "<5", None, None, None, None)
    assert small.suppressed
    assert not shown.suppressed
    assert (shown.people, shown.allocated, shown.outstanding) == (5, 150_000, 150_000)


def test_people_are_counted_once_across_funds(cohorts: Cohorts) -> None:
    wallets = cohorts.funded(5, each=1_000)
    second = make_fund(cohorts.db, budget=1_000_000, manager=cohorts.manager, name="Therapy 2027")
    for wallet in wallets:
        ambassador = cohorts.db.scalars(
            select(Ambassador).where(Ambassador.user_id == wallet.user_id)
        ).one()
        fund_wallet(cohorts.db, second, ambassador, 2_000, cohorts.manager)
    (cell,) = credit_use(cohorts.db)
    assert (cell.people, cell.allocated) == (5, 15_000)


def test_all_funds_hide_a_cell_that_is_small_in_one_fund(cohorts: Cohorts) -> None:
    """All funds less the other funds must not give away what four people did."""
    wallets = cohorts.funded(5, each=1_000)
    second = make_fund(cohorts.db, budget=1_000_000, manager=cohorts.manager, name="Therapy 2027")
    for wallet in wallets[:4]:
        ambassador = cohorts.db.scalars(
            select(Ambassador).where(Ambassador.user_id == wallet.user_id)
        ).one()
        fund_wallet(cohorts.db, second, ambassador, 2_000, cohorts.manager)

    (first,) = credit_use(cohorts.db, fund_id=cohorts.usd.id)
    (small,) = credit_use(cohorts.db, fund_id=second.id)
    (everything,) = credit_use(cohorts.db)

    assert (first.people, first.allocated) == (5, 5_000)
    assert (small.people, small.allocated) == ("<5", None)
    assert (everything.people, everything.suppressed) == (5, True)


def test_a_reversed_allowance_is_not_counted(cohorts: Cohorts) -> None:
    cohorts.funded(4, each=1_000)
    lone = make_ambassador(cohorts.db)
    receipt = allowances.allocate_allowance(
        cohorts.db,
        key=cohorts.key(),
        actor=cohorts.manager,
        fund_id=cohorts.usd.id,
        ambassador_id=lone.id,
        amount=Money(9_999, "USD"),
    )
    assert receipt.transaction_id is not None
    reverse(
        cohorts.db,
        key=cohorts.key(),
        actor=cohorts.finance,
        transaction_id=receipt.transaction_id,
        memo="Wrong person",
    )
    (cell,) = credit_use(cohorts.db)
    assert (cell.people, cell.allocated, cell.outstanding) == (5, 4_000, 4_000)


def test_plan_year_close_leaves_nothing_outstanding(cohorts: Cohorts) -> None:
    wallets = cohorts.funded(5, each=10_000)
    cohorts.redeem(wallets[0], 2_000, decide="approve")
    cohorts.redeem(wallets[1], 3_000)
    plan_year.close_plan_year(
        cohorts.db,
        key=cohorts.key(),
        actor=cohorts.finance,
        fund_id=cohorts.usd.id,
        now=datetime(2027, 1, 2, tzinfo=UTC),
    )
    (cell,) = credit_use(cohorts.db)
    assert (cell.allocated, cell.gifted, cell.redeemed, cell.outstanding) == (50_000, 0, 2_000, 0)


@pytest.mark.parametrize("people", [5, 40])
def test_one_query_whatever_the_number_of_ambassadors(cohorts: Cohorts, people: int) -> None:
    """The figures' query, and the totals' mark it reads from."""
    cohorts.funded(people, each=1_000)
    cohorts.db.flush()
    with counting_statements(cohorts.db) as statements:
        (cell,) = credit_use(cohorts.db, fund_id=cohorts.usd.id)
    assert cell.people == people
    assert len([s for s in statements if "GROUP BY" in s]) == 1
    reads = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert len(reads) == 2


def test_the_figures_are_the_same_whether_the_ledger_is_folded_or_not(cohorts: Cohorts) -> None:
    """Credit use reads the reports' running totals and what came after them: folded before
    any activity, half-way through or after all of it, the cells are the same, and they are
    those the gifts' and redemptions' own states give."""
    glow = cohorts.funded(6, each=40_000)
    fold(cohorts.db)
    cohorts.gift(glow[0], 10_000)
    cohorts.redeem(glow[1], 6_000, decide="pay")
    cohorts.redeem(glow[2], 5_000, decide="approve")
    unfolded = credit_use(cohorts.db)
    fold(cohorts.db)
    assert credit_use(cohorts.db) == unfolded
    cohorts.redeem(glow[3], 7_000)
    cohorts.redeem(glow[4], 2_000, decide="reject")
    half = credit_use(cohorts.db)
    fold(cohorts.db)
    assert credit_use(cohorts.db) == half
    assert half == [CreditUse("GLOW", Country.US, "USD", 6, 240_000, 10_000, 11_000, 219_000)]
    assert half == from_states(cohorts.db)


def from_states(db: Session) -> list[CreditUse]:
    """Credit use of one unclosed fund counted from the gifts' and redemptions' states."""
    people = db.scalar(select(func.count(Wallet.id)).where(Wallet.kind == WalletKind.AMBASSADOR))
    gifted = db.scalar(
        select(func.sum(Gift.amount)).where(Gift.state.in_([GiftState.PENDING, GiftState.CLAIMED]))
    )
    redeemed = db.scalar(
        select(func.sum(Redemption.amount)).where(
            Redemption.state.in_([RedemptionState.APPROVED, RedemptionState.PAID])
        )
    )
    requested = db.scalar(
        select(func.sum(Redemption.amount)).where(Redemption.state == RedemptionState.REQUESTED)
    )
    available = db.scalar(
        select(func.sum(Account.balance))
        .join(Wallet, Wallet.account_id == Account.id)
        .where(Wallet.kind == WalletKind.AMBASSADOR)
    )
    allocated = (gifted or 0) + (redeemed or 0) + (available or 0) + (requested or 0)
    outstanding = (available or 0) + (requested or 0)
    return [
        CreditUse(
            "GLOW",
            Country.US,
            "USD",
            people or 0,
            allocated,
            gifted or 0,
            redeemed or 0,
            outstanding,
        )
    ]
