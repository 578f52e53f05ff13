"""Configuration defaults and the layering that overrides them.

The layers, each overriding the one before:

1. the defaults in :class:`Defaults`;
2. ``instance/config.py``, if the deployment has one;
3. ``GRANTS_*`` environment variables (see :data:`ENVIRONMENT_SETTINGS`);
4. the mapping passed to :func:`grants.create_app`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name, not a secret
"""Name of the file in the instance folder that holds a generated secret key."""


DEFAULT_PUBLIC_URL = "http://127.0.0.1:5000"
"""The embedded default's public address: where ``flask run`` serves the app."""

LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
"""Names a loopback public address is also served under. IPv6's ``[::1]`` is not among them:
Werkzeug 3.1 compares a trusted host with the part of the Host header before its first
colon, so no bracketed IPv6 address can ever match."""


class Defaults:
    """Settings that hold unless a later layer overrides them."""

    DATABASE_URL: str | None = None
    """SQLAlchemy URL; ``None`` means the SQLite file ``grants.sqlite3`` in the instance folder."""

    SECRET_KEY: str | None = None
    """``None`` means a key generated once into the instance folder."""

    REDIS_URL: str | None = None
    SECURE_COOKIES = False
    SQLITE_BUSY_TIMEOUT_MS = 5000

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = timedelta(hours=8)

    WTF_CSRF_TIME_LIMIT = int(timedelta(hours=8).total_seconds())

    MAX_CONTENT_LENGTH = 1024 * 1024
    """Largest request body accepted, in bytes; anything larger is answered with 413."""
    UPLOAD_MAX_BYTES = 20 * 1024 * 1024
    """Largest document a partner may upload, in bytes. A request that uploads one may carry
    this much and 64 KiB for the rest of its form; every other request stays within
    ``MAX_CONTENT_LENGTH``."""
    DATA_KEY: str | None = None
    """Fernet keys for secrets at rest (bank details), comma-separated, newest first; ``None``
    means ``data.key`` in the instance folder, made on first use (one host only: several
    hosts must share keys through ``GRANTS_DATA_KEY``)."""

    ARGON2_TIME_COST = 3
    ARGON2_MEMORY_COST_KIB = 64 * 1024
    ARGON2_PARALLELISM = 4

    PASSWORD_MIN_LENGTH = 12

    PUBLIC_URL: str | None = None
    """Scheme and host that links in emails start with, such as ``https://funding.example.org``;
    ``None`` means :data:`DEFAULT_PUBLIC_URL`, which a deployment with ``SECURE_COOKIES`` on
    refuses. Only its host is served: a request for any other is refused with 400."""

    MAIL_SERVER: str | None = None
    """SMTP host; ``None`` (the embedded default) writes emails as files in ``instance/outbox/``."""
    MAIL_PORT = 587
    MAIL_USERNAME: str | None = None
    MAIL_PASSWORD: str | None = None
    MAIL_USE_TLS = True
    MAIL_DEFAULT_SENDER = "Heart & Soul Funding <no-reply@heartandsoul.example>"
    MAIL_TIMEOUT = 10
    """Seconds to wait for the SMTP server before giving up on an email."""
    OUTBOX_LEASE_SECONDS = 300
    """How long a worker may take to deliver one outbox message before another worker may take
    it over (after a crash, say); longer than any send can take."""
    OUTBOX_RETRY_SECONDS = 60
    """The wait before the first retry of a message that could not be sent; each further
    retry waits twice as long, an hour at most."""
    OUTBOX_MAX_ATTEMPTS = 8
    """Deliveries tried before a message is given up on (and the failure logged)."""

    TYPICAL_SESSION_PRICE: ClassVar[dict[str, int]] = {"USD": 15000, "GBP": 8000}
    """Minor units per currency; wallets show "≈ N sessions" at this price (empty: not shown)."""

    REPORT_BACKGROUND_ROWS = 400
    """A report with more table rows than this is made by the worker, with a progress page."""
    REPORT_CACHE_MAX_AGE_HOURS = 24
    """How long a made report, and the record of a finished report job, is kept: the worker
    deletes older ones every hour (in Redis they expire). A whole number of hours, at least 1."""
    HUEY_FILE: str | None = None
    """The background jobs' SQLite queue; ``None`` means ``huey.sqlite3`` in the instance
    folder. With ``REDIS_URL`` set, jobs queue in Redis instead."""
    SWEEP_EVERY_MINUTES = 1
    """How often the worker expires gifts past their deadline."""

    HUB_PAGE_CACHE_BYTES = 16 * 1024 * 1024
    """Bytes of rendered public hub pages each process keeps for visitors who are not signed
    in (see :mod:`grants.web.hub.page_cache`); 0 keeps none."""

    AUDIT_VERIFY_ON_VIEW_MAX = 20_000
    """The admin's audit-log view verifies the whole chain each time it is opened while the
    chain holds at most this many events (about a second's work; 100,000 took 5 seconds on
    SQLite); beyond that, when the admin asks."""

    RATE_LIMITS_ENABLED: bool | None = None
    """Whether rate limits are enforced; ``None`` means yes, except in an application made
    with ``TESTING`` (the test suite), where a test that checks them turns them on."""
    RATE_LIMIT_LOGIN_ADDRESS = "10 per minute;60 per hour"
    """Sign-in attempts per client address."""
    RATE_LIMIT_LOGIN_ACCOUNT = "5 per minute;30 per hour"
    """Sign-in attempts per account (the email typed in), from any address."""
    RATE_LIMIT_CLAIM = "20 per minute;100 per hour"
    """Requests for claim links (``/claim/<token>``) per client address."""
    RATE_LIMIT_INVITATION = "20 per minute;100 per hour"
    """Requests for invitation links (``/invitations/<token>``) per client address."""
    RATE_LIMIT_REPORTS = "30 per minute;300 per hour"
    """Allocation report previews, CSVs and PDFs per finance user."""
    RATE_LIMIT_CLAIM_EMAILS = "10 per hour;30 per day"
    """Gifts given and new claim links sent per giver: each emails an address the giver
    typed, so the site cannot be made to send mail without end."""
    RATE_LIMIT_PASSWORD_RESET_ADDRESS = "5 per minute;20 per hour"  # noqa: S105 - a limit
    """Password reset links asked for per client address."""
    RATE_LIMIT_PASSWORD_RESET_ACCOUNT = "3 per hour;10 per day"  # noqa: S105 - a limit
    """Password reset links asked for per account (the email typed in), from any address:
    each sends an email, whether or not an account has the address."""
    RATE_LIMIT_ACCOUNT_LINKS = "20 per minute;100 per hour"
    """Requests for password reset and email confirmation links per client address."""
    RATE_LIMIT_EMAIL_CHANGE = "5 per hour;20 per day"
    """Email changes asked for per user: each emails the address the user typed."""
    RATE_LIMIT_HELP_ASK = "5 per hour;20 per day"
    """Requests for help one address may send (each emails the address typed)."""
    RATE_LIMIT_HELP_LINKS = "20 per minute;100 per hour"
    """Tries of a help request's private link, and answers through it, per address."""
    HELPDESK_RETENTION_DAYS = 90
    """Days a closed help request's personal data is kept before the worker erases it."""
    HELPDESK_MIN_FILL_SECONDS = 3
    """A request for help sent sooner than this after its form was shown is taken for a bot's."""
    RATE_LIMIT_KEY_PREFIX = "grants-limits"
    """Start of every rate-limit counter's key in the storage (Redis may be shared)."""

    SQLALCHEMY_TRACK_MODIFICATIONS = False
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict[str, Any]] = {}
    """Engine options; a database over the network also gets ``pool_pre_ping`` (see
    :func:`engine_options`)."""


