"""The migrations build the models' schema from nothing, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from grants import create_app
from grants.database import normalise_database_url
from grants.extensions import db as database
from grants.models import Base
from tests.conftest import with_search_path


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """An empty database on this run's engine: a new PostgreSQL schema, or a new SQLite file."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
        return
    engine = create_engine(normalise_database_url(url))
    schema = f"migrations_{uuid.uuid4().hex[:12]}"
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield with_search_path(url, schema)
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def test_migrations_build_the_models_schema_from_nothing(
    empty_database_url: str, tmp_path: Path
) -> None:
    """Upgrade, compare with the models, downgrade to nothing and upgrade again."""
    app = create_app({"INSTANCE_PATH": tmp_path / "instance", "DATABASE_URL": empty_database_url})
    runner = app.test_cli_runner()

    upgrade = runner.invoke(args=["db", "upgrade"])
    assert upgrade.exit_code == 0, upgrade.output
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        tables = set(inspect(engine).get_table_names())
        assert tables == {table.name for table in Base.metadata.sorted_tables} | {"alembic_version"}

        check = runner.invoke(args=["db", "check"])
        assert check.exit_code == 0, check.output
        assert check.exception is None

        downgrade = runner.invoke(args=["db", "downgrade", "base"])
        assert downgrade.exit_code == 0, downgrade.output
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}

        again = runner.invoke(args=["db", "upgrade"])
        assert again.exit_code == 0, again.output
    finally:
        engine.dispose()
        with app.app_context():
            database.engine.dispose()


def test_the_ledger_migration_opens_accounts_for_funds_that_already_exist(
    empty_database_url: str, tmp_path: Path
) -> None:
    """A fund created before the ledger existed gets its five accounts, at zero, and the
    rebuilt accounts table keeps its CHECK constraints."""
    app = create_app({"INSTANCE_PATH": tmp_path / "instance", "DATABASE_URL": empty_database_url})
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade", "0001_foundation"]).exit_code == 0
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO funds (name, kind, currency, plan_year_start, plan_year_end,"
                    " created_at) VALUES ('Therapy GBP 2026', 'therapy', 'GBP', '2026-01-01',"
                    " '2026-12-31', CURRENT_TIMESTAMP)"
                )
            )
        upgrade = runner.invoke(args=["db", "upgrade"])
        assert upgrade.exit_code == 0, upgrade.output
        with engine.connect() as connection:
            accounts = connection.execute(
                text("SELECT kind, currency, balance FROM accounts ORDER BY kind")
            ).all()
        assert [tuple(row) for row in accounts] == [
            ("budget_source", "GBP", 0),
            ("fund", "GBP", 0),
            ("paid_to_partners", "GBP", 0),
            ("paid_to_providers", "GBP", 0),
            ("payable_to_providers", "GBP", 0),
        ]
        for kind, balance in (("wallet", -1), ("no_such_kind", 0)):
            with pytest.raises(IntegrityError), engine.begin() as connection:
                connection.execute(
                    text(
                        "INSERT INTO accounts (kind, currency, fund_id, balance)"
                        " SELECT :kind, 'GBP', id, :balance FROM funds"
                    ),
                    {"kind": kind, "balance": balance},
                )
    finally:
        engine.dispose()
        with app.app_context():
            database.engine.dispose()
