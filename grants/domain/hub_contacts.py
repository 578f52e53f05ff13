"""The values the hub checks before it stores them: phone numbers, web links and countries.

A phone number is parsed with ``phonenumbers`` and kept in E.164, or, for a number that can
only be dialled within its country, as its digits there (a short code such as ``988`` or
``116 123``); a number that parses as neither is refused. Links are ``https:`` only.
Countries are ISO 3166-1 alpha-2 codes (pycountry).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
import pycountry
from phonenumbers import shortnumberinfo

from grants.domain.errors import InvalidInput

PHONE_KINDS = ("voice", "text")
"""A phone to call, or a number to text."""


@dataclass(frozen=True)
class Phone:
    """A number to call or text: E.164 (``+442071234567``), or, for a number that can only be
    dialled within its country, its digits as dialled there (``988`` in the US, ``116123``
    in the UK, ``131114`` in Australia)."""

    number: str
    country: str
    short: bool = False
    kind: str = "voice"
    description: str = ""
    written: str = ""
    """A short code as the source writes it, spaces kept (``116 123``); empty otherwise."""

    @property
    def uri(self) -> str:
        """The ``tel:`` (or ``sms:``) link that dials it."""
        return f"{'sms' if self.kind == 'text' else 'tel'}:{self.number}"

    @property
    def shown(self) -> str:
        """The number as people in its country write it: ``020 7123 4567``, ``13 11 14``,
        ``988``."""
        if self.short:
            parsed = phonenumbers.parse(self.number, self.country)
            if phonenumbers.is_valid_number(parsed):
                return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
            return self.written or self.number
        parsed = phonenumbers.parse(self.number)
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)

    @property
    def international(self) -> str:
        """The number as dialled from abroad: ``+44 20 7123 4567`` (a short code as is)."""
        if self.short:
            return self.number
        parsed = phonenumbers.parse(self.number)
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)

    def stored(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "country": self.country,
            "short": self.short,
            "kind": self.kind,
            "description": self.description,
            **({"written": self.written} if self.written else {}),
        }

    @classmethod
    def of(cls, stored: Mapping[str, Any]) -> Phone:
        return cls(
            number=str(stored["number"]),
            country=str(stored["country"]),
            short=bool(stored.get("short", False)),
            kind=str(stored.get("kind", "voice")),
            description=str(stored.get("description", "")),
            written=str(stored.get("written", "")),
        )


def read_phone(text: str, country: str, *, kind: str = "voice", description: str = "") -> Phone:
    """``text`` as a :class:`Phone` of ``country``: a full number valid there (or written
    with ``+`` and its country code), else a short code valid there. :class:`InvalidInput`
    when it is neither: a number that does not parse is never stored."""
    written = text.strip()
    region = country_code(country)
    if kind not in PHONE_KINDS:
        raise InvalidInput("A phone is to call or to text.", field="phones")
    try:
        parsed = phonenumbers.parse(written, region)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is not None and phonenumbers.is_valid_number(parsed):
        if not phonenumbers.can_be_internationally_dialled(parsed):
            national = str(parsed.national_number)
            return Phone(national, region, short=True, kind=kind, description=description.strip())
        return Phone(
            phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
            region,
            kind=kind,
            description=description.strip(),
        )
    digits = re.sub(r"[\s\-().]", "", written)
    if _short_number(digits, region):
        spaced = " ".join(written.split())
        return Phone(
            digits,
            region,
            short=True,
            kind=kind,
            description=description.strip(),
            written=spaced if spaced != digits and re.fullmatch(r"[\d ]+", spaced) else "",
        )
    raise InvalidInput(
        f"“{written[:40]}” is not a phone number in {country_name(region)}. Write it as "
        "people there dial it, or with + and the country code.",
        field="phones",
    )


def _short_number(digits: str, region: str) -> bool:
    """Whether ``digits`` (ASCII digits only, at most :data:`SHORT_MAX` of them) is a short
    number valid in ``region``, such as ``988`` or ``116123``."""
    if not (digits.isascii() and digits.isdigit()) or len(digits) > SHORT_MAX:
        return False
    try:
        parsed = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        return False
    return bool(shortnumberinfo.is_valid_short_number_for_region(parsed, region))


SHORT_MAX = 8
"""The most digits a short number has (emergency and helpline codes have 3 to 6)."""


def https_link(text: str, *, field_name: str) -> str:
    """``text`` as a web address the hub links to: ``https:`` with a host, or empty."""
    written = text.strip()
    if not written:
        return ""
    parts = urlsplit(written)
    if parts.scheme != "https" or not parts.hostname or any(c.isspace() for c in written):
        raise InvalidInput("Links must be web addresses starting with https://.", field=field_name)
    return written


@lru_cache(maxsize=1)
def time_zones() -> frozenset[str]:
    """Every IANA time zone name (read once: listing them walks the zone files, ~0.1 s)."""
    return frozenset(zoneinfo.available_timezones())


@lru_cache(maxsize=1)
def country_codes() -> frozenset[str]:
    """Every ISO 3166-1 alpha-2 code."""
    return frozenset(country.alpha_2 for country in pycountry.countries)


def country_code(text: str) -> str:
    """``text`` as an ISO 3166-1 alpha-2 code, or :class:`InvalidInput`."""
    code = text.strip().upper()
    if code not in country_codes():
        raise InvalidInput(f"“{text[:8]}” is not a country code.", field="countries")
    return code


def country_name(code: str) -> str:
    """A country's English name: ``United Kingdom`` for ``GB``."""
    found = pycountry.countries.get(alpha_2=code)
    return found.name if found is not None else code
