"""Ledger benchmark: how fast the credit operations run on a large ledger against the floor
of their own statements, and whether a wallet's balance read stays as fast as the ledger
grows.

Run from the project root, on SQLite (the default) or on PostgreSQL::

    .venv/bin/python bench/ledger_bench.py
    .venv/bin/python bench/ledger_bench.py --postgres
    .venv/bin/python bench/ledger_bench.py --postgres postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/ledger_bench.py --wallets 500 --postings 20000 --ops 300   # quick look

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
4. times a bare one-row INSERT and COMMIT on the same database (the ceiling, run before and
   after, for scale); then, for each of allocate, gift, claim and redeem, ``--ops`` requests
   of the domain operation with a fresh idempotency key followed by COMMIT, each followed by
   one request of its floor (below), so that the operation and its floor see the same moments
   of a noisy machine;
5. checks the ledger and the audit chain again and prints the figures, the targets and the
   peak memory.

An operation's floor is the same statements the operation sends, sent straight to the
driver without the ORM or the domain's Python: what the database alone costs for that
request. Rather than a hand-written copy of each operation's SQL, which goes stale as the
domain changes, each floor request is recorded from the operation itself and replayed:

- the next request of the operation is prepared as for timing (its own idempotency key,
  wallet, gift or recipient), its transaction begun, and the operation run once untimed
  while every call on the driver's cursor is recorded, with its SQL, its parameters as the
  driver received them and the rows it touched: SQLAlchemy's through the dialect's
  ``do_execute`` events, and the domain's prepared statements
  (``grants.domain.statements.Prepared``, which bypass the engine's events) through a
  recording cursor. On SQLite the driver's trace of the statements it ran must agree with
  the recording, so that nothing the operation sends is missed;
- that transaction is rolled back, which frees every value the request made unique (its
  idempotency key, the audit sequence number and hash it chained to, a gift's token, a new
  recipient's email, the ids that ``RETURNING`` gave). On PostgreSQL, whose sequences do not
  roll back, the schema's sequences are set back to where they were;
- the clock starts, a transaction begins as for the operation (``BEGIN IMMEDIATE`` on
  SQLite), the recorded calls are sent again on the driver's cursor, in order, with the
  same parameters (``executemany`` where the operation used it), each result is fetched,
  and the transaction commits. The database is given exactly the request the operation
  would have given it, savepoints included, and ends in the state the operation would have
  left, so the final checks (ledger, audit chain, counts) cover the floors' rows too. Each
  call must touch as many rows as it did when recorded (a conditional update that moved one
  balance must move it again), else the floor is reported as not faithful.

The floor leaves out, by design, everything that is Python: the ORM's flush and loading,
the domain's checks, building the parameters (bind processing included), hashing the audit
event, the idempotency request and a new recipient's password. Its statement count is the
operation's.

Targets: each of allocate, gift, claim and redeem takes no more than 1 / 0.7 of the time of
its floor (median floor time divided by median operation time at least 0.7), and the balance
read at the full size takes no more than 1.5 times as long as at 10,000 postings.
``--check`` makes the exit status 1 when a target is missed or a check fails; without it the
exit status is 0 whatever the figures. ``--profile OPERATION`` shows where an operation's
time goes. The load average is printed at the start and the end: on a machine busier than
its processors, an operation of a few milliseconds is paused for other processes far more
often than its floor of a fraction of one, and the ratios come out low.
"""

from __future__ import annotations

