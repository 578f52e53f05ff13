"""Reading the bank's statement: an ISO 20022 ``camt.053`` document or a CSV, as plain lines.

Finance uploads the statement to reconcile payments; :func:`read_statement` turns its bytes
into a :class:`Statement`, or refuses with :class:`~grants.domain.errors.InvalidInput` what
it cannot read for certain. A file whose first character (after an optional byte order mark
and white space) is ``<`` is read as XML, anything else as CSV.

camt.053 (``BankToCustomerStatement``, any ``camt.053.001.NN`` namespace):

- each ``Ntry`` of each ``Stmt`` (several only if all of one account) is a line, numbered in
  file order from 1; one not ``BOOK`` (pending, information) is left out, its number unused.
  A statement without entries (a day without movements) has zero lines;
- the amount is the entry's ``Amt``, as booked; ``CdtDbtInd`` ``DBIT`` is a debit (money left
  the account), ``CRDT`` a credit; the date is ``BookgDt`` (``Dt``, or the date of ``DtTm``
  as written), else ``ValDt``;
- a batch entry (several ``TxDtls``, a ``Btch`` of more than one transaction, or a ``Btch``
  without ``TxDtls``) is one line for the entry's total, as the bank books our payment run,
  with the batch's reference: :data:`BATCH_REFERENCES`, ``Btch/PmtInfId`` first (our
  pain.001 sets it to the run's reference). Any other entry takes its transaction's:
  :data:`ONE_TRANSACTION_REFERENCES`, ``Refs/EndToEndId`` (our payment's id) first, the
  first remittance line ``RmtInf/Ustrd`` late. ``NOTPROVIDED`` is no reference;
- ``bank_reference`` is the entry's ``AcctSvcrRef``, else its ``NtryRef``; ``description`` is
  the transaction's remittance lines and ``AddtlTxInf`` (not for a batch) and the entry's
  ``AddtlNtryInf``, white space folded, cut to 280 characters.

CSV, in UTF-8 (with or without a byte order mark): a header row, then a line per row,
numbered as a spreadsheet numbers rows (the header is row 1). Columns in any order and
case, spaces and underscores ignored: date (``date``, ``booking date``, ``booked on``;
``YYYY-MM-DD`` or ``DD/MM/YYYY``), ``amount`` (``1234.56`` or ``-1,234.56``, negative for a
debit), reference (``reference``, ``ref``, ``payment reference``), optionally ``currency``
and ``description``. Either way, an amount with more decimals than its currency has
(``12.345`` USD, ``1500.00`` JPY), zero, or in a second currency is refused.

Safety: XML is parsed with entities unresolved, no DTD loaded, no network, no huge trees,
processing instructions dropped; a document type declaration is refused before parsing (in
UTF-8, UTF-16 or UTF-32) and after (as the parser saw it, in any encoding), so no entity
bomb or external entity is ever expanded. Files over ``max_bytes`` or ``max_lines`` are refused.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from babel.numbers import is_currency
from lxml import etree

from grants.domain.errors import InvalidInput
from grants.domain.money import MAX_MINOR_UNITS, minor_digits

MAX_BYTES = 10 * 1024 * 1024
"""The largest statement read, in bytes (10 MiB)."""
MAX_LINES = 50_000
"""The most lines a statement may hold."""
TEXT_LIMIT = 280
"""The longest reference or description kept, in characters."""
NOT_PROVIDED = "NOTPROVIDED"
"""What a bank writes where a reference is missing; never taken as one."""
CAMT_NAMESPACE = re.compile(r"urn:iso:std:iso:20022:tech:xsd:camt\.053\.001\.[0-9]{2}")
"""The namespaces of camt.053 versions (``.001.02``, ``.001.08`` …)."""
ONE_TRANSACTION_REFERENCES = (
    "Refs/EndToEndId",
    "Refs/PmtInfId",
    "Btch/PmtInfId",
    "Refs/MsgId",
    "Btch/MsgId",
    "RmtInf/Ustrd",
    "Refs/AcctSvcrRef",
    "Ntry/AcctSvcrRef",
)
"""Where the reference of an entry of one transaction is looked for, in order: elements by
their parent's name and their own (``Refs`` are the transaction's, ``Btch`` the entry's)."""
BATCH_REFERENCES = (
    "Btch/PmtInfId",
    "Refs/PmtInfId",
    "Btch/MsgId",
    "Refs/MsgId",
    "Ntry/AcctSvcrRef",
)
"""Where the reference of a batch entry is looked for, in order (``Refs`` are its first
transaction's, for a bank that writes no ``Btch``)."""
DATE_FORMS = "YYYY-MM-DD (2024-03-31) or DD/MM/YYYY (31/03/2024)"
AMOUNT_FORMS = "1234.56 or -1,234.56 (negative for money paid out)"
SHORTER = "download a shorter period's statement from the bank."
DECLARATION_REFUSED = (
    "The statement contains a document type declaration (DOCTYPE or ENTITY), which a bank "
    "statement never needs and which is refused for safety. Download it from the bank again."
)
EXPORT_CSV = "Export the statement from the bank or spreadsheet as “CSV UTF-8” and upload that."
SAVE_AS_UTF8 = f"This file is not in UTF-8. {EXPORT_CSV}"

