"""The resource hub's public pages under ``/help``: choose a country, see its emergency
number and crisis lines first, then the other services, narrowed by plain GET filters; and
each service's own page.

No page here asks anyone to sign in, and none posts a form: a person in distress must never
meet a login page. Wrong input (an unknown country or filter value, a search too long) gets
the page with a message saying what was wrong and a 4xx status, and the emergency number
still shows wherever the country is known.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import time
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_time, get_day_names
from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_date, get_locale, gettext, lazy_gettext
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from grants import clock
from grants.domain import hub_directory as directory
from grants.domain.dates import zone_name
from grants.domain.hub import DAYS
from grants.extensions import db
from grants.i18n import asked_language, chosen_language
from grants.models import Ambassador, Audience, Channel, HubServiceVersion, Topic
from grants.web.hub.page_cache import install, kept_page

bp = Blueprint("hub", __name__, url_prefix="/help")
bp.record_once(lambda state: install(state.app))

logger = logging.getLogger(__name__)

TOPICS = {
    Topic.CRISIS.value: lazy_gettext("Crisis and suicide"),
    Topic.ANXIETY_DEPRESSION.value: lazy_gettext("Anxiety and depression"),
    Topic.SUBSTANCE_USE.value: lazy_gettext("Substance use"),
    Topic.GRIEF.value: lazy_gettext("Grief"),
    Topic.EATING.value: lazy_gettext("Eating disorders"),
    Topic.LGBTQ.value: lazy_gettext("LGBTQ+"),
    Topic.FINANCIAL_HARDSHIP.value: lazy_gettext("Financial hardship"),
    Topic.FINDING_A_THERAPIST.value: lazy_gettext("Finding a therapist"),
    Topic.INDUSTRY.value: lazy_gettext("Help for the music industry"),
}
CHANNELS = {
    Channel.CALL.value: lazy_gettext("Call"),
    Channel.TEXT.value: lazy_gettext("Text"),
    Channel.CHAT.value: lazy_gettext("Chat"),
    Channel.EMAIL.value: lazy_gettext("Email"),
    Channel.WEB.value: lazy_gettext("Website"),
    Channel.IN_PERSON.value: lazy_gettext("In person"),
}
AUDIENCES = {
    Audience.ARTISTS.value: lazy_gettext("Artists"),
    Audience.CREW.value: lazy_gettext("Crew"),
    Audience.SONGWRITERS.value: lazy_gettext("Songwriters"),
    Audience.ANYONE.value: lazy_gettext("Anyone"),
}
QUERY_MAX = 2 * directory.SEARCH_MAX + 200
"""A query string longer than this is wrong input: the page leaves out the links that would
repeat it (the language switcher and the alternates)."""
SAVED_AT = Markup("<time></time>")
"""Where the offline notice's sentence takes the day and time a page was saved: an empty
element that static/hub-offline.js fills, kept as markup inside the translated sentence."""
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")
_SERVICE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# --- what every hub page shares -------------------------------------------------------------


def kept_language() -> str | None:
    """The language to keep in the hub's links and forms: the one ``?lang=`` chose, if it
    chose one (a language from the profile or browser needs no keeping)."""
    asked = asked_language().replace("-", "_").lower()
    chosen = chosen_language()
    return chosen if asked and asked == chosen.lower() else None


def hub_url(endpoint: str, **values: Any) -> str:
    """``url_for`` that keeps the language ``?lang=`` chose."""
    kept = kept_language()
    if kept is not None:
        values.setdefault("lang", kept)
    return url_for(endpoint, **values)


def language_name(tag: str) -> str:
    """A language (BCP 47 tag or primary subtag) named in the page's language: from the
    language's own locale data where Babel has it, else from the page language's list of
    language names (Cree, Ojibwa), else the tag itself."""
    try:
        return Locale.parse(tag, sep="-").get_display_name(get_locale()) or tag
    except (ValueError, UnknownLocaleError):
        return str(get_locale().languages.get(tag.split("-")[0].lower(), tag))


@dataclass(frozen=True)
class Hours:
    """One opening of a service, as the page writes it."""

    day: str
    opens: str
    closes: str


def hours_of(version: HubServiceVersion) -> list[Hours]:
    """A service's opening hours, day by day, in the page's language (times in its zone)."""
    locale = get_locale()
    names = get_day_names("wide", locale=locale)

    def written(clock_time: str) -> str:
        hour, minute = (int(part) for part in clock_time.split(":"))
        return format_time(time(hour, minute), format="short", locale=locale)

    return [
        Hours(
            names[DAYS.index(opening["day"])], written(opening["opens"]), written(opening["closes"])
        )
        for opening in version.hours
    ]


@bp.after_request
def kept_by_nobody_when_signed_in(response: Response) -> Response:
    """A page shown to someone signed in carries their name and a sign-out form: it is
    stored by no cache, the hub's offline copy included, so a shared phone keeps none.
    Every hub page says that it differs by browser language and by cookie (signed in or
    not), so no cache between the visitor and the hub hands it to someone else."""
    if current_user.is_authenticated:
        response.headers["Cache-Control"] = "private, no-store"
    response.vary.update(("Accept-Language", "Cookie"))
    return response


@bp.context_processor
def hub_globals() -> dict[str, Any]:
    return {
        "hub_url": hub_url,
        "kept_language": kept_language(),
        "language_name": language_name,
        "country_label": lambda code: directory.country_label(code, chosen_language()),
        "format_date": format_date,
        "hours_of": hours_of,
        "zone_name": zone_name,
        "TOPICS": TOPICS,
        "CHANNELS": CHANNELS,
        "AUDIENCES": AUDIENCES,
        "oversized": len(request.query_string) > QUERY_MAX,
        "SAVED_AT": SAVED_AT,
    }


def preselected_country() -> str | None:
    """The country to offer first: the signed-in ambassador's, else the region of the
    browser's language (``en-GB`` is the United Kingdom). Never a guess from the address."""
    if current_user.is_authenticated:
        country = db.session.scalar(
            select(Ambassador.country).where(Ambassador.user_id == current_user.id)
        )
        if country is not None:
            return str(country.value)
    for tag, _quality in request.accept_languages:
        parts = tag.replace("_", "-").split("-")
        if len(parts) >= 2:
            code = directory.known_country(parts[-1])
            if code is not None:
                return code
    return None


