"""Crisis and support lines shown in the "get support now" panel, per country."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from grants.models.base import Base, UTCDateTime, enum_column, utcnow
from grants.models.programmes import Country

_NOT_DIALLED = re.compile(r"[^0-9+]")


class SupportLine(Base):
    """One crisis or support line: a number to call, a text to send, and/or a website.

    Lines are never deleted; an admin hides one that no longer applies by deactivating it.
    """

    __tablename__ = "support_lines"
    __table_args__ = (
        CheckConstraint("length(name) > 0", name="name_not_empty"),
        CheckConstraint(
            "length(phone) > 0 OR length(text_message) > 0 OR length(website_url) > 0",
            name="has_a_way_to_reach",
        ),
        Index("ix_support_lines_country_sort_order", "country", "sort_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    country: Mapped[Country] = mapped_column(enum_column(Country, "country"))
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str] = mapped_column(String(40), default="")
    """A number to call, as people write it: ``988``, ``116 123``, ``1-877-303-6962``."""
    text_message: Mapped[str] = mapped_column(String(120), default="")
    """How to reach the line by text, such as ``Text HOME to 741741``."""
    website_url: Mapped[str] = mapped_column(String(500), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    sort_order: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def phone_uri(self) -> str:
        """The ``tel:`` link of :attr:`phone` (digits and a leading plus only), or ``""``."""
        digits = _NOT_DIALLED.sub("", self.phone)
        return f"tel:{digits}" if digits else ""

    def __repr__(self) -> str:
        return f"<SupportLine {self.id} {self.country} {self.name}>"
