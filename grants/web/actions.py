"""How a view runs a domain operation and answers a refusal: the request boundary.

A state-changing view builds its form and hands one domain operation to :func:`submit` (a
form of fields) or :func:`confirm` (a button). They validate the form, run the operation as
one transaction through :func:`grants.unit_of_work.run` (which commits or rolls back, then
wakes what must follow a commit), and answer a refusal with the status of the one table
below. A refusal recorded against the form's idempotency key is committed, so a resubmitted
form gets the same answer, and the form is re-rendered with a fresh key for the corrected
request. :func:`attempt` is the step both share; :func:`read` answers a domain read that may
refuse (a report's parameters, a cohort's preview) and commits nothing. No view commits.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flask import abort
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
from grants.unit_of_work import run

T = TypeVar("T")

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


class ConfirmForm(ActionForm):
    """A button that changes something and needs nothing more: cancel, revoke, claim,
    submit, approve, close."""


def accepted(form: ActionForm) -> bool:
    """Whether a submitted ``form`` is valid. One without its CSRF token or its key was not
    sent by the page that shows it: 400, at once. Otherwise ``False`` leaves the form's
    errors for the view to show."""
    if form.validate_on_submit():
        return True
    if form.csrf_token.errors or form.key.errors:
        abort(400)
    return False


def refusal_status(error: DomainError) -> int:
    """The HTTP status that answers ``error``."""
    for kind in type(error).__mro__:
        if kind in REFUSAL_STATUS:
            return REFUSAL_STATUS[kind]
    return 400


def show_refusal(
    form: FlaskForm, error: DomainError, fields: Mapping[str, str] | None = None
) -> int:
    """Put ``error``'s message on the field it concerns (or on the whole form) and give the
    form a fresh key; returns the status to answer with.

    ``fields`` maps the domain's name for a field to the form's, where they differ.
    """
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
    return refusal_status(error)


@dataclass(frozen=True)
class Submission(Generic[T]):
    """What became of a form: not sent yet (200), sent but invalid (422), refused by the
    domain (the refusal's status, its message on the form), or done (``result`` committed)."""

    status: int = 200
    done: bool = False
    result: T | None = None
    refusal: DomainError | None = None


def submit(
    form: FlaskForm,
    operation: Callable[[], T],
    *,
    fields: Mapping[str, str] | None = None,
) -> Submission[T]:
    """Validate a submitted ``form``, then run ``operation`` as one committed transaction.

    A refusal is shown on the form (``fields`` maps the domain's field names to the
    form's). A view renders the form again unless the submission is ``done``."""
    if not form.is_submitted():
        return Submission()
    if not form.validate():
        return Submission(status=422)
    outcome = attempt(operation)
    if isinstance(outcome, DomainError):
        return Submission(status=show_refusal(form, outcome, fields), refusal=outcome)
    return Submission(done=True, result=outcome)


def confirm(operation: Callable[[str], T], form: ActionForm | None = None) -> T | DomainError:
    """A button press: its ``form`` (a :class:`ConfirmForm` unless given) must come valid,
    else 400; then ``operation(key)``, given the form's idempotency key, runs as one
    committed transaction. Returns what :func:`attempt` returns."""
    pressed = form or ConfirmForm()
    if not pressed.validate_on_submit():
        abort(400)
    key: str = pressed.key.data
    return attempt(lambda: operation(key))


def read(query: Callable[[], T]) -> T | DomainError:
    """Run a domain read that may refuse (a report's parameters, a cohort's preview): its
    result, or the refusal for the view to show. It writes nothing, so nothing is committed:
    the request's transaction stays as it was, with what it has loaded."""
    try:
        return query()
    except DomainError as error:
        return error


def attempt(operation: Callable[[], T]) -> T | DomainError:
    """Run ``operation`` as one committed transaction: its result, or the refusal (already
    settled) for the view to show; :func:`refusal_status` gives the status to answer with."""
    try:
        return run(operation)
    except DomainError as error:
        return error
