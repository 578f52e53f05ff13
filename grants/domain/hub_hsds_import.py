"""Importing an HSDS 3.0 data package into the hub (``flask grants hub import FILE``).

The file is checked first against the HSDS 3.0 JSON schemas (vendored in
:mod:`grants.hsds_schema`), then read as the hub's services (:func:`from_hsds`, the reverse
of :func:`grants.domain.hub_hsds.to_hsds`) and each checked as a navigator's proposal would
be. Every problem found is named with its JSON pointer, and if there is any, nothing is
written. Otherwise each service is proposed as a new version (``actor`` ``None``: an
import), for navigators to publish, unless it says exactly what its latest version says:
importing the same file twice proposes nothing the second time. Organisations are created,
or updated, by id.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain import audit
from grants.domain.errors import InvalidInput
from grants.domain.hub import (
    DAYS,
    HUB_LANGUAGES,
    Opening,
    ServiceContent,
    checked_content,
    content_of,
    new_edition,
    propose,
)
from grants.domain.hub_contacts import Phone, https_link, read_phone
from grants.domain.hub_hsds import ISO_3166_URI, TERMS_BY_ID
from grants.hsds_schema import validator
from grants.models import HubOrganization, HubService, HubServiceVersion
from grants.models.hub import INTERNATIONAL

PACKAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["services"],
    "properties": {
        "services": {"type": "array", "items": {"$ref": "service.json"}},
        "taxonomies": {"type": "array", "items": {"$ref": "taxonomy.json"}},
        "taxonomy_terms": {"type": "array", "items": {"$ref": "taxonomy_term.json"}},
    },
}
"""A data package as the hub reads it: an object whose ``services`` are HSDS services (and
whose ``taxonomies`` and ``taxonomy_terms``, if any, are HSDS ones)."""
MESSAGE_MAX = 300


@dataclass(frozen=True)
class Problem:
    """What is wrong with a document, and where: a JSON pointer (RFC 6901) into it."""

    pointer: str
    message: str


class HsdsInvalid(InvalidInput):
    """A document that is not HSDS 3.0, or says what the hub cannot take; nothing of it was
    written. :attr:`problems` names each one with its JSON pointer."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        count = len(problems)
        super().__init__(
            f"The file has {count} problem{'s' if count != 1 else ''}; nothing was imported."
        )
        self.problems = list(problems)


@dataclass(frozen=True)
class OrganizationFields:
    """An organisation as an import gives it."""

    id: str
    name: str
    description: str = ""
    website: str = ""
    email: str = ""


@dataclass(frozen=True)
class HsdsService:
    """A service read from HSDS: its id, its organisation, and what it says (unchecked)."""

    id: str
    organization: OrganizationFields
    content: ServiceContent


def pointer(*parts: str | int) -> str:
    """The JSON pointer to ``parts``: ``/services/0/phones/1``."""
    return "".join(f"/{str(part).replace('~', '~0').replace('/', '~1')}" for part in parts)


Refuse = Callable[[str, str], None]
"""Notes a problem at a pointer relative to the service being read."""

_TIME = re.compile(r"([0-2]\d:[0-5]\d)(:[0-5]\d(\.\d+)?)?")
_ISO_URI = re.compile(re.escape(ISO_3166_URI) + r"([A-Z]{2})")


