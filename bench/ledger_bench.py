"""Ledger benchmark: how fast the credit operations run on a large ledger, and whether a
wallet's balance read stays as fast as the ledger grows.

Run from the project root, on SQLite (the default) or on PostgreSQL::

    .venv/bin/python bench/ledger_bench.py
    .venv/bin/python bench/ledger_bench.py --postgres
    .venv/bin/python bench/ledger_bench.py --postgres postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/ledger_bench.py --wallets 200 --postings 20000 --ops 200   # quick look

One run:

1. builds a fresh database (a SQLite file in a temporary folder, or a PostgreSQL schema made
   for the run and dropped at the end) with the real application and its models;
2. opens a therapy fund through the domain, then bulk-loads ``--wallets`` ambassadors with
   their wallets and an opening cohort allowance, straight into the tables, as the domain
   would have written them (``grants.seed.loader.LedgerLoader``: a balanced transaction with its
   postings, an idempotency record and hash-chained audit events for each operation, stored
   balances moved by the postings);
3. times ``wallet_balances`` on random wallets at about 10,000 postings, grows the ledger to
   ``--postings`` postings with allowance, redemption, approval and payout cycles, checks it
   with ``verify_ledger`` and times the read again;
4. times ``--ops`` requests of each of allocate, gift, claim and redeem, each a domain
   operation with a fresh idempotency key followed by COMMIT, and the same number of bare
   one-row INSERT and COMMIT on the same database (the ceiling, run before and after);
5. checks the ledger and the audit chain again and prints the figures, the targets and the
   peak memory.

Targets: redeem runs at no less than 0.25 of the ceiling's rate, and the balance read at the
full size takes no more than 1.5 times as long as at 10,000 postings. ``--check`` makes the
exit status 1 when a target is missed or a check fails; without it the exit status is 0
whatever the figures. ``--profile OPERATION`` shows where an operation's time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import math
import os
import platform
import pstats
import random
import re
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy
from argon2 import PasswordHasher, Type
from flask import Flask
from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Integer,
    MetaData,
    Table,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from grants import create_app
from grants.config import Defaults
from grants.database import normalise_database_url
from grants.domain import allowances, claims, funds, gifts, redemptions
from grants.domain.accounts import create_user
from grants.domain.audit import chain_hash, verify_chain
from grants.domain.claims import NewRecipient
from grants.domain.funds import open_fund
from grants.domain.idempotency import request_hash
from grants.domain.ledger import fund_account, verify_ledger
from grants.domain.money import Money
from grants.domain.statements import Prepared
from grants.domain.wallets import wallet_balances
from grants.extensions import db
from grants.models import (
    AccountKind,
    AuditEvent,
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
)
from grants.security import password_hasher, password_rules
from grants.seed.bulk import is_postgres, settle_storage
from grants.seed.loader import CYCLE_DOLLARS, Books, LedgerLoader

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
SMALL_LEDGER = 10_000
"""Postings in the ledger when the first balance read is timed."""
REDEEM_TARGET = 0.25
"""Redeem's rate as a share of the ceiling's, at least."""
READ_RATIO_TARGET = 1.5
"""The balance read at full size as a multiple of the read at :data:`SMALL_LEDGER`, at most."""

BENCH_ARGON2 = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST_KIB": 8, "ARGON2_PARALLELISM": 1}
"""Cheap password hashing for the accounts that claims create, so that claims time the ledger."""
CLAIM_PASSWORD = "faders up all night long"  # noqa: S105 - a benchmark recipient's password
CURRENCY = "USD"
ALLOCATE_AMOUNT = 5_000
GIFT_AMOUNT = 2_500
REDEEM_AMOUNT = 8_000
OPENING_ALLOWANCE = 100_000
"""Each wallet's opening allowance in cents, raised if the timed requests need more."""
READ_WARMUP = 200
READ_ROUNDS = 3
OPERATIONS = ("allocate", "gift", "claim", "redeem")
CEILING = "ceiling"
FLOOR = "redeem floor"
"""A redeem's own statements sent straight to the driver: what the database alone costs."""
FLOOR_STATEMENTS = (
    "SAVEPOINT floor",
    "SELECT w.user_id, w.kind, w.account_id, w.hold_account_id, f.name, f.kind, f.currency, "
    "f.plan_year_start, f.plan_year_end, f.closed_at FROM wallets w "
    "JOIN funds f ON f.id = w.fund_id WHERE w.id = :wallet",
    "UPDATE accounts SET balance = balance - :amount WHERE id = :available AND balance >= :amount",
    "UPDATE accounts SET balance = balance + :amount WHERE id = :hold",
    "INSERT INTO ledger_transactions (kind, currency, actor_id, memo, created_at) "
    "VALUES ('redemption_hold', :currency, :actor, '', :now) RETURNING id",
    "INSERT INTO postings (transaction_id, account_id, amount) "
    "VALUES (:transaction, :available, -:amount), (:transaction, :hold, :amount)",
    "INSERT INTO redemptions (wallet_id, amount, currency, provider_name, session_date, state, "
    "reason, requested_at) VALUES (:wallet, :amount, :currency, 'Dr Lee, Nashville', :today, "
    "'requested', '', :now) RETURNING id",
    "UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, last_hash",
    "INSERT INTO audit_events (seq, occurred_at, actor_id, action, object_type, object_id, "
    "before, after, prev_hash, hash) VALUES (:seq, :now, :actor, 'redemption.request', "
    "'redemption', :redemption, '{}', :after, :prev_hash, :hash)",
    "UPDATE audit_head SET last_hash = :hash WHERE id = 1",
    "INSERT INTO idempotency_records (key, actor_id, operation, request_hash, outcome, "
    "created_at) VALUES (:key, :actor, 'redemption.request', :request_hash, :outcome, :now) "
    "ON CONFLICT (key) DO NOTHING RETURNING id",
    "RELEASE SAVEPOINT floor",
)
"""The statements of :data:`FLOOR`, in the order ``request_redemption`` sends them."""

