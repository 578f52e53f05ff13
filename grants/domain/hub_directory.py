"""Reading the resource hub as the public sees it: countries, their emergency numbers, and
the published services a visitor finds, narrowed by the filters.

Only published versions are ever read here. The filters read the facet rows kept with each
published version (:class:`~grants.models.HubServiceFacet`, indexed by facet, value and
service), never the versions' JSON. Whether a service is open now is worked out from its
opening hours in its own time zone, for the few services a country has.

Nothing here writes.
"""

from __future__ import annotations

import gettext
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import pycountry
from sqlalchemy import CompoundSelect, Select, intersect, select
from sqlalchemy.orm import Session, lazyload

from grants.clock import zone
from grants.domain import hub_search
from grants.domain.hub import DAYS
from grants.domain.hub_contacts import Phone, country_codes
from grants.models import (
    Facet,
    HubCountry,
    HubEdition,
    HubService,
    HubServiceFacet,
    HubServiceText,
    HubServiceVersion,
)
from grants.models.hub import FREE, INTERNATIONAL

OTHERS_PER_PAGE = 20
"""Services other than crisis lines on one page of a country (crisis lines all show)."""
STALE_CRISIS_MONTHS = 12
"""A crisis line not checked for this long shows a warning (it is never hidden)."""
SEARCH_MAX = 200
"""The longest search a visitor may type, in characters."""


# --- countries ------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _country_names(language: str) -> dict[str, str]:
    translation = gettext.translation(
        "iso3166-1", pycountry.LOCALES_DIR, languages=[language], fallback=True
    )
    names = {}
    for country in pycountry.countries:
        english = getattr(country, "common_name", None) or country.name
        names[country.alpha_2] = translation.gettext(english)
    return names


def country_label(code: str, language: str) -> str:
    """The name of country ``code`` in ``language`` (English where pycountry has none)."""
    return _country_names(language).get(code, code)


