"""What every response shares: navigation for templates and protective headers; what no
request may carry."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Flask, Response, abort, g, has_request_context, request
from flask_login import current_user

from grants import clock
from grants.database import READS_ONLY
from grants.domain.account_tokens import LOCALE_TIME_ZONES, LOCALES, time_zone_of
from grants.domain.dates import format_day, format_moment, local_day, zone_name
from grants.domain.money import DEFAULT_LOCALE, format_money
from grants.domain.privacy import suppress_small_count
from grants.extensions import db
from grants.web.main import navigation

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'; worker-src 'self'"
)
"""Everything from the app's own origin only: no inline script or style, no plugin, no
framing. ``worker-src 'self'`` names what ``default-src`` already allows, the hub's service
worker (``/help/sw.js``), so that a later tightening of ``default-src`` keeps it working."""


LOCALE_KEY = "grants.user_locale"
"""Where a request keeps its user's locale once looked up (in its WSGI environment, which
belongs to that request alone)."""


ZONE_KEY = "grants.user_time_zone"
"""Where a request keeps the time zone its times are shown in, once worked out."""


def user_locale() -> str:
    """The signed-in user's locale, in which amounts and dates are shown and read; for anyone
    else, the one of :data:`LOCALES` their browser prefers (en_US if none). Looked up once
    per request, since a page may show hundreds of amounts."""
    if not has_request_context():
        return getattr(current_user, "locale", None) or DEFAULT_LOCALE
    locale: str | None = request.environ.get(LOCALE_KEY)
    if locale is None:
        locale = getattr(current_user, "locale", None) or _browser_locale()
        request.environ[LOCALE_KEY] = locale
    return locale


def _browser_locale() -> str:
    """The locale of :data:`LOCALES` the request's ``Accept-Language`` prefers."""
    offered = [locale.replace("_", "-") for locale in LOCALES]
    best = request.accept_languages.best_match(offered)
    return best.replace("-", "_") if best else DEFAULT_LOCALE


def user_time_zone() -> str:
    """The time zone the request's times are shown in: the signed-in user's
    (:func:`~grants.domain.account_tokens.time_zone_of`); for anyone else, the one a view
    chose (:func:`show_times_in`), else their locale's. Worked out once per request, and
    only by a page that shows a time."""
    if not has_request_context():
        return LOCALE_TIME_ZONES[DEFAULT_LOCALE]
    zone: str | None = request.environ.get(ZONE_KEY)
    if zone is None:
        if current_user.is_authenticated:
            zone = time_zone_of(db.session(), current_user)
        else:
            zone = LOCALE_TIME_ZONES.get(user_locale(), LOCALE_TIME_ZONES[DEFAULT_LOCALE])
        request.environ[ZONE_KEY] = zone
    return zone


def local_today() -> date:
    """Today's date where the viewer is (:func:`user_time_zone`): the day their own actions
    are judged by."""
    return clock.today_in(user_time_zone())


def show_times_in(time_zone: str) -> None:
    """Show this request's times in ``time_zone``: a page with no signed-in viewer whose
    times belong to a place (a claim page, in the giver's fund's time zone)."""
    request.environ[ZONE_KEY] = time_zone


def day(value: date | datetime) -> str:
    """A day in the viewer's locale: ``27 Dec 2026`` (en_GB), ``Dec 27, 2026`` (en_US); a
    moment's day is its day in the viewer's time zone."""
    if isinstance(value, datetime):
        return local_day(value, user_time_zone(), user_locale())
    return format_day(value, user_locale())


def moment(value: datetime) -> str:
    """A moment in the viewer's locale and time zone, named: ``27 Dec 2026, 16:39 GMT``."""
    return format_moment(value, user_time_zone(), user_locale())


def money(minor: int, currency: str) -> str:
    """Format an amount in the request's locale (:func:`user_locale`)."""
    return format_money(minor, currency, user_locale())


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that change nothing: their database transactions only read."""


def init_app(app: Flask) -> None:
    """Register the context processor, the template filters, the header hook, and the hooks
    that let requests with a safe method read without the SQLite write lock."""
    app.add_template_filter(suppress_small_count, "people_count")
    app.add_template_filter(money, "money")
    app.add_template_filter(day, "day")
    app.add_template_filter(moment, "moment")
    app.add_template_filter(zone_name, "zone_name")
    app.add_template_global(user_time_zone, "viewer_time_zone")

    @app.before_request
    def reads_only_for_safe_methods() -> None:
        """Mark the request's database work as reads only when its method changes nothing."""
        g.reads_only_token = READS_ONLY.set(request.method in SAFE_METHODS)

    @app.teardown_request
    def end_reads_only(_: BaseException | None) -> None:
        """Clear the mark, so nothing after the request inherits it."""
        token = g.pop("reads_only_token", None)
        if token is not None:
            READS_ONLY.reset(token)

    @app.context_processor
    def inject_navigation() -> dict[str, Any]:
        """The signed-in user's navigation; none for anyone else, or for an email the worker
        renders with no request (and so no user) at hand."""
        if has_request_context() and current_user.is_authenticated:
            return {"navigation": navigation(current_user.roles)}
        return {"navigation": []}

    @app.before_request
    def refuse_nul_characters() -> None:
        """A NUL character belongs in no address or query parameter, and PostgreSQL cannot
        compare text holding one: such a request is refused (400) before any view. (Form
        fields are checked by their forms and operations, which say which field is wrong.)"""
        sent = request.args.items(multi=True)
        if "\x00" in request.path or any("\x00" in f"{name}{value}" for name, value in sent):
            abort(400)

    @app.after_request
    def protective_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if app.config["SECURE_COOKIES"]:
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        return response
