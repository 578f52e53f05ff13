"""Checks shared by the domain operations: the actor's role, free text, currencies."""

from __future__ import annotations

import unicodedata
from datetime import date
from decimal import Decimal

from grants.domain.dates import format_day
from grants.domain.errors import InvalidInput, NotAllowed
from grants.domain.money import (
    DEFAULT_LOCALE,
    Money,
    minor_digits,
    parse_money,
    require_positive,
)
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


Amount = Money | Decimal | str
"""An amount as an operation takes it: :class:`Money`, a ``Decimal`` in major units, or text
typed by a person (read in the caller's locale by :func:`parse_money`)."""


def same_currency(
    amount: Amount, currency: str, *, field: str = "amount", locale: str = DEFAULT_LOCALE
) -> int:
    """The minor units of ``amount`` in ``currency``, refusing an amount in another currency,
    zero, negative, out of range or with more decimals than the currency has.

    The operation passes its fund's or wallet's own currency, so a caller never loads a row
    just to learn which currency to read an amount in."""
    try:
        if isinstance(amount, str):
            return parse_money(amount, currency, locale).minor
        if isinstance(amount, Decimal):
            return _decimal_minor(amount, currency)
        if amount.currency != currency:
            raise InvalidInput(
                f"This is a {currency} account; the amount was given in {amount.currency}."
            )
        return require_positive(amount.minor)
    except InvalidInput as error:
        raise InvalidInput(error.message, field=field) from None


def read_amount(
    amount: Amount, currency: str | None, *, locale: str = DEFAULT_LOCALE, field: str = "amount"
) -> Amount:
    """``amount`` as :class:`Money` of ``currency`` (the operation's fund's or wallet's), read
    before the operation uses its idempotency key: a malformed amount is refused on its
    field and not recorded, and the key's request holds the amount itself, not how it was
    typed. Unchanged when ``currency`` is ``None`` (no such fund or wallet, which the
    operation then refuses)."""
    if currency is None:
        return amount
    return Money(same_currency(amount, currency, field=field, locale=locale), currency)


def amount_request(amount: Amount) -> dict[str, object]:
    """How ``amount`` enters an idempotency key's request: minor units and currency once it
    is read (:func:`read_amount`), else as given."""
    if isinstance(amount, Money):
        return {"amount": amount.minor, "currency": amount.currency}
    return {"amount": str(amount)}


def _decimal_minor(amount: Decimal, currency: str) -> int:
    digits = minor_digits(currency)
    exponent = amount.as_tuple().exponent
    if not amount.is_finite() or not isinstance(exponent, int):
        raise InvalidInput("Enter an amount in figures, such as 80 or 80.50.")
    minor = amount.scaleb(digits)
    if minor != minor.to_integral_value():
        raise InvalidInput(f"{currency} amounts have at most {digits} decimal places.")
    return require_positive(int(minor))


def within(
    day: date, start: date, end: date, *, field: str, label: str, locale: str = DEFAULT_LOCALE
) -> date:
    """``day`` if it falls between ``start`` and ``end`` inclusive, else :class:`InvalidInput`
    naming the two days as ``locale`` writes them."""
    if not start <= day <= end:
        raise InvalidInput(
            f"{label.capitalize()} must fall in the plan year, "
            f"{format_day(start, locale)} to {format_day(end, locale)}.",
            field=field,
        )
    return day
