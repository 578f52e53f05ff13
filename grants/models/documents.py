"""Documents partners upload with an application or a progress report.

The file itself lives outside the web root, under the instance folder's ``uploads/``, by a
random name; the row keeps its SHA-256, so a restored or moved file can be checked byte for
byte. A document belongs to exactly one application, progress report version or redemption (the
provider's invoice for the session).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from grants.models.base import Base, UTCDateTime, utcnow


class Document(Base):
    """One uploaded file and what it belongs to."""

    __tablename__ = "documents"
    __table_args__ = (
        CheckConstraint(
            "(application_id IS NOT NULL AND report_version_id IS NULL AND redemption_id IS NULL)"
            " OR (application_id IS NULL AND report_version_id IS NOT NULL"
            " AND redemption_id IS NULL)"
            " OR (application_id IS NULL AND report_version_id IS NULL"
            " AND redemption_id IS NOT NULL)",
            name="belongs_to_one",
        ),
        CheckConstraint("(partner_id IS NULL) = (redemption_id IS NOT NULL)", name="partner_owned"),
        CheckConstraint("size > 0", name="size_positive"),
        CheckConstraint("length(sha256) = 64", name="sha256_hex"),
        CheckConstraint("length(filename) > 0", name="filename_not_empty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"), index=True)
    """The partner whose application or report it belongs to; ``None`` for an invoice."""
    application_id: Mapped[int | None] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    report_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("report_versions.id", ondelete="CASCADE"), index=True
    )
    redemption_id: Mapped[int | None] = mapped_column(
        ForeignKey("redemptions.id", ondelete="CASCADE"), index=True
    )
    """The session whose provider's invoice or receipt this is."""
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    """The file's random name under ``uploads/``."""
    filename: Mapped[str] = mapped_column(String(200))
    """The name it was uploaded with, cleaned; shown and offered on download, never used as a
    path."""
    content_type: Mapped[str] = mapped_column(String(100))
    """The type its content was identified as (never the one the browser claimed)."""
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"<Document {self.id} {self.filename!r}>"
