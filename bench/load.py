"""Load benchmark: the application under gunicorn, with several workers, on a large dataset,
taking mixed traffic from signed-in people for a bounded time.

Run from the project root, on SQLite (the default) or on PostgreSQL::

    .venv/bin/python bench/load.py               # 1,000 ambassadors, 100,000 postings, 30 s
    .venv/bin/python bench/load.py --postgres    # the same on PostgreSQL
    .venv/bin/python bench/load.py --full        # 10,000 ambassadors, 1,000,000 postings
    .venv/bin/python bench/load.py --seconds 60 --workers 4 --clients 8

One run:

1. makes a database for the run (a SQLite file in a temporary folder, or a PostgreSQL
   schema that is dropped at the end), applies the migrations and fills it with
   ``flask grants seed-scale``; the demo ambassador's wallet gets a large allowance through
   the domain so that the run does not spend it all, and the ledger is folded into the
   reports' running totals, as the background worker would have done by then;
2. serves the fair page (``bench/fair_app.py``: a signed session cookie, one indexed SELECT
   through SQLAlchemy Core, a small Jinja template) on the same database with gunicorn on
   an ephemeral port of 127.0.0.1, and times it under the same clients, each signed in to
   it as the demo ambassador (``POST /sign-in/<id>``), for the same time;
3. serves the application with the same gunicorn settings, with ``flask grants worker``
   running beside it as deployed, and drives it from client threads, each signed in as
   the demo ambassador, recipient, manager and finance user: wallet pages, redeems and
   gifts (each form's CSRF token and idempotency key read from the page), claims of those
   gifts from the links in the emails (the outbox folder), the manager's dashboards,
   report downloads (CSV tables and the PDF) and, now and then, a sign-in in a new browser;
4. times the fair page again, as in step 2, stops the servers and runs
   ``flask grants ledger verify`` and ``flask grants audit verify``.

It prints the throughput and the p50 and p99 latency of each kind of request and how many
times the fair page's p50 each takes, and the count of 5xx answers and of requests that got
no answer. Three kinds are deliberately expensive and are printed on lines of their own:
sign-ins and claims that create an account hash a password with argon2 (the production
settings: a few hundred milliseconds of a worker each here), and a PDF report renders a
document. The rest of the mix is everything else (pages, forms, redeems, gifts, claims
into an existing account, CSV downloads), and its throughput is compared with the fair
page's (the mean of its two runs) against :data:`REST_TARGET`; the share of the workers'
time the expensive kinds held is printed beside it, since they slow the rest down by
holding workers.

The exit status is 1 when there was any 5xx, any request without an answer, or a verify
command failed; the figures never decide it. Rate limits are switched off for the run:
every client comes from 127.0.0.1, and the limits would answer most of them with 429.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import os
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.client import HTTPConnection, HTTPException
from http.cookies import SimpleCookie
from pathlib import Path

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from grants import create_app  # noqa: E402
from grants.clock import today_in  # noqa: E402
from grants.database import normalise_database_url  # noqa: E402
from grants.domain import allowances, funds  # noqa: E402
from grants.domain.money import Money  # noqa: E402
from grants.extensions import db  # noqa: E402
from grants.models import Ambassador, Fund, FundKind, User, Wallet  # noqa: E402
from grants.seed.demo import DEMO_PASSWORD, email_for  # noqa: E402
from grants.tasks import run_fold  # noqa: E402

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
HOST = "127.0.0.1"
VENV_BIN = Path(sys.executable).parent
TOP_UP = 100_000_000
"""Minor units added to the demo ambassador's allowance before the run (a million dollars)."""
CLAIM_PASSWORD = "backline all the way home"  # noqa: S105 - a load-test recipient's password
REQUEST_TIMEOUT = 120.0
"""Seconds a client waits for an answer before counting the request as unanswered."""

