"""Reading bank statements: camt.053 entries and CSV rows become plain lines in minor units,
and every file that cannot be read for certain (an XML bomb, an external entity, a malformed
or foreign document, a spreadsheet in another encoding, an amount or date in another shape)
is refused with a message that says what is wrong and what is expected."""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from grants.domain.errors import InvalidInput
from grants.payments.statements import MAX_BYTES, Statement, read_statement
from tests.payments.camt import Entry, Transaction, camt053

MARCH = date(2024, 3, 1)
CAMT_02 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
PASSWD = Path("/etc/passwd")


def refusal(data: bytes, **options: object) -> str:
    """The message :func:`read_statement` refuses ``data`` with."""
    with pytest.raises(InvalidInput) as refused:
        read_statement(data, **options)  # type: ignore[arg-type]
    return refused.value.message


def payment(**fields: object) -> Entry:
    """A debit of £12.50 on 1 March for our payment PAY-1, unless ``fields`` say otherwise."""
    defaults: dict[str, object] = {"booked_on": MARCH, "amount": 1250, "end_to_end_id": "PAY-1"}
    return Entry(**(defaults | fields))  # type: ignore[arg-type]


def edited(document: bytes, old: str, new: str) -> bytes:
    """``document`` with ``old`` (which it must hold) replaced by ``new``."""
    assert old.encode() in document
    return document.replace(old.encode(), new.encode())


def entry_amount(document: bytes, number: int, amount: str) -> bytes:
    """``document`` with the amount of entry ``number`` (from 1) written as ``amount``."""
    tree = etree.fromstring(document)
    tree.findall(f".//{{{CAMT_02}}}Ntry/{{{CAMT_02}}}Amt")[number - 1].text = amount
    return etree.tostring(tree)


def with_doctype(declaration: str, body: str = "&xxe;") -> str:
    """A camt.053 document whose remittance line is ``body``, behind ``declaration`` and
    without an XML declaration."""
    document = camt053([payment(text="TEXT")], currency="GBP").decode()
    document = document.removeprefix("<?xml version='1.0' encoding='UTF-8'?>\n")
    return f"{declaration}\n" + document.replace("TEXT", body)


# --- camt.053 ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["001.02", "001.08", "001.13"])
def test_a_camt_statement_reads_each_entry_as_a_line_whatever_its_version(version: str) -> None:
    entries = [
        payment(bank_reference="BANK-1", text="Therapy   sessions\nMarch"),
        payment(booked_on=date(2024, 3, 4), amount=200_000, direction="credit", end_to_end_id="X9"),
    ]
    data = camt053(entries, currency="GBP", statement_id="STMT-7", version=version)

    statement = read_statement(data)

    assert (statement.format, statement.statement_id, statement.currency) == (
        "camt.053",
        "STMT-7",
        "GBP",
    )
    assert statement.account == "GB33BUKB20201555555555"
    first, second = statement.lines
    assert (first.line_number, first.booked_on, first.amount, first.direction) == (
        1,
        MARCH,
        1250,
        "debit",
    )
    assert (first.reference, first.bank_reference, first.description) == (
        "PAY-1",
        "BANK-1",
        "Therapy sessions March",
    )
    assert (second.line_number, second.amount, second.direction, second.reference) == (
        2,
        200_000,
        "credit",
        "X9",
    )
    assert second.booked_on == date(2024, 3, 4)
    assert second.currency == "GBP"


def test_versions_differ_only_in_what_the_reader_ignores() -> None:
    entries = [payment(), payment(amount=99, direction="credit", end_to_end_id="PAY-2")]
    older = read_statement(camt053(entries, currency="EUR", version="001.02"))
    newer = read_statement(camt053(entries, currency="EUR", version="001.08"))
    assert older.lines == newer.lines
    assert older.digest != newer.digest


def test_a_batch_is_one_line_for_its_total_with_the_batch_reference() -> None:
    run = (Transaction("PAY-1", 1000, "first"), Transaction("PAY-2", 2500, "second"))
    data = camt053(
        [Entry(MARCH, 3500, pmt_inf_id="RUN-2024-03", transactions=run, bank_reference="B7")],
        currency="USD",
    )

    (line,) = read_statement(data).lines

    assert (line.amount, line.direction, line.reference) == (3500, "debit", "RUN-2024-03")
    assert line.bank_reference == "B7"
    assert "first" not in line.description
    assert "PAY-1" not in line.description


