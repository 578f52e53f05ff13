"""The bulk loader writes what the domain operations write.

A small scale dataset is built twice, each in its own database: once as ``seed-scale``
builds it (the bulk :class:`~grants.seed.loader.LedgerLoader`), once with every step the
loader takes done through the domain operations themselves (same people, same amounts, same
order). Both must end with the same balances, gifts, redemptions and payout batches, audit
payloads of the same shape for every action, idempotency records for the same operations
with the same requests and receipts of the same shape, and books that both verify commands
and the check of the batches against their payments accept.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from grants.database import normalise_database_url
from grants.domain import allowances, claims, funds, gifts, payouts, redemptions
from grants.domain.accounts import PasswordRules, create_user
from grants.domain.audit import verify_chain
from grants.domain.ledger import FundBalances, fund_balances, open_wallet, verify_ledger
from grants.domain.payouts import verify_batches
from grants.extensions import db
from grants.models import (
    Account,
    Ambassador,
    AuditEvent,
    CohortStatus,
    Country,
    Fund,
    Gift,
    GiftState,
    IdempotencyRecord,
    PayoutBatch,
    Posting,
    Redemption,
    RedemptionState,
    Relation,
    Role,
    User,
    Wallet,
    WalletKind,
)
from grants.seed.loader import Books, Person
from grants.seed.scale import WriterFactory, seed_scale
from tests.conftest import with_search_path

NOW = datetime(2030, 7, 1, 12, tzinfo=UTC)
"""Midway through a plan year, so that gifts expired in the dataset were given within it."""
AMBASSADORS, POSTINGS = 24, 700
RECIPIENT_PASSWORD = "a long and unusual phrase"


class OperationsWriter:
    """Does each step :class:`~grants.seed.loader.LedgerLoader` would write, through the
    domain operations, as the people it names.

    Paid redemptions are approved at once and paid when their batch is (the bulk loader
    pays each at once and records the batch after): ``postings`` counts those payments as
    made, as the loader's count does, so that the dataset chooses the same steps. No
    operation gives an allowance to chosen wallets as one transaction; those wallets get
    one allowance each.
    """

    def __init__(
        self, session: Session, books: Books, clock: datetime, *, key_prefix: str, email_domain: str
    ) -> None:
        self.session = session
        self.clock = clock
        self.key_prefix = key_prefix
        self.keys = 0
        self.unpaid: list[int] = []
        self.hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        self.rules = PasswordRules()
        self.postings = self._count()

    def _count(self) -> int:
        made = self.session.scalar(select(func.count()).select_from(Posting)) or 0
        return made + 2 * len(self.unpaid)

    def _key(self) -> str:
        self.keys += 1
        return f"{self.key_prefix}:{self.keys}"

    def _tick(self) -> datetime:
        self.clock += timedelta(seconds=1)
        return self.clock

    def _user(self, user_id: int) -> User:
        return self.session.get_one(User, user_id)

    def _done(self, transaction_id: int | None) -> int:
        assert transaction_id is not None
        self.postings = self._count()
        return transaction_id

    def enrol(
        self, books: Books, programme_id: int, status: CohortStatus, person: Person | None = None
    ) -> int:
        assert person is not None, "the scale dataset names everyone it enrols"
        user = create_user(
            self.session,
            email=person.email,
            display_name=person.display_name,
            password=None,
            roles=[Role.AMBASSADOR],
            hasher=self.hasher,
            rules=self.rules,
            locale="en_GB" if books.country is Country.GB else "en_US",
        )
        ambassador = Ambassador(
            user=user, programme_id=programme_id, country=books.country, cohort_status=status
        )
        self.session.add(ambassador)
        self.session.flush()
        if status is CohortStatus.CURRENT:
            fund = self.session.get_one(Fund, books.fund_id)
            wallet = open_wallet(self.session, fund, user, WalletKind.AMBASSADOR)
            books.join(ambassador.id, user.id, wallet.id, wallet.account_id, wallet.hold_account_id)
        return ambassador.id

    def cohort_allowance(
        self, each: int, books: Books | None = None, slots: Sequence[int] | None = None
    ) -> int:
        assert books is not None
        if slots is not None:
            return [self.allowance(slot, each, books) for slot in slots][-1]
        receipt = allowances.allocate_cohort(
            self.session,
            key=self._key(),
            actor=self._user(books.manager_id),
            fund_id=books.fund_id,
            amount=books.money(each),
        )
        return self._done(receipt.transaction_id)

    def allowance(self, slot: int, amount: int, books: Books | None = None) -> int:
        assert books is not None
        receipt = allowances.allocate_allowance(
            self.session,
            key=self._key(),
            actor=self._user(books.manager_id),
            fund_id=books.fund_id,
            ambassador_id=books.ambassador_ids[slot],
            amount=books.money(amount),
        )
        return self._done(receipt.transaction_id)

    def budget_increase(self, amount: int, books: Books, reason: str) -> int:
        receipt = funds.change_budget(
            self.session,
            key=self._key(),
            actor=self._user(books.manager_id),
            fund_id=books.fund_id,
            amount=books.money(amount),
            reason=reason,
        )
        return self._done(receipt.transaction_id)

    def gift(
        self,
        slot: int,
        amount: int,
        state: GiftState,
        books: Books,
        *,
        recipient: Person,
        relation: Relation,
        now: datetime,
    ) -> int:
        giver = self._user(books.user_ids[slot])
        expired = state is GiftState.EXPIRED
        given = gifts.give_gift(
            self.session,
            key=self._key(),
            actor=giver,
            wallet_id=books.wallet_ids[slot],
            amount=books.money(amount),
            recipient_name=recipient.display_name,
            recipient_email=recipient.email,
            relation=relation,
            now=self.clock - gifts.DEFAULT_GIFT_VALIDITY if expired else self.clock,
        )
        assert given.object_id is not None
        assert given.claim_token is not None
        now = self._tick()
        if state is GiftState.CLAIMED:
            claims.claim_gift(
                self.session,
                key=self._key(),
                token=given.claim_token,
                claimant=None,
                new_recipient=claims.NewRecipient(recipient.display_name, RECIPIENT_PASSWORD),
                hasher=self.hasher,
                rules=self.rules,
                now=now,
            )
        elif state is GiftState.REVOKED:
            gifts.revoke_gift(
                self.session, key=self._key(), actor=giver, gift_id=given.object_id, now=now
            )
        elif expired:
            gifts.expire_gift(self.session, key=self._key(), gift_id=given.object_id, now=now)
        self._done(given.transaction_id)
        return given.object_id

    def redemption(
        self,
        slot: int,
        amount: int,
        state: RedemptionState,
        books: Books | None = None,
        *,
        provider: str = "Dr Lee, Nashville",
        reference: str | None = None,
        reason: str = "",
    ) -> int:
        assert books is not None
        holder, finance = self._user(books.user_ids[slot]), self._user(books.finance_id)
        day = self.clock.date()
        requested = redemptions.request_redemption(
            self.session,
            key=self._key(),
            actor=holder,
            wallet_id=books.wallet_ids[slot],
            amount=books.money(amount),
            provider_name=provider,
            session_date=day,
            now=self.clock,
        )
        redemption_id = requested.object_id
        assert redemption_id is not None
        now = self._tick()
        if state in (RedemptionState.APPROVED, RedemptionState.PAID):
            redemptions.approve_redemption(
                self.session, key=self._key(), actor=finance, redemption_id=redemption_id, now=now
            )
        if state is RedemptionState.PAID:
            self.unpaid.append(redemption_id)
        if state is RedemptionState.REJECTED:
            redemptions.reject_redemption(
                self.session,
                key=self._key(),
                actor=finance,
                redemption_id=redemption_id,
                reason=reason,
                now=now,
            )
        if state is RedemptionState.CANCELLED:
            redemptions.cancel_redemption(
                self.session, key=self._key(), actor=holder, redemption_id=redemption_id, now=now
            )
        self._done(requested.transaction_id)
        return redemption_id

    def pay_batch(
        self, books: Books, reference: str, redemption_ids: Sequence[int], total: int
    ) -> None:
        payouts.pay_redemptions(
            self.session,
            key=self._key(),
            actor=self._user(books.finance_id),
            redemption_ids=redemption_ids,
            payment_reference=reference,
            now=self._tick(),
        )
        self.unpaid = [r for r in self.unpaid if r not in redemption_ids]
        self.postings = self._count()

    def flush_when_full(self) -> None:
        self.flush()

    def flush(self) -> None:
        self.session.commit()


Shape = tuple[tuple[str, str], ...]


def shape(payload: str) -> Shape:
    """The keys of a JSON object and the types of their values."""
    return tuple(sorted((key, type(value).__name__) for key, value in json.loads(payload).items()))


@dataclass
class Dataset:
    """What two builds of the dataset must agree on."""

    wallets: dict[tuple[str, str, WalletKind], tuple[int, int]]
    funds: dict[str, FundBalances]
    audit_shapes: dict[str, set[tuple[Shape, Shape]]]
    operations: set[str]
    receipt_shapes: dict[str, set[Shape]]
    requests: Counter[tuple[str, int | None, str]]
    allocations: set[str]
    cohorts: set[str]
    claims: int
    gifts: list[tuple[Any, ...]]
    redemptions: list[tuple[Any, ...]]
    batches: list[tuple[Any, ...]]
    """Each payout batch but its time: the loader pays a batch's redemptions one by one and
    the operations all at once, later (both record the time its last one was paid)."""
    problems: list[str]


REQUESTS_COMPARED_BY_EFFECT = {"gift.claim", "allowance.allocate", "allowance.allocate_cohort"}
"""Operations whose requests cannot match one for one: a claim's request carries its random
link token; a cohort of chosen wallets has no operation of its own (the balances compare
what the allowances did)."""


def read_dataset(session: Session) -> Dataset:
    held = {a.id: a.balance for a in session.scalars(select(Account))}
    wallets = {
        (email, fund, kind): (held[available], held[hold])
        for email, fund, kind, available, hold in session.execute(
            select(User.email, Fund.name, Wallet.kind, Wallet.account_id, Wallet.hold_account_id)
            .join(User, User.id == Wallet.user_id)
            .join(Fund, Fund.id == Wallet.fund_id)
        )
    }
    audit_shapes: dict[str, set[tuple[Shape, Shape]]] = {}
    for action, before, after in session.execute(
        select(AuditEvent.action, AuditEvent.before, AuditEvent.after)
    ):
        audit_shapes.setdefault(action, set()).add((shape(before), shape(after)))
    records = session.execute(
        select(
            IdempotencyRecord.operation,
            IdempotencyRecord.actor_id,
            IdempotencyRecord.request_hash,
            IdempotencyRecord.outcome,
        )
    ).all()
    receipt_shapes: dict[str, set[Shape]] = {}
    for record in records:
        result = json.dumps(json.loads(record.outcome)["result"])
        receipt_shapes.setdefault(record.operation, set()).add(shape(result))

    def hashes(operation: str) -> set[str]:
        return {r.request_hash for r in records if r.operation == operation}

    return Dataset(
        wallets=wallets,
        funds={f.name: fund_balances(session, f.id) for f in session.scalars(select(Fund))},
        audit_shapes=audit_shapes,
        operations={r.operation for r in records},
        receipt_shapes=receipt_shapes,
        requests=Counter(
            (r.operation, r.actor_id, r.request_hash)
            for r in records
            if r.operation not in REQUESTS_COMPARED_BY_EFFECT
        ),
        allocations=hashes("allowance.allocate"),
        cohorts=hashes("allowance.allocate_cohort"),
        claims=len(hashes("gift.claim")),
        gifts=[
            tuple(row)
            for row in session.execute(
                select(
                    Gift.id,
                    Gift.giver_wallet_id,
                    Gift.amount,
                    Gift.currency,
                    Gift.recipient_name,
                    Gift.recipient_email,
                    Gift.relation,
                    Gift.message,
                    Gift.state,
                    Gift.recipient_wallet_id,
                ).order_by(Gift.id)
            )
        ],
        redemptions=[
            tuple(row)
            for row in session.execute(
                select(
                    Redemption.id,
                    Redemption.wallet_id,
                    Redemption.amount,
                    Redemption.currency,
                    Redemption.provider_name,
                    Redemption.session_date,
                    Redemption.state,
                    Redemption.reason,
                    Redemption.payment_reference,
                    Redemption.decided_by_id,
                ).order_by(Redemption.id)
            )
        ],
        batches=[
            tuple(row)
            for row in session.execute(
                select(
                    PayoutBatch.payment_reference,
                    PayoutBatch.currency,
                    PayoutBatch.redemptions,
                    PayoutBatch.amount,
                    PayoutBatch.paid_by_id,
                ).order_by(PayoutBatch.payment_reference)
            )
        ],
        problems=verify_ledger(session) + verify_chain(session) + verify_batches(session),
    )


@pytest.fixture
def second_database(tmp_path: Path) -> Iterator[str]:
    """A second empty database beside the test's own: a SQLite file, or a PostgreSQL schema
    made for this test and dropped after it."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path / 'operations.sqlite3'}"
        return
    engine = create_engine(normalise_database_url(url))
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield with_search_path(url, schema)
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def build(app: Flask, writer: WriterFactory | None = None) -> Dataset:
    """The small scale dataset, written by ``writer`` (the bulk loader by default)."""
    chosen: dict[str, Any] = {} if writer is None else {"writer": writer}
    with app.app_context():
        session = db.session()
        seed_scale(
            session,
            ambassadors=AMBASSADORS,
            postings=POSTINGS,
            now=NOW,
            hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
            rules=PasswordRules(),
            **chosen,
        )
        dataset = read_dataset(session)
        session.rollback()
    return dataset


def test_the_bulk_loader_writes_what_the_domain_operations_write(
    second_database: str, make_app: Callable[..., Flask]
) -> None:
    loaded = build(make_app())
    operated = build(make_app(DATABASE_URL=second_database), OperationsWriter)

    assert loaded.problems == []
    assert operated.problems == []
    states = {row[8] for row in loaded.gifts} | {row[6] for row in loaded.redemptions}
    assert states >= set(GiftState) | (set(RedemptionState) - {RedemptionState.EXPIRED})
    assert "redemption.pay_batch" in loaded.operations

    assert loaded.wallets == operated.wallets
    assert loaded.funds == operated.funds
    assert loaded.gifts == operated.gifts
    assert loaded.redemptions == operated.redemptions
    assert loaded.batches == operated.batches
    assert len(loaded.batches) > 1
    assert loaded.audit_shapes == operated.audit_shapes
    assert loaded.operations == operated.operations
    assert loaded.receipt_shapes == operated.receipt_shapes
    assert loaded.requests == operated.requests
    assert loaded.allocations <= operated.allocations
    assert operated.cohorts <= loaded.cohorts
    assert loaded.claims == operated.claims
