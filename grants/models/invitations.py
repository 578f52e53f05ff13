"""Invitations: how an admin brings a person in, by email, with their roles.

The person's account is made when they are invited, inactive and without a password, holding
the roles (and, for an ambassador, the programme membership) the admin chose; accepting the
invitation sets their password and makes the account active. Each invitation is one link:
only the SHA-256 of its token is kept, it works once, for a limited time, and a newer
invitation of the same person revokes it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grants.models.accounts import User
from grants.models.base import Base, UTCDateTime, enum_column, utcnow
from grants.models.programmes import CohortStatus, Country, Programme


class Invitation(Base):
    """One invitation link sent to one person.

    Pending while neither ``accepted_at`` nor ``revoked_at`` is set and ``expires_at`` has
    not passed. ``roles`` and the ambassador's details are what the admin asked for, kept as
    the invitation said them; the account itself holds them from the moment of invitation.
    """

    __tablename__ = "invitations"
    __table_args__ = (
        CheckConstraint("email = lower(email)", name="email_lower_case"),
        CheckConstraint(
            "accepted_at IS NULL OR revoked_at IS NULL", name="accepted_or_revoked_not_both"
        ),
        Index("ix_invitations_user_id_created_at", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    """The account the invitation made, or the invited account it updated."""
    email: Mapped[str] = mapped_column(String(254))
    display_name: Mapped[str] = mapped_column(String(120))
    roles: Mapped[list[str]] = mapped_column(JSON)
    programme_id: Mapped[int | None] = mapped_column(ForeignKey("programmes.id"))
    country: Mapped[Country | None] = mapped_column(enum_column(Country, "country"))
    cohort_status: Mapped[CohortStatus | None] = mapped_column(
        enum_column(CohortStatus, "cohort_status")
    )
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    """The organisation a person invited as ``partner`` works for."""
    invited_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    invited_by: Mapped[User] = relationship(foreign_keys=[invited_by_id])
    programme: Mapped[Programme | None] = relationship()

    def is_pending(self, now: datetime) -> bool:
        """Whether the link can still be used at ``now``."""
        return self.accepted_at is None and self.revoked_at is None and now < self.expires_at

    def __repr__(self) -> str:
        return f"<Invitation {self.id} {self.email}>"
