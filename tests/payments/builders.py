"""Building blocks of the provider-payment tests: a :class:`Payments` run that adds verified
providers in any country, sessions approved and paid in batches, a second fund in another
currency, bank statements in both formats, and the counts and balances a refusal must leave
as they were."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.domain import payouts, redemptions
from grants.domain.invoices import attach_invoice
from grants.domain.money import Money, plain_amount
from grants.domain.payment_files import set_payer
from grants.domain.provider_bank import set_bank_details
from grants.domain.providers import (
    ProviderDetails,
    propose_provider,
    update_provider,
    verify_provider,
)
from grants.domain.reconciliation import import_statement
from grants.models import (
    Account,
    AccountKind,
    Ambassador,
    AuditEvent,
    Country,
    Document,
    Fund,
    IdempotencyRecord,
    LedgerTransaction,
    OutboxMessage,
    PayoutBatch,
    Posting,
    Provider,
    Redemption,
    Role,
    StatementImport,
    StatementLine,
    TransactionKind,
    User,
    Wallet,
)
from grants.payments.bank_details import BankDetails, check_gb, check_international, check_us
from tests.factories import fund_wallet, make_ambassador, make_fund, make_user
from tests.payments import camt
from tests.payments.test_provider_payments import NOW, PDF, Run

LICENCE = {
    "licence_type": "LCSW",
    "licence_number": "LCSW-123",
    "licence_issuer": "Tennessee Board of Social Work",
}
"""A licence complete enough for finance to verify a provider."""
SESSION_DAY = date(2026, 5, 20)

TRAIL: tuple[type[object], ...] = (
    Provider,
    Redemption,
    Document,
    PayoutBatch,
    LedgerTransaction,
    Posting,
    AuditEvent,
    OutboxMessage,
    StatementImport,
    StatementLine,
)
"""The tables an operation of this area writes to; a refusal leaves their counts as they
were (an idempotency record of the refusal aside, counted apart)."""


def details(name: str = "Dr Zoë Lee", **changes: str) -> ProviderDetails:
    """A therapist in Nashville, with ``changes``."""
    fields = {
        "kind": "person",
        "name": name,
        "country": "US",
        "practice": "Music Row Therapy",
        "city": "Nashville",
        "email": "zoe@example.org",
    }
    return ProviderDetails(**(fields | changes))


def us_bank(account: str = "000123456789", holder: str = "Zoe Lee LCSW") -> BankDetails:
    return check_us(
        account_holder=holder,
        routing_number="011000015",
        account_number=account,
        account_type="checking",
    )


def gb_bank(account: str = "12345678", holder: str = "Amara Okafor") -> BankDetails:
    return check_gb(account_holder=holder, sort_code="40-12-76", account_number=account)


def iban_bank(holder: str = "Praxis Jonas Weber") -> BankDetails:
    return check_international(
        account_holder=holder, iban="DE89370400440532013000", bic="COBADEFFXXX"
    )


def count(db: Session, model: type[object]) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


def counts(db: Session, models: Sequence[type[object]] = TRAIL) -> dict[str, int]:
    """The number of rows of each of ``models``, by table name."""
    return {model.__name__: count(db, model) for model in models}


def refusals_recorded(db: Session) -> int:
    """Idempotency records (a refusal inside an idempotent operation is kept as one)."""
    return count(db, IdempotencyRecord)


def balances(db: Session) -> dict[int, int]:
    """Every ledger account's stored balance, by account id."""
    rows = db.execute(select(Account.id, Account.balance)).all()
    return {row.id: row.balance for row in rows}


def audit_actions(db: Session, object_type: str | None = None) -> list[str]:
    """The actions of the audit chain in order, of one kind of object if given."""
    query = select(AuditEvent.action).order_by(AuditEvent.seq)
    if object_type is not None:
        query = query.where(AuditEvent.object_type == object_type)
    return list(db.scalars(query))


