"""The ISO 20022 pain.001.001.03 credit transfer file, checked against the published schema."""

from __future__ import annotations

import dataclasses
import importlib.resources
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from grants.domain.errors import InvalidInput
from grants.payments.nacha import build_nacha
from grants.payments.pain001 import NAMESPACE, build_pain001
from grants.payments.payees import BankAccount, Debtor, Payment, PaymentRun
from tests.payments.nacha_reader import aba_check_digit, read_nacha

NS = {"p": NAMESPACE}
CREATED = datetime(2026, 3, 1, 9, 30, 15, tzinfo=UTC)


@cache
def schema() -> Any:
    """The schema the sepaxml package ships for pain.001.001.03."""
    resource = importlib.resources.files("sepaxml") / "schemas" / "pain.001.001.03.xsd"
    with importlib.resources.as_file(resource) as path:
        return etree.XMLSchema(etree.parse(str(path)))


def validated(data: bytes) -> Any:
    """The parsed document, once the schema has accepted it."""
    document = etree.fromstring(data)
    schema().assertValid(document)
    return document


def texts(node: Any, path: str) -> list[str]:
    return [str(element.text) for element in node.findall(path, NS)]


def text(node: Any, path: str) -> str:
    found = texts(node, path)
    assert len(found) == 1, (path, found)
    return found[0]


def us_account(bank: str = "02100002", number: str = "123456789", **kind: Any) -> BankAccount:
    return BankAccount.us(f"{bank}{aba_check_digit(bank)}", number, **kind)


def fund(account: BankAccount | None = None) -> Debtor:
    return Debtor(
        name="Heart & Soul Therapy US",
        account=account or us_account(),
        company_id="1123456789",
        immediate_destination="021000021",
        immediate_origin="1123456789",
        destination_name="Bank of the fund",
        origin_name="Heart and Soul",
    )


def payment(
    number: int,
    amount: int = 1999,
    *,
    name: str = "Zoë Brontë-Ødegård",
    account: BankAccount | None = None,
    remittance: tuple[str, ...] = ("S-2026-0001",),
    country: str | None = None,
) -> Payment:
    return Payment(
        end_to_end_id=f"RUN7-{number:04d}",
        payee_name=name,
        payee_account=account or us_account("01100001", f"55{number}"),
        amount=amount,
        remittance=remittance,
        payee_country=country,
    )


def run_of(*payments: Payment, currency: str = "USD", debtor: Debtor | None = None) -> PaymentRun:
    return PaymentRun(
        message_id="RUN7",
        created_at=CREATED,
        execution_date=date(2026, 3, 3),
        currency=currency,
        debtor=debtor or fund(),
        payments=payments,
    )


def transfers(document: Any) -> list[Any]:
    return list(document.findall("p:CstmrCdtTrfInitn/p:PmtInf/p:CdtTrfTxInf", NS))


def test_a_run_validates_and_its_totals_are_the_sums() -> None:
    payments = (
        payment(1, 1999),
        payment(2, 250_00, account=BankAccount.gb("401276", "12345678"), country="GB"),
        payment(3, 1, account=BankAccount.international("DE89370400440532013000", "COBADEFFXXX")),
    )
    document = validated(build_pain001(run_of(*payments)))
    for block in ("p:CstmrCdtTrfInitn/p:GrpHdr", "p:CstmrCdtTrfInitn/p:PmtInf"):
        assert text(document, f"{block}/p:NbOfTxs") == "3"
        assert Decimal(text(document, f"{block}/p:CtrlSum")) * 100 == 1999 + 250_00 + 1
    assert text(document, "p:CstmrCdtTrfInitn/p:GrpHdr/p:MsgId") == "RUN7"
    assert text(document, "p:CstmrCdtTrfInitn/p:PmtInf/p:PmtMtd") == "TRF"
    assert text(document, "p:CstmrCdtTrfInitn/p:PmtInf/p:BtchBookg") == "true"
    assert text(document, "p:CstmrCdtTrfInitn/p:PmtInf/p:ReqdExctnDt") == "2026-03-03"
    assert text(document, "p:CstmrCdtTrfInitn/p:PmtInf/p:Dbtr/p:Nm") == "Heart + Soul Therapy US"
    ids = [text(transfer, "p:PmtId/p:EndToEndId") for transfer in transfers(document)]
    assert ids == ["RUN7-0001", "RUN7-0002", "RUN7-0003"]
    amounts = [Decimal(text(t, "p:Amt/p:InstdAmt")) * 100 for t in transfers(document)]
    assert amounts == [1999, 250_00, 1]


def test_the_same_run_gives_the_same_bytes() -> None:
    first = build_pain001(run_of(payment(1), payment(2, 5000)))
    assert first == build_pain001(run_of(payment(1), payment(2, 5000)))
    assert first.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert b"Zoe Bronte-Odegard" in first


def test_the_creation_time_is_written_in_utc() -> None:
    eastern = CREATED.astimezone(timezone(timedelta(hours=-5)))
    built = build_pain001(dataclasses.replace(run_of(payment(1)), created_at=eastern))
    assert text(validated(built), "p:CstmrCdtTrfInitn/p:GrpHdr/p:CreDtTm") == (
        "2026-03-01T09:30:15Z"
    )


