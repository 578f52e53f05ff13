"""Partner nonprofits that receive grants."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from grants.models.base import Base, UTCDateTime, enum_column, utcnow
from grants.models.programmes import Country


class Partner(Base):
    """A nonprofit that receives grants; deactivated rather than deleted once it has any."""

    __tablename__ = "partners"
    __table_args__ = (
        CheckConstraint("length(legal_name) > 0", name="legal_name_not_empty"),
        CheckConstraint("length(display_name) > 0", name="display_name_not_empty"),
        CheckConstraint("length(working_days) > 0", name="works_some_day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(120), unique=True)
    country: Mapped[Country] = mapped_column(enum_column(Country, "country"))
    registration_number: Mapped[str | None] = mapped_column(String(40))
    """A US EIN (``12-3456789``) or a UK charity number."""
    contact_name: Mapped[str] = mapped_column(String(120), default="")
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    website_url: Mapped[str] = mapped_column(String(500), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(default=True)
    time_zone: Mapped[str | None] = mapped_column(String(64))
    """The IANA zone its help desk works in; ``None`` until set, when its country's applies."""
    working_days: Mapped[str] = mapped_column(String(7), default="12345", server_default="12345")
    """The ISO weekdays its help desk works (``1`` is Monday): ``12345``, Monday to Friday."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"<Partner {self.id} {self.display_name}>"