_ceiling_metadata = MetaData()
CEILING_TABLE = Table(
    "bench_ceiling",
    _ceiling_metadata,
    Column("id", Integer, primary_key=True),
    Column("value", BigInteger, nullable=False),
)
"""A table of the benchmark's own: the ceiling writes one row of it per request."""
CEILING_INSERT = insert(CEILING_TABLE)
SUM_OF_POSTINGS = select(func.coalesce(func.sum(Posting.amount), 0)).where(
    Posting.account_id == bindparam("account_id")
)
"""A balance derived from the postings instead of read from the stored balance, for contrast."""


# --- options -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """What to build and what to time."""

    postgres_url: str | None
    sqlite_dir: Path | None
    wallets: int
    postings: int
    ops: int
    warmup: int
    reads: int
    seed: int
    check: bool
    profile: str | None

    @property
    def uses_per_wallet(self) -> int:
        """The most gifts (or redemptions) one wallet makes, profiling included."""
        return math.ceil((self.warmup + 2 * self.ops) / self.wallets)

    @property
    def opening_allowance(self) -> int:
        """Enough opening credit per wallet for every gift and redemption the run makes."""
        return max(OPENING_ALLOWANCE, self.uses_per_wallet * (GIFT_AMOUNT + REDEEM_AMOUNT))

    @property
    def budget(self) -> int:
        """A fund budget that covers the opening allowance, the cycles and the allocations."""
        cycles = self.postings // 8 + 1
        return (
            self.wallets * self.opening_allowance
            + cycles * CYCLE_DOLLARS[1] * 100
            + (self.warmup + 2 * self.ops) * ALLOCATE_AMOUNT
        )


def parse_options(argv: Sequence[str] | None) -> Options:
    """Read the command line; ``--help`` describes every option."""
    parser = argparse.ArgumentParser(
        prog="ledger_bench.py",
        description="Time the credit operations and the balance read on a large ledger.",
        epilog="Targets: redeem >= 0.25 of the ceiling; balance read ratio <= 1.5.",
    )
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=DEFAULT_POSTGRES_URL,
        metavar="URL",
        help="run on PostgreSQL, in a schema made for the run (URL default: %(const)s)",
    )
    parser.add_argument(
        "--sqlite-dir",
        type=Path,
        metavar="DIR",
        help="make the SQLite database in a temporary folder under DIR (default: the system's)",
    )
    parser.add_argument(
        "--wallets",
        type=int,
        default=10_000,
        help="ambassadors, each with a wallet (default: %(default)s)",
    )
    parser.add_argument(
        "--postings",
        type=int,
        default=1_000_000,
        help="postings in the ledger at full size (default: %(default)s)",
    )
    parser.add_argument(
        "--ops", type=int, default=1_000, help="timed requests per operation (default: %(default)s)"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=50,
        help="untimed requests per operation before timing (default: %(default)s)",
    )
    parser.add_argument(
        "--reads",
        type=int,
        default=2_000,
        help=f"timed balance reads per round, {READ_ROUNDS} rounds per ledger size "
        "(default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=1, help="workload seed (default: %(default)s)")
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when a target is missed or the ledger or audit chain fails to verify",
    )
    parser.add_argument(
        "--profile",
        choices=OPERATIONS,
        help="after timing, run --ops more requests of this operation under cProfile and "
        "print where the time goes",
    )
    args = parser.parse_args(argv)
    if args.postgres and args.sqlite_dir:
        parser.error("--sqlite-dir is for SQLite; leave it out with --postgres")
    if args.wallets < 1 or args.ops < 1 or args.reads < 1 or args.warmup < 0:
        parser.error("--wallets, --ops and --reads must be positive, --warmup not negative")
    if args.postings < args.wallets + 3:
        parser.error("--postings must be at least --wallets + 3 (the opening allowance)")
    return Options(
        postgres_url=args.postgres,
        sqlite_dir=args.sqlite_dir,
        wallets=args.wallets,
        postings=args.postings,
        ops=args.ops,
        warmup=args.warmup,
        reads=args.reads,
        seed=args.seed,
        check=args.check,
        profile=args.profile,
    )


