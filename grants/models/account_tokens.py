"""Links that act on an account: a password reset, an email change waiting to be confirmed.

Each link carries a random token that is stored only as its SHA-256 hash, so the table
holds nothing that opens an account. A token works once (``used_at``) and until
``expires_at``; asking again replaces the tokens of that purpose not yet used.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from grants.models.base import Base, UTCDateTime, enum_column


class TokenPurpose(StrEnum):
    """What a link does when it is followed."""

    PASSWORD_RESET = "password_reset"  # noqa: S105 - a purpose, not a secret
    EMAIL_CHANGE = "email_change"


class AccountToken(Base):
    """One emailed link that acts on one user's account."""

    __tablename__ = "account_tokens"
    __table_args__ = (
        CheckConstraint(
            "(purpose = 'email_change') = (new_email IS NOT NULL)",
            name="new_email_for_email_change",
        ),
        CheckConstraint("new_email = lower(new_email)", name="new_email_lower_case"),
        CheckConstraint("expires_at > created_at", name="expires_after_created"),
        Index("ix_account_tokens_user_id_purpose", "user_id", "purpose"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[TokenPurpose] = mapped_column(enum_column(TokenPurpose, "token_purpose"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """The SHA-256 of the token in the link, in hex; the token itself is never stored."""
    new_email: Mapped[str | None] = mapped_column(String(254))
    """For an email change: the address that the link, sent there, confirms."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<AccountToken {self.id} {self.purpose} user={self.user_id}>"
