"""Background jobs: large reports; and, as periodic tasks, the gift expiry sweep and the
reports' running totals (:func:`grants.reports.flows.fold`).

Jobs queue in Huey: a SQLite file in the instance folder by default, Redis when
``GRANTS_REDIS_URL`` is set. ``flask grants worker`` runs the consumer.

A report job is named by the cache key of the report it was asked for, so asking twice for
the same report (a double-click, a second member of finance) joins the job already queued.
Its state lives in a small JSON file beside the cache (``instance/reports/jobs/``): the
progress page reads it, the worker writes it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from huey import Huey, RedisHuey, SqliteHuey, crontab

from grants.extensions import db
from grants.reports.cache import valid_key, write_atomically
from grants.reports.flows import fold

logger = logging.getLogger(__name__)


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


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
    updated_at: str = ""

    @property
    def finished(self) -> bool:
        return self.state in (JobState.DONE, JobState.FAILED)


class JobStore:
    """Job records as JSON files, one per job key."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, key: str) -> Path:
        if not valid_key(key):
            raise ValueError("not a report job key")
        return self.folder / f"{key}.json"

    def get(self, key: str) -> Job | None:
        try:
            values = json.loads(self.path(key).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        values["state"] = JobState(values["state"])
        return Job(**values)

    def save(self, job: Job) -> Job:
        job.updated_at = datetime.now(UTC).isoformat()
        write_atomically(self.path(job.key), json.dumps(asdict(job)).encode())
        return job


def job_store(app: Flask | None = None) -> JobStore:
    """The job records of ``app`` (by default, the current application)."""
    config = (app or current_app).config
    return JobStore(Path(config["REPORT_FOLDER"]) / "jobs")


def make_huey(app: Flask) -> Huey:
    """The queue of ``app``: Redis when ``REDIS_URL`` is set, else a SQLite file.

    The queue is called ``grants`` unless ``HUEY_NAME`` says otherwise (two deployments
    sharing one Redis need two names)."""
    name = app.config.get("HUEY_NAME") or "grants"
    if app.config.get("REDIS_URL"):
        return RedisHuey(name, url=app.config["REDIS_URL"])
    filename = app.config.get("HUEY_FILE") or str(Path(app.instance_path) / "huey.sqlite3")
    Path(filename).parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(name, filename=filename)


def huey_of(app: Flask | None = None) -> Huey:
    huey: Huey = (app or current_app).extensions["huey"]
    return huey


def enqueue_report(job: Job) -> Job:
    """Queue ``job`` unless it is already queued or running; returns its record."""
    store = job_store()
    existing = store.get(job.key)
    if existing is not None and existing.state in (JobState.QUEUED, JobState.RUNNING):
        return existing
    store.save(job)
    current_app.extensions["report_task"](job.key)
    return job


def run_report_job(app: Flask, key: str) -> None:
    """Make the report of job ``key``: progress into its record, the PDF into the cache."""
    from grants.reports.build import prepare, report_cache, report_pdf
    from grants.reports.parameters import ReportParameters

    store = job_store(app)
    job = store.get(key)
    if job is None:
        logger.warning("report job %s has no record", key)
        return
    with app.app_context():
        job.state, job.percent, job.error = JobState.RUNNING, 1, None
        store.save(job)
        last = [0]

        def progress(percent: int) -> None:
            if percent >= last[0] + 5:
                last[0] = percent
                job.percent = percent
                store.save(job)

        try:
            prepared = prepare(db.session(), ReportParameters.from_canonical(job.parameters))
            db.session.rollback()
            progress(5)
            report_pdf(
                prepared,
                generated_at=datetime.now(UTC).replace(microsecond=0),
                cache=report_cache(),
                progress=progress,
            )
        except Exception:
            logger.exception("report job %s failed", key)
            job.state, job.error = JobState.FAILED, "The report could not be made."
            store.save(job)
            return
        finally:
            db.session.remove()
        job.state, job.percent = JobState.DONE, 100
        job.result_key, job.file_name = prepared.key, prepared.file_name
        store.save(job)


def run_sweep(app: Flask) -> int:
    """Expire gifts past their deadline; the periodic task and ``flask grants sweep``."""
    from grants.domain.credits import sweep

    with app.app_context():
        try:
            expired = sweep(db.session(), now=datetime.now(UTC))
            db.session.commit()
            return expired
        finally:
            db.session.remove()


def run_fold(app: Flask) -> None:
    """Bring the reports' running totals up to what has settled; a periodic task."""
    with app.app_context():
        try:
            fold(db.session(), now=datetime.now(UTC))
            db.session.commit()
        finally:
            db.session.remove()


def init_app(app: Flask) -> None:
    """Create the application's queue and register its tasks on it."""
    huey = make_huey(app)
    app.extensions["huey"] = huey

    def make_report(key: str) -> None:
        run_report_job(app, key)

    def fold_totals() -> None:
        run_fold(app)

    def sweep_gifts() -> None:
        expired = run_sweep(app)
        if expired:
            logger.info("expired %d gifts", expired)

    minutes = max(1, int(app.config["SWEEP_EVERY_MINUTES"]))
    app.extensions["report_task"] = huey.task(name="reports.make")(make_report)
    huey.periodic_task(crontab(minute=f"*/{minutes}"), name="credits.sweep")(sweep_gifts)
    huey.periodic_task(crontab(minute="*"), name="reports.fold")(fold_totals)