def engine_options(database_url: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with a connection test on checkout for a database server, which may have
    closed a pooled connection; an SQLite file has no server to lose, so it is not tested
    (the test would cost a statement on every request)."""
    if database_url.startswith("sqlite"):
        return dict(options)
    return {"pool_pre_ping": True, **options}


def parse_bool(value: str) -> bool:
    """Read a boolean from an environment variable, refusing anything ambiguous."""
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected a boolean (true/false, 1/0, yes/no, on/off), got {value!r}")


def parse_prices(value: str) -> dict[str, int]:
    """Read ``USD=15000,GBP=8000`` (minor units per currency); an empty value means none."""
    prices: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        currency, separator, amount = item.partition("=")
        if not separator or len(currency.strip()) != 3 or not amount.strip().isdigit():
            raise ValueError(f"expected CURRENCY=minor units, such as USD=15000, got {item!r}")
        prices[currency.strip().upper()] = int(amount)
    return prices


ENVIRONMENT_SETTINGS: dict[str, Callable[[str], Any]] = {
    "DATABASE_URL": str,
    "SECRET_KEY": str,
    "REDIS_URL": str,
    "SECURE_COOKIES": parse_bool,
    "MAX_CONTENT_LENGTH": int,
    "UPLOAD_MAX_BYTES": int,
    "DATA_KEY": str,
    "SQLITE_BUSY_TIMEOUT_MS": int,
    "ARGON2_TIME_COST": int,
    "ARGON2_MEMORY_COST_KIB": int,
    "ARGON2_PARALLELISM": int,
    "PUBLIC_URL": str,
    "MAIL_SERVER": str,
    "MAIL_PORT": int,
    "MAIL_USERNAME": str,
    "MAIL_PASSWORD": str,
    "MAIL_USE_TLS": parse_bool,
    "MAIL_DEFAULT_SENDER": str,
    "MAIL_TIMEOUT": int,
    "OUTBOX_LEASE_SECONDS": int,
    "OUTBOX_RETRY_SECONDS": int,
    "OUTBOX_MAX_ATTEMPTS": int,
    "TYPICAL_SESSION_PRICE": parse_prices,
    "REPORT_BACKGROUND_ROWS": int,
    "REPORT_CACHE_MAX_AGE_HOURS": int,
    "SWEEP_EVERY_MINUTES": int,
    "RATE_LIMITS_ENABLED": parse_bool,
    "RATE_LIMIT_LOGIN_ADDRESS": str,
    "RATE_LIMIT_LOGIN_ACCOUNT": str,
    "RATE_LIMIT_CLAIM": str,
    "RATE_LIMIT_INVITATION": str,
    "AUDIT_VERIFY_ON_VIEW_MAX": int,
    "HUB_PAGE_CACHE_BYTES": int,
    "RATE_LIMIT_REPORTS": str,
    "RATE_LIMIT_CLAIM_EMAILS": str,
    "RATE_LIMIT_PASSWORD_RESET_ADDRESS": str,
    "RATE_LIMIT_PASSWORD_RESET_ACCOUNT": str,
    "RATE_LIMIT_ACCOUNT_LINKS": str,
    "RATE_LIMIT_EMAIL_CHANGE": str,
    "RATE_LIMIT_KEY_PREFIX": str,
    "RATE_LIMIT_HELP_ASK": str,
    "RATE_LIMIT_HELP_LINKS": str,
    "HELPDESK_RETENTION_DAYS": int,
    "HELPDESK_MIN_FILL_SECONDS": int,
}
"""Settings read from ``GRANTS_<NAME>`` environment variables, with the parser for each."""


def settings_from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """Return the settings given by ``GRANTS_*`` variables in ``environ``.

    Raises :class:`ValueError` naming the variable when a value cannot be parsed, so a
    misconfigured deployment stops at start-up instead of running on a guess.
    """
    settings: dict[str, Any] = {}
    for name, parse in ENVIRONMENT_SETTINGS.items():
        variable = f"GRANTS_{name}"
        if variable in environ:
            try:
                settings[name] = parse(environ[variable])
            except ValueError as error:
                raise ValueError(f"{variable}: {error}") from error
    return settings


def report_cache_max_age_hours(value: Any) -> int:
    """``REPORT_CACHE_MAX_AGE_HOURS`` as a whole number of hours, from whichever layer set it.

    Raises :class:`ValueError` unless it is a whole number of at least one hour."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            "REPORT_CACHE_MAX_AGE_HOURS: expected a whole number of hours, at least 1, "
            f"got {value!r}"
        )
    return value


