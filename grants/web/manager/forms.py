"""The managers' forms. They check shape only; the domain checks meaning."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from wtforms import (
    DateField,
    Field,
    FieldList,
    Form,
    FormField,
    HiddenField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, Optional, ValidationError

from grants.domain.account_tokens import time_zones
from grants.domain.allowances import COUNTRY_CURRENCY, currency_mismatch
from grants.domain.dates import zone_name
from grants.domain.errors import InvalidInput
from grants.domain.grants import Instalment, ReportDue
from grants.models import Country, FundKind, GrantCategory
from grants.web.actions import ActionForm, ConfirmForm
from grants.web.listing import record_id, whole_number

COUNTRIES = [SelectChoice("US", "United States"), SelectChoice("GB", "United Kingdom")]
CURRENCIES = [SelectChoice("USD", "US dollar (USD)"), SelectChoice("GBP", "Pound sterling (GBP)")]
TRANCHE_ROWS = 6
REPORT_ROWS = 4


class PartnerForm(ActionForm):
    """A partner's details."""

    legal_name = StringField("Legal name", validators=[DataRequired(), Length(max=200)])
    display_name = StringField("Display name", validators=[DataRequired(), Length(max=120)])
    country = SelectField("Country", choices=COUNTRIES)
    registration_number = StringField(
        "Registration number", validators=[DataRequired(), Length(max=40)]
    )
    contact_name = StringField("Contact name", validators=[Length(max=120)])
    contact_email = StringField("Contact email", validators=[Length(max=254)])
    website_url = StringField("Website", validators=[Length(max=500)])
    notes = TextAreaField("Notes", validators=[Length(max=5000)])


class FundForm(ActionForm):
    """A new fund and its opening budget."""

    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    kind = SelectField(
        "Kind", choices=[SelectChoice(k.value, k.value.capitalize()) for k in FundKind]
    )
    currency = SelectField("Currency", choices=CURRENCIES)
    plan_year_start = DateField("Plan year starts", validators=[DataRequired()])
    plan_year_end = DateField("Plan year ends (last day)", validators=[DataRequired()])
    time_zone = SelectField(
        "Time zone of the plan year",
        choices=[
            SelectChoice("", "By currency: New York for USD, London for GBP"),
            *(SelectChoice(zone, zone_name(zone)) for zone in sorted(time_zones())),
        ],
        default="",
        validate_choice=False,
    )
    budget = StringField("Budget", validators=[DataRequired(), Length(max=30)])


class BudgetForm(ActionForm):
    """Raise or lower a fund's budget, with a reason."""

    direction = SelectField(
        "Change", choices=[SelectChoice("raise", "Raise by"), SelectChoice("lower", "Lower by")]
    )
    amount = StringField("Amount", validators=[DataRequired(), Length(max=30)])
    reason = StringField("Reason", validators=[DataRequired(), Length(max=500)])


class TrancheRow(Form):
    """One line of a payment schedule; a blank line is ignored."""

    due_date = DateField("Due date", validators=[Optional()])
    amount = StringField("Amount", validators=[Length(max=30)])


class ReportRow(Form):
    """One reporting requirement; a blank line is ignored."""

    title = StringField("What the partner reports", validators=[Length(max=200)])
    due_date = DateField("Due date", validators=[Optional()])


def typed_tranches(rows: FieldList) -> list[Instalment]:
    """The tranches typed in ``rows`` (of :class:`TrancheRow`), blank lines left out and a
    half-filled one refused with its number; amounts stay as typed, for the domain to read
    in the fund's currency and the person's locale."""
    tranches = []
    for number, row in enumerate(rows, start=1):
        due, amount = row.due_date.data, (row.amount.data or "").strip()
        if due is None and not amount:
            continue
        if due is None or not amount:
            raise InvalidInput(
                f"Tranche {number}: give both a due date and an amount.", field="tranches"
            )
        tranches.append(Instalment(due, amount))
    return tranches


def typed_reports(rows: FieldList, *, what: str = "what is due") -> list[ReportDue]:
    """The reporting dates typed in ``rows`` (each with a ``title`` and a ``due_date``),
    blank lines left out and a half-filled one refused, asking for ``what`` and its date."""
    reports = []
    for number, row in enumerate(rows, start=1):
        title, due = (row.title.data or "").strip(), row.due_date.data
        if not title and due is None:
            continue
        if not title or due is None:
            raise InvalidInput(f"Report {number}: give both {what} and its date.", field="reports")
        reports.append(ReportDue(title, due))
    return reports


