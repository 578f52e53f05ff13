"""The admin's screens for people: the list with its search, a person's page (roles,
ambassador details, deactivation, their invitation) and the invitation form.

Registered on the admin blueprint (:mod:`grants.web.admin_blueprint`); every route is for
admins only.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select
from wtforms import EmailField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from grants import clock
from grants.domain import invitations, user_admin
from grants.domain.accounts import DISPLAY_NAME_MAX, EMAIL_MAX, find_user_by_email
from grants.domain.errors import DomainError
from grants.domain.invitations import InvitationDetails
from grants.domain.user_admin import Membership, membership_of
from grants.extensions import db
from grants.models import ROLE_PRIORITY, CohortStatus, Country, Programme, Role, User
from grants.web import roles_required
from grants.web.actions import ActionForm, ConfirmForm, confirm, refusal_status, submit
from grants.web.admin_blueprint import bp
from grants.web.listing import requested_page, whole_number

PEOPLE_PER_PAGE = 50
ACCESS_FIELDS = {"roles": "roles", "programme_id": "programme_id"}


class CheckboxesField(SelectMultipleField):
    """Several choices, each a checkbox."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class AccessForm(ActionForm):
    """A person's roles and, for an ambassador, their programme, country and cohort status."""

    roles = CheckboxesField(
        "Roles", choices=[SelectChoice(role.value, role.label) for role in ROLE_PRIORITY]
    )
    programme_id = SelectField("Programme", choices=[])
    country = SelectField("Country", choices=[SelectChoice(c.value, c.label) for c in Country])
    cohort_status = SelectField(
        "Cohort status",
        choices=[SelectChoice(status.value, status.value.capitalize()) for status in CohortStatus],
        default=CohortStatus.CURRENT.value,
    )

    def with_programmes(self) -> AccessForm:
        """The form with the active programmes to choose from."""
        programmes = db.session.scalars(
            select(Programme).where(Programme.active.is_(True)).order_by(Programme.code)
        ).all()
        self.programme_id.choices = [SelectChoice("", "No programme")] + [
            SelectChoice(str(programme.id), f"{programme.code}: {programme.name}")
            for programme in programmes
        ]
        return self

    def membership(self) -> Membership | None:
        """The ambassador details chosen, or ``None`` when no programme is."""
        programme_id = whole_number(self.programme_id.data or "")
        if programme_id is None:
            return None
        return Membership(
            programme_id, Country(self.country.data), CohortStatus(self.cohort_status.data)
        )


class InviteForm(AccessForm):
    """Whom to invite, and what they may do."""

    email = EmailField(
        "Email",
        validators=[DataRequired(), Length(max=EMAIL_MAX)],
        render_kw={"autocomplete": "off"},
    )
    display_name = StringField(
        "Name",
        validators=[DataRequired(), Length(max=DISPLAY_NAME_MAX)],
        render_kw={"autocomplete": "off"},
    )


@bp.route("/users")
@roles_required(Role.ADMIN)
def users() -> ResponseReturnValue:
    """Everyone with an account, by name; searched by name or email, filtered by role."""
    text = request.args.get("q", "")
    role_value = request.args.get("role", "")
    role = Role(role_value) if role_value in {r.value for r in Role} else None
    people = user_admin.search_people(
        db.session(), text=text, role=role, page=requested_page(request), per_page=PEOPLE_PER_PAGE
    )
    return render_template(
        "admin/users.html",
        people=people,
        text=text,
        role=role,
        roles=ROLE_PRIORITY,
        statuses=user_admin.statuses(db.session(), people.items),
    )


