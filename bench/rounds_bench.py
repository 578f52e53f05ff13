"""Funding round benchmark: a round's scoring page with 500 applications and 5 reviewers.

Run from the project root, on SQLite (the default) or on PostgreSQL::

    .venv/bin/python bench/rounds_bench.py              # 500 applications, 5 reviewers
    .venv/bin/python bench/rounds_bench.py --postgres   # in a schema of its own, dropped after
    .venv/bin/python bench/rounds_bench.py --applications 2000 --pages 100

One run:

1. makes a database for the run (``bench/load.py``'s ``run_database``) and applies the
   migrations;
2. makes a grants fund, five reviewing managers (through the domain, so they can sign in),
   a round with three criteria (through the domain), and ``--applications`` partners, each
   with a submitted application written straight into the tables; every reviewer declares
   on every application (one in 25 a conflict) and scores the rest, also written straight
   in (what is measured is the page, not the writing);
3. counts the SQL statements of the round's page (``GET /manager/rounds/<id>``) after the
   first tenth of the applications and again after all of them: the target is the same
   count (the page reads a fixed number of statements, whatever the round holds);
4. in-process, through Flask's test client, each reviewer signed in: ``--pages`` requests of
   the round's page spread over the reviewers; p50 and p95, against the target p95 < 100 ms.

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
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import insert, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import load  # noqa: E402
from helpdesk_bench import PASSWORD, sign_in, statements_of  # noqa: E402
from hub_bench import load_average, timed  # noqa: E402

from grants import create_app  # noqa: E402
from grants.domain.accounts import create_user  # noqa: E402
from grants.domain.funds import open_fund  # noqa: E402
from grants.domain.rounds import RoundPlan, open_round  # noqa: E402
from grants.extensions import db  # noqa: E402
from grants.models import (  # noqa: E402
    Application,
    ApplicationState,
    Country,
    FundKind,
    GrantCategory,
    Partner,
    Review,
    ReviewScore,
    Role,
    RoundCriterion,
    RoundReviewer,
    User,
)
from grants.security import password_hasher, password_rules  # noqa: E402

REVIEWERS = 5


@dataclass(frozen=True)
class Options:
    postgres_url: str | None
    applications: int
    pages: int
    seed: int
    check: bool


def make_round(app: Flask) -> tuple[int, list[str]]:
    """The fund, the five reviewers and the round: (round id, reviewer emails)."""
    with app.app_context():
        session = db.session()
        emails = [f"reviewer{number}@bench.example" for number in range(REVIEWERS)]
        reviewers = [
            create_user(
                session,
                email=email,
                display_name=f"Reviewer {number}",
                password=PASSWORD,
                roles=[Role.MANAGER],
                hasher=password_hasher(),
                rules=password_rules(),
            )
            for number, email in enumerate(emails)
        ]
        year = datetime.now(UTC).year
        fund = open_fund(
            session,
            name=f"Partner grants {year} (USD)",
            kind=FundKind.GRANTS,
            currency="USD",
            start=date(year, 1, 1),
            end=date(year, 12, 31),
        )
        receipt = open_round(
            session,
            key="bench-round",
            actor=reviewers[0],
            plan=RoundPlan(
                fund_id=fund.id,
                title="Bench round",
                categories=[GrantCategory.THERAPY_ACCESS.value],
                max_amount="25,000.00",
                opens=datetime(year, 1, 1, 9),  # noqa: DTZ001 - the fund's wall clock
                closes=datetime(year, 12, 30, 17),  # noqa: DTZ001 - the fund's wall clock
                criteria=["Need", "Reach", "Value for money"],
                reviewer_ids=[reviewer.id for reviewer in reviewers],
            ),
        )
        session.commit()
        assert receipt.object_id is not None
        return receipt.object_id, emails


def fill(app: Flask, round_id: int, count: int, start: int, seed: int) -> None:
    """``count`` partners (numbered from ``start``), each with a submitted application that
    every reviewer has declared on and, unless conflicted, scored."""
    rng = random.Random(seed + start)  # noqa: S311 - a repeatable workload, not a secret
    now = datetime.now(UTC)
    with app.app_context():
        session = db.session()
        reviewer_ids = list(
            session.scalars(
                select(User.id)
                .join(RoundReviewer, RoundReviewer.user_id == User.id)
                .where(RoundReviewer.round_id == round_id)
            )
        )
        criteria = list(
            session.scalars(select(RoundCriterion.id).where(RoundCriterion.round_id == round_id))
        )
        partner_ids = session.scalars(
            insert(Partner).returning(Partner.id, sort_by_parameter_order=True),
            [
                {
                    "legal_name": f"Bench partner {number}",
                    "display_name": f"Bench partner {number}",
                    "country": Country.US,
                    "working_days": "12345",
                }
                for number in range(start, start + count)
            ],
        ).all()
        application_ids = session.scalars(
            insert(Application).returning(Application.id, sort_by_parameter_order=True),
            [
                {
                    "round_id": round_id,
                    "partner_id": partner_id,
                    "state": ApplicationState.SUBMITTED,
                    "purpose": "Therapy for touring crew.",
                    "category": GrantCategory.THERAPY_ACCESS,
                    "amount_asked": rng.randrange(100_000, 2_500_000),
                    "created_by_id": reviewer_ids[0],
                    "submitted_by_id": reviewer_ids[0],
                    "submitted_at": now - timedelta(days=rng.randrange(30)),
                }
                for partner_id in partner_ids
            ],
        ).all()
        rows = []
        for application_id in application_ids:
            for reviewer_id in reviewer_ids:
                conflicted = rng.randrange(25) == 0
                rows.append(
                    {
                        "application_id": application_id,
                        "reviewer_id": reviewer_id,
                        "conflicted": conflicted,
                        "declared_at": now,
                        "comment": "" if conflicted else "Clear plan.",
                        "submitted_at": None if conflicted else now,
                    }
                )
        review_ids = session.scalars(
            insert(Review).returning(Review.id, sort_by_parameter_order=True), rows
        ).all()
        scores: list[dict[str, Any]] = [
            {"review_id": review_id, "criterion_id": criterion_id, "score": rng.randint(1, 5)}
            for review_id, row in zip(review_ids, rows, strict=True)
            if not row["conflicted"]
            for criterion_id in criteria
        ]
        for batch in range(0, len(scores), 5000):
            session.execute(insert(ReviewScore), scores[batch : batch + 5000])
        session.commit()


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
    parser.add_argument("--applications", type=int, default=500)
    parser.add_argument("--pages", type=int, default=200, help="in-process requests")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    arguments = parser.parse_args(argv)
    return Options(
        arguments.postgres,
        arguments.applications,
        arguments.pages,
        arguments.seed,
        arguments.check,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    engine = "PostgreSQL" if options.postgres_url else "SQLite"
    print(
        f"funding round bench on {engine}: {options.applications:,} applications, "
        f"{REVIEWERS} reviewers"
    )
    print(f"  before: {load_average()}")
    with tempfile.TemporaryDirectory(prefix="rounds-bench-") as temporary:
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
            round_id, emails = make_round(app)
            page = f"/manager/rounds/{round_id}"
            first = max(options.applications // 10, 1)
            started = time.perf_counter()
            fill(app, round_id, first, 0, options.seed)
            clients = [sign_in(app, email) for email in emails]
            few = statements_of(app, clients[0], page)
            fill(app, round_id, options.applications - first, first, options.seed)
            print(f"  bulk load: {time.perf_counter() - started:.1f} s")
            many = statements_of(app, clients[0], page)
            same = "met" if few == many else "NOT met"
            print(
                f"  statements of the round's page: {few} with {first:,} applications, {many} "
                f"with {options.applications:,} (target: the same: {same})"
            )
            rng = random.Random(options.seed)  # noqa: S311 - a repeatable workload

            def call() -> None:
                answer = rng.choice(clients).get(page)
                if answer.status_code != 200:
                    raise RuntimeError(f"{page} answered {answer.status_code}")

            result = timed("round's scoring page", [call] * options.pages)
            met = result.p95_ms < 100
            print(
                f"in-process, {options.pages} requests over {len(clients)} reviewers:\n"
                f"  {result.name:<22} p50 {result.p50_ms:6.1f} ms  p95 {result.p95_ms:6.1f} ms"
                f"  (target p95 < 100 ms: {'met' if met else 'NOT met'})"
            )
            print(f"  after: {load_average()}")
            with app.app_context():
                db.engine.dispose()
    return 1 if (few != many or not met) and options.check else 0


if __name__ == "__main__":
    raise SystemExit(main())