def test_a_batch_without_its_batch_block_takes_the_first_transactions_payment_block() -> None:
    run = (Transaction("PAY-1", 1000), Transaction("PAY-2", 2500))
    tree = etree.fromstring(
        camt053([Entry(MARCH, 3500, pmt_inf_id="RUN-9", transactions=run)], currency="USD")
    )
    for batch in tree.iter(f"{{{CAMT_02}}}Btch"):
        batch.getparent().remove(batch)

    (line,) = read_statement(etree.tostring(tree)).lines

    assert line.reference == "RUN-9"


def test_a_single_transfer_in_a_payment_block_is_matched_by_its_end_to_end_id() -> None:
    data = camt053([payment(pmt_inf_id="RUN-9", end_to_end_id="PAY-42")], currency="GBP")
    assert read_statement(data).lines[0].reference == "PAY-42"


def test_not_provided_is_no_reference_and_the_remittance_line_comes_after_the_block() -> None:
    block = camt053([payment(end_to_end_id="NOTPROVIDED", pmt_inf_id="RUN-9")], currency="GBP")
    remittance = camt053([payment(end_to_end_id="NOTPROVIDED", text="Invoice 77")], currency="GBP")
    assert read_statement(block).lines[0].reference == "RUN-9"
    assert read_statement(remittance).lines[0].reference == "Invoice 77"


def test_an_entry_without_details_is_known_by_the_banks_reference() -> None:
    data = camt053(
        [Entry(MARCH, 350, bank_reference="FEE-2024-03", text="Account fee")], currency="GBP"
    )
    (line,) = read_statement(data).lines
    assert (line.reference, line.bank_reference, line.description) == (
        "FEE-2024-03",
        "FEE-2024-03",
        "Account fee",
    )


def test_a_booking_time_gives_its_date_and_the_value_date_stands_in_for_a_missing_one() -> None:
    timed = edited(
        camt053([payment()], currency="GBP"),
        "<BookgDt><Dt>2024-03-01</Dt>",
        "<BookgDt><DtTm>2024-03-05T23:30:00+01:00</DtTm>",
    )
    valued = edited(
        camt053([payment()], currency="GBP"), "<BookgDt><Dt>2024-03-01</Dt></BookgDt>", ""
    )
    assert read_statement(timed).lines[0].booked_on == date(2024, 3, 5)
    assert read_statement(valued).lines[0].booked_on == MARCH


@pytest.mark.parametrize("version", ["001.02", "001.08"])
def test_pending_entries_are_left_out_and_the_others_keep_their_position(version: str) -> None:
    entries = [payment(status="PDNG"), payment(end_to_end_id="PAY-2")]
    (line,) = read_statement(camt053(entries, currency="GBP", version=version)).lines
    assert (line.line_number, line.reference) == (2, "PAY-2")


def test_a_statement_without_entries_has_no_lines() -> None:
    statement = read_statement(camt053([], currency="JPY"), currency="JPY")
    assert statement.lines == ()
    assert statement.currency == "JPY"


def test_a_statement_in_another_currency_than_the_chosen_one_is_refused() -> None:
    message = refusal(camt053([payment()], currency="EUR"), currency="GBP")
    assert "EUR" in message
    assert "GBP" in message


def test_a_statement_mixing_currencies_is_refused() -> None:
    data = camt053([payment(), payment(currency="USD")], currency="GBP")
    message = refusal(data)
    assert message.startswith("Entry 2 of the statement is in “USD”, but the statement is in GBP")


def test_the_currency_comes_from_the_account_else_from_the_entries_else_from_the_choice() -> None:
    data = camt053([payment(), payment()], currency="GBP").replace(b"<Ccy>GBP</Ccy>", b"")
    assert read_statement(data).currency == "GBP"
    unbalanced = re.sub(rb"<Bal>.*</Bal>", b"", data)
    assert b"<Bal>" not in unbalanced
    assert read_statement(unbalanced).currency == "GBP"
    first_in_dollars = unbalanced.replace(b'Ccy="GBP"', b'Ccy="USD"', 1)
    assert refusal(first_in_dollars) == (
        "Entry 2 of the statement is in “GBP”, but the statement is in USD."
    )
    silent = camt053([], currency="GBP").replace(b"<Ccy>GBP</Ccy>", b"").replace(b' Ccy="GBP"', b"")
    assert "does not say its currency; choose the currency" in refusal(silent)
    assert read_statement(silent, currency="EUR").currency == "EUR"
    unsaid = edited(camt053([payment()], currency="GBP"), '<Amt Ccy="GBP">12.50', "<Amt>12.50")
    assert refusal(unsaid) == (
        "Entry 1 of the statement gives no currency (Ccy), but the statement is in GBP."
    )


