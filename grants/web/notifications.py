"""What a signed-in person has been told, and how they want to be told."""

from __future__ import annotations

from datetime import time

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required
from wtforms import RadioField, SelectField
from wtforms.fields.choices import SelectChoice

from grants import clock
from grants.domain import notifications
from grants.domain.dates import format_time_of_day, zone_name
from grants.domain.notifications import Kind
from grants.extensions import db
from grants.models import Delivery
from grants.web.actions import ConfirmForm, PlainTextForm, confirm, submit
from grants.web.hooks import local_today, user_locale, user_time_zone
from grants.web.listing import requested_page

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


@bp.route("/")
@login_required
def index() -> ResponseReturnValue:
    """The person's notifications, newest first; the unread ones marked."""
    page = notifications.notifications_of(
        db.session(), current_user.id, page=requested_page(request)
    )
    return render_template("notifications/index.html", page=page, form=ConfirmForm())


@bp.route("/read", methods=["POST"])
@login_required
def mark_read() -> ResponseReturnValue:
    """Mark every notification of the person read (a button: without its form, 400)."""
    marked = confirm(
        lambda _key: notifications.mark_all_read(db.session(), current_user.id, now=clock.now())
    )
    if isinstance(marked, int) and marked:
        flash("Every notification is marked as read.", "success")
    return redirect(url_for("notifications.index"))


def field_name(kind: Kind) -> str:
    """The form field of ``kind``'s setting."""
    return kind.key.replace(".", "_")


def preferences_form(
    kinds: list[Kind], current: dict[str, Delivery], daily_email_time: time, locale: str
) -> PlainTextForm:
    """A form with one choice per kind, showing ``current``, and the hour of the day the
    daily email goes, written as ``locale`` writes a time."""
    daily_hour = daily_email_time.strftime("%H:%M")

    class PreferencesForm(PlainTextForm):
        daily_email_time = SelectField(
            "Send my daily email from",
            choices=[
                SelectChoice(f"{hour:02d}:00", format_time_of_day(time(hour), locale))
                for hour in range(24)
            ],
            default=daily_hour,
        )

    for kind in kinds:
        setattr(
            PreferencesForm,
            field_name(kind),
            RadioField(
                kind.label,
                choices=[SelectChoice(delivery.value, delivery.label) for delivery in Delivery],
                default=current[kind.key].value,
            ),
        )
    return PreferencesForm()


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings() -> ResponseReturnValue:
    """Which notifications come by email; security emails (a password reset, an invitation,
    an email change) always do and are not listed."""
    kinds = notifications.kinds_for(current_user.roles)
    current = notifications.preferences_of(db.session(), current_user)
    form = preferences_form(kinds, current, current_user.daily_email_time, user_locale())
    chosen = {kind.key: getattr(form, field_name(kind)).data for kind in kinds}
    done = submit(
        form,
        lambda: notifications.set_preferences(
            db.session(),
            current_user,
            chosen,
            daily_email_time=time.fromisoformat(form.daily_email_time.data),
            today=local_today(),
        ),
        fields={
            **{kind.key: field_name(kind) for kind in kinds},
            notifications.DAILY_EMAIL_TIME: "daily_email_time",
        },
    )
    if done.done:
        flash("Your email settings are saved.", "success")
        return redirect(url_for("notifications.settings"))
    fields = [(kind, getattr(form, field_name(kind))) for kind in kinds]
    return (
        render_template(
            "notifications/settings.html",
            form=form,
            fields=fields,
            time_zone=zone_name(user_time_zone()),
        ),
        done.status,
    )
