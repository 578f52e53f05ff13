"""Fixtures shared by the whole suite.

Every test gets its own application, instance folder and empty database: a SQLite file of
its own, or, when ``TEST_DATABASE_URL`` names a PostgreSQL server, a schema made for this
run whose tables are emptied after each test. Before they are, the ledger and the audit
chain the test left behind must verify, as ``flask grants ledger verify`` and
``audit verify`` would: a test that breaks them on purpose is marked ``tampers``.
"""

from __future__ import annotations

import contextvars
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, has_app_context
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from grants import create_app
from grants.database import normalise_database_url
from grants.domain.audit import verify_chain
from grants.domain.ledger import verify_ledger
from grants.extensions import db as database

FAST_ARGON2 = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST_KIB": 8, "ARGON2_PARALLELISM": 1}
"""Cheap hashing parameters: the suite checks behaviour, not hashing cost."""


def end_test_transaction() -> None:
    """Commit whatever the test's own session holds, as a separate client would have to.

    Every SQLite transaction takes the write lock from its start, and on PostgreSQL a test's
    row locks would block the request, so the test's transaction must end before a request
    or a command runs against the same database.
    """
    if has_app_context():
        database.session.commit()


class RequestIsolatedClient(FlaskClient):
    """A test client whose every request runs in a fresh application context.

    Without this, a request made while a test holds an application context (the ``db``
    fixture) would share that context: its ``g``, its signed-in user and its database
    session would leak from one request into the next, unlike a real server.
    """

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        end_test_transaction()
        return contextvars.Context().run(super().open, *args, **kwargs)


class IsolatedCliRunner(FlaskCliRunner):
    """A CLI runner that, like the client, runs each command in its own application context."""

    def invoke(self, *args: Any, **kwargs: Any) -> Any:
        end_test_transaction()
        return contextvars.Context().run(super().invoke, *args, **kwargs)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``postgres`` run in the PostgreSQL pass only; the SQLite pass (no
    ``TEST_DATABASE_URL``) skips them, since the suite runs once on each engine."""
    if os.environ.get("TEST_DATABASE_URL"):
        return
    elsewhere = pytest.mark.skip(reason="runs in the PostgreSQL pass (set TEST_DATABASE_URL)")
    for item in items:
        if item.get_closest_marker("postgres"):
            item.add_marker(elsewhere)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's own ``GRANTS_*`` variables out of every test."""
    for name in list(os.environ):
        if name.startswith("GRANTS_"):
            monkeypatch.delenv(name)


def with_search_path(url: str, schema: str) -> str:
    """``url`` with every connection's search path set to ``schema``."""
    parsed = make_url(normalise_database_url(url))
    return parsed.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose connections use a schema made for this test run."""
    url = os.environ["TEST_DATABASE_URL"]
    engine = create_engine(normalise_database_url(url))
    schema = f"test_{uuid.uuid4().hex[:12]}"
    try:
        with engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:
        pytest.fail(f"TEST_DATABASE_URL is set but PostgreSQL cannot be used: {error}")
    try:
        yield with_search_path(url, schema)
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database of one test: PostgreSQL when ``TEST_DATABASE_URL`` is set, else SQLite."""
    if os.environ.get("TEST_DATABASE_URL"):
        url: str = request.getfixturevalue("postgres_url")
        return url
    return f"sqlite:///{tmp_path / 'grants.sqlite3'}"


def verify_books(app: Flask) -> None:
    """Fail unless the ledger and the audit chain of ``app``'s database verify."""
    with app.app_context():
        database.session.remove()
        problems = verify_ledger(database.session()) + verify_chain(database.session())
        database.session.remove()
    assert problems == [], f"the test left books that do not verify: {problems}"


@pytest.fixture
def make_app(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Iterator[object]:
    """A factory of applications on this test's instance folder and database.

    Their public address is the test client's (``http://localhost``), so links in emails
    lead back to the same client; ``PUBLIC_URL=None`` gives the embedded default."""
    apps: list[Flask] = []

    def make(**overrides: object) -> Flask:
        config: dict[str, object] = {
            "INSTANCE_PATH": tmp_path / "instance",
            "DATABASE_URL": database_url,
            "TESTING": True,
            "PUBLIC_URL": "http://localhost",
            **FAST_ARGON2,
        }
        config.update(overrides)
        app = create_app(config)
        app.test_client_class = RequestIsolatedClient
        app.test_cli_runner_class = IsolatedCliRunner
        with app.app_context():
            database.create_all()
        apps.append(app)
        return app

    yield make

    if apps and request.node.get_closest_marker("tampers") is None:
        verify_books(apps[0])
    for app in apps:
        with app.app_context():
            database.session.remove()
            if database.engine.dialect.name == "postgresql":
                empty_postgres_schema()
            database.engine.dispose()


def empty_postgres_schema() -> None:
    """Empty every table of the current application's PostgreSQL schema and start its ids
    again from 1, as a new SQLite file would.

    Row by row deletion, children first, takes a fifth of the time a ``TRUNCATE`` of every
    table does on tables this small. Rows that point at each other (a hub service and its
    published version) cannot be deleted one table at a time: a test that left such rows
    is emptied by ``TRUNCATE`` instead."""
    tables = database.metadata.sorted_tables
    try:
        with database.engine.begin() as connection:
            for table in reversed(tables):
                connection.execute(table.delete())
            connection.execute(
                text(
                    "SELECT setval(sequence.oid::regclass, 1, false) FROM pg_class sequence"
                    " JOIN pg_namespace schema ON schema.oid = sequence.relnamespace"
                    " WHERE sequence.relkind = 'S' AND schema.nspname = current_schema()"
                )
            )
    except IntegrityError:
        names = ", ".join(f'"{table.name}"' for table in tables)
        with database.engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def app(make_app) -> Flask:  # type: ignore[no-untyped-def]
    """The application under test, with an empty database."""
    application: Flask = make_app()
    return application


@pytest.fixture
def db(app: Flask) -> Iterator[Session]:
    """The database session, inside an application context; the database is this test's own."""
    with app.app_context():
        yield database.session


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()
