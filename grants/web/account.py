"""A person's own account: the profile page, changing the password and the email address,
and resetting a forgotten password by an emailed link.

The pages a link opens (``/password/reset/<token>``, ``/account/email/confirm/<token>``)
carry the token in their path: they are answered with ``Referrer-Policy: no-referrer`` and
``Cache-Control: no-store``, so the token is neither sent on to another page nor kept by a
cache, and each link stops working once used. The operations are in
:mod:`grants.domain.account_tokens`; the emails they record in
:mod:`grants.account_mail`.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required, logout_user
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length

from grants import clock
from grants.domain import account_tokens
from grants.domain.account_tokens import LOCALES, time_zones
from grants.domain.accounts import DISPLAY_NAME_MAX, EMAIL_MAX, PASSWORD_MAX
from grants.domain.errors import DomainError, InvalidState, NotFound
from grants.domain.helpdesk_links import requests_of_account
from grants.extensions import db
from grants.models import AccountToken, TokenPurpose, User
from grants.security import password_hasher, password_rules
from grants.web.actions import ConfirmForm, PlainTextForm, confirm, refusal_status, submit
from grants.web.auth import start_session

bp = Blueprint("account", __name__)


class ForgotPasswordForm(PlainTextForm):
    email = EmailField(
        "Email",
        validators=[DataRequired(), Length(max=EMAIL_MAX)],
        render_kw={"autocomplete": "username"},
    )


class NewPasswordForm(PlainTextForm):
    password = PasswordField(
        "New password",
        validators=[DataRequired(), Length(max=PASSWORD_MAX)],
        render_kw={"autocomplete": "new-password"},
    )
    password_again = PasswordField(
        "New password again",
        validators=[
            DataRequired(),
            EqualTo("password", message="The two passwords are not the same."),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class ChangePasswordForm(NewPasswordForm):
    current_password = PasswordField(
        "Current password",
        validators=[DataRequired(), Length(max=PASSWORD_MAX)],
        render_kw={"autocomplete": "current-password"},
    )


class ChangeEmailForm(PlainTextForm):
    new_email = EmailField(
        "New email address",
        validators=[DataRequired(), Length(max=EMAIL_MAX)],
        render_kw={"autocomplete": "email"},
    )
    current_password = PasswordField(
        "Your password",
        validators=[DataRequired(), Length(max=PASSWORD_MAX)],
        render_kw={"autocomplete": "current-password"},
    )


class ProfileForm(PlainTextForm):
    display_name = StringField(
        "Name",
        validators=[DataRequired(), Length(max=DISPLAY_NAME_MAX)],
        render_kw={"autocomplete": "name"},
    )
    locale = SelectField(
        "Language and number format",
        choices=[SelectChoice(code, name) for code, name in LOCALES.items()],
        validate_choice=False,
    )
    time_zone = SelectField("Time zone", validate_choice=False)


def _private(response: ResponseReturnValue, status: int = 200) -> Response:
    """A page whose address carries a token: sent on to no other page, kept by no cache."""
    answer = make_response(response, status)
    answer.headers["Referrer-Policy"] = "no-referrer"
    answer.headers["Cache-Control"] = "no-store"
    return answer


def _link_unavailable(error: DomainError, purpose: TokenPurpose) -> Response:
    """The page for a link that does not work: 404 never issued, 410 used or expired."""
    status = 404 if isinstance(error, NotFound) else 410
    page = render_template(
        "account/link_unavailable.html", message=error.message, purpose=purpose.value
    )
    return _private(page, status)


def zone_name(zone: str) -> str:
    """A time zone's IANA name as people read it: ``America/New York``."""
    return zone.replace("_", " ")


def _me() -> User:
    """The signed-in user, as the model object (not Flask-Login's proxy)."""
    user: User = current_user._get_current_object()
    return user


# --- forgotten password -------------------------------------------------------------------


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password() -> ResponseReturnValue:
    """Ask for a reset link. The answer is the same whether or not the address has an
    account, so the page tells nobody who has one."""
    form = ForgotPasswordForm()
    outcome = submit(
        form,
        lambda: account_tokens.request_password_reset(
            db.session(), email=form.email.data, now=clock.now()
        ),
    )
    if outcome.done:
        return render_template("account/reset_sent.html")
    return render_template("account/forgot_password.html", form=form), outcome.status


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> ResponseReturnValue:
    """Choose a new password through the emailed link; every session of the account ends."""
    purpose = TokenPurpose.PASSWORD_RESET
    try:
        account_tokens.valid_token(db.session(), token, purpose, now=clock.now())
    except (NotFound, InvalidState) as error:
        return _link_unavailable(error, purpose)
    form = NewPasswordForm()
    outcome = submit(
        form,
        lambda: account_tokens.reset_password(
            db.session(),
            token=token,
            password=form.password.data,
            hasher=password_hasher(),
            rules=password_rules(),
            now=clock.now(),
        ),
    )
    if isinstance(outcome.refusal, (NotFound, InvalidState)):
        return _link_unavailable(outcome.refusal, purpose)
    if outcome.done:
        logout_user()
        session.clear()
        flash(
            "Your new password is set, and you are signed out everywhere. Sign in with it now.",
            "success",
        )
        return redirect(url_for("auth.login"))
    return _private(render_template("account/reset_password.html", form=form), outcome.status)


