"""The public help desk's forms, in the visitor's language.

The request form is checked by the domain's own rules (:func:`grants.domain.helpdesk.check_ask`),
and each refusal is said again in the page's language. Two checks stop simple bots without a
puzzle that a person in distress must solve: a field hidden from people (``website``) that
must stay empty, and a signed stamp of when the form was shown, which must be at least
``HELPDESK_MIN_FILL_SECONDS`` old when it comes back.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from flask import current_app
from flask_babel import format_number, gettext, lazy_gettext
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, URLSafeTimedSerializer
from wtforms import BooleanField, HiddenField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from grants.domain.errors import InvalidInput
from grants.domain.helpdesk import CITY_MAX, NAME_MAX, Ask, Checked, check_ask
from grants.domain.idempotency import KEY_MAX
from grants.models import CanPay
from grants.models.helpdesk import TEXT_MAX
from grants.web.actions import new_key

STAMP_SALT = "helpdesk.form-shown"
STAMP_LIFETIME = 24 * 60 * 60
"""Seconds a shown form may wait before it is sent (a day: a person may write slowly)."""

CAN_PAY = {
    CanPay.NOTHING.value: lazy_gettext("Nothing at the moment"),
    CanPay.SOME.value: lazy_gettext("Something, not the full price"),
    CanPay.INSURANCE.value: lazy_gettext("I have health insurance"),
}


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(str(current_app.secret_key), salt=STAMP_SALT)


def new_stamp() -> str:
    """A signed stamp of now, for a form about to be shown."""
    return _serializer().dumps(int(time.time()))


def stamp_age(stamp: str) -> float | None:
    """Seconds since ``stamp`` was made, or ``None`` if it is not one of ours or is older
    than :data:`STAMP_LIFETIME` (a stamp kept by a bot does not serve for ever)."""
    try:
        made = _serializer().loads(stamp, max_age=STAMP_LIFETIME)
    except (BadSignature, TypeError, ValueError):
        return None
    return time.time() - float(made) if isinstance(made, int) else None


def _(message: str, **values: object) -> str:
    """``message`` in the page's language, as a plain string."""
    return str(gettext(message, **values))


def _has_nul(form: FlaskForm) -> bool:
    return any("\x00" in str(value) for field in form for value in (field.raw_data or ()))


class CareForm(FlaskForm):
    """Asking for help."""

    name = StringField(lazy_gettext("What should we call you?"))
    email = StringField(lazy_gettext("Email"))
    phone = StringField(lazy_gettext("Phone"))
    country = StringField(lazy_gettext("Country"))
    city = StringField(lazy_gettext("City or area"))
    language = StringField(lazy_gettext("Language for our answer"))
    topic = StringField(lazy_gettext("What would you like help with?"))
    can_pay = StringField(lazy_gettext("What can you pay for care?"))
    text = TextAreaField(
        lazy_gettext("Tell us what is going on, and what help you are looking for")
    )
    website = StringField(lazy_gettext("Leave this empty"))
    """The honeypot: hidden from people, filled by bots."""
    shown = HiddenField()
    key = HiddenField(default=new_key, validators=[InputRequired(), Length(max=KEY_MAX)])
    checked: Checked | None = None
    bot: bool = False

    def asked(self) -> Ask:
        return Ask(
            name=self.name.data or "",
            email=self.email.data or "",
            phone=self.phone.data or "",
            country=self.country.data or "",
            city=self.city.data or "",
            language=self.language.data or "",
            topic=self.topic.data or "",
            can_pay=self.can_pay.data or "",
            text=self.text.data or "",
        )

    def validate(self, extra_validators: Mapping[str, Sequence[Any]] | None = None) -> bool:
        """Valid when the CSRF token, the key and the bot checks pass and the domain takes
        every value; each refusal goes on its field in the page's language."""
        if not super().validate(extra_validators):
            self.form_errors.append(
                gettext("This form had expired. Check your request and send it again.")
            )
            return False
        key = self.key.data or ""
        if not key or len(key) > KEY_MAX:
            self.form_errors.append(gettext("This form is incomplete. Reload the page."))
            return False
        if self.website.data:
            self.bot = True
            return False
        age = stamp_age(self.shown.data or "")
        if age is None:
            self.form_errors.append(
                _("This form had expired. Check your request and send it again.")
            )
            return False
        if age < int(current_app.config["HELPDESK_MIN_FILL_SECONDS"]):
            self.form_errors.append(
                gettext("That was sent very quickly. Check your request and send it again.")
            )
            return False
        if _has_nul(self):
            self.form_errors.append(gettext("Your request cannot contain control characters."))
            return False
        try:
            self.checked = check_ask(self.asked())
        except InvalidInput as error:
            field = getattr(self, error.field or "", None) or self.text
            field.errors = [*field.errors, self.said_again(error.field or "")]
            return False
        return True

    def said_again(self, field: str) -> str:
        """The refusal of ``field`` in the page's language."""
        if field == "name":
            name = " ".join((self.name.data or "").split())
            if not name:
                return _("Tell us what to call you: a first name or any name.")
            if len(name) > NAME_MAX:
                return _("A name has at most %(count)d characters.", count=NAME_MAX)
            return _("A name cannot contain control characters.")
        if field == "email":
            if not (self.email.data or "").strip() and not (self.phone.data or "").strip():
                return _("Give an email address or a phone number so we can answer.")
            return _("That is not an email address we can write to.")
        if field == "phone":
            return _(
                "That is not a phone number we can call back. Write it with its area code, "
                "or with + and the country code."
            )
        if field == "country":
            return _("Choose your country from the list.")
        if field == "city":
            if len(" ".join((self.city.data or "").split())) > CITY_MAX:
                return _("A city has at most %(count)d characters.", count=CITY_MAX)
            return _("A city cannot contain control characters.")
        if field == "language":
            return _("Choose a language from the list.")
        if field == "topic":
            return _("Choose what you would like help with from the list.")
        if field == "can_pay":
            return _("Choose what you can pay from the list.")
        return message_refusal(self.text.data or "")


def message_refusal(text: str) -> str:
    """Why a message was refused, in the page's language."""
    if len(text.replace("\r\n", "\n").strip()) > TEXT_MAX:
        return _("A message has at most %(count)s characters.", count=format_number(TEXT_MAX))
    if not text.strip():
        return _("Write your message.")
    return _("A message cannot contain control characters.")


class AnswerForm(FlaskForm):
    """The requester's answer in their request's thread."""

    body = TextAreaField(lazy_gettext("Your answer"))
    key = HiddenField(default=new_key, validators=[InputRequired(), Length(max=KEY_MAX)])


class EraseForm(FlaskForm):
    """The requester erases their request."""

    sure = BooleanField(lazy_gettext("I understand that this cannot be undone"))
    key = HiddenField(default=new_key, validators=[InputRequired(), Length(max=KEY_MAX)])


class OpenLinkForm(FlaskForm):
    """The button that uses a private link up on this device."""
