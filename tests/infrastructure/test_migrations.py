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
