"""Curating the resource hub: services proposed in versions and published by a second person.

A navigator proposes a new service, a change to one, or its retirement; each proposal is a
new :class:`~grants.models.HubServiceVersion`. Another navigator, or a manager, publishes it
(never its own proposer: a wrong crisis number harms people), and only then does the public
see it; the version it replaces is kept as superseded. A proposal can be withdrawn by its
proposer or sent back by a reviewer, and is then kept as withdrawn. Every decision is an
audit event.

What a version says is checked before it is stored (:func:`checked_content`): phone numbers
are parsed with ``phonenumbers`` and kept in E.164 (or as a short code such as ``988`` valid
in its country), links are ``https:`` only, countries are ISO 3166-1 codes, and the English
description is required, since it is what a visitor sees when their language has none.

Operations flush and never commit.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from grants.domain import audit
from grants.domain.checks import require_role
from grants.domain.errors import InvalidInput, InvalidState, NotAllowed, NotFound
from grants.domain.hub_contacts import Phone, country_code, https_link, time_zones
from grants.domain.hub_search import index_service
from grants.models import (
    Audience,
    Channel,
    Facet,
    HubEdition,
    HubOrganization,
    HubService,
    HubServiceFacet,
    HubServiceText,
    HubServiceVersion,
    Role,
    Topic,
    User,
    VersionState,
)
from grants.models.hub import FREE, INTERNATIONAL

HUB_LANGUAGES = ("en", "es", "fr", "de", "pt_BR")
"""The languages the hub is written in, English first: the one every service has."""
CURATORS = (Role.NAVIGATOR,)
"""Who proposes services."""
PUBLISHERS = (Role.NAVIGATOR, Role.MANAGER)
"""Who publishes what someone else proposed."""
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
"""Days of the week as iCalendar (and HSDS) write them."""
NAME_MAX = 200
TEXT_MAX = 4_000
NOTE_MAX = 500

_TIME_OF_DAY = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
_LANGUAGE_TAG = re.compile(r"[a-z]{2,3}(-[A-Z]{2}|-[A-Za-z]{4})?")


@dataclass(frozen=True)
class Opening:
    """A service's hours on one day of the week, in its own time zone (``closes`` before
    ``opens`` runs past midnight)."""

    day: str
    opens: str
    closes: str

    def stored(self) -> dict[str, str]:
        return {"day": self.day, "opens": self.opens, "closes": self.closes}


@dataclass(frozen=True)
class ServiceContent:
    """What a version of a service says, as a navigator or an import gives it (unchecked)."""

    name: str
    checked_on: date
    descriptions: Mapping[str, str]
    """Per language of :data:`HUB_LANGUAGES`; English is required."""
    hours_notes: Mapping[str, str] = field(default_factory=dict)
    crisis_line: bool = False
    url: str = ""
    chat_url: str = ""
    email: str = ""
    sms_keyword: str = ""
    in_person: bool = False
    phones: Sequence[Phone] = ()
    countries: Sequence[str] = ()
    languages: Sequence[str] = ("en",)
    topics: Sequence[str] = ()
    audiences: Sequence[str] = (Audience.ANYONE.value,)
    free: bool = True
    fees_description: str = ""
    time_zone: str = "UTC"
    open_all_hours: bool = False
    hours: Sequence[Opening] = ()
    source_url: str = ""


def content_of(version: HubServiceVersion) -> ServiceContent:
    """What ``version`` says, as a :class:`ServiceContent`: what a form edits, an import
    compares, and :func:`propose` takes."""
    return ServiceContent(
        name=version.name,
        checked_on=version.checked_on,
        descriptions={t.language: t.description for t in version.texts if t.description},
        hours_notes={t.language: t.hours_note for t in version.texts if t.hours_note},
        crisis_line=version.crisis_line,
        url=version.url,
        chat_url=version.chat_url,
        email=version.email,
        sms_keyword=version.sms_keyword,
        in_person=version.in_person,
        phones=tuple(Phone.of(stored) for stored in version.phones),
        countries=tuple(version.countries),
        languages=tuple(version.languages),
        topics=tuple(version.topics),
        audiences=tuple(version.audiences),
        free=version.free,
        fees_description=version.fees_description,
        time_zone=version.time_zone,
        open_all_hours=version.open_all_hours,
        hours=tuple(Opening(h["day"], h["opens"], h["closes"]) for h in version.hours),
        source_url=version.source_url,
    )


def checked_content(content: ServiceContent) -> ServiceContent:
    """``content`` with every value checked and put in its stored form; the first problem
    found is :class:`InvalidInput` naming its field."""
    name = content.name.strip()
    if not name or len(name) > NAME_MAX:
        raise InvalidInput(
            f"Give the service a name of at most {NAME_MAX} characters.", field="name"
        )
    descriptions = {lang: text.strip() for lang, text in content.descriptions.items()}
    notes = {lang: text.strip() for lang, text in content.hours_notes.items()}
    for language in (*descriptions, *notes):
        if language not in HUB_LANGUAGES:
            raise InvalidInput(
                f"“{language[:8]}” is not one of the hub's languages.", field="texts"
            )
    if not descriptions.get("en"):
        raise InvalidInput("Describe the service in English.", field="description_en")
    if any(len(text) > TEXT_MAX for text in descriptions.values()):
        raise InvalidInput(f"A description has at most {TEXT_MAX} characters.", field="texts")
    if any(len(text) > NOTE_MAX for text in notes.values()):
        raise InvalidInput(f"A note on the hours has at most {NOTE_MAX} characters.", field="texts")
    countries = sorted(
        {INTERNATIONAL if c == INTERNATIONAL else country_code(c) for c in content.countries}
    )
    if not countries:
        raise InvalidInput("Say which countries the service is for.", field="countries")
    languages = sorted({_language_tag(tag) for tag in content.languages})
    if not languages:
        raise InvalidInput("Say which languages the service speaks.", field="languages")
    topics = sorted({_member(Topic, value, "topics") for value in content.topics})
    if not topics:
        raise InvalidInput("Choose at least one thing the service helps with.", field="topics")
    audiences = sorted({_member(Audience, value, "audiences") for value in content.audiences})
    if not audiences:
        raise InvalidInput("Say whom the service is for.", field="audiences")
    if content.time_zone not in time_zones():
        raise InvalidInput("Choose the time zone its hours are in.", field="time_zone")
    hours = sorted(
        {_opening(opening) for opening in content.hours},
        key=lambda opening: (DAYS.index(opening.day), opening.opens),
    )
    email = content.email.strip()
    if email and ("@" not in email or len(email) > 254 or any(c.isspace() for c in email)):
        raise InvalidInput("Give an email address the service answers.", field="email")
    keyword = content.sms_keyword.strip()
    if keyword and not any(phone.kind == "text" for phone in content.phones):
        raise InvalidInput("A keyword to text needs a number to text it to.", field="sms_keyword")
    checked = ServiceContent(
        name=name,
        checked_on=content.checked_on,
        descriptions={lang: text for lang, text in descriptions.items() if text},
        hours_notes={lang: text for lang, text in notes.items() if text},
        crisis_line=content.crisis_line,
        url=https_link(content.url, field_name="url"),
        chat_url=https_link(content.chat_url, field_name="chat_url"),
        email=email,
        sms_keyword=keyword[:60],
        in_person=content.in_person,
        phones=tuple(content.phones),
        countries=countries,
        languages=languages,
        topics=topics,
        audiences=audiences,
        free=content.free,
        fees_description=content.fees_description.strip()[:NOTE_MAX],
        time_zone=content.time_zone,
        open_all_hours=content.open_all_hours,
        hours=() if content.open_all_hours else tuple(hours),
        source_url=https_link(content.source_url, field_name="source_url"),
    )
    if not channels_of(checked):
        raise InvalidInput(
            "Give at least one way to reach the service: a phone, a number to text, a "
            "website, a chat, an email, or a place to go.",
            field="phones",
        )
    return checked


def _language_tag(tag: str) -> str:
    written = tag.strip().replace("_", "-")
    if not _LANGUAGE_TAG.fullmatch(written):
        raise InvalidInput(f"“{tag[:12]}” is not a language code.", field="languages")
    return written


def _member(enum: Any, value: str, field_name: str) -> str:
    try:
        return str(enum(value).value)
    except ValueError:
        raise InvalidInput(f"“{value[:24]}” is not one of the choices.", field=field_name) from None


def _opening(opening: Opening) -> Opening:
    if opening.day not in DAYS:
        raise InvalidInput("Opening hours name a day of the week.", field="hours")
    if not (_TIME_OF_DAY.fullmatch(opening.opens) and _TIME_OF_DAY.fullmatch(opening.closes)):
        raise InvalidInput("Opening hours are times such as 09:00 and 17:30.", field="hours")
    if opening.opens == opening.closes:
        raise InvalidInput("A service cannot open and close at the same time.", field="hours")
    return opening


def channels_of(content: ServiceContent | HubServiceVersion) -> list[str]:
    """The ways to reach a service, as :class:`Channel` values."""
    phones = [Phone.of(phone) if isinstance(phone, Mapping) else phone for phone in content.phones]
    found = {
        Channel.CALL: any(phone.kind == "voice" for phone in phones),
        Channel.TEXT: any(phone.kind == "text" for phone in phones),
        Channel.CHAT: bool(content.chat_url),
        Channel.EMAIL: bool(content.email),
        Channel.WEB: bool(content.url),
        Channel.IN_PERSON: content.in_person,
    }
    return [channel.value for channel, present in found.items() if present]


# --- proposing and deciding ---------------------------------------------------------------


def new_id() -> str:
    """A new service or organisation id (a UUID, as HSDS has them)."""
    return str(uuid.uuid4())


def propose(
    session: Session,
    *,
    actor: User | None,
    content: ServiceContent,
    now: datetime,
    service_id: str | None = None,
    organization_id: str | None = None,
    note: str = "",
) -> HubServiceVersion:
    """A new version of service ``service_id`` (or of a new service of organisation
    ``organization_id``), proposed and waiting to be published. ``actor`` ``None`` is an
    import, whose versions navigators publish like anyone's."""
    if actor is not None:
        require_role(actor, *CURATORS, doing="propose services for the hub")
    checked = checked_content(content)
    service = _service_for(session, service_id, organization_id, now)
    version = HubServiceVersion(
        service_id=service.id,
        number=_next_number(session, service.id),
        state=VersionState.PROPOSED,
        proposed_by_id=None if actor is None else actor.id,
        proposed_at=now,
        change_note=note.strip()[:NOTE_MAX],
        **_columns(checked),
    )
    version.texts = _texts(checked)
    session.add(version)
    session.flush()
    _audit(session, actor, "hub.propose", version)
    return version


