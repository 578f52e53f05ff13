"""The languages the resource hub speaks, with Flask-Babel.

A page's language comes from ``?lang=`` first, then the signed-in person's profile, then
the browser's ``Accept-Language``, and is English when none of them names one the hub has.
The rest of the application is written in English; its dates and amounts follow the
person's locale (:mod:`grants.web.hooks`), which is a separate thing from the language.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from flask import Flask, current_app, g, has_request_context, request
from flask_babel import Babel
from flask_login import current_user

from grants.domain.hub import HUB_LANGUAGES

TRANSLATIONS = Path(__file__).parent / "translations"
"""Where the compiled catalogues (``<language>/LC_MESSAGES/messages.mo``) are shipped."""

HUB_BLUEPRINT = "hub"
"""The blueprint of the hub's public pages."""
PUBLIC_BLUEPRINTS = (HUB_BLUEPRINT, "care")
"""The blueprints written in the visitor's language: the hub's public pages and the public
help desk. The staff screens (curation and the navigators' desk included) are in English
whatever the visitor asks for."""

LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "es": "Español",
    "fr": "Français",
    "de": "Deutsch",
    "pt_BR": "Português (Brasil)",
}
"""Each of :data:`~grants.domain.hub.HUB_LANGUAGES` named in itself, as the switcher shows it."""

babel = Babel()


def chosen_language() -> str:
    """The language of this request: ``?lang=``, the profile, the browser, else English.
    An unknown ``?lang=`` is ignored (the page says so where it shows the switcher)."""
    if not has_request_context():
        return "en"
    cached: str | None = g.get("hub_language")
    if cached is not None:
        return cached
    language = _asked() or _profile_language() or _browser_language() or "en"
    g.hub_language = language
    return language


def asked_language() -> str:
    """What ``?lang=`` said, as given (trimmed to 16 characters); empty if nothing."""
    return request.args.get("lang", "")[:16] if has_request_context() else ""


def _asked() -> str | None:
    asked = asked_language().replace("-", "_")
    return next((lang for lang in HUB_LANGUAGES if lang.lower() == asked.lower()), None)


def _profile_language() -> str | None:
    """The profile's locale when the hub has it (``pt_BR``), else its language (``en_GB``
    gives ``en``), else nothing."""
    if not getattr(current_user, "is_authenticated", False):
        return None
    locale = str(getattr(current_user, "locale", ""))
    if locale in HUB_LANGUAGES:
        return locale
    language = locale.split("_")[0]
    return language if language in HUB_LANGUAGES else None


def _browser_language() -> str | None:
    offered = [lang.replace("_", "-") for lang in HUB_LANGUAGES]
    best = request.accept_languages.best_match(offered)
    return best.replace("-", "_") if best else None


def on_hub_page() -> bool:
    """Whether this request is for one of the public pages (:data:`PUBLIC_BLUEPRINTS`)."""
    return has_request_context() and any(bp in request.blueprints for bp in PUBLIC_BLUEPRINTS)


def page_locale() -> str:
    """The language Flask-Babel translates this request into: :func:`chosen_language` on the
    hub's public pages, English everywhere else (the staff screens are not translated, and a
    shared layout must not speak German around an English page)."""
    return chosen_language() if on_hub_page() else "en"


def language_tag(language: str) -> str:
    """``language`` as a BCP 47 tag for ``lang`` and ``hreflang``: ``pt_BR`` is ``pt-BR``."""
    return language.replace("_", "-")


def language_unavailable() -> bool:
    """Whether ``?lang=`` named something the hub does not speak (the page then says in which
    language it is shown instead)."""
    return bool(asked_language()) and _asked() is None


@dataclass(frozen=True)
class LanguageLink:
    """This page in one of the hub's languages: for the switcher and the ``hreflang``
    alternates."""

    language: str
    """The catalogue's name, such as ``pt_BR``."""
    tag: str
    """Its BCP 47 tag, such as ``pt-BR``."""
    name: str
    """The language named in itself, such as ``Português (Brasil)``."""
    href: str
    """This page's path with its query, ``lang`` set to this language."""
    url: str
    """The same, absolute under ``PUBLIC_URL``."""
    current: bool
    """Whether the page is shown in this language."""


def _query_with(language: str | None) -> str:
    """This request's query string with ``lang`` set to ``language`` (removed when None)."""
    pairs = [(key, value) for key, value in request.args.items(multi=True) if key != "lang"]
    if language is not None:
        pairs.append(("lang", language))
    return f"?{urlencode(pairs)}" if pairs else ""


def _public(path_and_query: str) -> str:
    return str(current_app.config["PUBLIC_URL"]).rstrip("/") + path_and_query


def language_links() -> list[LanguageLink]:
    """This page in each of the hub's languages, in :data:`HUB_LANGUAGES` order; each link
    keeps the page's other query parameters (the country, the filters)."""
    if not has_request_context():
        return []
    current = page_locale()
    path = request.script_root + request.path
    return [
        LanguageLink(
            language=language,
            tag=language_tag(language),
            name=LANGUAGE_NAMES[language],
            href=path + _query_with(language),
            url=_public(request.path + _query_with(language)),
            current=language == current,
        )
        for language in HUB_LANGUAGES
    ]


def default_language_url() -> str:
    """This page without ``?lang=``, absolute: the ``x-default`` alternate, whose language
    follows the visitor's profile or browser."""
    return _public(request.path + _query_with(None)) if has_request_context() else ""


def init_app(app: Flask) -> None:
    """Set Flask-Babel up on ``app`` (``_`` and ``gettext`` in every template) and give
    templates ``page_language`` (the BCP 47 tag for ``<html lang>``), ``language_links()``,
    ``default_language_url()`` and ``language_unavailable()``."""
    babel.init_app(
        app,
        default_locale="en",
        default_translation_directories=str(TRANSLATIONS),
        locale_selector=page_locale,
    )
    app.add_template_global(language_links, "language_links")
    app.add_template_global(default_language_url, "default_language_url")
    app.add_template_global(language_unavailable, "language_unavailable")

    @app.context_processor
    def page_language() -> dict[str, str]:
        """``page_language``: the language of the page being rendered, as a BCP 47 tag."""
        return {"page_language": language_tag(page_locale())}
