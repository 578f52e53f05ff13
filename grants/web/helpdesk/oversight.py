"""The help desk as admins run it and managers see it, on their own blueprints.

- ``/admin/helpdesk``: which partner answers which country and language, each partner's
  working week (which sets when a request is 2 working days old), which partner each
  navigator works for; and ``/admin/helpdesk/requests``, the open requests without their
  content, to re-route one. Admins only; nothing here shows what a request says or who made
  it.
- ``/manager/helpdesk``: the desk in figures (counts under 5 suppressed), for managers and
  admins.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select
from wtforms import SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import CheckboxInput, ListWidget

from grants import clock
from grants.domain import helpdesk_admin, helpdesk_figures
from grants.domain.checks import MANAGERS
from grants.domain.errors import DomainError, NotFound
from grants.domain.hub import HUB_LANGUAGES
from grants.domain.hub_directory import country_label
from grants.extensions import db
from grants.models import Outcome, Partner, Role, User, UserRole
from grants.models.helpdesk import ANY
from grants.web import roles_required
from grants.web.actions import ActionForm, accepted, attempt
from grants.web.admin_blueprint import bp as admin_bp
from grants.web.hub.public import TOPICS
from grants.web.listing import requested_page
from grants.web.manager.blueprint import bp as manager_bp

DAYS = [SelectChoice(str(number), name) for number, name in enumerate(calendar.day_abbr, start=1)]
"""The ISO weekdays a help desk may work, Monday (1) to Sunday (7)."""


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class RouteForm(ActionForm):
    country = StringField("Country (two letters, or * for every country)", default=ANY)
    language = SelectField(
        "Language",
        choices=[SelectChoice(ANY, "Any language"), *[SelectChoice(c, c) for c in HUB_LANGUAGES]],
    )
    partner_id = SelectField("Partner whose navigators answer", choices=[])


class WeekForm(ActionForm):
    time_zone = StringField("Time zone (IANA name; empty: the partner's country's)")
    working_days = CheckboxesField("Working days", choices=DAYS)


class NavigatorForm(ActionForm):
    partner_id = SelectField("Works for", choices=[])


class RerouteForm(ActionForm):
    partner_id = SelectField("Send to", choices=[])


def _partner_choices(empty: str | None = None) -> list[SelectChoice]:
    partners = db.session.execute(
        select(Partner.id, Partner.display_name)
        .where(Partner.active)
        .order_by(Partner.display_name)
    ).all()
    found = [SelectChoice(str(row.id), row.display_name) for row in partners]
    return [SelectChoice("", empty), *found] if empty is not None else found


def _flash(outcome: object, done: str) -> None:
    if isinstance(outcome, DomainError):
        flash(outcome.message, "error")
    else:
        flash(done, "success")


@admin_bp.route("/helpdesk")
@roles_required(Role.ADMIN)
def helpdesk() -> ResponseReturnValue:
    """Routes, working weeks and navigators."""
    route_form = RouteForm()
    route_form.partner_id.choices = _partner_choices()
    partners = list(db.session.scalars(select(Partner).order_by(Partner.display_name)))
    navigators = list(
        db.session.scalars(
            select(User)
            .join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role == Role.NAVIGATOR)
            .order_by(User.display_name, User.id)
        )
    )
    names = {partner.id: partner.display_name for partner in partners}
    staffed = {
        navigator.partner_id
        for navigator in navigators
        if navigator.active and navigator.partner_id
    }
    routes_now = helpdesk_admin.routes(db.session())
    return render_template(
        "helpdesk/admin.html",
        routes=routes_now,
        route_form=route_form,
        partners=partners,
        week_form=WeekForm(),
        navigators=navigators,
        partner_names=names,
        unstaffed=sorted(
            {route.partner for route in routes_now if route.partner_id not in staffed}
        ),
        navigator_form=NavigatorForm(),
        partner_choices=_partner_choices(),
        DAYS=DAYS,
        any_route=ANY,
    )


def _back() -> ResponseReturnValue:
    return redirect(url_for("admin.helpdesk"))


@admin_bp.route("/helpdesk/routes", methods=["POST"])
@roles_required(Role.ADMIN)
def set_route() -> ResponseReturnValue:
    """Add a route, or change the partner of an existing one."""
    form = RouteForm()
    form.partner_id.choices = _partner_choices()
    if not accepted(form):
        flash("Choose a language and an active partner.", "error")
        return _back()
    outcome = attempt(
        lambda: helpdesk_admin.set_route(
            db.session(),
            actor=current_user,
            country=form.country.data or "",
            language=form.language.data or "",
            partner_id=int(form.partner_id.data or 0),
        )
    )
    _flash(outcome, "The route is saved.")
    return _back()


@admin_bp.route("/helpdesk/routes/<int:route_id>/remove", methods=["POST"])
@roles_required(Role.ADMIN)
def remove_route(route_id: int) -> ResponseReturnValue:
    """Remove a route."""
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    outcome = attempt(
        lambda: helpdesk_admin.remove_route(db.session(), actor=current_user, route_id=route_id)
    )
    if isinstance(outcome, NotFound):
        flash("That route is not there any more.", "success")
        return _back()
    _flash(outcome, "The route is removed.")
    return _back()


@admin_bp.route("/helpdesk/partners/<int:partner_id>/week", methods=["POST"])
@roles_required(Role.ADMIN)
def set_week(partner_id: int) -> ResponseReturnValue:
    """Set a partner's help-desk time zone and working days."""
    if db.session.get(Partner, partner_id) is None:
        abort(404)
    form = WeekForm()
    if not accepted(form):
        flash("Choose at least one working day from the list.", "error")
        return _back()
    outcome = attempt(
        lambda: helpdesk_admin.set_desk_week(
            db.session(),
            actor=current_user,
            partner_id=partner_id,
            time_zone=form.time_zone.data or "",
            working_days="".join(form.working_days.data or []),
        )
    )
    _flash(outcome, "The working week is saved.")
    return _back()


