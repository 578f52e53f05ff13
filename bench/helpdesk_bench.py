"""Help desk benchmark: a navigator's queue page with 10,000 open requests across 30 partners.

Run from the project root, on SQLite (the default) or on PostgreSQL::

    .venv/bin/python bench/helpdesk_bench.py              # 10,000 requests, 30 partners
    .venv/bin/python bench/helpdesk_bench.py --postgres   # in a schema of its own, dropped after
    .venv/bin/python bench/helpdesk_bench.py --requests 2000 --pages 100

One run:

1. makes a database for the run (``bench/load.py``'s ``run_database``) and applies the
   migrations;
2. makes 30 partners, each with a navigator who works for it (through the domain, so the
   navigators can sign in), and writes the open requests straight into their table, spread
   evenly over the partners: one in 10 urgent, one in 3 taken by its partner's navigator,
   one in 4 with a message in its thread, arrived over the last 30 days (the curation of a
   request, with its audit event, is not what is measured);
3. counts the SQL statements of one queue page (``GET /helpdesk/``) after the first
   ``--requests`` ÷ 10 requests and again after all of them: the target is the same count
   (the page reads a fixed number of statements, whatever the queue holds);
4. in-process, through Flask's test client, each of the 30 navigators signed in: ``--pages``
   requests of the queue's first page, of a later page and of the closed tab, spread over
   the navigators; p50 and p95 of each, against the target p95 < 50 ms.

The machine's load average is printed before and after, since the figures share it with
whatever else runs.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event, insert, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import load  # noqa: E402
from hub_bench import load_average, timed  # noqa: E402

from grants import create_app  # noqa: E402
from grants.domain.accounts import create_user  # noqa: E402
from grants.domain.helpdesk import answer_deadline, new_reference  # noqa: E402
from grants.extensions import db  # noqa: E402
from grants.models import (  # noqa: E402
    Author,
    CanPay,
    Country,
    HelpMessage,
    HelpRequest,
    HelpState,
    Partner,
    Role,
    Topic,
    User,
)
from grants.security import password_hasher, password_rules  # noqa: E402

PARTNERS = 30
PASSWORD = "bench-navigator-password"  # noqa: S105 - a throwaway bench account
COUNTRIES = ("US", "GB", "ES", "FR", "DE", "BR", "IT", "IE", "CA", "AU")
LANGUAGES = ("en", "es", "fr", "de", "pt_BR")
TOPICS = tuple(Topic)


@dataclass(frozen=True)
class Options:
    postgres_url: str | None
    requests: int
    pages: int
    seed: int
    check: bool


def make_partners(app: Flask) -> list[tuple[int, str]]:
    """30 partners and a navigator of each: (partner id, navigator email)."""
    made = []
    with app.app_context():
        session = db.session()
        for number in range(PARTNERS):
            partner = Partner(
                legal_name=f"Bench partner {number}",
                display_name=f"Bench partner {number}",
                country=Country.US if number % 2 else Country.GB,
            )
            session.add(partner)
            session.flush()
            email = f"navigator{number}@bench.example"
            navigator = create_user(
                session,
                email=email,
                display_name=f"Navigator {number}",
                password=PASSWORD,
                roles=[Role.NAVIGATOR],
                hasher=password_hasher(),
                rules=password_rules(),
            )
            navigator.partner_id = partner.id
            made.append((partner.id, email))
        session.commit()
    return made


def fill(app: Flask, count: int, start: int, seed: int, now: datetime) -> None:
    """``count`` open requests (numbered from ``start``), spread over the partners."""
    rng = random.Random(seed + start)  # noqa: S311 - a repeatable workload, not a secret
    with app.app_context():
        session = db.session()
        partners = {p.id: p for p in session.scalars(select(Partner))}
        ids = sorted(partners)
        navigators: dict[int, int] = {
            int(partner_id): int(user_id)
            for partner_id, user_id in session.execute(
                select(User.partner_id, User.id).where(User.partner_id.is_not(None))
            )
        }
        rows: list[dict[str, Any]] = []
        messages: list[tuple[int, datetime]] = []
        for number in range(start, start + count):
            partner_id = ids[number % len(ids)]
            created = now - timedelta(minutes=rng.randrange(30 * 24 * 60))
            urgent = number % 10 == 0
            taken = number % 3 == 0
            rows.append(
                {
                    "reference": new_reference(),
                    "partner_id": partner_id,
                    "country": rng.choice(COUNTRIES),
                    "language": rng.choice(LANGUAGES),
                    "topic": rng.choice(TOPICS),
                    "can_pay": rng.choice(tuple(CanPay)),
                    "urgent": urgent,
                    "state": HelpState.ASSIGNED if taken else HelpState.NEW,
                    "assignee_id": navigators[partner_id] if taken else None,
                    "name": f"Requester {number}",
                    "contact_email": f"requester{number}@bench.example",
                    "city": "Nashville",
                    "text": "I am looking for a therapist who understands touring.",
                    "created_at": created,
                    "pickup_due_at": created + timedelta(hours=4) if urgent else None,
                    "answer_due_at": answer_deadline(partners[partner_id], created),
                    "picked_up_at": created + timedelta(hours=1) if taken else None,
                    "last_message_at": created,
                }
            )
        for batch in range(0, len(rows), 1000):
            ids_made = session.scalars(
                insert(HelpRequest).returning(HelpRequest.id, sort_by_parameter_order=True),
                rows[batch : batch + 1000],
            ).all()
            messages += [
                (request_id, rows[batch + index]["created_at"])
                for index, request_id in enumerate(ids_made)
                if (start + batch + index) % 4 == 0
            ]
        if messages:
            session.execute(
                insert(HelpMessage),
                [
                    {
                        "request_id": request_id,
                        "author": Author.REQUESTER,
                        "body": "Thank you.",
                        "services": [],
                        "created_at": created + timedelta(hours=2),
                    }
                    for request_id, created in messages
                ],
            )
        session.commit()


def sign_in(app: Flask, email: str) -> Any:
    """A test client signed in as ``email``."""
    client = app.test_client()
    fields = load.form_on(client.get("/login").get_data(as_text=True), "email")
    answer = client.post("/login", data={**fields, "email": email, "password": PASSWORD})
    if answer.status_code != 302:
        raise RuntimeError(f"could not sign in as {email}: {answer.status_code}")
    return client


def statements_of(app: Flask, client: Any, path: str) -> int:
    """How many SQL statements one request of ``path`` sends."""
    counted = [0]
    with app.app_context():
        engine = db.engine

    def count(*_: object) -> None:
        counted[0] += 1

    event.listen(engine, "before_cursor_execute", count)
    try:
        answer = client.get(path)
        if answer.status_code != 200:
            raise RuntimeError(f"{path} answered {answer.status_code}")
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return counted[0]


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=os.environ.get(
            "TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
        default=None,
        metavar="URL",
        help="run on PostgreSQL (default URL: TEST_DATABASE_URL)",
    )
    parser.add_argument("--requests", type=int, default=10_000, help="open requests in all")
    parser.add_argument("--pages", type=int, default=300, help="in-process requests per page")
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    arguments = parser.parse_args(argv)
    return Options(
        arguments.postgres, arguments.requests, arguments.pages, arguments.seed, arguments.check
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    engine = "PostgreSQL" if options.postgres_url else "SQLite"
    print(f"help desk bench on {engine}: {options.requests:,} open requests, {PARTNERS} partners")
    print(f"  before: {load_average()}")
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="helpdesk-bench-") as temporary:
        folder = Path(temporary)
        instance = folder / "instance"
        instance.mkdir()
        with load.run_database(options, folder) as database_url:  # type: ignore[arg-type]
            environment = load.run_environment(database_url, instance)
            status, output, _seconds = load.flask_command(environment, "db", "upgrade")
            if status != 0:
                print(output)
                return 1
            app = create_app(
                {
                    "DATABASE_URL": database_url,
                    "INSTANCE_PATH": instance,
                    "RATE_LIMITS_ENABLED": False,
                }
            )
            navigators = make_partners(app)
            first = max(options.requests // 10, PARTNERS)
            started = time.perf_counter()
            fill(app, first, 0, options.seed, now)
            clients = [sign_in(app, email) for _, email in navigators]
            few = statements_of(app, clients[0], "/helpdesk/")
            fill(app, options.requests - first, first, options.seed, now)
            print(f"  bulk load: {time.perf_counter() - started:.1f} s")
            many = statements_of(app, clients[0], "/helpdesk/")
            same = "met" if few == many else "NOT met"
            print(
                f"  statements of one queue page: {few} with {first:,} requests, {many} with "
                f"{options.requests:,} (target: the same: {same})"
            )
            rng = random.Random(options.seed)  # noqa: S311 - a repeatable workload
            bad = int(few != many)
            print(f"in-process, {options.pages} requests each, {len(clients)} navigators:")
            for name, path in (
                ("queue, first page", "/helpdesk/"),
                ("queue, page 3", "/helpdesk/?page=3"),
                ("queue, closed tab", "/helpdesk/?show=closed"),
            ):

                def call(path: str = path) -> None:
                    answer = rng.choice(clients).get(path)
                    if answer.status_code != 200:
                        raise RuntimeError(f"{path} answered {answer.status_code}")

                result = timed(name, [call] * options.pages)
                met = result.p95_ms < 50
                bad += int(name == "queue, first page" and not met)
                print(
                    f"  {result.name:<20} p50 {result.p50_ms:6.1f} ms  p95 {result.p95_ms:6.1f} ms"
                    f"  (target p95 < 50 ms: {'met' if met else 'NOT met'})"
                )
            print(f"  after: {load_average()}")
            with app.app_context():
                db.engine.dispose()
    return 1 if bad and options.check else 0


if __name__ == "__main__":
    raise SystemExit(main())