def from_hsds(document: Mapping[str, Any], at: str = "") -> HsdsService:
    """HSDS ``service`` ``document`` (found at pointer ``at`` of its file) as the hub's:
    :class:`HsdsInvalid` names every part the hub cannot read. The content is not yet
    checked (:func:`~grants.domain.hub.checked_content` does that)."""
    problems: list[Problem] = []

    def refuse(where: str, message: str) -> None:
        problems.append(Problem(at + where, message))

    if document.get("status", "active") != "active":
        refuse("/status", "Only active services are imported.")
    organization = document.get("organization")
    if not isinstance(organization, Mapping):
        refuse("", "Give the service's organization, with its id, name and description.")
        organization = {"id": document.get("organization_id", ""), "name": ""}
    elif document.get("organization_id", organization.get("id")) != organization.get("id"):
        refuse("/organization_id", "This is not the id of the service's organization.")
    attributes = _attributes_of(document)
    countries: list[str] = []
    for index, area in enumerate(document.get("service_areas", [])):
        code = _attributes_of(area).get("area") or _iso_code(area.get("uri", ""))
        if code:
            countries.append(code)
        else:
            refuse(
                pointer("service_areas", index),
                "Name the area's country with the attribute “area” or an ISO 3166 uri.",
            )
    phones = list(_phones(document, attributes, countries, refuse))
    open_all_hours, hours, notes = _hours(document, refuse)
    languages = [
        _attributes_of(language).get("language-tag") or str(language.get("code", ""))
        for language in document.get("languages", [])
    ]
    descriptions = {"en": str(document.get("description", ""))}
    hours_notes = {"en": "\n".join(notes)} if notes else {}
    for language in HUB_LANGUAGES[1:]:
        if f"description:{language}" in attributes:
            descriptions[language] = attributes[f"description:{language}"]
        if f"hours-note:{language}" in attributes:
            hours_notes[language] = attributes[f"hours-note:{language}"]
    checked_on = _date(document.get("assured_date"), refuse)
    if problems:
        raise HsdsInvalid(problems)
    content = ServiceContent(
        name=str(document.get("name", "")),
        checked_on=checked_on,
        descriptions=descriptions,
        hours_notes=hours_notes,
        crisis_line="crisis-line" in attributes,
        url=str(document.get("url", "")),
        chat_url=attributes.get("chat-url", ""),
        email=str(document.get("email", "")),
        sms_keyword=attributes.get("sms-keyword", ""),
        in_person="in-person" in attributes,
        phones=tuple(phones),
        countries=tuple(countries),
        languages=tuple(languages),
        topics=tuple(code.split(":", 1)[1] for code in attributes if code.startswith("topic:")),
        audiences=tuple(
            code.split(":", 1)[1] for code in attributes if code.startswith("audience:")
        ),
        free="free" in attributes,
        fees_description=str(document.get("fees_description", "")),
        time_zone=attributes.get("time-zone", "UTC"),
        open_all_hours=open_all_hours,
        hours=tuple(hours),
        source_url=attributes.get("source-url", ""),
    )
    return HsdsService(
        id=str(uuid.UUID(str(document["id"]))),
        organization=OrganizationFields(
            id=str(uuid.UUID(str(organization.get("id")))) if _is_uuid(organization) else "",
            name=str(organization.get("name", "")),
            description=str(organization.get("description", "")),
            website=str(organization.get("website", "")),
            email=str(organization.get("email", "")),
        ),
        content=content,
    )


def _is_uuid(found: Mapping[str, Any]) -> bool:
    try:
        uuid.UUID(str(found.get("id")))
    except ValueError:
        return False
    return True


def _attributes_of(document: Mapping[str, Any]) -> dict[str, str]:
    """The terms of the hub's taxonomy that ``document``'s attributes link to, each with its
    value ("" for none); attributes of other taxonomies are left aside."""
    found: dict[str, str] = {}
    for attribute in document.get("attributes", []):
        term_id = attribute.get("taxonomy_term_id") or attribute.get("taxonomy_term", {}).get("id")
        term = TERMS_BY_ID.get(str(term_id))
        if term is not None:
            found[term.code] = str(attribute.get("value", ""))
    return found


def _iso_code(uri: str) -> str:
    match = _ISO_URI.fullmatch(uri)
    return match.group(1) if match else ""


def _phones(
    document: Mapping[str, Any], attributes: Mapping[str, str], countries: list[str], refuse: Refuse
) -> Iterator[Phone]:
    national = [code for code in countries if code != INTERNATIONAL]
    for index, phone in enumerate(document.get("phones", [])):
        where = pointer("phones", index)
        kind = {"voice": "voice", "cell": "voice", "text": "text", "sms": "text"}.get(
            str(phone.get("type", "voice")).lower()
        )
        if kind is None:
            refuse(f"{where}/type", "A phone is to call (voice) or to text (text).")
            continue
        number = str(phone["number"])
        country = _attributes_of(phone).get("dialling-country") or (
            national[0] if len(national) == 1 else ""
        )
        if not country and number.startswith("+"):
            country = _region_of(number)
        if not country:
            refuse(where, "Say which country the number is dialled in (“dialling-country”).")
            continue
        try:
            yield read_phone(
                number, country, kind=kind, description=str(phone.get("description", ""))
            )
        except InvalidInput as error:
            refuse(f"{where}/number", error.message)