# --- the database ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Scratch:
    """A fresh database for one run and where it lives."""

    url: str
    where: str


@contextmanager
def scratch_database(options: Options) -> Iterator[Scratch]:
    """A SQLite file in a new temporary folder, or a new PostgreSQL schema; removed afterwards."""
    if options.postgres_url is None:
        with tempfile.TemporaryDirectory(prefix="ledger-bench-", dir=options.sqlite_dir) as folder:
            path = Path(folder) / "bench.sqlite3"
            yield Scratch(f"sqlite:///{path}", f"{path} ({filesystem_of(path)})")
        return
    url = normalise_database_url(options.postgres_url)
    schema = f"ledger_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        parsed = make_url(url)
        scoped = parsed.update_query_dict({"options": f"-csearch_path={schema}"})
        where = f"{parsed.host or 'local socket'}:{parsed.port or 5432}/{parsed.database}"
        yield Scratch(scoped.render_as_string(hide_password=False), f"{where}, schema {schema}")
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def filesystem_of(path: Path) -> str:
    """The type of the file system holding ``path`` (``tmpfs`` makes SQLite commits cheap)."""
    try:
        mounts = Path("/proc/mounts").read_text(encoding="utf-8").splitlines()
    except OSError:
        return "file system unknown"
    resolved, best, kind = path.resolve(), Path(), "file system unknown"
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        mount = Path(fields[1])
        if resolved.is_relative_to(mount) and len(mount.parts) >= len(best.parts):
            best, kind = mount, fields[2]
    return kind


def build_app(scratch: Scratch, instance: str) -> Flask:
    """The real application on the scratch database, with cheap password hashing."""
    return create_app(
        {
            "DATABASE_URL": scratch.url,
            "INSTANCE_PATH": instance,
            "TESTING": False,
            "SECRET_KEY": uuid.uuid4().hex,
            **BENCH_ARGON2,
        }
    )


class StatementCounter:
    """Counts the SQL statements the engine sends (COMMIT, a driver call, is not one), and
    those the ledger's prepared statements send straight to the driver."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)
        opened = Prepared._open

        def counted(prepared: Prepared, session: Session) -> Any:
            self.count += 1
            return opened(prepared, session)

        Prepared._open = counted  # type: ignore[method-assign]

    def _seen(self, *_: object) -> None:
        self.count += 1


# --- building the ledger --------------------------------------------------------------------


def open_books(session: Session, options: Options, today: date) -> Books:
    """A manager, a finance officer and a therapy fund with its budget, through the domain."""
    people = {
        role: create_user(
            session,
            email=f"{role.value}@bench.example",
            display_name=f"Bench {role.label}",
            password=None,
            roles=[role],
            hasher=password_hasher(),
            rules=password_rules(),
        )
        for role in (Role.MANAGER, Role.FINANCE)
    }
    start = today - timedelta(days=180)
    fund = open_fund(
        session,
        name="Therapy US (benchmark)",
        kind=FundKind.THERAPY,
        currency=CURRENCY,
        start=start,
        end=start + timedelta(days=364),
    )
    funds.change_budget(
        session,
        key="bench:budget",
        actor=people[Role.MANAGER],
        fund_id=fund.id,
        amount=Money(options.budget, CURRENCY),
        reason="Benchmark budget",
    )
    programme = Programme(code="GLOW", name="GLOW")
    session.add(programme)
    session.flush()
    books = Books(
        fund_id=fund.id,
        manager_id=people[Role.MANAGER].id,
        finance_id=people[Role.FINANCE].id,
        programme_id=programme.id,
        pool_id=fund_account(session, fund.id, AccountKind.FUND).id,
        payable_id=fund_account(session, fund.id, AccountKind.PAYABLE_TO_PROVIDERS).id,
        paid_id=fund_account(session, fund.id, AccountKind.PAID_TO_PROVIDERS).id,
        plan_year_start=start,
    )
    session.commit()
    return books


# --- timing ---------------------------------------------------------------------------------


def percentile(samples: Sequence[float], share: float) -> float:
    """The ``share`` quantile of ``samples`` (nearest rank)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


