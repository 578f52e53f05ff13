"""Reading a typed amount: grouping is accepted only where it is well formed for the writer's
locale, everything else is refused with a message showing the accepted form, and whatever
Babel writes in en_US or en_GB reads back to the same minor units."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from babel.numbers import format_currency, format_decimal
from hypothesis import example, given, settings
from hypothesis import strategies as st

from grants.domain.errors import InvalidInput
from grants.domain.money import (
    MAX_MINOR_UNITS,
    Money,
    amount_example,
    format_money,
    minor_digits,
    parse_money,
)

LOCALES = ("en_US", "en_GB")
CURRENCIES = ("USD", "GBP", "JPY")
WELL_FORMED = re.compile(r"-?([1-9][0-9]{0,2}(,[0-9]{3})+|[0-9]+)(\.[0-9]+)?")
"""What en_US and en_GB write: digits, grouped by three from the right or not at all, then
optionally a decimal point and digits."""


def as_decimal(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-minor_digits(currency))


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(
    "text",
    [
        "1,00",
        "1,2,3",
        ",5",
        "1,,000",
        "1000,00",
        "1,000,00",
        "12,34,567",
        "1,0000",
        "01,000",
        "0,001",
        "1,000.",
        "1,",
        "1,000,",
        "1,000.5,0",
        "1.000,00",
        "1.2.3",
        ".5",
        "5.",
    ],
)
def test_a_malformed_grouping_is_refused_with_the_accepted_form(text: str, locale: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_money(text, "USD", locale)
    assert refused.value.message == "Write the amount like 1,250.00 or 1250.00."
    assert refused.value.field == "amount"


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(
    ("text", "minor"),
    [
        ("1,250.00", 125_000),
        ("1250.00", 125_000),
        ("1,250", 125_000),
        ("1,234,567.5", 123_456_750),
        ("  80.50 ", 8_050),
        ("0.01", 1),
        ("007", 700),
        ("10,000,000,000,000", MAX_MINOR_UNITS),
    ],
)
def test_well_formed_amounts_read_as_written(text: str, minor: int, locale: str) -> None:
    assert parse_money(text, "USD", locale) == Money(minor, "USD")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", "greater than zero"),
        ("0,000", "like 1,250.00"),
        ("-5", "greater than zero"),
        ("-1,000", "greater than zero"),
        ("+5", "in figures"),
        ("1e3", "in figures"),
        ("1E3", "in figures"),
        ("NaN", "in figures"),
        ("Infinity", "in figures"),
        ("1_000", "in figures"),
        ("\uff11\uff12", "in figures"),
        ("١٢", "in figures"),
        ("1 000", "in figures"),
        ("1\u00a0000", "in figures"),
        ("$5", "in figures"),
        ("1" * 31, "in figures"),
        ("12.345", "at most 2 decimal places"),
        ("1,234.567", "at most 2 decimal places"),
        ("10,000,000,000,000.01", "too large"),
        ("   ", "Enter an amount"),
    ],
)
def test_the_other_rules_still_hold(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_money(text, "USD", "en_GB")


def test_the_accepted_form_follows_the_currency() -> None:
    assert amount_example("USD") == "1,250.00"
    assert amount_example("JPY", "en_GB") == "1,250"
    with pytest.raises(InvalidInput, match=r"^Write the amount like 1,250 or 1250\.$"):
        parse_money("1,25", "JPY", "en_GB")
    with pytest.raises(InvalidInput, match="at most 0 decimal places"):
        parse_money("1,250.5", "JPY", "en_GB")
    assert parse_money("1,250", "JPY", "en_GB") == Money(1_250, "JPY")


def test_the_locale_decides_the_separators() -> None:
    assert parse_money("1.250,50", "EUR", "de_DE") == Money(125_050, "EUR")
    with pytest.raises(InvalidInput, match=r"like 1\.250,00 or 1250,00"):
        parse_money("1,250.50", "EUR", "de_DE")


def test_an_unknown_locale_reads_as_en_us() -> None:
    assert parse_money("1,250.50", "USD", "xx_NOWHERE") == Money(125_050, "USD")
    assert parse_money("1,250.50", "USD", "") == Money(125_050, "USD")


@settings(max_examples=300, deadline=None)
@given(
    minor=st.integers(min_value=1, max_value=MAX_MINOR_UNITS),
    currency=st.sampled_from(CURRENCIES),
    locale=st.sampled_from(LOCALES),
)
@example(minor=MAX_MINOR_UNITS, currency="USD", locale="en_GB")
@example(minor=1, currency="GBP", locale="en_GB")
@example(minor=100_000, currency="USD", locale="en_US")
def test_every_amount_babel_writes_reads_back_to_the_same_minor_units(
    minor: int, currency: str, locale: str
) -> None:
    amount = as_decimal(minor, currency)
    written = {
        format_decimal(amount, locale=locale, decimal_quantization=False),
        format_currency(amount, currency, format="#,##0", locale=locale, currency_digits=True),
        format_decimal(amount, locale=locale, group_separator=False, decimal_quantization=False),
    }
    for text in written:
        assert parse_money(text, currency, locale) == Money(minor, currency), text


@settings(max_examples=1_000, deadline=None)
@given(
    text=st.text(alphabet="0123456789,.", min_size=1, max_size=12),
    locale=st.sampled_from(LOCALES),
)
@example(text="1,00", locale="en_GB")
@example(text="1,2,3", locale="en_US")
@example(text=",5", locale="en_GB")
@example(text="1,,000", locale="en_US")
@example(text="1000,00", locale="en_GB")
def test_digits_and_separators_are_read_only_when_well_formed(text: str, locale: str) -> None:
    """An amount of digits, commas and points is read exactly when it is grouped as en_US and
    en_GB write it, and then means what its digits say: never a comma dropped."""
    if not any(character.isdigit() for character in text):
        expected = "Enter an amount in figures, such as 80 or 80.50."
    elif not WELL_FORMED.fullmatch(text):
        expected = "Write the amount like 1,250.00 or 1250.00."
    else:
        value = Decimal(text.replace(",", ""))
        decimals = -int(value.as_tuple().exponent)
        if decimals <= 2 and value > 0:
            read = parse_money(text, "USD", locale)
            assert Decimal(read.minor).scaleb(-2) == value
            return
        expected = "at most 2 decimal" if decimals > 2 else "Enter an amount greater than zero."
    with pytest.raises(InvalidInput, match=re.escape(expected)):
        parse_money(text, "USD", locale)


def babel_writes(minor: int, currency: str, locale: str) -> str:
    """``minor`` as Babel's own ``format_currency`` writes it."""
    return format_currency(as_decimal(minor, currency), currency, locale=locale)


