"""Paying a provider from end to end, through the screens each person uses: an ambassador books
a session with a provider who is not listed yet and attaches the invoice; finance sets the
fund's account, completes and verifies the provider, approves, pays the batch, downloads the
pain.001 and NACHA files, imports the bank's camt.053 statement and sees the batch settled;
the ledger and the audit chain verify."""

from __future__ import annotations

import io
import re
from datetime import timedelta

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.models import (
    Document,
    LineOutcome,
    PayoutBatch,
    Provider,
    ProviderStatus,
    Redemption,
    RedemptionState,
    StatementLine,
)
from tests.factories import TODAY, World, build_world
from tests.payments import camt
from tests.payments.nacha_reader import read_nacha
from tests.payments.test_pain001 import validated
from tests.support import form_fields, sign_in, submit
from tests.wallets import INVOICE

REDIRECTS = (302, 303)


def page_text(response: object) -> str:
    """The visible words of a response, tags dropped and spaces made single."""
    html = response.get_data(as_text=True)  # type: ignore[attr-defined]
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_a_session_with_a_new_provider_is_booked_verified_paid_filed_and_settled(
    app: Flask, db: Session
) -> None:
    world: World = build_world(db)
    ambassador = sign_in(app, world.avery)
    finance = sign_in(app, world.finance)

    # Finance gives the US fund its own account, the one the bank files pay from.
    settings = f"/finance/funds/{world.fund_id}/payments"
    answer = submit(
        finance,
        settings,
        {
            "invoice_required": "y",
            "scheme": "us",
            "account_holder": "Heart and Soul Funding",
            "routing_number": "021000021",
            "us_account_number": "987654321",
            "account_type": "checking",
            "ach_company_id": "1234567890",
            "ach_bank_name": "JPMORGAN CHASE",
        },
    )
    assert answer.status_code in REDIRECTS, page_text(answer)

    # The ambassador books a session with a therapist not in the directory, with the invoice.
    booking = f"/wallet/{world.avery_wallet}/redeem"
    fields = form_fields(ambassador, booking)
    fields.pop("provider_id", None)
    answer = ambassador.post(
        booking,
        data={
            **fields,
            "provider_kind": "person",
            "provider_name": "Dr Zoë Brontë-Ødegård",
            "provider_practice": "Music Row Counseling",
            "provider_city": "Nashville",
            "provider_country": "US",
            "provider_email": "zoe@example.org",
            "session_date": (TODAY - timedelta(days=2)).isoformat(),
            "amount": "120.00",
            "invoice": (io.BytesIO(INVOICE), "invoice.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert answer.status_code in REDIRECTS, page_text(answer)
    redemption = db.scalars(select(Redemption)).one()
    provider = db.scalars(select(Provider)).one()
    assert (provider.status, redemption.provider_id) == (ProviderStatus.PROPOSED, provider.id)
    invoice = db.scalars(select(Document).where(Document.redemption_id == redemption.id)).one()
    db.rollback()

    # Finance sees the invoice beside the request, and cannot approve before verifying.
    shown = finance.get(f"/finance/redemptions/{redemption.id}")
    assert f"/documents/{invoice.id}" in shown.get_data(as_text=True)
    assert "is not verified yet; verify the provider first" in page_text(shown)
    with finance.get(f"/documents/{invoice.id}") as download:
        assert download.data == INVOICE

    # Finance completes the provider's licence and bank details, then verifies them.
    page = f"/finance/providers/{provider.id}"
    answer = submit(
        finance,
        f"{page}/edit",
        {
            "licence_type": "Licensed Professional Counselor",
            "licence_number": "LPC-4411",
            "licence_issuer": "Tennessee Board for Licensed Professional Counselors",
        },
    )
    assert answer.status_code in REDIRECTS, page_text(answer)
    answer = submit(
        finance,
        f"{page}/bank",
        {
            "scheme": "us",
            "account_holder": "Zoë Brontë-Ødegård LPC",
            "routing_number": "011000015",
            "account_number": "000123456789",
            "account_type": "checking",
        },
    )
    assert answer.status_code in REDIRECTS, page_text(answer)
    answer = finance.post(f"{page}/verify", data=form_fields(finance, page, f"{page}/verify"))
    assert answer.status_code in REDIRECTS, page_text(answer)
    db.expire_all()
    assert db.get_one(Provider, provider.id).status is ProviderStatus.VERIFIED
    db.rollback()

    # Finance approves the session and pays it in a batch.
    decision = f"/finance/redemptions/{redemption.id}"
    approve = f"{decision}/approve"
    answer = finance.post(approve, data=form_fields(finance, decision, approve))
    assert answer.status_code in REDIRECTS, page_text(answer)
    answer = submit(
        finance,
        "/finance/payouts",
        {"redemption_ids": str(redemption.id), "payment_reference": "ACH-2026-06-01"},
    )
    assert answer.status_code in REDIRECTS, page_text(answer)
    batch = db.scalars(select(PayoutBatch)).one()
    assert db.get_one(Redemption, redemption.id).state is RedemptionState.PAID
    db.rollback()

    # The bank files: a valid pain.001, and a NACHA file whose records read back to the cent.
    xml = finance.get(f"/finance/batches/{batch.id}/pain001")
    assert xml.status_code == 200
    assert "attachment" in xml.headers["Content-Disposition"]
    document = validated(xml.data)
    assert b"<CtrlSum>120.00</CtrlSum>" in xml.data
    assert b"Zoe Bronte-Odegard LPC" in xml.data
    assert f"HSF-R{redemption.id}".encode() in xml.data
    assert document is not None
    ach = read_nacha(finance.get(f"/finance/batches/{batch.id}/nacha").data)
    assert ach.total_credit == 12_000
    assert [entry.amount for entry in ach.entries] == [12_000]

    # The bank's statement shows the batch leaving the account: the batch is settled.
    statement = camt.camt053(
        [
            camt.Entry(
                TODAY,
                12_000,
                "debit",
                pmt_inf_id=batch.file_id,
                transactions=(camt.Transaction(f"{batch.file_id}-P{provider.id}", 12_000),),
            )
        ],
        currency="USD",
    )
    answer = submit(
        finance,
        "/finance/statements",
        {"file": (io.BytesIO(statement), "statement.xml"), "currency": "USD"},  # type: ignore[dict-item]
    )
    assert answer.status_code in REDIRECTS, page_text(answer)
    db.expire_all()
    assert db.get_one(PayoutBatch, batch.id).settled_at is not None
    assert db.scalars(select(StatementLine.outcome)).all() == [LineOutcome.SETTLED_BATCH]
    db.rollback()
    assert "Settled" in page_text(finance.get("/finance/payouts/batches"))

    runner = app.test_cli_runner()
    for group in ("ledger", "audit"):
        result = runner.invoke(args=["grants", group, "verify"])
        assert result.exit_code == 0, result.output