def several_statements(*accounts: str) -> bytes:
    """A camt.053 document of one statement per account, each with one payment."""
    documents = [
        etree.fromstring(
            camt053(
                [payment(end_to_end_id=f"PAY-{n}")],
                currency="GBP",
                account_iban=iban,
                statement_id=f"S{n}",
            )
        )
        for n, iban in enumerate(accounts, 1)
    ]
    report = documents[0][0]
    for other in documents[1:]:
        report.append(other[0][1])
    return etree.tostring(documents[0])


def test_several_statements_of_one_account_are_read_together() -> None:
    statement = read_statement(
        several_statements("GB33BUKB20201555555555", "GB33BUKB20201555555555")
    )
    assert statement.statement_id == "S1 S2"
    assert [(line.line_number, line.reference) for line in statement.lines] == [
        (1, "PAY-1"),
        (2, "PAY-2"),
    ]
    message = refusal(several_statements("GB33BUKB20201555555555", "GB94BARC10201530093459"))
    assert "several accounts (GB33BUKB20201555555555, GB94BARC10201530093459)" in message


def test_amounts_have_no_more_decimals_than_their_currency() -> None:
    data = entry_amount(camt053([payment()], currency="USD"), 1, "12.505")
    assert refusal(data) == (
        "Entry 1 of the statement: the amount “12.505” has 3 decimal places, but USD amounts "
        "have at most 2."
    )
    yen = camt053([payment(amount=1500)], currency="JPY")
    assert b">1500<" in yen
    assert read_statement(yen).lines[0].amount == 1500
    assert "JPY amounts have at most 0" in refusal(entry_amount(yen, 1, "1500.5"))


@pytest.mark.parametrize(
    ("amount", "problem"),
    [
        ("-12.50", "is negative"),
        ("0.00", "is zero"),
        ("12,50", "is not a number"),
        ("twelve", "is not a number"),
        ("", "is not a number"),
        ("1" * 30, "too large"),
    ],
)
def test_an_amount_that_is_not_a_positive_number_is_refused(amount: str, problem: str) -> None:
    data = entry_amount(camt053([payment(), payment()], currency="GBP"), 2, amount)
    message = refusal(data)
    assert message.startswith("Entry 2 of the statement: the amount")
    assert problem in message


def test_a_debit_or_credit_indicator_must_be_one_of_the_two() -> None:
    data = edited(camt053([payment()], currency="GBP"), "<CdtDbtInd>DBIT", "<CdtDbtInd>DEBIT")
    assert "not DBIT (debit) or CRDT (credit)" in refusal(data)


def test_a_currency_that_does_not_exist_is_refused() -> None:
    assert "not a currency code" in refusal(camt053([payment()], currency="GBP"), currency="XYZ")
    data = camt053([payment()], currency="GBP").replace(b'Ccy="GBP"', b'Ccy="QQQ"')
    assert "“QQQ” is not a currency code" in refusal(data.replace(b"<Ccy>GBP", b"<Ccy>QQQ"))


@pytest.mark.parametrize(
    ("document", "found"),
    [
        (
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"/>',
            "namespace urn:iso:std:iso:20022:tech:xsd:pain.001.001.03",
        ),
        (
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"/>',
            "camt.054.001.02",
        ),
        (b"<html><body>Statement</body></html>", "<html> without a namespace"),
        (b"<Document/>", "<Document> without a namespace"),
    ],
)
def test_xml_that_is_not_a_camt_053_statement_is_refused(document: bytes, found: str) -> None:
    message = refusal(document)
    assert message.startswith("This XML is not a camt.053 bank statement")
    assert found in message
    assert "expected a <Document> in a camt.053 namespace" in message


def test_a_camt_053_document_without_a_statement_is_refused() -> None:
    data = f'<Document xmlns="{CAMT_02}"><BkToCstmrStmt/></Document>'.encode()
    assert "holds no statement" in refusal(data)


def test_malformed_xml_is_refused_with_its_line() -> None:
    data = camt053([payment()], currency="GBP").replace(b"><", b">\n<").replace(b"</Ntry>", b"")
    message = refusal(data)
    assert message.startswith("The statement is not well-formed XML (line ")
    assert "Ntry" in message
    assert refusal(b"<Document>\n<Stmt>").startswith(
        "The statement is not well-formed XML (line 2)"
    )


