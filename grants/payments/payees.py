"""The plain data a bank payment file is built from: the fund's account, the payees, the run.

The values arrive already validated (routing numbers, sort codes, IBANs and BICs are checked
where they are entered); these classes only carry them. :func:`require_payable` holds the
refusals every file format shares: an empty run, an amount that is not positive, an
end-to-end id used twice, a currency that is not three capital letters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from grants.domain.errors import InvalidInput

AccountScheme = Literal["us", "gb", "iban"]
"""How an account is identified: a US routing and account number, a UK sort code and account
number, or an IBAN (with the bank's BIC when it is known)."""
AccountType = Literal["checking", "savings"]
"""The kind of a US account, which decides an ACH entry's transaction code."""

ID_LIMIT = 35
"""The longest message id or end-to-end id (ISO 20022 ``Max35Text``)."""
_ID_SHAPE = re.compile(r"[A-Za-z0-9/\-?:().,'+ ]{1,35}")
_CURRENCY_SHAPE = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True, slots=True)
class BankAccount:
    """Where money goes to or comes from. Build one with :meth:`us`, :meth:`gb` or
    :meth:`international`; the fields another scheme uses stay empty."""

    scheme: AccountScheme
    account_number: str = ""
    routing_number: str = ""
    account_type: AccountType = "checking"
    sort_code: str = ""
    iban: str = ""
    bic: str = ""

    @classmethod
    def us(
        cls, routing_number: str, account_number: str, account_type: AccountType = "checking"
    ) -> BankAccount:
        """A US account: the bank's 9-digit ABA routing number and the account number."""
        return cls(
            "us",
            routing_number=routing_number,
            account_number=account_number,
            account_type=account_type,
        )

    @classmethod
    def gb(cls, sort_code: str, account_number: str) -> BankAccount:
        """A UK account: the 6-digit sort code (no dashes) and the 8-digit account number."""
        return cls("gb", sort_code=sort_code, account_number=account_number)

    @classmethod
    def international(cls, iban: str, bic: str = "") -> BankAccount:
        """An account by IBAN (compact, capitals) and the bank's BIC, empty when unknown."""
        return cls("iban", iban=iban, bic=bic)


@dataclass(frozen=True, slots=True)
class Debtor:
    """The fund's own account, which the money is paid from.

    ``company_id`` (10 characters, such as ``1`` and the EIN), ``immediate_destination``
    (the 9-digit routing number of the bank receiving the file), ``immediate_origin``
    (10 characters), ``destination_name`` and ``origin_name`` are needed only for a NACHA
    file and may stay empty for pain.001.
    """

    name: str
    account: BankAccount
    company_id: str = ""
    immediate_destination: str = ""
    immediate_origin: str = ""
    destination_name: str = ""
    origin_name: str = ""


@dataclass(frozen=True, slots=True)
class Payment:
    """One credit to one payee.

    ``end_to_end_id`` (at most 35 characters, unique in the run) travels with the money to
    the payee's bank; ``amount`` is in minor units of the run's currency; ``remittance``
    holds the references of the sessions the payment covers; ``payee_country`` is an
    ISO 3166 alpha-2 code, or ``None`` when not known.
    """

    end_to_end_id: str
    payee_name: str
    payee_account: BankAccount
    amount: int
    remittance: tuple[str, ...] = ()
    payee_country: str | None = None


@dataclass(frozen=True, slots=True)
class PaymentRun:
    """A set of payments sent to the bank as one file.

    ``message_id`` (at most 35 characters) and ``created_at`` (an aware datetime, written in
    UTC) come from the caller, so the same run always gives the same bytes.
    """

    message_id: str
    created_at: datetime
    execution_date: date
    currency: str
    debtor: Debtor
    payments: tuple[Payment, ...]


def require_payable(run: PaymentRun) -> None:
    """Refuse with :class:`InvalidInput` a run no bank file can carry: no payments, a
    currency that is not three capital letters, a message id or end-to-end id that is
    empty, longer than 35 characters or outside the bank character set, an end-to-end id
    used twice, an amount that is not a positive whole number of minor units, or a creation
    time without a time zone."""
    if not run.payments:
        raise InvalidInput("The payment run has no payments; add at least one.", field="payments")
    if not _CURRENCY_SHAPE.fullmatch(run.currency):
        raise InvalidInput(
            f"{run.currency!r} is not a currency code; use three capital letters such as USD.",
            field="currency",
        )
    if not _ID_SHAPE.fullmatch(run.message_id):
        raise InvalidInput(
            f"The message id {run.message_id!r} must be 1 to {ID_LIMIT} letters, digits, "
            "spaces or / - ? : ( ) . , ' +.",
            field="message_id",
        )
    if run.created_at.utcoffset() is None:
        raise InvalidInput(
            "The run's creation time has no time zone; give it in UTC.", field="created_at"
        )
    seen: set[str] = set()
    for payment in run.payments:
        _require_payment(payment)
        if payment.end_to_end_id in seen:
            raise InvalidInput(
                f"The end-to-end id {payment.end_to_end_id!r} is used by more than one "
                "payment; each payment needs its own.",
                field="end_to_end_id",
            )
        seen.add(payment.end_to_end_id)


def _require_payment(payment: Payment) -> None:
    """Refuse a payment whose id or amount no bank file can carry."""
    if not _ID_SHAPE.fullmatch(payment.end_to_end_id):
        raise InvalidInput(
            f"The end-to-end id {payment.end_to_end_id!r} of {payment.payee_name} must be 1 to "
            f"{ID_LIMIT} letters, digits, spaces or / - ? : ( ) . , ' +.",
            field="end_to_end_id",
        )
    if type(payment.amount) is not int or payment.amount <= 0:
        raise InvalidInput(
            f"The payment {payment.end_to_end_id} to {payment.payee_name} has amount "
            f"{payment.amount!r}; an amount is a whole number of minor units above zero.",
            field="amount",
        )


def utc_time(moment: datetime) -> datetime:
    """``moment`` (aware, as :func:`require_payable` makes sure) in UTC, to the second."""
    return moment.astimezone(UTC).replace(microsecond=0)
