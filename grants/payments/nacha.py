"""A payment run as a NACHA ACH file of credits to US accounts.

The file holds a file header (record type 1), one batch (a batch header 5, one entry 6 per
payment, each followed by an addenda 7 when the payment carries session references, a batch
control 8) and a file control (9), then records of nines up to a multiple of ten records
(blocking factor 10). Every record is exactly 94 characters and ends with a line feed
(``"\\n"``), the last one too; the bytes are ASCII.

- The batch pays credits only (service class 220) under the fund's company name and
  identification, with the entry description ``THERAPY`` and the run's execution date as
  effective entry date; its originating bank is the first 8 digits of the fund's routing
  number.
- An entry credits a checking account (transaction code 22) or a savings account (32) at
  the payee's bank (the first 8 digits of its routing number, then the 9th, the check digit),
  for at most $99,999,999.99. Its identification number is the payment's end-to-end id cut
  to 15 characters, its name the payee's name folded to capitals and cut to 22 (``PAYEE``
  and the id when nothing of the name can be written); its trace number is the originating
  bank and the entry's place in the batch.
- The addenda (type 05) carries the session references joined with ``", "``: as many whole
  references as fit its 80 characters, then ``+N MORE`` for those left out (the pain.001
  file and the end-to-end id give the full list).
- File creation date and time are the run's ``created_at`` in UTC.

The same run always gives the same bytes: nothing is read from the clock.
"""

from __future__ import annotations

import re
from typing import Literal

from grants.domain.errors import InvalidInput
from grants.payments.payees import (
    BankAccount,
    Debtor,
    Payment,
    PaymentRun,
    require_payable,
    utc_time,
)
from grants.payments.transliterate import nacha_text, payee_label, swift_fold

RECORD_LENGTH = 94
"""The width of every record."""
BLOCKING_FACTOR = 10
"""The file holds a multiple of this many records, the last ones filled with nines."""
SERVICE_CLASS_CREDITS = "220"
"""The batch's service class: credits only."""
ENTRY_DESCRIPTION = "THERAPY"
"""The company entry description, which the payee's bank statement shows."""
TRANSACTION_CODES = {"checking": "22", "savings": "32"}
"""The transaction code of a credit to each kind of account."""
MAX_ENTRY_AMOUNT = 10**10 - 1
"""The largest entry, in cents: the amount field has ten digits."""
MAX_TOTAL = 10**12 - 1
"""The largest total of the batch and the file, in cents: the total fields have twelve."""
MAX_RECORDS = 999_999
"""The most entries and addenda a batch can count (six digits)."""
ADDENDA_INFO_WIDTH = 80
"""The width of an addenda's payment-related information."""

_ROUTING = re.compile(r"[0-9]{9}")
_ACCOUNT_NUMBER = re.compile(r"[0-9A-Za-z\-]{1,17}")
_COMPANY_ID = re.compile(r"[0-9A-Z]{10}")
_ORIGIN = re.compile(r"[0-9A-Z ]{10}")
_MODIFIER = re.compile(r"[0-9A-Z]")


