"""The "get support now" panel on the wallet and claim pages and on their error pages.

It lives beside the blueprints rather than in one of them: the ambassador screens show it, and
so does the application-wide error handler (:mod:`grants.web.errors`).
"""

from __future__ import annotations

import logging

from flask import request
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from grants.domain.support import SupportPanel, panel_for_country, panel_for_user
from grants.extensions import db
from grants.models import Country

PANEL_BLUEPRINTS = frozenset({"ambassador", "claim"})
"""The flows whose error pages carry the panel too."""

logger = logging.getLogger(__name__)


def current_panel(country: Country | None = None) -> SupportPanel:
    """The panel for whoever is signed in (every country's lines for anyone else); a page
    that has already read the person's ``country`` passes it, and it is not read again."""
    if country is not None:
        return panel_for_country(db.session(), country)
    user = current_user if current_user.is_authenticated else None
    return panel_for_user(db.session(), user)


def error_panel() -> SupportPanel | None:
    """The panel for an error page of the wallet or claim flows; ``None`` elsewhere.

    An error page must always render: if the database cannot be read (the error may be
    the database's own), the page goes without the panel and the failure is logged.
    """
    if request.blueprint not in PANEL_BLUEPRINTS:
        return None
    try:
        return current_panel()
    except SQLAlchemyError:
        db.session.rollback()
        logger.exception("The support panel could not be read for an error page")
        return None