_DECLARATIONS = tuple(
    marker.encode(encoding)
    for marker in ("<!DOCTYPE", "<!ENTITY")
    for encoding in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
)
_UNICODE_MARKS = tuple(
    ("\ufeff".encode(encoding), encoding)
    for encoding in ("utf-32-le", "utf-32-be", "utf-8", "utf-16-le", "utf-16-be")
)
_ENTRY_ELEMENTS = {path.split("/")[1] for path in ONE_TRANSACTION_REFERENCES + BATCH_REFERENCES}
_ENTRY_ELEMENTS |= {"Amt", "CdtDbtInd", "Sts", "Cd", "Dt", "DtTm", "NtryRef", "AddtlNtryInf"}
_ENTRY_ELEMENTS |= {"TxDtls", "NbOfTxs", "AddtlTxInf"}
"""The elements of an entry that are read (:meth:`_Camt.fields`)."""
_BOOKING_DATES = ("BookgDt/Dt", "BookgDt/DtTm", "ValDt/Dt", "ValDt/DtTm")
_CAMT_AMOUNT = re.compile(r"([0-9]+)(?:\.([0-9]+))?")
_CSV_AMOUNT = re.compile(r"(-?)([1-9][0-9]{0,2}(?:,[0-9]{3})+|[0-9]+)(?:\.([0-9]+))?")
_CAMT_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[TZ+-].*)?")
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DAY_FIRST_DATE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
_ALIASES = dict.fromkeys(("bookingdate", "bookedon"), "date") | dict.fromkeys(
    ("ref", "paymentreference"), "reference"
)
"""Other headers (lower case, without spaces or underscores) read for a column."""
_REQUIRED = ("date", "amount", "reference")
_COLUMNS = (*_REQUIRED, "currency", "description")


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One booking on the account, as the bank reported it: ``amount`` in minor units, always
    positive, ``direction`` ``debit`` when the money left our account (a payment we made);
    ``line_number`` the entry's position in a camt.053 (from 1) or its row in a CSV (the
    header is row 1); ``reference`` what to match against our payments (the module doc says
    where it comes from); ``bank_reference`` the bank's own id of the entry (``""`` if none);
    ``description`` remittance text for finance to read, at most 280 characters."""

    line_number: int
    booked_on: date
    amount: int
    direction: Literal["debit", "credit"]
    currency: str
    reference: str
    bank_reference: str
    description: str


@dataclass(frozen=True, slots=True)
class Statement:
    """A statement's lines and what identifies it: ``statement_id`` the camt.053 ``Stmt/Id``
    (a CSV's is its digest), ``account`` its IBAN or other id (``""`` for a CSV), ``digest``
    the SHA-256 (hex) of the file's bytes, the same for the same file imported twice."""

    format: Literal["camt.053", "csv"]
    statement_id: str
    account: str
    currency: str
    lines: tuple[StatementLine, ...]
    digest: str


def read_statement(
    data: bytes,
    *,
    currency: str | None = None,
    max_lines: int = MAX_LINES,
    max_bytes: int = MAX_BYTES,
) -> Statement:
    """The statement in ``data`` (camt.053 XML or CSV), every line of it in ``currency`` when
    one is given; :class:`InvalidInput` for a file that cannot be read for certain."""
    data = bytes(data)
    if len(data) > max_bytes:
        raise _bad(f"This file is larger than {max_bytes / 1024 / 1024:g} MiB; {SHORTER}")
    wanted = None if currency is None else _currency_code(currency, "The chosen currency")
    digest = hashlib.sha256(data).hexdigest()
    if _looks_like_xml(data):
        return _read_camt(data, digest, wanted, max_lines)
    return _read_csv(data, digest, wanted, max_lines)


def _bad(message: str, field: str = "file") -> InvalidInput:
    return InvalidInput(message, field=field)


def _looks_like_xml(data: bytes) -> bool:
    head = data[:1024]
    for mark, encoding in _UNICODE_MARKS:
        if head.startswith(mark):
            return head[len(mark) :].decode(encoding, "ignore").lstrip().startswith("<")
    return head.startswith((b"<\x00", b"\x00<")) or head.lstrip().startswith(b"<")


def _currency_code(code: str, what: str, field: str = "currency") -> str:
    cleaned = code.strip().upper()
    if len(cleaned) != 3 or not cleaned.isascii() or not is_currency(cleaned):
        raise _bad(f"{what} {_shown(code)} is not a currency code such as GBP, USD or EUR.", field)
    return cleaned


def _same_currency(currency: str, wanted: str | None, subject: str) -> str:
    if wanted not in (None, currency):
        raise _bad(f"{subject} is in {currency}, but {wanted} was chosen.", "currency")
    return currency


def _to_minor(whole: str, fraction: str, currency: str, where: str) -> int:
    """``whole.fraction`` in minor units of ``currency``, refused as ``where`` says."""
    written, digits = f"{whole}.{fraction}" if fraction else whole, minor_digits(currency)
    if len(fraction) > digits:
        raise _bad(
            f"{where}: the amount {_shown(written)} has {len(fraction)} decimal places, but "
            f"{currency} amounts have at most {digits}."
        )
    whole = whole.lstrip("0") or "0"
    minor = int(Decimal(f"{whole}.{fraction or '0'}").scaleb(digits)) if len(whole) < 19 else -1
    if minor == 0:
        raise _bad(f"{where}: the amount is zero; every line of a statement moves money.")
    if not 0 < minor <= MAX_MINOR_UNITS:
        raise _bad(f"{where}: the amount {_shown(written)} is too large.")
    return minor


def _folded(text: str | None) -> str:
    """``text`` with its white space folded, cut to :data:`TEXT_LIMIT` characters."""
    folded = " ".join((text or "").split())
    return folded if len(folded) <= TEXT_LIMIT else folded[: TEXT_LIMIT - 1] + "…"


def _shown(value: str) -> str:
    return f"“{value.strip()[:40]}…”" if len(value.strip()) > 40 else f"“{value.strip()}”"


# --- camt.053 ------------------------------------------------------------------------------


def _read_camt(data: bytes, digest: str, wanted: str | None, max_lines: int) -> Statement:
    if any(marker in data for marker in _DECLARATIONS):
        raise _bad(DECLARATION_REFUSED)
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_pis=True,
        remove_comments=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as error:
        message = _folded(str(error.msg or "unreadable"))[:120]
        raise _bad(
            f"The statement is not well-formed XML (line {error.lineno or 1}): {message}."
        ) from None
    except (etree.LxmlError, ValueError):
        raise _bad("The statement cannot be read as XML.") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise _bad(DECLARATION_REFUSED)
    camt = _Camt(_camt_namespace(root))
    statements = root.findall(camt.path("BkToCstmrStmt/Stmt"))
    if not statements:
        raise _bad("This camt.053 document holds no statement (no BkToCstmrStmt/Stmt).")
    entries = [entry for stmt in statements for entry in stmt.iterfind(camt.path("Ntry"))]
    if len(entries) > max_lines:
        raise _bad(f"This statement has more than {max_lines:,} entries; {SHORTER}")
    accounts = {camt.text(s, "Acct/Id/IBAN") or camt.text(s, "Acct/Id/Othr/Id") for s in statements}
    if len(accounts) > 1:
        raise _bad(
            f"This file holds the statements of several accounts ({', '.join(sorted(accounts))}); "
            "upload one account's statement at a time."
        )
    said = {camt.text(s, "Acct/Ccy").upper() or camt.currency(s, "Bal/Amt") for s in statements}
    said = said - {""} or {camt.currency(entry, "Amt") for entry in entries[:1]} - {""}
    currency = _camt_currency(sorted(said), wanted)
    lines = [_camt_line(camt.fields(entry), n, currency) for n, entry in enumerate(entries, 1)]
    statement_id = " ".join(camt.text(s, "Id") for s in statements).strip() or digest
    booked = tuple(line for line in lines if line is not None)
    return Statement("camt.053", statement_id, accounts.pop(), currency, booked, digest)


def _camt_namespace(root: Any) -> str:
    name = etree.QName(root)
    namespace = name.namespace or ""
    if name.localname == "Document" and CAMT_NAMESPACE.fullmatch(namespace):
        return namespace
    found = f"in namespace {namespace[:100]}" if namespace else "without a namespace"
    raise _bad(
        f"This XML is not a camt.053 bank statement: it is a <{name.localname[:40]}> {found}; "
        "expected a <Document> in a camt.053 namespace such as "
        "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02 or .08. "
        "Download the statement from the bank as camt.053 or CSV."
    )


class _Camt:
    """Reading elements of one camt.053 namespace, named without it."""

    def __init__(self, namespace: str) -> None:
        self._prefix = f"{{{namespace}}}"
        self._entry_elements = tuple(self._prefix + name for name in sorted(_ENTRY_ELEMENTS))

    def path(self, path: str) -> str:
        return "/".join(self._prefix + step for step in path.split("/"))

    def text(self, element: Any, path: str) -> str:
        return _folded(element.findtext(self.path(path)))

    def currency(self, element: Any, path: str) -> str:
        found = element.find(self.path(path))
        return "" if found is None else _folded(found.get("Ccy")).upper()

    def fields(self, entry: Any) -> dict[str, list[Any]]:
        """The entry's elements that are read, in document order, each by its parent's name
        and its own (``Refs/EndToEndId``): one pass over the entry, not a search per field."""
        found: dict[str, list[Any]] = {}
        cut = len(self._prefix)
        for element in entry.iter(*self._entry_elements):
            name = f"{element.getparent().tag[cut:]}/{element.tag[cut:]}"
            found.setdefault(name, []).append(element)
        return found


def _camt_currency(codes: list[str], wanted: str | None) -> str:
    """The statement's one currency of ``codes`` (as its account, balance or first entry says
    it), else ``wanted``."""
    if len(codes) > 1:
        raise _bad(f"This file's statements are in several currencies ({', '.join(codes[:5])}).")
    if codes:
        code = _currency_code(codes[0], "The statement's currency", "file")
        return _same_currency(code, wanted, "This statement")
    if wanted is None:
        raise _bad("This statement does not say its currency; choose the currency.", "currency")
    return wanted


def _camt_line(fields: dict[str, list[Any]], number: int, currency: str) -> StatementLine | None:
    """Entry ``number`` as a line, ``None`` when it is not booked (pending, information)."""

    def text(path: str) -> str:
        return _folded(fields[path][0].text) if path in fields else ""

    where = f"Entry {number} of the statement"
    if (text("Sts/Cd") or text("Ntry/Sts")).upper() not in ("", "BOOK"):
        return None
    shape = _CAMT_AMOUNT.fullmatch(text("Ntry/Amt"))
    if shape is None:
        sign = "is negative" if text("Ntry/Amt").startswith("-") else "is not a number like 1234.56"
        raise _bad(f"{where}: the amount {_shown(text('Ntry/Amt'))} {sign}.")
    code = _folded(fields["Ntry/Amt"][0].get("Ccy")).upper()
    if code != currency:
        written = f"is in {_shown(code)}" if code else "gives no currency (Ccy)"
        raise _bad(f"{where} {written}, but the statement is in {currency}.")
    amount = _to_minor(shape[1], shape[2] or "", currency, where)
    indicator = text("Ntry/CdtDbtInd").upper()
    if indicator not in ("DBIT", "CRDT"):
        raise _bad(f"{where}: CdtDbtInd is {_shown(indicator)}, not DBIT (debit) or CRDT (credit).")
    single = len(fields.get("NtryDtls/TxDtls", ())) == 1 and text("Btch/NbOfTxs") in ("", "1")
    candidates = map(text, ONE_TRANSACTION_REFERENCES if single else BATCH_REFERENCES)
    reference = next((ref for ref in candidates if ref.upper() not in ("", NOT_PROVIDED)), "")
    paths = ("RmtInf/Ustrd", "TxDtls/AddtlTxInf") if single else ()
    parts = [_folded(element.text) for path in paths for element in fields.get(path, ())]
    parts.append(text("Ntry/AddtlNtryInf"))
    return StatementLine(
        line_number=number,
        booked_on=_camt_date(text, where),
        amount=amount,
        direction="debit" if indicator == "DBIT" else "credit",
        currency=currency,
        reference=reference,
        bank_reference=text("Ntry/AcctSvcrRef") or text("Ntry/NtryRef"),
        description=_folded(" ".join(dict.fromkeys(part for part in parts if part))),
    )


def _camt_date(text: Callable[[str], str], where: str) -> date:
    for written in filter(None, map(text, _BOOKING_DATES)):
        shape = _CAMT_DATE.fullmatch(written)
        try:
            if shape:
                return date(int(shape[1]), int(shape[2]), int(shape[3]))
        except ValueError:
            pass
        raise _bad(f"{where}: the booking date {_shown(written)} is not a date like 2024-03-31.")
    raise _bad(f"{where} has no booking date (BookgDt).")


# --- CSV -------------------------------------------------------------------------------------


def _csv_text(data: bytes) -> str:
    if not data.strip():
        raise _bad("This file is empty. Choose the bank statement's file.")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _bad(SAVE_AS_UTF8)
    if b"\x00" in data or data.startswith(b"PK\x03\x04"):
        raise _bad(f"This is not a CSV file but a workbook or other binary file. {EXPORT_CSV}")
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise _bad(SAVE_AS_UTF8) from None


def _read_csv(data: bytes, digest: str, wanted: str | None, max_lines: int) -> Statement:
    reader = csv.reader(io.StringIO(_csv_text(data), newline=""), strict=True)
    row, header, lines = 0, None, list[StatementLine]()
    try:
        for row, cells in enumerate(reader, start=1):
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = _csv_header(cells, wanted)
            elif len(lines) == max_lines:
                raise _bad(f"This file has more than {max_lines:,} lines; {SHORTER}")
            else:
                lines.append(_csv_line(header, cells, row, wanted))
    except csv.Error:
        raise _bad(
            f"Row {row + 1} cannot be read as CSV: a quotation mark in it is not closed, or text "
            "follows a closing one. Correct it, or export the file again."
        ) from None
    if header is None:
        raise _bad("This file is empty. Choose the bank statement's file.")
    currencies = list(dict.fromkeys(line.currency for line in lines))
    if len(currencies) > 1:
        other = next(line for line in lines if line.currency != currencies[0])
        raise _bad(
            f"Row {other.line_number} is in {other.currency}, but the rows above it are in "
            f"{currencies[0]}; a statement is read only when it is in one currency."
        )
    currency = currencies[0] if currencies else wanted
    if currency is None:
        raise _bad("This file has no lines to tell its currency; choose the currency.", "currency")
    return Statement("csv", digest, "", currency, tuple(lines), digest)


def _csv_header(cells: list[str], wanted: str | None) -> dict[str, int]:
    """Each known column's position; refused when one is missing or named twice."""
    if len(cells) == 1 and ";" in cells[0]:
        raise _bad(f"This file separates its columns with semicolons, not commas. {EXPORT_CSV}")
    columns: dict[str, int] = {}
    for position, cell in enumerate(cells):
        name = re.sub(r"[\s_]+", "", cell.lower())
        name = _ALIASES.get(name, name)
        if name in columns:
            raise _bad(f"The header has two {name} columns; keep one of them.")
        if name in _COLUMNS:
            columns[name] = position
    missing = [name for name in _REQUIRED if name not in columns]
    if missing:
        found = ", ".join(_shown(cell) for cell in cells[:20] if cell.strip()) or "nothing"
        raise _bad(
            f"The header has no {' or '.join(missing)} column. The first row must name the "
            "columns date, amount and reference (currency and description are optional); "
            f"this file's first row has {found}."
        )
    if "currency" not in columns and wanted is None:
        raise _bad("This file has no currency column; choose the statement's currency.", "currency")
    return columns


def _csv_line(
    header: dict[str, int], cells: list[str], row: int, wanted: str | None
) -> StatementLine:
    def cell(name: str) -> str:
        position = header.get(name, len(cells))
        return cells[position].strip() if position < len(cells) else ""

    where, code = f"Row {row}", cell("currency")
    currency = _currency_code(code, f"{where}: the currency", "file") if code else wanted
    if currency is None:
        raise _bad(f"{where} has no currency; choose the statement's currency.", "currency")
    _same_currency(currency, wanted, where)
    shape = _CSV_AMOUNT.fullmatch(cell("amount"))
    if shape is None:
        raise _bad(f"{where}: the amount {_shown(cell('amount'))} is not like {AMOUNT_FORMS}.")
    return StatementLine(
        line_number=row,
        booked_on=_csv_date(cell("date"), where),
        amount=_to_minor(shape[2].replace(",", ""), shape[3] or "", currency, where),
        direction="debit" if shape[1] else "credit",
        currency=currency,
        reference=_folded(cell("reference")),
        bank_reference="",
        description=_folded(cell("description")),
    )


def _csv_date(written: str, where: str) -> date:
    iso, day_first = _ISO_DATE.fullmatch(written), _DAY_FIRST_DATE.fullmatch(written)
    try:
        if iso:
            return date(int(iso[1]), int(iso[2]), int(iso[3]))
        if day_first:
            return date(int(day_first[3]), int(day_first[2]), int(day_first[1]))
    except ValueError:
        if day_first and int(day_first[2]) > 12 >= int(day_first[1]):
            raise _bad(
                f"{where}: the date {_shown(written)} reads as month/day; dates are read as "
                f"{DATE_FORMS}. Export the dates in one of these forms."
            ) from None
    raise _bad(f"{where}: the date {_shown(written)} is not written as {DATE_FORMS}.")
