"""Page benchmark: the server CPU each main page of each role costs per request, in-process,
against the fair page (``bench/fair_app.py``) on the same database.

Run from the project root, on SQLite (the default) or on PostgreSQL::

    .venv/bin/python bench/pages.py               # 1,000 ambassadors, 100,000 postings
    .venv/bin/python bench/pages.py --large       # 10,000 ambassadors, 1,000,000 postings
    .venv/bin/python bench/pages.py --postgres    # in a schema of its own, dropped after
    .venv/bin/python bench/pages.py --quick       # a small dataset and 20 requests a page

One run:

1. makes a database for the run (a SQLite file in a temporary folder, or a PostgreSQL schema
   dropped at the end), applies the migrations and fills it with ``flask grants seed-scale``,
   then folds the ledger into the reports' running totals, as the background worker would
   have done by then (the same steps as ``bench/load.py``, through its helpers);
2. signs in with the Flask test client as each demo login of the dataset (password
   ``heart-and-soul-demo``) and requests each main page of that role, the list that
   ``tests/infrastructure/test_query_counts.py`` counts statements for, plus the finance
   report's CSV download; each page is requested twice to warm caches, then ``--requests``
   times, each timed with ``time.process_time`` and its SQL statements counted with the
   engine's ``before_cursor_execute`` event;
3. does the same for the fair page, before and after the application's pages, and for two
   pages the benchmark adds to the application (:data:`STACK_FLOOR`): a signed-in request
   that answers a word, and an empty page in the base layout, which is what every signed-in
   page of this stack (Flask-Login's user, the session cookie, the hooks, the layout with
   its sign-out form) costs before it does anything of its own (``bench/stack_floor.py``);
4. prints the machine, the dataset and a table: each page's median and 95th percentile CPU
   in milliseconds, its statements, and the fair page's median divided by the page's (1.0
   is as cheap as the fair page), then the stack's floor, then the targets of the page-cost
   issue, met or not.

The exit status is 0 whatever the figures (this is a measurement); it is 1 only when a page
answers anything other than 200, or signing in fails.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import load  # noqa: E402
from fair_app import create_fair_app, fair_engine  # noqa: E402
from stack_floor import STACK_FLOOR, add_stack_floor  # noqa: E402

from grants import create_app  # noqa: E402
from grants.extensions import db  # noqa: E402
from grants.models import (  # noqa: E402
    Fund,
    FundKind,
    Gift,
    Grant,
    GrantStatus,
    Partner,
    Redemption,
    RedemptionState,
    User,
    Wallet,
    WalletKind,
)
from grants.seed.demo import DEMO_PASSWORD, email_for  # noqa: E402
from grants.tasks import run_fold  # noqa: E402
from tests.infrastructure.test_query_counts import Sample, pages  # noqa: E402

WALLET_TARGET = 0.4
"""The ambassador's wallet page costs at most 1 / 0.4 of the fair page's CPU."""
PAGE_TARGET = 0.15
"""No main page but the report download costs more than 1 / 0.15 of the fair page's CPU."""
WALLET_PAGE = ("ambassador", "/wallet/")
REPORT_DOWNLOAD = "/finance/reports/csv"
"""The page the issue exempts from :data:`PAGE_TARGET`: the finance report as CSV."""
QUICK = {"ambassadors": 60, "postings": 6_000, "requests": 20}
LARGE = {"ambassadors": 10_000, "postings": 1_000_000}


# --- options -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """What to build and how many times to request each page."""

    postgres_url: str | None
    ambassadors: int
    postings: int
    requests: int
    seed: int


