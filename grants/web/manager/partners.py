"""Partner nonprofits: list with search, filters, sorting and pages; add, edit, deactivate."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import func, or_, select
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from grants import clock
from grants.domain import invitations
from grants.domain.checks import MANAGERS
from grants.domain.errors import DomainError
from grants.domain.paging import paginate
from grants.domain.partners import (
    PartnerDetails,
    create_partner,
    set_partner_active,
    update_partner,
)
from grants.domain.user_admin import statuses
from grants.extensions import db
from grants.models import Country, Grant, Partner, Role, User, UserRole
from grants.web import roles_required
from grants.web.actions import ActionForm, confirm, submit
from grants.web.listing import like_pattern, order_by, requested_page, requested_sort
from grants.web.manager.blueprint import bp
from grants.web.manager.forms import PartnerForm, PartnerStateForm

SORTABLE = {
    "name": func.lower(Partner.display_name),
    "country": Partner.country,
    "created": Partner.created_at,
}
STATUSES = {"active": True, "inactive": False}


@bp.route("/partners")
@roles_required(*MANAGERS)
def partners() -> ResponseReturnValue:
    """Partners matching the search and filters, a page at a time."""
    query = select(Partner)
    search = request.args.get("q", "").strip()[:100]
    if search:
        pattern = like_pattern(search)
        query = query.where(
            or_(
                func.lower(Partner.display_name).like(pattern, escape="\\"),
                func.lower(Partner.legal_name).like(pattern, escape="\\"),
                func.lower(Partner.registration_number).like(pattern, escape="\\"),
            )
        )
    status = request.args.get("status", "active")
    if status in STATUSES:
        query = query.where(Partner.active.is_(STATUSES[status]))
    country = request.args.get("country", "")
    if country in {c.value for c in Country}:
        query = query.where(Partner.country == Country(country))
    sort = requested_sort(request, SORTABLE, "name")
    page = paginate(
        db.session(), order_by(query, sort, SORTABLE, Partner.id), requested_page(request)
    )
    return render_template(
        "manager/partners.html",
        page=page,
        sort=sort,
        search=search,
        status=status if status in STATUSES else "all",
        country=country,
    )


@bp.route("/partners/new", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def new_partner() -> ResponseReturnValue:
    """Add a partner."""
    form = PartnerForm()
    outcome = submit(
        form,
        lambda: create_partner(
            db.session(), key=form.key.data, actor=current_user, details=_details(form)
        ),
    )
    if outcome.done:
        assert outcome.result is not None
        flash(f"{form.display_name.data.strip()} was added.", "success")
        return redirect(url_for("manager.partner", partner_id=outcome.result.object_id))
    return render_template("manager/partner_form.html", form=form, partner=None), outcome.status


@bp.route("/partners/<int:partner_id>")
@roles_required(*MANAGERS)
def partner(partner_id: int) -> ResponseReturnValue:
    """A partner's details, its people and its grants."""
    found = db.session.get(Partner, partner_id) or abort(404)
    return _show_partner(found, PartnerPersonForm())


@bp.route("/partners/<int:partner_id>/people", methods=["POST"])
@roles_required(*MANAGERS)
def invite_partner_person(partner_id: int) -> ResponseReturnValue:
    """Invite one of the partner's people: they apply and report for it."""
    found = db.session.get(Partner, partner_id) or abort(404)
    form = PartnerPersonForm()
    outcome = submit(
        form,
        lambda: invitations.invite_partner_person(
            db.session(),
            key=form.key.data,
            actor=current_user,
            partner_id=found.id,
            email=form.email.data or "",
            display_name=form.display_name.data or "",
            now=clock.now(),
        ),
    )
    if outcome.done:
        flash(f"An invitation was sent to {(form.email.data or '').strip()}.", "success")
        return redirect(url_for("manager.partner", partner_id=found.id))
    return _show_partner(found, form), outcome.status


@bp.route("/partners/<int:partner_id>/edit", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def edit_partner(partner_id: int) -> ResponseReturnValue:
    """Change a partner's details."""
    found = db.session.get(Partner, partner_id) or abort(404)
    form = PartnerForm(obj=found)
    if request.method == "GET":
        form.country.data = found.country.value
    outcome = submit(
        form,
        lambda: update_partner(
            db.session(),
            key=form.key.data,
            actor=current_user,
            partner_id=found.id,
            details=_details(form),
        ),
    )
    if outcome.done:
        flash("The partner's details were saved.", "success")
        return redirect(url_for("manager.partner", partner_id=found.id))
    return render_template("manager/partner_form.html", form=form, partner=found), outcome.status


@bp.route("/partners/<int:partner_id>/active", methods=["POST"])
@roles_required(*MANAGERS)
def toggle_partner(partner_id: int) -> ResponseReturnValue:
    """Deactivate an active partner, or bring back an inactive one."""
    found = db.session.get(Partner, partner_id) or abort(404)
    form = PartnerStateForm()
    outcome = confirm(
        lambda key: set_partner_active(
            db.session(),
            key=key,
            actor=current_user,
            partner_id=found.id,
            active=form.active.data == "yes",
        ),
        form,
    )
    if isinstance(outcome, DomainError):
        flash(outcome.message, "error")
        return redirect(url_for("manager.partner", partner_id=found.id), 303)
    state = "active again" if found.active else "deactivated: it takes no new grants"
    flash(f"{found.display_name} is {state}.", "success")
    return redirect(url_for("manager.partner", partner_id=found.id))


class PartnerPersonForm(ActionForm):
    """One of a partner's people to invite."""

    email = StringField("Email", validators=[DataRequired(), Length(max=254)])
    display_name = StringField("Name", validators=[DataRequired(), Length(max=120)])


def _show_partner(found: Partner, invite_form: PartnerPersonForm) -> str:
    """The partner's page, with the invitation form as given (with its errors, if sent)."""
    awarded = paginate(
        db.session(),
        select(Grant)
        .where(Grant.partner_id == found.id)
        .order_by(Grant.created_at.desc(), Grant.id.desc()),
        requested_page(request),
    )
    people = db.session.scalars(
        select(User)
        .join(UserRole, UserRole.user_id == User.id)
        .where(User.partner_id == found.id, UserRole.role == Role.PARTNER)
        .order_by(User.display_name, User.id)
    ).all()
    toggle = PartnerStateForm(active="no" if found.active else "yes")
    return render_template(
        "manager/partner.html",
        partner=found,
        grants=awarded,
        toggle=toggle,
        people=people,
        statuses=statuses(db.session(), people),
        invite_form=invite_form,
    )


def _details(form: PartnerForm) -> PartnerDetails:
    return PartnerDetails(
        legal_name=form.legal_name.data or "",
        display_name=form.display_name.data or "",
        country=form.country.data or "",
        registration_number=form.registration_number.data or "",
        contact_name=form.contact_name.data or "",
        contact_email=form.contact_email.data or "",
        website_url=form.website_url.data or "",
        notes=form.notes.data or "",
    )