def build_nacha(
    run: PaymentRun,
    *,
    file_id_modifier: str = "A",
    entry_class: Literal["PPD", "CCD"] = "PPD",
) -> bytes:
    """``run`` as a NACHA file of credits, each record 94 characters ended by ``"\\n"``.

    ``file_id_modifier`` (A-Z or 0-9) tells apart files sent the same day; ``entry_class``
    is PPD (payees are people) or CCD (payees are companies). Refuses with
    :class:`InvalidInput` what :func:`~grants.payments.payees.require_payable` refuses, a
    currency other than USD, a payee or fund account that is not a US account, and amounts
    or counts beyond the file's fields.
    """
    require_payable(run)
    if run.currency != "USD":
        raise InvalidInput(
            f"A NACHA file pays US dollars only, and this run is in {run.currency}; "
            "send it as a pain.001 file instead.",
            field="currency",
        )
    if entry_class not in ("PPD", "CCD"):
        raise InvalidInput(
            f"{entry_class!r} is not an entry class for these payments; use PPD or CCD.",
            field="entry_class",
        )
    if not _MODIFIER.fullmatch(file_id_modifier):
        raise InvalidInput(
            f"{file_id_modifier!r} is not a file id modifier; use one capital letter or digit.",
            field="file_id_modifier",
        )
    origin_bank = _fund_routing(run.debtor)[:8]
    body, entry_hash, total = _entries(run.payments, origin_bank)
    if len(body) > MAX_RECORDS:
        raise InvalidInput(
            f"The run needs {len(body)} entries and addenda, more than a NACHA batch can "
            f"count ({MAX_RECORDS}); split it into smaller runs.",
            field="payments",
        )
    if total > MAX_TOTAL:
        raise InvalidInput(
            "The run totals more than a NACHA file can carry ($9,999,999,999.99); "
            "split it into smaller runs.",
            field="payments",
        )
    company_id = _company_id(run.debtor)
    totals = f"{entry_hash % 10**10:010d}{0:012d}{total:012d}"
    records = [
        _file_header(run, file_id_modifier),
        _batch_header(run, entry_class, origin_bank),
        *body,
        f"8{SERVICE_CLASS_CREDITS}{len(body):06d}{totals}{company_id}{' ' * 25}{origin_bank}"
        "0000001",
    ]
    blocks = -(-(len(records) + 1) // BLOCKING_FACTOR)
    records.append(f"9{1:06d}{blocks:06d}{len(body):08d}{totals}{' ' * 39}")
    records.extend(["9" * RECORD_LENGTH] * (blocks * BLOCKING_FACTOR - len(records)))
    return "".join(f"{record}\n" for record in records).encode("ascii")


def _file_header(run: PaymentRun, file_id_modifier: str) -> str:
    """The file header (1): the banks sending and receiving the file and when it was made."""
    debtor = run.debtor
    return (
        "101"
        + _destination_field(debtor.immediate_destination)
        + _origin_field(debtor.immediate_origin)
        + utc_time(run.created_at).strftime("%y%m%d%H%M")
        + file_id_modifier
        + f"{RECORD_LENGTH:03d}{BLOCKING_FACTOR:02d}1"
        + nacha_text(debtor.destination_name, 23)
        + nacha_text(debtor.origin_name, 23)
        + " " * 8
    )


def _batch_header(run: PaymentRun, entry_class: str, origin_bank: str) -> str:
    """The batch header (5): credits from the fund's company, paid on the execution date."""
    name = nacha_text(run.debtor.name, 16)
    if not name.strip():
        raise InvalidInput(
            f"The fund's account name {run.debtor.name!r} has no letter or digit a bank file "
            "can carry; give it a name in Latin letters.",
            field="debtor.name",
        )
    return (
        "5"
        + SERVICE_CLASS_CREDITS
        + name
        + " " * 20
        + _company_id(run.debtor)
        + entry_class
        + nacha_text(ENTRY_DESCRIPTION, 10)
        + " " * 6
        + run.execution_date.strftime("%y%m%d")
        + " " * 3
        + "1"
        + origin_bank
        + "0000001"
    )


def _entries(payments: tuple[Payment, ...], origin_bank: str) -> tuple[list[str], int, int]:
    """The entries (6) and their addenda (7), the sum of the receiving banks' 8-digit
    numbers, and the total credited in cents."""
    records: list[str] = []
    entry_hash = total = 0
    for sequence, payment in enumerate(payments, start=1):
        routing, account = _payee_account(payment)
        if payment.amount > MAX_ENTRY_AMOUNT:
            raise InvalidInput(
                f"The payment {payment.end_to_end_id} to {payment.payee_name} is larger than "
                "a NACHA entry can carry ($99,999,999.99); split it.",
                field="amount",
            )
        entry_hash += int(routing[:8])
        total += payment.amount
        info = addenda_information(payment)
        records.append(
            "6"
            + TRANSACTION_CODES[account.account_type]
            + routing
            + account.account_number.upper().ljust(17)
            + f"{payment.amount:010d}"
            + nacha_text(payment.end_to_end_id, 15)
            + nacha_text(payee_label(payment.payee_name, payment.end_to_end_id, 22), 22)
            + "  "
            + ("1" if info else "0")
            + origin_bank
            + f"{sequence:07d}"
        )
        if info:
            records.append(f"705{info.ljust(ADDENDA_INFO_WIDTH)}0001{sequence:07d}")
    return records, entry_hash, total


def addenda_information(payment: Payment) -> str:
    """The payment's session references in capitals, joined with ``", "``: as many whole
    ones as fit :data:`ADDENDA_INFO_WIDTH` characters, then ``+N MORE`` for the rest (the
    first one cut when it alone is too long); ``""`` when it has none."""
    references = [swift_fold(reference).upper() for reference in payment.remittance]
    for reference, folded in zip(payment.remittance, references, strict=True):
        if not folded:
            raise InvalidInput(
                f"The session reference {reference!r} of payment {payment.end_to_end_id} to "
                f"{payment.payee_name} has no letter or digit a bank file can carry.",
                field="remittance",
            )
    written = ""
    for kept, reference in enumerate(references):
        left = len(references) - kept - 1
        more = f" +{left} MORE" if left else ""
        if not written and len(reference) + len(more) > ADDENDA_INFO_WIDTH:
            return f"{reference[: ADDENDA_INFO_WIDTH - len(more)].rstrip()}{more}"
        joined = f"{written}, {reference}" if written else reference
        if len(joined) + len(more) > ADDENDA_INFO_WIDTH:
            return f"{written} +{left + 1} MORE"
        written = joined
    return written


def _fund_routing(debtor: Debtor) -> str:
    """The fund's routing number; refuses a fund account that is not a US one."""
    account = debtor.account
    if account.scheme != "us" or not _ROUTING.fullmatch(account.routing_number):
        raise InvalidInput(
            f"The fund's account {debtor.name} needs a US routing number of 9 digits "
            "to send a NACHA file.",
            field="debtor.account",
        )
    return account.routing_number


def _company_id(debtor: Debtor) -> str:
    """The fund's company identification: 10 capitals or digits."""
    if not _COMPANY_ID.fullmatch(debtor.company_id):
        raise InvalidInput(
            f"The company identification {debtor.company_id!r} must be 10 capital letters "
            "or digits, such as 1 followed by the EIN.",
            field="debtor.company_id",
        )
    return debtor.company_id


def _destination_field(routing: str) -> str:
    """The immediate destination: the 9-digit routing number, a space before it."""
    if not _ROUTING.fullmatch(routing):
        raise InvalidInput(
            f"The immediate destination {routing!r} must be the 9-digit routing number of "
            "the bank receiving the file.",
            field="debtor.immediate_destination",
        )
    return f" {routing}"


def _origin_field(origin: str) -> str:
    """The immediate origin: 10 characters, or a 9-digit routing number with a space."""
    if _ROUTING.fullmatch(origin):
        return f" {origin}"
    if not _ORIGIN.fullmatch(origin):
        raise InvalidInput(
            f"The immediate origin {origin!r} must be 10 capital letters or digits, or a "
            "9-digit routing number.",
            field="debtor.immediate_origin",
        )
    return origin


def _payee_account(payment: Payment) -> tuple[str, BankAccount]:
    """The payee's routing number and account; refuses an account outside the US."""
    account = payment.payee_account
    if account.scheme != "us":
        kind = "a UK" if account.scheme == "gb" else "an IBAN"
        raise InvalidInput(
            f"{payment.payee_name} (payment {payment.end_to_end_id}) is paid into {kind} "
            "account; a NACHA file pays US accounts only, so pay them by pain.001.",
            field="payee_account",
        )
    if not _ROUTING.fullmatch(account.routing_number):
        raise InvalidInput(
            f"The routing number {account.routing_number!r} of {payment.payee_name} "
            f"(payment {payment.end_to_end_id}) must be 9 digits.",
            field="payee_account",
        )
    if not _ACCOUNT_NUMBER.fullmatch(account.account_number):
        raise InvalidInput(
            f"The account number of {payment.payee_name} (payment {payment.end_to_end_id}) "
            "must be 1 to 17 letters, digits or hyphens.",
            field="payee_account",
        )
    return account.routing_number, account
