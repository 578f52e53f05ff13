"""What a proposed version of a hub service changes, as curators read it: field by field
against the published version, each value written for a person (names of topics and
audiences, phones as dialled, days in the reader's locale)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from grants.domain import hub
from grants.domain.dates import format_day
from grants.domain.hub_contacts import Phone, country_name
from grants.domain.money import DEFAULT_LOCALE
from grants.models import Audience, HubServiceVersion, Topic

TOPIC_LABELS = {
    Topic.CRISIS: "Crisis and suicide",
    Topic.ANXIETY_DEPRESSION: "Anxiety and depression",
    Topic.SUBSTANCE_USE: "Substance use",
    Topic.GRIEF: "Grief",
    Topic.EATING: "Eating disorders",
    Topic.LGBTQ: "LGBTQ+",
    Topic.FINANCIAL_HARDSHIP: "Financial hardship",
    Topic.FINDING_A_THERAPIST: "Finding a therapist",
    Topic.INDUSTRY: "Music-industry help",
}
AUDIENCE_LABELS = {
    Audience.ARTISTS: "Artists",
    Audience.CREW: "Crew",
    Audience.SONGWRITERS: "Songwriters",
    Audience.ANYONE: "Anyone",
}
FIELD_LABELS = {
    "name": "Name",
    "crisis_line": "Crisis line",
    "phones": "Phones",
    "sms_keyword": "Keyword to text",
    "url": "Website",
    "chat_url": "Chat",
    "email": "Email",
    "in_person": "In person",
    "countries": "Countries",
    "languages": "Languages spoken",
    "topics": "Helps with",
    "audiences": "For",
    "free": "Free",
    "fees_description": "Fees",
    "time_zone": "Time zone",
    "open_all_hours": "Open 24/7",
    "hours": "Opening hours",
    "checked_on": "Checked on",
    "source_url": "Source",
}
"""What the screens call each column of :data:`grants.domain.hub.CONTENT_COLUMNS`."""


def shown_value(column: str, value: Any, locale: str = DEFAULT_LOCALE) -> str:
    """A column's value written for a person reading a comparison (a day as ``locale``
    writes it)."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if column == "phones":
        return "\n".join(_phone_line(Phone.of(phone)) for phone in value) or "—"
    if column == "hours":
        return "\n".join(f"{o['day']} {o['opens']} to {o['closes']}" for o in value) or "—"
    if column == "topics":
        return ", ".join(TOPIC_LABELS.get(v, v) for v in value) or "—"
    if column == "audiences":
        return ", ".join(AUDIENCE_LABELS.get(v, v) for v in value) or "—"
    if column == "countries":
        return (
            ", ".join(
                "International" if code == "*" else f"{country_name(code)} ({code})"
                for code in value
            )
            or "—"
        )
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "—"
    if isinstance(value, date):
        return format_day(value, locale)
    return str(value) if value not in ("", None) else "—"


def _phone_line(phone: Phone) -> str:
    kind = "text" if phone.kind == "text" else "voice"
    number = phone.shown if phone.short else phone.international
    line = f"{number} ({kind}, {phone.country})"
    return f"{line}: {phone.description}" if phone.description else line


@dataclass(frozen=True)
class Change:
    """One field of a proposal compared with the published version."""

    label: str
    before: str
    after: str


def changes(
    version: HubServiceVersion,
    published: HubServiceVersion | None,
    locale: str = DEFAULT_LOCALE,
) -> list[Change]:
    """What ``version`` changes against ``published`` (every field it fills, for a service
    not yet on the hub), field by field, the texts of each language among them; days as
    ``locale`` writes them."""
    found = []
    for column in hub.CONTENT_COLUMNS:
        after = shown_value(column, getattr(version, column), locale)
        before = shown_value(column, getattr(published, column), locale) if published else ""
        if after != before and not (published is None and after == "—"):
            found.append(Change(FIELD_LABELS[column], before, after))
    texts_after = {text.language: text for text in version.texts}
    texts_before = {text.language: text for text in published.texts} if published else {}
    for language in hub.HUB_LANGUAGES:
        new, old = texts_after.get(language), texts_before.get(language)
        for attribute, label in (("description", "Description"), ("hours_note", "Note on hours")):
            after = getattr(new, attribute, "") if new else ""
            before = getattr(old, attribute, "") if old else ""
            if after != before:
                found.append(Change(f"{label} ({language})", before or "—", after or "—"))
    return found
