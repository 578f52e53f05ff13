"""A realistic programme at scale (``flask grants seed-scale``), for load tests and benchmarks.

:func:`seed_scale` builds it on an empty database: the demo programmes, partners, funds and
logins, grants with tranches in every status through the domain operations, then
ambassadors in the US and the UK with wallets and allowances, gifts (pending, claimed,
revoked, expired) and redemptions (requested, approved, paid in batches, rejected,
cancelled), up to an exact number of postings. What happens to whom is chosen here, by a
seeded random generator; a :class:`HistoryWriter` writes it, by default the bulk
:class:`~grants.seed.loader.LedgerLoader`.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.domain.accounts import PasswordRules, find_user_by_email
from grants.domain.funds import plan_year_deadline
from grants.domain.ledger import fund_account, open_wallet
from grants.models import (
    Account,
    AccountKind,
    Ambassador,
    CohortStatus,
    Country,
    Fund,
    FundKind,
    Gift,
    GiftState,
    Posting,
    Programme,
    Redemption,
    RedemptionState,
    Relation,
    Role,
    User,
    WalletKind,
)
from grants.seed.bulk import settle_storage
from grants.seed.demo import AMBASSADORS as DEMO_AMBASSADORS
from grants.seed.demo import email_for, seed_demo
from grants.seed.grants import grant_count, seed_grants
from grants.seed.loader import CYCLE_DOLLARS, Books, LedgerLoader, Person


class HistoryWriter(Protocol):
    """What writes the history :func:`seed_scale` chooses: the bulk loader, or anything that
    does the same operations (as a test does, through the domain operations themselves).

    ``postings`` counts the ledger's postings as they will stand once everything asked for
    is written."""

    session: Session
    postings: int

    def enrol(
        self, books: Books, programme_id: int, status: CohortStatus, person: Person | None = None
    ) -> int: ...

    def cohort_allowance(
        self, each: int, books: Books | None = None, slots: Sequence[int] | None = None
    ) -> int: ...

    def allowance(self, slot: int, amount: int, books: Books | None = None) -> int: ...

    def budget_increase(self, amount: int, books: Books, reason: str) -> int: ...

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
    ) -> int: ...

    def redemption(
        self,
        slot: int,
        amount: int,
        state: RedemptionState,
        books: Books | None = None,
        *,
        provider: str = ...,
        reference: str | None = None,
        reason: str = "",
    ) -> int: ...

    def pay_batch(
        self, books: Books, reference: str, redemption_ids: Sequence[int], total: int
    ) -> None: ...

    def flush_when_full(self) -> None: ...

    def flush(self) -> None: ...


class WriterFactory(Protocol):
    """Makes the :class:`HistoryWriter` of a load (``LedgerLoader`` itself is one)."""

    def __call__(
        self, session: Session, books: Books, clock: datetime, *, key_prefix: str, email_domain: str
    ) -> HistoryWriter: ...


FIRST_NAMES = (
    "Alex", "Bea", "Cal", "Dee", "Eli", "Fern", "Gus", "Hana", "Ira", "Jude", "Kit", "Lou",
    "Mae", "Nico", "Ona", "Pip", "Quin", "Rae", "Sol", "Tess", "Uma", "Vik", "Wren", "Zed",
)  # fmt: skip
LAST_NAMES = (
    "Abbott", "Baines", "Carver", "Doyle", "Ennis", "Fraser", "Garcia", "Hughes", "Iqbal",
    "Jensen", "Khan", "Lowry", "Moreno", "Nakamura", "Osei", "Patel", "Quinn", "Rossi",
    "Silva", "Turner", "Usman", "Vance", "Walsh", "Young",
)  # fmt: skip
PROVIDERS = {
    "USD": ("Dr Lee, Nashville", "Harmony Counseling, Austin", "Dr Ortiz, Los Angeles",
            "Northside Therapy, Chicago", "Dr Brooks, Brooklyn"),
    "GBP": ("Dr Hughes, Manchester", "Soundmind Therapy, Glasgow", "Dr Patel, London",
            "Bristol Talking Therapies", "Dr Walsh, Belfast"),
}  # fmt: skip
ACTIVITIES = (
    ("paid", 40),
    ("requested", 8),
    ("approved", 6),
    ("rejected", 3),
    ("cancelled", 3),
    ("gift pending", 6),
    ("gift claimed", 14),
    ("gift revoked", 3),
    ("gift expired", 4),
    ("allowance", 13),
)
"""What the bulk load does, with relative weights: each is an allowance of the amount
followed by the operations that take a redemption or a gift to its state (or the allowance
alone). Wallets therefore never go below what their cohort allowance gave them."""
MOST_POSTINGS_PER_ACTIVITY = 10
"""A budget increase (2) then a paid session (8)."""
PAYOUT_BATCH = 25
"""Paid redemptions share a payment reference in batches of this many, per currency."""
BUDGET_STEP = 50_000_000
"""How much a therapy fund's budget is raised by when the load needs more."""
OPENING_ALLOWANCE = {"USD": 75_000, "GBP": 60_000}


