"""The languages the resource hub speaks, with Flask-Babel.

A page's language comes from ``?lang=`` first, then the signed-in person's profile, then
the browser's ``Accept-Language``, and is English when none of them names one the hub has.
The rest of the application is written in English; its dates and amounts follow the
person's locale (:mod:`grants.web.hooks`), which is a separate thing from the language.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, g, has_request_context, request
from flask_babel import Babel
from flask_login import current_user

from grants.domain.hub import HUB_LANGUAGES

TRANSLATIONS = Path(__file__).parent / "translations"
"""Where the compiled catalogues (``<language>/LC_MESSAGES/messages.mo``) are shipped."""

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
    if not getattr(current_user, "is_authenticated", False):
        return None
    language = str(getattr(current_user, "locale", "")).split("_")[0]
    return language if language in HUB_LANGUAGES else None


def _browser_language() -> str | None:
    offered = [lang.replace("_", "-") for lang in HUB_LANGUAGES]
    best = request.accept_languages.best_match(offered)
    return best.replace("-", "_") if best else None


def init_app(app: Flask) -> None:
    """Set Flask-Babel up on ``app``: ``_`` and ``gettext`` in every template."""
    babel.init_app(
        app,
        default_locale="en",
        default_translation_directories=str(TRANSLATIONS),
        locale_selector=chosen_language,
    )
