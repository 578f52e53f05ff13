"""Therapy credit: wallets, gifts to bandmates and crew, and redemptions for sessions."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grants.models.accounts import User
from grants.models.base import Base, UTCDateTime, enum_column, utcnow
from grants.models.funds import Fund
from grants.models.ledger import Account


class WalletKind(StrEnum):
    """Whose credit a wallet holds: an ambassador's allowance, or gifts a recipient claimed."""

    AMBASSADOR = "ambassador"
    RECIPIENT = "recipient"


class Wallet(Base):
    """The therapy credit of one person from one fund.

    Its available credit is the balance of ``account``; credit held for pending gifts and
    redemptions is the balance of ``hold_account``. Gifted credit lands in a wallet of kind
    ``recipient``, which can be redeemed but never gifted on.
    """

    __tablename__ = "wallets"
    __table_args__ = (UniqueConstraint("fund_id", "user_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    fund_id: Mapped[int] = mapped_column(ForeignKey("funds.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[WalletKind] = mapped_column(enum_column(WalletKind, "wallet_kind"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), unique=True)
    hold_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    fund: Mapped[Fund] = relationship()
    user: Mapped[User] = relationship()
    account: Mapped[Account] = relationship(foreign_keys=[account_id])
    hold_account: Mapped[Account] = relationship(foreign_keys=[hold_account_id])

    @property
    def currency(self) -> str:
        return self.account.currency

    @property
    def available(self) -> int:
        """Credit that can be spent or gifted now, in minor units."""
        return self.account.balance

    @property
    def held(self) -> int:
        """Credit held for pending gifts and redemptions, in minor units."""
        return self.hold_account.balance

    @property
    def posted(self) -> int:
        """All credit in the wallet: available plus held."""
        return self.available + self.held


class Relation(StrEnum):
    """How a gift's recipient knows the ambassador."""

    BANDMATE = "bandmate"
    CREW = "crew"
    OTHER = "other"


class GiftState(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    REVOKED = "revoked"
    EXPIRED = "expired"


class Gift(Base):
    """Credit held from an ambassador's wallet for a named bandmate or crew member.

    Only the SHA-256 of the claim token is stored. ``expires_at`` is the earlier of the claim
    window and the end of the fund's plan year.
    """

    __tablename__ = "gifts"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_gifts_state_expires_at", "state", "expires_at"),
        Index(
            "ix_gifts_recipient_wallet_id_settled_at_id", "recipient_wallet_id", "settled_at", "id"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    fund_id: Mapped[int] = mapped_column(ForeignKey("funds.id"))
    giver_wallet_id: Mapped[int] = mapped_column(ForeignKey("wallets.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    recipient_name: Mapped[str] = mapped_column(String(120))
    recipient_email: Mapped[str] = mapped_column(String(254))
    relation: Mapped[Relation] = mapped_column(enum_column(Relation, "relation"))
    message: Mapped[str] = mapped_column(Text, default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[GiftState] = mapped_column(
        enum_column(GiftState, "gift_state"), default=GiftState.PENDING
    )
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recipient_wallet_id: Mapped[int | None] = mapped_column(ForeignKey("wallets.id"))

    giver_wallet: Mapped[Wallet] = relationship(foreign_keys=[giver_wallet_id])
    recipient_wallet: Mapped[Wallet | None] = relationship(foreign_keys=[recipient_wallet_id])


class RedemptionState(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    PAID = "paid"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    """Still undecided when the plan year closed; the credit went back to the fund."""


class Redemption(Base):
    """Credit spent on one therapy session, held until finance decides."""

    __tablename__ = "redemptions"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_redemptions_state_requested_at_id", "state", "requested_at", "id"),
        Index("ix_redemptions_state_decided_at_id", "state", "decided_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    wallet_id: Mapped[int] = mapped_column(ForeignKey("wallets.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    provider_name: Mapped[str] = mapped_column(String(200))
    """The provider's name as it was when the session was requested."""
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id"), index=True)
    """The provider in the directory; ``None`` only for sessions requested before it."""
    session_date: Mapped[date]
    state: Mapped[RedemptionState] = mapped_column(
        enum_column(RedemptionState, "redemption_state"), default=RedemptionState.REQUESTED
    )
    reason: Mapped[str] = mapped_column(Text, default="")
    """Why finance rejected it; shown to the redeemer."""
    payment_reference: Mapped[str | None] = mapped_column(String(100), index=True)
    """The bank's reference of the payout batch that paid it; one reference, one batch."""
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    invoice_waiver: Mapped[str] = mapped_column(Text, default="", server_default="")
    """Why finance approved the session without the provider's invoice, when it did."""
    paid_in_totals: Mapped[bool] = mapped_column(server_default=false())
    """Counted in the reports' running totals of payments, by their fold
    (:mod:`grants.reports.flows`)."""

    wallet: Mapped[Wallet] = relationship()