def public_url(value: str | None, *, secure_cookies: bool) -> str:
    """The public address links in emails start with: ``value`` without a trailing slash, or
    :data:`DEFAULT_PUBLIC_URL` when none is configured.

    Raises :class:`RuntimeError` when secure cookies are on (a deployment behind HTTPS) and no
    address is configured, and :class:`ValueError` when ``value`` is not an ``http`` or
    ``https`` address of a named host or IPv4 address with nothing after the host and port,
    or is ``http`` while secure cookies are on.
    """
    if not value:
        if secure_cookies:
            raise RuntimeError(
                "GRANTS_PUBLIC_URL must be set when GRANTS_SECURE_COOKIES is on: it is the "
                "address links in emails start with, such as https://funding.example.org"
            )
        return DEFAULT_PUBLIC_URL
    address = value.strip().rstrip("/")
    parts = urlsplit(address)
    try:
        parts.port  # noqa: B018 - reading it validates it
    except ValueError as error:
        raise ValueError(f"GRANTS_PUBLIC_URL: {error}, in {value!r}") from error
    if (
        parts.scheme not in {"http", "https"}
        or not parts.hostname
        or ":" in parts.hostname
        or parts.username is not None
        or parts.path
        or parts.query
        or parts.fragment
        or "?" in address
        or "#" in address
    ):
        raise ValueError(
            "GRANTS_PUBLIC_URL: expected a scheme and a host name or IPv4 address, such as "
            f"https://funding.example.org or http://127.0.0.1:5000, got {value!r}"
        )
    if secure_cookies and parts.scheme != "https":
        raise ValueError(
            "GRANTS_PUBLIC_URL must start with https:// when GRANTS_SECURE_COOKIES is on: "
            f"links in emails would otherwise lead to plain http, got {value!r}"
        )
    return address


