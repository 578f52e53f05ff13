"""Progress reports: what a partner submits for each reporting date of a grant.

Each submission is a new :class:`ReportVersion`; a manager accepts it or asks for changes,
and the partner submits again. Every version is kept with its decision. The reporting date
(:class:`~grants.models.grants.ReportingRequirement`) carries the state of its latest one.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grants.models.base import Base, UTCDateTime, enum_column, utcnow


class ReportState(StrEnum):
    """Where a reporting date is: ``due`` until a version is submitted, then ``submitted``;
    a manager moves it to ``accepted`` or ``changes_requested`` (and a resubmission back to
    ``submitted``)."""

    DUE = "due"
    SUBMITTED = "submitted"
    CHANGES_REQUESTED = "changes_requested"
    ACCEPTED = "accepted"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class ReportDecision(StrEnum):
    """What a manager decided on a submitted version."""

    ACCEPTED = "accepted"
    CHANGES_REQUESTED = "changes_requested"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class ReportVersion(Base):
    """One version of a progress report: a draft until submitted, then frozen."""

    __tablename__ = "report_versions"
    __table_args__ = (
        UniqueConstraint(
            "requirement_id", "number", name="uq_report_versions_requirement_id_number"
        ),
        CheckConstraint("number > 0", name="number_positive"),
        CheckConstraint("sessions_held >= 0", name="sessions_not_negative"),
        CheckConstraint(
            "decision IS NULL OR submitted_at IS NOT NULL", name="decided_only_when_submitted"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    requirement_id: Mapped[int] = mapped_column(ForeignKey("reporting_requirements.id"), index=True)
    number: Mapped[int]
    narrative: Mapped[str] = mapped_column(Text, default="")
    sessions_held: Mapped[int] = mapped_column(default=0)
    """Sessions or events held in the period."""
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision: Mapped[ReportDecision | None] = mapped_column(
        enum_column(ReportDecision, "report_decision")
    )
    decision_comment: Mapped[str] = mapped_column(Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    reach: Mapped[list[ReportReach]] = relationship(
        order_by="ReportReach.country", cascade="all, delete-orphan"
    )
    spending: Mapped[list[ReportSpending]] = relationship(
        order_by="ReportSpending.position", cascade="all, delete-orphan"
    )

    @property
    def people_reached(self) -> int:
        return sum(line.people for line in self.reach)

    @property
    def amount_spent(self) -> int:
        return sum(line.amount for line in self.spending)


class ReportReach(Base):
    """People a report version says were reached in one country."""

    __tablename__ = "report_reach"
    __table_args__ = (CheckConstraint("people >= 0", name="people_not_negative"),)

    version_id: Mapped[int] = mapped_column(
        ForeignKey("report_versions.id", ondelete="CASCADE"), primary_key=True
    )
    country: Mapped[str] = mapped_column(String(2), primary_key=True)
    """An ISO 3166-1 alpha-2 code."""
    people: Mapped[int]


class ReportSpending(Base):
    """An amount a report version says was spent against one budget line."""

    __tablename__ = "report_spending"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint("length(label) > 0", name="label_not_empty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("report_versions.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int]
    label: Mapped[str] = mapped_column(String(200))
    amount: Mapped[int] = mapped_column(BigInteger)
    """Minor units of the grant's currency."""