def _chooser(status: int, message: str = "", asked: str = "") -> ResponseReturnValue:
    preselected = directory.known_country(asked) if asked else None
    preselected = preselected or preselected_country()

    def render() -> tuple[str, int]:
        page = render_template(
            "hub/index.html",
            choices=directory.country_choices(db.session(), chosen_language()),
            preselected=preselected,
            emergency=directory.emergency(db.session(), preselected) if preselected else None,
            message=message,
            status=status,
        )
        return page, status

    return kept_page(render, preselected or "", message)


# --- the pages ------------------------------------------------------------------------------


@bp.route("/")
def index() -> ResponseReturnValue:
    """Choose a country. The chooser is a plain GET form, which comes back here with
    ``?country=`` and is sent on to that country's page."""
    asked = request.args.get("country")
    if asked is not None:
        code = directory.known_country(asked[:8])
        if code is None:
            return _chooser(400, gettext("Choose a country from the list."), asked="")
        return redirect(hub_url("hub.country", code=code))
    return _chooser(200)


def _read_filters(args: Any) -> tuple[directory.Filters, list[str]]:
    """The filters a visitor asked for, and a message for each value that is not one of the
    choices (that filter is then left off)."""
    problems: list[str] = []

    def choice(name: str, choices: dict[str, Any], problem: str) -> str:
        value = args.get(name, "")
        if value and value not in choices:
            problems.append(problem)
            return ""
        return str(value)

    topic = choice("topic", TOPICS, gettext("That topic is not one of the choices."))
    channel = choice(
        "channel", CHANNELS, gettext("That way to reach a service is not one of the choices.")
    )
    audience = choice("audience", AUDIENCES, gettext("That audience is not one of the choices."))
    language = args.get("language", "")
    if language and not _LANGUAGE_CODE.fullmatch(language):
        problems.append(gettext("That language is not one of the choices."))
        language = ""
    flags = {}
    for name in ("free", "open"):
        value = args.get(name, "")
        if value not in ("", "1"):
            problems.append(gettext("A tick box of the filters was sent with a wrong value."))
        flags[name] = value == "1"
    q = " ".join(args.get("q", "").split())
    if len(q) > directory.SEARCH_MAX:
        problems.append(
            gettext(
                "A search has at most %(count)d characters. Try a few words.",
                count=directory.SEARCH_MAX,
            )
        )
        q = ""
    filters = directory.Filters(
        topic=topic,
        channel=channel,
        language=language,
        audience=audience,
        free=flags["free"],
        open_now=flags["open"],
        q=q,
    )
    return filters, problems