def trusted_hosts(address: str) -> list[str]:
    """The hosts requests may name: the public address's, with the loopback names when it is
    itself on loopback (the embedded default and local runs)."""
    host = urlsplit(address).hostname or ""
    if host in LOOPBACK_HOSTS:
        return [host, *(name for name in LOOPBACK_HOSTS if name != host)]
    return [host]


def load_or_create_secret_key(instance_path: Path) -> str:
    """Return the secret key kept in the instance folder, generating it on first use.

    The key is written to a private temporary file and then hard-linked into place, which
    fails if the file already exists: two processes starting at once agree on one key and
    neither ever reads a half-written file.
    """
    key_file = instance_path / SECRET_KEY_FILE
    instance_path.mkdir(parents=True, exist_ok=True)
    if not key_file.exists():
        descriptor, temporary = tempfile.mkstemp(dir=instance_path, prefix=".secret_key.")
        try:
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(secrets.token_hex(32) + "\n")
            with contextlib.suppress(FileExistsError):
                os.link(temporary, key_file)
        finally:
            os.unlink(temporary)
    key = key_file.read_text(encoding="ascii").strip()
    if not key:
        raise RuntimeError(f"{key_file} is empty; delete it to generate a new key")
    return key


def sqlite_url(instance_path: Path) -> str:
    """The embedded default database: a SQLite file in the instance folder."""
    return f"sqlite:///{instance_path / 'grants.sqlite3'}"
