"""Signing in and out."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user
from wtforms import EmailField, HiddenField, PasswordField
from wtforms.validators import DataRequired, Length

from grants.domain.accounts import EMAIL_MAX, PASSWORD_MAX, authenticate
from grants.domain.errors import AuthenticationFailed
from grants.extensions import db
from grants.security import password_hasher
from grants.web import is_safe_next
from grants.web.actions import PlainTextForm

bp = Blueprint("auth", __name__)


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
        try:
            user = authenticate(
                db.session(),
                email=form.email.data,
                password=form.password.data,
                hasher=password_hasher(),
            )
        except AuthenticationFailed as error:
            db.session.rollback()
            form.password.errors = [error.message]
            return render_template("auth/login.html", form=form), 401
        db.session.commit()
        target = form.next.data if is_safe_next(form.next.data) else url_for("main.home")
        session.clear()
        login_user(user)
        session.permanent = True
        flash(f"Welcome, {user.display_name}.", "success")
        return redirect(target)
    status = 400 if form.is_submitted() else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout() -> ResponseReturnValue:
    """End the session (a POST, so the app-wide CSRF check covers it)."""
    logout_user()
    session.clear()
    flash("You are signed out.", "success")
    return redirect(url_for("auth.login"))