import argparse
import cProfile
import math
import os
import platform
import pstats
import random
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grants import create_app  # noqa: E402
from grants.config import Defaults  # noqa: E402
from grants.database import normalise_database_url  # noqa: E402
from grants.domain import allowances, claims, funds, gifts, redemptions  # noqa: E402
from grants.domain.accounts import create_user  # noqa: E402
from grants.domain.audit import verify_chain  # noqa: E402
from grants.domain.claims import NewRecipient  # noqa: E402
from grants.domain.funds import open_fund  # noqa: E402
from grants.domain.ledger import fund_account, verify_ledger  # noqa: E402
from grants.domain.money import Money  # noqa: E402
from grants.domain.statements import Prepared  # noqa: E402
from grants.domain.wallets import wallet_balances  # noqa: E402
from grants.extensions import db  # noqa: E402
from grants.models import (  # noqa: E402
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
from grants.security import password_hasher, password_rules  # noqa: E402
from grants.seed.bulk import is_postgres, settle_storage  # noqa: E402
from grants.seed.loader import CYCLE_DOLLARS, Books, LedgerLoader  # noqa: E402

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
SMALL_LEDGER = 10_000
"""Postings in the ledger when the first balance read is timed."""
FLOOR_TARGET = 0.7
"""Each operation's median time divided into its floor's, at least: the operation takes no
more than 1 / 0.7 of the time its own statements take the database."""
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
FLOOR = " floor"
"""Appended to an operation's name, the name of its floor: the same statements sent
straight to the driver (the module's docstring says how they are recorded and replayed)."""
THROUGH_SQLALCHEMY = " floor through SQLAlchemy"
"""Appended to an operation's name, the name of its floor sent through SQLAlchemy's
connection instead of straight to the driver: the least an operation written with
SQLAlchemy costs."""

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
    def requests_per_operation(self) -> int:
        """The requests of each operation a run makes: warm-up and timed, each for the
        operation and for its floor, and those profiled."""
        return 2 * (self.warmup + self.ops) + self.ops

    @property
    def uses_per_wallet(self) -> int:
        """The most gifts (or redemptions) one wallet makes, floors and profiling included."""
        return math.ceil(self.requests_per_operation / self.wallets)

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
            + self.requests_per_operation * ALLOCATE_AMOUNT
        )