@settings(max_examples=2_000, deadline=None)
@given(
    minor=st.integers(min_value=-MAX_MINOR_UNITS, max_value=MAX_MINOR_UNITS),
    currency=st.sampled_from(CURRENCIES),
    locale=st.sampled_from((*LOCALES, "de_DE", "fr_FR", "hi_IN")),
)
@example(minor=0, currency="USD", locale="en_US")
@example(minor=-1, currency="GBP", locale="en_GB")
@example(minor=99_999, currency="USD", locale="en_US")
@example(minor=100_000, currency="USD", locale="en_US")
@example(minor=MAX_MINOR_UNITS, currency="JPY", locale="en_GB")
@example(minor=1_234_567, currency="GBP", locale="hi_IN")
def test_amounts_are_written_exactly_as_babel_writes_them(
    minor: int, currency: str, locale: str
) -> None:
    """The money writer reads a locale's pattern once and writes the digits itself; what it
    writes is Babel's, character for character, grouping and negatives included."""
    assert format_money(minor, currency, locale) == babel_writes(minor, currency, locale)


def test_a_locale_whose_pattern_the_writer_does_not_follow_is_written_by_babel() -> None:
    """Babel writes a negative amount in de_CH with the minus after the symbol and without
    grouping (``CHF-1234567.89``, against ``CHF 12'345.67``): the writer's own check fails,
    and Babel writes every amount."""
    for minor in (5, -5, 123_456, -123_456_789):
        assert format_money(minor, "CHF", "de_CH") == babel_writes(minor, "CHF", "de_CH")