@bp.route("/users/invite", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def invite() -> ResponseReturnValue:
    """Invite a person by email: they get a link to choose their password, valid 7 days."""
    form = InviteForm().with_programmes()
    outcome = submit(
        form,
        lambda: invitations.invite(
            db.session(),
            key=form.key.data,
            actor=current_user,
            details=InvitationDetails(
                email=form.email.data,
                display_name=form.display_name.data,
                roles=tuple(form.roles.data or ()),
                membership=form.membership(),
            ),
            now=clock.now(),
        ),
        fields=ACCESS_FIELDS,
    )
    if outcome.done:
        assert outcome.result is not None
        flash(
            f"The invitation is on its way to {form.email.data.strip()}; "
            "its link works for 7 days.",
            "success",
        )
        return redirect(url_for("admin.user", user_id=outcome.result.user_id))
    existing = None
    if outcome.status == 409 and form.email.data:
        existing = find_user_by_email(db.session(), form.email.data)
    return render_template("admin/invite.html", form=form, existing=existing), outcome.status


@bp.route("/users/<int:user_id>")
@roles_required(Role.ADMIN)
def user(user_id: int) -> ResponseReturnValue:
    """One person: their roles and programme, whether they can sign in, their invitation."""
    person = db.session.get(User, user_id) or abort(404)
    return _user_page(person, _access_form(person))


@bp.route("/users/<int:user_id>/access", methods=["POST"])
@roles_required(Role.ADMIN)
def change_access(user_id: int) -> ResponseReturnValue:
    """Change a person's roles and ambassador details."""
    person = db.session.get(User, user_id) or abort(404)
    form = AccessForm().with_programmes()
    outcome = submit(
        form,
        lambda: user_admin.change_access(
            db.session(),
            key=form.key.data,
            actor=current_user,
            user_id=user_id,
            roles=form.roles.data or (),
            membership=form.membership(),
        ),
        fields=ACCESS_FIELDS,
    )
    if outcome.done:
        flash(f"{person.display_name}'s roles were saved.", "success")
        return redirect(url_for("admin.user", user_id=user_id))
    if not form.is_submitted():
        abort(405)
    return _user_page(person, form), outcome.status


@bp.route("/users/<int:user_id>/invitation/<any(resend, revoke):action>", methods=["POST"])
@roles_required(Role.ADMIN)
def invitation(user_id: int, action: str) -> ResponseReturnValue:
    """Send an invited person a new link (the old one stops working), or withdraw theirs."""
    person = db.session.get(User, user_id) or abort(404)
    operation = invitations.resend if action == "resend" else invitations.revoke
    outcome = confirm(
        lambda key: operation(
            db.session(), key=key, actor=current_user, user_id=user_id, now=clock.now()
        )
    )
    if isinstance(outcome, DomainError):
        return _user_page(person, _access_form(person), refusal=outcome.message), refusal_status(
            outcome
        )
    if action == "resend":
        flash(
            f"A new invitation is on its way to {person.email}; the old link no longer works.",
            "success",
        )
    else:
        flash(
            f"{person.display_name}'s invitation was withdrawn; its link no longer works.",
            "success",
        )
    return redirect(url_for("admin.user", user_id=user_id))


def _access_form(person: User) -> AccessForm:
    form = AccessForm(formdata=None).with_programmes()
    form.roles.data = [role.value for role in person.roles]
    ambassador = membership_of(db.session(), person.id)
    if ambassador is not None:
        form.programme_id.data = (
            str(ambassador.programme_id) if person.has_role(Role.AMBASSADOR) else ""
        )
        form.country.data = ambassador.country.value
        form.cohort_status.data = ambassador.cohort_status.value
    return form


def user_page(person: User, refusal: str | None = None, status: int = 200) -> ResponseReturnValue:
    """A person's page with a refusal above it: what a refused deactivation shows."""
    return _user_page(person, _access_form(person), refusal=refusal), status


def _user_page(person: User, form: AccessForm, refusal: str | None = None) -> str:
    now = clock.now()
    return render_template(
        "admin/user.html",
        person=person,
        status=user_admin.status_of(db.session(), person),
        ambassador=membership_of(db.session(), person.id),
        form=form,
        pending=invitations.pending_invitation(db.session(), person.id, now),
        latest=invitations.latest_invitation(db.session(), person.id),
        refusal=refusal,
        confirm_form=ConfirmForm,
        now=now,
    )
