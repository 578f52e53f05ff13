"""Payment files built from paid batches: one payment per provider that agrees with the
ledger to the minor unit, the same bytes each time, the schemes each file can carry, and
the batches no file can pay."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from grants.domain.errors import InvalidInput, InvalidState, NotAllowed
from grants.domain.payment_files import nacha_file, pain001_file
from grants.domain.provider_bank import read_bank_details
from grants.models import Country, PayoutBatch, Provider, Role
from grants.payments.bank_details import check_us
from grants.payments.pain001 import NAMESPACE
from tests.factories import make_user
from tests.payments.builders import (
    Payments,
    counts,
    gb_bank,
    iban_bank,
    provider_payments,
    us_bank,
)
from tests.payments.nacha_reader import read_nacha
from tests.payments.test_pain001 import validated

NS = {"p": NAMESPACE}


@pytest.fixture
def run(app: Flask, db: Session) -> Payments:
    return Payments(app, db)


def transfers(document: Any) -> dict[str, Any]:
    """The credit transfers of a pain.001 document by end-to-end id."""
    return {
        transfer.findtext("p:PmtId/p:EndToEndId", namespaces=NS): transfer
        for transfer in document.findall("p:CstmrCdtTrfInitn/p:PmtInf/p:CdtTrfTxInf", NS)
    }


def minor(transfer: Any) -> int:
    return int(Decimal(transfer.findtext("p:Amt/p:InstdAmt", namespaces=NS)) * 100)


def remittance(transfer: Any) -> str:
    return " ".join(line.text for line in transfer.findall("p:RmtInf/p:Ustrd", NS))


def pain(run: Payments, batch: PayoutBatch) -> bytes:
    return pain001_file(run.db, actor=run.finance, batch_id=batch.id, keys=run.keys).content


def nacha(run: Payments, batch: PayoutBatch) -> bytes:
    return nacha_file(run.db, actor=run.finance, batch_id=batch.id, keys=run.keys).content


def test_a_batch_pays_each_provider_once_the_sum_the_ledger_posted(
    run: Payments, db: Session
) -> None:
    first = run.verified("Dr Zoë Lee")
    second = run.verified("Sam Ortiz", bank=us_bank("000555444333", holder="Sam Ortiz LPC"))
    sessions = {
        first: [run.approved(first, amount) for amount in (12_000, 8_050, 3_333)],
        second: [run.approved(second, amount) for amount in (10_000, 7_777)],
    }
    batch = run.pay([*sessions[first], *sessions[second]], "ACH-2026-06-01")
    posted = provider_payments(db, [*sessions[first], *sessions[second]])
    owed = {provider: sum(posted[r] for r in ids) for provider, ids in sessions.items()}
    assert owed == {first: 23_383, second: 17_777}

    xml = pain001_file(db, actor=run.finance, batch_id=batch.id, keys=run.keys)
    assert (xml.filename, xml.content_type) == (
        f"HSF-B{batch.id}.pain.001.xml",
        "application/xml",
    )
    document = validated(xml.content)
    paid = transfers(document)
    assert sorted(paid) == sorted(f"HSF-B{batch.id}-P{provider}" for provider in sessions)
    for provider, ids in sessions.items():
        transfer = paid[f"HSF-B{batch.id}-P{provider}"]
        assert minor(transfer) == owed[provider]
        named = re.findall(r"HSF-R\d+", remittance(transfer))
        assert sorted(named) == sorted(f"HSF-R{r}" for r in ids)
    group = "p:CstmrCdtTrfInitn/p:GrpHdr"
    assert document.findtext(f"{group}/p:MsgId", namespaces=NS) == batch.file_id
    assert Decimal(document.findtext(f"{group}/p:CtrlSum", namespaces=NS)) * 100 == batch.amount
    assert batch.amount == sum(posted.values())

    ach = nacha_file(db, actor=run.finance, batch_id=batch.id, keys=run.keys)
    assert ach.filename == f"HSF-B{batch.id}.ach.txt"
    read = read_nacha(ach.content)
    (entries,) = [b.entries for b in read.batches]
    assert sorted(int(entry.fields["amount"]) for entry in entries) == sorted(owed.values())
    assert read.total_credit == batch.amount

    assert pain(run, batch) == xml.content
    assert nacha(run, batch) == ach.content


def test_a_batch_in_pounds_pays_sort_codes_by_pain001_and_no_nacha(
    run: Payments, db: Session
) -> None:
    uk = run.side("GBP", payer=gb_bank("55779911", holder="Heart & Soul Funding UK"))
    provider_id = run.verified(
        "Amara Okafor", bank=gb_bank(), country="GB", city="Manchester", email="amara@example.org"
    )
    sessions = [run.approved(provider_id, amount, side=uk) for amount in (6_000, 4_550)]
    batch = run.pay(sessions, "BACS-2026-06")
    assert batch.currency == "GBP"

    document = validated(pain(run, batch))
    (transfer,) = transfers(document).values()
    assert minor(transfer) == 10_550 == sum(provider_payments(db, sessions).values())
    assert transfer.find("p:Amt/p:InstdAmt", NS).get("Ccy") == "GBP"
    assert transfer.findtext("p:CdtrAcct/p:Id/p:Othr/p:Id", namespaces=NS) == "12345678"
    member = "p:CdtrAgt/p:FinInstnId/p:ClrSysMmbId/p:MmbId"
    assert transfer.findtext(member, namespaces=NS) == "401276"
    with pytest.raises(InvalidInput, match="US dollars only") as refused:
        nacha(run, batch)
    assert refused.value.field == "currency"


def test_a_batch_with_a_session_booked_by_name_alone_gets_no_file(
    run: Payments, db: Session
) -> None:
    provider_id = run.verified()
    legacy = run.approved(None, 4_000)
    batch = run.pay([run.approved(provider_id, 5_000), legacy], "ACH-MIXED")
    for build in (pain, nacha):
        with pytest.raises(InvalidState, match=f"Session {legacy} of this batch names no provider"):
            build(run, batch)


def test_an_iban_abroad_is_paid_by_pain001_and_nacha_refuses_naming_the_provider(
    run: Payments, db: Session
) -> None:
    home = run.verified()
    abroad = run.verified(
        "Jonas Weber", bank=iban_bank(), country="DE", city="Berlin", email="jonas@example.org"
    )
    batch = run.pay([run.approved(home, 5_000), run.approved(abroad, 7_500)], "ACH-ABROAD")

    paid = transfers(validated(pain(run, batch)))
    transfer = paid[f"HSF-B{batch.id}-P{abroad}"]
    assert transfer.findtext("p:CdtrAcct/p:Id/p:IBAN", namespaces=NS) == "DE89370400440532013000"
    assert transfer.findtext("p:CdtrAgt/p:FinInstnId/p:BIC", namespaces=NS) == "COBADEFFXXX"
    assert minor(transfer) == 7_500
    with pytest.raises(InvalidInput, match=r"Praxis Jonas Weber .* IBAN account") as refused:
        nacha(run, batch)
    assert refused.value.field == "payee_account"


def test_funds_paid_from_different_accounts_cannot_share_a_batch(
    run: Payments, db: Session
) -> None:
    other = run.side(
        "USD",
        payer=check_us(
            account_holder="Heart & Soul Touring Fund",
            routing_number="011000015",
            account_number="4455667788",
            account_type="checking",
        ),
        country=Country.US,
    )
    provider_id = run.verified()
    batch = run.pay(
        [run.approved(provider_id, 5_000), run.approved(provider_id, 6_000, side=other)],
        "ACH-TWO-FUNDS",
    )
    for build in (pain, nacha):
        with pytest.raises(InvalidState, match="funds paid from different accounts"):
            build(run, batch)


def test_funds_whose_accounts_differ_only_before_the_last_four_digits_cannot_share_a_batch(
    run: Payments, db: Session
) -> None:
    other = run.side(
        "USD",
        payer=check_us(
            account_holder="Heart & Soul Funding",
            routing_number="021000021",
            account_number="1111143210",
            account_type="checking",
        ),
        country=Country.US,
    )
    assert other.fund.payer_summary == run.fund.payer_summary
    provider_id = run.verified()
    batch = run.pay(
        [run.approved(provider_id, 5_000), run.approved(provider_id, 6_000, side=other)],
        "ACH-LOOKALIKE",
    )
    with pytest.raises(InvalidState, match="different accounts"):
        pain(run, batch)


def test_a_fund_without_an_account_to_pay_from_gets_no_file(run: Payments, db: Session) -> None:
    bare = run.side("USD", payer=None, country=Country.US)
    provider_id = run.verified()
    batch = run.pay([run.approved(provider_id, 5_000, side=bare)], "ACH-NO-PAYER")
    for build in (pain, nacha):
        with pytest.raises(InvalidState, match=f"{bare.fund.name} has no account to pay from"):
            build(run, batch)


def test_only_finance_downloads_payment_files(run: Payments, db: Session) -> None:
    provider_id = run.verified()
    batch = run.pay([run.approved(provider_id, 5_000)], "ACH-ROLES")
    before = counts(db)
    for actor in (
        run.ambassador.user,
        make_user(db, Role.MANAGER),
        make_user(db, Role.ADMIN),
    ):
        for build in (pain001_file, nacha_file):
            with pytest.raises(NotAllowed, match="download payment files"):
                build(db, actor=actor, batch_id=batch.id, keys=run.keys)
    assert counts(db) == before


def test_a_bank_change_awaiting_confirmation_never_reaches_a_file(
    run: Payments, db: Session
) -> None:
    provider_id = run.verified()
    batch = run.pay([run.approved(provider_id, 5_000)], "ACH-BEFORE-CHANGE")
    run.give(provider_id, us_bank("000999888777", holder="Not Zoe"))
    provider = db.get_one(Provider, provider_id)
    assert provider.payouts_held
    assert read_bank_details(provider, run.keys).account_number == "000999888777"
    for build in (pain, nacha):
        with pytest.raises(InvalidState, match="bank details changed"):
            build(run, batch)