def _region_of(number: str) -> str:
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(number))
    except phonenumbers.NumberParseException:
        return ""
    return region if region and region != "001" else ""


def _hours(document: Mapping[str, Any], refuse: Refuse) -> tuple[bool, list[Opening], list[str]]:
    """Whether the schedules say open all hours, else their openings; and the distinct
    descriptions, the English note on the hours."""
    openings: list[Opening] = []
    notes: list[str] = []
    all_hours = False
    for index, schedule in enumerate(document.get("schedules", [])):
        where = pointer("schedules", index)
        note = str(schedule.get("description", "")).strip()
        if note and note not in notes:
            notes.append(note)
        if "freq" not in schedule and "byday" not in schedule:
            continue
        if schedule.get("freq") != "WEEKLY" or not schedule.get("byday"):
            refuse(where, "The hub reads weekly schedules with their days (byday).")
            continue
        days = [day.strip() for day in str(schedule["byday"]).split(",")]
        opens = _time(schedule.get("opens_at"), f"{where}/opens_at", refuse)
        closes = _time(schedule.get("closes_at"), f"{where}/closes_at", refuse)
        if any(day not in DAYS for day in days):
            refuse(f"{where}/byday", "Days are MO, TU, WE, TH, FR, SA, SU.")
        elif opens and closes:
            if sorted(days, key=DAYS.index) == list(DAYS) and (opens, closes) == ("00:00", "23:59"):
                all_hours = True
            openings.extend(Opening(day, opens, closes) for day in days)
    return all_hours, [] if all_hours else openings, notes


def _time(value: object, where: str, refuse: Refuse) -> str:
    match = _TIME.fullmatch(str(value)) if isinstance(value, str) else None
    if match is None:
        refuse(where, "A time of day such as 09:00 (wall-clock time in the service's zone).")
        return ""
    return match.group(1)


def _date(value: object, refuse: Refuse) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        refuse("/assured_date", "Say when the details were last checked (YYYY-MM-DD).")
        return date.min


# --- the package --------------------------------------------------------------------------


def schema_problems(document: object) -> list[Problem]:
    """Where ``document`` breaks the HSDS 3.0 schemas, by pointer then message."""
    found = [
        Problem(pointer(*error.absolute_path), _short(error.message))
        for error in validator(PACKAGE_SCHEMA).iter_errors(document)
    ]
    return sorted(set(found), key=lambda problem: (problem.pointer, problem.message))


def _short(message: str) -> str:
    return message if len(message) <= MESSAGE_MAX else message[: MESSAGE_MAX - 1] + "…"


@dataclass(frozen=True)
class Planned:
    """A service of the package, read and checked, with where it is in the file."""

    at: str
    service: HsdsService
    content: ServiceContent


def read_package(session: Session, document: object) -> list[Planned]:
    """The services of data package ``document``, each read and checked; :class:`HsdsInvalid`
    lists every problem found. Writes nothing."""
    problems = schema_problems(document)
    if problems:
        raise HsdsInvalid(problems)
    assert isinstance(document, Mapping)
    planned: list[Planned] = []
    seen: dict[str, str] = {}
    organizations: dict[str, tuple[str, OrganizationFields]] = {}
    for index, written in enumerate(document["services"]):
        at = pointer("services", index)
        try:
            service = from_hsds(written, at)
        except HsdsInvalid as error:
            problems.extend(error.problems)
            continue
        if service.id in seen:
            problems.append(Problem(f"{at}/id", f"The same id as {seen[service.id]}."))
        seen.setdefault(service.id, at)
        problems.extend(_organization_problems(session, service, at, organizations))
        try:
            planned.append(Planned(at, service, checked_content(service.content)))
        except InvalidInput as error:
            problems.append(Problem(at + FIELD_POINTERS.get(error.field or "", ""), error.message))
    if problems:
        raise HsdsInvalid(problems)
    return planned


