"""The hub's services as Open Referral HSDS 3.0 open data.

:func:`to_hsds` writes a service's published version as an HSDS ``service`` with its
organisation, phones, languages, schedules and service areas embedded;
:func:`grants.domain.hub_hsds_import.from_hsds` reads one back into a
:class:`~grants.domain.hub.ServiceContent`, and :func:`export_package` writes every
published service as a data package. What HSDS has no field
for is written as ``attributes``: links to the terms of the hub's own small taxonomy
(:data:`TERMS`), some carrying a ``value``. So an export read back says exactly what the
hub says, and exporting it again gives the same JSON.

- ``description`` is the English description; the others are attributes
  ``description:es`` … with the text as value. Each schedule's ``description`` is the
  English note on the hours; the others are attributes ``hours-note:es`` ….
- Phones: ``number`` in E.164, or a short code as dialled in its country (no ``+``);
  ``type`` ``voice`` or ``text``; the country it is dialled in is the phone's attribute
  ``dialling-country``.
- Schedules: open all hours is one weekly schedule on every day from 00:00 to 23:59;
  otherwise one weekly schedule per day's opening. Times are wall-clock times in the
  service's time zone (attribute ``time-zone``, an IANA name; each schedule's ``notes``
  says it too), not UTC: a fixed offset would be wrong for half the year.
- Service areas: one per country, named in English, with the ISO 3166-1 code as the
  attribute ``area`` (``*`` for people anywhere) and an ISO address as ``uri``.
- Languages: ``code`` is the ISO 639 code; a BCP 47 tag with a region, such as ``pt-BR``,
  is the attribute ``language-tag``.
- Topics, audiences, being a crisis line, being free, being open in person, the chat
  address, the keyword to text and the page the details were checked against are
  attributes of the service.

Ids of the embedded objects (phones, languages, schedules, service areas, attributes) are
UUIDs derived with ``uuid5`` from the service's id, so an unchanged service exports the
same ids every time.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pycountry
from babel import Locale, UnknownLocaleError
from sqlalchemy import ColumnElement, Select, exists, false, func, select
from sqlalchemy.orm import Session

from grants.domain.hub import DAYS, HUB_LANGUAGES
from grants.domain.hub_contacts import Phone, country_name
from grants.models import (
    Audience,
    Facet,
    HubOrganization,
    HubService,
    HubServiceFacet,
    HubServiceVersion,
    Topic,
)
from grants.models.hub import FREE, INTERNATIONAL

HSDS_VERSION = "3.0"
PACKAGE_NAME = "heart-and-soul-resource-hub"
NAMESPACE = uuid.UUID("69a93bcf-58ca-4698-a1d2-f0cf748f1929")
"""The root of the hub's taxonomy's ids."""
TAXONOMY_ID = str(uuid.uuid5(NAMESPACE, "taxonomy"))
TAXONOMY_NAME = "Heart & Soul resource hub"
ALL_WEEK = ",".join(DAYS)
ISO_3166_URI = "https://www.iso.org/obp/ui/#iso:code:3166:"

LANGUAGE_NAMES = {
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "de": "German",
    "pt_BR": "Brazilian Portuguese",
}
TOPIC_NAMES = {
    Topic.CRISIS: "Crisis and suicide",
    Topic.ANXIETY_DEPRESSION: "Anxiety and depression",
    Topic.SUBSTANCE_USE: "Substance use",
    Topic.GRIEF: "Grief",
    Topic.EATING: "Eating disorders",
    Topic.LGBTQ: "LGBTQ+",
    Topic.FINANCIAL_HARDSHIP: "Financial hardship",
    Topic.FINDING_A_THERAPIST: "Finding a therapist",
    Topic.INDUSTRY: "Industry-specific help",
}
AUDIENCE_NAMES = {
    Audience.ARTISTS: "Artists",
    Audience.CREW: "Crew",
    Audience.SONGWRITERS: "Songwriters",
    Audience.ANYONE: "Anyone",
}


@dataclass(frozen=True)
class Term:
    """A term of the hub's taxonomy; an attribute links a service (or one of its phones,
    languages or areas) to it, with a value if the term says so."""

    code: str
    name: str
    description: str
    link_type: str

    @property
    def id(self) -> str:
        return str(uuid.uuid5(NAMESPACE, self.code))

    def hsds(self) -> dict[str, Any]:
        """The term as an HSDS ``taxonomy_term``."""
        return {
            "id": self.id,
            "code": self.code,
            "name": self.name,
            "description": self.description,
            "taxonomy": TAXONOMY_NAME,
            "taxonomy_id": TAXONOMY_ID,
            "language": "en",
        }


def _terms() -> Iterator[Term]:
    for topic, name in TOPIC_NAMES.items():
        yield Term(f"topic:{topic.value}", name, f"Helps with: {name.lower()}.", "topic")
    for audience, name in AUDIENCE_NAMES.items():
        yield Term(f"audience:{audience.value}", name, f"For: {name.lower()}.", "audience")
    yield Term("crisis-line", "Crisis line", "A line for people in crisis.", "flag")
    yield Term("in-person", "In person", "People can also go there.", "flag")
    yield Term("free", "Free", "Costs nothing to use.", "cost")
    yield Term("chat-url", "Chat", "The https address of its web chat (value).", "contact")
    yield Term("sms-keyword", "Keyword to text", "What to text to its text number.", "contact")
    yield Term(
        "time-zone",
        "Time zone",
        "The IANA time zone its schedules' times are in (value), such as Europe/London.",
        "schedule",
    )
    yield Term(
        "source-url",
        "Source",
        "The public page its details were last checked against (value).",
        "provenance",
    )
    for language in HUB_LANGUAGES[1:]:
        yield Term(
            f"description:{language}",
            f"Description in {LANGUAGE_NAMES[language]}",
            f"What the service offers, in {LANGUAGE_NAMES[language]} (value).",
            "translation",
        )
    for language in HUB_LANGUAGES[1:]:
        yield Term(
            f"hours-note:{language}",
            f"Note on the hours in {LANGUAGE_NAMES[language]}",
            f"A note on its hours, in {LANGUAGE_NAMES[language]} (value).",
            "translation",
        )
    yield Term(
        "dialling-country",
        "Dialling country",
        "The ISO 3166-1 alpha-2 country a phone number is dialled in (value); a number "
        "without + is a short code, dialled as written only there.",
        "phone",
    )
    yield Term(
        "language-tag",
        "Language tag",
        "The BCP 47 tag of a language (value) when it says more than the ISO 639 code, "
        "such as pt-BR.",
        "language",
    )
    yield Term(
        "area",
        "Area",
        "The ISO 3166-1 alpha-2 code of the country (value), or * for people anywhere.",
        "service_area",
    )


TERMS: tuple[Term, ...] = tuple(_terms())
"""The hub's taxonomy, in the order the README lists it."""
TERMS_BY_CODE = {term.code: term for term in TERMS}
TERMS_BY_ID = {term.id: term for term in TERMS}