# --- safety --------------------------------------------------------------------------------

BILLION_LAUGHS = (
    "<!DOCTYPE Document [\n"
    + "\n".join(
        ['<!ENTITY lol0 "lol">']
        + [f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10)]
    )
    + "\n]>"
)


@pytest.mark.parametrize(
    "declaration",
    [
        BILLION_LAUGHS,
        '<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
        "<!DOCTYPE Document>",
        '<!DOCTYPE Document [<!ENTITY xxe "harmless">]>',
    ],
    ids=["billion laughs", "external file", "doctype alone", "internal entity"],
)
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-16-be", "utf-32"])
def test_a_document_type_declaration_is_refused_in_any_encoding(
    declaration: str, encoding: str
) -> None:
    body = "&lol9;" if declaration is BILLION_LAUGHS else "&xxe;"
    text = with_doctype(declaration, body if "ENTITY" in declaration else "plain")
    text = f"<?xml version='1.0' encoding='{encoding}'?>\n{text}"

    message = refusal(text.encode(encoding))

    assert "document type declaration" in message
    assert "root:" not in message
    assert "lol" not in message


def test_an_external_entity_never_reads_the_file() -> None:
    secret = PASSWD.read_text().splitlines()[0]
    for encoding in ("utf-8", "utf-32"):
        declaration = '<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        text = with_doctype(declaration)
        with pytest.raises(InvalidInput) as refused:
            read_statement(text.encode(encoding))
        assert secret not in refused.value.message
        assert "root" not in refused.value.message


def utf7(text: str) -> bytes:
    """``text`` after a UTF-7 declaration, every markup character written in base64 (``<`` as
    ``+ADw-``): no byte pattern finds a declaration in it, the XML parser decodes it."""
    shifted = "".join(
        f"+{base64.b64encode(character.encode('utf-16-be')).decode().rstrip('=')}-"
        if character in "<>[]!&%\"'+"
        else character
        for character in text
    )
    return b'<?xml version="1.0" encoding="UTF-7"?>' + shifted.encode("ascii")


def test_a_declaration_no_byte_pattern_finds_is_refused_once_parsed() -> None:
    xxe = with_doctype('<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>')
    data = utf7(xxe)
    assert b"DOCTYPE" in data
    assert b"<!DOCTYPE" not in data

    message = refusal(data)

    assert "document type declaration" in message
    assert PASSWD.read_text().splitlines()[0] not in message


def test_an_entity_bomb_no_byte_pattern_finds_is_refused() -> None:
    assert refusal(utf7(with_doctype(BILLION_LAUGHS, "&lol9;")))


@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    """A web server on this machine, and the paths asked of it."""
    asked: list[str] = []

    class Record(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'<!ENTITY xxe "FROM-THE-NETWORK">')

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Record)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize(
    "declaration",
    [
        '<!DOCTYPE Document [<!ENTITY xxe SYSTEM "{url}/entity">]>',
        '<!DOCTYPE Document SYSTEM "{url}/statement.dtd">',
        '<!DOCTYPE Document [<!ENTITY % remote SYSTEM "{url}/remote.dtd"> %remote;]>',
    ],
    ids=["entity", "external subset", "parameter entity"],
)
@pytest.mark.parametrize("encoding", ["utf-8", "utf-32"])
def test_nothing_is_fetched_from_the_network(
    listener: tuple[str, list[str]], declaration: str, encoding: str
) -> None:
    url, asked = listener
    text = with_doctype(declaration.format(url=url))

    message = refusal(text.encode(encoding))

    assert "document type declaration" in message
    assert "FROM-THE-NETWORK" not in message
    assert asked == []


def test_xinclude_is_not_followed() -> None:
    include = (
        '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" '
        'parse="text"/>'
    )
    data = with_doctype("", include).encode()
    (line,) = read_statement(data).lines
    assert line.description == ""
    assert PASSWD.read_text().splitlines()[0] not in repr(read_statement(data))


def test_processing_instructions_and_comments_are_not_read_as_text() -> None:
    data = with_doctype("", "Session<!-- note --> fee<?app hidden?>").encode()
    assert read_statement(data).lines[0].description == "Session fee"


