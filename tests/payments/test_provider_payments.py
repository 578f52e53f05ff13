"""From a proposed provider to a settled batch, through the domain: verification, invoices,
approval, the bank files and the statement that settles them."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.data_key import data_keys
from grants.domain import payouts, redemptions
from grants.domain.audit import verify_chain
from grants.domain.errors import InvalidInput, InvalidState, NotAllowed
from grants.domain.invoices import attach_invoice
from grants.domain.ledger import verify_ledger
from grants.domain.money import Money
from grants.domain.payment_files import nacha_file, pain001_file, set_payer
from grants.domain.provider_bank import (
    BANK_DETAILS_CHANGED,
    confirm_bank_details,
    reveal_bank_details,
    set_bank_details,
)
from grants.domain.providers import ProviderDetails, propose_provider, verify_provider
from grants.domain.reconciliation import AlreadyImported, import_statement
from grants.models import (
    AuditEvent,
    LineOutcome,
    OutboxMessage,
    PayoutBatch,
    Provider,
    ProviderStatus,
    Role,
    StatementLine,
)
from grants.payments.bank_details import check_us
from tests.factories import fund_wallet, make_ambassador, make_fund, make_user
from tests.payments import camt
from tests.payments.nacha_reader import read_nacha
from tests.payments.test_pain001 import validated

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n"
    b"xref\n0 4\n0000000000 65535 f \n0000000009 00000 n \n0000000052 00000 n \n"
    b"0000000101 00000 n \ntrailer<</Size 4/Root 1 0 R>>\nstartxref\n170\n%%EOF\n"
)


class Run:
    """A US fund with its payer account, an ambassador with credit, two members of finance."""

    def __init__(self, app: Flask, db: Session) -> None:
        self.app, self.db = app, db
        self.keys = data_keys(app)
        manager = make_user(db, Role.MANAGER)
        self.finance = make_user(db, Role.FINANCE)
        self.second = make_user(db, Role.FINANCE)
        self.fund = make_fund(db, budget=1_000_000, manager=manager)
        self.ambassador = make_ambassador(db)
        self.wallet = fund_wallet(db, self.fund, self.ambassador, 100_000, manager)
        set_payer(
            db,
            actor=self.finance,
            fund_id=self.fund.id,
            details=check_us(
                account_holder="Heart & Soul Funding",
                routing_number="021000021",
                account_number="9876543210",
                account_type="checking",
            ),
            ach_company_id="1234567890",
            ach_bank_name="JPMORGAN CHASE",
            invoice_required=True,
            keys=self.keys,
            now=NOW,
        )
        self.counter = 0

    def key(self) -> str:
        self.counter += 1
        return f"k{self.counter}"

    def propose(self, name: str = "Dr Zoë Lee") -> int:
        receipt = propose_provider(
            self.db,
            key=self.key(),
            actor=self.ambassador.user,
            details=ProviderDetails(
                kind="person",
                name=name,
                country="US",
                practice="Music Row Therapy",
                city="Nashville",
                email="zoe@example.org",
            ),
            now=NOW,
        )
        assert receipt.object_id is not None
        return receipt.object_id

    def bank(self, provider_id: int, account: str = "000123456789") -> None:
        set_bank_details(
            self.db,
            actor=self.finance,
            provider_id=provider_id,
            details=check_us(
                account_holder="Zoe Lee LCSW",
                routing_number="011000015",
                account_number=account,
                account_type="checking",
            ),
            keys=self.keys,
            version=None,
            now=NOW,
        )

    def book(self, provider_id: int, minor: int) -> int:
        receipt = redemptions.request_redemption(
            self.db,
            key=self.key(),
            actor=self.ambassador.user,
            wallet_id=self.wallet.id,
            amount=Money(minor, "USD"),
            provider_id=provider_id,
            session_date=date(2026, 5, 20),
            now=NOW,
        )
        assert receipt.object_id is not None
        return receipt.object_id

    def invoice(self, redemption_id: int, content: bytes = PDF) -> None:
        attach_invoice(
            self.db,
            actor=self.ambassador.user,
            redemption_id=redemption_id,
            upload_stream=io.BytesIO(content),
            filename="invoice.pdf",
            folder=self.app.instance_path,
            max_bytes=1_000_000,
            now=NOW,
        )

    def approve(self, redemption_id: int, waiver: str = "") -> None:
        redemptions.approve_redemption(
            self.db,
            key=self.key(),
            actor=self.finance,
            redemption_id=redemption_id,
            now=NOW,
            invoice_waiver=waiver,
        )


def told_provider(db: Session) -> list[OutboxMessage]:
    return list(db.scalars(select(OutboxMessage).where(OutboxMessage.kind == BANK_DETAILS_CHANGED)))


@pytest.fixture
def run(app: Flask, db: Session) -> Run:
    return Run(app, db)


def test_a_session_with_a_proposed_provider_waits_for_verification_then_settles(
    run: Run, db: Session
) -> None:
    provider_id = run.propose()
    first = run.book(provider_id, 12_000)
    run.invoice(first)
    with pytest.raises(InvalidState, match="not verified"):
        run.approve(first)
    with pytest.raises(InvalidInput, match="bank details"):
        verify_provider(db, actor=run.finance, provider_id=provider_id, version=None, now=NOW)
    provider = db.get_one(Provider, provider_id)
    provider.licence_type, provider.licence_number = "LCSW", "LCSW-123"
    provider.licence_issuer = "Tennessee Board of Social Work"
    run.bank(provider_id)
    verify_provider(db, actor=run.finance, provider_id=provider_id, version=None, now=NOW)
    assert provider.status is ProviderStatus.VERIFIED
    run.approve(first)
    second = run.book(provider_id, 8_050)
    with pytest.raises(InvalidInput, match="no invoice"):
        run.approve(second)
    run.approve(second, waiver="Receipt seen by phone; provider's scanner broken")
    payouts.pay_redemptions(
        db,
        key="batch",
        actor=run.finance,
        redemption_ids=[first, second],
        payment_reference="ACH-2026-06-01",
        now=NOW,
    )
    batch = db.scalars(select(PayoutBatch)).one()

    xml = pain001_file(db, actor=run.finance, batch_id=batch.id, keys=run.keys)
    validated(xml.content)
    assert (
        xml.content == pain001_file(db, actor=run.finance, batch_id=batch.id, keys=run.keys).content
    )
    assert b"<CtrlSum>200.50</CtrlSum>" in xml.content
    assert f"HSF-R{first}".encode() in xml.content
    assert f"HSF-R{second}".encode() in xml.content
    ach = read_nacha(nacha_file(db, actor=run.finance, batch_id=batch.id, keys=run.keys).content)
    assert ach.total_credit == 20_050

    statement = camt.camt053(
        [
            camt.Entry(
                date(2026, 6, 2),
                20_050,
                "debit",
                pmt_inf_id=batch.file_id,
                transactions=(camt.Transaction(f"{batch.file_id}-P{provider_id}", 20_050),),
            )
        ],
        currency="USD",
    )
    imported = import_statement(
        db, actor=run.finance, data=statement, filename="june.xml", currency=None, now=NOW
    )
    assert imported.settled == 1
    db.refresh(batch)
    assert batch.settled_at == NOW
    with pytest.raises(AlreadyImported):
        import_statement(
            db, actor=run.finance, data=statement, filename="again.xml", currency=None, now=NOW
        )
    assert db.scalars(select(StatementLine.outcome)).all() == [LineOutcome.SETTLED_BATCH]
    assert verify_ledger(db) == []
    assert verify_chain(db) == []


def test_a_change_of_bank_details_holds_payouts_until_someone_else_confirms(
    run: Run, db: Session
) -> None:
    provider_id = run.propose()
    run.bank(provider_id)
    assert told_provider(db) == []
    run.bank(provider_id, account="000999888777")
    provider = db.get_one(Provider, provider_id)
    assert provider.payouts_held
    assert provider.bank_summary.endswith("8777")
    assert "000999888777" not in (provider.bank_details or "")
    (told,) = told_provider(db)
    assert told.recipient == "zoe@example.org"
    with pytest.raises(NotAllowed, match="another member of finance"):
        confirm_bank_details(db, actor=run.finance, provider_id=provider_id, version=None, now=NOW)
    confirm_bank_details(db, actor=run.second, provider_id=provider_id, version=None, now=NOW)
    assert not provider.payouts_held
    shown = reveal_bank_details(db, actor=run.second, provider_id=provider_id, keys=run.keys)
    assert shown.account_number == "000999888777"
    actions = db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-3:] == [
        "provider.bank_details_change",
        "provider.bank_details_confirm",
        "provider.bank_details_reveal",
    ]
