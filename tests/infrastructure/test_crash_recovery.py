"""Crash recovery: gunicorn is killed with SIGKILL in the middle of load and started again.

Two gunicorn workers serve the application on a loopback port while client threads, each
signed in as the demo ambassador, redeem credit and give gifts through the real forms (CSRF
token and idempotency key read from each page). Every operation the client saw
acknowledged (a redirect to the wallet carrying the success message) is remembered with
the form it posted. Then the whole process group is killed, the server started again on the
same socket, and the database must hold every acknowledged operation (its idempotency
record and its gift or redemption with the ledger transaction that moved the credit),
nothing half-written (the ledger and the audit chain verify, every transaction has its
postings, every gift and redemption its transaction), and the same forms, posted again,
must replay without posting anything twice.

The database is this test's own: a SQLite file, or a PostgreSQL schema when
``TEST_DATABASE_URL`` is set.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from http.client import HTTPConnection, HTTPException
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from grants.clock import today_in
from grants.domain import allowances, funds
from grants.domain.audit import verify_chain
from grants.domain.ledger import verify_ledger
from grants.domain.money import Money
from grants.extensions import db
from grants.models import (
    Ambassador,
    Fund,
    FundKind,
    Gift,
    IdempotencyRecord,
    LedgerTransaction,
    Posting,
    Redemption,
    User,
    Wallet,
)
from grants.security import password_hasher, password_rules
from grants.seed.demo import DEMO_PASSWORD, email_for, seed_demo
from tests.conftest import FAST_ARGON2
from tests.support import require
from tests.wallets import verified_provider

GUNICORN = Path(sys.executable).parent / "gunicorn"
HOST = "127.0.0.1"
CLIENTS = 4
ACKNOWLEDGED_BEFORE_KILL = 24
"""Operations acknowledged before the kill, which comes while a form is being posted (or
after LOAD_SECONDS, however many there are)."""
LOAD_SECONDS = 15.0
TOP_UP = 10_000_000
"""Minor units allocated to the demo ambassador, far more than the load spends."""
FLASHES = {
    "redeem": ("Your request is with finance.", "This request was already sent"),
    "gift": ("is waiting for them", "This gift was already given"),
}
"""Per operation: the success message of a first request, and of a replayed one."""
OPERATIONS = {"redeem": "redemption.request", "gift": "gift.give"}


# --- the server ----------------------------------------------------------------------------


class Server:
    """gunicorn with two workers, in a process group of its own, serving on a loopback
    socket that the test binds and keeps, so that a restart serves on the same port."""

    def __init__(self, environment: dict[str, str], log: Path) -> None:
        self.environment = environment
        self.log = log
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind((HOST, 0))
        self.listener.listen(128)
        self.port: int = self.listener.getsockname()[1]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(GUNICORN),
                    "--workers",
                    "2",
                    "--bind",
                    f"fd://{self.listener.fileno()}",
                    "--no-control-socket",
                    "grants:create_app()",
                ],
                env=self.environment,
                pass_fds=(self.listener.fileno(),),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text(errors="replace")
            connection = HTTPConnection(HOST, self.port, timeout=5)
            try:
                connection.request("GET", "/login")
                if connection.getresponse().status == 200:
                    return
            except (OSError, HTTPException):
                pass
            finally:
                connection.close()
            time.sleep(0.1)
        raise AssertionError(f"gunicorn did not start: {self.log.read_text(errors='replace')}")

    def kill(self) -> None:
        """SIGKILL the master and every worker at once, as a power cut would."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        with suppress(ProcessLookupError):
            if self.process is not None:
                os.killpg(self.process.pid, signal.SIGKILL)
        self.listener.close()


@contextmanager
def gunicorn(environment: dict[str, str], log: Path) -> Iterator[Server]:
    server = Server(environment, log)
    try:
        yield server
    finally:
        server.stop()


# --- the client ----------------------------------------------------------------------------


class NoAnswer(Exception):
    """The connection broke before an answer came."""


CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
KEY = re.compile(r'name="key"[^>]*value="([^"]+)"')


@dataclass(frozen=True)
class Submission:
    """A form as posted: which operation, where, and every field (its key included)."""

    operation: str
    path: str
    fields: dict[str, str]

    @property
    def key(self) -> str:
        return self.fields["key"]


