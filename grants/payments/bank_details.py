"""Checking a provider's bank details as a person types them, and their stored form.

Three schemes are taken: a US account (ABA routing number, checked with ``stdnum.us.rtn``, and
account number), a UK account (sort code and account number), and an IBAN with an optional BIC
(checked with ``schwifty``, including the national check digits inside the IBAN where schwifty
knows how to verify them). UK sort codes and account numbers are checked for their form only:
no maintained Python library implements Vocalink's modulus checking, so a mistyped UK account
number that has the right number of digits is not caught here.

Spaces and dashes that people type are dropped, and each refusal is an :class:`InvalidInput`
naming the form field and saying what is expected. A :class:`BankDetails` is plain data: the
caller encrypts :meth:`BankDetails.to_json` (:mod:`grants.data_key`) and keeps
:meth:`BankDetails.masked` for lists.
"""

from __future__ import annotations

import json
import re
import unicodedata
import warnings
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, get_args

import pycountry
from schwifty import BIC, IBAN, registry
from schwifty.exceptions import (
    InvalidBBANChecksum,
    InvalidChecksumDigits,
    InvalidCountryCode,
    InvalidLength,
    InvalidStructure,
    NationalChecksumNotVerified,
    SchwiftyException,
)
from stdnum import exceptions as stdnum_errors
from stdnum.us import rtn

from grants.domain.errors import InvalidInput

Scheme = Literal["us", "gb", "iban"]
"""How an account is identified: US routing and account number, UK sort code and account
number, or an IBAN (with the bank's BIC when it is known)."""

ACCOUNT_TYPES = ("checking", "savings")
"""The kinds of US account an ACH credit can reach."""

HOLDER_MAX = 140
"""The longest account holder's name kept (ISO 20022's ``Max140Text``)."""
US_ACCOUNT_DIGITS = (4, 17)
"""Shortest and longest US account number: NACHA's DFI account number field is 17 wide."""
GB_ACCOUNT_DIGITS = (6, 8)
"""Shortest and longest UK account number typed. UK account numbers are eight digits; a few
banks issue six or seven, which Bacs takes as eight with zeros added in front."""
SHOWN_CHARACTERS = 4
"""How many trailing characters of an account number or IBAN :meth:`BankDetails.masked` shows."""
HIDDEN = "····"

BANKING_HOME = {
    **dict.fromkeys(("GF", "GP", "MQ", "RE", "PF", "TF", "YT", "NC", "BL", "MF", "PM", "WF"), "FR"),
    **dict.fromkeys(("JE", "GG", "IM"), "GB"),
    "AX": "FI",
}
"""Territories that bank in another country's system, so that their BICs and IBANs may name
either: the French overseas territories (France), the Crown Dependencies (the United Kingdom)
and Åland (Finland). A BIC and an IBAN agree when their countries have the same home."""

_DASHES = dict.fromkeys(map(ord, "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212"))
_DIGITS = re.compile(r"[0-9]+")
_LETTERS_AND_DIGITS = re.compile(r"[A-Z0-9]+")
_NUMBER_WORDS = (
    "none",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
)