@pytest.mark.parametrize(
    ("currency", "minor", "written"),
    [
        ("USD", 1, "0.01"),
        ("USD", 1999, "19.99"),
        ("USD", 100_000_000, "1000000.00"),
        ("GBP", 80_00, "80.00"),
        ("JPY", 1999, "1999"),
    ],
)
def test_amounts_are_exact_decimals_in_the_currency(
    currency: str, minor: int, written: str
) -> None:
    document = validated(build_pain001(run_of(payment(1, minor), currency=currency)))
    (transfer,) = transfers(document)
    amount = transfer.find("p:Amt/p:InstdAmt", NS)
    assert (amount.text, amount.get("Ccy")) == (written, currency)
    assert text(document, "p:CstmrCdtTrfInitn/p:GrpHdr/p:CtrlSum") == written


def test_a_us_account_is_named_by_routing_number_and_kind() -> None:
    savings = us_account("01100001", "9876543210", account_type="savings")
    document = validated(build_pain001(run_of(payment(1, account=savings))))
    (transfer,) = transfers(document)
    member = "p:CdtrAgt/p:FinInstnId/p:ClrSysMmbId"
    assert text(transfer, f"{member}/p:ClrSysId/p:Cd") == "USABA"
    assert text(transfer, f"{member}/p:MmbId") == savings.routing_number
    assert text(transfer, "p:CdtrAcct/p:Id/p:Othr/p:Id") == "9876543210"
    assert text(transfer, "p:CdtrAcct/p:Tp/p:Cd") == "SVGS"
    debtor_account = "p:CstmrCdtTrfInitn/p:PmtInf/p:DbtrAcct"
    assert text(document, f"{debtor_account}/p:Tp/p:Cd") == "CACC"
    assert text(document, f"{debtor_account}/p:Ccy") == "USD"


def test_a_uk_run_names_banks_by_sort_code() -> None:
    uk_fund = dataclasses.replace(fund(), account=BankAccount.gb("200000", "55779911"))
    payee = payment(1, 80_00, account=BankAccount.gb("401276", "12345678"), country="GB")
    document = validated(build_pain001(run_of(payee, currency="GBP", debtor=uk_fund)))
    (transfer,) = transfers(document)
    assert text(transfer, "p:CdtrAgt/p:FinInstnId/p:ClrSysMmbId/p:ClrSysId/p:Cd") == "GBDSC"
    assert text(transfer, "p:CdtrAgt/p:FinInstnId/p:ClrSysMmbId/p:MmbId") == "401276"
    assert text(transfer, "p:CdtrAcct/p:Id/p:Othr/p:Id") == "12345678"
    assert texts(transfer, "p:CdtrAcct/p:Tp") == []
    assert text(transfer, "p:Cdtr/p:PstlAdr/p:Ctry") == "GB"
    debtor_agent = "p:CstmrCdtTrfInitn/p:PmtInf/p:DbtrAgt/p:FinInstnId/p:ClrSysMmbId"
    assert text(document, f"{debtor_agent}/p:MmbId") == "200000"


def test_an_iban_goes_with_its_bic_or_notprovided() -> None:
    with_bic = BankAccount.international("GB29NWBK60161331926819", "NWBKGB2L")
    without = BankAccount.international("FR1420041010050500013M02606")
    document = validated(
        build_pain001(
            run_of(payment(1, account=with_bic), payment(2, account=without), currency="EUR")
        )
    )
    first, second = transfers(document)
    assert text(first, "p:CdtrAcct/p:Id/p:IBAN") == "GB29NWBK60161331926819"
    assert text(first, "p:CdtrAgt/p:FinInstnId/p:BIC") == "NWBKGB2L"
    assert texts(first, "p:CdtrAgt/p:FinInstnId/p:Othr") == []
    assert text(second, "p:CdtrAcct/p:Id/p:IBAN") == "FR1420041010050500013M02606"
    assert texts(second, "p:CdtrAgt/p:FinInstnId/p:BIC") == []
    assert text(second, "p:CdtrAgt/p:FinInstnId/p:Othr/p:Id") == "NOTPROVIDED"


def test_a_long_name_is_folded_then_cut_to_140() -> None:
    name = "Ångström " * 30
    document = validated(build_pain001(run_of(payment(1, name=name))))
    (transfer,) = transfers(document)
    written = text(transfer, "p:Cdtr/p:Nm")
    assert len(written) == 140
    assert written.startswith("Angstrom Angstrom")
    assert written == written.strip()


def test_a_name_without_latin_letters_becomes_payee_and_the_id() -> None:
    document = validated(build_pain001(run_of(payment(4, name="山田 太郎"))))
    (transfer,) = transfers(document)
    assert text(transfer, "p:Cdtr/p:Nm") == "PAYEE RUN7-0004"