@dataclass
class Side:
    """A second therapy fund with its own payer account and an ambassador with credit."""

    fund: Fund
    ambassador: Ambassador
    wallet: Wallet


class Payments(Run):
    """:class:`Run` with providers verified in one step, other funds, batches, statements."""

    def propose_with(self, provider: ProviderDetails, actor: User | None = None) -> int:
        receipt = propose_provider(
            self.db,
            key=self.key(),
            actor=actor or self.ambassador.user,
            details=provider,
            now=NOW,
        )
        assert receipt.object_id is not None
        return receipt.object_id

    def give(self, provider_id: int, bank: BankDetails, actor: User | None = None) -> Provider:
        return set_bank_details(
            self.db,
            actor=actor or self.finance,
            provider_id=provider_id,
            details=bank,
            keys=self.keys,
            version=None,
            now=NOW,
        )

    def verified(
        self,
        name: str = "Dr Zoë Lee",
        bank: BankDetails | None = None,
        **changes: str,
    ) -> int:
        """A provider proposed, given a licence and bank details, and verified."""
        provider_id = self.propose_with(details(name, **changes))
        update_provider(
            self.db,
            actor=self.finance,
            provider_id=provider_id,
            details=details(name, **(LICENCE | changes)),
            version=None,
            now=NOW,
        )
        self.give(provider_id, bank or us_bank())
        verify_provider(self.db, actor=self.finance, provider_id=provider_id, version=None, now=NOW)
        return provider_id

    def book_in(
        self, side: Side | None, provider_id: int | None, minor: int, name: str = ""
    ) -> int:
        """A session of ``minor`` units booked from ``side``'s wallet (else the run's own)
        with provider ``provider_id``, or by ``name`` alone when it is ``None``."""
        wallet = side.wallet if side else self.wallet
        holder = side.ambassador.user if side else self.ambassador.user
        currency = side.fund.currency if side else "USD"
        receipt = redemptions.request_redemption(
            self.db,
            key=self.key(),
            actor=holder,
            wallet_id=wallet.id,
            amount=Money(minor, currency),
            provider_id=provider_id,
            provider_name=name,
            session_date=SESSION_DAY,
            now=NOW,
        )
        assert receipt.object_id is not None
        return receipt.object_id

    def invoice_by(
        self,
        holder: User,
        redemption_id: int,
        content: bytes = PDF,
        folder: str | Path | None = None,
    ) -> None:
        """``holder`` adds ``content`` as the invoice of session ``redemption_id``, stored
        in ``folder`` (the instance folder unless given)."""
        attach_invoice(
            self.db,
            actor=holder,
            redemption_id=redemption_id,
            upload_stream=io.BytesIO(content),
            filename="invoice.pdf",
            folder=folder or self.app.instance_path,
            max_bytes=1_000_000,
            now=NOW,
        )

    def approved(self, provider_id: int | None, minor: int, side: Side | None = None) -> int:
        """A session booked, given its invoice (unless booked by name) and approved."""
        redemption_id = self.book_in(side, provider_id, minor, name="Dr Legacy, by hand")
        if provider_id is not None:
            self.invoice_by(side.ambassador.user if side else self.ambassador.user, redemption_id)
        self.approve(redemption_id)
        return redemption_id

    def pay(
        self, redemption_ids: Iterable[int], reference: str, now: datetime = NOW
    ) -> PayoutBatch:
        """The batch paying ``redemption_ids`` under ``reference``."""
        payouts.pay_redemptions(
            self.db,
            key=f"batch-{reference}",
            actor=self.finance,
            redemption_ids=list(redemption_ids),
            payment_reference=reference,
            now=now,
        )
        kept = " ".join(reference.split())
        return self.db.scalars(
            select(PayoutBatch).where(PayoutBatch.payment_reference == kept)
        ).one()

    def side(
        self,
        currency: str = "GBP",
        payer: BankDetails | None = None,
        country: Country = Country.GB,
        credit: int = 100_000,
    ) -> Side:
        """Another therapy fund in ``currency``, paid from ``payer`` (none if ``None``), with
        an ambassador of ``country`` holding ``credit`` in it."""
        manager = make_user(self.db, Role.MANAGER)
        fund = make_fund(self.db, currency=currency, budget=1_000_000, manager=manager)
        ambassador = make_ambassador(self.db, country=country)
        wallet = fund_wallet(self.db, fund, ambassador, credit, manager)
        if payer is not None:
            set_payer(
                self.db,
                actor=self.finance,
                fund_id=fund.id,
                details=payer,
                ach_company_id="",
                ach_bank_name="",
                invoice_required=True,
                keys=self.keys,
                now=NOW,
            )
        return Side(fund, ambassador, wallet)

    def statement(self, data: bytes, filename: str = "statement.xml") -> StatementImport:
        return import_statement(
            self.db, actor=self.finance, data=data, filename=filename, currency=None, now=NOW
        )


