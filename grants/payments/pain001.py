"""A payment run as an ISO 20022 customer credit transfer initiation (``pain.001.001.03``).

The document holds one payment information block for the whole run, booked as one batch on
the fund's account, and one credit transfer per payment. It follows the message's schema
(``CustomerCreditTransferInitiationV03``) element for element:

- amounts are decimals with the currency's own number of decimals (1999 cents of USD is
  ``19.99``, 1999 yen is ``1999``), worked out in whole numbers, never floats;
- an account is written by IBAN, with the bank's BIC when known and ``NOTPROVIDED`` in its
  place otherwise; a US account by number, its bank by ABA routing number (clearing system
  ``USABA``) and its kind (``CACC`` checking, ``SVGS`` savings); a UK account by number, its
  bank by sort code (clearing system ``GBDSC``);
- names pass through :func:`~grants.payments.transliterate.swift_text` and are cut to the
  schema's 140 characters; a name with nothing writable left becomes ``PAYEE`` and the
  end-to-end id;
- the session references of a payment are joined with ``", "`` into unstructured remittance
  lines (``Ustrd``) of at most 140 characters, a line breaking only between references (a
  reference longer than a line is cut across lines). The schema allows any number of lines,
  so every reference is written; a bank that reads only the first line says so in its
  implementation guide, and the end-to-end id still finds the payment.

The same run always gives the same bytes: nothing is read from the clock.
"""

from __future__ import annotations

from collections.abc import Iterator

from lxml import etree

from grants.domain.errors import InvalidInput
from grants.domain.money import minor_digits
from grants.payments.payees import BankAccount, Payment, PaymentRun, require_payable, utc_time
from grants.payments.transliterate import payee_label, swift_fold, swift_text

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"
"""The message's XML namespace."""
NAME_LIMIT = 140
"""The longest party name (``Max140Text``)."""
REMITTANCE_LIMIT = 140
"""The longest unstructured remittance line (``Max140Text``)."""
REFERENCE_SEPARATOR = ", "
"""What stands between two session references on a remittance line."""
TOTAL_DIGITS = 18
"""The most digits an amount or control sum may have (``totalDigits`` in the schema)."""
BIC_NOT_PROVIDED = "NOTPROVIDED"
"""The bank identification written for an IBAN whose BIC is not known."""

