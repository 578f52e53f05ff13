"""Ledger benchmark: how fast the credit operations run on a large ledger, and whether a
balance read stays constant-time as the ledger grows.

It builds a database with ``--wallets`` ambassador wallets (10,000) and a ledger grown to
``--postings`` postings (1,000,000), bulk-loaded consistently (every stored balance equals
its postings; ``verify_ledger`` confirms it), then times, one request each (operation plus
commit, as a view does):

* allocate (an allowance to one ambassador), gift, claim (by a new recipient, whose account
  is created with deliberately cheap password hashing so that the ledger is what is timed),
  and redeem (a session request);
* the ceiling: a bare one-row INSERT and COMMIT on the same database;
* a wallet balance read at ~10,000 postings and again at the full size.

Run from the project root, SQLite by default or PostgreSQL with ``--postgres``::

    .venv/bin/python bench/ledger_bench.py
    .venv/bin/python bench/ledger_bench.py --postgres postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/ledger_bench.py --wallets 500 --postings 20000 --ops 100   # quick

Targets: redeem at least 0.25 of the ceiling; balance read at full size at most 1.5 times the
read at 10,000 postings. ``--check`` exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    Table,
    create_engine,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from grants import create_app
from grants.database import normalise_database_url
from grants.domain import credits
from grants.domain.accounts import create_user
from grants.domain.credits import NewRecipient, wallet_balances
from grants.domain.funds import open_fund
from grants.domain.ledger import verify_ledger
from grants.domain.money import Money
from grants.extensions import db
from grants.models import (
    Account,
    AccountKind,
    Ambassador,
    CohortStatus,
    Country,
    FundKind,
    LedgerTransaction,
    Posting,
    Programme,
    Relation,
    Role,
    TransactionKind,
    User,
    UserRole,
    Wallet,
    WalletKind,
)
from grants.security import password_hasher, password_rules

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
CHEAP_ARGON2 = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST_KIB": 8, "ARGON2_PARALLELISM": 1}
ALLOWANCE = 1_000_000
"""Each wallet's opening credit, in cents: enough for every bulk posting and timed request."""
SMALL_POSTINGS = 10_000
BATCH = 20_000
READS = 2_000
TARGET_REDEEM_RATIO = 0.25
TARGET_READ_RATIO = 1.5

ceiling_metadata = MetaData()
"""A table of the bench's own, for the ceiling: the cost of any one-row write and commit."""
ceiling_table = Table(
    "bench_ceiling",
    ceiling_metadata,
    Column("id", Integer, primary_key=True),
    Column("value", BigInteger, nullable=False),
)
CEILING_INSERT = insert(ceiling_table)


@dataclass
class World:
    """Ids of what the benchmark acts on; objects are reloaded per request, like a view does."""

    fund_id: int
    manager_id: int
    ambassador_ids: list[int]
    ambassador_user_ids: list[int]
    wallet_ids: list[int]
    account_ids: list[tuple[int, int]]
    """Each wallet's (available, held) account ids."""
    pool_account_id: int
    next_transaction_id: int
    next_posting_id: int
    postings: int


