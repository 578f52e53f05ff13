"""Database set-up and the constraints the schema enforces by itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from grants import config as settings
from grants import create_app
from grants import database as engine_setup
from grants.database import SQLITE_CACHE_KIB
from grants.extensions import db as database
from grants.models import Ambassador, Country, Fund, FundKind, Role, User
from tests.factories import make_programme, make_user
from tests.support import csrf_token, sign_in


def test_every_sqlite_connection_has_wal_foreign_keys_a_busy_timeout_and_a_page_cache(
    make_app, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    app: Flask = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'own.sqlite3'}")
    with app.app_context():
        engine = database.engine
        engine.dispose()
        for _ in range(2):
            with engine.connect() as connection:
                assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
                cache = connection.exec_driver_sql("PRAGMA cache_size").scalar()
                assert cache == -SQLITE_CACHE_KIB
            engine.dispose()


def test_a_pooled_connection_is_tested_on_checkout_only_for_a_database_server(
    make_app, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A server may close a pooled connection, so PostgreSQL's are pinged before use; an
    SQLite file cannot, and a ping would cost every request a statement."""
    app: Flask = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'own.sqlite3'}")
    with app.app_context():
        assert database.engine.pool._pre_ping is False
    server = settings.engine_options("postgresql+psycopg://db.example/grants", {"echo": False})
    assert server == {"pool_pre_ping": True, "echo": False}
    chosen = settings.engine_options(
        "postgresql+psycopg://db.example/grants", {"pool_pre_ping": False}
    )
    assert chosen == {"pool_pre_ping": False}


def test_savepoints_roll_back_only_their_own_work(db: Session) -> None:
    keep = make_user(db, email="keep@example.org")
    savepoint = db.begin_nested()
    db.add(User(email="keep@example.org", display_name="Duplicate"))
    with pytest.raises(IntegrityError):
        db.flush()
    savepoint.rollback()
    db.commit()
    assert db.get(User, keep.id) is not None


def test_foreign_keys_are_enforced(db: Session) -> None:
    programme = make_programme(db)
    with pytest.raises(IntegrityError):
        db.execute(
            insert(Ambassador).values(
                user_id=999_999, programme_id=programme.id, country="US", cohort_status="current"
            )
        )


def test_emails_must_be_stored_lower_case(db: Session) -> None:
    user = make_user(db, email="quiet@example.org")
    with pytest.raises(IntegrityError):
        db.execute(
            text("UPDATE users SET email = 'Shout@Example.org' WHERE id = :id"), {"id": user.id}
        )


@pytest.mark.parametrize(
    ("statement", "column"),
    [
        ("INSERT INTO user_roles (user_id, role) VALUES (:user, :bad)", "role"),
        (
            "INSERT INTO ambassadors (user_id, programme_id, country, cohort_status) "
            "VALUES (:user, :programme, :bad, 'current')",
            "country",
        ),
        (
            "INSERT INTO ambassadors (user_id, programme_id, country, cohort_status) "
            "VALUES (:user, :programme, 'US', :bad)",
            "cohort_status",
        ),
    ],
)
def test_enum_columns_refuse_unknown_values(db: Session, statement: str, column: str) -> None:
    """The same statement succeeds with a valid value and fails only for the unknown one."""
    programme = make_programme(db)
    valid = {"role": "admin", "country": "US", "cohort_status": "current"}[column]
    unknown = {"role": "root", "country": "FR", "cohort_status": "retired"}[column]
    first, second = make_user(db), make_user(db)
    db.execute(text(statement), {"user": first.id, "programme": programme.id, "bad": valid})
    with pytest.raises(IntegrityError):
        db.execute(text(statement), {"user": second.id, "programme": programme.id, "bad": unknown})


def test_a_fund_plan_year_must_end_after_it_starts(db: Session) -> None:
    from datetime import date

    db.add(
        Fund(
            name="Backwards",
            kind=FundKind.THERAPY,
            currency="USD",
            plan_year_start=date(2026, 12, 31),
            plan_year_end=date(2026, 1, 1),
        )
    )
    with pytest.raises(IntegrityError):
        db.flush()


def test_timestamps_come_back_in_utc(db: Session) -> None:
    user = make_user(db)
    db.commit()
    db.expire_all()
    reloaded = db.get(User, user.id)
    assert reloaded is not None
    assert reloaded.created_at.utcoffset() is not None
    assert reloaded.created_at.utcoffset().total_seconds() == 0
    assert Country("GB").label == "United Kingdom"


def test_an_sqlite_without_returning_is_refused_with_a_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(engine_setup.sqlite3, "sqlite_version_info", (3, 31, 1))
    monkeypatch.setattr(engine_setup.sqlite3, "sqlite_version", "3.31.1")
    with pytest.raises(RuntimeError, match=r"SQLite is 3\.31\.1; version 3\.35 or newer"):
        create_app(
            {
                "INSTANCE_PATH": tmp_path / "instance",
                "DATABASE_URL": f"sqlite:///{tmp_path / 'old.sqlite3'}",
            }
        )


def test_pages_are_served_while_a_writer_holds_the_sqlite_write_lock(
    make_app, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A GET reads a snapshot without the write lock; a POST still queues for it."""
    app: Flask = make_app(
        DATABASE_URL=f"sqlite:///{tmp_path / 'own.sqlite3'}", SQLITE_BUSY_TIMEOUT_MS=300
    )
    with app.app_context():
        make_user(database.session, Role.MANAGER, email="mo@example.org", name="Mo Manager")
        database.session.commit()
        client = sign_in(app, "mo@example.org")
        token = csrf_token(client, "/manager/")
        with database.engine.connect() as writer:
            writer.begin()
            writer.exec_driver_sql("UPDATE users SET locale = locale")

            page = client.get("/manager/")
            assert page.status_code == 200
            assert "Mo Manager" in page.get_data(as_text=True)
            with pytest.raises(OperationalError, match="database is locked"):
                client.post("/logout", data={"csrf_token": token})
            writer.rollback()
