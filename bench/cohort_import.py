"""Cohort import benchmark: how long a manager waits for the preview and for the import of a
cohort's CSV of 5,000 ambassadors.

Run from the project root, on SQLite (the default) or on PostgreSQL::

    .venv/bin/python bench/cohort_import.py
    .venv/bin/python bench/cohort_import.py --postgres
    .venv/bin/python bench/cohort_import.py --rows 500      # a quick look

One run builds a fresh database with the real application (``create_all``), the three
programmes, a manager, and ``--existing`` people already in the file: a tenth of them
invited earlier (so their rows update an invitation) and a tenth active ambassadors (left
as they are), the rest new. It then writes a CSV of ``--rows`` rows with a byte order mark,
as Excel's "CSV UTF-8" does, and times, each as its own committed transaction:

1. the preview: reading and checking every row and keeping the file
   (:func:`grants.domain.cohort_import.hold`);
2. the import: checking it again and inviting everyone through the invitations, each with
   its link, its audit events and its email in the outbox
   (:func:`grants.domain.cohort_import.import_cohort`);
3. confirming the same file again, which must invite nobody.

It prints each time against the target (preview and import together under 30 s), and
checks the counts: one account and one outbox email per new person, nobody twice. Each time
is printed as wall-clock and CPU seconds: on a machine busier than its processors the first
is the longer. The exit
status is 1 when a check fails, or with ``--check`` when the target is missed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ledger_bench import DEFAULT_POSTGRES_URL, Scratch, build_app, scratch_database

from grants.domain import cohort_file, cohort_import
from grants.domain.invitations import INVITATION_EMAIL, InvitationDetails, invite_person
from grants.domain.user_admin import Membership
from grants.extensions import db
from grants.models import (
    Ambassador,
    CohortStatus,
    Country,
    Invitation,
    OutboxMessage,
    Programme,
    Role,
    User,
)

TARGET_SECONDS = 30.0
"""Preview and import of :data:`ROWS` rows together, at most."""
ROWS = 5_000
PROGRAMMES = ("EQUAL", "GLOW", "RADAR")
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Where:
    """Where the scratch database goes: what :func:`ledger_bench.scratch_database` reads."""

    postgres_url: str | None
    sqlite_dir: Path | None


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=DEFAULT_POSTGRES_URL,
        default=None,
        metavar="URL",
        help=f"run on PostgreSQL (default URL: {DEFAULT_POSTGRES_URL})",
    )
    parser.add_argument("--sqlite-dir", type=Path, default=None, help="where the SQLite file goes")
    parser.add_argument("--rows", type=int, default=ROWS, help=f"rows in the file ({ROWS:,})")
    parser.add_argument(
        "--existing",
        type=float,
        default=0.2,
        help="share of the rows whose person has an account already (0.2)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    return parser.parse_args(argv)


def cohort_csv(rows: int) -> bytes:
    """A cohort's file as Excel saves "CSV UTF-8": a byte order mark and CRLF line ends."""
    lines = [cohort_file.SAMPLE_HEADER]
    for number in range(rows):
        programme = PROGRAMMES[number % len(PROGRAMMES)]
        country = "US" if number % 3 else "GB"
        status = ("current", "upcoming", "alumni")[number % 7 % 3]
        lines.append(
            f"Ambassador {number:05d} Núñez,Ambassador.{number:05d}@Example.org,"
            f"{programme},{country},{status}"
        )
    return b"\xef\xbb\xbf" + ("\r\n".join(lines) + "\r\n").encode()


def seed(rows: int, existing: float) -> tuple[int, int, int]:
    """Programmes, an admin, a manager, and the people already known; the manager's id and
    how many are invited and active already."""
    for code in PROGRAMMES:
        db.session.add(Programme(code=code, name=code.title()))
    admin = User(email="admin@example.org", display_name="Admin", active=True)
    manager = User(email="manager@example.org", display_name="Manager", active=True)
    db.session.add_all([admin, manager])
    db.session.flush()
    admin.grant_role(Role.ADMIN)
    manager.grant_role(Role.MANAGER)
    db.session.flush()
    glow = db.session.scalars(select(Programme).where(Programme.code == "GLOW")).one()
    known = int(rows * existing)
    invited = known // 2
    for number in range(invited):
        invite_person(
            db.session,
            actor=admin,
            details=InvitationDetails(
                f"ambassador.{number:05d}@example.org",
                f"Earlier name {number}",
                (Role.AMBASSADOR,),
                Membership(glow.id, Country.US, CohortStatus.UPCOMING),
            ),
            now=NOW,
        )
    active = known - invited
    for number in range(invited, known):
        user = User(
            email=f"ambassador.{number:05d}@example.org",
            display_name=f"Active {number}",
            active=True,
            password_hash="not-a-real-hash",  # noqa: S106 - signs nobody in
        )
        db.session.add(user)
        db.session.flush()
        user.grant_role(Role.AMBASSADOR)
        db.session.add(
            Ambassador(
                user_id=user.id,
                programme_id=glow.id,
                country=Country.US,
                cohort_status=CohortStatus.CURRENT,
            )
        )
    db.session.commit()
    return manager.id, invited, active