@dataclass
class ScaleSeed:
    """What :func:`seed_scale` built."""

    ambassadors: int = 0
    postings: int = 0
    grants: int = 0
    gifts: int = 0
    redemptions: int = 0
    logins: list[tuple[Role, str]] = field(default_factory=list)


class ScaleRefused(Exception):
    """The dataset cannot be built as asked; the message says why."""


def minimum_postings(ambassadors: int) -> int:
    """A lower bound for ``--postings`` given ``--ambassadors``: the demo data, the grants
    (ten postings each at most), the cohort allowances and room for the activities."""
    return 100 + 10 * grant_count(ambassadors) + ambassadors + 4 * MOST_POSTINGS_PER_ACTIVITY


def seed_scale(
    session: Session,
    *,
    ambassadors: int,
    postings: int,
    now: datetime,
    hasher: PasswordHasher,
    rules: PasswordRules,
    seed: int = 1,
    writer: WriterFactory = LedgerLoader,
) -> ScaleSeed:
    """Build the dataset on an empty database; commits as it goes (batches of the load).

    ``ambassadors`` counts every ambassador (the demo ones included); ``postings`` is the
    exact number of ledger postings at the end. The demo data and the grants are made
    through the domain operations; the ambassadors' history is written by ``writer``.
    """
    rng = random.Random(seed)  # noqa: S311 - a repeatable dataset, not a secret
    demo_count = len(DEMO_AMBASSADORS)
    if ambassadors < demo_count + 2:
        raise ScaleRefused(f"--ambassadors must be at least {demo_count + 2}.")
    if postings < minimum_postings(ambassadors):
        raise ScaleRefused(
            f"--postings must be at least {minimum_postings(ambassadors):,} for "
            f"{ambassadors:,} ambassadors."
        )
    today = now.date()
    demo = seed_demo(session, today=today, hasher=hasher, rules=rules, now=now)
    second_manager = find_user_by_email(session, email_for("manager.two"))
    assert second_manager is not None, "seed_demo makes the second manager"
    session.commit()
    result = ScaleSeed(logins=list(demo.logins))
    result.grants = seed_grants(session, second_manager, ambassadors, now, rng)
    session.commit()

    enrolled = session.scalar(select(func.count()).select_from(Ambassador)) or 0
    if ambassadors - enrolled < 2:
        raise ScaleRefused(
            f"The database has {enrolled:,} ambassadors already; ask for at least 2 more."
        )
    books = _therapy_books(session, today.year, second_manager)
    start = min(b.plan_year_start for b in books)
    clock = max(
        datetime.combine(start, datetime.min.time(), tzinfo=UTC),
        now - timedelta(days=30),
    )
    loader = writer(session, books[0], clock, key_prefix="scale", email_domain="scale.ex")
    least = loader.postings + ambassadors + 2 * MOST_POSTINGS_PER_ACTIVITY
    if least > postings:
        raise ScaleRefused(f"--postings must be at least {least:,} for this dataset.")
    builder = _Builder(loader, books, rng, now)
    builder.enrol(ambassadors - enrolled, [p.id for p in session.scalars(select(Programme))])
    for fund_books in books:
        if fund_books.wallet_ids:
            opening = OPENING_ALLOWANCE[fund_books.currency]
            cohort = opening * len(fund_books.wallet_ids)
            builder.ensure_pool(fund_books, cohort)
            loader.cohort_allowance(opening, fund_books)
            builder.pool[fund_books.fund_id] -= cohort
    builder.fill(postings)
    builder.close_batches()
    loader.flush()
    settle_storage(session)
    result.ambassadors = session.scalar(select(func.count()).select_from(Ambassador)) or 0
    result.postings = session.scalar(select(func.count()).select_from(Posting)) or 0
    result.gifts = session.scalar(select(func.count()).select_from(Gift)) or 0
    result.redemptions = session.scalar(select(func.count()).select_from(Redemption)) or 0
    session.rollback()
    return result