def taxonomy() -> dict[str, Any]:
    """The hub's taxonomy as an HSDS ``taxonomy``."""
    return {
        "id": TAXONOMY_ID,
        "name": TAXONOMY_NAME,
        "description": (
            "Topics, audiences and the details HSDS 3.0 has no field for, as the Heart & "
            "Soul resource hub writes them."
        ),
        "version": "1",
    }


# --- writing ------------------------------------------------------------------------------


def derived_id(service_id: str, name: str) -> str:
    """The id of an object embedded in service ``service_id``, the same at every export."""
    return str(uuid.uuid5(uuid.UUID(service_id), name))


def _attribute(link_id: str, entity: str, code: str, value: str = "") -> dict[str, Any]:
    term = TERMS_BY_CODE[code]
    written: dict[str, Any] = {
        "id": derived_id(link_id, f"attribute/{code}"),
        "link_id": link_id,
        "link_type": term.link_type,
        "link_entity": entity,
        "taxonomy_term_id": term.id,
        "taxonomy_term": term.hsds(),
    }
    if value:
        written["value"] = value
    return written


def organization_hsds(organization: HubOrganization) -> dict[str, Any]:
    """An organisation as an HSDS ``organization`` (its one-to-one fields)."""
    written: dict[str, Any] = {
        "id": organization.id,
        "name": organization.name,
        "description": organization.description,
    }
    if organization.email:
        written["email"] = organization.email
    if organization.website:
        written["website"] = organization.website
    return written


