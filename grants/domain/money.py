"""Money: integer minor units of an ISO 4217 currency, parsed with Decimal, formatted with Babel."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache, lru_cache

from babel import Locale, UnknownLocaleError
from babel.numbers import (
    NumberFormatError,
    format_currency,
    get_currency_precision,
    get_currency_symbol,
    get_decimal_symbol,
    get_group_symbol,
    list_currencies,
    parse_decimal,
)

from grants.domain.errors import InvalidInput

MAX_MINOR_UNITS = 10**15
"""Amounts above this (ten trillion dollars) are refused as input errors."""
MAX_AMOUNT_LENGTH = 30
"""The longest amount a person may type, grouping included (the forms allow as much)."""
DEFAULT_LOCALE = "en_US"
"""The locale amounts are read and written in for anyone without one of their own."""
EXAMPLE_AMOUNT = Decimal(1250)
"""The amount a refusal writes out to show how an amount is typed."""

_KNOWN_CURRENCIES = frozenset(list_currencies())


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


def parse_money(text: str, currency: str, locale: str = DEFAULT_LOCALE) -> Money:
    """Read a positive amount typed by a person in ``locale``, refusing more decimals than
    the currency has.

    Digits may be grouped by thousands as ``locale`` writes them (``1,250.00`` in en_US and
    en_GB) or not at all (``1250.00``); a group separator anywhere else (``1,00``,
    ``1,2,3``, ``,5``) is refused rather than guessed at. Only ASCII digits, the locale's
    separators and a leading minus (refused as not positive) are read: no exponent, plus
    sign, NaN, infinity, underscores or other scripts' digits.
    """
    cleaned = text.strip()
    if not cleaned:
        raise InvalidInput("Enter an amount.", field="amount")
    place = _locale(locale)
    figures_only = "Enter an amount in figures, such as 80 or 80.50."
    if len(cleaned) > MAX_AMOUNT_LENGTH:
        raise InvalidInput(figures_only, field="amount")
    if not _amount_shape(place).fullmatch(cleaned):
        if _separators_only(place).fullmatch(cleaned):
            raise InvalidInput(_example(currency, place), field="amount")
        raise InvalidInput(figures_only, field="amount")
    try:
        value = parse_decimal(cleaned, locale=place, strict=True)
    except NumberFormatError:
        raise InvalidInput(_example(currency, place), field="amount") from None
    digits = minor_digits(currency)
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int) or not value.is_finite():
        raise InvalidInput(figures_only, field="amount")
    if exponent < -digits:
        raise InvalidInput(
            f"{currency} amounts have at most {digits} decimal places.", field="amount"
        )
    minor = int(value.scaleb(digits))
    return Money(require_positive(minor), currency)


def amount_example(currency: str, locale: str = DEFAULT_LOCALE, *, grouped: bool = True) -> str:
    """How an amount of ``currency`` is typed in ``locale``: ``1,250.00`` (``1250.00`` not
    ``grouped``), or ``1,250`` for a currency without decimals."""
    return format_currency(
        EXAMPLE_AMOUNT,
        currency,
        format="#,##0" if grouped else "0",
        locale=_locale(locale),
        currency_digits=True,
    )


def _example(currency: str, locale: str) -> str:
    grouped, plain = (
        amount_example(currency, locale),
        amount_example(currency, locale, grouped=False),
    )
    return f"Write the amount like {grouped} or {plain}."


@lru_cache(maxsize=64)
def _locale(locale: str) -> str:
    """``locale`` if Babel knows it, else :data:`DEFAULT_LOCALE`."""
    try:
        return str(Locale.parse(locale))
    except (ValueError, TypeError, UnknownLocaleError):
        return DEFAULT_LOCALE


@cache
def _amount_shape(locale: str) -> re.Pattern[str]:
    """ASCII digits, then digits or ``locale``'s group separators, then optionally its
    decimal separator and more digits; a leading minus is let through to be refused as
    not positive. Whether the groups are well formed is Babel's strict parsing's call."""
    group, decimal = (re.escape(get_group_symbol(locale)), re.escape(get_decimal_symbol(locale)))
    return re.compile(rf"-?[0-9][0-9{group}]*(?:{decimal}[0-9]+)?")


@cache
def _separators_only(locale: str) -> re.Pattern[str]:
    """Digits and ``locale``'s separators in any order: an amount misplacing them."""
    group, decimal = (re.escape(get_group_symbol(locale)), re.escape(get_decimal_symbol(locale)))
    return re.compile(rf"[0-9{group}{decimal}]*[0-9][0-9{group}{decimal}]*")


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
    """``minor`` formatted for ``locale``, e.g. ``$1,234.50`` or ``£80.00``, as Babel's
    ``format_currency`` writes it."""
    return _money_writer(currency, locale)(minor)


def _babel_money(minor: int, currency: str, locale: str) -> str:
    """``minor`` formatted by Babel itself."""
    amount = Decimal(minor).scaleb(-minor_digits(currency))
    return format_currency(amount, currency, locale=locale)


WRITER_CHECKS = (0, 1, 7, 99, 100, 1_234, 12_345, 123_456, 1_234_567, 123_456_789, 10**15)
"""Amounts (and their negatives) a fast money writer must write exactly as Babel does."""


@lru_cache(maxsize=256)
def _money_writer(currency: str, locale: str) -> Callable[[int], str]:
    """A function writing minor units of ``currency`` in ``locale``.

    A page shows dozens of amounts, and Babel looks up the locale's data for each one; this
    reads the pattern, symbol and separators once per currency and locale and writes the
    digits itself. It is used only if it writes :data:`WRITER_CHECKS` exactly as Babel
    does, once scaled to the currency's minor units; a locale whose pattern it does not
    follow (another numbering system, a minimum grouping) is written by Babel every time.
    """
    parsed = Locale.parse(locale)
    pattern = parsed.currency_formats["standard"]
    digits = minor_digits(currency)
    scale = 10**digits
    symbol = get_currency_symbol(currency, parsed)
    group, decimal = get_group_symbol(parsed), get_decimal_symbol(parsed)
    primary, secondary = pattern.grouping
    prefixes = tuple(prefix.replace("¤", symbol) for prefix in pattern.prefix)
    suffixes = tuple(suffix.replace("¤", symbol) for suffix in pattern.suffix)

    def write(minor: int) -> str:
        whole, fraction = divmod(abs(minor), scale)
        figures = str(whole)
        if len(figures) > primary:
            head, groups = figures[:-primary], [figures[-primary:]]
            while len(head) > secondary:
                head, groups = head[:-secondary], [head[-secondary:], *groups]
            figures = group.join([head, *groups])
        if digits:
            figures = f"{figures}{decimal}{fraction:0{digits}d}"
        negative = minor < 0
        return f"{prefixes[negative]}{figures}{suffixes[negative]}"

    checks = [sign * amount for amount in WRITER_CHECKS for sign in (1, -1)]
    if all(write(minor) == _babel_money(minor, currency, locale) for minor in checks):
        return write
    return lambda minor: _babel_money(minor, currency, locale)


def plain_amount(minor: int, currency: str) -> str:
    """``minor`` as a person would type it into a form: ``1234.50``, no symbol or grouping."""
    digits = minor_digits(currency)
    return f"{Decimal(minor).scaleb(-digits):.{digits}f}"
