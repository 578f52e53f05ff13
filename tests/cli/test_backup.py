"""``flask grants backup``: a consistent copy while the application keeps writing, restored
as the database, passes both verify commands."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from grants.backup import BackupError, make_backup, pg_dump_command
from grants.domain import allowances
from grants.domain.money import Money
from grants.extensions import db
from grants.models import Ambassador, Fund, Posting, User
from grants.security import password_hasher, password_rules
from grants.seed.demo import email_for, seed_demo
from tests.support import require


def seeded_sqlite_app(make_app, tmp_path: Path) -> Flask:  # type: ignore[no-untyped-def]
    """An application on a SQLite file of its own (whatever engine the suite runs on),
    with the demo data in it."""
    app: Flask = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'live.sqlite3'}")
    with app.app_context():
        seed_demo(
            db.session(),
            today=datetime.now(UTC).date(),
            hasher=password_hasher(),
            rules=password_rules(),
        )
        db.session.commit()
    return app


class Writer(threading.Thread):
    """Allocates allowances through the domain, one committed request after another, until
    stopped: the application writing while the backup runs."""

    def __init__(self, app: Flask) -> None:
        super().__init__(daemon=True)
        self.app = app
        self.stop = threading.Event()
        self.committed = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with self.app.app_context():
                session = db.session()
                manager = session.scalars(
                    select(User).where(User.email == email_for("manager"))
                ).one()
                ambassador = session.scalars(
                    select(Ambassador).join(User).where(User.email == email_for("ambassador"))
                ).one()
                fund = session.scalars(select(Fund).where(Fund.name.like("Therapy US%"))).one()
                session.commit()
                while not self.stop.is_set():
                    allowances.allocate_allowance(
                        session,
                        key=f"backup-test:{self.committed}",
                        actor=manager,
                        fund_id=fund.id,
                        ambassador_id=ambassador.id,
                        amount=Money(100, "USD"),
                    )
                    session.commit()
                    self.committed += 1
                db.session.remove()
        except BaseException as error:
            self.error = error


def postings_in(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        (count,) = connection.execute("SELECT count(*) FROM postings").fetchone()
    connection.close()
    return int(count)


def test_backup_while_writing_restores_to_a_verified_database(make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = seeded_sqlite_app(make_app, tmp_path)
    writer = Writer(app)
    writer.start()
    try:
        while writer.committed < 20 and writer.is_alive():
            threading.Event().wait(0.01)
        target = tmp_path / "copy.sqlite3"
        result = app.test_cli_runner().invoke(args=["grants", "backup", "-o", str(target)])
        during = writer.committed
        while writer.committed < during + 20 and writer.is_alive():
            threading.Event().wait(0.01)
    finally:
        writer.stop.set()
        writer.join(timeout=30)
    assert writer.error is None, writer.error
    assert result.exit_code == 0, result.output
    assert f"Wrote {target}" in result.output
    assert "SQLite online backup" in result.output
    assert not list(tmp_path.glob(".copy.sqlite3.*"))

    with app.app_context():
        live_postings = db.session.scalar(select(func.count()).select_from(Posting))
    copied_postings = postings_in(target)
    assert 0 < copied_postings < (live_postings or 0), "the copy is a moment during the writes"

    restored = tmp_path / "restored" / "grants.sqlite3"
    restored.parent.mkdir()
    shutil.copyfile(target, restored)
    copy_app = make_app(DATABASE_URL=f"sqlite:///{restored}")
    runner = copy_app.test_cli_runner()
    ledger = runner.invoke(args=["grants", "ledger", "verify"])
    assert ledger.exit_code == 0, ledger.output
    assert "Ledger verified" in ledger.output
    audit = runner.invoke(args=["grants", "audit", "verify"])
    assert audit.exit_code == 0, audit.output
    assert "Audit trail verified" in audit.output
    with copy_app.app_context():
        manager = db.session.scalars(select(User).where(User.email == email_for("manager"))).one()
        assert manager.display_name == "Morgan Manager"
        assert db.session.scalar(select(func.count()).select_from(Posting)) == copied_postings


def test_backup_refuses_to_overwrite_a_file(make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = seeded_sqlite_app(make_app, tmp_path)
    target = tmp_path / "copy.sqlite3"
    target.write_text("keep me")
    result = app.test_cli_runner().invoke(args=["grants", "backup", "-o", str(target)])
    assert result.exit_code == 1
    assert "exists already" in result.output
    assert target.read_text() == "keep me"

    again = app.test_cli_runner().invoke(
        args=["grants", "backup", "-o", str(target), "--overwrite"]
    )
    assert again.exit_code == 0, again.output
    assert postings_in(target) > 0


def test_a_missing_folder_or_database_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="does not exist"):
        make_backup(f"sqlite:///{tmp_path / 'none.sqlite3'}", tmp_path / "copy.sqlite3")
    with pytest.raises(BackupError, match="folder"):
        make_backup(f"sqlite:///{tmp_path / 'none.sqlite3'}", tmp_path / "no" / "copy.sqlite3")


def test_postgres_without_pg_dump_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BackupError, match=r"pg_dump was not found.*postgresql-client"):
        make_backup("postgresql+psycopg://postgres@127.0.0.1:5432/test", tmp_path / "dump")
    assert not (tmp_path / "dump").exists()


def test_pg_dump_gets_the_password_in_its_environment_and_the_schema_from_the_url(
    tmp_path: Path,
) -> None:
    require(shutil.which("pg_dump") is not None, "pg_dump is not installed")
    from sqlalchemy.engine import make_url

    url = make_url(
        "postgresql+psycopg://jo:s3cret@db.example:5433/grants?options=-csearch_path%3Dtenant"
    )
    command, environment = pg_dump_command(url, tmp_path / "dump")
    assert environment["PGPASSWORD"] == "s3cret"
    assert not any("s3cret" in part for part in command)
    assert "--schema=tenant" in command
    assert "--dbname=postgresql://jo@db.example:5433/grants" in command
    assert "--format=custom" in command


@pytest.mark.postgres
def test_backup_on_postgres_writes_a_dump_pg_restore_can_read(runner, db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    require(shutil.which("pg_restore") is not None, "pg_restore is not installed")
    seed_demo(db, today=datetime.now(UTC).date(), hasher=password_hasher(), rules=password_rules())
    db.commit()
    target = tmp_path / "grants.dump"
    result = runner.invoke(args=["grants", "backup", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert "pg_dump" in result.output
    listing = subprocess.run(
        [shutil.which("pg_restore") or "pg_restore", "--list", str(target)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "TABLE DATA" in listing.stdout
    assert " postings " in listing.stdout
