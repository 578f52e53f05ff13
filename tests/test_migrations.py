"""The migrations build the models' schema from nothing, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from grants import create_app
from grants.database import normalise_database_url
from grants.models import Base
from tests.conftest import with_search_path
from tests.support import require


@pytest.fixture
def empty_postgres_schema() -> Iterator[str]:
    """A URL whose connections see a new, empty PostgreSQL schema."""
    url = os.environ.get("TEST_DATABASE_URL")
    require(bool(url), "TEST_DATABASE_URL is not set, so PostgreSQL migrations are not tried")
    assert url is not None
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


def check_migrations(database_url: str, instance: Path) -> None:
    app = create_app({"INSTANCE_PATH": instance, "DATABASE_URL": database_url})
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


def test_migrations_on_sqlite(tmp_path: Path) -> None:
    check_migrations(f"sqlite:///{tmp_path / 'migrated.sqlite3'}", tmp_path / "instance")


def test_migrations_on_postgresql(empty_postgres_schema: str, tmp_path: Path) -> None:
    check_migrations(empty_postgres_schema, tmp_path / "instance")