FIELD_POINTERS = {
    "name": "/name",
    "description_en": "/description",
    "texts": "/attributes",
    "countries": "/service_areas",
    "languages": "/languages",
    "topics": "/attributes",
    "audiences": "/attributes",
    "time_zone": "/attributes",
    "hours": "/schedules",
    "email": "/email",
    "url": "/url",
    "chat_url": "/attributes",
    "source_url": "/attributes",
    "sms_keyword": "/attributes",
    "phones": "/phones",
}
"""Where in an HSDS service each field of :func:`checked_content`'s refusals comes from."""


def _organization_problems(
    session: Session,
    service: HsdsService,
    at: str,
    seen: dict[str, tuple[str, OrganizationFields]],
) -> Iterator[Problem]:
    organization = service.organization
    if not organization.name.strip():
        yield Problem(f"{at}/organization/name", "Give the organization's name.")
    try:
        https_link(organization.website, field_name="website")
    except InvalidInput as error:
        yield Problem(f"{at}/organization/website", error.message)
    earlier = seen.setdefault(organization.id, (at, organization))
    if earlier[1] != organization:
        yield Problem(
            f"{at}/organization", f"The same organization differs at {earlier[0]}/organization."
        )
    existing = session.get(HubService, service.id)
    if existing is not None and existing.organization_id != organization.id:
        yield Problem(
            f"{at}/organization_id", "The hub has this service under another organization."
        )


@dataclass
class ImportReceipt:
    """What an import did."""

    proposed: list[HubServiceVersion] = field(default_factory=list)
    """The versions proposed, waiting for navigators to publish them."""
    unchanged: int = 0
    """Services whose latest version already says what the file says."""
    organizations_created: int = 0
    organizations_updated: int = 0


def import_package(session: Session, document: object, *, now: datetime) -> ImportReceipt:
    """Import data package ``document``: all of it, or (:class:`HsdsInvalid`) nothing."""
    planned = read_package(session, document)
    receipt = ImportReceipt()
    for organization in {
        plan.service.organization.id: plan.service.organization for plan in planned
    }.values():
        _save_organization(session, organization, now, receipt)
    for plan in planned:
        latest = session.scalar(
            select(HubServiceVersion)
            .where(HubServiceVersion.service_id == plan.service.id)
            .order_by(HubServiceVersion.number.desc())
            .limit(1)
        )
        if (
            latest is not None
            and not latest.retires
            and checked_content(content_of(latest)) == plan.content
        ):
            receipt.unchanged += 1
            continue
        receipt.proposed.append(
            propose(
                session,
                actor=None,
                content=plan.content,
                now=now,
                service_id=plan.service.id,
                organization_id=plan.service.organization.id,
                note="Imported from an HSDS data package.",
            )
        )
    return receipt


def _says(version: HubServiceVersion | None, content: ServiceContent) -> bool:
    """Whether ``version`` (a service's latest) says what ``content`` says: then importing
    it proposes nothing. A retirement says nothing of the kind: importing the service
    proposes it again."""
    if version is None or version.retires:
        return False
    return _comparable(content_of(version)) == _comparable(content)


def _comparable(content: ServiceContent) -> dict[str, object]:
    """``content``'s fields, sequences as tuples: a stored version is already in checked
    form, so it equals a checked content saying the same without checking it again."""
    return {
        name: tuple(value) if isinstance(value, list | tuple) else value
        for name, value in ((f.name, getattr(content, f.name)) for f in fields(content))
    }


def _save_organization(
    session: Session, fields: OrganizationFields, now: datetime, receipt: ImportReceipt
) -> None:
    values = {
        "name": fields.name.strip(),
        "description": fields.description.strip(),
        "website": fields.website.strip(),
        "email": fields.email.strip(),
    }
    found = session.get(HubOrganization, fields.id)
    if found is None:
        session.add(HubOrganization(id=fields.id, created_at=now, **values))
        receipt.organizations_created += 1
    elif any(getattr(found, name) != value for name, value in values.items()):
        before = {name: getattr(found, name) for name in values}
        for name, value in values.items():
            setattr(found, name, value)
        receipt.organizations_updated += 1
        if before["name"] != values["name"]:
            new_edition(session, now)
        audit.record(
            session,
            actor_id=None,
            action="hub.organization_import",
            object_type="hub_organization",
            object_id=None,
            before={"id": fields.id, **before},
            after={"id": fields.id, **values},
        )
    session.flush()
