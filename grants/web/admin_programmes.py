"""The admin's screens for programmes: the list, adding one, renaming one.

Registered on the admin blueprint (:mod:`grants.web.admin_blueprint`); every route is for
admins only.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import func, select
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from grants.domain import programmes
from grants.domain.paging import paginate_rows
from grants.domain.programmes import DESCRIPTION_MAX, NAME_MAX, ProgrammeDetails
from grants.extensions import db
from grants.models import Ambassador, Programme, Role
from grants.web import roles_required
from grants.web.actions import ActionForm, submit
from grants.web.admin_blueprint import bp
from grants.web.listing import requested_page

PROGRAMMES_PER_PAGE = 50


class ProgrammeForm(ActionForm):
    """A programme's name and description."""

    name = StringField("Name", validators=[DataRequired(), Length(max=NAME_MAX)])
    description = TextAreaField("What the programme is", validators=[Length(max=DESCRIPTION_MAX)])


class NewProgrammeForm(ProgrammeForm):
    """A new programme: its code as well."""

    code = StringField("Code", validators=[DataRequired(), Length(max=20)])


@bp.route("/programmes")
@roles_required(Role.ADMIN)
def programmes_list() -> ResponseReturnValue:
    """Every programme, by code, with how many ambassadors it has."""
    ambassadors = (
        select(func.count(Ambassador.id))
        .where(Ambassador.programme_id == Programme.id)
        .correlate(Programme)
        .scalar_subquery()
    )
    page = paginate_rows(
        db.session(),
        select(
            Programme.id,
            Programme.code,
            Programme.name,
            Programme.description,
            ambassadors.label("ambassadors"),
        ).order_by(Programme.code),
        requested_page(request),
        PROGRAMMES_PER_PAGE,
    )
    return render_template("admin/programmes.html", programmes=page)


@bp.route("/programmes/new", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def new_programme() -> ResponseReturnValue:
    """Add a programme."""
    form = NewProgrammeForm()
    outcome = submit(
        form,
        lambda: programmes.create_programme(
            db.session(),
            key=form.key.data,
            actor=current_user,
            code=form.code.data,
            details=ProgrammeDetails(form.name.data, form.description.data or ""),
        ),
    )
    if outcome.done:
        flash(f"{form.code.data.strip().upper()} was added.", "success")
        return redirect(url_for("admin.programmes_list"))
    return render_template("admin/programme_form.html", form=form, programme=None), outcome.status


@bp.route("/programmes/<int:programme_id>/edit", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def edit_programme(programme_id: int) -> ResponseReturnValue:
    """Rename a programme or change what it says about itself."""
    programme = db.session.get(Programme, programme_id) or abort(404)
    form = ProgrammeForm(obj=programme)
    outcome = submit(
        form,
        lambda: programmes.update_programme(
            db.session(),
            key=form.key.data,
            actor=current_user,
            programme_id=programme_id,
            details=ProgrammeDetails(form.name.data, form.description.data or ""),
        ),
    )
    if outcome.done:
        flash(f"{programme.code} was saved.", "success")
        return redirect(url_for("admin.programmes_list"))
    return render_template(
        "admin/programme_form.html", form=form, programme=programme
    ), outcome.status