def to_hsds(service: HubService, version: HubServiceVersion) -> dict[str, Any]:
    """Version ``version`` of ``service`` as a fully nested HSDS ``service``."""
    sid = service.id
    texts = {text.language: text for text in version.texts}
    english = texts.get("en")
    written: dict[str, Any] = {
        "id": sid,
        "organization_id": service.organization_id,
        "name": version.name,
        "description": english.description if english is not None else "",
        "status": "active",
    }
    if version.url:
        written["url"] = version.url
    if version.email:
        written["email"] = version.email
    if version.fees_description:
        written["fees_description"] = version.fees_description
    written["assured_date"] = version.checked_on.isoformat()
    written["phones"] = [
        _phone(sid, index, Phone.of(stored)) for index, stored in enumerate(version.phones)
    ]
    written["schedules"] = _schedules(sid, version, english.hours_note if english else "")
    written["service_areas"] = [_area(sid, code) for code in version.countries]
    written["languages"] = [_language(sid, tag) for tag in version.languages]
    written["organization"] = organization_hsds(service.organization)
    written["attributes"] = _service_attributes(sid, version)
    return written


def to_hsds_summary(service: HubService, version: HubServiceVersion) -> dict[str, Any]:
    """The service as the HSDS API lists it: its one-to-one fields and its organisation."""
    full = to_hsds(service, version)
    return {name: value for name, value in full.items() if not isinstance(value, list)}


def _phone(sid: str, index: int, phone: Phone) -> dict[str, Any]:
    phone_id = derived_id(sid, f"phone/{index}")
    written: dict[str, Any] = {
        "id": phone_id,
        "service_id": sid,
        "number": phone.written or phone.number,
        "type": phone.kind,
    }
    if phone.description:
        written["description"] = phone.description
    written["attributes"] = [_attribute(phone_id, "phone", "dialling-country", phone.country)]
    return written


def _schedules(sid: str, version: HubServiceVersion, note: str) -> list[dict[str, Any]]:
    rules: list[tuple[str, str, str, str]] = (
        [("all-week", ALL_WEEK, "00:00", "23:59")]
        if version.open_all_hours
        else [
            (f"{o['day']}/{o['opens']}", o["day"], o["opens"], o["closes"]) for o in version.hours
        ]
    )
    written: list[dict[str, Any]] = []
    for key, days, opens, closes in rules:
        schedule: dict[str, Any] = {
            "id": derived_id(sid, f"schedule/{key}"),
            "service_id": sid,
            "freq": "WEEKLY",
            "byday": days,
            "opens_at": opens,
            "closes_at": closes,
        }
        if note:
            schedule["description"] = note
        schedule["notes"] = f"Times are local time in {version.time_zone}."
        written.append(schedule)
    if note and not written:
        written.append(
            {"id": derived_id(sid, "schedule/note"), "service_id": sid, "description": note}
        )
    return written


def _area(sid: str, code: str) -> dict[str, Any]:
    area_id = derived_id(sid, f"service_area/{code}")
    if code == INTERNATIONAL:
        written: dict[str, Any] = {
            "id": area_id,
            "service_id": sid,
            "name": "Worldwide",
            "description": "For people in any country.",
        }
    else:
        written = {
            "id": area_id,
            "service_id": sid,
            "name": country_name(code),
            "uri": f"{ISO_3166_URI}{code}",
        }
    written["attributes"] = [_attribute(area_id, "service_area", "area", code)]
    return written


def _language(sid: str, tag: str) -> dict[str, Any]:
    language_id = derived_id(sid, f"language/{tag}")
    code = tag.split("-")[0]
    written: dict[str, Any] = {
        "id": language_id,
        "service_id": sid,
        "name": language_name(tag),
        "code": code,
    }
    if tag != code:
        written["attributes"] = [_attribute(language_id, "language", "language-tag", tag)]
    return written


@lru_cache(maxsize=256)
def language_name(tag: str) -> str:
    """A language's English name: ``Portuguese (Brazil)`` for ``pt-BR``."""
    try:
        return str(Locale.parse(tag.replace("-", "_")).get_display_name("en"))
    except (UnknownLocaleError, ValueError):
        code = tag.split("-")[0]
        found = pycountry.languages.get(**{"alpha_2" if len(code) == 2 else "alpha_3": code})
        return str(found.name) if found is not None else tag