def test_a_utf16_statement_without_declarations_reads() -> None:
    text = camt053([payment()], currency="GBP").decode().replace("UTF-8", "UTF-16")
    assert read_statement(text.encode("utf-16")).lines[0].reference == "PAY-1"


def test_a_file_over_the_size_cap_is_refused_before_it_is_read() -> None:
    data = camt053([payment()], currency="GBP")
    assert "larger than" in refusal(data, max_bytes=len(data) - 1)
    assert read_statement(data, max_bytes=len(data)).lines
    assert "larger than 10 MiB" in refusal(b"<" + b" " * MAX_BYTES)


def test_more_lines_than_allowed_are_refused() -> None:
    data = camt053([payment(), payment(), payment()], currency="GBP")
    assert "more than 2 entries" in refusal(data, max_lines=2)
    assert len(read_statement(data, max_lines=3).lines) == 3
    rows = b"date,amount,reference\n" + b"2024-03-01,1.00,A\n" * 3
    assert "more than 2 lines" in refusal(rows, currency="GBP", max_lines=2)
    assert len(read_statement(rows, currency="GBP", max_lines=3).lines) == 3


# --- CSV -----------------------------------------------------------------------------------


def test_a_csv_statement_reads_both_date_forms_signs_and_thousands() -> None:
    data = (
        b"Booking Date,Amount,Payment_Reference,Description\r\n"
        b'2024-03-01,"-1,234.56",PAY-1,  Therapy   March \r\n'
        b"\r\n"
        b"31/03/2024,15,PAY-2,\r\n"
        b'05/03/2024,"1,000,000.5",REFUND-3,Returned\r\n'
    )

    statement = read_statement(data, currency="gbp")

    assert (statement.format, statement.account, statement.currency) == ("csv", "", "GBP")
    assert statement.statement_id == statement.digest
    assert [
        (line.line_number, line.booked_on, line.amount, line.direction, line.reference)
        for line in statement.lines
    ] == [
        (2, MARCH, 123_456, "debit", "PAY-1"),
        (4, date(2024, 3, 31), 1500, "credit", "PAY-2"),
        (5, date(2024, 3, 5), 100_000_050, "credit", "REFUND-3"),
    ]
    assert statement.lines[0].description == "Therapy March"
    assert {line.bank_reference for line in statement.lines} == {""}


def test_a_byte_order_mark_and_a_currency_column_are_read() -> None:
    data = "\ufeffDATE,amount,Ref,Currency\n2024-03-01,-80.00,PAY-1,usd\n".encode()
    statement = read_statement(data)
    assert statement.currency == "USD"
    assert statement.lines[0].amount == 8000


@pytest.mark.parametrize("written", ["2024/03/01", "1 March 2024", "01-03-2024", "24-03-01", ""])
def test_a_date_in_another_shape_is_refused_with_the_expected_forms(written: str) -> None:
    data = f"date,amount,reference\n2024-03-01,1.00,A\n{written},1.00,B\n".encode()
    message = refusal(data, currency="GBP")
    assert message.startswith("Row 3: the date")
    assert "YYYY-MM-DD (2024-03-31) or DD/MM/YYYY (31/03/2024)" in message


def test_a_month_first_date_is_refused_rather_than_guessed() -> None:
    message = refusal(b"date,amount,reference\n12/31/2024,1.00,A\n", currency="GBP")
    assert "“12/31/2024” reads as month/day" in message
    assert "2024-02-30" in refusal(b"date,amount,reference\n2024-02-30,1.00,A\n", currency="GBP")


@pytest.mark.parametrize(
    "written", ["12,34", "1,23.00", "1234,567.00", "£12.00", "1.2.3", "+5", "1e3", "", "- 5", ",5"]
)
def test_an_amount_in_another_shape_is_refused_naming_the_row(written: str) -> None:
    data = f'date,amount,reference\n2024-03-01,1.00,A\n2024-03-01,"{written}",B\n'.encode()
    message = refusal(data, currency="GBP")
    assert message.startswith("Row 3: the amount")
    assert "1234.56 or -1,234.56" in message


def test_csv_amounts_keep_to_the_currencys_decimals_and_are_not_zero() -> None:
    assert "has 3 decimal places" in refusal(
        b"date,amount,reference\n2024-03-01,1.005,A\n", currency="GBP"
    )
    assert "has 1 decimal places, but JPY" in refusal(
        b"date,amount,reference\n2024-03-01,15.0,A\n", currency="JPY"
    )
    assert "is zero" in refusal(b"date,amount,reference\n2024-03-01,-0.00,A\n", currency="GBP")