class Browser:
    """A signed-in browser: its cookies, one request per connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, str, str, dict[str, str]]:
        """Status, Location, body and the cookies the answer set."""
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection = HTTPConnection(HOST, self.port, timeout=30)
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read().decode()
            finally:
                connection.close()
        except (OSError, HTTPException) as error:
            raise NoAnswer(str(error)) from error
        set_now: dict[str, str] = {}
        for header in response.headers.get_all("Set-Cookie") or []:
            cookie: SimpleCookie = SimpleCookie()
            cookie.load(header)
            set_now.update({name: morsel.value for name, morsel in cookie.items()})
        self.cookies.update(set_now)
        return response.status, response.headers.get("Location", ""), data, set_now

    def form(self, path: str) -> dict[str, str]:
        status, _, page, _ = self.request("GET", path)
        assert status == 200, f"{path} answered {status}"
        csrf, key = CSRF.search(page), KEY.search(page)
        assert csrf, f"no CSRF token on {path}"
        assert key, f"no idempotency key on {path}"
        return {"csrf_token": csrf.group(1), "key": key.group(1)}

    def sign_in(self, email: str) -> None:
        status, _, page, _ = self.request("GET", "/login")
        csrf = CSRF.search(page)
        assert status == 200
        assert csrf
        fields = {"csrf_token": csrf.group(1), "email": email, "password": DEMO_PASSWORD}
        status, _, _, _ = self.request("POST", "/login", fields)
        assert status == 302, f"signing in as {email} answered {status}"


def flashes(app: Flask, cookies: dict[str, str]) -> list[str]:
    """The messages flashed into the session cookie an answer set."""
    value = cookies.get(app.config.get("SESSION_COOKIE_NAME", "session"))
    if not value:
        return []
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    assert serializer is not None
    session: dict[str, Any] = serializer.loads(value)
    return [message for category, message in session.get("_flashes", []) if category == "success"]


class Client(threading.Thread):
    """Redeems and gives, one after the other, until stopped; remembers what the server
    acknowledged, what got no answer, and anything else it was told."""

    def __init__(
        self, app: Flask, port: int, wallet_path: str, number: int, provider_id: int
    ) -> None:
        super().__init__(daemon=True)
        self.app = app
        self.browser = Browser(port)
        self.wallet_path = wallet_path
        self.provider_id = provider_id
        self.number = number
        self.stop = threading.Event()
        self.posting = threading.Event()
        """Set while a form is posted and its answer awaited."""
        self.acknowledged: list[Submission] = []
        self.in_doubt: list[Submission] = []
        self.unexpected: list[str] = []

    def run(self) -> None:
        count = 0
        while not self.stop.is_set():
            count += 1
            operation = "redeem" if count % 2 else "gift"
            try:
                self.send(operation, count)
            except NoAnswer:
                continue
            except Exception as error:  # the thread reports; the test asserts
                self.unexpected.append(repr(error))
                return

    def send(self, operation: str, count: int) -> None:
        path = f"{self.wallet_path}/{'redeem' if operation == 'redeem' else 'give'}"
        fields = self.browser.form(path)
        cents = 100 + 7 * self.number + count
        amount = f"{cents // 100}.{cents % 100:02d}"
        if operation == "redeem":
            fields |= {
                "provider_id": str(self.provider_id),
                "session_date": today_in("America/New_York").isoformat(),  # Avery's today
                "amount": amount,
            }
        else:
            fields |= {
                "recipient_name": f"Crew {self.number}-{count}",
                "recipient_email": f"crew.{self.number}.{count}@crash.example",
                "relation": "crew",
                "amount": amount,
            }
        submission = Submission(operation, path, fields)
        self.posting.set()
        try:
            status, location, _, cookies = self.browser.request("POST", path, fields)
        except NoAnswer:
            self.in_doubt.append(submission)
            raise
        finally:
            self.posting.clear()
        messages = flashes(self.app, cookies)
        if (
            status == 302
            and location.endswith("/wallet/")
            and messages
            and FLASHES[operation][0] in messages[-1]
        ):
            self.acknowledged.append(submission)
            self.browser.request("GET", location)
        else:
            self.unexpected.append(f"{operation} answered {status} {location}")


# --- the database --------------------------------------------------------------------------


def seed(app: Flask) -> str:
    """The demo data, a large allowance for the demo ambassador; the path of their wallet."""
    with app.app_context():
        session = db.session()
        seed_demo(
            session,
            today=datetime.now(UTC).date(),
            hasher=password_hasher(),
            rules=password_rules(),
        )
        manager = session.scalars(select(User).where(User.email == email_for("manager"))).one()
        user = session.scalars(select(User).where(User.email == email_for("ambassador"))).one()
        ambassador = session.scalars(select(Ambassador).where(Ambassador.user_id == user.id)).one()
        wallet = session.scalars(
            select(Wallet)
            .join(Fund, Fund.id == Wallet.fund_id)
            .where(Wallet.user_id == user.id, Fund.kind == FundKind.THERAPY)
        ).one()
        top_up = Money(TOP_UP, wallet.fund.currency)
        funds.change_budget(
            session,
            key="crash:budget",
            actor=manager,
            fund_id=wallet.fund_id,
            amount=top_up,
            reason="Crash test",
        )
        allowances.allocate_allowance(
            session,
            key="crash:allowance",
            actor=manager,
            fund_id=wallet.fund_id,
            ambassador_id=ambassador.id,
            amount=top_up,
        )
        session.commit()
        return f"/wallet/{wallet.id}"


def outcome_of(key: str) -> dict[str, Any]:
    record = db.session.scalars(select(IdempotencyRecord).where(IdempotencyRecord.key == key)).one()
    result: dict[str, Any] = json.loads(record.outcome)["result"]
    return result


def check_balanced(transaction_id: int, account_id: int) -> None:
    """The transaction exists, its postings sum to zero, and one of them moves the wallet."""
    transaction = db.session.get(LedgerTransaction, transaction_id)
    assert transaction is not None
    amounts = {p.account_id: p.amount for p in transaction.postings}
    assert len(transaction.postings) >= 2
    assert sum(p.amount for p in transaction.postings) == 0
    assert amounts.get(account_id, 0) < 0


def check_acknowledged(submission: Submission, wallet: Wallet) -> None:
    """The acknowledged operation's record, row and transaction are all in the database."""
    result = outcome_of(submission.key)
    record = db.session.scalars(
        select(IdempotencyRecord).where(IdempotencyRecord.key == submission.key)
    ).one()
    assert record.operation == OPERATIONS[submission.operation]
    cents = int(submission.fields["amount"].replace(".", ""))
    if submission.operation == "redeem":
        redemption = db.session.get(Redemption, result["object_id"])
        assert redemption is not None
        assert (redemption.wallet_id, redemption.amount) == (wallet.id, cents)
        assert redemption.provider_id == int(submission.fields["provider_id"])
    else:
        gift = db.session.get(Gift, result["object_id"])
        assert gift is not None
        assert (gift.giver_wallet_id, gift.amount) == (wallet.id, cents)
        assert gift.recipient_email == submission.fields["recipient_email"]
    check_balanced(result["transaction_id"], wallet.account_id)