def parse_options(argv: Sequence[str] | None) -> Options:
    """Read the command line; ``--help`` describes every option."""
    parser = argparse.ArgumentParser(
        prog="ledger_bench.py",
        description="Time the credit operations against the floor of their own statements, "
        "and the balance read, on a large ledger.",
        epilog=f"Targets: allocate, gift, claim and redeem each at least {FLOOR_TARGET} of its "
        f"floor (floor median / operation median); balance read ratio <= {READ_RATIO_TARGET}.",
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
        "--ops",
        type=int,
        default=1_000,
        help="timed requests per operation, and as many of its floor (default: %(default)s)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=50,
        help="untimed requests per operation, and of its floor, before timing "
        "(default: %(default)s)",
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

        Prepared._open = counted  # type: ignore[method-assign, assignment]

    def _seen(self, *_: object) -> None:
        self.count += 1


# --- floors: an operation's statements, recorded and replayed ------------------------------


@dataclass(frozen=True)
class Call:
    """One call an operation made on the driver's cursor."""

    sql: str
    parameters: Any
    """As the driver received them; ``None`` for a statement sent without parameters."""
    many: bool
    """Sent with ``executemany``: ``parameters`` holds one set per row."""
    rowcount: int
    """The rows it touched, as the driver counted them (-1 where the driver does not say)."""

    @property
    def executions(self) -> int:
        """How many statements the database ran for this call."""
        return len(self.parameters) if self.many else 1


class _RecordingCursor:
    """A driver cursor that records each ``execute`` and ``executemany`` it is given."""

    def __init__(self, cursor: Any, calls: list[Call]) -> None:
        self._cursor = cursor
        self._calls = calls

    def execute(self, sql: str, parameters: Any = None) -> Any:
        result = self._cursor.execute(sql, parameters)
        self._calls.append(Call(sql, parameters, False, self._cursor.rowcount))
        return result

    def executemany(self, sql: str, parameters: Any) -> Any:
        result = self._cursor.executemany(sql, parameters)
        self._calls.append(Call(sql, list(parameters), True, self._cursor.rowcount))
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


@contextmanager
def recording(engine: Engine, connection: Any) -> Iterator[list[Call]]:
    """Record every call on the driver's cursor until the block ends: SQLAlchemy's, through
    the dialect's ``do_execute``, ``do_executemany`` and ``do_execute_no_params`` events
    (which run the call themselves, as the dialect would, to read its row count), and the
    prepared statements', through a recording cursor handed out by ``Prepared._open``.

    On SQLite the driver's own trace of the statements it runs on ``connection`` (the
    session's DBAPI connection) must match the recording, else :class:`RuntimeError`: a
    statement sent some third way would otherwise be missing from the floor.
    """
    calls: list[Call] = []
    dialect = engine.dialect

    def execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
        dialect.do_execute(cursor, statement, parameters, context)
        calls.append(Call(statement, parameters, False, cursor.rowcount))
        return True

    def execute_many(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
        dialect.do_executemany(cursor, statement, parameters, context)
        calls.append(Call(statement, list(parameters), True, cursor.rowcount))
        return True

    def execute_bare(cursor: Any, statement: str, context: Any) -> bool:
        dialect.do_execute_no_params(cursor, statement, context)
        calls.append(Call(statement, None, False, cursor.rowcount))
        return True

    opened = Prepared._open

    def recorded(prepared: Prepared, session: Session) -> Any:
        form, cursor = opened(prepared, session)
        return form, _RecordingCursor(cursor, calls)

    traced: list[str] = []
    trace = getattr(connection, "set_trace_callback", None)
    listeners = (
        ("do_execute", execute),
        ("do_executemany", execute_many),
        ("do_execute_no_params", execute_bare),
    )
    for name, listener in listeners:
        event.listen(engine, name, listener)
    Prepared._open = recorded  # type: ignore[method-assign, assignment]
    if trace is not None:
        trace(traced.append)
    try:
        yield calls
    finally:
        if trace is not None:
            trace(None)
        Prepared._open = opened  # type: ignore[method-assign]
        for name, listener in listeners:
            event.remove(engine, name, listener)
    if trace is not None:
        ran = [sql for sql in traced if sql.strip().upper() != "COMMIT"]
        if len(ran) != sum(call.executions for call in calls):
            raise RuntimeError(
                f"SQLite ran {len(ran)} statements, {sum(c.executions for c in calls)} were "
                "recorded: the floor would miss some. SQLite's trace:\n  " + "\n  ".join(ran)
            )


@dataclass(frozen=True)
class Sequences:
    """Where a PostgreSQL schema's sequences stood, to set them back after a rollback (which
    leaves them advanced) so that a replay gets the ids the recorded calls refer to."""

    values: dict[str, tuple[int, bool]]

    SHOW = text(
        "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename), "
        "coalesce(last_value, start_value), last_value IS NOT NULL "
        "FROM pg_sequences WHERE schemaname = current_schema()"
    )

    @classmethod
    def read(cls, session: Session) -> Sequences:
        rows = session.execute(cls.SHOW).all()
        return cls({name: (value, called) for name, value, called in rows})

    def restore(self, session: Session) -> None:
        now = Sequences.read(session)
        for name, (value, called) in self.values.items():
            if now.values.get(name) != (value, called):
                session.execute(
                    text("SELECT setval(CAST(:name AS regclass), :value, :called)"),
                    {"name": name, "value": value, "called": called},
                )


@dataclass
class Floor:
    """One recorded request, ready to replay, and what its replays found."""

    calls: list[Call]
    rowcounts: list[int]

    def replay(self, session: Session) -> None:
        """Begin the session's transaction as the operation would (the engine's ``begin``
        event sends SQLite's ``BEGIN IMMEDIATE``), then send every recorded call on the
        driver's cursor and fetch its rows. Each call's row count is read as it was when
        recorded, before its rows are fetched."""
        driver = session.connection().connection.driver_connection
        assert driver is not None
        cursor = driver.cursor()
        counts = self.rowcounts
        for call in self.calls:
            if call.many:
                cursor.executemany(call.sql, call.parameters)
            elif call.parameters is None:
                cursor.execute(call.sql)
            else:
                cursor.execute(call.sql, call.parameters)
            counts.append(cursor.rowcount)
            if cursor.description is not None:
                cursor.fetchall()

    def replay_through_sqlalchemy(self, session: Session) -> None:
        """:meth:`replay`, with every call sent through SQLAlchemy's connection as plain SQL
        (``exec_driver_sql``): its cheapest way to the driver, with no statement to build,
        compile or cache, and no ORM. No operation written with SQLAlchemy can be faster."""
        connection = session.connection()
        counts = self.rowcounts
        for call in self.calls:
            if call.many:
                result = connection.exec_driver_sql(call.sql, list(call.parameters))
            elif call.parameters is None:
                result = connection.exec_driver_sql(call.sql)
            else:
                parameters = call.parameters
                result = connection.exec_driver_sql(
                    call.sql, tuple(parameters) if isinstance(parameters, list) else parameters
                )
            counts.append(result.rowcount)
            if result.returns_rows:
                result.fetchall()

    @property
    def faithful(self) -> bool:
        """Whether every replayed call touched as many rows as when it was recorded."""
        return self.rowcounts == [call.rowcount for call in self.calls]


def record_floor(operation: Callable[[Session], object]) -> Floor:
    """Run ``operation`` once, untimed, recording the calls it makes on the driver's cursor,
    then roll it back (and, on PostgreSQL, set the sequences back): the request its floor
    replays. The transaction is begun before recording, since the replay begins its own."""
    session = db.session()
    postgres = is_postgres(session)
    sequences = Sequences.read(session) if postgres else None
    session.commit()
    connection = session.connection()
    with recording(db.engine, connection.connection.driver_connection) as calls:
        operation(session)
        session.flush()
    session.rollback()
    if sequences is not None:
        sequences.restore(session)
        session.commit()
    session.close()
    return Floor(calls, [])


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


@dataclass
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
                today=self.today,
            )

        return redeem

    def run(
        self,
        kind: str,
        count: int,
        counter: StatementCounter,
        profiler: cProfile.Profile | None = None,
    ) -> Timing:
        """``count`` requests of ``kind``; only the operation and its COMMIT are timed (and,
        given a ``profiler``, profiled)."""
        timing = Timing(kind, [], 0)
        for _ in range(count):
            self.time(timing, self.prepare(kind), counter, profiler)
        return timing

    def run_with_floor(
        self, kind: str, count: int, counter: StatementCounter
    ) -> tuple[Timing, Timing, Timing, int]:
        """``count`` requests of the operation ``kind``, each followed by one of its floor
        (:func:`record_floor`, replayed) and one of its floor through SQLAlchemy; their
        timings, and how many floor requests were not faithful to their recording."""
        timing, floor_timing = Timing(kind, [], 0), Timing(kind + FLOOR, [], 0)
        through = Timing(kind + THROUGH_SQLALCHEMY, [], 0)
        unfaithful = 0
        for _ in range(count):
            self.time(timing, self.prepare(kind), counter)
            floor = record_floor(self.prepare(kind))
            self.time(floor_timing, floor.replay, counter, extra_statements=len(floor.calls))
            unfaithful += not floor.faithful
            floor = record_floor(self.prepare(kind))
            self.time(through, floor.replay_through_sqlalchemy, counter)
            unfaithful += not floor.faithful
        return timing, floor_timing, through, unfaithful

    @staticmethod
    def time(
        timing: Timing,
        operation: Callable[[Session], object],
        counter: StatementCounter,
        profiler: cProfile.Profile | None = None,
        extra_statements: int = 0,
    ) -> None:
        """Time ``operation`` and its COMMIT once, adding to ``timing``; ``extra_statements``
        are those it sends that the counter does not see."""
        session = db.session()
        sent = counter.count
        if profiler is not None:
            profiler.enable()
        started = time.perf_counter()
        operation(session)
        session.commit()
        timing.latencies.append(time.perf_counter() - started)
        if profiler is not None:
            profiler.disable()
        timing.statements += counter.count - sent + extra_statements
        session.close()


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


def describe_load() -> str:
    """The machine's load average, and a warning when it is busier than it has processors:
    an operation that takes milliseconds is then often paused for another process, and its
    short floor much less often, so the floor ratios come out lower than the code's."""
    averages = os.getloadavg()
    cpus = os.cpu_count() or 1
    shown = ", ".join(f"{average:.2f}" for average in averages)
    if averages[0] <= cpus:
        return f"load average {shown}"
    return (
        f"load average {shown}: BUSY, more runnable processes than the {cpus} CPUs; "
        "the operations are paused more often than their floors, so read the ratios as low"
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
        **{kind + FLOOR: f"  {kind} floor: its SQL only**" for kind in OPERATIONS},
        **{kind + THROUGH_SQLALCHEMY: f"  {kind} floor via SQLAlchemy" for kind in OPERATIONS},
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


def median_ms(timing: Timing) -> float:
    """The median of ``timing``'s requests, in milliseconds."""
    return 1000 * statistics.median(timing.latencies)


def floor_ratio(operation: Timing, floor: Timing) -> float:
    """The floor's median time divided by the operation's: 1.0 is as fast as its own SQL."""
    return median_ms(floor) / median_ms(operation)


def print_floors(timings: list[Timing]) -> list[tuple[str, float]]:
    """Each operation beside its floor, against :data:`FLOOR_TARGET`; the ratios."""
    by_name = {timing.name: timing for timing in timings}
    print(
        f"  {'operation':<11}{'median ms':>11}{'statements':>12}{'floor median ms':>17}"
        f"{'floor statements':>18}{'floor/operation':>17}  target >= {FLOOR_TARGET}"
        f"{'via SQLAlchemy ms':>20}{'floor/via':>11}"
    )
    ratios = []
    for kind in OPERATIONS:
        operation, floor = by_name[kind], by_name[kind + FLOOR]
        through = by_name[kind + THROUGH_SQLALCHEMY]
        ratio = floor_ratio(operation, floor)
        ratios.append((kind, ratio))
        print(
            f"  {kind:<11}{median_ms(operation):>11.3f}{operation.per_request:>12.1f}"
            f"{median_ms(floor):>17.3f}{floor.per_request:>18.1f}{ratio:>17.2f}  "
            f"{verdict(ratio >= FLOOR_TARGET):<12}{median_ms(through):>17.3f}"
            f"{floor_ratio(through, floor):>11.2f}"
        )
    print(
        "  via SQLAlchemy: the floor's statements sent as plain SQL through SQLAlchemy's\n"
        "    connection (exec_driver_sql); floor/via is the most any operation written with\n"
        "    SQLAlchemy can reach, before any statement is built or any rule checked"
    )
    return ratios


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
    print(f"  load      {describe_load()}")
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
    workload.run(CEILING, options.warmup, counter)
    timings = [workload.run(CEILING, options.ops, counter)]
    print(f"  {CEILING}: {timings[-1].rate:,.0f}/s", flush=True)
    unfaithful = 0
    for kind in OPERATIONS:
        workload.run_with_floor(kind, options.warmup, counter)
        timing, floor, through, missed = workload.run_with_floor(kind, options.ops, counter)
        timings += [timing, floor, through]
        unfaithful += missed
        print(
            f"  {kind}: {timing.rate:,.0f}/s, its floor {floor.rate:,.0f}/s, "
            f"floor/operation {floor_ratio(timing, floor):.2f}",
            flush=True,
        )
    timings.append(replace(workload.run(CEILING, options.ops, counter), name="ceiling again"))

    checks = final_checks(session, workload, built, unfaithful)
    passed = report(options, timings, small, large, checks)
    if options.profile:
        profile(workload, options.profile, options.ops, counter)
    return 1 if options.check and not passed else 0


@dataclass(frozen=True)
class Checks:
    """What was verified after the timed requests, as lines to print, and whether all held."""

    lines: list[str]
    passed: bool


def final_checks(session: Session, workload: Workload, built: str, unfaithful: int) -> Checks:
    """Verify the ledger and the audit chain again, count what the requests created, and
    say whether every floor request touched the rows its recording did."""
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
    requested = workload.issued["redeem"]
    counts_agree = claimed == workload.claimed and held == requested
    return Checks(
        lines=[
            f"verify_ledger after the timed requests: {after} in {after_seconds:.1f} s",
            f"audit chain of {events:,} events: {chain} ({chain_seconds:.1f} s)",
            f"gifts claimed: {claimed:,} of {workload.claimed:,} claims; redemptions held: "
            f"{held:,} of {requested:,} requests (operations and floors)",
            "floor requests that touched other rows than their recording: "
            + (f"{unfaithful:,}: do not trust the floors" if unfaithful else "none"),
        ],
        passed=built == after == "consistent"
        and not chain_problems
        and counts_agree
        and not unfaithful,
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
        "the signed-in user is loaded before the clock starts;\n  each is followed by one "
        "request of its floor"
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
        "  ** the statements the operation sent for that request, recorded from one untimed\n"
        "    run rolled back, then sent again straight to the driver with the same parameters\n"
        "    and committed: what the database alone costs for it (see the module's docstring)."
    )
    print("\nfloors: each operation's median time against its own statements' (higher is better)")
    ratios = print_floors(timings)
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
    print(f"  after the run: {describe_load()}")

    floors_met = all(ratio >= FLOOR_TARGET for _, ratio in ratios)
    read_met = read_ratio <= READ_RATIO_TARGET
    print("\ntargets")
    for kind, ratio in ratios:
        print(
            f"  {kind} >= {FLOOR_TARGET} of its floor: {ratio:.2f}  "
            f"{verdict(ratio >= FLOOR_TARGET)}"
        )
    print(
        f"  balance read ratio <= {READ_RATIO_TARGET}: {read_ratio:.2f} "
        f"({1e6 * large.median:.1f} µs at {large.postings:,} postings, "
        f"{1e6 * small.median:.1f} µs at {small.postings:,})  {verdict(read_met)}"
    )
    if not checks.passed:
        print("  a check above failed: do not trust these figures")
    return floors_met and read_met and checks.passed


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark with the command line's options."""
    return run(parse_options(argv))


if __name__ == "__main__":
    sys.exit(main())