KINDS: dict[str, int] = {
    "wallet": 25,
    "redeem": 15,
    "gift": 12,
    "claim": 10,
    "manager": 20,
    "report": 10,
    "report pdf": 1,
    "sign-in": 2,
}
"""Each kind of traffic and its weight in the mix. Half the claims are by the demo recipient
(``claim``), half by someone new, whose claim creates an account (``account claim``)."""
ACCOUNT_CLAIM = "account claim"
MUTATIONS = {"redeem", "gift", "claim", ACCOUNT_CLAIM}
"""Kinds whose answer is a redirect to the wallet, which the client then opens, as a
browser would (the page shows, and so clears, the message the redirect carries)."""
ARGON2 = ("sign-in", ACCOUNT_CLAIM)
"""Kinds that hash a password with argon2: deliberately slow."""
EXPENSIVE = (*ARGON2, "report pdf")
"""Kinds printed on lines of their own and left out of the rest of the mix."""
REST = ["wallet", "redeem", "gift", "claim", "manager", "report", "form"]
"""The rest of the mix, in the order it is printed; ``form`` is the GET of a form before it
is posted (and of the page a sign-in lands on)."""
FAIR = "fair"
REST_TARGET = 0.3
"""The rest of the mix serves at least this share of the fair page's requests per second."""


# --- options -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """What to build and how hard to drive it."""

    postgres_url: str | None
    ambassadors: int
    postings: int
    seconds: float
    workers: int
    clients: int
    seed: int


def dataset_options(parser: argparse.ArgumentParser, quick: str) -> None:
    """The options the page and throughput benchmarks share: the engine (``--postgres``) and
    the size of the dataset (``--large``, ``--quick``, whose help is ``quick``, or
    ``--ambassadors`` and ``--postings``)."""
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=DEFAULT_POSTGRES_URL,
        metavar="URL",
        help="run on PostgreSQL, in a schema made for the run and dropped after "
        f"(default {DEFAULT_POSTGRES_URL})",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--large", action="store_true", help="10,000 ambassadors, 1,000,000 postings")
    size.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--ambassadors", type=int, help="default 1,000")
    parser.add_argument("--postings", type=int, help="default 100,000")


def chosen_sizes(
    args: argparse.Namespace,
    defaults: dict[str, int],
    large: dict[str, int],
    quick: dict[str, int],
) -> dict[str, int]:
    """The sizes a run uses: ``defaults``, then ``large`` or ``quick`` as asked, then each
    size given on the command line by name."""
    chosen = dict(defaults)
    if args.large:
        chosen.update(large)
    if args.quick:
        chosen.update(quick)
    for name in chosen:
        if getattr(args, name) is not None:
            chosen[name] = getattr(args, name)
    return chosen


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=DEFAULT_POSTGRES_URL,
        metavar="URL",
        help=f"run on PostgreSQL, in a schema made for the run (default {DEFAULT_POSTGRES_URL})",
    )
    parser.add_argument("--ambassadors", type=int, default=1_000)
    parser.add_argument("--postings", type=int, default=100_000)
    parser.add_argument(
        "--full", action="store_true", help="10,000 ambassadors and 1,000,000 postings"
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each timed run")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--clients", type=int, default=8, help="client threads")
    parser.add_argument("--seed", type=int, default=1, help="traffic and dataset seed")
    args = parser.parse_args(argv)
    return Options(
        postgres_url=args.postgres,
        ambassadors=10_000 if args.full else args.ambassadors,
        postings=1_000_000 if args.full else args.postings,
        seconds=args.seconds,
        workers=args.workers,
        clients=args.clients,
        seed=args.seed,
    )


# --- the database of the run ---------------------------------------------------------------


