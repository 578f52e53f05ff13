"""What people are told: notifications in the app, and how each person wants them by email."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from grants.models.base import Base, UTCDateTime, enum_column


class Delivery(StrEnum):
    """How a person is told of one kind of notification, beside the list in the app."""

    IMMEDIATELY = "immediately"
    """An email as soon as it happens."""
    DAILY = "daily"
    """One email a day, from the hour the person chose (08:00 unless they chose another) in
    their time zone, with everything of these kinds since the last one."""
    OFF = "off"
    """No email: the list in the app only."""

    @property
    def label(self) -> str:
        return {
            "immediately": "Email me straight away",
            "daily": "In one email a day",
            "off": "Only in the app",
        }[self.value]


class Notification(Base):
    """One thing one person is told, shown in their list until they have read it.

    ``(user_id, kind, event_key)`` is unique: the event that caused it (a redemption's
    approval, a gift's claim) tells each person once, however often the operation is replayed
    or a reminder run. ``title`` is the email's subject and the list's line; like ``body`` it
    never carries health details (a provider, a session date), which stay behind ``link``, a
    page of the app that asks its viewer to sign in.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("user_id", "kind", "event_key", name="uq_notifications_event"),
        Index("ix_notifications_user_id_read_at_id", "user_id", "read_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(40))
    event_key: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str] = mapped_column(String(300))
    """A path of the app, such as ``/wallet/redemptions/12``."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class NotificationPreference(Base):
    """How one person wants one kind of notification; without a row, straight away."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    delivery: Mapped[Delivery] = mapped_column(enum_column(Delivery, "notification_delivery"))


class NotificationDigest(Base):
    """One person's daily email on one day of theirs: at most one a day (the key), and
    ``sent_through``, the moment up to which it told them, is where the next one starts."""

    __tablename__ = "notification_digests"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    sent_through: Mapped[datetime] = mapped_column(UTCDateTime())
