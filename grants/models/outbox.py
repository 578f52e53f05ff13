"""The outbox: messages an operation must send once its transaction has committed."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from grants.models.base import Base, UTCDateTime, enum_column


class OutboxState(StrEnum):
    PENDING = "pending"
    """Waiting to be delivered, or being delivered under a lease."""
    SENT = "sent"
    FAILED = "failed"
    """Given up on after the last attempt allowed."""
    DROPPED = "dropped"
    """Nothing left to send: what the message was about changed before it went out (a gift
    revoked, claimed or expired, or given a new link)."""


class OutboxMessage(Base):
    """One message to deliver, written in the transaction of the operation that caused it.

    ``event_id`` names the event for good: every delivery of the message carries it (as the
    email's Message-ID), so a second delivery is known for the same message. ``payload``
    holds what rendering needs at delivery, a claim link's token included; it is a bearer
    secret, so it is cleared as soon as the message leaves the pending state (a CHECK
    constraint holds to that).
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        CheckConstraint("state = 'pending' OR payload IS NULL", name="payload_cleared"),
        CheckConstraint("(state = 'sent') = (sent_at IS NOT NULL)", name="sent_when_sent"),
        Index("ix_outbox_messages_state_next_attempt_at", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str | None] = mapped_column(Text)
    """JSON; ``None`` once the message is no longer pending."""
    state: Mapped[OutboxState] = mapped_column(
        enum_column(OutboxState, "outbox_state"), default=OutboxState.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    """Deliveries begun: counted when a worker takes the message, before it sends."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """While in the future, a worker is delivering the message and no other takes it."""
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(200))
    recipient: Mapped[str | None] = mapped_column(String(254))
    """The address the message goes to, where the operation knew it: shown to admins beside a
    message that could not be delivered, so that someone can reach the person another way.
    Never a secret (the token stays in ``payload``); empty where no account has the address
    a reset was asked for, so that the outbox does not keep what anyone typed."""
