"""Where made reports and report job records are kept, so that every web host and every
worker sees the same ones: the database by default (``report_files`` and ``report_jobs``),
Redis when ``REDIS_URL`` is set.

In the database, each read and each write of a store is a short transaction of its own, on
a session of its own: a worker's progress is committed as it goes, never with (nor rolled
back with) the report's or a request's own work, and a record written by a request is
committed before the worker is asked to look for it. On SQLite a store's reads begin
deferred, so they never wait for the write lock; its writes do, so the caller's session must
not hold that lock when it writes (a request ends its transaction first).

In Redis, keys start with the queue's name (``HUEY_NAME``, ``grants`` by default, so two
deployments sharing one Redis keep apart) and expire after ``REPORT_CACHE_MAX_AGE_HOURS``.
In the database, the worker's hourly :func:`prune` deletes what is older.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import redis
from flask import Flask, current_app, has_app_context
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from grants.database import READS_ONLY
from grants.extensions import db
from grants.models.reports import ReportFile, ReportJob
from grants.unit_of_work import run

T = TypeVar("T")


def max_age(app: Flask) -> timedelta:
    """How long a made report and a finished job's record are kept."""
    return timedelta(hours=int(app.config["REPORT_CACHE_MAX_AGE_HOURS"]))


def redis_of(app: Flask) -> redis.Redis | None:
    """The Redis that keeps ``app``'s reports when ``REDIS_URL`` is set, else ``None``; one
    client (and its pool of connections) per application."""
    url = app.config.get("REDIS_URL")
    if not url:
        return None
    client: redis.Redis | None = app.extensions.get("report_redis")
    if client is None:
        client = redis.Redis.from_url(str(url))
        app.extensions["report_redis"] = client
    return client


def key_prefix(app: Flask) -> str:
    """The start of every report key in Redis: the queue's name, then ``reports``."""
    return f"{app.config.get('HUEY_NAME') or 'grants'}:reports:"


def engine_of(app: Flask) -> Engine:
    """The database engine of ``app``."""
    if has_app_context() and current_app.config is app.config:
        return db.engine
    with app.app_context():
        return db.engine


class OwnTransactions:
    """Short transactions on sessions of their own, bound to one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def read(self, query: Callable[[Session], T]) -> T:
        """``query`` on a session of its own, in a transaction that only reads."""
        reads_only = READS_ONLY.set(True)
        try:
            with Session(self.engine) as session:
                result = query(session)
                session.rollback()
                return result
        finally:
            READS_ONLY.reset(reads_only)

    def write(self, operation: Callable[[Session], T]) -> T:
        """``operation`` on a session of its own, committed at once."""
        with Session(self.engine) as session:
            return run(lambda: operation(session), session=session)


@dataclass(frozen=True)
class Pruned:
    """What one :func:`prune` deleted."""

    reports: int
    jobs: int


def prune(session: Session, *, before: datetime) -> Pruned:
    """Delete the reports made before ``before`` and the records of jobs last written
    before it: finished ones, and queued or running ones that are long lost (a job being
    made writes its record every few percent). Flushes; the caller commits."""
    reports = session.execute(delete(ReportFile).where(ReportFile.created_at < before))
    jobs = session.execute(delete(ReportJob).where(ReportJob.updated_at < before))
    return Pruned(reports=_count(reports), jobs=_count(jobs))


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
