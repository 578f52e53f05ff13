"""Heart & Soul Funding: grants to partner nonprofits and therapy credit for ambassadors."""

from __future__ import annotations

import gc
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from jinja2 import FileSystemBytecodeCache

from grants import config as settings
from grants.database import configure_sqlite, normalise_database_url
from grants.extensions import csrf, db, login_manager, migrate

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application.

    Configuration is layered: :class:`grants.config.Defaults`, then ``instance/config.py``,
    then ``GRANTS_*`` environment variables, then ``config``. ``INSTANCE_PATH`` (in
    ``config`` or as ``GRANTS_INSTANCE_PATH``) moves the instance folder.
    """
    overrides = dict(config or {})
    instance_path = overrides.pop("INSTANCE_PATH", None) or os.environ.get("GRANTS_INSTANCE_PATH")
    app = Flask(
        __name__,
        instance_path=str(Path(instance_path).resolve()) if instance_path else None,
        instance_relative_config=True,
        template_folder=str(PROJECT_ROOT / "templates"),
    )
    app.config.from_object(settings.Defaults)
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(settings.settings_from_environment(os.environ))
    app.config.update(overrides)
    _derive_settings(app)

    from grants.web import hosts

    hosts.init_app(app)
    _cache_compiled_templates(app)
    _init_extensions(app)
    _register_blueprints(app)

    from grants import cli, i18n, tasks
    from grants.web import errors, hooks, limits

    errors.init_app(app)
    hooks.init_app(app)
    i18n.init_app(app)
    limits.init_app(app)
    cli.init_app(app)
    tasks.init_app(app)
    if not app.testing:
        _settle_start_up_objects()
    return app


def _settle_start_up_objects() -> None:
    """Move what starting up made (modules, mappers, the app itself: a few hundred thousand
    objects that live as long as the process) out of the garbage collector's sight.

    Otherwise every full collection walks all of them again: on a page that builds many
    rows, such as a round's scoring sheet of 500 applications, one request in fifteen paid
    about 130 ms for it (``bench/rounds_bench.py``). Tests make an application per test, and
    keep collecting as usual."""
    gc.collect()
    gc.freeze()


def _derive_settings(app: Flask) -> None:
    """Fill in the settings that follow from others once every layer has been applied."""
    instance_path = Path(app.instance_path)
    database_url = app.config["DATABASE_URL"] or settings.sqlite_url(instance_path)
    app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(database_url)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = settings.engine_options(
        app.config["SQLALCHEMY_DATABASE_URI"], app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    )
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        instance_path.mkdir(parents=True, exist_ok=True)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = settings.load_or_create_secret_key(instance_path)
    app.config["REPORT_CACHE_MAX_AGE_HOURS"] = settings.report_cache_max_age_hours(
        app.config["REPORT_CACHE_MAX_AGE_HOURS"]
    )
    secure = bool(app.config["SECURE_COOKIES"])
    app.config["SESSION_COOKIE_SECURE"] = secure
    app.config["REMEMBER_COOKIE_SECURE"] = secure
    app.config["PUBLIC_URL"] = settings.public_url(app.config["PUBLIC_URL"], secure_cookies=secure)
    if app.config["TRUSTED_HOSTS"] is None:
        app.config["TRUSTED_HOSTS"] = settings.trusted_hosts(app.config["PUBLIC_URL"])


def _cache_compiled_templates(app: Flask) -> None:
    """Keep templates compiled to Python bytecode under ``instance/jinja/``, so that a new
    worker process loads them instead of compiling every template again. Jinja names each
    cached file by the template and a checksum of its source: a changed template is compiled
    afresh, never served stale. A folder this process cannot write to (made by another
    user) leaves templates compiled in memory only, as without the cache."""
    folder = Path(app.instance_path) / "jinja"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    if os.access(folder, os.W_OK | os.X_OK):
        app.jinja_env.bytecode_cache = FileSystemBytecodeCache(str(folder))


def _init_extensions(app: Flask) -> None:
    from grants import mail, security

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to see that page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    security.init_app(app)
    mail.init_app(app)

    from grants.web.auth import load_session_user

    login_manager.user_loader(load_session_user)

    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine, busy_timeout_ms=app.config["SQLITE_BUSY_TIMEOUT_MS"])


def _register_blueprints(app: Flask) -> None:
    from grants.web import (
        account,
        admin,
        ambassador,
        auth,
        documents,
        finance,
        invitations,
        main,
        manager,
        notifications,
        partner,
    )
    from grants.web.helpdesk import care, desk, oversight  # noqa: F401  (admin and manager views)
    from grants.web.hub import country_pdf, curation, hsds, offline, public

    for blueprint in (
        main.bp,
        auth.bp,
        account.bp,
        admin.bp,
        manager.bp,
        finance.bp,
        ambassador.bp,
        ambassador.claim_bp,
        invitations.bp,
        notifications.bp,
        curation.bp,
        hsds.bp,
        country_pdf.bp,
        offline.bp,
        public.bp,
        care.bp,
        desk.bp,
        documents.bp,
        partner.bp,
    ):
        app.register_blueprint(blueprint)