def _service_attributes(sid: str, version: HubServiceVersion) -> list[dict[str, Any]]:
    codes: list[tuple[str, str]] = [
        *((f"topic:{topic}", "") for topic in version.topics),
        *((f"audience:{audience}", "") for audience in version.audiences),
    ]
    if version.crisis_line:
        codes.append(("crisis-line", ""))
    if version.in_person:
        codes.append(("in-person", ""))
    if version.free:
        codes.append(("free", ""))
    if version.chat_url:
        codes.append(("chat-url", version.chat_url))
    if version.sms_keyword:
        codes.append(("sms-keyword", version.sms_keyword))
    codes.append(("time-zone", version.time_zone))
    if version.source_url:
        codes.append(("source-url", version.source_url))
    texts = {text.language: text for text in version.texts}
    for language in HUB_LANGUAGES[1:]:
        if language in texts and texts[language].description:
            codes.append((f"description:{language}", texts[language].description))
    for language in HUB_LANGUAGES[1:]:
        if language in texts and texts[language].hours_note:
            codes.append((f"hours-note:{language}", texts[language].hours_note))
    return [_attribute(sid, "service", code, value) for code, value in codes]


# --- what is published ----------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What a page of services is narrowed to, as the HSDS API's parameters say it: the
    services of one organisation, or those linked to one term of the hub's taxonomy (a
    topic, an audience, ``free``, ``crisis-line`` or ``in-person``). Any other value finds
    nothing."""

    organization_id: str | None = None
    taxonomy_term_id: str | None = None

    def where(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = [HubService.published_version_id.is_not(None)]
        if self.organization_id is not None:
            conditions.append(HubService.organization_id == self.organization_id)
        if self.taxonomy_term_id is not None:
            conditions.append(_linked_to(TERMS_BY_ID.get(self.taxonomy_term_id)))
        return conditions


def _linked_to(term: Term | None) -> ColumnElement[bool]:
    code = term.code if term is not None else ""
    kind, _, value = code.partition(":")
    facets = {"topic": Facet.TOPIC, "audience": Facet.AUDIENCE}
    if kind in facets or code == FREE:
        facet, value = (facets[kind], value) if kind in facets else (Facet.COST, FREE)
        return exists().where(
            HubServiceFacet.service_id == HubService.id,
            HubServiceFacet.facet == facet,
            HubServiceFacet.value == value,
        )
    if code == "crisis-line":
        return HubServiceVersion.crisis_line.is_(True)
    if code == "in-person":
        return HubServiceVersion.in_person.is_(True)
    return false()


def _published(filters: Filters) -> Select[HubService, HubServiceVersion]:
    return (
        select(HubService, HubServiceVersion)
        .join(HubServiceVersion, HubServiceVersion.id == HubService.published_version_id)
        .where(*filters.where())
        .order_by(HubService.id)
    )


def published_services(
    session: Session,
    *,
    offset: int = 0,
    limit: int | None = None,
    filters: Filters = Filters(),
) -> list[tuple[HubService, HubServiceVersion]]:
    """The services on the hub with their published versions, by id (the same order on
    every database engine), narrowed by ``filters``, from ``offset``, at most ``limit``."""
    rows = session.execute(_published(filters).offset(offset).limit(limit))
    return [(service, version) for service, version in rows]


def count_published(session: Session, filters: Filters = Filters()) -> int:
    """How many services are on the hub, narrowed by ``filters``."""
    found = session.scalar(
        select(func.count())
        .select_from(HubService)
        .join(HubServiceVersion, HubServiceVersion.id == HubService.published_version_id)
        .where(*filters.where())
    )
    return int(found or 0)


def published_service(
    session: Session, service_id: str
) -> tuple[HubService, HubServiceVersion] | None:
    """Service ``service_id`` with its published version; ``None`` if there is none (no such
    service, not yet published, or retired)."""
    row = session.execute(_published(Filters()).where(HubService.id == service_id)).first()
    return None if row is None else (row[0], row[1])


def export_package(session: Session) -> dict[str, Any]:
    """Every published service as an HSDS data package: the hub's taxonomy and its terms,
    and the services, fully nested, by id. Nothing in it depends on when it is made, so an
    unchanged hub exports the same file."""
    return {
        "name": PACKAGE_NAME,
        "title": f"{TAXONOMY_NAME}: crisis lines and support services for music people",
        "hsds_version": HSDS_VERSION,
        "taxonomies": [taxonomy()],
        "taxonomy_terms": [term.hsds() for term in TERMS],
        "services": [to_hsds(service, version) for service, version in published_services(session)],
    }


def package_json(package: Mapping[str, Any]) -> str:
    """``package`` as the text of its file: UTF-8 JSON, indented, keys in the order written."""
    return json.dumps(package, ensure_ascii=False, indent=2) + "\n"