@admin_bp.route("/helpdesk/navigators/<int:user_id>", methods=["POST"])
@roles_required(Role.ADMIN)
def set_navigator(user_id: int) -> ResponseReturnValue:
    """Say which partner a navigator works for."""
    if db.session.get(User, user_id) is None:
        abort(404)
    form = NavigatorForm()
    form.partner_id.choices = _partner_choices(empty="No partner")
    if not accepted(form):
        flash("Choose an active partner.", "error")
        return _back()
    chosen = form.partner_id.data
    outcome = attempt(
        lambda: helpdesk_admin.set_navigator_partner(
            db.session(),
            actor=current_user,
            user_id=user_id,
            partner_id=int(chosen) if chosen else None,
        )
    )
    _flash(outcome, "The navigator's partner is saved.")
    return _back()


@admin_bp.route("/helpdesk/requests")
@roles_required(Role.ADMIN)
def helpdesk_requests() -> ResponseReturnValue:
    """The open requests, without their content, to re-route one."""
    return render_template(
        "helpdesk/admin_requests.html",
        page=helpdesk_admin.requests_to_route(db.session(), page=requested_page(request)),
        form=RerouteForm(),
        partner_choices=_partner_choices(),
    )


@admin_bp.route("/helpdesk/requests/<reference>/reroute", methods=["POST"])
@roles_required(Role.ADMIN)
def reroute(reference: str) -> ResponseReturnValue:
    """Send a request to another partner's desk."""
    form = RerouteForm()
    form.partner_id.choices = _partner_choices()
    if not accepted(form):
        flash("Choose an active partner.", "error")
        return redirect(url_for("admin.helpdesk_requests"))
    outcome = attempt(
        lambda: helpdesk_admin.reroute(
            db.session(),
            actor=current_user,
            reference=reference,
            partner_id=int(form.partner_id.data or 0),
            now=clock.now(),
        )
    )
    if isinstance(outcome, DomainError) and outcome.message == "There is no such request.":
        abort(404)
    _flash(outcome, f"Request {reference} was sent to the partner's desk.")
    return redirect(url_for("admin.helpdesk_requests"))


@manager_bp.route("/helpdesk")
@roles_required(*MANAGERS)
def helpdesk_figures_page() -> ResponseReturnValue:
    """The help desk in figures: counts and times only."""
    year = request.args.get("year", "")
    since = until = None
    if len(year) == 4 and year.isascii() and year.isdigit() and 2000 <= int(year) <= 2999:
        since = datetime(int(year), 1, 1, tzinfo=UTC)
        until = datetime(int(year) + 1, 1, 1, tzinfo=UTC)
    figures = helpdesk_figures.desk_figures(db.session(), since=since, until=until)
    return render_template(
        "helpdesk/figures.html",
        figures=figures,
        year=year if since else "",
        duration=helpdesk_figures.duration,
        labels={
            **{code: country_label(code, "en") for code, _count in figures.by_country},
            **{key: str(label) for key, label in TOPICS.items()},
            **{outcome.value: outcome.label for outcome in Outcome},
            "open": "Still open",
        },
    )
