"""The admin's view of the audit trail: every change, filtered by who made it, what it was
made to, what it was and when, with whether the whole chain currently verifies.

The chain is verified as ``flask grants audit verify`` verifies it, event by event, each time
the page is opened while the log is small enough to do so quickly
(``AUDIT_VERIFY_ON_VIEW_MAX`` events); beyond that the admin asks for it with a button. The
page always says when it was checked, how many events and how long it took.

Registered on the admin blueprint (:mod:`grants.web.admin_blueprint`); for admins only.
"""

from __future__ import annotations

from flask import current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import DateField, StringField
from wtforms.validators import Length, Optional

from grants import clock
from grants.domain import audit_log
from grants.domain.audit_log import AuditFilter
from grants.extensions import db
from grants.models import Role
from grants.web import roles_required
from grants.web.admin_blueprint import bp
from grants.web.hooks import user_locale, user_time_zone
from grants.web.listing import requested_page, whole_number

EVENTS_PER_PAGE = 50


class AuditFilterForm(FlaskForm):
    """The filters of the audit-log view, sent as a GET query."""

    class Meta:
        csrf = False

    actor = StringField("Who (email, or “system”)", validators=[Optional(), Length(max=254)])
    object_type = StringField("Object type", validators=[Optional(), Length(max=40)])
    object_id = StringField("Object number", validators=[Optional(), Length(max=9)])
    action = StringField("Action", validators=[Optional(), Length(max=60)])
    since = DateField("From", validators=[Optional()])
    until = DateField("To", validators=[Optional()])


@bp.route("/audit")
@roles_required(Role.ADMIN)
def audit() -> ResponseReturnValue:
    """The audit log, newest first, filtered; and whether the chain verifies."""
    form = AuditFilterForm(request.args)
    valid = form.validate()
    object_id = whole_number(form.object_id.data or "")
    if form.object_id.data and object_id is None:
        form.object_id.errors = [*form.object_id.errors, "Enter a number, such as 12."]
        valid = False
    if valid and form.since.data and form.until.data and form.since.data > form.until.data:
        form.until.errors = [*form.until.errors, "The end is before the start."]
        valid = False
    wanted = (
        AuditFilter(
            actor_email=form.actor.data or "",
            object_type=form.object_type.data or "",
            object_id=object_id,
            action=form.action.data or "",
            since=form.since.data,
            until=form.until.data,
            time_zone=user_time_zone(),
            locale=user_locale(),
        )
        if valid
        else AuditFilter(time_zone=user_time_zone(), locale=user_locale())
    )
    session = db.session()
    events = audit_log.find_events(
        session, wanted, page=requested_page(request), per_page=EVENTS_PER_PAGE
    )
    count = audit_log.event_count(session)
    automatic = count <= int(current_app.config["AUDIT_VERIFY_ON_VIEW_MAX"])
    check = (
        audit_log.check_chain(session, now=clock.now())
        if automatic or request.args.get("verify") == "1"
        else None
    )
    status = 200 if valid else 422
    return render_template(
        "admin/audit.html",
        form=form,
        events=events,
        check=check,
        count=count,
        filtered=wanted != AuditFilter(time_zone=wanted.time_zone),
    ), status
