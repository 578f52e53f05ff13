"""Finance's forms for the directory of therapy providers: a provider's details, their bank
details, and the buttons that verify, suspend and confirm. They check shape only; the domain
checks meaning (the country, the email, the routing number, the IBAN)."""

from __future__ import annotations

import pycountry
from wtforms import IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length
from wtforms.widgets import HiddenInput

from grants.domain.providers import ProviderDetails
from grants.models import Provider, ProviderKind
from grants.payments.bank_details import ACCOUNT_TYPES, HOLDER_MAX
from grants.web.actions import ActionForm


def _country_choices() -> list[SelectChoice]:
    """Every ISO 3166 country by the name people use, such as "Bolivia" rather than
    "Bolivia, Plurinational State of", its code after it."""
    named = (
        (getattr(country, "common_name", None) or country.name, country.alpha_2)
        for country in pycountry.countries
    )
    return [
        SelectChoice("", "Choose a country"),
        *(SelectChoice(code, f"{name} ({code})") for name, code in sorted(named)),
    ]


COUNTRIES = _country_choices()
KINDS = [
    SelectChoice(ProviderKind.PERSON.value, "A therapist"),
    SelectChoice(ProviderKind.PRACTICE.value, "A practice"),
]
SCHEMES = [
    SelectChoice("us", "US account (routing and account number)"),
    SelectChoice("gb", "UK account (sort code and account number)"),
    SelectChoice("iban", "IBAN, for an account abroad"),
]
ACCOUNT_TYPE_CHOICES = [
    SelectChoice("", "Choose…"),
    *(SelectChoice(kind, kind.capitalize()) for kind in ACCOUNT_TYPES),
]
GB_FIELDS = {"account_number": "gb_account_number"}
"""Where a refusal of a UK account lands: the UK account number has its own field."""


class VersionedForm(ActionForm):
    """A form that changes a provider: it carries the version of the provider it was opened
    on, so that one saved over someone else's change is refused."""

    version = IntegerField(widget=HiddenInput(), validators=[InputRequired()])


class ProviderForm(ActionForm):
    """A provider's details: who they are, their licence, where they practise."""

    kind = RadioField("The provider is", choices=KINDS, default=ProviderKind.PERSON.value)
    name = StringField("Name", validators=[Length(max=140)], render_kw={"autocomplete": "off"})
    practice = StringField("Practice", validators=[Length(max=140)])
    licence_type = StringField("Licence type", validators=[Length(max=100)])
    licence_number = StringField("Licence number", validators=[Length(max=60)])
    licence_issuer = StringField("Issued by", validators=[Length(max=100)])
    country = SelectField("Country", choices=COUNTRIES, validate_choice=False)
    address = StringField("Street address", validators=[Length(max=300)])
    city = StringField("City", validators=[Length(max=100)])
    region = StringField("State or region", validators=[Length(max=100)])
    postcode = StringField("ZIP or postcode", validators=[Length(max=20)])
    email = StringField(
        "Email", validators=[Length(max=254)], render_kw={"type": "email", "inputmode": "email"}
    )

    def details(self) -> ProviderDetails:
        """What was typed, for the domain to check."""
        return ProviderDetails(
            kind=self.kind.data or "",
            name=self.name.data or "",
            country=self.country.data or "",
            practice=self.practice.data or "",
            licence_type=self.licence_type.data or "",
            licence_number=self.licence_number.data or "",
            licence_issuer=self.licence_issuer.data or "",
            address=self.address.data or "",
            city=self.city.data or "",
            region=self.region.data or "",
            postcode=self.postcode.data or "",
            email=self.email.data or "",
        )


class ProviderEditForm(ProviderForm, VersionedForm):
    """A provider's details corrected, on the version they were opened on."""

    @classmethod
    def of(cls, provider: Provider) -> ProviderEditForm:
        """The form filled with ``provider``'s details (a submitted form keeps what was
        sent instead)."""
        return cls(
            kind=provider.kind.value,
            name=provider.name,
            practice=provider.practice,
            licence_type=provider.licence_type,
            licence_number=provider.licence_number,
            licence_issuer=provider.licence_issuer,
            country=provider.country,
            address=provider.address,
            city=provider.city,
            region=provider.region,
            postcode=provider.postcode,
            email=provider.email,
            version=provider.version,
        )


class BankDetailsForm(VersionedForm):
    """The account a provider is paid into, in one of three schemes; the fields of the other
    schemes are ignored."""

    scheme = RadioField("The account is", choices=SCHEMES, default="us")
    account_holder = StringField(
        "Account holder", validators=[Length(max=HOLDER_MAX)], render_kw={"autocomplete": "off"}
    )
    routing_number = StringField(
        "Routing number",
        validators=[Length(max=40)],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    account_number = StringField(
        "Account number",
        validators=[Length(max=40)],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    account_type = SelectField("Account type", choices=ACCOUNT_TYPE_CHOICES, validate_choice=False)
    sort_code = StringField(
        "Sort code",
        validators=[Length(max=20)],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    gb_account_number = StringField(
        "Account number",
        validators=[Length(max=20)],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    iban = StringField("IBAN", validators=[Length(max=60)], render_kw={"autocomplete": "off"})
    bic = StringField(
        "BIC (SWIFT code)", validators=[Length(max=20)], render_kw={"autocomplete": "off"}
    )

    def refusal_fields(self) -> dict[str, str]:
        """The domain's field names mapped to this form's, for the chosen scheme."""
        return GB_FIELDS if self.scheme.data == "gb" else {}


class SuspendForm(ActionForm):
    """Suspend a provider, with the reason finance keeps."""

    reason = TextAreaField("Why suspend them", validators=[Length(max=500)])