def parse_options(argv: list[str] | None = None) -> Options:
    """The options of the command line; ``--large`` and ``--quick`` set the sizes that
    ``--ambassadors``, ``--postings`` and ``--requests`` do not."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    load.dataset_options(parser, quick="60 ambassadors, 6,000 postings, 20 requests a page")
    parser.add_argument("--requests", type=int, help="timed requests per page (default 200)")
    parser.add_argument("--seed", type=int, default=1, help="dataset seed")
    args = parser.parse_args(argv)
    defaults = {"ambassadors": 1_000, "postings": 100_000, "requests": 200}
    chosen = load.chosen_sizes(args, defaults, LARGE, QUICK)
    return Options(postgres_url=args.postgres, seed=args.seed, **chosen)


# --- the dataset ---------------------------------------------------------------------------


@contextmanager
def built_dataset(options: Options, folder: Path) -> Iterator[str]:
    """The database URL of a run's dataset, migrated, seeded and folded; dropped after."""
    run_options = load.Options(
        postgres_url=options.postgres_url,
        ambassadors=options.ambassadors,
        postings=options.postings,
        seconds=0.0,
        workers=0,
        clients=0,
        seed=options.seed,
    )
    with load.run_database(run_options, folder) as database_url:
        environment = load.run_environment(database_url, folder / "instance")
        load.migrate_and_seed(environment, options.ambassadors, options.postings, options.seed)
        yield database_url


def first(session: Any, query: Any) -> int:
    """The first id ``query`` finds, by id; there must be one."""
    found = session.scalar(query.order_by(query.selected_columns[0]).limit(1))
    if found is None:
        raise LookupError(f"the dataset has nothing for {query}")
    return int(found)


def demo_sample(app: Flask) -> Sample:
    """The rows whose pages are requested: the demo ambassador's wallet, gifts and
    redemptions, the demo recipient's wallet, and any requested redemption, active grant,
    partner and the grants fund."""
    with app.app_context():
        session = db.session()

        def wallet_of(email: str, kind: WalletKind) -> int:
            return first(
                session,
                select(Wallet.id)
                .join(User, User.id == Wallet.user_id)
                .where(User.email == email, Wallet.kind == kind),
            )

        wallet = wallet_of(email_for("ambassador"), WalletKind.AMBASSADOR)
        sample = Sample(
            ambassador=email_for("ambassador"),
            recipient=email_for("recipient"),
            wallet_id=wallet,
            recipient_wallet_id=wallet_of(email_for("recipient"), WalletKind.RECIPIENT),
            gift_id=first(session, select(Gift.id).where(Gift.giver_wallet_id == wallet)),
            redemption_id=first(
                session, select(Redemption.id).where(Redemption.wallet_id == wallet)
            ),
            requested_id=first(
                session,
                select(Redemption.id).where(Redemption.state == RedemptionState.REQUESTED),
            ),
            grant_id=first(session, select(Grant.id).where(Grant.status == GrantStatus.ACTIVE)),
            partner_id=first(session, select(Partner.id)),
            fund_id=first(session, select(Fund.id).where(Fund.kind == FundKind.GRANTS)),
        )
        db.session.remove()
        return sample


ROLES = {
    email_for(part): part for part in ("admin", "manager", "finance", "ambassador", "recipient")
}


def main_pages(sample: Sample, year: int) -> list[tuple[str, str, list[str]]]:
    """Each role, the email it signs in with (empty: nobody) and its pages: the statement
    count test's list, and the finance report's CSV download."""
    report = urllib.parse.urlencode({"currency": "USD", "year": year, "privacy": "programme"})
    listed = []
    for viewer, urls in pages(sample).items():
        role = ROLES.get(viewer, "anyone")
        if role == "finance":
            urls = [*urls, f"{REPORT_DOWNLOAD}?{report}"]
        listed.append((role, viewer, urls))
    return listed


# --- measuring -----------------------------------------------------------------------------


class PageFailed(Exception):
    """A page answered something other than 200."""


@dataclass(frozen=True)
class Cost:
    """What one page cost over its timed requests."""

    role: str
    url: str
    median_ms: float
    p95_ms: float
    statements: int


