"""Statement reconciliation benchmark: a 10,000-line camt.053 statement matched and recorded.

Run from the project root, on SQLite (the default) or on PostgreSQL::

    .venv/bin/python bench/reconciliation_bench.py              # 10,000 lines
    .venv/bin/python bench/reconciliation_bench.py --postgres   # in a schema of its own
    .venv/bin/python bench/reconciliation_bench.py --lines 50000

One run:

1. makes a database for the run (``bench/load.py``'s ``run_database``), applies the
   migrations, and writes straight into the tables a member of finance, ``--lines`` payout
   batches in US dollars (paid a week ago, none settled) and a grant with a tranche paid under
   its own reference for every tenth of them;
2. builds a camt.053 statement of ``--lines`` debit entries: most name a batch by its file id
   (``HSF-B…``), one in ten a tranche by its payment reference, one in fifty an unknown
   reference, one in fifty a batch for another amount;
3. times :func:`grants.domain.reconciliation.import_statement` (reading the XML, matching
   every line, writing every line, settling and auditing what matched) and the commit, as
   one transaction, against the target of 3 s; then checks the outcome counts.

The machine's load average is printed before and after, since the figures share it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy import func, insert, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import load  # noqa: E402
from helpdesk_bench import PASSWORD  # noqa: E402
from hub_bench import load_average  # noqa: E402

from grants import create_app  # noqa: E402
from grants.domain.accounts import create_user  # noqa: E402
from grants.domain.funds import open_fund  # noqa: E402
from grants.domain.reconciliation import import_statement  # noqa: E402
from grants.extensions import db  # noqa: E402
from grants.models import (  # noqa: E402
    Country,
    FundKind,
    Grant,
    GrantCategory,
    GrantStatus,
    Partner,
    PayoutBatch,
    Role,
    StatementLine,
    Tranche,
    User,
)
from grants.security import password_hasher, password_rules  # noqa: E402
from tests.payments.camt import Entry, Transaction, camt053  # noqa: E402

TARGET_SECONDS = 3.0
PAID = datetime(2026, 6, 1, 12, tzinfo=UTC)


@dataclass(frozen=True)
class Options:
    postgres_url: str | None
    lines: int
    check: bool


def make_payments(app: Flask, lines: int) -> tuple[int, list[Entry]]:
    """The payments and the statement's entries; returns finance's id and the entries."""
    with app.app_context():
        session = db.session()
        finance = create_user(
            session,
            email="finance@bench.example",
            display_name="Bench Finance",
            password=PASSWORD,
            roles=[Role.FINANCE],
            hasher=password_hasher(),
            rules=password_rules(),
        )
        fund = open_fund(
            session,
            name="Partner grants (bench)",
            kind=FundKind.GRANTS,
            currency="USD",
            start=date(2026, 1, 1),
            end=date(2026, 12, 31),
        )
        partner = Partner(
            legal_name="Bench Partner Inc.",
            display_name="Bench Partner",
            country=Country.US,
            registration_number="12-3456789",
        )
        session.add(partner)
        session.flush()
        grant = Grant(
            fund_id=fund.id,
            partner_id=partner.id,
            purpose="Bench",
            category=GrantCategory.SERVICES,
            amount=lines * 1_000,
            currency="USD",
            status=GrantStatus.ACTIVE,
            created_by_id=finance.id,
        )
        session.add(grant)
        session.flush()
        batches = [
            {
                "payment_reference": f"ACH-BENCH-{n}",
                "currency": "USD",
                "redemptions": 1,
                "amount": 10_000 + n,
                "paid_at": PAID,
                "paid_by_id": finance.id,
            }
            for n in range(lines)
        ]
        session.execute(insert(PayoutBatch), batches)
        tranches = [
            {
                "grant_id": grant.id,
                "due_date": date(2026, 6, 1),
                "amount": 500,
                "paid_on": date(2026, 6, 1),
                "payment_reference": f"WIRE-{n}",
                "paid_by_id": finance.id,
            }
            for n in range(lines // 10)
        ]
        session.execute(insert(Tranche), tranches)
        first = int(session.scalar(select(func.min(PayoutBatch.id))) or 0)
        session.commit()
        finance_id = finance.id
    entries = []
    for n in range(lines):
        booked = date(2026, 6, 2) + timedelta(days=n % 5)
        if n % 50 == 7:
            entries.append(Entry(booked, 999, end_to_end_id=f"UNKNOWN-{n}"))
        elif n % 50 == 9:
            entries.append(
                Entry(
                    booked,
                    1,
                    pmt_inf_id=f"HSF-B{first + n}",
                    transactions=(Transaction(f"HSF-B{first + n}-P1", 1),),
                )
            )
        elif n % 10 == 3:
            entries.append(Entry(booked, 500, end_to_end_id=f"WIRE-{n // 10}"))
        else:
            batch = f"HSF-B{first + n}"
            entries.append(
                Entry(
                    booked,
                    10_000 + n,
                    pmt_inf_id=batch,
                    transactions=(Transaction(f"{batch}-P1", 10_000 + n),),
                )
            )
    return finance_id, entries


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
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    arguments = parser.parse_args(argv)
    return Options(arguments.postgres, arguments.lines, arguments.check)


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    engine = "PostgreSQL" if options.postgres_url else "SQLite"
    print(f"reconciliation bench on {engine}: a statement of {options.lines:,} lines")
    print(f"  before: {load_average()}")
    with tempfile.TemporaryDirectory(prefix="reconciliation-bench-") as temporary:
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
            finance_id, entries = make_payments(app, options.lines)
            data = camt053(entries, currency="USD")
            print(f"  statement: {len(data) / 1_048_576:.1f} MiB")
            with app.app_context():
                session = db.session()
                finance = session.get_one(User, finance_id)
                started = time.perf_counter()
                imported = import_statement(
                    session,
                    actor=finance,
                    data=data,
                    filename="bench.xml",
                    currency=None,
                    now=PAID + timedelta(days=7),
                )
                session.commit()
                seconds = time.perf_counter() - started
                outcomes = Counter(
                    session.scalars(
                        select(StatementLine.outcome).where(StatementLine.import_id == imported.id)
                    )
                )
                db.engine.dispose()
            met = seconds < TARGET_SECONDS
            print(
                f"  import and match: {seconds:.2f} s for {options.lines:,} lines, "
                f"{imported.settled:,} payments settled (target < {TARGET_SECONDS:.0f} s: "
                f"{'met' if met else 'NOT met'})"
            )
            print(
                "  outcomes: " + ", ".join(f"{k.value} {v:,}" for k, v in sorted(outcomes.items()))
            )
            print(f"  after: {load_average()}")
    return 1 if not met and options.check else 0


if __name__ == "__main__":
    raise SystemExit(main())
