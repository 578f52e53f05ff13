"""The NACHA ACH credit file, read back by an independent reader."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from grants.domain.errors import InvalidInput
from grants.payments.nacha import build_nacha
from grants.payments.payees import BankAccount, Debtor, Payment, PaymentRun
from tests.payments.nacha_reader import (
    ADDENDA,
    BATCH_CONTROL,
    ENTRY,
    FILE_CONTROL,
    FILE_HEADER,
    NachaError,
    aba_check_digit,
    parse,
    read_nacha,
)

CREATED = datetime(2026, 3, 1, 17, 45, 59, tzinfo=UTC)


def routing(bank: str) -> str:
    """``bank`` (8 digits) and its ABA check digit."""
    return f"{bank}{aba_check_digit(bank)}"


def fund(**changes: Any) -> Debtor:
    debtor = Debtor(
        name="Heart & Soul Therapy US",
        account=BankAccount.us(routing("02100002"), "123456789"),
        company_id="1123456789",
        immediate_destination=routing("02100002"),
        immediate_origin="1123456789",
        destination_name="JPMorgan Chase",
        origin_name="Heart and Soul",
    )
    return dataclasses.replace(debtor, **changes)


def payment(
    number: int,
    amount: int = 1999,
    *,
    name: str = "Zoë Brontë-Ødegård",
    bank: str = "01100001",
    account: BankAccount | None = None,
    remittance: tuple[str, ...] = ("S-2026-0001", "S-2026-0002"),
) -> Payment:
    return Payment(
        end_to_end_id=f"RUN7-{number:04d}",
        payee_name=name,
        payee_account=account or BankAccount.us(routing(bank), f"4400{number}"),
        amount=amount,
        remittance=remittance,
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


def test_a_file_reads_back_entry_by_entry_to_the_cent() -> None:
    payments = (
        payment(1, 1),
        payment(2, 1999, account=BankAccount.us(routing("26107333"), "9-87", "savings")),
        payment(3, 9_999_999_999, name="山田", remittance=()),
    )
    ach = read_nacha(build_nacha(run_of(*payments)))
    assert [entry.amount for entry in ach.entries] == [1, 1999, 9_999_999_999]
    assert ach.total_credit == 1 + 1999 + 9_999_999_999
    assert int(ach.control["total_debit"]) == 0
    first, second, third = (entry.fields for entry in ach.entries)
    assert [first["transaction_code"], second["transaction_code"]] == ["22", "32"]
    assert second["account_number"] == "9-87".ljust(17)
    assert first["individual_id"] == "RUN7-0001      "
    assert first["individual_name"] == "ZOE BRONTE-ODEGARD    "
    assert third["individual_name"] == "PAYEE RUN7-0003       "
    assert [entry.fields["trace_number"] for entry in ach.entries] == [
        f"02100002{sequence:07d}" for sequence in (1, 2, 3)
    ]
    for entry, paid in zip(ach.entries, payments, strict=True):
        payee_routing = paid.payee_account.routing_number
        assert entry.fields["receiving_dfi"] + entry.fields["check_digit"] == payee_routing
        assert int(entry.fields["check_digit"]) == aba_check_digit(payee_routing[:8])


def test_the_headers_carry_the_fund_and_the_run() -> None:
    eastern = CREATED.astimezone(timezone(timedelta(hours=-5)))
    run = dataclasses.replace(run_of(payment(1)), created_at=eastern)
    ach = read_nacha(build_nacha(run, file_id_modifier="B", entry_class="CCD"))
    header = ach.header
    assert header["immediate_destination"] == " 021000021"
    assert header["immediate_origin"] == "1123456789"
    assert (header["creation_date"], header["creation_time"]) == ("260301", "1745")
    assert header["file_id_modifier"] == "B"
    assert header["destination_name"] == "JPMORGAN CHASE".ljust(23)
    (batch,) = ach.batches
    assert batch.header["service_class"] == "220"
    assert batch.header["company_name"] == "HEART + SOUL THE"
    assert batch.header["company_id"] == "1123456789"
    assert batch.header["entry_class"] == "CCD"
    assert batch.header["entry_description"] == "THERAPY   "
    assert batch.header["effective_date"] == "260303"
    assert batch.header["originating_dfi"] == "02100002"
    assert batch.header["batch_number"] == "0000001"
    assert batch.control["service_class"] == "220"


def test_a_routing_number_of_nine_digits_may_be_the_immediate_origin() -> None:
    debtor = fund(immediate_origin=routing("02100002"))
    ach = read_nacha(build_nacha(run_of(payment(1), debtor=debtor)))
    assert ach.header["immediate_origin"] == " 021000021"


def test_every_record_is_94_characters_and_ends_with_a_line_feed() -> None:
    built = build_nacha(run_of(payment(1), payment(2)))
    lines = built.decode("ascii").split("\n")
    assert lines[-1] == ""
    assert {len(line) for line in lines[:-1]} == {94}
    assert built.count(b"\n") == len(lines) - 1


@pytest.mark.parametrize(("payments", "records"), [(1, 6), (3, 10), (4, 12), (13, 30)])
def test_the_file_is_padded_with_nines_to_blocks_of_ten(payments: int, records: int) -> None:
    ach = read_nacha(build_nacha(run_of(*(payment(number) for number in range(1, payments + 1)))))
    assert ach.records == records
    assert (ach.records + ach.padding) % 10 == 0
    assert ach.padding < 10
    assert int(ach.control["block_count"]) == (ach.records + ach.padding) // 10


def test_the_entry_hash_keeps_its_last_ten_digits() -> None:
    payments = [payment(number, bank=f"72{number:06d}") for number in range(1, 151)]
    full_hash = sum(72_000_000 + number for number in range(1, 151))
    assert full_hash >= 10**10
    ach = read_nacha(build_nacha(run_of(*payments)))
    assert ach.control["entry_hash"] == f"{full_hash % 10**10:010d}"
    assert ach.batches[0].control["entry_hash"] == ach.control["entry_hash"]
    assert int(ach.control["entry_addenda_count"]) == 300


def test_the_addenda_carries_the_session_references() -> None:
    ach = read_nacha(build_nacha(run_of(payment(1), payment(2, remittance=()))))
    first, second = ach.entries
    (addenda,) = first.addenda
    assert addenda["addenda_type"] == "05"
    assert addenda["payment_info"].rstrip() == "S-2026-0001, S-2026-0002"
    assert first.fields["addenda_indicator"] == "1"
    assert second.addenda == []
    assert second.fields["addenda_indicator"] == "0"


def test_references_beyond_the_addenda_are_counted() -> None:
    references = tuple(f"SESSION-{number:04d}" for number in range(10))
    ach = read_nacha(build_nacha(run_of(payment(1, remittance=references))))
    info = ach.entries[0].addenda[0]["payment_info"].rstrip()
    written, more = info.rsplit(" +", 1)
    kept = written.split(", ")
    assert kept == list(references[: len(kept)])
    assert more == f"{len(references) - len(kept)} MORE"
    assert len(kept) == 5  # six would need 82 characters


def test_a_single_reference_longer_than_the_addenda_is_cut() -> None:
    ach = read_nacha(build_nacha(run_of(payment(1, remittance=("R" * 100, "S-2")))))
    info = ach.entries[0].addenda[0]["payment_info"]
    assert info == "R" * 72 + " +1 MORE"


def test_the_same_run_gives_the_same_bytes() -> None:
    assert build_nacha(run_of(payment(1), payment(2))) == build_nacha(
        run_of(payment(1), payment(2))
    )


def test_the_reader_catches_a_broken_total() -> None:
    built = build_nacha(run_of(payment(1))).decode("ascii")
    lines = built.split("\n")
    control = parse(lines[4], BATCH_CONTROL)
    assert control["total_credit"] == f"{1999:012d}"
    lines[4] = lines[4][:32] + f"{2000:012d}" + lines[4][44:]
    with pytest.raises(NachaError, match="total credit"):
        read_nacha("\n".join(lines).encode("ascii"))


def test_the_layouts_cover_every_position() -> None:
    for layout in (FILE_HEADER, ENTRY, ADDENDA, BATCH_CONTROL, FILE_CONTROL):
        positions = [position for _, start, end in layout for position in range(start, end + 1)]
        assert positions == list(range(1, 95))


def test_another_currency_is_refused() -> None:
    with pytest.raises(InvalidInput, match="US dollars only, and this run is in GBP"):
        build_nacha(run_of(payment(1), currency="GBP"))


def test_a_uk_payee_is_refused_by_name() -> None:
    uk = payment(2, name="Siân Jones", account=BankAccount.gb("401276", "12345678"))
    with pytest.raises(InvalidInput, match=r"Siân Jones \(payment RUN7-0002\).*UK account"):
        build_nacha(run_of(payment(1), uk))


def test_an_iban_payee_is_refused_by_name() -> None:
    iban = payment(2, name="Émile Roux", account=BankAccount.international("FR14200410100505"))
    with pytest.raises(InvalidInput, match=r"Émile Roux.*IBAN account"):
        build_nacha(run_of(iban))


@pytest.mark.parametrize(
    ("run", "options", "message"),
    [
        (run_of(payment(1, 10**10)), {}, "larger than a NACHA entry"),
        (
            run_of(*(payment(number, 9_999_999_999) for number in range(101))),
            {},
            "more than a NACHA file",
        ),
        (run_of(payment(1)), {"file_id_modifier": "a"}, "file id modifier"),
        (run_of(payment(1)), {"file_id_modifier": "AB"}, "file id modifier"),
        (run_of(payment(1)), {"entry_class": "WEB"}, "PPD or CCD"),
        (
            run_of(payment(1), debtor=fund(account=BankAccount.gb("200000", "55779911"))),
            {},
            "US routing number",
        ),
        (run_of(payment(1), debtor=fund(company_id="12-3456789")), {}, "company identification"),
        (run_of(payment(1), debtor=fund(immediate_destination="0210")), {}, "destination"),
        (run_of(payment(1), debtor=fund(immediate_origin="short")), {}, "immediate origin"),
        (run_of(payment(1), debtor=fund(name="基金")), {}, "Latin letters"),
        (
            run_of(payment(1, account=BankAccount.us("12345", "1"))),
            {},
            "must be 9 digits",
        ),
        (
            run_of(payment(1, account=BankAccount.us(routing("01100001"), "1" * 18))),
            {},
            "1 to 17",
        ),
        (run_of(payment(1, remittance=("山田",))), {}, "reference"),
        (run_of(), {}, "no payments"),
        (run_of(payment(1, 0)), {}, "above zero"),
    ],
)
def test_bad_runs_are_refused(run: PaymentRun, options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        build_nacha(run, **options)