def _page_number(text: str) -> int:
    return int(text) if text.isascii() and text.isdigit() and len(text) < 6 else 1


@bp.route("/<code>")
def country(code: str) -> ResponseReturnValue:
    """A country's emergency number, first and always; its crisis lines; then the other
    services, narrowed by the filters."""
    found = directory.known_country(code[:8])
    if found is None:
        return _chooser(
            404, gettext("We do not know a country with the code “%(code)s”.", code=code[:8])
        )
    if found != code:
        return redirect(hub_url("hub.country", code=found, **request.args.to_dict()), 301)
    filters, problems = _read_filters(request.args)

    def render() -> tuple[str, int]:
        now = clock.now()
        language = chosen_language()
        listed = directory.country_page(
            db.session(),
            found,
            filters,
            language=language,
            now=now,
            today=clock.today(),
            page=_page_number(request.args.get("page", "")),
        )
        page = render_template(
            "hub/country.html",
            code=found,
            name=directory.country_label(found, language),
            emergency=directory.emergency(db.session(), found),
            listed=listed,
            filters=filters,
            problems=problems,
            languages=directory.spoken_languages(db.session()),
        )
        return page, 400 if problems else 200

    return kept_page(render)


@bp.route("/services/<service_id>")
def service(service_id: str) -> ResponseReturnValue:
    """One service's page, as its published version says."""

    def render() -> tuple[str, int]:
        listing = None
        if _SERVICE_ID.fullmatch(service_id):
            listing = directory.service_listing(
                db.session(), service_id, chosen_language(), clock.now(), clock.today()
            )
        if listing is None:
            return render_template("hub/not_found.html"), 404
        return render_template("hub/service.html", listing=listing), 200

    return kept_page(render)


@bp.route("/<path:rest>")
def elsewhere(rest: str) -> ResponseReturnValue:
    """Any other address under ``/help``: the chooser, with a 404."""
    return _chooser(404, gettext("There is no page at this address. Choose a country:"))


# --- errors on the hub's pages --------------------------------------------------------------


@bp.errorhandler(400)
@bp.errorhandler(404)
@bp.errorhandler(405)
@bp.errorhandler(500)
def hub_error(error: Exception) -> ResponseReturnValue:
    """An error on a hub page still says where to call and leads back to the chooser; it
    reads nothing more from the database than the country's number, and goes without it
    if the database cannot be read."""
    code = error.code if isinstance(error, HTTPException) and error.code else 500
    emergency = None
    country_code = (request.view_args or {}).get("code")
    if isinstance(country_code, str) and directory.known_country(country_code):
        try:
            emergency = directory.emergency(db.session(), country_code.upper())
        except SQLAlchemyError:
            db.session.rollback()
            logger.exception("A hub error page could not read the emergency number")
    return render_template("hub/problem.html", code=code, emergency=emergency), code