@dataclass(frozen=True)
class ReadFigures:
    """Balance reads timed at one ledger size, in seconds per read."""

    postings: int
    rounds: list[list[float]]
    """:data:`READ_ROUNDS` rounds of ``wallet_balances`` reads."""
    summed: list[float]
    """Balances summed from the postings, for contrast."""

    @property
    def best(self) -> list[float]:
        """The round with the lowest median: a passing disturbance on the machine (a
        checkpoint, another process) should not decide the ratio."""
        return min(self.rounds, key=statistics.median)

    @property
    def median(self) -> float:
        return statistics.median(self.best)


def time_balance_reads(books: Books, postings: int, reads: int, rng: random.Random) -> ReadFigures:
    """Time ``wallet_balances`` on random wallets, :data:`READ_ROUNDS` rounds of ``reads``;
    then, for contrast, a tenth as many balances summed from the postings instead.

    Each read runs in a transaction of its own, opened (with a trivial statement, since
    PostgreSQL's driver sends BEGIN lazily) and rolled back outside the clock, so that the
    clock sees the read alone.
    """
    session = db.session()

    def timed(read: Callable[[int], object], count: int) -> list[float]:
        samples = []
        for _ in range(count):
            slot = rng.randrange(len(books.wallet_ids))
            session.connection().exec_driver_sql("SELECT 1")
            started = time.perf_counter()
            read(slot)
            samples.append(time.perf_counter() - started)
            session.rollback()
        return samples

    def stored(slot: int) -> object:
        return wallet_balances(session, books.wallet_ids[slot])

    def summed(slot: int) -> object:
        return session.execute(SUM_OF_POSTINGS, {"account_id": books.available_ids[slot]}).scalar()

    timed(stored, READ_WARMUP)
    rounds = [timed(stored, reads) for _ in range(READ_ROUNDS)]
    figures = ReadFigures(postings, rounds, timed(summed, max(1, reads // 10)))
    session.close()
    return figures


@dataclass(frozen=True)
class Timing:
    """``count`` timed requests of one operation."""

    name: str
    latencies: list[float]
    statements: int

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def seconds(self) -> float:
        return sum(self.latencies)

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.count / self.seconds

    @property
    def per_request(self) -> float:
        """SQL statements sent per request."""
        return self.statements / self.count


def signed_in(user_id: int) -> User:
    """Load a request's user as Flask-Login's loader does, then detach it, so that the timed
    part of the request starts a transaction of its own."""
    session = db.session()
    user = session.get_one(User, user_id)
    session.close()
    return user


class Workload:
    """The requests being timed. Each loads its signed-in user before the clock starts, then
    runs one domain operation with a fresh idempotency key and commits."""

    def __init__(self, books: Books, now: datetime, rng: random.Random) -> None:
        self.books = books
        self.now = now
        self.today = now.date()
        self.order = rng.sample(range(len(books.wallet_ids)), len(books.wallet_ids))
        """Wallets in the order requests use them: random, and evenly spread."""
        self.issued: dict[str, int] = defaultdict(int)
        self.tokens: list[str] = []
        self.claimed = 0

    def prepare(self, kind: str) -> Callable[[Session], object]:
        """Do the untimed part of the next request of ``kind`` and return its timed part."""
        number = self.issued[kind]
        self.issued[kind] += 1
        key = f"bench:{kind}:{number}"
        if kind == CEILING:
            return lambda session: session.execute(CEILING_INSERT, {"value": number})
        slot = self.order[number % len(self.order)]
        if kind == "allocate":
            return self._allocate(key, slot)
        if kind == "gift":
            return self._gift(key, slot, number)
        if kind == "claim":
            return self._claim(key, number)
        if kind == "redeem":
            return self._redeem(key, slot)
        if kind == FLOOR:
            return self._redeem_floor(key, slot)
        raise ValueError(f"no such operation: {kind}")

    def _allocate(self, key: str, slot: int) -> Callable[[Session], object]:
        manager = signed_in(self.books.manager_id)
        ambassador_id = self.books.ambassador_ids[slot]

        def allocate(session: Session) -> object:
            return allowances.allocate_allowance(
                session,
                key=key,
                actor=manager,
                fund_id=self.books.fund_id,
                ambassador_id=ambassador_id,
                amount=Money(ALLOCATE_AMOUNT, CURRENCY),
            )

        return allocate

    def _gift(self, key: str, slot: int, number: int) -> Callable[[Session], object]:
        giver = signed_in(self.books.user_ids[slot])
        wallet_id = self.books.wallet_ids[slot]

        def gift(session: Session) -> object:
            receipt = gifts.give_gift(
                session,
                key=key,
                actor=giver,
                wallet_id=wallet_id,
                amount=Money(GIFT_AMOUNT, CURRENCY),
                recipient_name=f"Crew Member {number}",
                recipient_email=f"crew{number}@bench.example",
                relation=Relation.CREW,
                message="For the tour.",
                now=self.now,
            )
            assert receipt.claim_token is not None
            self.tokens.append(receipt.claim_token)
            return receipt

        return gift

    def _claim(self, key: str, number: int) -> Callable[[Session], object]:
        if number >= len(self.tokens):
            raise RuntimeError("every claim needs a gift made before it")
        token = self.tokens[number]
        hasher, rules = password_hasher(), password_rules()

        def claim(session: Session) -> object:
            receipt = claims.claim_gift(
                session,
                key=key,
                token=token,
                claimant=None,
                new_recipient=NewRecipient(f"Crew Member {number}", CLAIM_PASSWORD),
                hasher=hasher,
                rules=rules,
                now=self.now,
            )
            self.claimed += 1
            return receipt

        return claim

    def _redeem(self, key: str, slot: int) -> Callable[[Session], object]:
        redeemer = signed_in(self.books.user_ids[slot])
        wallet_id = self.books.wallet_ids[slot]

        def redeem(session: Session) -> object:
            return redemptions.request_redemption(
                session,
                key=key,
                actor=redeemer,
                wallet_id=wallet_id,
                amount=Money(REDEEM_AMOUNT, CURRENCY),
                provider_name="Dr Lee, Nashville",
                session_date=self.today,
                now=self.now,
            )

        return redeem

    def _redeem_floor(self, key: str, slot: int) -> Callable[[Session], object]:
        """A redeem's writes without the domain code: SQLAlchemy opens and commits the
        transaction, as for the ceiling, and every statement goes straight to the driver."""
        books, user_id = self.books, self.books.user_ids[slot]

        def redeem_floor(session: Session) -> object:
            connection = session.connection()
            postgres = is_postgres(connection)
            driver = connection.connection.driver_connection
            assert driver is not None
            now = datetime.now(UTC)
            values: dict[str, Any] = {
                "wallet": books.wallet_ids[slot],
                "available": books.available_ids[slot],
                "hold": books.hold_ids[slot],
                "amount": REDEEM_AMOUNT,
                "currency": CURRENCY,
                "actor": user_id,
                "today": self.today if postgres else self.today.isoformat(),
                "now": now if postgres else now.strftime("%Y-%m-%d %H:%M:%S.%f"),
                "key": key,
                "request_hash": request_hash("redemption.request", user_id, {"key": key}),
            }
            cursor = driver.cursor()
            for statement in FLOOR_STATEMENTS:
                if postgres:
                    statement = re.sub(r"(?<!:):(\w+)", r"%(\1)s", statement)
                cursor.execute(statement, values)
                if statement.startswith("INSERT INTO ledger_transactions"):
                    values["transaction"] = cursor.fetchone()[0]
                elif statement.startswith("INSERT INTO redemptions"):
                    values["redemption"] = cursor.fetchone()[0]
                    values["after"] = json.dumps({"transaction": values["transaction"]})
                elif statement.startswith("UPDATE audit_head SET seq"):
                    values["seq"], values["prev_hash"] = cursor.fetchone()
                    event = {
                        "seq": values["seq"],
                        "occurred_at": now,
                        "actor_id": user_id,
                        "action": "redemption.request",
                        "object_type": "redemption",
                        "object_id": values["redemption"],
                        "before": "{}",
                        "after": values["after"],
                        "prev_hash": values["prev_hash"],
                    }
                    values["hash"] = chain_hash(event)
                    values["outcome"] = json.dumps({"result": {"object_id": values["redemption"]}})
                elif statement.startswith("INSERT INTO idempotency"):
                    assert cursor.fetchone() is not None
            return values["redemption"]

        return redeem_floor

    def run(
        self,
        kind: str,
        count: int,
        counter: StatementCounter,
        profiler: cProfile.Profile | None = None,
    ) -> Timing:
        """``count`` requests of ``kind``; only the operation and its COMMIT are timed (and,
        given a ``profiler``, profiled)."""
        latencies: list[float] = []
        statements = 0
        for _ in range(count):
            operation = self.prepare(kind)
            session = db.session()
            sent = counter.count
            if profiler is not None:
                profiler.enable()
            started = time.perf_counter()
            operation(session)
            session.commit()
            latencies.append(time.perf_counter() - started)
            if profiler is not None:
                profiler.disable()
            statements += counter.count - sent + (len(FLOOR_STATEMENTS) if kind == FLOOR else 0)
            session.close()
        return Timing(kind, latencies, statements)


def hash_milliseconds(time_cost: int, memory_kib: int, parallelism: int) -> float:
    """The median time of one argon2id password hash with these parameters, in milliseconds."""
    hasher = PasswordHasher(
        time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
    )
    samples = []
    for _ in range(3):
        started = time.perf_counter()
        hasher.hash(CLAIM_PASSWORD)
        samples.append(time.perf_counter() - started)
    return 1000 * statistics.median(samples)


def checked_ledger(session: Session) -> tuple[str, float]:
    """``verify_ledger``'s verdict and how long it took."""
    started = time.perf_counter()
    problems = verify_ledger(session)
    took = time.perf_counter() - started
    session.rollback()
    if not problems:
        return "consistent", took
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return "INCONSISTENT: " + "; ".join(problems[:3]) + more, took


# --- reporting ------------------------------------------------------------------------------


def describe_machine() -> str:
    """Platform, processor, Python and library versions."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = f" ({line.split(':', 1)[1].strip()})"
                break
    except OSError:
        pass
    return (
        f"{platform.platform()}, {os.cpu_count()} CPUs{model}, "
        f"Python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}"
    )


def describe_database(session: Session, where: str) -> str:
    """The database server or library, its durability settings and where the data lives."""
    if is_postgres(session):
        settings = {
            name: session.scalar(text(f"SHOW {name}"))
            for name in ("server_version", "synchronous_commit", "fsync", "shared_buffers")
        }
        session.rollback()
        return (
            f"PostgreSQL {settings['server_version']} at {where}; synchronous_commit="
            f"{settings['synchronous_commit']}, fsync={settings['fsync']}, "
            f"shared_buffers={settings['shared_buffers']}"
        )
    version = session.scalar(text("SELECT sqlite_version()"))
    journal = session.scalar(text("PRAGMA journal_mode"))
    synchronous = session.scalar(text("PRAGMA synchronous"))
    session.rollback()
    levels = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    return (
        f"SQLite {version}, file {where}; journal_mode={journal}, "
        f"synchronous={levels.get(int(synchronous or 0), synchronous)}, BEGIN IMMEDIATE"
    )


def peak_rss_megabytes() -> float:
    """The process's peak resident memory so far (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def verdict(met: bool) -> str:
    return "met" if met else "NOT MET"


def print_requests(timings: list[Timing], ceiling: float) -> None:
    """The table of timed requests against the ceiling."""
    labels = {
        "ceiling": "ceiling: bare INSERT + COMMIT",
        "ceiling again": "ceiling, run again at the end",
        "claim": "claim (new recipient)*",
        FLOOR: "redeem floor: SQL only**",
    }
    header = (
        f"  {'operation':<32}{'count':>7}{'seconds':>9}{'ops/s':>9}"
        f"{'median ms':>11}{'p95 ms':>8}{'SQL/req':>9}{'of ceiling':>12}"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    for timing in timings:
        print(
            f"  {labels.get(timing.name, timing.name):<32}{timing.count:>7,}"
            f"{timing.seconds:>9.2f}{timing.rate:>9,.0f}"
            f"{1000 * statistics.median(timing.latencies):>11.3f}"
            f"{1000 * percentile(timing.latencies, 0.95):>8.3f}"
            f"{timing.per_request:>9.1f}{timing.rate / ceiling:>12.2f}"
        )


def print_reads(small: ReadFigures, large: ReadFigures) -> None:
    """The balance-read figures at both ledger sizes."""
    print(
        f"  {'postings':>11}{'median µs':>11}{'p95 µs':>9}   {'round medians µs':<24}"
        f"{'summing postings instead, median µs':>36}"
    )
    for figures in (small, large):
        rounds = " / ".join(f"{1e6 * statistics.median(r):.1f}" for r in figures.rounds)
        print(
            f"  {figures.postings:>11,}{1e6 * figures.median:>11.1f}"
            f"{1e6 * percentile(figures.best, 0.95):>9.1f}   {rounds:<24}"
            f"{1e6 * statistics.median(figures.summed):>36.1f}"
        )


def profile(workload: Workload, kind: str, count: int, counter: StatementCounter) -> None:
    """Run ``count`` more requests of ``kind`` under cProfile and print the costliest calls."""
    if kind == "claim":
        workload.run("gift", count, counter)
    profiler = cProfile.Profile()
    workload.run(kind, count, counter, profiler)
    print(f"\nprofile of {count:,} more {kind} requests, operation and COMMIT only (top 30):")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(30)


# --- the run --------------------------------------------------------------------------------


def run(options: Options) -> int:
    """Run the benchmark on a scratch database; the exit status, per ``--check``."""
    rng = random.Random(options.seed)  # noqa: S311 - a repeatable workload, not a secret
    now = datetime.now(UTC)
    with (
        tempfile.TemporaryDirectory(prefix="ledger-bench-instance-") as instance,
        scratch_database(options) as scratch,
    ):
        app = build_app(scratch, instance)
        with app.app_context():
            try:
                return measure(options, scratch, rng, now)
            finally:
                db.session.remove()
                db.engine.dispose()


def measure(options: Options, scratch: Scratch, rng: random.Random, now: datetime) -> int:
    """Build, time, check and report inside the application context (the module's docstring
    lists the steps); the exit status."""
    db.create_all()
    _ceiling_metadata.create_all(db.engine)
    counter = StatementCounter(db.engine)
    session = db.session()
    backend = "PostgreSQL" if is_postgres(session) else "SQLite"
    print(f"ledger benchmark on {backend}", flush=True)
    print(f"  machine   {describe_machine()}")
    print(f"  database  {describe_database(session, scratch.where)}")
    print(
        f"  workload  {options.wallets:,} wallets, {options.postings:,} postings; "
        f"{options.ops:,} timed requests per operation after {options.warmup:,} untimed; "
        f"seed {options.seed}"
    )
    print("\nbuilding", flush=True)

    started = time.perf_counter()
    books = open_books(session, options, now.date())
    loader = LedgerLoader(
        session, books, datetime.combine(books.plan_year_start, datetime.min.time(), tzinfo=UTC)
    )
    loader.enrol_ambassadors(options.wallets)
    loader.cohort_allowance(options.opening_allowance)
    small_cycles = loader.grow_to(min(SMALL_LEDGER, options.postings), rng)
    settle_storage(session)
    cycled = f" and {small_cycles:,} session cycles" if small_cycles else ""
    print(
        f"  {options.wallets:,} ambassadors with wallets and an opening allowance of "
        f"${options.opening_allowance / 100:,.2f} each{cycled}: "
        f"{loader.postings:,} postings in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    small = time_balance_reads(books, loader.postings, options.reads, rng)

    started = time.perf_counter()
    cycles = loader.grow_to(options.postings, rng)
    settle_storage(session)
    took = time.perf_counter() - started
    print(
        f"  grown by {cycles:,} session cycles (allowance, redemption held, approved, paid) "
        f"to {loader.postings:,} postings in {took:.1f} s "
        f"({(loader.postings - small.postings) / took:,.0f} postings/s)",
        flush=True,
    )
    built, verify_seconds = checked_ledger(session)
    print(f"  verify_ledger at {loader.postings:,} postings: {built} in {verify_seconds:.1f} s")
    large = time_balance_reads(books, loader.postings, options.reads, rng)

    print("\ntiming requests", flush=True)
    workload = Workload(books, now, rng)
    timings = []
    for kind in (CEILING, *OPERATIONS, FLOOR):
        workload.run(kind, options.warmup, counter)
        timings.append(workload.run(kind, options.ops, counter))
        print(f"  {kind}: {timings[-1].rate:,.0f}/s", flush=True)
    timings.append(replace(workload.run(CEILING, options.ops, counter), name="ceiling again"))

    checks = final_checks(session, workload, built)
    passed = report(options, timings, small, large, checks)
    if options.profile:
        profile(workload, options.profile, options.ops, counter)
    return 1 if options.check and not passed else 0


@dataclass(frozen=True)
class Checks:
    """What was verified after the timed requests, as lines to print, and whether all held."""

    lines: list[str]
    passed: bool


def final_checks(session: Session, workload: Workload, built: str) -> Checks:
    """Verify the ledger and the audit chain again, and count what the requests created."""
    after, after_seconds = checked_ledger(session)
    started = time.perf_counter()
    chain_problems = verify_chain(session)
    chain_seconds = time.perf_counter() - started
    chain = "intact" if not chain_problems else "BROKEN: " + "; ".join(chain_problems[:3])
    events = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    claimed = session.scalar(
        select(func.count()).select_from(Gift).where(Gift.state == GiftState.CLAIMED)
    )
    held = session.scalar(
        select(func.count())
        .select_from(Redemption)
        .where(Redemption.state == RedemptionState.REQUESTED)
    )
    session.rollback()
    requested = workload.issued["redeem"] + workload.issued[FLOOR]
    counts_agree = claimed == workload.claimed and held == requested
    return Checks(
        lines=[
            f"verify_ledger after the timed requests: {after} in {after_seconds:.1f} s",
            f"audit chain of {events:,} events: {chain} ({chain_seconds:.1f} s)",
            f"gifts claimed: {claimed:,} of {workload.claimed:,} claims; redemptions held: "
            f"{held:,} of {requested:,} requests",
        ],
        passed=built == after == "consistent" and not chain_problems and counts_agree,
    )


def report(
    options: Options,
    timings: list[Timing],
    small: ReadFigures,
    large: ReadFigures,
    checks: Checks,
) -> bool:
    """Print the figures against the targets; whether every target was met and check held."""
    ceiling = max(timing.rate for timing in timings if timing.name.startswith(CEILING))
    redeem = next(timing for timing in timings if timing.name == "redeem")
    redeem_ratio = redeem.rate / ceiling
    read_ratio = large.median / small.median
    cheap_ms = hash_milliseconds(
        BENCH_ARGON2["ARGON2_TIME_COST"],
        BENCH_ARGON2["ARGON2_MEMORY_COST_KIB"],
        BENCH_ARGON2["ARGON2_PARALLELISM"],
    )
    real_ms = hash_milliseconds(
        Defaults.ARGON2_TIME_COST, Defaults.ARGON2_MEMORY_COST_KIB, Defaults.ARGON2_PARALLELISM
    )

    print(
        "\nrequests: each is one domain operation with a fresh idempotency key, then COMMIT; "
        "the signed-in user is loaded before the clock starts"
    )
    print_requests(timings, ceiling)
    print(
        f"  ratios are to the faster ceiling run, {ceiling:,.0f}/s. SQL/req counts the "
        "statements sent (SQLite's BEGIN IMMEDIATE is one; COMMIT, and the BEGIN\n"
        "  that PostgreSQL's driver sends by itself, are not).\n"
        f"  * a claim creates the recipient's account. This run hashes its password with "
        f"argon2id t={BENCH_ARGON2['ARGON2_TIME_COST']}, "
        f"m={BENCH_ARGON2['ARGON2_MEMORY_COST_KIB']} KiB, "
        f"p={BENCH_ARGON2['ARGON2_PARALLELISM']} ({cheap_ms:.2f} ms a hash);\n"
        f"    with the production settings (t={Defaults.ARGON2_TIME_COST}, "
        f"m={Defaults.ARGON2_MEMORY_COST_KIB:,} KiB, p={Defaults.ARGON2_PARALLELISM}) a hash "
        f"takes {real_ms:.0f} ms here, which alone holds a worker to about "
        f"{1000 / real_ms:,.0f} claims by new recipients a second.\n"
        "  ** the same rows as a redeem (savepoint, wallet read, two balance updates, the\n"
        "    transaction, its postings, the redemption, the audit event and head, the\n"
        "    idempotency record) written by statements sent straight to the driver: the floor a\n"
        "    redeem could reach without the domain code, on the same database."
    )
    print(
        f"\nbalance read: wallet_balances on random wallets, {READ_ROUNDS} rounds of "
        f"{options.reads:,} reads at each size, the best round's figures; each read in its "
        "own transaction,\n  opened and rolled back outside the clock"
    )
    print_reads(small, large)
    print(f"  ratio at {large.postings:,} to {small.postings:,} postings: {read_ratio:.2f}")
    if large.postings <= small.postings:
        print(f"  the ledger did not grow between the reads: use --postings above {SMALL_LEDGER:,}")

    print("\nchecks")
    for line in checks.lines:
        print(f"  {line}")
    print(f"  peak memory (RSS): {peak_rss_megabytes():,.0f} MB")

    redeem_met = redeem_ratio >= REDEEM_TARGET
    read_met = read_ratio <= READ_RATIO_TARGET
    print("\ntargets")
    print(
        f"  redeem >= {REDEEM_TARGET} of the ceiling: {redeem_ratio:.2f} ({redeem.rate:,.0f} "
        f"of {ceiling:,.0f}/s)  {verdict(redeem_met)}"
    )
    print(
        f"  balance read ratio <= {READ_RATIO_TARGET}: {read_ratio:.2f} "
        f"({1e6 * large.median:.1f} µs at {large.postings:,} postings, "
        f"{1e6 * small.median:.1f} µs at {small.postings:,})  {verdict(read_met)}"
    )
    if not checks.passed:
        print("  a check above failed: do not trust these figures")
    return redeem_met and read_met and checks.passed


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark with the command line's options."""
    return run(parse_options(argv))


if __name__ == "__main__":
    sys.exit(main())