@dataclass
class Spent:
    """The wall-clock and CPU seconds a block took: on a busy machine the first is longer."""

    wall: float = 0.0
    cpu: float = 0.0


@contextmanager
def timed() -> Iterator[Spent]:
    spent = Spent()
    wall, cpu = time.perf_counter(), time.process_time()
    yield spent
    spent.wall, spent.cpu = time.perf_counter() - wall, time.process_time() - cpu


def counted(model: type[User] | type[Invitation]) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def emails() -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.kind == INVITATION_EMAIL)
        )
        or 0
    )


def run(options: argparse.Namespace, scratch: Scratch) -> int:
    with tempfile.TemporaryDirectory(prefix="cohort-bench-") as instance:
        app = build_app(scratch, instance)
        with app.app_context():
            db.create_all()
            manager_id, invited, active = seed(options.rows, options.existing)
            data = cohort_csv(options.rows)
            print(f"database: {scratch.where}")
            print(
                f"file: {options.rows:,} rows, {len(data) / 1_000_000:.2f} MB; already known: "
                f"{invited:,} invited, {active:,} active"
            )
            users_before, emails_before = counted(User), emails()

            manager = db.session.get(User, manager_id)
            assert manager is not None
            with timed() as preview_time:
                preview = cohort_import.hold(db.session, actor=manager, data=data, now=NOW)
                db.session.commit()
            if not preview.valid:
                print(f"FAILED: the file has {preview.error_count} errors: {preview.errors[:3]}")
                return 1

            manager = db.session.get(User, manager_id)
            assert manager is not None
            with timed() as import_time:
                done = cohort_import.import_cohort(
                    db.session, actor=manager, data=data, digest=preview.digest, now=NOW
                )
                db.session.commit()

            manager = db.session.get(User, manager_id)
            assert manager is not None
            with timed() as replay_time:
                again = cohort_import.import_cohort(
                    db.session, actor=manager, data=data, digest=preview.digest, now=NOW
                )
                db.session.commit()

            new = options.rows - invited - active
            problems = []
            if counted(User) - users_before != new:
                problems.append(f"{counted(User) - users_before} accounts made, not {new}")
            if emails() - emails_before != new + invited:
                problems.append(f"{emails() - emails_before} emails, not {new + invited}")
            if not again.replayed:
                problems.append("confirming again was not a replay")
            total = preview_time.wall + import_time.wall
            verdict = "meets" if total < TARGET_SECONDS else "MISSES"
            rows = options.rows
            print("                    wall      CPU")
            for label, spent in (
                ("preview", preview_time),
                ("import", import_time),
                ("confirming again", replay_time),
            ):
                print(f"{label + ':':18} {spent.wall:7.2f} s {spent.cpu:7.2f} s  ", end="")
                print(f"({rows / spent.wall:,.0f} rows/s)" if label != "confirming again" else "")
            print(
                f"preview + import:  {total:7.2f} s  {verdict} the target of {TARGET_SECONDS:.0f} s"
            )
            print("outcome: " + ", ".join(f"{n:,} {name}" for name, n in done.counts.items() if n))
            for problem in problems:
                print(f"FAILED: {problem}")
            if problems:
                return 1
            return 1 if options.check and total >= TARGET_SECONDS else 0


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)
    print(f"load average at the start: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    where = Where(options.postgres, options.sqlite_dir)
    with scratch_database(where) as scratch:  # type: ignore[arg-type]
        status = run(options, scratch)
    print(f"load average at the end: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    return status


if __name__ == "__main__":
    sys.exit(main())
