"""Money: integer minor units of an ISO 4217 currency, parsed with Decimal, formatted with Babel."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from babel.numbers import format_currency, get_currency_precision, list_currencies

from grants.domain.errors import InvalidInput

MAX_MINOR_UNITS = 10**15
"""Amounts above this (ten trillion dollars) are refused as input errors."""

_KNOWN_CURRENCIES = frozenset(list_currencies())
_PLAIN_AMOUNT = re.compile(r"-?[0-9]+(\.[0-9]+)?")


@dataclass(frozen=True)
class Money:
    """An amount in minor units (cents, pence) of ``currency``."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        if type(self.minor) is not int:
            raise TypeError("money is an integer number of minor units")
        if self.currency not in _KNOWN_CURRENCIES or len(self.currency) != 3:
            raise InvalidInput(
                f"{self.currency!r} is not an ISO 4217 currency code.", field="currency"
            )


def minor_digits(currency: str) -> int:
    """How many decimals ``currency`` has: 2 for USD and GBP, 0 for JPY."""
    return get_currency_precision(currency)


def parse_money(text: str, currency: str) -> Money:
    """Read a positive amount typed by a person, refusing more decimals than the currency has."""
    cleaned = text.strip().replace(",", "")
    if not cleaned:
        raise InvalidInput("Enter an amount.", field="amount")
    if len(cleaned) > 24 or not _PLAIN_AMOUNT.fullmatch(cleaned):
        raise InvalidInput("Enter an amount in figures, such as 80 or 80.50.", field="amount")
    value = Decimal(cleaned)
    digits = minor_digits(currency)
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent < -digits:
        raise InvalidInput(
            f"{currency} amounts have at most {digits} decimal places.", field="amount"
        )
    minor = int(value.scaleb(digits))
    return Money(require_positive(minor), currency)


def require_positive(minor: int) -> int:
    """``minor`` if it is a positive amount within range, else :class:`InvalidInput`."""
    if type(minor) is not int:
        raise InvalidInput("An amount is a whole number of minor units.", field="amount")
    if minor <= 0:
        raise InvalidInput("Enter an amount greater than zero.", field="amount")
    if minor > MAX_MINOR_UNITS:
        raise InvalidInput("That amount is too large.", field="amount")
    return minor


def format_money(minor: int, currency: str, locale: str = "en_US") -> str:
    """``minor`` formatted for ``locale``, e.g. ``$1,234.50`` or ``£80.00``."""
    amount = Decimal(minor).scaleb(-minor_digits(currency))
    return format_currency(amount, currency, locale=locale)


def plain_amount(minor: int, currency: str) -> str:
    """``minor`` as a person would type it into a form: ``1234.50``, no symbol or grouping."""
    digits = minor_digits(currency)
    return f"{Decimal(minor).scaleb(-digits):.{digits}f}"
