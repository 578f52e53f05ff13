"""Random sequences of every therapy-credit operation, checked against a plain model.

A hypothesis state machine allocates, gifts, claims, revokes, expires, redeems, approves,
rejects, cancels, pays, closes the plan year and reverses, with amounts that sometimes fit
and sometimes do not, while a clock moves through and past the plan year. Each rule predicts
from a few integers whether the operation succeeds; the database must agree. After every step:
every transaction balances in one currency and every stored balance equals its postings
(``verify_ledger``), no balance is negative, the fund never allocates beyond its budget, the
model's balances and states equal the stored ones, and the audit chain is whole. Replaying
an earlier request key returns the first outcome and posts nothing; reusing it for another
request is refused. Runs on SQLite and, with ``TEST_DATABASE_URL``, on PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain import allowances, claims, funds, gifts, plan_year, redemptions
from grants.domain.audit import verify_chain
from grants.domain.claims import NewRecipient
from grants.domain.errors import (
    DomainError,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidState,
)
from grants.domain.idempotency import Receipt
from grants.domain.ledger import find_wallet, fund_balances, reverse, verify_ledger
from grants.domain.money import Money
from grants.domain.wallets import wallet_balances
from grants.extensions import db as database
from grants.models import Ambassador, Base, Gift, Redemption, Role, User, WalletKind
from grants.security import password_hasher, password_rules
from tests.factories import make_ambassador, make_fund, make_user

START = datetime(2026, 3, 1, 12, tzinfo=UTC)
YEAR_END = date(2026, 12, 31)
DEADLINE = datetime(2027, 1, 1, 5, tzinfo=UTC)
"""The end of the plan year: midnight after its last day in New York, the fund's time zone."""
BUDGET = 40_000
AMOUNTS = st.integers(min_value=1, max_value=12_000)
RECIPIENT_EMAILS = ("drums@example.org", "lights@example.org")


@dataclass
class ModelGift:
    token: str
    giver_wallet: int
    amount: int
    email: str
    expires_at: datetime
    state: str = "pending"


@dataclass
class ModelRedemption:
    wallet: int
    amount: int
    state: str = "requested"


@dataclass
class Model:
    """What the ledger should hold, in plain integers and strings."""

    budget: int = 0
    pool: int = 0
    payable: int = 0
    paid: int = 0
    available: dict[int, int] = field(default_factory=dict)
    held: dict[int, int] = field(default_factory=dict)
    gifts: dict[int, ModelGift] = field(default_factory=dict)
    redemptions: dict[int, ModelRedemption] = field(default_factory=dict)
    allowances: dict[int, tuple[int, int]] = field(default_factory=dict)
    """Allowance transaction id → (wallet id, amount), while not reversed."""
    closed: bool = False


@dataclass(frozen=True)
class Sent:
    """A request that was made, to be made again with the same key."""

    call: Callable[[], Receipt]
    outcome: Receipt | DomainError


def empty_database(session: Session) -> None:
    """Delete every row; ledger rows too, which only a test may do (with Core, not the ORM)."""
    session.rollback()
    for table in reversed(Base.metadata.sorted_tables):
        session.execute(table.delete())
    session.commit()