# --- the profile --------------------------------------------------------------------------


def _pending_email_change(user: User) -> AccountToken | None:
    """The email change ``user`` asked for and has not confirmed yet, if its link works."""
    return db.session.scalar(
        select(AccountToken).where(
            AccountToken.user_id == user.id,
            AccountToken.purpose == TokenPurpose.EMAIL_CHANGE,
            AccountToken.used_at.is_(None),
            AccountToken.expires_at > clock.now(),
        )
    )


@bp.route("/account", methods=["GET", "POST"])
@login_required
def profile() -> ResponseReturnValue:
    """The signed-in person's name, email, language and time zone."""
    me = _me()
    default_zone = account_tokens.default_time_zone(db.session(), me)
    shown = {"display_name": me.display_name, "locale": me.locale, "time_zone": me.time_zone or ""}
    form = ProfileForm() if request.method == "POST" else ProfileForm(data=shown)
    form.time_zone.choices = [
        SelectChoice("", f"Automatic: {zone_name(default_zone)}"),
        *(SelectChoice(zone, zone_name(zone)) for zone in sorted(time_zones())),
    ]
    outcome = submit(
        form,
        lambda: account_tokens.update_profile(
            db.session(),
            user=me,
            display_name=form.display_name.data,
            locale=form.locale.data,
            time_zone=form.time_zone.data or None,
        ),
    )
    if outcome.done:
        flash("Your profile is saved." if outcome.result else "Nothing was changed.", "success")
        return redirect(url_for("account.profile"))
    return render_template(
        "account/profile.html",
        form=form,
        pending=_pending_email_change(me),
        help_requests=requests_of_account(db.session(), me.id),
    ), outcome.status


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password() -> ResponseReturnValue:
    """Change the password, giving the current one; every other session ends."""
    me = _me()
    form = ChangePasswordForm()
    outcome = submit(
        form,
        lambda: account_tokens.change_password(
            db.session(),
            user=me,
            current=form.current_password.data,
            new=form.password.data,
            hasher=password_hasher(),
            rules=password_rules(),
            now=clock.now(),
        ),
    )
    if outcome.done:
        start_session(me)
        flash(
            "Your password is changed. Everywhere else you were signed in is signed out.", "success"
        )
        return redirect(url_for("account.profile"))
    return render_template("account/change_password.html", form=form), outcome.status


@bp.route("/account/email", methods=["GET", "POST"])
@login_required
def change_email() -> ResponseReturnValue:
    """Ask to sign in with another address: a link to confirm it goes there."""
    me = _me()
    form = ChangeEmailForm()
    outcome = submit(
        form,
        lambda: account_tokens.request_email_change(
            db.session(),
            user=me,
            new_email=form.new_email.data,
            password=form.current_password.data,
            hasher=password_hasher(),
            now=clock.now(),
        ),
    )
    if outcome.done:
        assert outcome.result is not None
        flash(
            f"We have sent a link to {outcome.result.new_email}. Open it to confirm the change; "
            f"until then you sign in with {me.email}.",
            "success",
        )
        return redirect(url_for("account.profile"))
    return render_template("account/change_email.html", form=form), outcome.status


@bp.route("/account/email/confirm/<token>", methods=["GET", "POST"])
def confirm_email(token: str) -> ResponseReturnValue:
    """Confirm a new email address through the link sent to it. The link is the proof, so
    whoever opens it need not be signed in; a button press makes the change."""
    purpose = TokenPurpose.EMAIL_CHANGE
    try:
        found = account_tokens.valid_token(db.session(), token, purpose, now=clock.now())
    except (NotFound, InvalidState) as error:
        return _link_unavailable(error, purpose)
    new_email = found.new_email
    form = ConfirmForm()
    if not form.is_submitted():
        page = render_template("account/confirm_email.html", form=form, new_email=new_email)
        return _private(page)
    outcome = confirm(
        lambda _key: account_tokens.confirm_email_change(
            db.session(), token=token, now=clock.now()
        ),
        form,
    )
    if isinstance(outcome, (NotFound, InvalidState)):
        return _link_unavailable(outcome, purpose)
    if isinstance(outcome, DomainError):
        page = render_template(
            "account/confirm_email.html", form=form, new_email=new_email, refusal=outcome
        )
        return _private(page, refusal_status(outcome))
    flash(f"Your email address is now {outcome.new_email}. Sign in with it from now on.", "success")
    if current_user.is_authenticated and current_user.id == outcome.user_id:
        return redirect(url_for("account.profile"))
    return redirect(url_for("auth.login"))
