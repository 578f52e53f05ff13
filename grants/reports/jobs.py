"""Report jobs: the records of large reports being made in the background.

The worker (:mod:`grants.tasks`) makes them; this module keeps their records and queues
them through the task the worker registered. A report job is named by the cache key of the
report it was asked for, so asking twice for the same report (a double-click, a second
member of finance, on any web host) joins the job already queued. Its record lives where
every host and worker sees it, in the database (``report_jobs``) or in Redis (see
:mod:`grants.reports.store`): the progress page reads it, the worker writes it, each write
a short transaction of its own.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from flask import Flask, current_app
from sqlalchemy import or_
from sqlalchemy.orm import Session

from grants import clock
from grants.database import insert_for
from grants.models.reports import FINISHED_STATES, JobState, ReportJob
from grants.reports.cache import checked
from grants.reports.store import (
    OwnTransactions,
    engine_of,
    key_prefix,
    max_age,
    redis_of,
)

__all__ = ["Job", "JobState", "JobStore", "enqueue_report", "job_store"]


LOST_AFTER = timedelta(minutes=15)
"""How long a queued or running job's record may stay unchanged before the job counts as
lost. A running job writes its progress every few percent, far more often than this."""


@dataclass
class Job:
    """A report being made in the background."""

    key: str
    """The cache key of the report asked for."""
    parameters: dict[str, Any]
    state: JobState = JobState.QUEUED
    percent: int = 0
    result_key: str | None = None
    """The cache key of the report made (another one if the ledger moved meanwhile)."""
    file_name: str | None = None
    error: str | None = None
    updated_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def lost(self) -> bool:
        """Whether the job is queued or running but its record has not moved for
        :data:`LOST_AFTER`: its worker died, or the queue lost it. Asking for its report
        again queues it afresh."""
        if self.finished or self.updated_at is None:
            return False
        return self.updated_at < clock.now() - LOST_AFTER

    def values(self) -> dict[str, Any]:
        """The record's fields, as stored."""
        return asdict(self)


class JobStore(ABC):
    """The records of report jobs, one per job key."""

    @abstractmethod
    def get(self, key: str) -> Job | None:
        """The record of job ``key``, or ``None``."""

    @abstractmethod
    def save(self, job: Job) -> Job:
        """Write ``job``'s record as it stands, stamped with the time."""

    @abstractmethod
    def queue(self, job: Job) -> Job | None:
        """Record ``job`` as queued, unless a job of its key is queued or running and not
        :attr:`Job.lost`: that job is returned and nothing is written. ``None`` when ``job``
        was recorded."""


class DatabaseJobStore(JobStore):
    """Job records as rows of ``report_jobs``."""

    def __init__(self, transactions: OwnTransactions) -> None:
        self.transactions = transactions

    def get(self, key: str) -> Job | None:
        checked(key)
        return self.transactions.read(lambda session: _found(session, key))

    def save(self, job: Job) -> Job:
        job.updated_at = clock.now()
        row = _row(job)

        def upsert(session: Session) -> None:
            insert = insert_for(session, ReportJob).values(row)
            changed = {name: insert.excluded[name] for name in row if name != "key"}
            session.execute(insert.on_conflict_do_update(index_elements=["key"], set_=changed))

        self.transactions.write(upsert)
        return job

    def queue(self, job: Job) -> Job | None:
        now = clock.now()
        job.state, job.updated_at = JobState.QUEUED, now
        row = _row(job)

        def queue_unless_active(session: Session) -> Job | None:
            insert = insert_for(session, ReportJob).values(row)
            changed = {name: insert.excluded[name] for name in row if name != "key"}
            recorded = session.execute(
                insert.on_conflict_do_update(
                    index_elements=["key"],
                    set_=changed,
                    where=or_(
                        ReportJob.state.in_(FINISHED_STATES),
                        ReportJob.updated_at < now - LOST_AFTER,
                    ),
                ).returning(ReportJob.key)
            ).first()
            return None if recorded is not None else _found(session, job.key)

        return self.transactions.write(queue_unless_active)


def _row(job: Job) -> dict[str, Any]:
    values = job.values()
    values["key"] = checked(job.key)
    return values


def _found(session: Session, key: str) -> Job | None:
    row = session.get(ReportJob, key)
    if row is None:
        return None
    return Job(
        key=row.key,
        parameters=row.parameters,
        state=row.state,
        percent=row.percent,
        result_key=row.result_key,
        file_name=row.file_name,
        error=row.error,
        updated_at=row.updated_at,
    )


QUEUE_UNLESS_ACTIVE = """
local current = redis.call('GET', KEYS[1])
if current then
  local found = cjson.decode(current)
  local active = found['state'] == 'queued' or found['state'] == 'running'
  if active and found['updated_at'] and found['updated_at'] >= ARGV[3] then return current end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return false
"""
"""Record a job unless one of its key is queued or running and was written since the time
``ARGV[3]`` (a script runs whole in Redis): the record found, or nothing when this one was
recorded. Times are ISO 8601 in UTC to the microsecond, so they compare as strings."""


class RedisJobStore(JobStore):
    """Job records as JSON strings in Redis that expire after ``ttl`` (from their last
    write)."""

    def __init__(self, client: redis.Redis, prefix: str, ttl: timedelta) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl = ttl
        self.queue_unless_active = client.register_script(QUEUE_UNLESS_ACTIVE)

    def name(self, key: str) -> str:
        """The Redis key of job ``key``'s record."""
        return f"{self.prefix}job:{checked(key)}"

    def get(self, key: str) -> Job | None:
        found = self.client.get(self.name(key))
        return _decoded(found) if found is not None else None

    def save(self, job: Job) -> Job:
        job.updated_at = clock.now()
        self.client.set(self.name(job.key), _encoded(job), ex=self.ttl)
        return job

    def queue(self, job: Job) -> Job | None:
        now = clock.now()
        job.state, job.updated_at = JobState.QUEUED, now
        lost_before = _timestamp(now - LOST_AFTER)
        found = self.queue_unless_active(
            keys=[self.name(job.key)],
            args=[_encoded(job), int(self.ttl.total_seconds()), lost_before],
        )
        return _decoded(found) if found else None


def _encoded(job: Job) -> str:
    values = job.values()
    values["updated_at"] = _timestamp(job.updated_at) if job.updated_at else None
    return json.dumps(values, sort_keys=True)


def _timestamp(moment: datetime) -> str:
    """``moment`` in UTC as ISO 8601 to the microsecond: stored times compare as strings."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _decoded(stored: Any) -> Job:
    values = json.loads(stored)
    values["state"] = JobState(values["state"])
    if values["updated_at"]:
        values["updated_at"] = datetime.fromisoformat(values["updated_at"])
    return Job(**values)


def job_store(app: Flask | None = None) -> JobStore:
    """The job records of ``app`` (by default, the current application)."""
    app = app or current_app
    client = redis_of(app)
    if client is not None:
        return RedisJobStore(client, key_prefix(app), max_age(app))
    return DatabaseJobStore(OwnTransactions(engine_of(app)))


def enqueue_report(job: Job) -> Job:
    """Queue ``job`` unless a job of its key is queued or running; returns the job now
    queued, ``job`` or the one it joined. The record is committed before the worker is
    asked to make it; on SQLite the caller's session must not hold the write lock."""
    joined = job_store().queue(job)
    if joined is not None:
        return joined
    current_app.extensions["report_task"](job.key)
    return job