def batches(run: Payments, *amounts: int, reference: str = "ACH-2026-06") -> list[PayoutBatch]:
    """One batch per amount, each paying one session with one new verified provider."""
    provider_id = run.verified()
    return [
        run.pay([run.approved(provider_id, amount)], f"{reference}-{number}")
        for number, amount in enumerate(amounts, start=1)
    ]


def provider_payments(db: Session, redemption_ids: Iterable[int]) -> dict[int, int]:
    """What the ledger paid to providers for each redemption: the positive posting of the
    ``provider_payment`` transaction its ``redemption.pay`` audit event names."""
    ids = list(redemption_ids)
    events = db.execute(
        select(AuditEvent.object_id, AuditEvent.after).where(
            AuditEvent.action == "redemption.pay", AuditEvent.object_id.in_(ids)
        )
    ).all()
    transactions = {
        int(json.loads(after)["transaction"]): rid for rid, after in events if rid is not None
    }
    postings = db.execute(
        select(Posting.transaction_id, Posting.amount, Account.kind)
        .join(LedgerTransaction, LedgerTransaction.id == Posting.transaction_id)
        .join(Account, Account.id == Posting.account_id)
        .where(
            Posting.transaction_id.in_(list(transactions)),
            LedgerTransaction.kind == TransactionKind.PROVIDER_PAYMENT,
        )
    ).all()
    paid = {
        transactions[transaction_id]: amount
        for transaction_id, amount, kind in postings
        if kind is AccountKind.PAID_TO_PROVIDERS
    }
    assert sorted(paid) == sorted(ids), "every redemption has one provider payment"
    return paid


def csv_statement(rows: Sequence[tuple[str, int]], currency: str, day: str = "2026-06-03") -> bytes:
    """A CSV statement of ``rows`` (reference, signed minor units: negative for money paid
    out) in ``currency``."""
    lines = ["Date,Amount,Reference,Currency"]
    lines += [
        f"{day},{'-' if minor < 0 else ''}{plain_amount(abs(minor), currency)},{ref},{currency}"
        for ref, minor in rows
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def batch_entry(
    batch: PayoutBatch, amount: int | None = None, reference: str | None = None
) -> camt.Entry:
    """The camt.053 entry a bank books a batch under: one amount (the batch's, unless
    ``amount``) for two transfers, with the batch's file id (or ``reference``) as its
    payment information id."""
    total = batch.amount if amount is None else amount
    return camt.Entry(
        date(2026, 6, 2),
        total,
        "debit",
        pmt_inf_id=reference or batch.file_id,
        transactions=(
            camt.Transaction(f"{batch.file_id}-P1", total - 1),
            camt.Transaction(f"{batch.file_id}-P2", 1),
        ),
    )


def docx() -> bytes:
    """A small Word document (DOCX): the members such a file has, and a line of text."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships/>')
        archive.writestr("word/document.xml", '<?xml version="1.0"?><document>Invoice</document>')
    return out.getvalue()
