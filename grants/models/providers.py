"""Therapy providers: the people and practices finance pays for sessions, and their bank
details.

A provider is proposed (by finance, or by a credit holder choosing a provider for a session),
verified by finance, and may be suspended. Bank details are stored only as a token encrypted
with the instance's data key (:mod:`grants.data_key`); ``bank_summary`` keeps the masked form
lists show, so nothing needs decrypting to draw a page.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, false, func
from sqlalchemy.orm import Mapped, mapped_column

from grants.models.base import Base, UTCDateTime, enum_column, utcnow


class ProviderKind(StrEnum):
    PERSON = "person"
    PRACTICE = "practice"


class ProviderStatus(StrEnum):
    PROPOSED = "proposed"
    """Named by someone; sessions may be requested, none approved until finance verifies."""
    VERIFIED = "verified"
    SUSPENDED = "suspended"
    """No new session may be requested or approved with them."""


class Provider(Base):
    """One therapist or practice in the directory."""

    __tablename__ = "providers"
    __table_args__ = (
        CheckConstraint("length(name) > 0", name="name_not_empty"),
        CheckConstraint("length(country) = 2", name="country_alpha2"),
        CheckConstraint(
            "(status <> 'verified') OR (verified_at IS NOT NULL AND verified_by_id IS NOT NULL)",
            name="verified_by_someone",
        ),
        Index("ix_providers_status_search_name", "status", "search_name"),
        Index("ix_providers_search_city", "search_city"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[ProviderKind] = mapped_column(enum_column(ProviderKind, "provider_kind"))
    name: Mapped[str] = mapped_column(String(140))
    """The therapist's name, or the practice's when the provider is a practice."""
    practice: Mapped[str] = mapped_column(String(140), default="")
    """The practice a therapist works at, if any."""
    licence_type: Mapped[str] = mapped_column(String(100), default="")
    """Such as "Licensed Clinical Social Worker" or "HCPC practitioner psychologist"."""
    licence_number: Mapped[str] = mapped_column(String(60), default="")
    licence_issuer: Mapped[str] = mapped_column(String(100), default="")
    """The state board or body that issued the licence or registration."""
    country: Mapped[str] = mapped_column(String(2))
    address: Mapped[str] = mapped_column(String(300), default="")
    """Street and number, as one line."""
    city: Mapped[str] = mapped_column(String(100), default="")
    region: Mapped[str] = mapped_column(String(100), default="")
    postcode: Mapped[str] = mapped_column(String(20), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    search_name: Mapped[str] = mapped_column(String(300))
    """Name and practice folded for search (lower case, accents removed)."""
    search_city: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[ProviderStatus] = mapped_column(
        enum_column(ProviderStatus, "provider_status"), default=ProviderStatus.PROPOSED
    )
    proposed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    suspension_reason: Mapped[str] = mapped_column(Text, default="")

    bank_details: Mapped[str | None] = mapped_column(Text)
    """The payee's bank details as a token encrypted with the data key; never plain text."""
    bank_summary: Mapped[str] = mapped_column(String(120), default="")
    """The masked form finance's lists show (the last four characters of the account)."""
    bank_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    bank_changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    payouts_held: Mapped[bool] = mapped_column(server_default=false(), default=False)
    """Set when bank details change after they were first given: no session with this
    provider is approved or paid until another member of finance confirms the change."""
    version: Mapped[int] = mapped_column(server_default="1", default=1)
    """Raised by every change, so that a form saved over someone else's change is refused."""
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, server_default=func.current_timestamp()
    )

    def __repr__(self) -> str:
        return f"<Provider {self.id} {self.name!r} {self.status.value}>"

    @property
    def label(self) -> str:
        """The name people know the provider by: the therapist and their practice."""
        if self.practice and self.practice != self.name:
            return f"{self.name} ({self.practice})"
        return self.name
