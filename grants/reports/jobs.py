"""Report jobs: the records of large reports being made in the background.

The worker (:mod:`grants.tasks`) makes them; this module keeps their records and queues
them through the task the worker registered. A report job is named by the cache key of the
report it was asked for, so asking twice for the same report (a double-click, a second
member of finance) joins the job already queued. Its state lives in a small JSON file beside
the cache (``instance/reports/jobs/``): the progress page reads it, the worker writes it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from grants import clock
from grants.reports.cache import valid_key, write_atomically


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
        job.updated_at = clock.now().isoformat()
        write_atomically(self.path(job.key), json.dumps(asdict(job)).encode())
        return job


def job_store(app: Flask | None = None) -> JobStore:
    """The job records of ``app`` (by default, the current application)."""
    config = (app or current_app).config
    return JobStore(Path(config["REPORT_FOLDER"]) / "jobs")


def enqueue_report(job: Job) -> Job:
    """Queue ``job`` unless it is already queued or running; returns its record."""
    store = job_store()
    existing = store.get(job.key)
    if existing is not None and existing.state in (JobState.QUEUED, JobState.RUNNING):
        return existing
    store.save(job)
    current_app.extensions["report_task"](job.key)
    return job