def check_whole(wallet: Wallet) -> None:
    """Nothing half-written: the ledger and the audit chain verify, every transaction has
    postings, and every gift and redemption from the loaded wallet has the record and
    transaction that made it (the demo data's own gift, made before the load, aside)."""
    session = db.session()
    assert verify_ledger(session) == []
    assert verify_chain(session) == []
    empty = select(LedgerTransaction.id).where(
        ~select(Posting.id).where(Posting.transaction_id == LedgerTransaction.id).exists()
    )
    assert session.scalars(empty).all() == []
    made: dict[tuple[str, int], int] = {}
    records = select(IdempotencyRecord).where(
        IdempotencyRecord.operation.in_(OPERATIONS.values()),
        ~IdempotencyRecord.key.startswith("demo:"),
    )
    for record in session.scalars(records):
        result = json.loads(record.outcome).get("result")
        if result is not None:
            made[(record.operation, result["object_id"])] = result["transaction_id"]
    gifts = session.scalars(select(Gift.id).where(Gift.giver_wallet_id == wallet.id)).all()
    redemptions = session.scalars(
        select(Redemption.id).where(Redemption.wallet_id == wallet.id)
    ).all()
    assert len(made) == len(gifts) + len(redemptions)
    for operation, ids in (("gift.give", gifts), ("redemption.request", redemptions)):
        for object_id in ids:
            check_balanced(made[(operation, object_id)], wallet.account_id)


