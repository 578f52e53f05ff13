"""Building bank statements (ISO 20022 ``camt.053``) for tests.

:func:`camt053` writes a statement of one account from a list of :class:`Entry`, the way a
bank reports our payments back to us:

- an entry with ``end_to_end_id`` is one transfer, its ``TxDtls`` carrying that id (and
  ``pmt_inf_id`` when given) and ``text`` as its remittance line;
- an entry with ``transactions`` is a batch booked as one amount (our pain.001 payment run):
  a ``Btch`` with ``pmt_inf_id`` and one ``TxDtls`` per :class:`Transaction`;
- an entry with neither (a bank fee, say) has no details, ``text`` as its additional
  information.

Amounts are given in minor units and written with the currency's decimals. Version
``001.02`` and ``001.08`` differ in their namespace, in how an entry's status is written and
in where a transaction's amount goes; everything else is written alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from lxml import etree

from grants.domain.money import plain_amount

DEFAULT_IBAN = "GB33BUKB20201555555555"


@dataclass(frozen=True)
class Transaction:
    """One payment inside a batch entry."""

    end_to_end_id: str
    amount: int
    text: str = ""


@dataclass(frozen=True)
class Entry:
    """One booking on the statement (see the module doc for its three shapes)."""

    booked_on: date
    amount: int
    direction: Literal["debit", "credit"] = "debit"
    end_to_end_id: str = ""
    pmt_inf_id: str = ""
    transactions: tuple[Transaction, ...] = ()
    bank_reference: str = ""
    text: str = ""
    currency: str | None = None
    """The entry's currency when it is not the statement's."""
    status: str = "BOOK"


def camt053(
    lines: list[Entry],
    *,
    currency: str,
    account_iban: str = DEFAULT_IBAN,
    statement_id: str = "STMT-2024-03-31",
    version: str = "001.02",
) -> bytes:
    """A ``camt.053.<version>`` document (UTF-8, with its XML declaration) of ``lines``."""
    xml = _Writer(f"urn:iso:std:iso:20022:tech:xsd:camt.053.{version}", currency, version)
    report = xml.add(xml.document, "BkToCstmrStmt")
    header = xml.add(report, "GrpHdr")
    xml.add(header, "MsgId", f"MSG-{statement_id}")
    xml.add(header, "CreDtTm", "2024-03-31T18:00:00")
    statement = xml.add(report, "Stmt")
    xml.add(statement, "Id", statement_id)
    xml.add(statement, "CreDtTm", "2024-03-31T18:00:00")
    account = xml.add(statement, "Acct")
    xml.add(xml.add(account, "Id"), "IBAN", account_iban)
    xml.add(account, "Ccy", currency)
    net = sum(line.amount if line.direction == "credit" else -line.amount for line in lines)
    balance = xml.add(statement, "Bal")
    xml.add(xml.add(xml.add(balance, "Tp"), "CdOrPrtry"), "Cd", "CLBD")
    xml.amount(balance, abs(net))
    xml.add(balance, "CdtDbtInd", "CRDT" if net >= 0 else "DBIT")
    xml.add(xml.add(balance, "Dt"), "Dt", "2024-03-31")
    for line in lines:
        _entry(xml, statement, line)
    return etree.tostring(xml.document, xml_declaration=True, encoding="UTF-8")


class _Writer:
    """Elements of one camt.053 version, amounts in the statement's currency by default."""

    def __init__(self, namespace: str, currency: str, version: str) -> None:
        self.namespace, self.currency, self.version = namespace, currency, version
        self.document = etree.Element(f"{{{namespace}}}Document", nsmap={None: namespace})

    def add(self, parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
        child = etree.SubElement(parent, f"{{{self.namespace}}}{name}")
        child.text = text
        return child

    def amount(self, parent: etree._Element, minor: int, currency: str | None = None) -> None:
        code = currency or self.currency
        self.add(parent, "Amt", plain_amount(minor, code)).set("Ccy", code)

    def direction(self, parent: etree._Element, direction: str) -> None:
        self.add(parent, "CdtDbtInd", "DBIT" if direction == "debit" else "CRDT")


def _entry(xml: _Writer, statement: etree._Element, line: Entry) -> None:
    entry = xml.add(statement, "Ntry")
    xml.amount(entry, line.amount, line.currency)
    xml.direction(entry, line.direction)
    status = xml.add(entry, "Sts")
    if xml.version == "001.02":
        status.text = line.status
    else:
        xml.add(status, "Cd", line.status)
    xml.add(xml.add(entry, "BookgDt"), "Dt", line.booked_on.isoformat())
    xml.add(xml.add(entry, "ValDt"), "Dt", line.booked_on.isoformat())
    if line.bank_reference:
        xml.add(entry, "AcctSvcrRef", line.bank_reference)
    domain = xml.add(xml.add(entry, "BkTxCd"), "Domn")
    xml.add(domain, "Cd", "PMNT")
    family = xml.add(domain, "Fmly")
    xml.add(family, "Cd", "ICDT")
    xml.add(family, "SubFmlyCd", "ESCT")
    if line.transactions:
        details = xml.add(entry, "NtryDtls")
        batch = xml.add(details, "Btch")
        xml.add(batch, "PmtInfId", line.pmt_inf_id)
        xml.add(batch, "NbOfTxs", str(len(line.transactions)))
        for transaction in line.transactions:
            _transaction(xml, details, line, transaction)
    elif line.end_to_end_id:
        single = Transaction(line.end_to_end_id, line.amount, line.text)
        _transaction(xml, xml.add(entry, "NtryDtls"), line, single)
    if line.text and not line.end_to_end_id:
        xml.add(entry, "AddtlNtryInf", line.text)


def _transaction(
    xml: _Writer, details: etree._Element, line: Entry, transaction: Transaction
) -> None:
    """One ``TxDtls``: its references, its amount and its remittance line."""
    transfer = xml.add(details, "TxDtls")
    references = xml.add(transfer, "Refs")
    if line.pmt_inf_id:
        xml.add(references, "PmtInfId", line.pmt_inf_id)
    xml.add(references, "EndToEndId", transaction.end_to_end_id)
    if xml.version == "001.02":
        xml.amount(
            xml.add(xml.add(transfer, "AmtDtls"), "TxAmt"), transaction.amount, line.currency
        )
    else:
        xml.amount(transfer, transaction.amount, line.currency)
        xml.direction(transfer, line.direction)
    if transaction.text:
        xml.add(xml.add(transfer, "RmtInf"), "Ustrd", transaction.text)