_CLEARING_SYSTEMS = {"us": "USABA", "gb": "GBDSC"}
_ACCOUNT_KINDS = {"checking": "CACC", "savings": "SVGS"}
_COUNTRY_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def build_pain001(run: PaymentRun) -> bytes:
    """``run`` as a ``pain.001.001.03`` document in UTF-8, with its XML declaration.

    Refuses with :class:`InvalidInput` what
    :func:`~grants.payments.payees.require_payable` refuses, a fund whose name has no
    writable character, a payee country that is not two capital letters, a session
    reference with no writable character, and a total beyond the schema's 18 digits.
    """
    require_payable(run)
    digits = minor_digits(run.currency)
    total = sum(payment.amount for payment in run.payments)
    if len(str(total)) > TOTAL_DIGITS:
        raise InvalidInput(
            f"The run totals {total} minor units, more than a pain.001 file can carry; "
            "split it into smaller runs.",
            field="payments",
        )
    debtor_name = swift_text(run.debtor.name, NAME_LIMIT)
    if not debtor_name:
        raise InvalidInput(
            f"The fund's account name {run.debtor.name!r} has no letter or digit a bank file "
            "can carry; give it a name in Latin letters.",
            field="debtor.name",
        )
    count, control_sum = str(len(run.payments)), decimal_amount(total, digits)

    document = etree.Element(_tag("Document"), nsmap={None: NAMESPACE})
    initiation = _child(document, "CstmrCdtTrfInitn")
    header = _child(initiation, "GrpHdr")
    _child(header, "MsgId", run.message_id)
    _child(header, "CreDtTm", utc_time(run.created_at).strftime("%Y-%m-%dT%H:%M:%SZ"))
    _child(header, "NbOfTxs", count)
    _child(header, "CtrlSum", control_sum)
    _child(_child(header, "InitgPty"), "Nm", debtor_name)

    block = _child(initiation, "PmtInf")
    _child(block, "PmtInfId", run.message_id)
    _child(block, "PmtMtd", "TRF")
    _child(block, "BtchBookg", "true")
    _child(block, "NbOfTxs", count)
    _child(block, "CtrlSum", control_sum)
    _child(block, "ReqdExctnDt", run.execution_date.isoformat())
    _child(_child(block, "Dbtr"), "Nm", debtor_name)
    _add_account(block, "DbtrAcct", run.debtor.account, run.currency)
    _add_agent(block, "DbtrAgt", run.debtor.account)
    for payment in run.payments:
        _add_transfer(block, payment, run.currency, digits)
    return bytes(
        etree.tostring(document, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    )


def decimal_amount(minor: int, digits: int) -> str:
    """``minor`` units written as a decimal with ``digits`` decimals: ``19.99`` for 1999
    and 2, ``1999`` for 1999 and 0."""
    if not digits:
        return str(minor)
    whole, fraction = divmod(minor, 10**digits)
    return f"{whole}.{fraction:0{digits}d}"


def remittance_lines(references: tuple[str, ...], *, payment: Payment) -> list[str]:
    """``references`` folded and joined with ``", "`` into lines of at most
    :data:`REMITTANCE_LIMIT` characters, each line breaking only between references unless
    one reference alone is longer than a line."""
    lines: list[str] = []
    line = ""
    for reference in references:
        folded = swift_fold(reference)
        if not folded:
            raise InvalidInput(
                f"The session reference {reference!r} of payment {payment.end_to_end_id} to "
                f"{payment.payee_name} has no letter or digit a bank file can carry.",
                field="remittance",
            )
        joined = f"{line}{REFERENCE_SEPARATOR}{folded}" if line else folded
        if len(joined) <= REMITTANCE_LIMIT:
            line = joined
            continue
        if line:
            lines.append(line)
        pieces = list(_pieces(folded))
        lines.extend(pieces[:-1])
        line = pieces[-1]
    if line:
        lines.append(line)
    return lines


def _pieces(text: str) -> Iterator[str]:
    """``text`` cut into pieces of at most :data:`REMITTANCE_LIMIT` characters, none of
    them starting or ending with a space."""
    while text:
        piece, text = text[:REMITTANCE_LIMIT].rstrip(), text[REMITTANCE_LIMIT:].lstrip()
        yield piece


def _add_transfer(block: etree._Element, payment: Payment, currency: str, digits: int) -> None:
    """One ``CdtTrfTxInf``: id, amount, the payee's bank, the payee, account, remittance."""
    transfer = _child(block, "CdtTrfTxInf")
    _child(_child(transfer, "PmtId"), "EndToEndId", payment.end_to_end_id)
    amount = _child(_child(transfer, "Amt"), "InstdAmt", decimal_amount(payment.amount, digits))
    amount.set("Ccy", currency)
    _add_agent(transfer, "CdtrAgt", payment.payee_account)
    creditor = _child(transfer, "Cdtr")
    _child(creditor, "Nm", payee_label(payment.payee_name, payment.end_to_end_id, NAME_LIMIT))
    if payment.payee_country is not None:
        country = payment.payee_country
        if len(country) != 2 or not _COUNTRY_LETTERS.issuperset(country):
            raise InvalidInput(
                f"The country {country!r} of {payment.payee_name} is not an ISO 3166 code; "
                "use two capital letters such as US or GB.",
                field="payee_country",
            )
        _child(_child(creditor, "PstlAdr"), "Ctry", country)
    _add_account(transfer, "CdtrAcct", payment.payee_account, None)
    lines = remittance_lines(payment.remittance, payment=payment)
    if lines:
        remittance = _child(transfer, "RmtInf")
        for line in lines:
            _child(remittance, "Ustrd", line)


def _add_account(
    parent: etree._Element, name: str, account: BankAccount, currency: str | None
) -> None:
    """A ``CashAccount16`` called ``name``: the IBAN, or the number with its kind."""
    holder = _child(parent, name)
    identification = _child(holder, "Id")
    if account.scheme == "iban":
        _child(identification, "IBAN", account.iban)
    else:
        _child(_child(identification, "Othr"), "Id", account.account_number)
    if account.scheme == "us":
        _child(_child(holder, "Tp"), "Cd", _ACCOUNT_KINDS[account.account_type])
    if currency is not None:
        _child(holder, "Ccy", currency)


def _add_agent(parent: etree._Element, name: str, account: BankAccount) -> None:
    """The bank of ``account`` as a ``BranchAndFinancialInstitutionIdentification4``."""
    institution = _child(_child(parent, name), "FinInstnId")
    if account.scheme == "iban":
        if account.bic:
            _child(institution, "BIC", account.bic)
        else:
            _child(_child(institution, "Othr"), "Id", BIC_NOT_PROVIDED)
        return
    member = _child(institution, "ClrSysMmbId")
    _child(_child(member, "ClrSysId"), "Cd", _CLEARING_SYSTEMS[account.scheme])
    bank_code = account.routing_number if account.scheme == "us" else account.sort_code
    _child(member, "MmbId", bank_code)


def _tag(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _child(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    """A new element ``name`` in the message's namespace at the end of ``parent``."""
    element = etree.SubElement(parent, _tag(name))
    if text is not None:
        element.text = text
    return element
