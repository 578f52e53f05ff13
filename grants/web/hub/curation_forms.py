"""The forms of the curation screens, and how a service's form turns into what the domain
checks (:class:`grants.domain.hub.ServiceContent`) and back."""

from __future__ import annotations

import zoneinfo
from datetime import date
from functools import lru_cache

from wtforms import (
    BooleanField,
    DateField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from grants.domain.errors import InvalidInput
from grants.domain.hub import (
    DAYS,
    HUB_LANGUAGES,
    NAME_MAX,
    NOTE_MAX,
    TEXT_MAX,
    Opening,
    ServiceContent,
)
from grants.domain.hub_changes import AUDIENCE_LABELS, TOPIC_LABELS
from grants.domain.hub_contacts import Phone, country_codes, country_name, read_phone
from grants.models import Audience, Topic
from grants.web.actions import ActionForm

LANGUAGE_NAMES = {
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "de": "German",
    "pt_BR": "Brazilian Portuguese",
}
DAY_NAMES = dict(
    zip(
        DAYS,
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        strict=True,
    )
)
FIELDS = {
    "texts": "description_en",
    "hours": "hours_MO",
    "note": "change_note",
}
"""The domain's names of fields that the form calls otherwise."""


class CheckboxesField(SelectMultipleField):
    """Several choices, each a checkbox."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


@lru_cache(maxsize=1)
def country_choices() -> list[SelectChoice]:
    return [
        SelectChoice(code, f"{country_name(code)} ({code})")
        for code in sorted(country_codes(), key=country_name)
    ]


@lru_cache(maxsize=1)
def zone_choices() -> list[SelectChoice]:
    return [SelectChoice(zone, zone) for zone in sorted(zoneinfo.available_timezones())]


class ServiceForm(ActionForm):
    """Everything a version of a service says, and a note on what changed."""

    name = StringField("Name", validators=[InputRequired(), Length(max=NAME_MAX)])
    organization_id = SelectField("Organisation", choices=[], validate_choice=False)
    crisis_line = BooleanField("A crisis line (listed first, never hidden for an old date)")
    phone_country = SelectField("Country the numbers are dialled in", choices=[])
    phones = TextAreaField("Phone numbers", validators=[Length(max=4_000)], render_kw={"rows": 4})
    sms_keyword = StringField("Keyword to text", validators=[Length(max=60)])
    url = StringField("Website", validators=[Length(max=500)])
    chat_url = StringField("Chat", validators=[Length(max=500)])
    email = StringField("Email", validators=[Length(max=254)])
    in_person = BooleanField("People can also go there (say where in the description)")
    countries = StringField("Countries", validators=[Length(max=1_000)])
    languages = StringField("Languages spoken", validators=[Length(max=200)])
    topics = CheckboxesField(
        "Helps with", choices=[SelectChoice(t.value, TOPIC_LABELS[t]) for t in Topic]
    )
    audiences = CheckboxesField(
        "For", choices=[SelectChoice(a.value, AUDIENCE_LABELS[a]) for a in Audience]
    )
    free = BooleanField("Free")
    fees_description = StringField("Fees", validators=[Length(max=NOTE_MAX)])
    time_zone = SelectField("Time zone of its hours", choices=[], default="UTC")
    open_all_hours = BooleanField("Open 24 hours a day, 7 days a week")
    hours_MO = StringField("Monday", validators=[Length(max=40)])
    hours_TU = StringField("Tuesday", validators=[Length(max=40)])
    hours_WE = StringField("Wednesday", validators=[Length(max=40)])
    hours_TH = StringField("Thursday", validators=[Length(max=40)])
    hours_FR = StringField("Friday", validators=[Length(max=40)])
    hours_SA = StringField("Saturday", validators=[Length(max=40)])
    hours_SU = StringField("Sunday", validators=[Length(max=40)])
    checked_on = DateField("Checked on", validators=[InputRequired()])
    source_url = StringField("Source", validators=[Length(max=500)])
    description_en = TextAreaField(
        "What it offers, in English", validators=[Length(max=TEXT_MAX)], render_kw={"rows": 5}
    )
    description_es = TextAreaField("What it offers, in Spanish", validators=[Length(max=TEXT_MAX)])
    description_fr = TextAreaField("What it offers, in French", validators=[Length(max=TEXT_MAX)])
    description_de = TextAreaField("What it offers, in German", validators=[Length(max=TEXT_MAX)])
    description_pt_BR = TextAreaField(
        "What it offers, in Brazilian Portuguese", validators=[Length(max=TEXT_MAX)]
    )
    hours_note_en = StringField("Note on its hours, in English", validators=[Length(max=NOTE_MAX)])
    hours_note_es = StringField("Note on its hours, in Spanish", validators=[Length(max=NOTE_MAX)])
    hours_note_fr = StringField("Note on its hours, in French", validators=[Length(max=NOTE_MAX)])
    hours_note_de = StringField("Note on its hours, in German", validators=[Length(max=NOTE_MAX)])
    hours_note_pt_BR = StringField(
        "Note on its hours, in Brazilian Portuguese", validators=[Length(max=NOTE_MAX)]
    )
    change_note = StringField("What changed, and why", validators=[Length(max=NOTE_MAX)])

    def with_choices(self, organisations: list[tuple[str, str]]) -> ServiceForm:
        """The form with its organisations, countries and time zones to choose from."""
        self.organization_id.choices = [SelectChoice("", "Choose…")] + [
            SelectChoice(ident, name) for ident, name in organisations
        ]
        self.phone_country.choices = [SelectChoice("", "Choose…"), *country_choices()]
        self.time_zone.choices = zone_choices()
        return self

    def hours_fields(self) -> list[StringField]:
        return [getattr(self, f"hours_{day}") for day in DAYS]

    def content(self) -> ServiceContent:
        """What the form says, for the domain to check; a line of phones or hours it cannot
        read is :class:`InvalidInput` on its field."""
        region = self.phone_country.data or ""
        return ServiceContent(
            name=self.name.data or "",
            checked_on=self.checked_on.data or date.min,
            descriptions={
                lang: getattr(self, f"description_{lang}").data or "" for lang in HUB_LANGUAGES
            },
            hours_notes={
                lang: getattr(self, f"hours_note_{lang}").data or "" for lang in HUB_LANGUAGES
            },
            crisis_line=bool(self.crisis_line.data),
            url=self.url.data or "",
            chat_url=self.chat_url.data or "",
            email=self.email.data or "",
            sms_keyword=self.sms_keyword.data or "",
            in_person=bool(self.in_person.data),
            phones=read_phones(self.phones.data or "", region),
            countries=split_codes(self.countries.data or ""),
            languages=split_codes(self.languages.data or ""),
            topics=tuple(self.topics.data or ()),
            audiences=tuple(self.audiences.data or ()),
            free=bool(self.free.data),
            fees_description=self.fees_description.data or "",
            time_zone=self.time_zone.data or "UTC",
            open_all_hours=bool(self.open_all_hours.data),
            hours=() if self.open_all_hours.data else self._hours(),
            source_url=self.source_url.data or "",
        )

    def _hours(self) -> tuple[Opening, ...]:
        found = []
        for day in DAYS:
            written = (getattr(self, f"hours_{day}").data or "").strip()
            for span in filter(None, (part.strip() for part in written.split(","))):
                opens, _, closes = span.replace("\u2013", "-").partition("-")
                if not closes:
                    raise InvalidInput(
                        f"Write {DAY_NAMES[day]}'s hours as 09:00-17:00 (several spans "
                        "separated by commas), or leave it empty when closed.",
                        field=f"hours_{day}",
                    )
                found.append(Opening(day, opens.strip(), closes.strip()))
        return tuple(found)

    def fill(self, content: ServiceContent) -> None:
        """Prefill the form from what a version says."""
        countries = [phone.country for phone in content.phones]
        region = countries[0] if countries else ""
        self.name.data = content.name
        self.crisis_line.data = content.crisis_line
        self.phone_country.data = region
        self.phones.data = "\n".join(phone_line(phone, region) for phone in content.phones)
        self.sms_keyword.data = content.sms_keyword
        self.url.data = content.url
        self.chat_url.data = content.chat_url
        self.email.data = content.email
        self.in_person.data = content.in_person
        self.countries.data = ", ".join(content.countries)
        self.languages.data = ", ".join(content.languages)
        self.topics.data = list(content.topics)
        self.audiences.data = list(content.audiences)
        self.free.data = content.free
        self.fees_description.data = content.fees_description
        self.time_zone.data = content.time_zone
        self.open_all_hours.data = content.open_all_hours
        for day in DAYS:
            spans = [f"{o.opens}-{o.closes}" for o in content.hours if o.day == day]
            getattr(self, f"hours_{day}").data = ", ".join(spans)
        self.checked_on.data = content.checked_on
        self.source_url.data = content.source_url
        for lang in HUB_LANGUAGES:
            getattr(self, f"description_{lang}").data = content.descriptions.get(lang, "")
            getattr(self, f"hours_note_{lang}").data = content.hours_notes.get(lang, "")


def phone_line(phone: Phone, region: str) -> str:
    """A phone as the form writes it: ``number | voice | description``, then its country
    when it is not ``region``."""
    number = phone.shown if phone.short else phone.international
    parts = [number, "text" if phone.kind == "text" else "voice", phone.description]
    if phone.country != region:
        return " | ".join([*parts, phone.country])
    return " | ".join(parts).removesuffix(" | ")


def read_phones(written: str, region: str) -> tuple[Phone, ...]:
    """Each line ``number | voice or text | description | country`` (all but the number
    optional; the country defaults to ``region``) as a checked :class:`Phone`."""
    phones = []
    for line in written.splitlines():
        if not line.strip():
            continue
        parts = [part.strip() for part in line.split("|")]
        if len(parts) > 4:
            raise InvalidInput(
                "Write each phone on its own line as: number | voice or text | description.",
                field="phones",
            )
        number, kind, description, country = [*parts, "", "", ""][:4]
        kind = kind.lower() or "voice"
        if kind not in ("voice", "text"):
            raise InvalidInput(
                f"“{kind[:20]}” is neither voice nor text: say whether people call or text "
                f"{number[:30]}.",
                field="phones",
            )
        if not (country or region):
            raise InvalidInput(
                "Choose the country the numbers are dialled in.", field="phone_country"
            )
        phones.append(read_phone(number, country or region, kind=kind, description=description))
    return tuple(phones)


def split_codes(written: str) -> tuple[str, ...]:
    """Codes separated by commas or spaces."""
    return tuple(code for code in written.replace(",", " ").split() if code)


class RetireForm(ActionForm):
    """Why a service is to be taken off the hub."""

    note = TextAreaField(
        "Why it should be taken off the hub", validators=[InputRequired(), Length(max=NOTE_MAX)]
    )


class SendBackForm(ActionForm):
    """Why a proposal goes back to its proposer."""

    note = TextAreaField("What needs mending", validators=[InputRequired(), Length(max=NOTE_MAX)])


class CheckedForm(ActionForm):
    """The day a navigator checked a service against its source and found it right."""

    checked_on = DateField("Checked on", validators=[InputRequired()])


class OrganizationForm(ActionForm):
    """A new organisation."""

    name = StringField("Name", validators=[InputRequired(), Length(max=NAME_MAX)])
    description = TextAreaField("What it is", validators=[Optional(), Length(max=2_000)])
    website = StringField("Website (https://)", validators=[Optional(), Length(max=500)])
    email = StringField("Email", validators=[Optional(), Length(max=254)])