def test_a_missing_column_is_named_with_the_columns_found() -> None:
    message = refusal(b"Date,Value,Reference,Notes\n2024-03-01,1.00,A,x\n", currency="GBP")
    assert "no amount column" in message
    assert "“Date”, “Value”, “Reference”, “Notes”" in message
    two = refusal(b"when,amount,what\n", currency="GBP")
    assert "no date or reference column" in two


def test_a_column_named_twice_is_refused() -> None:
    assert "two date columns" in refusal(b"date,booked on,amount,reference\n", currency="GBP")


def test_a_semicolon_file_is_told_apart() -> None:
    assert "semicolons" in refusal(b"date;amount;reference\n2024-03-01;1.00;A\n", currency="GBP")


@pytest.mark.parametrize(
    "data",
    [
        "date,amount,reference\n2024-03-01,1.00,Café\n".encode("latin-1"),
        "date,amount,reference\n".encode("utf-16"),
    ],
    ids=["latin-1", "utf-16"],
)
def test_a_csv_in_another_encoding_is_refused(data: bytes) -> None:
    assert refusal(data, currency="GBP").startswith("This file is not in UTF-8.")


def test_an_empty_file_is_refused_and_a_header_alone_has_no_lines() -> None:
    for empty in (b"", b"  \r\n", b"\xef\xbb\xbf", b",,\n,,\n"):
        assert "empty" in refusal(empty, currency="GBP")
    header_only = read_statement(b"date,amount,reference\r\n", currency="GBP")
    assert (header_only.lines, header_only.currency) == ((), "GBP")


def test_the_currency_must_come_from_the_file_or_be_chosen() -> None:
    assert "choose the statement's currency" in refusal(b"date,amount,reference\n")
    assert "choose the currency" in refusal(b"date,amount,reference,currency\n")
    mixed = b"date,amount,reference,currency\n2024-03-01,1,A,GBP\n2024-03-01,1,B,EUR\n"
    assert "Row 3 is in EUR, but the rows above it are in GBP" in refusal(mixed)
    other = b"date,amount,reference,currency\n2024-03-01,1,A,EUR\n"
    message = refusal(other, currency="GBP")
    assert "EUR" in message
    assert "GBP" in message


def test_an_unclosed_quotation_mark_is_refused() -> None:
    assert "quotation mark" in refusal(
        b'date,amount,reference\n2024-03-01,"1.00,A\n', currency="GBP"
    )


# --- every file -----------------------------------------------------------------------------


def test_the_digest_recognises_the_same_file() -> None:
    data = camt053([payment()], currency="GBP")
    rows = b"date,amount,reference\n2024-03-01,1.00,A\n"
    assert read_statement(data).digest == read_statement(bytes(data)).digest
    assert read_statement(data).digest != read_statement(data + b"\n").digest
    assert (
        read_statement(rows, currency="GBP").digest == read_statement(rows, currency="GBP").digest
    )
    assert len(read_statement(rows, currency="GBP").digest) == 64


SAMPLES = (
    camt053([payment(text="Remittance"), Entry(MARCH, 35, bank_reference="FEE")], currency="GBP"),
    b'date,amount,reference,currency,description\n2024-03-01,"-1,234.56",PAY-1,GBP,x\n',
)


def spliced(sample: bytes, at: int, length: int, replacement: bytes) -> bytes:
    """``sample`` with ``length`` bytes from ``at`` (wrapped to its size) replaced."""
    start = at % (len(sample) + 1)
    return sample[:start] + replacement + sample[start + length :]


ANY_FILE = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(str.encode),
    st.builds(
        spliced,
        st.sampled_from(SAMPLES),
        st.integers(0, 2_000),
        st.integers(0, 12),
        st.binary(max_size=12) | st.sampled_from([b"<!DOCTYPE a>", b"&x;", b"\xff", b"-", b","]),
    ),
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(data=ANY_FILE, currency=st.sampled_from([None, "GBP", "JPY"]))
def test_any_bytes_are_read_or_refused_never_crash(data: bytes, currency: str | None) -> None:
    try:
        statement = read_statement(data, currency=currency)
    except InvalidInput as refused:
        message = refused.message
    else:
        assert isinstance(statement, Statement)
        assert all(line.amount > 0 and line.line_number > 0 for line in statement.lines)
        return
    assert message.endswith((".", ")", "”"))
