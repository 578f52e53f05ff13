"""Signing in and out, and the sessions that can be ended on the server.

A session carries its user's session version from sign-in; the user loader accepts it only
while that is still the user's version (and the user is active). Signing out, a new
password and deactivation move the version on, which ends every session of that user on
every device, including copies of the cookie made before.
"""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload
from wtforms import EmailField, HiddenField, PasswordField
from wtforms.validators import DataRequired, Length

from grants.domain.accounts import EMAIL_MAX, PASSWORD_MAX, authenticate, sign_out
from grants.domain.errors import DomainError
from grants.domain.notifications import unread_count
from grants.extensions import db
from grants.models import User
from grants.security import password_hasher
from grants.unit_of_work import run
from grants.web import is_safe_next
from grants.web.actions import PlainTextForm, attempt
from grants.web.hooks import LOCALE_KEY

bp = Blueprint("auth", __name__)

SESSION_VERSION = "session_version"
"""The key under which a session keeps the session version its user had at sign-in."""


def start_session(user: User) -> None:
    """Sign ``user`` in with a fresh session (nothing from before it survives) that carries
    their current session version; call it after committing any change to that version."""
    session.clear()
    request.environ.pop(LOCALE_KEY, None)
    login_user(user)
    session[SESSION_VERSION] = user.session_version
    session.permanent = True


SIGNED_IN_USER = (
    select(User, unread_count(User.id))
    .options(joinedload(User.role_grants))
    .where(User.id == bindparam("user_id"))
)
"""The user a session names with their roles and how many of their notifications are unread,
in one statement built once."""


def load_session_user(user_id: str) -> User | None:
    """The user a session names, if that session is still theirs: the user exists, is
    active and has not ended their sessions since this one began. A session that fails is
    emptied, so its cookie stops naming anyone."""
    found = (
        db.session.execute(SIGNED_IN_USER, {"user_id": int(user_id)}).unique().one_or_none()
        if user_id.isdigit()
        else None
    )
    if found is None:
        session.clear()
        return None
    user, unread = found
    if not user.active or session.get(SESSION_VERSION) != user.session_version:
        session.clear()
        return None
    g.unread_notifications = unread
    return user


class LoginForm(PlainTextForm):
    """Email and password."""

    email = EmailField(
        "Email",
        validators=[DataRequired(), Length(max=EMAIL_MAX)],
        render_kw={"autocomplete": "username"},
    )
    password = PasswordField(
        "Password",
        validators=[DataRequired(), Length(max=PASSWORD_MAX)],
        render_kw={"autocomplete": "current-password"},
    )
    next = HiddenField()


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Show the sign-in form; on success start a fresh session and go where the user was headed."""
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        user = attempt(
            lambda: authenticate(
                db.session(),
                email=form.email.data,
                password=form.password.data,
                hasher=password_hasher(),
            )
        )
        if isinstance(user, DomainError):
            form.password.errors = [user.message]
            return render_template("auth/login.html", form=form), 401
        target = form.next.data if is_safe_next(form.next.data) else url_for("main.home")
        start_session(user)
        flash(f"Welcome, {user.display_name}.", "success")
        return redirect(target)
    status = 400 if form.is_submitted() else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout() -> ResponseReturnValue:
    """End every session of the signed-in user, on every device (a POST, so the app-wide
    CSRF check covers it)."""
    if current_user.is_authenticated:
        run(lambda: sign_out(db.session(), current_user))
    logout_user()
    session.clear()
    flash("You are signed out.", "success")
    return redirect(url_for("auth.login"))
