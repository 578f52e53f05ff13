"""Grants to partner nonprofits: the award, its payment schedule and what the partner reports."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grants.models.base import Base, UTCDateTime, enum_column, utcnow
from grants.models.progress import ReportState

if TYPE_CHECKING:
    from grants.models.funds import Fund
    from grants.models.partners import Partner
    from grants.models.progress import ReportVersion


class GrantCategory(StrEnum):
    """What a grant pays for."""

    SERVICES = "services"
    RESOURCE_HUB = "resource_hub"
    FESTIVAL_WELLNESS = "festival_wellness"
    SONGWRITER_EVENTS = "songwriter_events"
    THERAPY_ACCESS = "therapy_access"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class GrantStatus(StrEnum):
    """Where a grant is in its lifecycle.

    ``draft`` → ``submitted`` → ``approved`` → ``active`` → ``closed``; a submitted grant may
    be ``rejected``, and a draft, submitted, approved or active one ``cancelled``.
    """

    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    ACTIVE = "active"
    CLOSED = "closed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class Grant(Base):
    """An award from a grants fund to a partner.

    Approval moves the amount from the fund into the grant's own ledger account; each paid
    tranche moves its part from there to the fund's "paid to partners" account.
    """

    __tablename__ = "grants"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("length(purpose) > 0", name="purpose_not_empty"),
        Index("ix_grants_status_fund_id", "status", "fund_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    fund_id: Mapped[int] = mapped_column(ForeignKey("funds.id"), index=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    purpose: Mapped[str] = mapped_column(Text)
    category: Mapped[GrantCategory] = mapped_column(enum_column(GrantCategory, "grant_category"))
    amount: Mapped[int] = mapped_column(BigInteger)
    """Integer minor units of the fund's currency."""
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[GrantStatus] = mapped_column(
        enum_column(GrantStatus, "grant_status"), default=GrantStatus.DRAFT
    )
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), unique=True)
    """The grant's ledger account, opened at approval: awarded and not yet paid."""
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    """Who approved or rejected it; never the manager who submitted it."""
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """When it was closed, rejected or cancelled."""

    fund: Mapped[Fund] = relationship()
    partner: Mapped[Partner] = relationship()
    tranches: Mapped[list[Tranche]] = relationship(
        back_populates="grant", order_by="Tranche.due_date, Tranche.id"
    )
    reports: Mapped[list[ReportingRequirement]] = relationship(
        back_populates="grant", order_by="ReportingRequirement.due_date, ReportingRequirement.id"
    )

    def __repr__(self) -> str:
        return f"<Grant {self.id} {self.status} {self.amount} {self.currency}>"


class Tranche(Base):
    """A scheduled part-payment of a grant; finance records it as paid."""

    __tablename__ = "tranches"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "(paid_on IS NULL) = (payment_reference IS NULL)", name="paid_with_reference"
        ),
        Index("ix_tranches_paid_on_due_date", "paid_on", "due_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id"), index=True)
    due_date: Mapped[date]
    amount: Mapped[int] = mapped_column(BigInteger)
    paid_on: Mapped[date | None]
    payment_reference: Mapped[str | None] = mapped_column(String(100))
    paid_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    release_after_id: Mapped[int | None] = mapped_column(ForeignKey("reporting_requirements.id"))
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """When a bank statement line showed the payment leaving the fund's account; the line
    names the tranche (:class:`~grants.models.StatementLine`)."""
    """A reporting date of the same grant whose report must be accepted before this tranche
    is paid; ``None`` when it may be paid on its own."""
    transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("ledger_transactions.id"), unique=True
    )

    grant: Mapped[Grant] = relationship(back_populates="tranches")
    release_after: Mapped[ReportingRequirement | None] = relationship()


class ReportingRequirement(Base):
    """Something a partner owes by a date, such as an outcomes report.

    The partner submits it online as versions (:class:`~grants.models.progress.ReportVersion`);
    ``state`` is that of the latest. ``received_at`` is when it first arrived: the first
    submitted version, or a manager recording a report delivered another way.
    """

    __tablename__ = "reporting_requirements"
    __table_args__ = (
        CheckConstraint("length(title) > 0", name="title_not_empty"),
        UniqueConstraint(
            "grant_id",
            "title",
            "due_date",
            name="uq_reporting_requirements_grant_id_title_due_date",
        ),
        Index("ix_reporting_requirements_received_at_due_date", "received_at", "due_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    due_date: Mapped[date]
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    state: Mapped[ReportState] = mapped_column(
        enum_column(ReportState, "report_state"), default=ReportState.DUE, server_default="due"
    )
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    grant: Mapped[Grant] = relationship(back_populates="reports")
    versions: Mapped[list[ReportVersion]] = relationship(order_by="ReportVersion.number")