def propose_retirement(
    session: Session, *, actor: User, service_id: str, note: str, now: datetime
) -> HubServiceVersion:
    """A version that, once published, takes the service off the hub: what it says is its
    published version's, kept for the record."""
    require_role(actor, *CURATORS, doing="propose services for the hub")
    service = session.get(HubService, service_id)
    if service is None or service.published_version_id is None:
        raise NotFound("There is no such service on the hub.")
    if not note.strip():
        raise InvalidInput("Say why the service is to be retired.", field="note")
    current = session.get_one(HubServiceVersion, service.published_version_id)
    version = HubServiceVersion(
        service_id=service.id,
        number=_next_number(session, service.id),
        state=VersionState.PROPOSED,
        retires=True,
        proposed_by_id=actor.id,
        proposed_at=now,
        change_note=note.strip()[:NOTE_MAX],
        **{column: getattr(current, column) for column in CONTENT_COLUMNS},
    )
    version.texts = [
        HubServiceText(
            language=text.language, description=text.description, hours_note=text.hours_note
        )
        for text in current.texts
    ]
    session.add(version)
    session.flush()
    _audit(session, actor, "hub.propose_retirement", version)
    return version


def publish(
    session: Session, *, actor: User | None, version_id: int, now: datetime
) -> HubServiceVersion:
    """Publish proposed version ``version_id``: the public sees it from now (or, for a
    retirement, no longer sees the service). Its proposer may not publish it. ``actor``
    ``None`` is the seed, which loads checked data straight onto the hub."""
    version = _proposed(session, version_id)
    if actor is not None:
        require_role(actor, *PUBLISHERS, doing="publish services on the hub")
        if version.proposed_by_id == actor.id:
            raise NotAllowed(
                "Someone else must publish what you proposed: a second pair of eyes checks "
                "every number before the public sees it."
            )
    service = session.get_one(HubService, version.service_id)
    if service.published_version_id is not None:
        session.execute(
            update(HubServiceVersion)
            .where(HubServiceVersion.id == service.published_version_id)
            .values(state=VersionState.SUPERSEDED)
        )
    version.state = VersionState.PUBLISHED
    version.decided_by_id = None if actor is None else actor.id
    version.decided_at = now
    if version.retires:
        service.published_version_id = None
        service.retired_at = now
    else:
        service.published_version_id = version.id
        service.retired_at = None
    session.flush()
    write_facets(session, service.id, None if version.retires else version)
    index_service(session, service.id, None if version.retires else version)
    new_edition(session, now)
    _audit(session, actor, "hub.retire" if version.retires else "hub.publish", version)
    return version