def test_markup_in_a_name_or_reference_cannot_break_the_document() -> None:
    hostile = payment(
        1,
        name="</Nm><Nm>Mallory &amp; <![CDATA[x]]>",
        remittance=("S-1</Ustrd><Ustrd>evil", "&lt;"),
    )
    built = build_pain001(run_of(hostile))
    document = validated(built)
    (transfer,) = transfers(document)
    assert text(transfer, "p:Cdtr/p:Nm") == "/Nm Nm Mallory +amp CDATA x"
    assert texts(transfer, "p:RmtInf/p:Ustrd") == ["S-1 /Ustrd Ustrd evil, +lt"]
    assert b"<![CDATA" not in built


def test_every_reference_is_written_across_remittance_lines() -> None:
    references = tuple(f"SESSION-2026-{number:06d}" for number in range(60))
    document = validated(build_pain001(run_of(payment(1, remittance=references))))
    (transfer,) = transfers(document)
    lines = texts(transfer, "p:RmtInf/p:Ustrd")
    assert len(lines) > 1
    assert all(len(line) <= 140 for line in lines)
    assert [reference for line in lines for reference in line.split(", ")] == list(references)


def test_a_reference_longer_than_a_line_is_cut_across_lines() -> None:
    long_reference = "A" * 300
    document = validated(build_pain001(run_of(payment(1, remittance=("S-1", long_reference)))))
    (transfer,) = transfers(document)
    lines = texts(transfer, "p:RmtInf/p:Ustrd")
    assert lines[0] == "S-1"
    assert "".join(lines[1:]) == long_reference
    assert all(len(line) <= 140 for line in lines)


def test_a_payment_without_references_has_no_remittance() -> None:
    document = validated(build_pain001(run_of(payment(1, remittance=()))))
    (transfer,) = transfers(document)
    assert texts(transfer, "p:RmtInf") == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda run: dataclasses.replace(run, payments=()), "no payments"),
        (lambda run: dataclasses.replace(run, payments=(payment(1, 0),)), "above zero"),
        (lambda run: dataclasses.replace(run, payments=(payment(1, -5),)), "above zero"),
        (lambda run: dataclasses.replace(run, payments=(payment(1, True),)), "whole number"),
        (lambda run: dataclasses.replace(run, payments=(payment(1), payment(1))), "more than one"),
        (lambda run: dataclasses.replace(run, currency="usd"), "three capital letters"),
        (lambda run: dataclasses.replace(run, currency="US"), "three capital letters"),
        (lambda run: dataclasses.replace(run, currency="EURO"), "three capital letters"),
        (lambda run: dataclasses.replace(run, message_id="M" * 36), "1 to 35"),
        (lambda run: dataclasses.replace(run, message_id="RUN<7>"), "1 to 35"),
        (
            lambda run: dataclasses.replace(
                run, payments=(dataclasses.replace(payment(1), end_to_end_id="E" * 36),)
            ),
            "1 to 35",
        ),
        (
            lambda run: dataclasses.replace(run, created_at=CREATED.replace(tzinfo=None)),
            "time zone",
        ),
        (
            lambda run: dataclasses.replace(run, payments=(payment(1, remittance=("山田",)),)),
            "reference",
        ),
        (lambda run: dataclasses.replace(run, payments=(payment(1, country="gb"),)), "ISO 3166"),
        (
            lambda run: dataclasses.replace(run, debtor=dataclasses.replace(fund(), name="基金")),
            "Latin letters",
        ),
        (
            lambda run: dataclasses.replace(run, payments=(payment(1, 10**18),)),
            "smaller runs",
        ),
    ],
)
def test_bad_runs_are_refused(change: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        build_pain001(change(run_of(payment(1))))


@st.composite
def us_payments(draw: st.DrawFn) -> tuple[Payment, ...]:
    """1 to 50 payments to US accounts, of 1 to 10**9 cents each."""
    amounts = draw(st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=50))
    banks = draw(
        st.lists(
            st.from_regex(r"[0-9]{8}", fullmatch=True),
            min_size=len(amounts),
            max_size=len(amounts),
        )
    )
    names = draw(st.lists(st.text(max_size=60), min_size=len(amounts), max_size=len(amounts)))
    return tuple(
        payment(
            number,
            amount,
            name=name,
            account=us_account(bank, f"{number}"),
            remittance=tuple(f"S-{number}-{session}" for session in range(number % 7)),
        )
        for number, (amount, bank, name) in enumerate(zip(amounts, banks, names, strict=True))
    )


@settings(max_examples=60, deadline=None)
@given(payments=us_payments())
def test_both_files_total_exactly_the_payments(payments: tuple[Payment, ...]) -> None:
    run = run_of(*payments)
    expected = sum(item.amount for item in payments)
    document = validated(build_pain001(run))
    assert Decimal(text(document, "p:CstmrCdtTrfInitn/p:GrpHdr/p:CtrlSum")) * 100 == expected
    assert text(document, "p:CstmrCdtTrfInitn/p:GrpHdr/p:NbOfTxs") == str(len(payments))
    ach = read_nacha(build_nacha(run))
    assert ach.total_credit == expected
    assert [entry.amount for entry in ach.entries] == [item.amount for item in payments]
