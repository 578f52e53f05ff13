"""The resource hub's seed: real emergency numbers, crisis lines and music-industry services.

What is loaded lives in ``hub_data.json`` beside this module: each country's emergency
number, the organisations, and the services, every one with the public page it was checked
against (``source_url``) and the day it was checked (``checked_on``). Nothing in it was
guessed: a number that could not be found stated on a public page is left out, and the
countries with fewer than two crisis lines are named in the file's ``known_gaps``.

:func:`seed_hub` adds whatever is missing. Organisations and services have fixed UUIDs in
the file, so a second run finds them and changes nothing; a service that exists is left
exactly as navigators keep it, even if the file says otherwise. Each new service is
proposed and published through :mod:`grants.domain.hub` with no actor (an import, then the
seed's own publication), so its numbers are parsed and checked like a navigator's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from importlib import resources
from typing import Any

from sqlalchemy.orm import Session

from grants.domain.hub import Opening, ServiceContent, new_edition, propose, publish
from grants.domain.hub_contacts import read_phone
from grants.models import HubCountry, HubOrganization, HubService

DATA_FILE = "hub_data.json"
"""The seed data, a package resource of :mod:`grants.seed`."""


@dataclass
class HubSeed:
    """What seeding the hub added."""

    organizations: int = 0
    countries: int = 0
    services: list[str] = field(default_factory=list)
    """The names of the services published, in the file's order."""

    @property
    def changed(self) -> bool:
        return bool(self.organizations or self.countries or self.services)


@lru_cache(maxsize=1)
def _cached() -> str:
    return resources.files("grants.seed").joinpath(DATA_FILE).read_text(encoding="utf-8")


def hub_data() -> dict[str, Any]:
    """The seed data file, parsed (a fresh copy each time)."""
    data: dict[str, Any] = json.loads(_cached())
    return data


def seed_hub(session: Session, *, now: datetime, data: Mapping[str, Any] | None = None) -> HubSeed:
    """Add the organisations, countries and services of ``data`` (by default the seed
    file) that are not there yet, publishing each new service. Flushes, never commits."""
    data = hub_data() if data is None else data
    seed = HubSeed()
    for organization in data["organizations"]:
        if session.get(HubOrganization, organization["id"]) is None:
            session.add(
                HubOrganization(
                    id=organization["id"],
                    name=organization["name"],
                    description=organization.get("description", ""),
                    website=organization.get("website", ""),
                    email=organization.get("email", ""),
                    created_at=now,
                )
            )
            seed.organizations += 1
    for country in data["countries"]:
        if session.get(HubCountry, country["code"]) is None:
            session.add(
                HubCountry(
                    code=country["code"],
                    emergency_number=country["emergency_number"],
                    other_emergency_numbers=list(country.get("other_emergency_numbers", [])),
                    source_url=country["source_url"],
                    checked_on=date.fromisoformat(country["checked_on"]),
                )
            )
            seed.countries += 1
    if seed.countries:
        new_edition(session, now)
    session.flush()
    for service in data["services"]:
        if session.get(HubService, service["id"]) is not None:
            continue
        version = propose(
            session,
            actor=None,
            content=service_content(service),
            now=now,
            service_id=service["id"],
            organization_id=service["organization_id"],
            note="Loaded from the hub's seed data.",
        )
        publish(session, actor=None, version_id=version.id, now=now)
        seed.services.append(service["name"])
    return seed


def service_content(service: Mapping[str, Any]) -> ServiceContent:
    """One service of the seed file as the content a navigator would propose."""
    return ServiceContent(
        name=service["name"],
        checked_on=date.fromisoformat(service["checked_on"]),
        descriptions=dict(service["descriptions"]),
        hours_notes=dict(service.get("hours_notes", {})),
        crisis_line=bool(service.get("crisis_line", False)),
        url=service.get("url", ""),
        chat_url=service.get("chat_url", ""),
        email=service.get("email", ""),
        sms_keyword=service.get("sms_keyword", ""),
        in_person=bool(service.get("in_person", False)),
        phones=tuple(
            read_phone(
                phone["number"],
                phone["country"],
                kind=phone.get("kind", "voice"),
                description=phone.get("description", ""),
            )
            for phone in service.get("phones", [])
        ),
        countries=tuple(service["countries"]),
        languages=tuple(service["languages"]),
        topics=tuple(service["topics"]),
        audiences=tuple(service["audiences"]),
        free=bool(service.get("free", True)),
        fees_description=service.get("fees_description", ""),
        time_zone=service.get("time_zone", "UTC"),
        open_all_hours=bool(service.get("open_all_hours", False)),
        hours=tuple(
            Opening(day=opening["day"], opens=opening["opens"], closes=opening["closes"])
            for opening in service.get("hours", [])
        ),
        source_url=service["source_url"],
    )