@contextmanager
def database(postgres: str | None) -> Iterator[str]:
    """A fresh, empty database: a SQLite file in a temporary folder, or a PostgreSQL schema
    made for this run and dropped afterwards."""
    if postgres is None:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        return
    url = normalise_database_url(postgres)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield (
            make_url(url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def setup_world(session: Session, wallets: int) -> World:
    """A manager, a funded USD therapy fund and ``wallets`` ambassadors with empty wallets,
    bulk-loaded; :func:`fund_wallets` gives them credit."""
    manager = create_user(
        session,
        email="manager@bench.example",
        display_name="Bench Manager",
        password=None,
        roles=[Role.MANAGER],
        hasher=password_hasher(),
        rules=password_rules(),
    )
    year = datetime.now(UTC).year
    fund = open_fund(
        session,
        name="Therapy US (bench)",
        kind=FundKind.THERAPY,
        currency="USD",
        start=date(year, 1, 1),
        end=date(year, 12, 31),
    )
    credits.change_budget(
        session,
        key="bench-budget",
        actor=manager,
        fund_id=fund.id,
        amount=Money(ALLOWANCE * (wallets + 10_000), "USD"),
        reason="Benchmark budget",
    )
    programme = Programme(code="GLOW", name="GLOW")
    session.add(programme)
    session.flush()
    pool = session.scalars(
        select(Account).where(Account.fund_id == fund.id, Account.kind == AccountKind.FUND)
    ).one()

    def next_id(model: Any) -> int:
        return (session.scalar(select(func.max(model.id))) or 0) + 1

    first_user, first_ambassador = next_id(User), next_id(Ambassador)
    first_account, first_wallet = next_id(Account), next_id(Wallet)
    first_transaction, first_posting = next_id(LedgerTransaction), next_id(Posting)
    user_ids = list(range(first_user, first_user + wallets))
    now = datetime.now(UTC)
    session.execute(
        insert(User),
        [
            {
                "id": user_id,
                "email": f"ambassador{user_id}@bench.example",
                "display_name": f"Ambassador {user_id}",
                "password_hash": None,
                "active": True,
                "locale": "en_US",
                "created_at": now,
            }
            for user_id in user_ids
        ],
    )
    session.execute(
        insert(UserRole), [{"user_id": user_id, "role": Role.AMBASSADOR} for user_id in user_ids]
    )
    ambassador_ids = list(range(first_ambassador, first_ambassador + wallets))
    session.execute(
        insert(Ambassador),
        [
            {
                "id": ambassador_id,
                "user_id": user_id,
                "programme_id": programme.id,
                "country": Country.US,
                "cohort_status": CohortStatus.CURRENT,
            }
            for ambassador_id, user_id in zip(ambassador_ids, user_ids, strict=True)
        ],
    )
    account_ids = [
        (first_account + 2 * number, first_account + 2 * number + 1) for number in range(wallets)
    ]
    session.execute(
        insert(Account),
        [
            {
                "id": account_id,
                "kind": kind,
                "currency": "USD",
                "fund_id": fund.id,
                "balance": 0,
            }
            for available, held in account_ids
            for account_id, kind in (
                (available, AccountKind.WALLET),
                (held, AccountKind.WALLET_HOLD),
            )
        ],
    )
    wallet_ids = list(range(first_wallet, first_wallet + wallets))
    session.execute(
        insert(Wallet),
        [
            {
                "id": wallet_id,
                "fund_id": fund.id,
                "user_id": user_id,
                "kind": WalletKind.AMBASSADOR,
                "account_id": available,
                "hold_account_id": held,
                "created_at": now,
            }
            for wallet_id, user_id, (available, held) in zip(
                wallet_ids, user_ids, account_ids, strict=True
            )
        ],
    )
    world = World(
        fund_id=fund.id,
        manager_id=manager.id,
        ambassador_ids=ambassador_ids,
        ambassador_user_ids=user_ids,
        wallet_ids=wallet_ids,
        account_ids=account_ids,
        pool_account_id=pool.id,
        next_transaction_id=first_transaction,
        next_posting_id=first_posting,
        postings=session.scalar(select(func.count()).select_from(Posting)) or 0,
    )
    session.commit()
    return world


def fund_wallets(session: Session, world: World, numbers: range) -> None:
    """Give the wallets at ``numbers`` their :data:`ALLOWANCE`, one transaction each."""
    load_transactions(
        session,
        world,
        [
            (world.pool_account_id, world.account_ids[n][0], ALLOWANCE, TransactionKind.ALLOWANCE)
            for n in numbers
        ],
    )
    session.execute(
        update(Account)
        .where(Account.id.in_([world.account_ids[n][0] for n in numbers]))
        .values(balance=Account.balance + ALLOWANCE)
    )
    session.execute(
        update(Account)
        .where(Account.id == world.pool_account_id)
        .values(balance=Account.balance - ALLOWANCE * len(numbers))
    )
    session.commit()


def load_transactions(
    session: Session, world: World, moves: list[tuple[int, int, int, TransactionKind]]
) -> None:
    """Append one two-posting transaction per (from, to, amount, kind), in batches.

    Balances are not touched here: each caller moves the stored balances by the same amounts.
    """
    now = datetime.now(UTC)
    for start in range(0, len(moves), BATCH):
        batch = moves[start : start + BATCH]
        first = world.next_transaction_id
        session.execute(
            insert(LedgerTransaction),
            [
                {
                    "id": first + offset,
                    "kind": kind,
                    "currency": "USD",
                    "actor_id": None,
                    "memo": "",
                    "reverses_id": None,
                    "created_at": now,
                }
                for offset, (_, _, _, kind) in enumerate(batch)
            ],
        )
        posting = world.next_posting_id
        rows = []
        for offset, (source, target, amount, _) in enumerate(batch):
            rows.append(
                {
                    "id": posting,
                    "transaction_id": first + offset,
                    "account_id": source,
                    "amount": -amount,
                }
            )
            rows.append(
                {
                    "id": posting + 1,
                    "transaction_id": first + offset,
                    "account_id": target,
                    "amount": amount,
                }
            )
            posting += 2
        session.execute(insert(Posting), rows)
        world.next_transaction_id = first + len(batch)
        world.next_posting_id = posting
        world.postings += 2 * len(batch)


def grow_ledger(session: Session, world: World, target: int, rng: random.Random) -> None:
    """Add holds of one cent from random wallets until the ledger has ``target`` postings."""
    count = max(0, (target - world.postings) // 2)
    moved: dict[int, int] = {}
    moves = []
    for _ in range(count):
        number = rng.randrange(len(world.wallet_ids))
        available, held = world.account_ids[number]
        moves.append((available, held, 1, TransactionKind.REDEMPTION_HOLD))
        moved[number] = moved.get(number, 0) + 1
    load_transactions(session, world, moves)
    for number, cents in moved.items():
        available, held = world.account_ids[number]
        session.execute(
            update(Account).where(Account.id == available).values(balance=Account.balance - cents)
        )
        session.execute(
            update(Account).where(Account.id == held).values(balance=Account.balance + cents)
        )
    session.commit()


def resync_sequences(session: Session) -> None:
    """After explicit ids, move PostgreSQL's id sequences past them (a no-op on SQLite)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for model in (User, Ambassador, Account, Wallet, LedgerTransaction, Posting):
        table = model.__tablename__
        highest = session.scalar(select(func.max(model.id)))
        session.execute(select(func.setval(func.pg_get_serial_sequence(table, "id"), highest)))
    session.commit()


def time_reads(session: Session, world: World, rng: random.Random) -> float:
    """Median seconds of one wallet balance read, each in its own short transaction."""
    samples = []
    for _ in range(READS):
        wallet_id = rng.choice(world.wallet_ids)
        started = time.perf_counter()
        wallet_balances(session, wallet_id)
        session.rollback()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def time_requests(
    session: Session, count: int, prepare: Callable[[int], Callable[[], object]]
) -> float:
    """Operations per second of ``count`` requests, each committed on its own.

    ``prepare`` does what a request does before the operation (loading the signed-in user)
    and is not timed; the operation and its commit are.
    """
    elapsed = 0.0
    for number in range(count):
        request = prepare(number)
        started = time.perf_counter()
        request()
        session.commit()
        elapsed += time.perf_counter() - started
    return count / elapsed


def run(args: argparse.Namespace) -> int:
    rng = random.Random(20261124)  # noqa: S311  (a repeatable workload, not a secret)
    with tempfile.TemporaryDirectory() as instance, database(args.postgres) as url:
        app = create_app(
            {"DATABASE_URL": url, "INSTANCE_PATH": instance, "TESTING": False, **CHEAP_ARGON2}
        )
        with app.app_context():
            session = db.session()
            db.create_all()
            ceiling_metadata.create_all(db.engine)
            print_machine(session, args)

            started = time.perf_counter()
            world = setup_world(session, args.wallets)
            funded_first = min(args.wallets, SMALL_POSTINGS // 2)
            fund_wallets(session, world, range(funded_first))
            resync_sequences(session)
            took = time.perf_counter() - started
            print(f"built {args.wallets:,} wallets, {world.postings:,} postings in {took:.1f} s")
            small_read = time_reads(session, world, rng)
            small_postings = world.postings

            started = time.perf_counter()
            fund_wallets(session, world, range(funded_first, args.wallets))
            grow_ledger(session, world, args.postings, rng)
            resync_sequences(session)
            took = time.perf_counter() - started
            print(f"grew the ledger to {world.postings:,} postings in {took:.1f} s")
            started = time.perf_counter()
            problems = verify_ledger(session)
            session.rollback()
            took = time.perf_counter() - started
            verdict = "consistent" if not problems else "; ".join(problems[:3])
            print(f"verify_ledger: {verdict} ({took:.1f} s)")
            large_read = time_reads(session, world, rng)

            figures = time_operations(session, world, args.ops, rng)
            return report(figures, small_postings, small_read, world.postings, large_read, args)


def time_operations(
    session: Session, world: World, ops: int, rng: random.Random
) -> dict[str, float]:
    """Operations per second of each timed request, and of the ceiling."""
    today = datetime.now(UTC).date()
    now = datetime.now(UTC)
    tokens: list[str] = []

    def actor(user_id: int) -> User:
        return session.get_one(User, user_id)

    def allocate(number: int) -> Callable[[], object]:
        manager, ambassador_id = actor(world.manager_id), rng.choice(world.ambassador_ids)
        return lambda: credits.allocate_allowance(
            session,
            key=f"allocate-{number}",
            actor=manager,
            fund_id=world.fund_id,
            ambassador_id=ambassador_id,
            amount=Money(500, "USD"),
        )

    def gift(number: int) -> Callable[[], object]:
        index = rng.randrange(len(world.wallet_ids))
        giver = actor(world.ambassador_user_ids[index])
        return lambda: give(number, index, giver)

    def give(number: int, index: int, giver: User) -> object:
        receipt = credits.give_gift(
            session,
            key=f"gift-{number}",
            actor=giver,
            wallet_id=world.wallet_ids[index],
            amount=Money(2_500, "USD"),
            recipient_name="Sam Crew",
            recipient_email=f"crew{number}@bench.example",
            relation=Relation.CREW,
            now=now,
        )
        assert receipt.claim_token is not None
        tokens.append(receipt.claim_token)
        return receipt

    def claim(number: int) -> Callable[[], object]:
        return lambda: credits.claim_gift(
            session,
            key=f"claim-{number}",
            token=tokens[number],
            claimant=None,
            new_recipient=NewRecipient("Sam Crew", "faders up all night long"),
            hasher=password_hasher(),
            rules=password_rules(),
            now=now,
        )

    def redeem(number: int) -> Callable[[], object]:
        index = rng.randrange(len(world.wallet_ids))
        redeemer = actor(world.ambassador_user_ids[index])
        return lambda: credits.request_redemption(
            session,
            key=f"redeem-{number}",
            actor=redeemer,
            wallet_id=world.wallet_ids[index],
            amount=Money(8_000, "USD"),
            provider_name="Dr Lee, Nashville",
            session_date=today,
            today=today,
        )

    def bare_insert(number: int) -> Callable[[], object]:
        return lambda: session.execute(CEILING_INSERT, {"value": number})

    figures = {}
    for name, request in (
        ("ceiling", bare_insert),
        ("allocate", allocate),
        ("gift", gift),
        ("claim", claim),
        ("redeem", redeem),
    ):
        figures[name] = time_requests(session, ops, request)
    return figures


def print_machine(session: Session, args: argparse.Namespace) -> None:
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        server = session.scalar(text("SHOW server_version"))
        engine = f"PostgreSQL {server}"
    else:
        engine = f"SQLite {session.scalar(text('SELECT sqlite_version()'))} (file, WAL)"
    session.rollback()
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"database: {engine}")
    print(f"size: {args.wallets:,} wallets, {args.postings:,} postings; {args.ops:,} requests each")


def report(
    figures: dict[str, float],
    small_postings: int,
    small_read: float,
    large_postings: int,
    large_read: float,
    args: argparse.Namespace,
) -> int:
    ceiling = figures["ceiling"]
    print()
    print(f"{'operation':<28}{'ops/s':>10}{'of ceiling':>12}")
    labels = {
        "ceiling": "bare insert + commit",
        "allocate": "allocate",
        "gift": "gift",
        "claim": "claim (new recipient)*",
        "redeem": "redeem",
    }
    for name, rate in figures.items():
        print(f"{labels[name]:<28}{rate:>10,.0f}{rate / ceiling:>12.2f}")
    print("* creates the recipient's account; its password is hashed with cheap argon2 settings")
    redeem_ratio = figures["redeem"] / ceiling
    read_ratio = large_read / small_read
    print()
    print(f"balance read at {small_postings:>9,} postings: {small_read * 1e6:8.1f} µs", end="")
    print(f" (median of {READS:,})")
    print(f"balance read at {large_postings:>9,} postings: {large_read * 1e6:8.1f} µs")
    print(f"read ratio: {read_ratio:.2f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory: {peak:,.0f} MB")
    print()
    redeem_ok = redeem_ratio >= TARGET_REDEEM_RATIO
    read_ok = read_ratio <= TARGET_READ_RATIO
    verdicts = {True: "met", False: "MISSED"}
    print(
        f"target redeem >= {TARGET_REDEEM_RATIO} of ceiling: "
        f"{verdicts[redeem_ok]} ({redeem_ratio:.2f})"
    )
    print(f"target read ratio <= {TARGET_READ_RATIO}: {verdicts[read_ok]} ({read_ratio:.2f})")
    return 1 if args.check and not (redeem_ok and read_ok) else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=DEFAULT_POSTGRES,
        metavar="URL",
        help="run on PostgreSQL (default URL: %(const)s)",
    )
    parser.add_argument("--wallets", type=int, default=10_000)
    parser.add_argument("--postings", type=int, default=1_000_000)
    parser.add_argument("--ops", type=int, default=500, help="requests timed per operation")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    if args.wallets < 1 or args.ops < 1 or args.postings < 2 * args.wallets:
        parser.error("need at least one wallet and one request, and two postings per wallet")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
