"""Rate limits on the requests worth guessing at or costly to answer.

- signing in: per client address, and per account (the email typed in), so neither one
  address trying many accounts nor many addresses trying one account gets far;
- claim links (``/claim/<token>``): per client address, every method, since a GET already
  tells a guesser whether a token exists;
- invitation links (``/invitations/<token>``): the same, per client address;
- asking for a password reset link: per client address, and per account (the email typed
  in), since each request sends an email; the pages that reset links and email
  confirmation links open: per client address, every method, like claim links;
- asking to change one's email address, which emails the address typed: per user;
- allocation reports (preview, CSV, PDF, retrying a failed job): per signed-in user;
- giving a gift and sending a new claim link, each of which emails an address the giver
  typed: per giver, on submission;
- asking the help desk for help, which emails the address typed: per client address and
  per address typed, on submission; a help request's private link, every method, and
  answering or erasing a request through it: per client address.

Each application gets a limiter of its own, built by :func:`init_app` from its settings
(``RATE_LIMIT_*``), so two applications in one process never share counters or storage.
Counters live in memory, or in Redis when ``REDIS_URL`` is set (several workers or hosts
must share them). A request over a limit gets the 429 error page with a ``Retry-After``
header.

Limits are on unless ``RATE_LIMITS_ENABLED`` says otherwise; an application made with
``TESTING`` and no explicit ``RATE_LIMITS_ENABLED`` has them off, so the test suite's many
sign-ins do not trip them. Tests of the limits themselves turn them on.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import current_user

from grants.domain.accounts import EMAIL_MAX

EXTENSION_KEY = "grants.limiter"

REPORT_ENDPOINTS = (
    "finance.reports",
    "finance.report_csv_download",
    "finance.report_pdf_download",
    "finance.retry_report_job",
)
"""The report routes that make figures, a CSV or a PDF; they share one budget per user."""
CLAIM_EMAIL_ENDPOINTS = ("ambassador.give", "ambassador.resend")
"""The routes whose submission emails a claim link; they share one budget per giver."""


def limits_enabled(app: Flask) -> bool:
    """Whether ``app`` enforces rate limits: as configured, else on outside tests."""
    configured = app.config.get("RATE_LIMITS_ENABLED")
    if configured is None:
        return not app.testing
    return bool(configured)


def storage_uri(app: Flask) -> str:
    """Where ``app`` keeps its counters: Redis when ``REDIS_URL`` is set, else memory."""
    redis_url = app.config.get("REDIS_URL")
    return str(redis_url) if redis_url else "memory://"


def account_key() -> str:
    """The account a sign-in attempt names: the email as typed, trimmed and lower-cased."""
    email = request.form.get("email", "").strip().lower()[:EMAIL_MAX]
    return f"account:{email}"


def recipient_key() -> str:
    """The address a request for help asks the desk to write to, as typed (trimmed and
    lower-cased), so that one address is not sent confirmations from many addresses; the
    client address when none is typed."""
    email = request.form.get("email", "").strip().lower()[:EMAIL_MAX]
    return f"recipient:{email}" if email else f"address:{get_remote_address()}"


def user_key() -> str:
    """The signed-in user, or the client address for anyone else."""
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return f"address:{get_remote_address()}"


def setting(name: str) -> Callable[[], str]:
    """The limit named ``name`` in the current application's settings, read per request."""

    def limit() -> str:
        return str(current_app.config[name])

    return limit


def init_app(app: Flask) -> Limiter:
    """Build ``app``'s limiter and put the limits on its routes (registered before this)."""
    limiter = Limiter(
        key_func=get_remote_address,
        storage_uri=storage_uri(app),
        key_prefix=str(app.config["RATE_LIMIT_KEY_PREFIX"]),
        headers_enabled=True,
        strategy="fixed-window",
    )
    app.config["RATELIMIT_ENABLED"] = limits_enabled(app)
    limiter.init_app(app)
    app.extensions[EXTENSION_KEY] = limiter

    def wrap(endpoint: str, *decorators: Callable[[Callable[..., object]], object]) -> None:
        view = app.view_functions[endpoint]
        for decorate in decorators:
            view = decorate(view)  # type: ignore[assignment]
        app.view_functions[endpoint] = view

    wrap(
        "auth.login",
        limiter.limit(setting("RATE_LIMIT_LOGIN_ADDRESS"), methods=["POST"], scope="login-address"),
        limiter.limit(
            setting("RATE_LIMIT_LOGIN_ACCOUNT"),
            key_func=account_key,
            methods=["POST"],
            scope="login-account",
        ),
    )
    wrap("claim.claim", limiter.limit(setting("RATE_LIMIT_CLAIM"), scope="claim"))
    wrap(
        "invitations.accept",
        limiter.limit(setting("RATE_LIMIT_INVITATION"), scope="invitation"),
    )
    reports = limiter.shared_limit(
        setting("RATE_LIMIT_REPORTS"), scope="reports", key_func=user_key
    )
    for endpoint in REPORT_ENDPOINTS:
        wrap(endpoint, reports)
    claim_emails = limiter.shared_limit(
        setting("RATE_LIMIT_CLAIM_EMAILS"),
        scope="claim-emails",
        key_func=user_key,
        methods=["POST"],
    )
    for endpoint in CLAIM_EMAIL_ENDPOINTS:
        wrap(endpoint, claim_emails)
    _limit_account_routes(limiter, wrap)
    wrap(
        "care.ask",
        limiter.limit(setting("RATE_LIMIT_HELP_ASK"), methods=["POST"], scope="help-ask"),
        limiter.limit(
            setting("RATE_LIMIT_HELP_ASK"),
            key_func=recipient_key,
            methods=["POST"],
            scope="help-ask-recipient",
        ),
    )
    help_links = limiter.shared_limit(setting("RATE_LIMIT_HELP_LINKS"), scope="help-links")
    wrap("care.open_link", help_links)
    for endpoint in ("care.answer", "care.erase"):
        wrap(endpoint, limiter.limit(setting("RATE_LIMIT_HELP_LINKS"), scope="help-answers"))
    return limiter


def _limit_account_routes(limiter: Limiter, wrap: Callable[..., None]) -> None:
    """The limits on the account routes (:mod:`grants.web.account`)."""
    wrap(
        "account.forgot_password",
        limiter.limit(
            setting("RATE_LIMIT_PASSWORD_RESET_ADDRESS"),
            methods=["POST"],
            scope="password-reset-address",
        ),
        limiter.limit(
            setting("RATE_LIMIT_PASSWORD_RESET_ACCOUNT"),
            key_func=account_key,
            methods=["POST"],
            scope="password-reset-account",
        ),
    )
    links = limiter.shared_limit(setting("RATE_LIMIT_ACCOUNT_LINKS"), scope="account-links")
    for endpoint in ("account.reset_password", "account.confirm_email"):
        wrap(endpoint, links)
    wrap(
        "account.change_email",
        limiter.limit(
            setting("RATE_LIMIT_EMAIL_CHANGE"),
            key_func=user_key,
            methods=["POST"],
            scope="email-change",
        ),
    )


def limiter_of(app: Flask) -> Limiter:
    """The limiter :func:`init_app` built for ``app``."""
    limiter: Limiter = app.extensions[EXTENSION_KEY]
    return limiter