@contextmanager
def counted(engine: Engine) -> Iterator[list[int]]:
    """A one-item list holding the statements ``engine`` sends while the block runs."""
    count = [0]

    def seen(*_: object) -> None:
        count[0] += 1

    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield count
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def cost(
    role: str, url: str, client: FlaskClient, engine: Engine, requests: int, *, warm: int = 2
) -> Cost:
    """Request ``url`` ``warm`` times, then ``requests`` times timed: CPU per request and the
    statements of the last one."""
    for _ in range(warm):
        answered(client, url)
    gc.collect()
    spent: list[float] = []
    statements = 0
    with counted(engine) as count:
        for _ in range(requests):
            count[0] = 0
            started = time.process_time()
            answered(client, url)
            spent.append(time.process_time() - started)
            statements = count[0]
    return Cost(
        role,
        url,
        1000 * statistics.median(spent),
        1000 * load.percentile(spent, 0.95),
        statements,
    )


def answered(client: FlaskClient, url: str) -> None:
    """GET ``url``; a page that does not answer 200 stops the run."""
    response = client.get(url)
    status = response.status_code
    response.close()
    if status != 200:
        raise PageFailed(f"{url} answered {status}")


def signed_in(app: Flask, email: str) -> FlaskClient:
    """A test client signed in as ``email`` through the sign-in form (nobody if empty)."""
    client = app.test_client()
    if not email:
        return client
    form = load.form_on(client.get("/login").get_data(as_text=True), "email")
    response = client.post("/login", data={**form, "email": email, "password": DEMO_PASSWORD})
    if response.status_code != 302:
        raise PageFailed(f"signing in as {email} answered {response.status_code}")
    return client


def fair_cost(database_url: str, user_id: int, requests: int) -> Cost:
    """The fair page's cost, signed in as ``user_id``."""
    fair = create_fair_app(database_url)
    client = fair.test_client()
    client.post(f"/sign-in/{user_id}")
    return cost("fair", "/", client, fair_engine(fair), requests)


# --- the stack's own floor ---------------------------------------------------------------


def measure_stack_floor(app: Flask, requests: int) -> list[Cost]:
    """The :data:`STACK_FLOOR` pages' costs, signed in as the demo ambassador."""
    with app.app_context():
        engine = db.engine
    client = signed_in(app, email_for("ambassador"))
    return [cost("floor", url, client, engine, requests) for url in STACK_FLOOR]


# --- the report ----------------------------------------------------------------------------


def ratio(fair: Cost, page: Cost) -> float:
    """The fair page's median CPU divided by the page's."""
    return fair.median_ms / page.median_ms if page.median_ms else 0.0


def verdict(met: bool) -> str:
    return "met" if met else "NOT MET"


def print_table(fair: Cost, costs: list[Cost]) -> None:
    """Each page's figures, its ratio to the fair page and the target it is held to."""
    print(
        f"  {'role':<11}{'page':<58}{'median ms':>10}{'p95 ms':>9}{'stmts':>7}"
        f"{'fair÷page':>11}  target"
    )
    print(
        f"  {fair.role:<11}{fair.url:<58}{fair.median_ms:>10.2f}{fair.p95_ms:>9.2f}"
        f"{fair.statements:>7}{1.0:>11.3f}"
    )
    for page in costs:
        share = ratio(fair, page)
        if (page.role, page.url) == WALLET_PAGE:
            target = f">= {WALLET_TARGET}: {verdict(share >= WALLET_TARGET)}"
        elif page.url.startswith(REPORT_DOWNLOAD):
            target = "exempt"
        else:
            target = f">= {PAGE_TARGET}: {verdict(share >= PAGE_TARGET)}"
        print(
            f"  {page.role:<11}{page.url:<58}{page.median_ms:>10.2f}{page.p95_ms:>9.2f}"
            f"{page.statements:>7}{share:>11.3f}  {target}"
        )


