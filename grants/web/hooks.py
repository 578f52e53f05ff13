"""What every response shares: navigation for templates and protective headers; what no
request may carry."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, abort, g, has_request_context, request
from flask_login import current_user

from grants.database import READS_ONLY
from grants.domain.money import DEFAULT_LOCALE, format_money
from grants.domain.privacy import suppress_small_count
from grants.web.main import navigation

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


LOCALE_KEY = "grants.user_locale"
"""Where a request keeps its user's locale once looked up (in its WSGI environment, which
belongs to that request alone)."""


def user_locale() -> str:
    """The signed-in user's locale, in which amounts are shown and read (en_US for anyone
    else); looked up once per request, since a page may show hundreds of amounts."""
    if not has_request_context():
        return getattr(current_user, "locale", None) or DEFAULT_LOCALE
    locale: str | None = request.environ.get(LOCALE_KEY)
    if locale is None:
        locale = getattr(current_user, "locale", None) or DEFAULT_LOCALE
        request.environ[LOCALE_KEY] = locale
    return locale


def money(minor: int, currency: str) -> str:
    """Format an amount in the signed-in user's locale (en_US for anyone else)."""
    return format_money(minor, currency, user_locale())


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that change nothing: their database transactions only read."""


def init_app(app: Flask) -> None:
    """Register the context processor, the template filters, the header hook, and the hooks
    that let requests with a safe method read without the SQLite write lock."""
    app.add_template_filter(suppress_small_count, "people_count")
    app.add_template_filter(money, "money")

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
