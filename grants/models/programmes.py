"""The artist programmes and their ambassadors."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grants.models.accounts import User
from grants.models.base import Base, enum_column


class Country(StrEnum):
    """Countries the programme runs in, as ISO 3166-1 alpha-2 codes."""

    US = "US"
    GB = "GB"

    @property
    def label(self) -> str:
        """The country's name as shown to people."""
        return {"US": "United States", "GB": "United Kingdom"}[self.value]


class CohortStatus(StrEnum):
    """Where an ambassador stands in their programme."""

    UPCOMING = "upcoming"
    CURRENT = "current"
    ALUMNI = "alumni"


class Programme(Base):
    """An artist programme: EQUAL, GLOW or RADAR (an admin may add more)."""

    __tablename__ = "programmes"
    __table_args__ = (CheckConstraint("code = upper(code)", name="code_upper_case"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(default=True)

    ambassadors: Mapped[list[Ambassador]] = relationship(back_populates="programme")

    def __repr__(self) -> str:
        return f"<Programme {self.code}>"


class Ambassador(Base):
    """A person's membership of one programme, in one country."""

    __tablename__ = "ambassadors"
    __table_args__ = (Index("ix_ambassadors_programme_id_country", "programme_id", "country"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"), index=True)
    country: Mapped[Country] = mapped_column(enum_column(Country, "country"))
    cohort_status: Mapped[CohortStatus] = mapped_column(
        enum_column(CohortStatus, "cohort_status"), default=CohortStatus.CURRENT
    )

    user: Mapped[User] = relationship()
    programme: Mapped[Programme] = relationship(back_populates="ambassadors")

    def __repr__(self) -> str:
        return f"<Ambassador {self.id} user={self.user_id} {self.country}>"