class CreditMachine(RuleBasedStateMachine):
    """One USD therapy fund, two ambassadors, recipients created by claims, finance."""

    def __init__(self) -> None:
        super().__init__()
        self.session: Session = database.session()
        empty_database(self.session)
        self.model = Model()
        self.now = START
        self.keys = 0
        self.sent: list[Sent] = []
        self.recipients: dict[str, tuple[int, int | None]] = {}

    # --- plumbing ----------------------------------------------------------------------

    def key(self) -> str:
        self.keys += 1
        return f"machine-{self.keys}"

    def user(self, user_id: int) -> User:
        return self.session.get_one(User, user_id)

    def send(self, call: Callable[[], Receipt], expect: type[DomainError] | None) -> Receipt | None:
        """Make one request as an entry point would (commit after success and refusal alike)
        and check that it succeeded, or was refused with ``expect``, as the model predicted."""
        if expect is not None:
            with pytest.raises(expect) as refusal:
                call()
            self.session.commit()
            self.sent.append(Sent(call, refusal.value))
            return None
        receipt = call()
        self.session.commit()
        self.sent.append(Sent(call, receipt))
        return receipt

    def plan_year_over(self) -> bool:
        return self.model.closed or self.now >= DEADLINE

    def credit_back(self, wallet_id: int, amount: int) -> None:
        """Released credit returns to its wallet, or to the fund after the plan year."""
        self.model.held[wallet_id] -= amount
        if self.plan_year_over():
            self.model.pool += amount
        else:
            self.model.available[wallet_id] += amount

    # --- setup -------------------------------------------------------------------------

    @initialize()
    def open_the_fund(self) -> None:
        session = self.session
        self.manager = make_user(session, Role.MANAGER).id
        self.finance = make_user(session, Role.FINANCE).id
        fund = make_fund(session, budget=BUDGET, manager=session.get_one(User, self.manager))
        self.fund = fund.id
        self.ambassadors = [make_ambassador(session).id for _ in range(2)]
        self.ambassador_users = [
            make_ambassador_user(session, ambassador) for ambassador in self.ambassadors
        ]
        session.commit()
        self.model.budget = self.model.pool = BUDGET

    def wallet_of(self, index: int) -> int | None:
        wallet = find_wallet(
            self.session, self.fund, self.ambassador_users[index], WalletKind.AMBASSADOR
        )
        return wallet.id if wallet else None

    # --- budget and allowances ----------------------------------------------------------

    @rule(amount=AMOUNTS, lower=st.booleans())
    def change_budget(self, amount: int, lower: bool) -> None:
        operation = funds.lower_budget if lower else funds.change_budget
        expect: type[DomainError] | None = None
        if self.model.closed:
            expect = InvalidState
        elif lower and amount > self.model.pool:
            expect = InsufficientFunds
        key = self.key()
        receipt = self.send(
            lambda: operation(
                self.session,
                key=key,
                actor=self.user(self.manager),
                fund_id=self.fund,
                amount=Money(amount, "USD"),
                reason="Board decision",
            ),
            expect,
        )
        if receipt:
            sign = -1 if lower else 1
            self.model.budget += sign * amount
            self.model.pool += sign * amount

    @rule(index=st.integers(0, 1), amount=AMOUNTS)
    def allocate(self, index: int, amount: int) -> None:
        expect: type[DomainError] | None = None
        if self.model.closed:
            expect = InvalidState
        elif amount > self.model.pool:
            expect = InsufficientFunds
        key = self.key()
        receipt = self.send(
            lambda: allowances.allocate_allowance(
                self.session,
                key=key,
                actor=self.user(self.manager),
                fund_id=self.fund,
                ambassador_id=self.ambassadors[index],
                amount=Money(amount, "USD"),
            ),
            expect,
        )
        if receipt:
            wallet = self.wallet_of(index)
            assert wallet is not None
            self.model.available[wallet] = self.model.available.get(wallet, 0) + amount
            self.model.held.setdefault(wallet, 0)
            self.model.pool -= amount
            assert receipt.transaction_id is not None
            self.model.allowances[receipt.transaction_id] = (wallet, amount)

    @rule(amount=st.integers(1, 8_000))
    def allocate_cohort(self, amount: int) -> None:
        expect: type[DomainError] | None = None
        if self.model.closed:
            expect = InvalidState
        elif 2 * amount > self.model.pool:
            expect = InsufficientFunds
        key = self.key()
        receipt = self.send(
            lambda: allowances.allocate_cohort(
                self.session,
                key=key,
                actor=self.user(self.manager),
                fund_id=self.fund,
                amount=Money(amount, "USD"),
            ),
            expect,
        )
        if receipt:
            for index in (0, 1):
                wallet = self.wallet_of(index)
                assert wallet is not None
                self.model.available[wallet] = self.model.available.get(wallet, 0) + amount
                self.model.held.setdefault(wallet, 0)
            self.model.pool -= 2 * amount

    # --- gifts -------------------------------------------------------------------------

    @precondition(lambda self: self.model.available)
    @rule(index=st.integers(0, 1), amount=AMOUNTS, email=st.sampled_from(RECIPIENT_EMAILS))
    def give(self, index: int, amount: int, email: str) -> None:
        wallet = self.wallet_of(index)
        if wallet is None:
            return
        expect: type[DomainError] | None = None
        if self.model.closed or self.plan_year_over():
            expect = InvalidState
        elif amount > self.model.available[wallet]:
            expect = InsufficientFunds
        key, giver = self.key(), self.ambassador_users[index]
        receipt = self.send(
            lambda: gifts.give_gift(
                self.session,
                key=key,
                actor=self.user(giver),
                wallet_id=wallet,
                amount=Money(amount, "USD"),
                recipient_name="Sam Crew",
                recipient_email=email,
                relation="crew",
                now=self.now,
            ),
            expect,
        )
        if receipt:
            assert receipt.object_id is not None
            assert receipt.claim_token is not None
            self.model.available[wallet] -= amount
            self.model.held[wallet] += amount
            expires = min(self.now + timedelta(days=30), DEADLINE)
            self.model.gifts[receipt.object_id] = ModelGift(
                receipt.claim_token, wallet, amount, email, expires
            )

    def has_gift(self, state: str) -> bool:
        return any(gift.state == state for gift in self.model.gifts.values())

    def has_redemption(self, state: str) -> bool:
        return any(r.state == state for r in self.model.redemptions.values())

    def a_gift(self, data: st.DataObject) -> tuple[int, ModelGift]:
        gift_id = data.draw(st.sampled_from(sorted(self.model.gifts)))
        return gift_id, self.model.gifts[gift_id]

    @precondition(lambda self: self.has_gift("pending"))
    @rule(data=st.data())
    def claim(self, data: st.DataObject) -> None:
        _, gift = self.a_gift(data)
        claimable = gift.state == "pending" and self.now < gift.expires_at
        expect = None if claimable else InvalidState
        known = self.recipients.get(gift.email)
        key = self.key()
        receipt = self.send(
            lambda: claims.claim_gift(
                self.session,
                key=key,
                token=gift.token,
                claimant=self.user(known[0]) if known else None,
                new_recipient=None if known else NewRecipient("Sam Crew", "faders up all night"),
                hasher=password_hasher(),
                rules=password_rules(),
                now=self.now,
            ),
            expect,
        )
        if receipt:
            gift.state = "claimed"
            recipient = self.session.scalars(select(User).where(User.email == gift.email)).one()
            wallet = find_wallet(self.session, self.fund, recipient.id, WalletKind.RECIPIENT)
            assert wallet is not None
            self.recipients[gift.email] = (recipient.id, wallet.id)
            self.model.held[gift.giver_wallet] -= gift.amount
            self.model.available[wallet.id] = self.model.available.get(wallet.id, 0) + gift.amount
            self.model.held.setdefault(wallet.id, 0)

    @precondition(lambda self: self.has_gift("pending"))
    @rule(data=st.data())
    def revoke(self, data: st.DataObject) -> None:
        gift_id, gift = self.a_gift(data)
        expect = None if gift.state == "pending" else InvalidState
        giver = self.wallet_owner(gift.giver_wallet)
        key = self.key()
        receipt = self.send(
            lambda: gifts.revoke_gift(
                self.session, key=key, actor=self.user(giver), gift_id=gift_id, now=self.now
            ),
            expect,
        )
        if receipt:
            gift.state = "revoked"
            self.credit_back(gift.giver_wallet, gift.amount)

    @precondition(lambda self: self.model.gifts)
    @rule(data=st.data())
    def expire(self, data: st.DataObject) -> None:
        gift_id, gift = self.a_gift(data)
        due = gift.state == "pending" and self.now >= gift.expires_at
        key = self.key()
        receipt = self.send(
            lambda: gifts.expire_gift(self.session, key=key, gift_id=gift_id, now=self.now),
            None if due else InvalidState,
        )
        if receipt:
            gift.state = "expired"
            self.credit_back(gift.giver_wallet, gift.amount)

    @rule()
    def sweep(self) -> None:
        due = [
            gift
            for gift in self.model.gifts.values()
            if gift.state == "pending" and self.now >= gift.expires_at
        ]
        expired = gifts.sweep(self.session, now=self.now)
        self.session.commit()
        assert expired == len(due)
        for gift in due:
            gift.state = "expired"
            self.credit_back(gift.giver_wallet, gift.amount)

    def wallet_owner(self, wallet_id: int) -> int:
        for index in (0, 1):
            if self.wallet_of(index) == wallet_id:
                return self.ambassador_users[index]
        for user_id, recipient_wallet in self.recipients.values():
            if recipient_wallet == wallet_id:
                return user_id
        raise AssertionError(f"wallet {wallet_id} has no owner in the model")

    # --- redemptions -------------------------------------------------------------------

    @precondition(lambda self: self.model.available)
    @rule(data=st.data(), amount=AMOUNTS)
    def redeem(self, data: st.DataObject, amount: int) -> None:
        wallet = data.draw(st.sampled_from(sorted(self.model.available)))
        expect: type[DomainError] | None = None
        if self.model.closed:
            expect = InvalidState
        elif amount > self.model.available[wallet]:
            expect = InsufficientFunds
        key, owner = self.key(), self.wallet_owner(wallet)
        today = self.now.date()
        receipt = self.send(
            lambda: redemptions.request_redemption(
                self.session,
                key=key,
                actor=self.user(owner),
                wallet_id=wallet,
                amount=Money(amount, "USD"),
                provider_name="Dr Lee, Nashville",
                session_date=min(today, YEAR_END),
                now=self.now,
            ),
            expect,
        )
        if receipt:
            assert receipt.object_id is not None
            self.model.available[wallet] -= amount
            self.model.held[wallet] += amount
            self.model.redemptions[receipt.object_id] = ModelRedemption(wallet, amount)

    def a_redemption(self, data: st.DataObject) -> tuple[int, ModelRedemption]:
        redemption_id = data.draw(st.sampled_from(sorted(self.model.redemptions)))
        return redemption_id, self.model.redemptions[redemption_id]

    @precondition(lambda self: self.has_redemption("requested"))
    @rule(data=st.data(), decision=st.sampled_from(["approve", "approve", "reject", "cancel"]))
    def decide(self, data: st.DataObject, decision: str) -> None:
        redemption_id, redemption = self.a_redemption(data)
        expect = None if redemption.state == "requested" else InvalidState
        key = self.key()
        calls: dict[str, Callable[[], Receipt]] = {
            "approve": lambda: redemptions.approve_redemption(
                self.session,
                key=key,
                actor=self.user(self.finance),
                redemption_id=redemption_id,
                now=self.now,
            ),
            "reject": lambda: redemptions.reject_redemption(
                self.session,
                key=key,
                actor=self.user(self.finance),
                redemption_id=redemption_id,
                reason="Not a therapy session",
                now=self.now,
            ),
            "cancel": lambda: redemptions.cancel_redemption(
                self.session,
                key=key,
                actor=self.user(self.wallet_owner(redemption.wallet)),
                redemption_id=redemption_id,
                now=self.now,
            ),
        }
        if self.send(calls[decision], expect):
            if decision == "approve":
                redemption.state = "approved"
                self.model.held[redemption.wallet] -= redemption.amount
                self.model.payable += redemption.amount
            else:
                redemption.state = "rejected" if decision == "reject" else "cancelled"
                self.credit_back(redemption.wallet, redemption.amount)

    @precondition(lambda self: self.has_redemption("approved"))
    @rule(data=st.data())
    def pay(self, data: st.DataObject) -> None:
        redemption_id, redemption = self.a_redemption(data)
        expect = None if redemption.state == "approved" else InvalidState
        key = self.key()
        receipt = self.send(
            lambda: redemptions.pay_redemption(
                self.session,
                key=key,
                actor=self.user(self.finance),
                redemption_id=redemption_id,
                payment_reference=f"ACH-{redemption_id}",
                now=self.now,
            ),
            expect,
        )
        if receipt:
            redemption.state = "paid"
            self.model.payable -= redemption.amount
            self.model.paid += redemption.amount

    # --- time, close and reversal ------------------------------------------------------

    @rule(days=st.integers(1, 45))
    def advance(self, days: int) -> None:
        self.now = min(self.now + timedelta(days=days), DEADLINE + timedelta(days=20))

    @precondition(lambda self: self.now >= DEADLINE)
    @rule()
    def close(self) -> None:
        expect = None if self.now >= DEADLINE and not self.model.closed else InvalidState
        key = self.key()
        receipt = self.send(
            lambda: plan_year.close_plan_year(
                self.session,
                key=key,
                actor=self.user(self.finance),
                fund_id=self.fund,
                now=self.now,
            ),
            expect,
        )
        if receipt:
            self.model.closed = True
            for wallet in self.model.available:
                self.model.pool += self.model.available[wallet] + self.model.held[wallet]
                self.model.available[wallet] = self.model.held[wallet] = 0
            for gift in self.model.gifts.values():
                if gift.state == "pending":
                    gift.state = "expired"
            for redemption in self.model.redemptions.values():
                if redemption.state == "requested":
                    redemption.state = "expired"

    @precondition(lambda self: self.model.allowances)
    @rule(data=st.data())
    def reverse_allowance(self, data: st.DataObject) -> None:
        transaction_id = data.draw(st.sampled_from(sorted(self.model.allowances)))
        wallet, amount = self.model.allowances[transaction_id]
        expect = None if self.model.available[wallet] >= amount else InsufficientFunds
        key = self.key()
        receipt = self.send(
            lambda: reverse(
                self.session,
                key=key,
                actor=self.user(self.finance),
                transaction_id=transaction_id,
                memo="Allocated by mistake",
            ),
            expect,
        )
        if receipt:
            del self.model.allowances[transaction_id]
            self.model.available[wallet] -= amount
            self.model.pool += amount

    # --- idempotency -------------------------------------------------------------------

    @precondition(lambda self: self.sent)
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        """The same key and request again: the first outcome, and nothing posted."""
        sent = data.draw(st.sampled_from(self.sent))
        if isinstance(sent.outcome, DomainError):
            with pytest.raises(type(sent.outcome), match=re.escape(sent.outcome.message)):
                sent.call()
            self.session.commit()
            return
        again = sent.call()
        self.session.commit()
        assert again.replayed
        assert again.object_id == sent.outcome.object_id
        assert again.transaction_id == sent.outcome.transaction_id

    @precondition(lambda self: any(isinstance(s.outcome, Receipt) for s in self.sent))
    @rule(data=st.data())
    def reuse_key(self, data: st.DataObject) -> None:
        """A used key with a different request is refused and changes nothing."""
        used = [s for s in self.sent if isinstance(s.outcome, Receipt)]
        sent = data.draw(st.sampled_from(used))
        record_key = self.key_of(sent)
        with pytest.raises(IdempotencyConflict):
            funds.change_budget(
                self.session,
                key=record_key,
                actor=self.user(self.manager),
                fund_id=self.fund,
                amount=Money(999_999, "USD"),
                reason="Another request entirely",
            )
        self.session.rollback()

    def key_of(self, sent: Sent) -> str:
        """The key a recorded call used, read from its closure."""
        for cell in sent.call.__closure__ or ():
            value = cell.cell_contents
            if isinstance(value, str) and value.startswith("machine-"):
                return value
        raise AssertionError("the call has no key")

    # --- invariants --------------------------------------------------------------------

    @invariant()
    def ledger_agrees_with_itself_and_the_model(self) -> None:
        session = self.session
        if not hasattr(self, "fund"):
            return
        session.expire_all()
        assert verify_ledger(session) == []
        fund = fund_balances(session, self.fund)
        model = self.model
        assert (fund.budget, fund.remaining, fund.payable, fund.paid) == (
            model.budget,
            model.pool,
            model.payable,
            model.paid,
        )
        assert fund.remaining >= 0
        assert fund.allocated <= fund.budget
        for wallet, available in model.available.items():
            balances = wallet_balances(session, wallet)
            assert (balances.available, balances.held) == (available, model.held[wallet])
            assert balances.available >= 0
            assert balances.held >= 0
        gifts = dict(session.execute(select(Gift.id, Gift.state)).all())
        assert {k: v.value for k, v in gifts.items()} == {
            k: g.state for k, g in model.gifts.items()
        }
        redemptions = dict(session.execute(select(Redemption.id, Redemption.state)).all())
        assert {k: v.value for k, v in redemptions.items()} == {
            k: r.state for k, r in model.redemptions.items()
        }
        assert verify_chain(session) == []
        session.commit()