def count(model: type[Any]) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def replay(app: Flask, browser: Browser, submission: Submission) -> str:
    """Post the same form again: ``first`` if it was done now, ``replayed`` if it had been."""
    status, location, _, cookies = browser.request("POST", submission.path, submission.fields)
    assert (status, location.endswith("/wallet/")) == (302, True), (status, location)
    messages = flashes(app, cookies)
    assert messages, "no message"
    first, replayed = FLASHES[submission.operation]
    assert (first in messages[-1]) != (replayed in messages[-1]), messages[-1]
    return "first" if first in messages[-1] else "replayed"


# --- the test ------------------------------------------------------------------------------


def run_load(clients: list[Client], enough: Callable[[], bool]) -> None:
    for client in clients:
        client.start()
    deadline = time.monotonic() + LOAD_SECONDS
    while time.monotonic() < deadline and not enough():
        time.sleep(0.05)


def test_acknowledged_operations_survive_sigkill_and_replay_once(
    make_app, tmp_path: Path, database_url: str
) -> None:  # type: ignore[no-untyped-def]
    require(GUNICORN.exists(), f"gunicorn is not installed at {GUNICORN}")
    started = time.monotonic()
    app: Flask = make_app()
    wallet_path = seed(app)
    wallet_id = int(wallet_path.rsplit("/", 1)[1])
    provider_id = verified_provider(app)
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GRANTS_")},
        "GRANTS_DATABASE_URL": database_url,
        "GRANTS_INSTANCE_PATH": str(tmp_path / "instance"),
        "GRANTS_RATE_LIMITS_ENABLED": "false",
        **{f"GRANTS_{name}": str(value) for name, value in FAST_ARGON2.items()},
    }
    log = tmp_path / "gunicorn.log"

    with gunicorn(environment, log) as server:
        server.start()
        clients = [Client(app, server.port, wallet_path, n, provider_id) for n in range(CLIENTS)]
        for client in clients:
            client.browser.sign_in(email_for("ambassador"))

        run_load(
            clients,
            lambda: (
                sum(len(c.acknowledged) for c in clients) >= ACKNOWLEDGED_BEFORE_KILL
                and any(c.posting.is_set() for c in clients)
            ),
        )
        server.kill()
        for client in clients:
            client.stop.set()
        killed_at = time.monotonic()
        server.start()
        restarted_in = time.monotonic() - killed_at
        for client in clients:
            client.join(30)
            assert not client.is_alive()

        acknowledged = [s for c in clients for s in c.acknowledged]
        in_doubt = [s for c in clients for s in c.in_doubt]
        assert [u for c in clients for u in c.unexpected] == []
        assert len(acknowledged) >= 4, f"only {len(acknowledged)} operations before the kill"

        with app.app_context():
            wallet = db.session.get_one(Wallet, wallet_id)
            for submission in acknowledged:
                check_acknowledged(submission, wallet)
            check_whole(wallet)
            before = (count(Posting), count(Gift), count(Redemption), count(IdempotencyRecord))
            committed = {
                s.key
                for s in in_doubt
                if db.session.scalar(
                    select(IdempotencyRecord.id).where(IdempotencyRecord.key == s.key)
                )
            }
            db.session.rollback()

        by_client = {id(s): c for c in clients for s in [*c.acknowledged, *c.in_doubt]}
        for submission in acknowledged:
            assert replay(app, by_client[id(submission)].browser, submission) == "replayed"

        with app.app_context():
            after = (count(Posting), count(Gift), count(Redemption), count(IdempotencyRecord))
            assert after == before, "an acknowledged operation posted again on replay"
            db.session.rollback()

        for submission in in_doubt:
            outcome = replay(app, by_client[id(submission)].browser, submission)
            assert outcome == ("replayed" if submission.key in committed else "first")

        with app.app_context():
            wallet = db.session.get_one(Wallet, wallet_id)
            for submission in [*acknowledged, *in_doubt]:
                check_acknowledged(submission, wallet)
            check_whole(wallet)
            fresh = len(in_doubt) - len(committed)
            assert count(IdempotencyRecord) == before[3] + fresh
            assert count(Gift) + count(Redemption) == before[1] + before[2] + fresh
            db.session.rollback()

    elapsed = time.monotonic() - started
    print(
        f"\ncrash recovery on {make_url(database_url).get_backend_name()}: "
        f"{len(acknowledged)} acknowledged and {len(in_doubt)} in flight at the kill "
        f"({len(committed)} of them committed), "
        f"restart {restarted_in:.1f} s, {elapsed:.1f} s in all"
    )
