"""The help desk ("help me find care"): requests from anyone, routed to a partner's navigators.

A request is routed, when it is made, to the help-desk partner of its country and language
(:class:`HelpdeskRoute`); only that partner's navigators and the requester read it. Its
personal data (the name, the way to reply, the city, the text and the whole thread) is
erased a set time after it is closed, or whenever the requester asks: the personal columns
become ``NULL`` and the thread and links are deleted, while what the counts need (country,
language, topic, what the person can pay, urgency, outcome and the times) stays.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from grants.models.base import Base, UTCDateTime, enum_column
from grants.models.hub import Topic

TEXT_MAX = 4000
"""The longest text a requester or a navigator sends in one message."""
ANY = "*"
"""A route's country or language that matches every one."""


class CanPay(StrEnum):
    """What a requester can pay for care."""

    NOTHING = "nothing"
    SOME = "some"
    INSURANCE = "insurance"


class HelpState(StrEnum):
    """Where a request stands."""

    NEW = "new"
    """Not yet picked up by a navigator."""
    ASSIGNED = "assigned"
    """A navigator has taken it."""
    CLOSED = "closed"


class Outcome(StrEnum):
    """How a request ended."""

    CONNECTED = "connected"
    REFERRED = "referred"
    NO_REPLY = "no_reply"
    OUT_OF_SCOPE = "out_of_scope"
    WITHDRAWN = "withdrawn"
    """The requester erased it before it was closed."""

    @property
    def label(self) -> str:
        return {
            "connected": "Connected to care",
            "referred": "Referred to a listed service",
            "no_reply": "No reply from the requester",
            "out_of_scope": "Out of scope",
            "withdrawn": "Withdrawn by the requester",
        }[self.value]


class Author(StrEnum):
    """Who wrote a message of a thread."""

    REQUESTER = "requester"
    NAVIGATOR = "navigator"


class LinkKind(StrEnum):
    """A requester's way back to their request."""

    LINK = "link"
    """A private link, shown once or emailed; it works once, on the device that opens it."""
    DEVICE = "device"
    """What a device received for opening a link: a cookie that keeps it in."""


class HelpdeskRoute(Base):
    """Which partner's navigators answer the requests of a country and language.

    ``*`` in either column matches every value; the most specific route wins (country and
    language, then country, then language, then ``*``/``*``, the default).
    """

    __tablename__ = "helpdesk_routes"
    __table_args__ = (
        UniqueConstraint("country", "language", name="uq_helpdesk_routes_country_language"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    country: Mapped[str] = mapped_column(String(2))
    language: Mapped[str] = mapped_column(String(8))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))


class HelpRequest(Base):
    """One person's request for help in finding care."""

    __tablename__ = "help_requests"
    __table_args__ = (
        CheckConstraint("length(text) <= 4000", name="text_length"),
        CheckConstraint(
            "(state = 'closed') = (outcome IS NOT NULL AND closed_at IS NOT NULL)",
            name="closed_with_outcome",
        ),
        CheckConstraint(
            "erased_at IS NULL OR (name IS NULL AND contact_email IS NULL AND "
            "contact_phone IS NULL AND city IS NULL AND text IS NULL AND "
            "requester_id IS NULL)",
            name="erased_holds_nothing_personal",
        ),
        CheckConstraint(
            "erased_at IS NOT NULL OR contact_email IS NOT NULL OR contact_phone IS NOT NULL",
            name="a_way_to_reply",
        ),
        Index("ix_help_requests_queue", "partner_id", "state", "urgent", "created_at"),
        Index("ix_help_requests_closed_at", "closed_at"),
        Index("ix_help_requests_requester_id", "requester_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    """What the requester and the navigators call it (``HD-7K3M-9QXA``); not a secret."""
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    country: Mapped[str] = mapped_column(String(2))
    language: Mapped[str] = mapped_column(String(8))
    topic: Mapped[Topic] = mapped_column(enum_column(Topic, "help_topic"))
    can_pay: Mapped[CanPay] = mapped_column(enum_column(CanPay, "help_can_pay"))
    urgent: Mapped[bool] = mapped_column(default=False)
    state: Mapped[HelpState] = mapped_column(
        enum_column(HelpState, "help_state"), default=HelpState.NEW
    )
    outcome: Mapped[Outcome | None] = mapped_column(enum_column(Outcome, "help_outcome"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    name: Mapped[str | None] = mapped_column(String(120))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    contact_phone: Mapped[str | None] = mapped_column(String(20))
    """E.164."""
    city: Mapped[str | None] = mapped_column(String(100))
    text: Mapped[str | None] = mapped_column(Text)
    requester_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    """The account of a requester who was signed in, so the request shows in it."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    pickup_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """An urgent request's deadline to be picked up (4 hours); ``None`` when not urgent."""
    answer_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    """The deadline of the first answer: 2 working days of the partner's."""
    picked_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    pickup_alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """When the navigators were told it was not picked up in time (once)."""
    answer_alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """When the navigators were told it was not answered in time (once)."""

    def __repr__(self) -> str:
        return f"<HelpRequest {self.reference} {self.state}>"


class HelpMessage(Base):
    """One message of a request's thread; deleted when the request is erased."""

    __tablename__ = "help_messages"
    __table_args__ = (
        CheckConstraint("length(body) <= 4000", name="body_length"),
        Index("ix_help_messages_request_id_id", "request_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("help_requests.id", ondelete="CASCADE"))
    author: Mapped[Author] = mapped_column(enum_column(Author, "help_author"))
    navigator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    services: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """The ids of hub services a navigator attached."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class HelpLink(Base):
    """A requester's way back to a request, stored as the SHA-256 of its token only."""

    __tablename__ = "help_links"
    __table_args__ = (
        CheckConstraint("expires_at > created_at", name="expires_after_created"),
        Index("ix_help_links_request_id", "request_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("help_requests.id", ondelete="CASCADE"))
    kind: Mapped[LinkKind] = mapped_column(enum_column(LinkKind, "help_link_kind"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
