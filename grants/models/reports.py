"""Made reports and the records of report jobs, kept in the database where every web host
and worker sees them (:mod:`grants.reports.store` says when Redis keeps them instead)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from grants.models.base import Base, UTCDateTime, enum_column


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


FINISHED_STATES = (JobState.DONE, JobState.FAILED)
"""The states a job leaves only when it is asked for again."""


class ReportJob(Base):
    """A report being made (or made) in the background, named by the cache key of the
    report it was asked for: asking twice for the same report finds the same row."""

    __tablename__ = "report_jobs"
    __table_args__ = (CheckConstraint("percent BETWEEN 0 AND 100", name="percent_in_range"),)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The report's parameters in their canonical form."""
    state: Mapped[JobState] = mapped_column(enum_column(JobState, "report_job_state"))
    percent: Mapped[int]
    result_key: Mapped[str | None] = mapped_column(String(64))
    """The cache key of the report made (another one if the ledger moved meanwhile)."""
    file_name: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReportFile(Base):
    """A made report's PDF, named by its cache key: the same key means the same PDF, so a
    row is written once and never changed."""

    __tablename__ = "report_files"
    __table_args__ = (Index("ix_report_files_created_at", "created_at"),)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    file_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    pdf: Mapped[bytes] = mapped_column(LargeBinary())