class GrantForm(ActionForm):
    """A grant draft with its payment schedule and reporting dates."""

    fund_id = SelectField("Fund", coerce=record_id, validate_choice=False)
    partner_id = SelectField("Partner", coerce=record_id, validate_choice=False)
    category = SelectField(
        "Category", choices=[SelectChoice(c.value, c.label) for c in GrantCategory]
    )
    purpose = TextAreaField("Purpose", validators=[DataRequired(), Length(max=2000)])
    amount = StringField("Amount", validators=[DataRequired(), Length(max=30)])
    tranches = FieldList(FormField(TrancheRow), min_entries=TRANCHE_ROWS, max_entries=TRANCHE_ROWS)
    reports = FieldList(FormField(ReportRow), min_entries=REPORT_ROWS, max_entries=REPORT_ROWS)


class ReasonForm(ActionForm):
    """A decision that needs a reason: rejecting or cancelling a grant."""

    reason = StringField("Reason", validators=[DataRequired(), Length(max=500)])


class PartnerStateForm(ConfirmForm):
    """Deactivate or reactivate a partner: the button says which, so a second press of
    the same button is the same request, not the opposite one."""

    active = HiddenField(validators=[AnyOf(["yes", "no"])])


CHOOSE_AMBASSADOR = "Choose an ambassador: find them by name or email."


def _ambassador_id(value: object) -> int | None:
    """The chosen ambassador's id as the form carries it: ``None`` when none came, refused
    (``ValueError``) when it is no plain number that fits a database integer."""
    if value is None or value == "":
        return None
    number = whole_number(str(value))
    if number is None:
        raise ValueError(CHOOSE_AMBASSADOR)
    return number


class AllowanceForm(ActionForm):
    """Therapy credit from one therapy fund for the ambassador a manager found by search,
    whose id the form carries hidden.

    The view tells it the currency of each fund it offers and the chosen ambassador's
    country, so that a fund in another currency than theirs is refused next to the fund
    field, before anything is tried or recorded."""

    ambassador_id = HiddenField(
        validators=[InputRequired(CHOOSE_AMBASSADOR)], filters=[_ambassador_id]
    )
    fund_id = SelectField("Therapy fund", coerce=record_id, validate_choice=False)
    amount = StringField("Amount", validators=[DataRequired(), Length(max=30)])

    fund_currencies: Mapping[int, str] = MappingProxyType({})
    """Each offered fund's currency, by id."""
    ambassador_country: Country | None = None
    """The chosen ambassador's country, when the form names one who exists."""

    def validate_fund_id(self, field: Field) -> None:
        """Refuse a fund that does not pay the chosen ambassador's country."""
        currency = self.fund_currencies.get(field.data)
        country = self.ambassador_country
        if currency is None or country is None:
            return
        mismatch = currency_mismatch(country, currency)
        if mismatch is None:
            return
        offered = COUNTRY_CURRENCY[country] in self.fund_currencies.values()
        raise ValidationError(
            f"{mismatch} "
            + (
                f"Choose one of the {paying(country)} funds."
                if offered
                else f"No {paying(country)} fund is open."
            )
        )


def paying(country: Country) -> str:
    """The name of the group of funds that pay ``country``'s ambassadors, such as
    "United States (USD)"."""
    return f"{country.label} ({COUNTRY_CURRENCY[country]})"


class CohortCriteria(Form):
    """Who a bulk allocation reaches and how much each gets; only previews, so read from the
    query string without a CSRF token."""

    fund_id = SelectField("Therapy fund", coerce=int, validate_choice=False)
    programme = SelectField("Programme", default="")
    country = SelectField(
        "Country", choices=[SelectChoice("", "Both countries"), *COUNTRIES], default=""
    )
    amount = StringField("Amount for each ambassador", validators=[DataRequired(), Length(max=30)])


class CohortAllocationForm(ActionForm):
    """The confirmation of a previewed bulk allocation: the criteria travel with its key."""

    CRITERIA = ("fund_id", "programme", "country", "amount")

    fund_id = HiddenField(validators=[DataRequired()])
    programme = HiddenField(validators=[Length(max=20)])
    country = HiddenField(validators=[Length(max=2)])
    amount = HiddenField(validators=[DataRequired(), Length(max=30)])
    cohort = HiddenField(validators=[DataRequired(), Length(max=64)])
    """Who the preview reached (:attr:`~grants.domain.allowances.CohortPreview.cohort`)."""
