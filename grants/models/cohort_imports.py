"""Cohort imports: a CSV of ambassadors held between its preview and its confirmation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from grants.models.base import Base, UTCDateTime, utcnow


class CohortUpload(Base):
    """One file one person uploaded, by its SHA-256: the bytes until it is imported or
    expires, then only what importing it did.

    ``data`` is cleared when the file is imported (the names and addresses are in the
    accounts by then); ``outcome`` then holds the counts the result page shows. Rows past
    ``expires_at`` are deleted when anyone next uploads a file.
    """

    __tablename__ = "cohort_uploads"
    __table_args__ = (UniqueConstraint("actor_id", "digest"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    digest: Mapped[str] = mapped_column(String(64))
    """The SHA-256 of the file's bytes, in hexadecimal."""
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    imported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[dict[str, int] | None] = mapped_column(JSON)

    def __repr__(self) -> str:
        return f"<CohortUpload {self.id} {self.digest[:12]}>"
