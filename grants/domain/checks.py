"""Checks shared by the domain operations: the actor's role, free text, currencies."""

from __future__ import annotations

import unicodedata
from datetime import date

from grants.domain.errors import InvalidInput, NotAllowed
from grants.domain.money import Money, require_positive
from grants.models import Role, User

TEXT_MAX = 500
PAYMENT_REFERENCE_MAX = 100
"""The longest payment reference (the width of the columns that keep one)."""
MANAGERS = (Role.MANAGER, Role.ADMIN)


def require_role(actor: User, *roles: Role, doing: str) -> None:
    """Refuse with :class:`NotAllowed` unless ``actor`` holds one of ``roles``."""
    if not actor.has_role(*roles):
        raise NotAllowed(f"Your account cannot {doing}.")


def clean_text(raw: str, *, field: str, label: str, required: bool, limit: int = TEXT_MAX) -> str:
    """``raw`` trimmed, refusing it empty (when ``required``), overlong or with control
    characters other than newlines and tabs."""
    text = raw.strip()
    if required and not text:
        raise InvalidInput(f"Enter {label}.", field=field)
    if len(text) > limit:
        raise InvalidInput(f"{label.capitalize()} has at most {limit} characters.", field=field)
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text):
        raise InvalidInput(f"{label.capitalize()} cannot contain control characters.", field=field)
    return text


def clean_payment_reference(raw: str) -> str:
    """A bank payment reference as it is kept: runs of spaces made one, required, at most
    :data:`PAYMENT_REFERENCE_MAX` characters."""
    return clean_text(
        " ".join(raw.split()),
        field="payment_reference",
        label="a payment reference",
        required=True,
        limit=PAYMENT_REFERENCE_MAX,
    )


def same_currency(amount: Money, currency: str, *, field: str = "amount") -> int:
    """The minor units of ``amount``, refusing an amount in another currency, zero, negative
    or out of range."""
    if amount.currency != currency:
        raise InvalidInput(
            f"This is a {currency} account; the amount was given in {amount.currency}.",
            field=field,
        )
    try:
        return require_positive(amount.minor)
    except InvalidInput as error:
        raise InvalidInput(error.message, field=field) from None


def within(day: date, start: date, end: date, *, field: str, label: str) -> date:
    """``day`` if it falls between ``start`` and ``end`` inclusive, else :class:`InvalidInput`."""
    if not start <= day <= end:
        raise InvalidInput(
            f"{label.capitalize()} must fall in the plan year, {start} to {end}.", field=field
        )
    return day
