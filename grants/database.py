"""Engine set-up: the SQLite pragmas and transaction handling, and URL normalisation."""

from __future__ import annotations

import sqlite3
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session


def insert_for(session: Session, table: Any) -> postgresql.Insert | sqlite.Insert:
    """An ``INSERT`` into ``table`` (a model or a table) that can say what to do with a
    duplicate key, for the session's database (both dialects spell it ``ON CONFLICT``)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs that name no driver (``postgres://`` included)."""
    parsed = make_url(url)
    if parsed.drivername in {"postgres", "postgresql"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


SQLITE_CACHE_KIB = 64 * 1024
"""Page cache per connection. SQLite's default of 2 MiB holds only the top of the ledger's
indexes: with a million postings, every write then reads pages back from the file."""

READS_ONLY: ContextVar[bool] = ContextVar("reads_only", default=False)
"""True while serving a request that changes nothing (GET, HEAD, OPTIONS): its SQLite
transactions begin deferred, reading a WAL snapshot without the write lock, so pages never
queue behind writers. Everything else begins ``IMMEDIATE``."""

SQLITE_MINIMUM = (3, 35)
"""The first SQLite with ``RETURNING``, which the ledger's writes use."""


UNICODE_LOWER = "unicode_lower"
"""The SQL function every SQLite connection gets that lower-cases text as Python does: SQLite's
own ``lower()`` changes only A to Z, so "Élodie" would not match "élodie"."""


def unicode_lower(text: str | None) -> str | None:
    """``text`` in lower case, every script's letters (``NULL`` stays ``NULL``)."""
    return text.lower() if isinstance(text, str) else text


def configure_sqlite(engine: Engine, *, busy_timeout_ms: int) -> None:
    """Give every SQLite connection WAL, enforced foreign keys, a busy timeout, a page cache
    of :data:`SQLITE_CACHE_KIB` and the :data:`UNICODE_LOWER` function.

    The driver's own transaction handling is switched off and SQLAlchemy emits
    ``BEGIN IMMEDIATE`` itself (the recipe in SQLAlchemy's SQLite dialect documentation), so
    savepoints work and every transaction holds the write lock from its start: a
    read-check-write can never be overtaken by another writer, and no transaction fails
    half-way when it first writes. Waiting writers queue for up to the busy timeout. A request
    that changes nothing (:data:`READS_ONLY`) reads without taking the write lock.
    An SQLite older than :data:`SQLITE_MINIMUM` is refused with a message saying so.
    """
    if sqlite3.sqlite_version_info < SQLITE_MINIMUM:
        needed = ".".join(map(str, SQLITE_MINIMUM))
        raise RuntimeError(
            f"This Python's SQLite is {sqlite3.sqlite_version}; version {needed} or newer is "
            "needed. Use a newer Python build, or PostgreSQL (GRANTS_DATABASE_URL)."
        )

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.create_function(UNICODE_LOWER, 1, unicode_lower, deterministic=True)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN" if READS_ONLY.get() else "BEGIN IMMEDIATE")
