"""The finance team's forms."""

from __future__ import annotations

from wtforms import DateField, StringField
from wtforms.validators import DataRequired, Length

from grants.web.actions import ActionForm


class PaymentForm(ActionForm):
    """A payment made outside the system: its reference and the day it was made."""

    payment_reference = StringField(
        "Payment reference", validators=[DataRequired(), Length(max=100)]
    )
    paid_on = DateField("Paid on", validators=[DataRequired()])