def make_ambassador_user(session: Session, ambassador_id: int) -> int:
    return session.get_one(Ambassador, ambassador_id).user_id


def test_random_sequences_of_credit_operations_keep_the_ledger_exact(app: Flask) -> None:
    with app.app_context():
        run_state_machine_as_test(
            CreditMachine,
            settings=settings(
                max_examples=40,
                stateful_step_count=60,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )


def test_the_machine_reaches_every_operation(app: Flask) -> None:
    """A fixed walk through the machine's rules, so that each of them is seen to succeed."""
    with app.app_context():
        machine = CreditMachine()
        machine.open_the_fund()
        machine.allocate(0, 10_000)
        machine.allocate(1, 300)
        machine.allocate_cohort(2_000)
        machine.give(0, 1_000, RECIPIENT_EMAILS[0])
        machine.give(0, 1_000, RECIPIENT_EMAILS[0])
        machine.give(1, 1_000, RECIPIENT_EMAILS[1])
        gifts = sorted(machine.model.gifts)
        fixed = FixedDraws
        machine.claim(fixed(gifts[0]))
        machine.claim(fixed(gifts[1]))  # a second gift to the same, now existing, recipient
        machine.revoke(fixed(gifts[2]))
        machine.redeem(fixed(machine.recipients[RECIPIENT_EMAILS[0]][1]), 1_500)
        for amount in (500, 600, 700):
            machine.redeem(fixed(machine.wallet_of(0)), amount)
        redemptions = sorted(machine.model.redemptions)
        machine.decide(fixed(redemptions[0]), "approve")
        machine.pay(fixed(redemptions[0]))
        machine.decide(fixed(redemptions[1]), "reject")
        machine.decide(fixed(redemptions[2]), "cancel")
        machine.give(1, 500, RECIPIENT_EMAILS[1])
        machine.advance(40)
        machine.expire(fixed(sorted(machine.model.gifts)[-1]))
        allowances = len(machine.model.allowances)
        machine.reverse_allowance(fixed(sorted(machine.model.allowances)[-1]))
        machine.change_budget(1_000, lower=True)
        machine.advance(90)
        machine.advance(90)
        machine.advance(90)
        machine.close()
        machine.replay(fixed(machine.sent[0]))
        machine.reuse_key(fixed(machine.sent[0]))
        machine.ledger_agrees_with_itself_and_the_model()
        outcomes: dict[str, Any] = {
            "gifts": sorted(g.state for g in machine.model.gifts.values()),
            "redemptions": sorted(r.state for r in machine.model.redemptions.values()),
            "allowances_reversed": allowances - len(machine.model.allowances),
            "closed": machine.model.closed,
        }
    assert outcomes == {
        "gifts": ["claimed", "claimed", "expired", "revoked"],
        "redemptions": ["cancelled", "expired", "paid", "rejected"],
        "allowances_reversed": 1,
        "closed": True,
    }


class FixedDraws:
    """Stands in for hypothesis's ``data`` object: every draw returns ``value``."""

    def __init__(self, value: object) -> None:
        self.value = value

    def draw(self, strategy: object) -> object:
        return self.value
