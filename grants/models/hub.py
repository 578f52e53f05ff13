"""The resource hub: crisis lines and support services for music people, in every country.

A service is curated in versions. A navigator proposes a version (a new service, a change, or
retiring it); a second navigator or a manager publishes it, and only then does the public see
it. Every version is kept, with who proposed and who decided it and when. The facets of each
service's published version (its countries, topics, ways to reach it, languages, audiences,
cost) are kept as rows of their own, so the hub's filters are indexed lookups.

Identifiers of services and organisations are UUIDs, as Open Referral's Human Services Data
Specification (HSDS 3.0) has them, so the hub's open data keeps the same ids across exports
and imports.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grants.models.base import Base, UTCDateTime, enum_column, utcnow


class Topic(StrEnum):
    """What a service helps with; a visitor filters by these."""

    CRISIS = "crisis"
    ANXIETY_DEPRESSION = "anxiety-depression"
    SUBSTANCE_USE = "substance-use"
    GRIEF = "grief"
    EATING = "eating"
    LGBTQ = "lgbtq"
    FINANCIAL_HARDSHIP = "financial-hardship"
    FINDING_A_THERAPIST = "finding-a-therapist"
    INDUSTRY = "industry"


class Channel(StrEnum):
    """How a service is reached."""

    CALL = "call"
    TEXT = "text"
    CHAT = "chat"
    EMAIL = "email"
    WEB = "web"
    IN_PERSON = "in-person"


class Audience(StrEnum):
    """Whom a service is for."""

    ARTISTS = "artists"
    CREW = "crew"
    SONGWRITERS = "songwriters"
    ANYONE = "anyone"


class Facet(StrEnum):
    """A kind of thing a visitor filters the hub by."""

    COUNTRY = "country"
    TOPIC = "topic"
    CHANNEL = "channel"
    LANGUAGE = "language"
    AUDIENCE = "audience"
    COST = "cost"


INTERNATIONAL = "*"
"""The country facet of a service open to people anywhere (a web chat, an email desk)."""
FREE = "free"
"""The cost facet of a service that costs nothing."""


class VersionState(StrEnum):
    """Where a proposed version of a service stands."""

    PROPOSED = "proposed"
    """Waiting for a second person to publish it."""
    PUBLISHED = "published"
    """What the public sees now."""
    SUPERSEDED = "superseded"
    """Was published; a later version replaced it."""
    WITHDRAWN = "withdrawn"
    """Never published: its proposer withdrew it, or the reviewer sent it back."""


class HubOrganization(Base):
    """An organisation that runs services (HSDS ``organization``)."""

    __tablename__ = "hub_organizations"
    __table_args__ = (CheckConstraint("length(name) > 0", name="name_not_empty"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    """A UUID, kept through exports and imports."""
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    website: Mapped[str] = mapped_column(String(500), default="")
    """An ``https:`` address, or empty."""
    email: Mapped[str] = mapped_column(String(254), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class HubService(Base):
    """One service, through all its versions; the public sees its published version."""

    __tablename__ = "hub_services"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    """A UUID, kept through exports and imports."""
    organization_id: Mapped[str] = mapped_column(ForeignKey("hub_organizations.id"), index=True)
    published_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("hub_service_versions.id", use_alter=True, name="fk_hub_services_published")
    )
    """The version the public sees; ``None`` until one is published, and again once the
    service is retired."""
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    organization: Mapped[HubOrganization] = relationship(lazy="joined")
    published: Mapped[HubServiceVersion | None] = relationship(foreign_keys=[published_version_id])


class HubServiceVersion(Base):
    """What one version of a service says. Never changed once decided: a change is a new
    version.

    Lists are kept as JSON arrays of plain values: ``phones`` as objects ``{"number",
    "short", "country", "kind", "description"}`` (``number`` in E.164 unless ``short``, a
    short code dialled as written within ``country``, such as ``988`` or ``116123``);
    ``hours`` as objects ``{"day": "MO".."SU", "opens": "09:00", "closes": "17:00"}`` in
    :attr:`time_zone`; the others as lists of codes (countries ISO 3166-1 alpha-2 or
    :data:`INTERNATIONAL`, languages BCP 47, topics, channels and audiences their enums'
    values).
    """

    __tablename__ = "hub_service_versions"
    __table_args__ = (
        UniqueConstraint("service_id", "number", name="uq_hub_service_versions_service_number"),
        CheckConstraint("length(name) > 0", name="name_not_empty"),
        CheckConstraint("number > 0", name="number_positive"),
        Index("ix_hub_service_versions_state_proposed_at", "state", "proposed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("hub_services.id"))
    number: Mapped[int]
    """1 for a service's first version, then one more for each."""
    state: Mapped[VersionState] = mapped_column(
        enum_column(VersionState, "hub_version_state"), default=VersionState.PROPOSED
    )
    retires: Mapped[bool] = mapped_column(default=False)
    """Publishing this version takes the service off the hub."""

    name: Mapped[str] = mapped_column(String(200))
    crisis_line: Mapped[bool] = mapped_column(default=False)
    """A line for people in crisis: listed first, and never hidden for being old."""
    url: Mapped[str] = mapped_column(String(500), default="")
    chat_url: Mapped[str] = mapped_column(String(500), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    sms_keyword: Mapped[str] = mapped_column(String(60), default="")
    """What to text, such as ``HOME`` (to the phone of kind ``sms``)."""
    in_person: Mapped[bool] = mapped_column(default=False)
    """People can also go there (the address is in its description)."""
    phones: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    countries: Mapped[list[str]] = mapped_column(JSON, default=list)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    audiences: Mapped[list[str]] = mapped_column(JSON, default=list)
    free: Mapped[bool] = mapped_column(default=True)
    fees_description: Mapped[str] = mapped_column(String(500), default="")
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    """The zone its opening hours are in."""
    open_all_hours: Mapped[bool] = mapped_column(default=False)
    """Open 24 hours a day, 7 days a week."""
    hours: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    checked_on: Mapped[date] = mapped_column(Date)
    """When someone last checked that what it says is true."""
    source_url: Mapped[str] = mapped_column(String(500), default="")
    """The public page the details were checked against."""

    change_note: Mapped[str] = mapped_column(String(500), default="")
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    """``None`` for a version loaded by the seed or an import."""
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str] = mapped_column(String(500), default="")

    service: Mapped[HubService] = relationship(foreign_keys=[service_id])
    texts: Mapped[list[HubServiceText]] = relationship(
        back_populates="version", cascade="all, delete-orphan", lazy="selectin"
    )

    def text_in(self, language: str) -> HubServiceText | None:
        """The description and hours note in ``language``, else in English, else ``None``."""
        by_language = {text.language: text for text in self.texts}
        return by_language.get(language) or by_language.get("en")


