"""The operator's screens: the dashboard, deactivating people, support lines; the screens
for people, programmes and the audit log are in the modules imported below, on the same
blueprint (:mod:`grants.web.admin_blueprint`)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import func, select
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length

from grants.domain import accounts, support
from grants.domain.errors import DomainError
from grants.domain.paging import paginate
from grants.extensions import db
from grants.models import Country, Fund, Partner, Programme, Role, SupportLine, User
from grants.web import (  # noqa: F401
    admin_audit,
    admin_messages,
    admin_programmes,
    admin_users,
    roles_required,
)
from grants.web.actions import ActionForm, confirm, new_key, refusal_status, submit
from grants.web.admin_blueprint import bp as bp
from grants.web.listing import requested_page

USERS_PER_PAGE = 50
SUPPORT_LINES_PER_PAGE = 50


@bp.route("/")
@roles_required(Role.ADMIN)
def dashboard() -> ResponseReturnValue:
    """Counts of what is configured, and the users with their roles, a page at a time."""
    return _dashboard()


@bp.route("/users/<int:user_id>/<any(deactivate, reactivate):action>", methods=["POST"])
@roles_required(Role.ADMIN)
def set_user_active(user_id: int, action: str) -> ResponseReturnValue:
    """Deactivate a user (their sessions end at once, and they cannot sign in) or
    reactivate one; an admin cannot deactivate themselves."""
    user = db.session.get(User, user_id) or abort(404)
    outcome = confirm(
        lambda key: accounts.set_user_active(
            db.session(),
            key=key,
            actor=current_user,
            user_id=user_id,
            active=action == "reactivate",
        ),
        ActionForm(),
    )
    from_user_page = request.args.get("back") == "user"
    if isinstance(outcome, DomainError):
        if from_user_page:
            return admin_users.user_page(user, outcome.message, refusal_status(outcome))
        return _dashboard(refusal=outcome.message), refusal_status(outcome)
    if action == "reactivate":
        flash(f"{user.display_name} was reactivated and can sign in again.", "success")
    else:
        flash(f"{user.display_name} was deactivated and signed out everywhere.", "success")
    if from_user_page:
        return redirect(url_for("admin.user", user_id=user_id))
    return redirect(url_for("admin.dashboard", page=requested_page(request)))


def _dashboard(refusal: str | None = None) -> str:
    users = paginate(
        db.session(),
        select(User).order_by(User.display_name, User.id),
        requested_page(request),
        USERS_PER_PAGE,
    )
    counts = {
        "Programmes": db.session.scalar(select(func.count()).select_from(Programme)),
        "Partners": db.session.scalar(select(func.count()).select_from(Partner)),
        "Funds": db.session.scalar(select(func.count()).select_from(Fund)),
        "Users": users.total,
    }
    return render_template(
        "dashboards/admin.html", users=users, counts=counts, refusal=refusal, new_key=new_key
    )


# --- support lines -------------------------------------------------------------------------


class SupportLineForm(ActionForm):
    """A crisis or support line of the "get support now" panel."""

    country = SelectField("Country", choices=[SelectChoice(c.value, c.label) for c in Country])
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    phone = StringField("Phone number", validators=[Length(max=40)])
    text_message = StringField("Text", validators=[Length(max=120)])
    website_url = StringField("Website", validators=[Length(max=500)])
    description = TextAreaField("Description", validators=[Length(max=500)])
    sort_order = IntegerField("Position", default=100, validators=[InputRequired()])
    active = BooleanField("Shown in the panel", default=True)


@bp.route("/support-lines")
@roles_required(Role.ADMIN)
def support_lines() -> ResponseReturnValue:
    """Every support line, by country and position."""
    lines = paginate(
        db.session(),
        select(SupportLine).order_by(
            SupportLine.country.desc(), SupportLine.sort_order, SupportLine.id
        ),
        requested_page(request),
        SUPPORT_LINES_PER_PAGE,
    )
    return render_template("admin/support_lines.html", lines=lines)


@bp.route("/support-lines/new", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def new_support_line() -> ResponseReturnValue:
    """Add a support line."""
    form = SupportLineForm()
    outcome = submit(
        form,
        lambda: support.create_support_line(
            db.session(), key=form.key.data, actor=current_user, details=_line_details(form)
        ),
    )
    if outcome.done:
        flash(f"{form.name.data.strip()} was added.", "success")
        return redirect(url_for("admin.support_lines"))
    return render_template("admin/support_line_form.html", form=form, line=None), outcome.status


@bp.route("/support-lines/<int:line_id>/edit", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def edit_support_line(line_id: int) -> ResponseReturnValue:
    """Change a support line, or hide it from the panel."""
    line = db.session.get(SupportLine, line_id) or abort(404)
    form = SupportLineForm(obj=line)
    if request.method == "GET":
        form.country.data = line.country.value
    outcome = submit(
        form,
        lambda: support.update_support_line(
            db.session(),
            key=form.key.data,
            actor=current_user,
            line_id=line_id,
            details=_line_details(form),
        ),
    )
    if outcome.done:
        flash(f"{form.name.data.strip()} was saved.", "success")
        return redirect(url_for("admin.support_lines"))
    return render_template("admin/support_line_form.html", form=form, line=line), outcome.status


def _line_details(form: SupportLineForm) -> support.SupportLineDetails:
    return support.SupportLineDetails(
        country=form.country.data or "",
        name=form.name.data or "",
        phone=form.phone.data or "",
        text_message=form.text_message.data or "",
        website_url=form.website_url.data or "",
        description=form.description.data or "",
        sort_order=form.sort_order.data,
        active=bool(form.active.data),
    )
