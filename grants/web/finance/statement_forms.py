"""Finance's forms for bank statements and a fund's payment settings. They check shape only;
the domain checks meaning.

Neither form carries an idempotency key. A statement is its own key: the same file sent
twice is answered with :class:`~grants.domain.reconciliation.AlreadyImported` and changes
nothing. A fund's payment settings are a state, not a movement: saving the same settings
twice leaves them as they were.
"""

from __future__ import annotations

from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length

from grants.payments.bank_details import HOLDER_MAX
from grants.web.actions import PlainTextForm

STATEMENT_CURRENCIES = [
    SelectChoice("", "As the statement says"),
    SelectChoice("USD", "US dollars (USD)"),
    SelectChoice("GBP", "Pounds sterling (GBP)"),
]
"""The currencies a CSV statement without a currency column may be read in."""

SCHEMES = [
    SelectChoice("us", "US account: routing and account number"),
    SelectChoice("gb", "UK account: sort code and account number"),
    SelectChoice("iban", "IBAN, with the bank's BIC"),
]
"""The kinds of account a fund may pay from, as :mod:`grants.payments.bank_details` checks
them."""

ACCOUNT_TYPES = [SelectChoice("checking", "Checking"), SelectChoice("savings", "Savings")]

PRIVATE = {"autocomplete": "off"}
"""Account details are typed afresh, never offered from what the browser remembers."""
DIGITS = {"autocomplete": "off", "inputmode": "numeric"}

ACCOUNT_FIELDS = (
    "account_holder",
    "routing_number",
    "us_account_number",
    "sort_code",
    "gb_account_number",
    "iban",
    "bic",
)
"""The fields of a new payer account: all of them empty keeps the account held."""


class StatementForm(PlainTextForm):
    """A bank statement file (camt.053 XML or CSV) and the currency of a CSV that has no
    currency column."""

    file = FileField(
        "Statement file", validators=[FileRequired("Choose the bank statement's file.")]
    )
    currency = SelectField(
        "Currency of a CSV without a currency column", choices=STATEMENT_CURRENCIES
    )


class FundPaymentsForm(PlainTextForm):
    """A therapy fund's payment settings: the invoice rule, the account its providers are
    paid from (all account fields empty keeps the one held) and, for US funds, the ACH
    company details."""

    invoice_required = BooleanField("Approving a session needs the provider's invoice")
    scheme = SelectField("Kind of account", choices=SCHEMES)
    account_holder = StringField(
        "Account holder", validators=[Length(max=HOLDER_MAX)], render_kw=PRIVATE
    )
    routing_number = StringField("Routing number", validators=[Length(max=20)], render_kw=DIGITS)
    us_account_number = StringField("Account number", validators=[Length(max=30)], render_kw=DIGITS)
    account_type = SelectField("Account type", choices=ACCOUNT_TYPES)
    sort_code = StringField("Sort code", validators=[Length(max=20)], render_kw=DIGITS)
    gb_account_number = StringField("Account number", validators=[Length(max=20)], render_kw=DIGITS)
    iban = StringField("IBAN", validators=[Length(max=50)], render_kw=PRIVATE)
    bic = StringField("BIC", validators=[Length(max=20)], render_kw=PRIVATE)
    ach_company_id = StringField("ACH company identification", validators=[Length(max=20)])
    ach_bank_name = StringField("Bank's name in ACH files", validators=[Length(max=60)])

    def new_account_given(self) -> bool:
        """Whether any field of a new payer account was filled in."""
        return any((self[name].data or "").strip() for name in ACCOUNT_FIELDS)