@lru_cache(maxsize=16_384)
def _sort_key(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(frozen=True)
class CountryChoice:
    """A country a visitor may choose, named in their language."""

    code: str
    name: str
    listed: bool
    """Whether the hub has an emergency number or a service of its own for it."""


def country_choices(session: Session, language: str) -> list[CountryChoice]:
    """Every ISO 3166-1 country, those with entries on the hub first, each group by name."""
    listed = countries_with_entries(session)
    names = _country_names(language)
    choices = [CountryChoice(code, name, code in listed) for code, name in names.items()]
    return sorted(choices, key=lambda choice: (not choice.listed, _sort_key(choice.name)))


def countries_with_entries(session: Session) -> set[str]:
    """The countries that have an emergency number or a published service of their own."""
    with_services = session.scalars(
        select(HubServiceFacet.value).distinct().where(HubServiceFacet.facet == Facet.COUNTRY)
    )
    with_numbers = session.scalars(select(HubCountry.code))
    return ({*with_services, *with_numbers} - {INTERNATIONAL}) & country_codes()


def known_country(text: str) -> str | None:
    """``text`` as an ISO 3166-1 alpha-2 code, or ``None``."""
    code = text.strip().upper()
    return code if len(code) == 2 and code in country_codes() else None


def edition(session: Session) -> int:
    """The number of the hub's edition (:class:`~grants.models.HubEdition`): it goes up
    with every change to what the public sees; 0 before the first."""
    number = session.scalar(select(HubEdition.number).where(HubEdition.id == 1))
    return 0 if number is None else number


def emergency(session: Session, code: str) -> HubCountry | None:
    """Country ``code``'s emergency number, if the hub has checked it."""
    return session.get(HubCountry, code)


# --- filters --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What a visitor narrowed a country's services to (already checked)."""

    topic: str = ""
    channel: str = ""
    language: str = ""
    audience: str = ""
    free: bool = False
    open_now: bool = False
    q: str = ""

    @property
    def active(self) -> bool:
        return any(
            (self.topic, self.channel, self.language, self.audience, self.free, self.open_now)
        ) or bool(self.q)


def _with(facet: Facet, values: Sequence[str]) -> Select[Any]:
    return select(HubServiceFacet.service_id).where(
        HubServiceFacet.facet == facet, HubServiceFacet.value.in_(values)
    )


def _chosen(filters: Filters) -> list[Select[Any]]:
    """For each facet the visitor chose a value of, the services that have it."""
    chosen = [
        _with(facet, [value])
        for facet, value in (
            (Facet.TOPIC, filters.topic),
            (Facet.CHANNEL, filters.channel),
            (Facet.LANGUAGE, filters.language),
            (Facet.AUDIENCE, filters.audience),
        )
        if value
    ]
    if filters.free:
        chosen.append(_with(Facet.COST, [FREE]))
    return chosen


def services_of(code: str, filters: Filters | None = None) -> Select[Any] | CompoundSelect[Any]:
    """The published services of country ``code`` (its own and those open to every
    country) that have every facet value ``filters`` chose, as a query of their ids: only
    published versions have facet rows, so the facets' index answers it alone."""
    chosen = _chosen(filters) if filters is not None else []
    country = _with(Facet.COUNTRY, [code, INTERNATIONAL])
    return intersect(country, *chosen) if chosen else country


def spoken_languages(session: Session) -> list[str]:
    """The languages (primary subtags) some published service speaks."""
    return list(
        session.scalars(
            select(HubServiceFacet.value)
            .distinct()
            .where(HubServiceFacet.facet == Facet.LANGUAGE)
            .order_by(HubServiceFacet.value)
        )
    )


def matching_ids(
    session: Session, q: str, language: str, within: Select[Any] | CompoundSelect[Any] | None = None
) -> list[str]:
    """The published services whose words match ``q`` (in any of the hub's languages,
    accents and a typo forgiven), best first; only those ``within`` (a query of service
    ids) when given. Nothing ``q`` holds is read as an operator."""
    return hub_search.search_services(
        session, q, language=language, limit=hub_search.LIMIT_MAX, within=within
    )


# --- what a visitor sees of a service -------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    """A published service as a visitor sees it, in their language."""

    service_id: str
    version: HubServiceVersion
    organization: str
    phones: list[Phone]
    text: HubServiceText | None
    open_now: bool | None
    """``None`` when its hours are not known."""
    stale: bool
    """A crisis line not checked for :data:`STALE_CRISIS_MONTHS` months."""
    matches: bool = True
    """Whether it matches the visitor's filters (crisis lines show either way)."""

    @property
    def text_language(self) -> str:
        return self.text.language if self.text is not None else "en"

    @property
    def voice(self) -> list[Phone]:
        return [phone for phone in self.phones if phone.kind == "voice"]

    @property
    def texting(self) -> list[Phone]:
        return [phone for phone in self.phones if phone.kind == "text"]


def months_ago(today: date, months: int) -> date:
    """The day ``months`` months before ``today`` (the month's last day when it is shorter)."""
    year, month = divmod(today.year * 12 + today.month - 1 - months, 12)
    day = today.day
    while True:
        try:
            return date(year, month + 1, day)
        except ValueError:
            day -= 1


def is_stale(version: HubServiceVersion, today: date) -> bool:
    """Whether ``version`` is a crisis line not checked for :data:`STALE_CRISIS_MONTHS`."""
    return version.crisis_line and version.checked_on <= months_ago(today, STALE_CRISIS_MONTHS)


def is_open(
    open_all_hours: bool, hours: Iterable[dict[str, str]], time_zone: str, now: datetime
) -> bool | None:
    """Whether a service is open at ``now`` by its hours in its own ``time_zone``; ``None``
    when it gives none. Hours closing before they open run past midnight into the next day;
    closing at ``00:00`` is midnight."""
    if open_all_hours:
        return True
    openings = list(hours)
    if not openings:
        return None
    local = now.astimezone(zone(time_zone))
    today, clock_time = DAYS[local.weekday()], local.strftime("%H:%M")
    yesterday = DAYS[(local.weekday() - 1) % 7]
    for opening in openings:
        opens, closes = opening["opens"], opening["closes"]
        if opens < closes:
            if opening["day"] == today and opens <= clock_time < closes:
                return True
        elif (opening["day"] == today and clock_time >= opens) or (
            opening["day"] == yesterday and clock_time < closes
        ):
            return True
    return False


def _listing(
    service: HubService,
    version: HubServiceVersion,
    text: HubServiceText | None,
    now: datetime,
    today: date,
) -> Listing:
    return Listing(
        service_id=service.id,
        version=version,
        organization=service.organization.name,
        phones=[Phone.of(phone) for phone in version.phones],
        text=text,
        open_now=is_open(version.open_all_hours, version.hours, version.time_zone, now),
        stale=is_stale(version, today),
    )


def service_listing(
    session: Session, service_id: str, language: str, now: datetime, today: date
) -> Listing | None:
    """Published service ``service_id`` as the public sees it; ``None`` if it is not on the
    hub (never published, or retired)."""
    service = session.get(HubService, service_id)
    if service is None or service.published_version_id is None:
        return None
    version = session.get_one(HubServiceVersion, service.published_version_id)
    return _listing(service, version, version.text_in(language), now, today)


@dataclass(frozen=True)
class CountryPage:
    """What a country's page lists: every crisis line (those matching the filters first),
    then one page of the other services that match."""

    crisis_lines: list[Listing]
    others: list[Listing]
    others_total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.others_total // self.per_page))


def country_page(
    session: Session,
    code: str,
    filters: Filters,
    *,
    language: str,
    now: datetime,
    today: date,
    page: int = 1,
    per_page: int = OTHERS_PER_PAGE,
) -> CountryPage:
    """The services of country ``code`` (its own and those open to every country), crisis
    lines first, then the others matching ``filters``, a page at a time."""
    version = HubServiceVersion
    ranked: dict[str, int] | None = None
    matching: set[str] | None = None
    if filters.q:
        found = matching_ids(session, filters.q, language, services_of(code, filters))
        ranked = {service_id: rank for rank, service_id in enumerate(found)}
    elif _chosen(filters):
        matching = set(session.scalars(services_of(code, filters)))
    local: dict[str, bool] = {}
    rows: dict[str, Any] = {}
    columns: list[Any] = [HubServiceFacet.value, HubService.id, version.crisis_line, version.name]
    if filters.open_now:
        columns += [version.open_all_hours, version.hours, version.time_zone]
    for row in session.execute(
        select(*columns)
        .join(HubService, HubService.id == HubServiceFacet.service_id)
        .join(version, version.id == HubService.published_version_id)
        .where(
            HubServiceFacet.facet == Facet.COUNTRY,
            HubServiceFacet.value.in_([code, INTERNATIONAL]),
        )
    ):
        rows[row.id] = row
        local[row.id] = local.get(row.id, False) or row.value == code

    def matches(row: Any) -> bool:
        if matching is not None and row.id not in matching:
            return False
        if ranked is not None and row.id not in ranked:
            return False
        if filters.open_now:
            return is_open(row.open_all_hours, row.hours, row.time_zone, now) is True
        return True

    def order(row: Any) -> tuple[Any, ...]:
        if ranked is not None:
            return (ranked.get(row.id, len(ranked)), row.id)
        return (not local[row.id], _sort_key(row.name), row.id)

    crisis = sorted((row for row in rows.values() if row.crisis_line), key=order)
    crisis = sorted(crisis, key=lambda row: not matches(row))
    others = sorted(
        (row for row in rows.values() if not row.crisis_line and matches(row)), key=order
    )
    pages = max(1, -(-len(others) // per_page))
    number = page if 1 <= page <= pages else (pages if page > pages else 1)
    shown = others[(number - 1) * per_page : number * per_page]
    wanted = [row.id for row in crisis] + [row.id for row in shown]
    loaded = {
        service.id: (service, current)
        for service, current in session.execute(
            select(HubService, version)
            .join(version, version.id == HubService.published_version_id)
            .where(HubService.id.in_(wanted))
            .options(lazyload(version.texts))
        )
    }
    texts = _texts_in(session, [current.id for _, current in loaded.values()], language)

    def listings(chosen: list[Any]) -> list[Listing]:
        found = []
        for row in chosen:
            service, current = loaded[row.id]
            text = texts.get((current.id, language)) or texts.get((current.id, "en"))
            listing = _listing(service, current, text, now, today)
            found.append(replace(listing, matches=not filters.active or matches(row)))
        return found

    return CountryPage(
        crisis_lines=listings(crisis),
        others=listings(shown),
        others_total=len(others),
        page=number,
        per_page=per_page,
    )


def _texts_in(
    session: Session, version_ids: list[int], language: str
) -> dict[tuple[int, str], HubServiceText]:
    """The texts of ``version_ids`` in ``language`` and in English, by version and language."""
    found = session.scalars(
        select(HubServiceText).where(
            HubServiceText.version_id.in_(version_ids),
            HubServiceText.language.in_({language, "en"}),
        )
    )
    return {(text.version_id, text.language): text for text in found}
