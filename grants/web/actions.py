"""How a view runs a domain operation and answers a refusal.

A view parses its form, calls one domain operation and commits once. A refusal is shown on
the form with a 4xx status; if it was recorded against the form's idempotency key it is
committed, so a resubmitted form gets the same answer, and the form is re-rendered with a
fresh key for the corrected request.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from flask_wtf import FlaskForm
from wtforms import Field, FieldList, HiddenField
from wtforms.validators import InputRequired, Length

from grants.domain.errors import (
    Conflict,
    DomainError,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidInput,
    InvalidState,
    NotAllowed,
    NotFound,
)
from grants.domain.idempotency import KEY_MAX
from grants.extensions import db

REFUSAL_STATUS: dict[type[DomainError], int] = {
    InvalidInput: 422,
    NotAllowed: 403,
    NotFound: 404,
    Conflict: 409,
    InvalidState: 409,
    InsufficientFunds: 409,
    IdempotencyConflict: 409,
}


def new_key() -> str:
    """A fresh idempotency key for a form about to be shown."""
    return secrets.token_urlsafe(18)


class PlainTextForm(FlaskForm):
    """A form none of whose fields may carry a NUL character, which PostgreSQL can neither
    store nor compare: the field that holds one says so, and the form is invalid."""

    def validate(self, extra_validators: Mapping[str, Sequence[Any]] | None = None) -> bool:
        valid: bool = super().validate(extra_validators)
        for field in self:
            if any("\x00" in str(value) for value in getattr(field, "raw_data", None) or ()):
                field.errors = [*field.errors, "This field cannot contain control characters."]
                valid = False
        return valid


class ActionForm(PlainTextForm):
    """A form whose submission changes something: it carries its idempotency key, so a
    double-click or a resubmitted page is answered with the first outcome.

    The key must come with the submission: a fresh one is only made for a form being shown.
    A submission without its key is refused, not given a new key, since a new key on every
    resubmission would let it post again."""

    key = HiddenField(default=new_key, validators=[InputRequired(), Length(max=KEY_MAX)])


def refusal_status(error: DomainError) -> int:
    """The HTTP status that answers ``error``."""
    for kind in type(error).__mro__:
        if kind in REFUSAL_STATUS:
            return REFUSAL_STATUS[kind]
    return 400


def settle(error: DomainError) -> int:
    """End the transaction after a refusal and return the status to answer with."""
    if error.recorded:
        db.session.commit()
    else:
        db.session.rollback()
    return refusal_status(error)


def show_refusal(
    form: FlaskForm, error: DomainError, fields: Mapping[str, str] | None = None
) -> int:
    """Settle ``error``, put its message on the field it concerns (or on the whole form)
    and give the form a fresh key; returns the status to answer with.

    ``fields`` maps the domain's name for a field to the form's, where they differ.
    """
    status = settle(error)
    field = getattr(error, "field", None)
    if field and fields:
        field = fields.get(field, field)
    target = getattr(form, field, None) if field else None
    if isinstance(target, Field) and not isinstance(target, FieldList) and field != "key":
        target.errors = [*target.errors, error.message]
    else:
        form.form_errors.append(error.message)
    if isinstance(form, ActionForm):
        form.key.data = new_key()
    return status