@contextmanager
def run_database(options: Options, folder: Path) -> Iterator[str]:
    """A database for the run: a SQLite file in ``folder``, or a PostgreSQL schema made for
    the run and dropped afterwards."""
    if options.postgres_url is None:
        yield f"sqlite:///{folder / 'grants.sqlite3'}"
        return
    base = normalise_database_url(options.postgres_url)
    engine = create_engine(base)
    schema = f"load_{uuid.uuid4().hex[:12]}"
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield (
            make_url(base)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def run_environment(database_url: str, instance: Path) -> dict[str, str]:
    """The environment a run's commands and servers see: this one without any ``GRANTS_``
    setting, then the run's database and instance folder, with rate limits off (every
    client of a benchmark comes from 127.0.0.1)."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("GRANTS_")},
        "GRANTS_DATABASE_URL": database_url,
        "GRANTS_INSTANCE_PATH": str(instance),
        "GRANTS_RATE_LIMITS_ENABLED": "false",
    }


def migrate_and_seed(
    environment: dict[str, str], ambassadors: int, postings: int, seed: int
) -> None:
    """Apply the migrations and fill the database with ``flask grants seed-scale``, printing
    each step's time; :class:`RuntimeError` with the command's output if a step fails."""
    for step in (
        ("db", "upgrade"),
        (
            "grants",
            "seed-scale",
            "--ambassadors",
            str(ambassadors),
            "--postings",
            str(postings),
            "--seed",
            str(seed),
        ),
    ):
        status, output, seconds = flask_command(environment, *step)
        if status != 0:
            raise RuntimeError(f"{' '.join(step)} failed:\n{output}")
        print(f"  {' '.join(step[:2])}: {seconds:.1f} s")


def flask_command(environment: dict[str, str], *arguments: str) -> tuple[int, str, float]:
    """Run ``flask --app grants ARGUMENTS``: its exit status, its output and its time."""
    started = time.perf_counter()
    finished = subprocess.run(  # noqa: S603 - our own command line
        [str(VENV_BIN / "flask"), "--app", "grants", *arguments],
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    output = (finished.stdout + finished.stderr).strip()
    return finished.returncode, output, time.perf_counter() - started


def prepare_run(database_url: str, instance: Path) -> None:
    """Raise the US therapy fund's budget and allocate it to the demo ambassador, through
    the domain, so that the run's redeems and gifts do not run out of credit; then fold the
    ledger into the reports' running totals, as the worker does every minute."""
    app = create_app({"DATABASE_URL": database_url, "INSTANCE_PATH": instance})
    with app.app_context():
        session = db.session()
        manager = session.scalars(select(User).where(User.email == email_for("manager"))).one()
        user = session.scalars(select(User).where(User.email == email_for("ambassador"))).one()
        ambassador = session.scalars(select(Ambassador).where(Ambassador.user_id == user.id)).one()
        fund = session.scalars(
            select(Fund)
            .join(Wallet, Wallet.fund_id == Fund.id)
            .where(Wallet.user_id == user.id, Fund.kind == FundKind.THERAPY)
        ).one()
        top_up = Money(TOP_UP, fund.currency)
        funds.change_budget(
            session,
            key="load:top-up:budget",
            actor=manager,
            fund_id=fund.id,
            amount=top_up,
            reason="Load test",
        )
        allowances.allocate_allowance(
            session,
            key="load:top-up:allowance",
            actor=manager,
            fund_id=fund.id,
            ambassador_id=ambassador.id,
            amount=top_up,
        )
        session.commit()
        db.session.remove()
    run_fold(app)
    with app.app_context():
        db.engine.dispose()


# --- the server ----------------------------------------------------------------------------


class Server:
    """gunicorn serving ``target`` on a socket of 127.0.0.1 that this process binds to an
    ephemeral port and hands over, in a process group of its own."""

    def __init__(self, target: str, environment: dict[str, str], workers: int, log: Path):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind((HOST, 0))
        self.listener.listen(1024)
        self.port: int = self.listener.getsockname()[1]
        self.log = log.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own command line
            [
                str(VENV_BIN / "gunicorn"),
                "--workers",
                str(workers),
                "--bind",
                f"fd://{self.listener.fileno()}",
                "--no-control-socket",
                "--pythonpath",
                str(BENCH),
                "--timeout",
                "120",
                target,
            ],
            cwd=ROOT,
            env=environment,
            pass_fds=(self.listener.fileno(),),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, path: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn stopped at start; see {self.log.name}")
            connection = HTTPConnection(HOST, self.port, timeout=5)
            try:
                connection.request("GET", path)
                if connection.getresponse().status == 200:
                    return
            except (OSError, HTTPException):
                pass
            finally:
                connection.close()
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer {path} within {timeout:.0f} s")

    def stop(self) -> None:
        """Stop gracefully; kill the whole group if that takes more than 30 s."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.listener.close()
        self.log.close()


@contextmanager
def background_worker(environment: dict[str, str], log: Path) -> Iterator[None]:
    """``flask grants worker`` beside the server, as deployed: it folds the ledger into the
    reports' running totals every minute, expires gifts and makes large reports."""
    with log.open("ab") as output:
        process = subprocess.Popen(  # noqa: S603 - our own command line
            [str(VENV_BIN / "flask"), "--app", "grants", "grants", "worker", "--workers", "1"],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def serving(target: str, environment: dict[str, str], workers: int, log: Path) -> Iterator[Server]:
    server = Server(target, environment, workers, log)
    try:
        yield server
    finally:
        server.stop()


# --- the client ----------------------------------------------------------------------------


class NoAnswer(Exception):
    """The server closed the connection or did not answer in time."""


@dataclass
class Answer:
    status: int
    location: str
    body: str


class _Forms(HTMLParser):
    """The named fields of each form on a page, as a browser would send them untouched."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append((attributes.get("action", ""), {}))
        elif not self.forms:
            return
        elif tag in {"input", "textarea"} and "name" in attributes:
            self.forms[-1][1][attributes["name"]] = attributes.get("value", "")
        elif tag == "select":
            self._select = attributes.get("name")
        elif tag == "option" and self._select:
            fields = self.forms[-1][1]
            if "selected" in attributes or self._select not in fields:
                fields[self._select] = attributes.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def form_on(page: str, has: str) -> dict[str, str]:
    """The fields of the first form on ``page`` that has a field named ``has``."""
    reader = _Forms()
    reader.feed(page)
    for _, fields in reader.forms:
        if has in fields and "csrf_token" in fields:
            return fields
    raise LookupError(f"no form with {has!r} on the page")


class Recorder:
    """Latencies and statuses of every request, by kind; shared by the client threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.unanswered: dict[str, int] = defaultdict(int)
        self.acknowledged: dict[str, int] = defaultdict(int)
        self.timing = True

    def record(self, kind: str, seconds: float, status: int | None) -> None:
        with self.lock:
            if status is None:
                self.unanswered[kind] += 1
                return
            self.statuses[kind][status] += 1
            if self.timing:
                self.latencies[kind].append(seconds)

    @property
    def server_errors(self) -> int:
        return sum(n for by in self.statuses.values() for s, n in by.items() if s >= 500)


class Browser:
    """One person's browser: its own cookies; one request per connection, as gunicorn's
    sync workers close each connection after answering."""

    def __init__(self, port: int, recorder: Recorder) -> None:
        self.port = port
        self.recorder = recorder
        self.cookies: dict[str, str] = {}

    def request(
        self, kind: str, method: str, path: str, form: dict[str, str] | None = None
    ) -> Answer:
        headers = {"Host": f"{HOST}:{self.port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        try:
            connection = HTTPConnection(HOST, self.port, timeout=REQUEST_TIMEOUT)
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
            finally:
                connection.close()
        except (OSError, HTTPException) as error:
            self.recorder.record(kind, time.perf_counter() - started, None)
            raise NoAnswer(f"{method} {path}: {error}") from error
        self.recorder.record(kind, time.perf_counter() - started, response.status)
        for header in response.headers.get_all("Set-Cookie") or []:
            cookie: SimpleCookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return Answer(
            response.status,
            response.headers.get("Location", ""),
            data.decode("utf-8", errors="replace"),
        )

    def submit(
        self, kind: str, page: str, has: str, changes: dict[str, str], action: str
    ) -> Answer:
        """Fill the form on ``page`` (a path) that has the field ``has`` and post it."""
        shown = self.request("form", "GET", page)
        if shown.status != 200:
            return shown
        answer = self.request(kind, "POST", action, {**form_on(shown.body, has), **changes})
        if answer.status in {302, 303} and answer.location.startswith("/"):
            self.request("wallet" if kind in MUTATIONS else "form", "GET", answer.location)
        return answer

    def sign_in(self, email_address: str, password: str = DEMO_PASSWORD) -> None:
        answer = self.submit(
            "sign-in", "/login", "email", {"email": email_address, "password": password}, "/login"
        )
        if answer.status != 302:
            raise RuntimeError(f"signing in as {email_address} answered {answer.status}")


class Mailbox:
    """The claim links in the emails written to the outbox folder, handed out once each."""

    LINK = re.compile(r"/claim/([A-Za-z0-9_\-]+)")

    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox
        self.lock = threading.Lock()
        self.read: set[str] = set()
        self.links: list[tuple[str, str]] = []

    def take(self) -> tuple[str, str] | None:
        """A claim link nobody has used yet, with the address it was sent to."""
        with self.lock:
            if not self.links:
                self._collect()
            return self.links.pop(0) if self.links else None

    def _collect(self) -> None:
        if not self.outbox.is_dir():
            return
        settled = time.time() - 0.5
        for path in sorted(self.outbox.iterdir()):
            if path.name in self.read or path.stat().st_mtime > settled:
                continue
            self.read.add(path.name)
            for chunk in path.read_text(encoding="utf-8").split("\n" + "-" * 79 + "\n"):
                if not chunk.strip():
                    continue
                message = email.message_from_string(chunk, policy=email.policy.default)
                body = message.get_body(("plain",))
                found = self.LINK.search(body.get_content() if body else "")
                if found:
                    self.links.append((found.group(1), str(message["To"])))


@dataclass
class Person:
    """One client thread: signed in as the demo ambassador, recipient, manager and finance
    user, each in a browser of its own."""

    port: int
    recorder: Recorder
    mailbox: Mailbox
    today: str
    year: int
    rng: random.Random
    browsers: dict[str, Browser] = field(default_factory=dict)
    wallets: dict[str, str] = field(default_factory=dict)

    def sign_in(self) -> None:
        for role in ("ambassador", "recipient", "manager", "finance"):
            browser = Browser(self.port, self.recorder)
            browser.sign_in(email_for(role))
            self.browsers[role] = browser
        self.wallets["ambassador"] = self._wallet_path("ambassador")

    def _wallet_path(self, role: str) -> str:
        page = self.browsers[role].request("wallet", "GET", "/wallet/")
        found = re.search(r'href="(/wallet/\d+)/redeem"', page.body)
        return found.group(1) if found else ""

    def act(self, kind: str) -> None:
        getattr(self, "_" + kind.replace(" ", "_").replace("-", "_"))()

    def _sign_in(self) -> None:
        """One of the four people signs in again, in a new browser."""
        role = self.rng.choice(("ambassador", "recipient", "manager", "finance"))
        Browser(self.port, self.recorder).sign_in(email_for(role))

    def _wallet(self) -> None:
        role = self.rng.choice(("ambassador", "ambassador", "recipient"))
        path = self.rng.choice(("/wallet/", "/wallet/", f"{self.wallets['ambassador']}/gifts"))
        if role == "recipient":
            path = "/wallet/"
        self.browsers[role].request("wallet", "GET", path)

    def _redeem(self) -> None:
        role = "ambassador"
        if self.rng.random() < 0.3:
            if not self.wallets.get("recipient"):
                self.wallets["recipient"] = self._wallet_path("recipient")
            if self.wallets["recipient"]:
                role = "recipient"
        path = f"{self.wallets[role]}/redeem"
        self.browsers[role].submit(
            "redeem",
            path,
            "provider_name",
            {
                "provider_name": "Dr Lee, Nashville",
                "session_date": self.today,
                "amount": f"{self.rng.randint(1, 20 if role == 'ambassador' else 4)}."
                f"{self.rng.randint(0, 99):02d}",
            },
            path,
        )

    def _gift(self) -> None:
        path = f"{self.wallets['ambassador']}/give"
        if self.rng.random() < 0.5:
            name, address = "Riley Recipient", email_for("recipient")
        else:
            number = uuid.uuid4().hex[:10]
            name, address = f"Crew {number}", f"crew.{number}@load.example"
        self.browsers["ambassador"].submit(
            "gift",
            path,
            "recipient_email",
            {
                "recipient_name": name,
                "recipient_email": address,
                "relation": "crew",
                "amount": f"{self.rng.randint(1, 10)}.00",
                "message": "For the tour.",
            },
            path,
        )

    def _claim(self) -> None:
        link = self.mailbox.take()
        if link is None:
            self._wallet()
            return
        token, address = link
        path = f"/claim/{token}"
        if address == email_for("recipient"):
            self.browsers["recipient"].submit("claim", path, "key", {}, path)
            return
        Browser(self.port, self.recorder).submit(
            ACCOUNT_CLAIM,
            path,
            "password_again",
            {
                "display_name": "Crew Member",
                "password": CLAIM_PASSWORD,
                "password_again": CLAIM_PASSWORD,
            },
            path,
        )

    def _manager(self) -> None:
        path = self.rng.choice(("/manager/", "/manager/credit-use", "/manager/grants"))
        self.browsers["manager"].request("manager", "GET", path)

    def _report(self) -> None:
        if self.rng.random() < 0.3:
            self.browsers["finance"].request("report", "GET", "/finance/payouts/approved.csv")
            return
        query = urllib.parse.urlencode(
            {"currency": self.rng.choice(("USD", "GBP")), "year": self.year, "privacy": "programme"}
        )
        self.browsers["finance"].request("report", "GET", f"/finance/reports/csv?{query}")

    def _report_pdf(self) -> None:
        query = urllib.parse.urlencode(
            {"currency": "GBP", "year": self.year, "privacy": "programme"}
        )
        self.browsers["finance"].submit(
            "report pdf", f"/finance/reports?{query}", "key", {}, "/finance/reports/pdf"
        )


def drive(
    clients: int, seconds: float, make: Callable[[int], Callable[[], None]], recorder: Recorder
) -> float:
    """Run ``clients`` threads, each calling its step until ``seconds`` have passed; the
    wall-clock time it took."""
    stop = time.monotonic() + seconds
    failures: list[BaseException] = []

    def loop(number: int) -> None:
        step = make(number)
        while time.monotonic() < stop:
            try:
                step()
            except NoAnswer:
                continue
            except Exception as error:
                failures.append(error)
                return

    started = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    for failure in failures:
        print(f"  client stopped: {failure!r}")
    return elapsed


def demo_user_id(database_url: str) -> int:
    """The demo ambassador's user id, which the fair page's clients sign in as."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            found = connection.scalar(select(User.id).where(User.email == email_for("ambassador")))
    finally:
        engine.dispose()
    if found is None:
        raise LookupError("the dataset has no demo ambassador")
    return int(found)


def time_fair(port: int, user_id: int, options: Options, recorder: Recorder) -> float:
    """Drive the fair page on ``port`` from ``options.clients`` threads for
    ``options.seconds``, each client signed in (untimed) as ``user_id``; the time it took.
    Its answers are recorded as :data:`FAIR` in ``recorder``."""
    browsers = []
    for _ in range(options.clients):
        browser = Browser(port, recorder)
        signed = browser.request("sign-in", "POST", f"/sign-in/{user_id}", {})
        if signed.status != 200:
            raise RuntimeError(f"signing in to the fair page answered {signed.status}")
        browsers.append(browser)

    def step(number: int) -> Callable[[], None]:
        def request() -> None:
            browsers[number].request(FAIR, "GET", "/")

        return request

    return drive(options.clients, options.seconds, step, recorder)


# --- figures -------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@dataclass(frozen=True)
class Figures:
    count: int
    per_second: float
    p50_ms: float
    p99_ms: float


def figures(latencies: list[float], elapsed: float) -> Figures:
    if not latencies:
        return Figures(0, 0.0, 0.0, 0.0)
    return Figures(
        len(latencies),
        len(latencies) / elapsed,
        1000 * statistics.median(latencies),
        1000 * percentile(latencies, 0.99),
    )


def print_table(recorder: Recorder, elapsed: float, fair: Figures, workers: int) -> None:
    """Each kind's figures: the rest of the mix, then the expensive kinds, everything, and the
    fair page; then the rest of the mix against the fair page, and the target."""
    print(
        f"  {'kind':<17}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'p50 ÷ fair':>12}  statuses"
    )

    def row(name: str, latencies: list[float], statuses: str = "") -> Figures:
        found = figures(latencies, elapsed)
        ratio = found.p50_ms / fair.p50_ms if fair.p50_ms else 0.0
        print(
            f"  {name:<17}{found.count:>9}{found.per_second:>9.1f}{found.p50_ms:>9.1f}"
            f"{found.p99_ms:>9.1f}{ratio:>12.1f}  {statuses}".rstrip()
        )
        return found

    def kinds(names: Sequence[str]) -> list[float]:
        every: list[float] = []
        for kind in names:
            latencies = recorder.latencies.get(kind, [])
            if not latencies and not recorder.unanswered.get(kind):
                continue
            statuses = " ".join(f"{s}:{n}" for s, n in sorted(recorder.statuses[kind].items()))
            if recorder.unanswered.get(kind):
                statuses += f" no-answer:{recorder.unanswered[kind]}"
            row(kind, latencies, statuses)
            every += latencies
        return every

    rest_latencies = kinds(REST)
    rest = row("rest of the mix", rest_latencies)
    expensive = kinds(EXPENSIVE)
    row("all", rest_latencies + expensive)
    print(
        f"  {FAIR:<17}{fair.count:>9}{fair.per_second:>9.1f}{fair.p50_ms:>9.1f}"
        f"{fair.p99_ms:>9.1f}{1.0:>12.1f}"
    )
    share = rest.per_second / fair.per_second if fair.per_second else 0.0
    held = sum(expensive) / (elapsed * workers) if elapsed else 0.0
    print(
        f"  rest of the mix: {rest.per_second:.1f} req/s, {share:.3f} of the fair page's "
        f"{fair.per_second:.1f}; p50 {rest.p50_ms:.1f} ms, the fair page's {fair.p50_ms:.1f} ms"
    )
    print(
        f"  sign-ins, account claims (argon2) and PDF renders: {len(expensive)} requests, "
        f"which held the {workers} workers for at most {held:.0%} of the run"
    )
    verdict = "met" if share >= REST_TARGET else "NOT MET"
    print(
        f"  target: the rest of the mix at least {REST_TARGET} of the fair page's "
        f"throughput: {share:.3f}  {verdict}"
    )


# --- the run -------------------------------------------------------------------------------


def machine() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs, load average {load}"


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    engine = "PostgreSQL" if options.postgres_url else "SQLite"
    print(
        f"Load: {engine}, {options.ambassadors:,} ambassadors, {options.postings:,} postings, "
        f"gunicorn {options.workers} sync workers and the background worker, "
        f"{options.clients} client threads, "
        f"{options.seconds:g} s each; {machine()}"
    )
    with (
        tempfile.TemporaryDirectory(prefix="grants-load-") as temporary,
        run_database(options, Path(temporary)) as database_url,
        ExitStack() as stack,
    ):
        folder = Path(temporary)
        instance = folder / "instance"
        environment = run_environment(database_url, instance)
        try:
            migrate_and_seed(environment, options.ambassadors, options.postings, options.seed)
        except RuntimeError as error:
            print(error)
            return 1
        prepare_run(database_url, instance)

        fair_recorder = Recorder()
        fair_target = f"fair_app:create_fair_app(secret_key={secrets.token_hex(32)!r})"
        fair_server = stack.enter_context(
            serving(fair_target, environment, options.workers, folder / "gunicorn.log")
        )
        user_id = demo_user_id(database_url)
        fair_elapsed = time_fair(fair_server.port, user_id, options, fair_recorder)

        recorder = Recorder()
        mailbox = Mailbox(instance / "outbox")
        today = today_in("America/New_York")  # the demo people's today, where they are
        with (
            background_worker(environment, folder / "worker.log"),
            serving(
                "grants:create_app()", environment, options.workers, folder / "gunicorn.log"
            ) as server,
        ):
            server.wait_ready("/login")
            people = []
            for number in range(options.clients):
                person = Person(
                    server.port,
                    recorder,
                    mailbox,
                    today.isoformat(),
                    today.year,
                    random.Random(options.seed * 1000 + number),  # noqa: S311 - traffic mix
                )
                person.sign_in()
                people.append(person)
            recorder.latencies.clear()
            recorder.statuses.clear()
            kinds, weights = list(KINDS), list(KINDS.values())

            def app_step(number: int) -> Callable[[], None]:
                person = people[number]
                return lambda: person.act(person.rng.choices(kinds, weights)[0])

            elapsed = drive(options.clients, options.seconds, app_step, recorder)
        first_fair = len(fair_recorder.latencies[FAIR]) / fair_elapsed
        again = time_fair(fair_server.port, user_id, options, fair_recorder)
        second_fair = (len(fair_recorder.latencies[FAIR]) - first_fair * fair_elapsed) / again
        fair_elapsed += again
        stack.close()
        log = (folder / "gunicorn.log").read_text(encoding="utf-8", errors="replace")

        print(
            f"  timed run: {elapsed:.1f} s; fair page: {fair_elapsed:.1f} s in two runs, before "
            f"({first_fair:.1f} req/s) and after ({second_fair:.1f} req/s)"
        )
        print_table(
            recorder, elapsed, figures(fair_recorder.latencies[FAIR], fair_elapsed), options.workers
        )
        server_errors = recorder.server_errors + fair_recorder.server_errors
        unanswered = sum(recorder.unanswered.values()) + sum(fair_recorder.unanswered.values())
        print(f"  5xx answers: {server_errors}; requests without an answer: {unanswered}")
        for line in log.splitlines():
            if any(sign in line for sign in ("WORKER TIMEOUT", "Exception on", "Error:")):
                print(f"  gunicorn: {line[:200]}")
        failed = server_errors > 0 or unanswered > 0
        for command in (("grants", "ledger", "verify"), ("grants", "audit", "verify")):
            status, output, seconds = flask_command(environment, *command)
            print(f"  {' '.join(command[1:])}: exit {status} in {seconds:.1f} s: {output[:300]}")
            failed = failed or status != 0
        print(f"  after the run: {machine()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