def _therapy_books(session: Session, year: int, manager: User) -> list[Books]:
    """The books of the plan year's US and UK therapy funds, holding the wallets of the
    current ambassadors already there (opened where missing), as a cohort allocation
    would reach them."""
    finance = session.scalars(select(User).where(User.email == email_for("finance"))).one()
    programme = session.scalars(select(Programme).order_by(Programme.id)).first()
    assert programme is not None
    books = []
    for country, currency in ((Country.US, "USD"), (Country.GB, "GBP")):
        fund = session.scalars(
            select(Fund).where(
                Fund.kind == FundKind.THERAPY,
                Fund.currency == currency,
                Fund.plan_year_start <= date(year, 12, 31),
                Fund.plan_year_end >= date(year, 1, 1),
            )
        ).one()
        books.append(
            Books(
                fund_id=fund.id,
                manager_id=manager.id,
                finance_id=finance.id,
                programme_id=programme.id,
                pool_id=fund_account(session, fund.id, AccountKind.FUND).id,
                payable_id=fund_account(session, fund.id, AccountKind.PAYABLE_TO_PROVIDERS).id,
                paid_id=fund_account(session, fund.id, AccountKind.PAID_TO_PROVIDERS).id,
                plan_year_start=fund.plan_year_start,
                currency=currency,
                country=country,
                source_id=fund_account(session, fund.id, AccountKind.BUDGET_SOURCE).id,
                deadline=plan_year_deadline(fund),
            )
        )
        current = session.scalars(
            select(Ambassador)
            .where(Ambassador.country == country, Ambassador.cohort_status == CohortStatus.CURRENT)
            .order_by(Ambassador.id)
        )
        for ambassador in current:
            wallet = open_wallet(session, fund, ambassador.user, WalletKind.AMBASSADOR)
            books[-1].join(
                ambassador.id,
                ambassador.user_id,
                wallet.id,
                wallet.account_id,
                wallet.hold_account_id,
            )
    session.commit()
    return books


