"""Forms of the people holding credit and of the claim page. They check shape only; the
domain checks meaning (amounts, dates, emails, passwords)."""

from __future__ import annotations

from wtforms import DateField, EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length

from grants.domain.accounts import DISPLAY_NAME_MAX, EMAIL_MAX, PASSWORD_MAX
from grants.models import Relation
from grants.web.actions import ActionForm

AMOUNT_MAX = 30
RELATIONS = [
    SelectChoice(Relation.BANDMATE.value, "Bandmate"),
    SelectChoice(Relation.CREW.value, "Crew member"),
    SelectChoice(Relation.OTHER.value, "Someone else I work with"),
]


class RedeemForm(ActionForm):
    """Credit for one therapy session."""

    provider_name = StringField(
        "Therapist or practice", validators=[DataRequired(), Length(max=200)]
    )
    session_date = DateField("Session date", validators=[InputRequired()])
    amount = StringField(
        "Amount",
        validators=[DataRequired(), Length(max=AMOUNT_MAX)],
        render_kw={"inputmode": "decimal"},
    )


class GiftForm(ActionForm):
    """Credit given to a bandmate or crew member, who claims it from an email."""

    recipient_name = StringField(
        "Their name", validators=[DataRequired(), Length(max=DISPLAY_NAME_MAX)]
    )
    recipient_email = EmailField("Their email", validators=[DataRequired(), Length(max=EMAIL_MAX)])
    relation = SelectField("They are your", choices=RELATIONS)
    amount = StringField(
        "Amount",
        validators=[DataRequired(), Length(max=AMOUNT_MAX)],
        render_kw={"inputmode": "decimal"},
    )
    message = TextAreaField("A message for them (optional)", validators=[Length(max=500)])


class ClaimForm(ActionForm):
    """A new recipient's name and password, chosen while claiming their first gift."""

    display_name = StringField(
        "Your name",
        validators=[DataRequired(), Length(max=DISPLAY_NAME_MAX)],
        render_kw={"autocomplete": "name"},
    )
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
