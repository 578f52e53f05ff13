"""Bank statements finance imports, and what each line was matched to.

A statement is imported once: its SHA-256 is unique, so the same file given again changes
nothing. Each line is kept with its outcome: the payout batch or grant tranche it settled, or
why it matched nothing, so finance can see every line the bank reported.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from grants.models.base import Base, UTCDateTime, enum_column, utcnow


class LineOutcome(StrEnum):
    SETTLED_BATCH = "settled_batch"
    """Settled a payout batch to therapy providers."""
    SETTLED_TRANCHE = "settled_tranche"
    """Settled a grant tranche paid to a partner."""
    ALREADY_SETTLED = "already_settled"
    """Named a payment that an earlier line had settled already."""
    AMOUNT_DIFFERS = "amount_differs"
    """Named a payment, for another amount: left for finance to look into."""
    UNMATCHED = "unmatched"
    """Named no payment the programme made."""
    NOT_A_PAYMENT = "not_a_payment"
    """Money coming in (a credit); payments out are debits."""


class StatementImport(Base):
    """One bank statement file, imported once."""

    __tablename__ = "statement_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    """SHA-256 of the file's bytes."""
    format: Mapped[str] = mapped_column(String(10))
    statement_id: Mapped[str] = mapped_column(String(100))
    account: Mapped[str] = mapped_column(String(60), default="")
    currency: Mapped[str] = mapped_column(String(3))
    filename: Mapped[str] = mapped_column(String(200), default="")
    lines: Mapped[int]
    settled: Mapped[int]
    """How many lines settled a payment."""
    imported_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StatementLine(Base):
    """One line of an imported statement and what it was matched to."""

    __tablename__ = "statement_lines"
    __table_args__ = (
        UniqueConstraint("import_id", "line_number"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "(outcome <> 'settled_batch' OR payout_batch_id IS NOT NULL)"
            " AND (outcome <> 'settled_tranche' OR tranche_id IS NOT NULL)",
            name="settled_names_what",
        ),
        Index("ix_statement_lines_outcome_booked_on", "outcome", "booked_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("statement_imports.id"), index=True)
    line_number: Mapped[int]
    booked_on: Mapped[date]
    amount: Mapped[int] = mapped_column(BigInteger)
    direction: Mapped[str] = mapped_column(String(6))
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str] = mapped_column(String(140), default="")
    bank_reference: Mapped[str] = mapped_column(String(140), default="")
    description: Mapped[str] = mapped_column(String(280), default="")
    outcome: Mapped[LineOutcome] = mapped_column(enum_column(LineOutcome, "line_outcome"))
    payout_batch_id: Mapped[int | None] = mapped_column(ForeignKey("payout_batches.id"))
    tranche_id: Mapped[int | None] = mapped_column(ForeignKey("tranches.id"))