class _Builder:
    """Chooses what happens to whom and hands it to the writer; keeps the funds' pools above
    what it allocates and groups paid redemptions into batches."""

    def __init__(
        self, loader: HistoryWriter, books: list[Books], rng: random.Random, now: datetime
    ) -> None:
        self.loader = loader
        self.books = books
        self.rng = rng
        self.now = now
        self.pool = {b.fund_id: loader.session.get_one(Account, b.pool_id).balance for b in books}
        loader.session.rollback()
        self.batches: dict[str, tuple[str, list[int], int]] = {}
        self.batch_numbers: dict[str, int] = defaultdict(int)
        names, weights = zip(*ACTIVITIES, strict=True)
        self.activities: tuple[str, ...] = names
        self.weights: tuple[int, ...] = weights
        self.people = 0

    def person(self, domain: str) -> Person:
        self.people += 1
        first = FIRST_NAMES[self.rng.randrange(len(FIRST_NAMES))]
        last = LAST_NAMES[self.rng.randrange(len(LAST_NAMES))]
        return Person(
            f"{first} {last}",
            f"{first.lower()}.{last.lower()}.{self.people}@{domain}",
        )

    def enrol(self, count: int, programme_ids: list[int]) -> None:
        """``count`` ambassadors: three in five in the US, across the programmes; most
        current, some upcoming and some alumni (who hold no wallet)."""
        us, uk = self.books
        for number in range(count):
            books = us if number % 5 < 3 else uk
            band = number % 50
            status = (
                CohortStatus.ALUMNI
                if band < 3
                else CohortStatus.UPCOMING
                if band < 5
                else CohortStatus.CURRENT
            )
            self.loader.enrol(
                books,
                programme_ids[number % len(programme_ids)],
                status,
                self.person("artists.example"),
            )
            self.loader.flush_when_full()
        self.loader.flush()

    def ensure_pool(self, books: Books, amount: int) -> None:
        """Raise the fund's budget when its pool has less than ``amount`` left."""
        if self.pool[books.fund_id] >= amount:
            return
        step = max(BUDGET_STEP, amount)
        self.loader.budget_increase(step, books, "Budget raised for the cohort's sessions")
        self.pool[books.fund_id] += step

    def allowance(self, books: Books, slot: int, amount: int) -> None:
        self.ensure_pool(books, amount)
        self.loader.allowance(slot, amount, books)
        self.pool[books.fund_id] -= amount

    def reference(self, books: Books) -> str:
        """The payment reference of the open batch of ``books``' currency (opened if none)."""
        if books.currency not in self.batches:
            self.batch_numbers[books.currency] += 1
            number = self.batch_numbers[books.currency]
            self.batches[books.currency] = (f"BATCH-{books.currency}-{number:06d}", [], 0)
        return self.batches[books.currency][0]

    def join_batch(self, books: Books, redemption_id: int, amount: int) -> None:
        """Count a paid redemption in its batch; a full batch is paid as one."""
        reference, members, total = self.batches[books.currency]
        self.batches[books.currency] = (reference, [*members, redemption_id], total + amount)
        if len(members) + 1 >= PAYOUT_BATCH:
            self.close_batch(books)

    def close_batch(self, books: Books) -> None:
        """Pay the open batch of ``books``' currency as one batch."""
        reference, members, total = self.batches.pop(books.currency)
        self.loader.pay_batch(books, reference, members, total)

    def close_batches(self) -> None:
        """Pay every batch still open: every paid redemption is paid in a batch."""
        for books in self.books:
            if books.currency in self.batches:
                self.close_batch(books)

    def fill(self, postings: int) -> None:
        """Activities on random wallets until the ledger holds exactly ``postings``."""
        loader = self.loader
        while postings - loader.postings >= 2 * MOST_POSTINGS_PER_ACTIVITY:
            self.activity(self.rng.choices(self.activities, self.weights)[0])
            loader.flush_when_full()
        books = self.books[0]
        self.ensure_pool(books, 2 * MOST_POSTINGS_PER_ACTIVITY * 20_000)
        remaining = postings - loader.postings
        if remaining % 2:
            slots = self.rng.sample(range(len(books.wallet_ids)), 2)
            loader.cohort_allowance(5_000, books, slots)
            self.pool[books.fund_id] -= 10_000
            remaining -= 3
        for _ in range(remaining // 2):
            self.allowance(books, self.rng.randrange(len(books.wallet_ids)), 5_000)

    def activity(self, name: str) -> None:
        books = self.books[0] if self.rng.random() < 0.6 else self.books[1]
        if not books.wallet_ids:
            books = self.books[0]
        slot = self.rng.randrange(len(books.wallet_ids))
        amount = 100 * self.rng.randint(*CYCLE_DOLLARS)
        self.allowance(books, slot, amount)
        if name == "allowance":
            return
        if name.startswith("gift "):
            relation = self.rng.choice(list(Relation))
            self.loader.gift(
                slot,
                amount,
                GiftState(name.removeprefix("gift ")),
                books,
                recipient=self.person("crew.example"),
                relation=relation,
                now=self.now,
            )
            return
        state = RedemptionState(name)
        provider = self.rng.choice(PROVIDERS[books.currency])
        paid = state is RedemptionState.PAID
        reference = self.reference(books) if paid else None
        redemption_id = self.loader.redemption(
            slot,
            amount,
            state,
            books,
            provider=provider,
            reference=reference,
            reason="The receipt does not show the session date." if name == "rejected" else "",
        )
        if paid:
            self.join_batch(books, redemption_id, amount)
