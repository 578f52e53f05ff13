"""The invitation page: where an invited person chooses their password and is signed in.

The page is public: the link's token is the proof. A link that is unknown or altered answers
404, one already used, withdrawn, replaced by a newer one or expired 410, each with a page that
says so in plain words and writes nothing. Requests are rate-limited per client address
(:mod:`grants.web.limits`), as for claim links. Every answer carries
``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store``: the token in the address is
neither sent on to another page nor kept by a cache.
"""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from wtforms import PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from grants import clock
from grants.domain import invitations
from grants.domain.account_tokens import time_zone_of
from grants.domain.accounts import PASSWORD_MAX
from grants.domain.errors import InvalidState, NotFound
from grants.extensions import db
from grants.invitation_mail import ROLE_DUTIES
from grants.models import Invitation, Role, User
from grants.security import password_hasher, password_rules
from grants.web.actions import PlainTextForm, submit
from grants.web.auth import start_session
from grants.web.hooks import show_times_in

bp = Blueprint("invitations", __name__, url_prefix="/invitations")


@bp.after_request
def private(response: Response) -> Response:
    """The page's address carries a token: sent on to no other page, kept by no cache."""
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


class AcceptForm(PlainTextForm):
    """The password an invited person chooses, typed twice."""

    password = PasswordField(
        "Choose a password",
        validators=[DataRequired(), Length(max=PASSWORD_MAX)],
        render_kw={"autocomplete": "new-password"},
    )
    password_again = PasswordField(
        "Type the password again",
        validators=[DataRequired(), EqualTo("password", message="The two passwords differ.")],
        render_kw={"autocomplete": "new-password"},
    )


@bp.route("/<token>", methods=["GET", "POST"])
def accept(token: str) -> ResponseReturnValue:
    """Show an invitation to whoever holds its link; on a good password, activate the
    account with its roles and sign its owner in."""
    try:
        invitation = invitations.find_invitation(db.session(), token)
    except NotFound as error:
        return _unusable(error.message, 404)
    form = AcceptForm()
    outcome = submit(
        form,
        lambda: invitations.accept(
            db.session(),
            token=token,
            password=form.password.data,
            hasher=password_hasher(),
            rules=password_rules(),
            now=clock.now(),
        ),
    )
    if outcome.done:
        user = outcome.result
        assert isinstance(user, User)
        start_session(user)
        flash(f"Welcome, {user.display_name}. Your account is ready.", "success")
        return redirect(url_for("main.home"))
    refusal = outcome.refusal
    if refusal is None:
        refusal = invitations.usability(invitation, clock.now())
    if isinstance(refusal, (InvalidState, NotFound)):
        return _already_yours(invitation) or _unusable(refusal.message, 410)
    roles = [Role(role) for role in invitation.roles]
    show_times_in(time_zone_of(db.session(), invitation.user))
    return render_template(
        "invitations/accept.html",
        invitation=invitation,
        duties=[ROLE_DUTIES[role] for role in roles],
        programme=invitation.programme if Role.AMBASSADOR in roles else None,
        form=form,
    ), outcome.status


def _already_yours(invitation: Invitation) -> ResponseReturnValue | None:
    """The person who accepted this invitation, signed in, opening its link again: their
    start page (``None`` for anyone else, who is told the link is used)."""
    if (
        invitation.accepted_at is not None
        and current_user.is_authenticated
        and current_user.id == invitation.user_id
    ):
        flash("Your account is ready; you are signed in.", "success")
        return redirect(url_for("main.home"))
    return None


def _unusable(message: str, status: int) -> ResponseReturnValue:
    return render_template(
        "invitations/unusable.html",
        message=message,
        status=status,
        signed_in=current_user.is_authenticated,
    ), status
