"""The finance team's forms. They check shape only; the domain checks meaning."""

from __future__ import annotations

from wtforms import DateField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from grants.domain.checks import PAYMENT_REFERENCE_MAX
from grants.web.actions import ActionForm
from grants.web.listing import record_id


class PaymentForm(ActionForm):
    """A payment made outside the system: its reference and the day it was made."""

    payment_reference = StringField(
        "Payment reference", validators=[DataRequired(), Length(max=PAYMENT_REFERENCE_MAX)]
    )
    paid_on = DateField("Paid on", validators=[DataRequired()])


class ApprovalForm(ActionForm):
    """Approve a redemption's payout: a button and its key, and, where the fund asks for
    the provider's invoice and the session has none, why finance approves without one."""

    invoice_waiver = TextAreaField(
        "Approve without an invoice because…", validators=[Length(max=500)]
    )


class RejectionForm(ActionForm):
    """Reject a redemption's payout with the reason its redeemer will read."""

    reason = TextAreaField("Reason for rejecting", validators=[Length(max=500)])


class PayoutBatchForm(ActionForm):
    """Approved redemptions to mark paid together, and the reference of the payment."""

    redemption_ids = SelectMultipleField("Redemptions", coerce=record_id, validate_choice=False)
    payment_reference = StringField(
        "Payment reference", validators=[Length(max=PAYMENT_REFERENCE_MAX)]
    )