class HubServiceText(Base):
    """A version's words in one language: what the service offers, and a note on its hours."""

    __tablename__ = "hub_service_texts"

    version_id: Mapped[int] = mapped_column(
        ForeignKey("hub_service_versions.id", ondelete="CASCADE"), primary_key=True
    )
    language: Mapped[str] = mapped_column(String(16), primary_key=True)
    """One of the hub's languages: ``en``, ``es``, ``fr``, ``de``, ``pt_BR``."""
    description: Mapped[str] = mapped_column(Text, default="")
    hours_note: Mapped[str] = mapped_column(String(500), default="")

    version: Mapped[HubServiceVersion] = relationship(back_populates="texts")


class HubServiceFacet(Base):
    """One value of one facet of a service's published version: rewritten whenever a version
    is published, so the filters read an index rather than JSON."""

    __tablename__ = "hub_service_facets"
    __table_args__ = (Index("ix_hub_service_facets_service_id", "service_id"),)

    facet: Mapped[Facet] = mapped_column(enum_column(Facet, "hub_facet"), primary_key=True)
    value: Mapped[str] = mapped_column(String(64), primary_key=True)
    service_id: Mapped[str] = mapped_column(
        ForeignKey("hub_services.id", ondelete="CASCADE"), primary_key=True
    )


class HubCountry(Base):
    """A country's emergency number, shown first on its page, with where it was checked."""

    __tablename__ = "hub_countries"
    __table_args__ = (CheckConstraint("length(emergency_number) > 0", name="has_a_number"),)

    code: Mapped[str] = mapped_column(String(2), primary_key=True)
    """ISO 3166-1 alpha-2."""
    emergency_number: Mapped[str] = mapped_column(String(20))
    """The number to dial, as dialled: ``112``, ``911``, ``999``."""
    other_emergency_numbers: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Further numbers that reach the emergency services, such as ``999`` beside ``112``."""
    source_url: Mapped[str] = mapped_column(String(500))
    checked_on: Mapped[date] = mapped_column(Date)


class HubEdition(Base):
    """The edition of what the public sees on the hub: one row, whose number goes up by one
    with each change to it (a version published, a retirement included; an organisation
    renamed; a country's emergency number written). The public pages kept in memory are
    served only while the number they were rendered under is current
    (:mod:`grants.web.hub.page_cache`). One row updated in place, not a row per change: a
    change waits for the one before it to commit, so a higher number is always committed
    after a lower one."""

    __tablename__ = "hub_editions"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    number: Mapped[int]
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