def new_edition(session: Session, now: datetime) -> None:
    """Record that what the public sees has changed (a version published, an organisation
    renamed, a country's emergency number written): no page rendered before is served
    again. The edition's row stays locked until the change commits, so a change made at the
    same time waits and takes the next number."""
    raised = session.execute(
        update(HubEdition)
        .where(HubEdition.id == 1)
        .values(number=HubEdition.number + 1, changed_at=now)
    )
    if raised.rowcount == 0:  # type: ignore[attr-defined]
        session.add(HubEdition(id=1, number=1, changed_at=now))
    session.flush()


def withdraw(
    session: Session, *, actor: User, version_id: int, note: str, now: datetime
) -> HubServiceVersion:
    """Withdraw a proposed version (its proposer), or send it back (a reviewer, who says
    why); it is kept, never published."""
    version = _proposed(session, version_id)
    if version.proposed_by_id != actor.id:
        require_role(actor, *PUBLISHERS, doing="review services for the hub")
        if not note.strip():
            raise InvalidInput("Say why it goes back, so its proposer can mend it.", field="note")
    else:
        require_role(actor, *CURATORS, doing="propose services for the hub")
    version.state = VersionState.WITHDRAWN
    version.decided_by_id = actor.id
    version.decided_at = now
    version.decision_note = note.strip()[:NOTE_MAX]
    session.flush()
    _audit(session, actor, "hub.withdraw", version)
    return version


