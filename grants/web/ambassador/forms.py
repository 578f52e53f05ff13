"""Forms of the people holding credit and of the claim page. They check shape only; the
domain checks meaning (amounts, dates, emails, passwords, providers, files)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pycountry
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    DateField,
    EmailField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length

from grants.domain.accounts import DISPLAY_NAME_MAX, EMAIL_MAX, PASSWORD_MAX
from grants.domain.providers import ProviderDetails
from grants.models import ProviderKind, Relation
from grants.web.actions import ActionForm
from grants.web.listing import whole_number

AMOUNT_MAX = 30
RELATIONS = [
    SelectChoice(Relation.BANDMATE.value, "Bandmate"),
    SelectChoice(Relation.CREW.value, "Crew member"),
    SelectChoice(Relation.OTHER.value, "Someone else I work with"),
]
PROVIDER_KINDS = [
    SelectChoice(ProviderKind.PERSON.value, "A therapist"),
    SelectChoice(ProviderKind.PRACTICE.value, "A practice or clinic"),
]
FIRST_COUNTRIES = ("US", "GB")
"""The countries the programme runs in, listed first."""
COUNTRY_NAMES = {
    country.alpha_2: getattr(country, "common_name", country.name)
    for country in pycountry.countries
}
COUNTRIES = [
    *(SelectChoice(code, COUNTRY_NAMES[code]) for code in FIRST_COUNTRIES),
    *sorted(
        (
            SelectChoice(code, name)
            for code, name in COUNTRY_NAMES.items()
            if code not in FIRST_COUNTRIES
        ),
        key=lambda choice: choice.label,
    ),
]
"""Every country a provider may practise in, by ISO 3166 code."""
HOME_COUNTRIES = {"USD": "US", "GBP": "GB"}
"""The country a proposal starts with, by the credit's currency."""
INVOICE_ACCEPT = ".pdf,.png,.jpg,.jpeg,application/pdf,image/png,image/jpeg"
"""What a browser's file chooser offers for an invoice: the domain checks the content."""
PROVIDER_FIELDS = {
    "kind": "provider_kind",
    "name": "provider_name",
    "practice": "provider_practice",
    "city": "provider_city",
    "country": "provider_country",
    "email": "provider_email",
    "licence_type": "provider_licence_type",
    "licence_number": "provider_licence_number",
}
"""The booking form's names for the fields the domain calls otherwise (a proposal's)."""
UPLOAD_FIELDS = {"file": "invoice"}
"""The invoice field, which the checks of any upload call ``file``."""
BOOKING_FIELDS = {**PROVIDER_FIELDS, **UPLOAD_FIELDS}
CHOOSE_ONE = (
    "Choose your provider from the list, or tell us about them under “My provider is not listed”."
)


class RedeemForm(ActionForm):
    """Credit for one therapy session: a verified provider chosen from a search (rendered
    as radio buttons by the page), or a provider who is not listed, proposed with what the
    person knows; and the invoice or receipt, if they have it."""

    provider_id = StringField("Your provider", validators=[Length(max=12)])
    provider_kind = RadioField(
        "They are", choices=PROVIDER_KINDS, default=ProviderKind.PERSON.value, validate_choice=False
    )
    provider_name = StringField("Name", validators=[Length(max=140)])
    provider_practice = StringField("Practice or clinic", validators=[Length(max=140)])
    provider_city = StringField("City", validators=[Length(max=100)])
    provider_country = SelectField("Country", choices=COUNTRIES, validate_choice=False)
    provider_email = EmailField("Their email", validators=[Length(max=EMAIL_MAX)])
    provider_licence_type = StringField("Licence type", validators=[Length(max=100)])
    provider_licence_number = StringField("Licence number", validators=[Length(max=60)])
    session_date = DateField("Session date", validators=[InputRequired()])
    amount = StringField(
        "Amount",
        validators=[DataRequired(), Length(max=AMOUNT_MAX)],
        render_kw={"inputmode": "decimal"},
    )
    invoice = FileField("Invoice or receipt (optional)", render_kw={"accept": INVOICE_ACCEPT})

    @property
    def proposing(self) -> bool:
        """Whether the person described a provider who is not listed."""
        typed = (
            self.provider_name,
            self.provider_practice,
            self.provider_city,
            self.provider_email,
            self.provider_licence_type,
            self.provider_licence_number,
        )
        return any((field.data or "").strip() for field in typed)

    @property
    def chosen_provider(self) -> int | None:
        """The id of the provider chosen from the list, if one was."""
        return whole_number((self.provider_id.data or "").strip())

    def proposal(self) -> ProviderDetails | None:
        """The provider described under "My provider is not listed", if one was."""
        if not self.proposing:
            return None
        return ProviderDetails(
            kind=self.provider_kind.data or ProviderKind.PERSON.value,
            name=self.provider_name.data or "",
            practice=self.provider_practice.data or "",
            city=self.provider_city.data or "",
            country=self.provider_country.data or "",
            email=self.provider_email.data or "",
            licence_type=self.provider_licence_type.data or "",
            licence_number=self.provider_licence_number.data or "",
        )

    def validate(self, extra_validators: Mapping[str, Sequence[Any]] | None = None) -> bool:
        """The fields, and one provider: chosen from the list or described, not both."""
        valid = super().validate(extra_validators)
        chosen = (self.provider_id.data or "").strip()
        problem = None
        if chosen and self.chosen_provider is None:
            problem = "Choose a provider from the list."
        elif chosen and self.proposing:
            problem = (
                "You chose a provider from the list and also described one who is not "
                "listed: keep one of them."
            )
        elif not chosen and not self.proposing:
            problem = CHOOSE_ONE
        if problem is not None:
            self.provider_id.errors = [*self.provider_id.errors, problem]
        return valid and problem is None


class InvoiceForm(ActionForm):
    """The provider's invoice or receipt for a session already requested."""

    invoice = FileField(
        "Invoice or receipt",
        validators=[FileRequired("Choose the invoice or receipt to upload.")],
        render_kw={"accept": INVOICE_ACCEPT},
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
