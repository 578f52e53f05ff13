"""Payout batches: the approved redemptions finance paid together under one payment reference."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from grants.models.base import Base, UTCDateTime


class PayoutBatch(Base):
    """One payment to therapy providers: the redemptions paid under one payment reference.

    Written with the payments themselves (:func:`grants.domain.payouts.pay_redemptions`), so
    that the list of batches reads one row per batch instead of grouping every paid
    redemption. A reference names one batch only: it is unique here, and the batch takes it
    by inserting its row. ``redemptions`` and ``amount`` are the count and the sum, in minor
    units of ``currency``, of the redemptions paid under ``payment_reference``.
    """

    __tablename__ = "payout_batches"
    __table_args__ = (
        CheckConstraint("redemptions > 0", name="redemptions_positive"),
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_payout_batches_paid_at_id", "paid_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_reference: Mapped[str] = mapped_column(String(100), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    redemptions: Mapped[int]
    amount: Mapped[int] = mapped_column(BigInteger)
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime())
    paid_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    """The member of finance who paid it."""
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """When a bank statement line showed the batch leaving the fund's account; the line
    names the batch (:class:`~grants.models.StatementLine`)."""

    @property
    def file_id(self) -> str:
        """The batch's identifier in the bank files: message and payment information id,
        and the stem of each payment's end-to-end id. Derived from the id, so a file built
        twice is the same file."""
        return f"HSF-B{self.id}"
