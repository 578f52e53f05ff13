"""The admins' list of messages not delivered: emails the worker gave up on after the last
attempt allowed, so that someone can reach those people another way.

Registered on the admin blueprint (:mod:`grants.web.admin_blueprint`); admins only.
"""

from __future__ import annotations

from flask import render_template, request
from flask.typing import ResponseReturnValue

from grants.domain import notifications, outbox
from grants.domain.account_tokens import (
    EMAIL_CHANGE,
    EMAIL_CHANGED,
    PASSWORD_CHANGED,
    PASSWORD_RESET,
)
from grants.domain.helpdesk import LINK_EMAIL, REPLY_EMAIL
from grants.domain.invitations import INVITATION_EMAIL
from grants.extensions import db
from grants.models import Role
from grants.web import roles_required
from grants.web.admin_blueprint import bp
from grants.web.listing import requested_page

WHAT: dict[str, str] = {
    outbox.CLAIM_LINK: "A gift's claim link",
    notifications.EMAIL: "A notification",
    INVITATION_EMAIL: "An invitation",
    PASSWORD_RESET: "A password reset link",
    PASSWORD_CHANGED: "A notice that the password changed",
    EMAIL_CHANGE: "A link to confirm a new email address",
    EMAIL_CHANGED: "A notice that the email address changed",
    LINK_EMAIL: "A help desk confirmation",
    REPLY_EMAIL: "A help desk answer",
}
"""What each kind of message is, as the list names it."""
CONFIDENTIAL = frozenset({LINK_EMAIL, REPLY_EMAIL})
"""Kinds whose recipient the list does not show: who asked the help desk for help is seen
only by the navigators who answer them (and the request's page tells them of a failed
email)."""


@bp.route("/messages")
@roles_required(Role.ADMIN)
def messages() -> ResponseReturnValue:
    """Messages not delivered, newest first."""
    page = outbox.undelivered(db.session(), page=requested_page(request))
    return render_template("admin/messages.html", page=page, what=WHAT, confidential=CONFIDENTIAL)