CONTENT_COLUMNS = (
    "name",
    "crisis_line",
    "url",
    "chat_url",
    "email",
    "sms_keyword",
    "in_person",
    "phones",
    "countries",
    "languages",
    "topics",
    "audiences",
    "free",
    "fees_description",
    "time_zone",
    "open_all_hours",
    "hours",
    "checked_on",
    "source_url",
)
"""The columns of a version that say what the service is (the rest say who and when)."""


def _columns(content: ServiceContent) -> dict[str, Any]:
    return {
        "name": content.name,
        "crisis_line": content.crisis_line,
        "url": content.url,
        "chat_url": content.chat_url,
        "email": content.email,
        "sms_keyword": content.sms_keyword,
        "in_person": content.in_person,
        "phones": [phone.stored() for phone in content.phones],
        "countries": list(content.countries),
        "languages": list(content.languages),
        "topics": list(content.topics),
        "audiences": list(content.audiences),
        "free": content.free,
        "fees_description": content.fees_description,
        "time_zone": content.time_zone,
        "open_all_hours": content.open_all_hours,
        "hours": [opening.stored() for opening in content.hours],
        "checked_on": content.checked_on,
        "source_url": content.source_url,
    }


def _texts(content: ServiceContent) -> list[HubServiceText]:
    languages = [
        lang
        for lang in HUB_LANGUAGES
        if lang in content.descriptions or lang in content.hours_notes
    ]
    return [
        HubServiceText(
            language=language,
            description=content.descriptions.get(language, ""),
            hours_note=content.hours_notes.get(language, ""),
        )
        for language in languages
    ]


def _service_for(
    session: Session, service_id: str | None, organization_id: str | None, now: datetime
) -> HubService:
    if service_id is not None:
        service = session.get(HubService, service_id)
        if service is not None:
            return service
    if organization_id is None or session.get(HubOrganization, organization_id) is None:
        raise NotFound("There is no such organisation.")
    service = HubService(id=service_id or new_id(), organization_id=organization_id, created_at=now)
    session.add(service)
    session.flush()
    return service


def _next_number(session: Session, service_id: str) -> int:
    latest = session.scalar(
        select(func.max(HubServiceVersion.number)).where(HubServiceVersion.service_id == service_id)
    )
    return (latest or 0) + 1


def _proposed(session: Session, version_id: int) -> HubServiceVersion:
    version = session.get(HubServiceVersion, version_id, with_for_update=True)
    if version is None:
        raise NotFound("There is no such proposal.")
    if version.state is not VersionState.PROPOSED:
        raise InvalidState(f"This version was already {version.state.value}.")
    return version


def _audit(session: Session, actor: User | None, action: str, version: HubServiceVersion) -> None:
    audit.record(
        session,
        actor_id=None if actor is None else actor.id,
        action=action,
        object_type="hub_service_version",
        object_id=version.id,
        after={
            "service": version.service_id,
            "number": version.number,
            "name": version.name,
            "state": version.state.value,
        },
    )


# --- what the filters read ----------------------------------------------------------------


def write_facets(session: Session, service_id: str, version: HubServiceVersion | None) -> None:
    """Rewrite the facet rows of ``service_id`` from its published ``version`` (``None``:
    it is off the hub, and has none)."""
    session.execute(delete(HubServiceFacet).where(HubServiceFacet.service_id == service_id))
    if version is None:
        return
    rows = [
        {"facet": facet, "value": value, "service_id": service_id}
        for facet, value in facets_of(version)
    ]
    session.execute(insert(HubServiceFacet), rows)


def facets_of(version: HubServiceVersion) -> list[tuple[Facet, str]]:
    """Each facet value of ``version``, once (a language by its primary subtag: ``pt-BR``
    is found under ``pt``)."""
    found = dict.fromkeys(
        [
            *((Facet.COUNTRY, code) for code in version.countries),
            *((Facet.TOPIC, topic) for topic in version.topics),
            *((Facet.CHANNEL, channel) for channel in channels_of(version)),
            *((Facet.LANGUAGE, tag.split("-")[0].lower()) for tag in version.languages),
            *((Facet.AUDIENCE, audience) for audience in version.audiences),
            *([(Facet.COST, FREE)] if version.free else []),
        ]
    )
    return list(found)
