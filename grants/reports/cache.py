"""Made reports, named by their cache key, where every web host and worker finds them: in
the database (``report_files``), or in Redis when ``REDIS_URL`` is set (see
:mod:`grants.reports.store`).

The key is the SHA-256 of the report's parameters, its ledger fingerprint and the digest of
its figures: the same key means the same PDF. A report is stored whole in one write, so a
reader never sees half of one, and a second maker of the same report leaves the first one
in place (an insert that ignores a duplicate key), so two makers leave one whole report.
"""

from __future__ import annotations

import hashlib
import json
import re
from abc import ABC, abstractmethod
from datetime import datetime, timedelta
from typing import Any

import redis
from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants import clock
from grants.database import insert_for
from grants.models.reports import ReportFile
from grants.reports.store import (
    OwnTransactions,
    engine_of,
    key_prefix,
    max_age,
    redis_of,
)

KEY_PATTERN = re.compile(r"^[0-9a-f]{64}$")


def cache_key(parameters: dict[str, Any], fingerprint: str, figures: str) -> str:
    """The key of a report: parameters (canonical JSON), ledger fingerprint, figures digest."""
    payload = json.dumps(
        {"parameters": parameters, "fingerprint": fingerprint, "figures": figures},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def valid_key(key: str) -> bool:
    """Whether ``key`` has the shape of a cache key (64 lower-case hex digits)."""
    return bool(KEY_PATTERN.match(key))


def checked(key: str) -> str:
    """``key``, refused with :class:`ValueError` unless it has the shape of a cache key."""
    if not valid_key(key):
        raise ValueError("not a report cache key")
    return key


class ReportCache(ABC):
    """The PDFs already made, one per cache key."""

    @abstractmethod
    def get(self, key: str) -> bytes | None:
        """The PDF stored under ``key``, or ``None``."""

    @abstractmethod
    def has(self, key: str) -> bool:
        """Whether a PDF is stored under ``key``."""

    @abstractmethod
    def put(self, key: str, pdf: bytes, *, file_name: str) -> bool:
        """Store ``pdf`` (downloaded as ``file_name``) under ``key``, unless one is stored
        there already; returns whether this one was stored."""


class DatabaseReportCache(ReportCache):
    """Made reports as rows of ``report_files``."""

    def __init__(self, transactions: OwnTransactions) -> None:
        self.transactions = transactions

    def get(self, key: str) -> bytes | None:
        query = select(ReportFile.pdf).where(ReportFile.key == checked(key))
        return self.transactions.read(lambda session: session.scalar(query))

    def has(self, key: str) -> bool:
        query = select(ReportFile.key).where(ReportFile.key == checked(key))
        return self.transactions.read(lambda session: session.scalar(query) is not None)

    def put(self, key: str, pdf: bytes, *, file_name: str) -> bool:
        row = {"key": checked(key), "file_name": file_name, "pdf": pdf, "created_at": clock.now()}

        def store(session: Session) -> bool:
            insert = insert_for(session, ReportFile).values(row)
            stored = session.execute(
                insert.on_conflict_do_nothing(index_elements=["key"]).returning(ReportFile.key)
            )
            return stored.first() is not None

        return self.transactions.write(store)


PUT_UNLESS_THERE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'pdf', ARGV[1], 'file_name', ARGV[2], 'created_at', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""
"""Store a report in one step unless its key is taken (a script runs whole in Redis)."""


class RedisReportCache(ReportCache):
    """Made reports as Redis hashes (``pdf``, ``file_name``, ``created_at``) that expire
    after ``ttl``."""

    def __init__(self, client: redis.Redis, prefix: str, ttl: timedelta) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl = ttl
        self.put_unless_there = client.register_script(PUT_UNLESS_THERE)

    def name(self, key: str) -> str:
        """The Redis key of the report ``key``."""
        return f"{self.prefix}file:{checked(key)}"

    def get(self, key: str) -> bytes | None:
        pdf = self.client.hget(self.name(key), "pdf")
        return pdf if isinstance(pdf, bytes) else None

    def has(self, key: str) -> bool:
        return bool(self.client.exists(self.name(key)))

    def put(self, key: str, pdf: bytes, *, file_name: str) -> bool:
        created_at: datetime = clock.now()
        stored = self.put_unless_there(
            keys=[self.name(key)],
            args=[pdf, file_name, created_at.isoformat(), int(self.ttl.total_seconds())],
        )
        return bool(stored)


def report_cache(app: Flask | None = None) -> ReportCache:
    """The made reports of ``app`` (by default, the current application)."""
    app = app or current_app
    client = redis_of(app)
    if client is not None:
        return RedisReportCache(client, key_prefix(app), max_age(app))
    return DatabaseReportCache(OwnTransactions(engine_of(app)))