def print_stack_floor(fair: Cost, floor: list[Cost]) -> None:
    """The stack's floor pages beside the fair page, and what that leaves for the targets."""
    print("  the stack's own floor (pages the benchmark adds; no target):")
    for page in floor:
        print(
            f"  {page.role:<11}{page.url:<58}{page.median_ms:>10.2f}{page.p95_ms:>9.2f}"
            f"{page.statements:>7}{ratio(fair, page):>11.3f}  {STACK_FLOOR[page.url]}"
        )
    empty = floor[-1]
    print(
        f"  an empty signed-in page costs {empty.median_ms:.2f} ms, {ratio(fair, empty):.3f} "
        f"of the fair page: no page of this stack can do better, so the wallet's "
        f"{WALLET_TARGET} means its own work in "
        f"{max(0.0, fair.median_ms / WALLET_TARGET - empty.median_ms):.2f} ms"
    )


def print_targets(fair: Cost, costs: list[Cost]) -> None:
    """The targets of the page-cost issue that one run can judge."""
    wallet = next(page for page in costs if (page.role, page.url) == WALLET_PAGE)
    share = ratio(fair, wallet)
    print(
        f"  target: the ambassador's wallet page at least {WALLET_TARGET} of the fair page: "
        f"{share:.3f}, {verdict(share >= WALLET_TARGET)}"
    )
    below = [
        page
        for page in costs
        if not page.url.startswith(REPORT_DOWNLOAD) and ratio(fair, page) < PAGE_TARGET
    ]
    print(
        f"  target: no main page but the report download below {PAGE_TARGET} of the fair "
        f"page: {len(below)} of {len(costs) - 1} below, {verdict(not below)}"
    )
    for page in sorted(below, key=lambda page: ratio(fair, page)):
        print(f"    {page.role} {page.url}: {ratio(fair, page):.3f}")


# --- the run -------------------------------------------------------------------------------


def measure_pages(
    app: Flask, sample: Sample, requests: int, progress: Callable[[Cost], None]
) -> list[Cost]:
    """Every main page of every role, each signed in as its viewer."""
    costs = []
    with app.app_context():
        engine = db.engine
    for role, viewer, urls in main_pages(sample, datetime.now(UTC).year):
        client = signed_in(app, viewer)
        for url in urls:
            page = cost(role, url, client, engine, requests)
            progress(page)
            costs.append(page)
    return costs


def progress(page: Cost) -> None:
    """One line as each page is measured, for a long run to show where it is."""
    print(f"    {page.role} {page.url}: {page.median_ms:.2f} ms", flush=True)


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    engine_name = "PostgreSQL" if options.postgres_url else "SQLite"
    print(
        f"Pages: {engine_name}, {options.ambassadors:,} ambassadors, {options.postings:,} "
        f"postings, median and p95 of {options.requests} requests a page, in-process; "
        f"{load.machine()}"
    )
    with (
        tempfile.TemporaryDirectory(prefix="grants-pages-") as temporary,
        built_dataset(options, Path(temporary)) as database_url,
    ):
        instance = Path(temporary) / "instance"
        app = create_app(
            {"DATABASE_URL": database_url, "INSTANCE_PATH": instance, "RATE_LIMITS_ENABLED": False}
        )
        add_stack_floor(app)
        run_fold(app)
        sample = demo_sample(app)
        with app.app_context():
            user_id = first(
                db.session(), select(User.id).where(User.email == email_for("ambassador"))
            )
            db.session.remove()
        started = time.perf_counter()
        try:
            before = fair_cost(database_url, user_id, options.requests)
            floor = measure_stack_floor(app, options.requests)
            costs = measure_pages(app, sample, options.requests, progress)
            after = fair_cost(database_url, user_id, options.requests)
        except PageFailed as failure:
            print(f"  failed: {failure}")
            return 1
        finally:
            with app.app_context():
                db.engine.dispose()
        fair = Cost(
            "fair",
            "/ (one indexed SELECT, signed session, small template)",
            (before.median_ms + after.median_ms) / 2,
            max(before.p95_ms, after.p95_ms),
            before.statements,
        )
        print(
            f"  timed in {time.perf_counter() - started:.0f} s; fair page "
            f"{before.median_ms:.2f} ms before the pages, {after.median_ms:.2f} ms after "
            f"(the ratios use their mean); after the run: {load.machine()}"
        )
        print_table(fair, costs)
        print_stack_floor(fair, floor)
        print_targets(fair, costs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