@dataclass(frozen=True, slots=True)
class BankDetails:
    """A payee's account as checked by :func:`check_us`, :func:`check_gb` or
    :func:`check_international`; the fields another scheme uses stay empty.

    Build one with those functions or :meth:`from_json`, never from raw input: the constructor
    itself checks nothing.
    """

    scheme: Scheme
    account_holder: str
    routing_number: str = ""
    """US: the bank's nine-digit ABA routing number."""
    account_number: str = ""
    """US: 4 to 17 digits; UK: eight digits."""
    account_type: str = ""
    """US: ``checking`` or ``savings``."""
    sort_code: str = ""
    """UK: six digits, without dashes."""
    iban: str = ""
    """The IBAN in compact upper case, without spaces."""
    bic: str = ""
    """The bank's BIC (8 or 11 characters), or empty when not given."""

    def masked(self) -> str:
        """The account as lists show it, hiding all but :meth:`last_four`.

        The routing number and sort code are shown in full: they name the bank and branch,
        are printed on every cheque and in public directories, and are what a person needs
        to see to recognise the bank. An IBAN keeps its country and check digits in front
        (``IBAN DE89 ···· 3000``): the country tells finance at a glance where the money
        goes, and two check digits alone lead nowhere.
        """
        if self.scheme == "us":
            kind = self.account_type.capitalize()
            return f"Routing {self.routing_number} · {kind} {HIDDEN}{self.last_four()}"
        if self.scheme == "gb":
            return f"Sort code {format_sort_code(self.sort_code)} · {HIDDEN}{self.last_four()}"
        return f"IBAN {self.iban[:4]} {HIDDEN} {self.last_four()}"

    def last_four(self) -> str:
        """The trailing characters of the account number (or the IBAN) that may be shown:
        the last four, but never more than half of a short US account number, so that no
        part of the page ever shows a whole one."""
        secret = self.iban if self.scheme == "iban" else self.account_number
        return secret[-min(SHOWN_CHARACTERS, len(secret) // 2) :] if secret else ""

    def to_json(self) -> str:
        """Every field as canonical JSON (sorted keys, no spaces, ASCII), for encryption."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> BankDetails:
        """The details :meth:`to_json` gave.

        Raises :class:`ValueError` when ``text`` is not such a JSON object (the message never
        repeats the text, which holds an account number).
        """
        try:
            data: Any = json.loads(text)
        except ValueError:
            raise ValueError("Stored bank details are not JSON.") from None
        names = {field.name for field in fields(cls)}
        if not isinstance(data, dict) or set(data) != names:
            raise ValueError(
                "Stored bank details do not have the expected fields: " + ", ".join(sorted(names))
            )
        if not all(isinstance(value, str) for value in data.values()):
            raise ValueError("Stored bank details hold a value that is not text.")
        if data["scheme"] not in get_args(Scheme):
            raise ValueError("Stored bank details name an unknown scheme.")
        return cls(**data)


def check_us(
    *, account_holder: str, routing_number: str, account_number: str, account_type: str
) -> BankDetails:
    """A US account, or :class:`InvalidInput` naming the first field that is wrong."""
    holder = check_account_holder(account_holder)
    routing = _compact(routing_number)
    if not routing:
        raise InvalidInput(
            "Enter the routing number, the nine digits printed first along the bottom of a cheque.",
            field="routing_number",
        )
    try:
        rtn.validate(routing)
    except stdnum_errors.InvalidLength:
        raise InvalidInput(
            "A routing number is nine digits, like 021000021; this one has "
            f"{_count(len(routing))}.",
            field="routing_number",
        ) from None
    except stdnum_errors.InvalidChecksum:
        raise InvalidInput(
            f"The routing number {routing} fails its check digit; check it against a cheque "
            "or the bank's letter.",
            field="routing_number",
        ) from None
    except stdnum_errors.ValidationError:
        raise InvalidInput(
            "A routing number has only digits, nine of them, like 021000021.",
            field="routing_number",
        ) from None
    account = _digits(
        account_number,
        field="account_number",
        label="A US account number",
        allowed=US_ACCOUNT_DIGITS,
    )
    kind = account_type.strip().lower()
    if kind not in ACCOUNT_TYPES:
        raise InvalidInput(
            "Choose whether it is a checking or a savings account.", field="account_type"
        )
    return BankDetails(
        scheme="us",
        account_holder=holder,
        routing_number=routing,
        account_number=account,
        account_type=kind,
    )


def check_gb(*, account_holder: str, sort_code: str, account_number: str) -> BankDetails:
    """A UK account, or :class:`InvalidInput` naming the first field that is wrong.

    The sort code may be typed as ``12-34-56``, ``12 34 56`` or ``123456``. An account number
    of six or seven digits is kept as eight, with leading zeros: that is how the banks that
    issue shorter ones ask for them to be paid.
    """
    holder = check_account_holder(account_holder)
    code = _compact(sort_code)
    if not code:
        raise InvalidInput("Enter the sort code, six digits like 20-00-00.", field="sort_code")
    if not _DIGITS.fullmatch(code):
        raise InvalidInput(
            "A sort code has only digits, six of them, like 20-00-00.", field="sort_code"
        )
    if len(code) != 6:
        raise InvalidInput(
            f"A sort code is six digits, like 20-00-00; this one has {_count(len(code))}.",
            field="sort_code",
        )
    account = _digits(
        account_number,
        field="account_number",
        label="A UK account number",
        allowed=GB_ACCOUNT_DIGITS,
    )
    return BankDetails(
        scheme="gb",
        account_holder=holder,
        sort_code=code,
        account_number=account.zfill(GB_ACCOUNT_DIGITS[1]),
    )


def check_international(*, account_holder: str, iban: str, bic: str = "") -> BankDetails:
    """An account by IBAN, with the bank's BIC if given, or :class:`InvalidInput` naming the
    first field that is wrong. A British IBAN is taken as readily as a sort code and account
    number. A BIC must belong to the IBAN's country (or a territory banking in its system)."""
    holder = check_account_holder(account_holder)
    checked_iban = _check_iban(iban)
    checked_bic = _check_bic(bic)
    if checked_bic and _home(checked_bic.country_code) != _home(checked_iban.country_code):
        raise InvalidInput(
            f"The BIC {checked_bic} belongs to a bank in {_country(checked_bic.country_code)}, "
            f"but the IBAN is from {_country(checked_iban.country_code)}: check both against "
            "the bank's letter, or leave the BIC empty.",
            field="bic",
        )
    return BankDetails(
        scheme="iban",
        account_holder=holder,
        iban=str(checked_iban),
        bic=str(checked_bic) if checked_bic else "",
    )


def check_scheme(
    scheme: str,
    *,
    account_holder: str,
    routing_number: str = "",
    us_account_number: str = "",
    account_type: str = "",
    sort_code: str = "",
    gb_account_number: str = "",
    iban: str = "",
    bic: str = "",
) -> BankDetails:
    """The details a form typed for ``scheme`` (``us``, ``gb``, anything else an IBAN),
    checked by :func:`check_us`, :func:`check_gb` or :func:`check_international`; the
    fields of the other schemes are ignored."""
    if scheme == "us":
        return check_us(
            account_holder=account_holder,
            routing_number=routing_number,
            account_number=us_account_number,
            account_type=account_type,
        )
    if scheme == "gb":
        return check_gb(
            account_holder=account_holder, sort_code=sort_code, account_number=gb_account_number
        )
    return check_international(account_holder=account_holder, iban=iban, bic=bic)


def check_account_holder(raw: str) -> str:
    """The account holder's name trimmed, with runs of spaces made one; refused when empty,
    longer than :data:`HOLDER_MAX` or holding control characters (line breaks included)."""
    text = raw.strip()
    if not text:
        raise InvalidInput(
            "Enter the account holder's name as the bank has it.", field="account_holder"
        )
    if any(unicodedata.category(character).startswith("C") for character in text):
        raise InvalidInput(
            "The account holder's name cannot contain control characters or line breaks.",
            field="account_holder",
        )
    name = " ".join(text.split())
    if len(name) > HOLDER_MAX:
        raise InvalidInput(
            f"The account holder's name has at most {HOLDER_MAX} characters; this one has "
            f"{len(name)}.",
            field="account_holder",
        )
    return name


def format_sort_code(sort_code: str) -> str:
    """Six digits as a person writes a sort code: ``200000`` becomes ``20-00-00``."""
    return "-".join(sort_code[index : index + 2] for index in range(0, len(sort_code), 2))


def _compact(raw: str) -> str:
    """``raw`` without the spaces and dashes people type, in upper case, with full-width and
    other compatibility forms of letters and digits made plain."""
    text = unicodedata.normalize("NFKC", raw).translate(_DASHES)
    return "".join(text.split()).upper()


def _count(number: int) -> str:
    """A count as a sentence says it: in words up to twelve."""
    return _NUMBER_WORDS[number] if number < len(_NUMBER_WORDS) else str(number)


def _digits(raw: str, *, field: str, label: str, allowed: tuple[int, int]) -> str:
    """An account number: only digits, between ``allowed`` long (inclusive)."""
    shortest, longest = allowed
    number = _compact(raw)
    if not number:
        raise InvalidInput("Enter the account number.", field=field)
    if not _DIGITS.fullmatch(number):
        raise InvalidInput(
            f"{label} has only digits; this one has letters or other characters.", field=field
        )
    if not shortest <= len(number) <= longest:
        raise InvalidInput(
            f"{label} is {shortest} to {longest} digits long; this one has {_count(len(number))}.",
            field=field,
        )
    return number


def _check_iban(raw: str) -> IBAN:
    """The IBAN, with each of schwifty's refusals told as a sentence."""
    text = _compact(raw)
    if not text:
        raise InvalidInput(
            "Enter the IBAN: two letters for the country, two check digits, then the account, "
            "like DE89 3704 0044 0532 0130 00.",
            field="iban",
        )
    if not _LETTERS_AND_DIGITS.fullmatch(text):
        raise InvalidInput(
            "An IBAN has only letters and digits (spaces between groups are fine).", field="iban"
        )
    country_code = text[:2]
    try:
        iban = IBAN(text, allow_invalid=True)
        with warnings.catch_warnings():
            # Countries whose national check digits schwifty cannot verify are accepted on the
            # IBAN's own check digits; the warning saying so is expected.
            warnings.simplefilter("ignore", NationalChecksumNotVerified)
            iban.validate(validate_bban=True)
    except InvalidCountryCode:
        if country_code == "US":
            message = (
                "Accounts in the United States have no IBAN: give the routing number and "
                "account number instead."
            )
        else:
            message = (
                f"An IBAN starts with two letters for its country, and {country_code} is not "
                "a country that uses IBANs: check the first two characters."
            )
    except InvalidLength:
        expected = registry.get_iban_spec(country_code).iban_length
        message = (
            f"An IBAN from {_country(country_code)} has {expected} characters; this one has "
            f"{len(text)}."
        )
    except InvalidStructure:
        if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]*", text):
            message = (
                "An IBAN starts with two letters for the country and two check digits, "
                "like DE89 3704 0044 0532 0130 00."
            )
        else:
            message = (
                f"This IBAN does not have the shape of one from {_country(country_code)}: "
                "check each character (a letter O typed for a zero, say)."
            )
    except InvalidChecksumDigits:
        message = "The IBAN's check digits do not match: check each character."
    except InvalidBBANChecksum:
        message = (
            "The account inside this IBAN fails its bank's own check digits: check each "
            "character against the bank's letter or a statement."
        )
    except SchwiftyException:
        message = (
            "This is not a valid IBAN: check each character against the bank's letter or a "
            "statement."
        )
    else:
        return iban
    raise InvalidInput(message, field="iban")


def _check_bic(raw: str) -> BIC | None:
    """The BIC, ``None`` when left empty, with each of schwifty's refusals told as a
    sentence."""
    text = _compact(raw)
    if not text:
        return None
    try:
        return BIC(text)
    except InvalidLength:
        message = (
            "A BIC (SWIFT code) is 8 or 11 letters and digits, like DEUTDEFF or DEUTDEFF500; "
            f"this one has {_count(len(text))}."
        )
    except InvalidStructure:
        message = (
            "A BIC (SWIFT code) is four characters for the bank, two letters for the country, "
            "two for the place and optionally three for the branch, like DEUTDEFF500."
        )
    except InvalidCountryCode:
        message = (
            f"The BIC's fifth and sixth characters, {text[4:6]}, should name the bank's "
            "country but name none: check the BIC."
        )
    except SchwiftyException:
        message = "This is not a valid BIC (SWIFT code): check it against the bank's letter."
    raise InvalidInput(message, field="bic")


def _home(country_code: str) -> str:
    """The country whose banking system ``country_code`` belongs to (itself, mostly)."""
    return BANKING_HOME.get(country_code, country_code)


def _country(code: str) -> str:
    """A country's name followed by its code, such as ``Germany (DE)``."""
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    name = getattr(country, "common_name", None) or country.name
    return f"{name} ({code})"
