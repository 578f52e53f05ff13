"""Finance's bank files, fund payment settings and statements through the screens: the
pain.001 and NACHA downloads of a batch and their refusals, a fund's payer account, importing
camt.053 and CSV statements (once, refusing unsafe or unreadable files with nothing written),
the dashboard's lines to look into and late payments, and who may reach any of it."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import EnvironBuilder, TestResponse

from grants import clock
from grants.data_key import data_keys
from grants.domain import payouts, redemptions
from grants.domain.funds import open_fund
from grants.domain.invoices import attach_invoice
from grants.domain.money import Money
from grants.domain.payment_files import nacha_file, pain001_file, set_payer
from grants.domain.provider_bank import set_bank_details
from grants.domain.providers import ProviderDetails, propose_provider, verify_provider
from grants.models import (
    AuditEvent,
    Country,
    Fund,
    FundKind,
    LineOutcome,
    PayoutBatch,
    Role,
    StatementImport,
    StatementLine,
)
from grants.payments.bank_details import BankDetails, check_gb, check_us
from tests.factories import fund_wallet, make_ambassador, make_fund, make_user
from tests.payments import camt
from tests.payments.nacha_reader import read_nacha
from tests.payments.test_pain001 import validated
from tests.support import csrf_token, form_fields, sign_in

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n"
    b"xref\n0 4\n0000000000 65535 f \n0000000009 00000 n \n0000000052 00000 n \n"
    b"0000000101 00000 n \ntrailer<</Size 4/Root 1 0 R>>\nstartxref\n170\n%%EOF\n"
)
STATEMENTS = "/finance/statements"
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><x>&lol3;</x></Document>
"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE Document [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
<BkToCstmrStmt><Stmt><Id>&secret;</Id></Stmt></BkToCstmrStmt></Document>
"""


def us_account(holder: str, routing: str, number: str) -> BankDetails:
    return check_us(
        account_holder=holder,
        routing_number=routing,
        account_number=number,
        account_type="checking",
    )


PROVIDERS = {
    "USD": (
        ProviderDetails(
            kind="person",
            name="Dr Zoë Lee",
            country="US",
            email="zoe@example.org",
            licence_type="LCSW",
            licence_number="LCSW-123",
            licence_issuer="Tennessee Board of Social Work",
        ),
        us_account("Zoe Lee LCSW", "011000015", "000123456789"),
    ),
    "GBP": (
        ProviderDetails(
            kind="person",
            name="Dr Sam Hale",
            country="GB",
            email="sam@example.org",
            licence_type="HCPC",
            licence_number="PYL0123",
            licence_issuer="HCPC",
        ),
        check_gb(account_holder="Sam Hale", sort_code="40-47-84", account_number="70872490"),
    ),
}
"""The provider each currency's sessions are booked with, and their account."""


class Payments:
    """A US and a UK therapy fund (each with its payer account unless told otherwise), an
    ambassador with credit in each, finance and a manager; batches are paid through the
    domain, the way tests/payments/test_provider_payments.py pays them."""

    def __init__(self, app: Flask, db: Session) -> None:
        self.app, self.db = app, db
        self.keys = data_keys(app)
        self.manager = make_user(db, Role.MANAGER)
        self.finance = make_user(db, Role.FINANCE, name="Frankie Fern")
        self.usd = make_fund(db, budget=1_000_000, manager=self.manager, name="Therapy US")
        self.gbp = make_fund(
            db, currency="GBP", budget=1_000_000, manager=self.manager, name="Therapy UK"
        )
        self.ambassador = make_ambassador(db)
        self.briton = make_ambassador(db, country=Country.GB)
        self.wallets = {
            "USD": fund_wallet(db, self.usd, self.ambassador, 100_000, self.manager),
            "GBP": fund_wallet(db, self.gbp, self.briton, 100_000, self.manager),
        }
        self.payer(self.usd.id, us_account("Heart & Soul Funding", "021000021", "9876543210"))
        self.payer(
            self.gbp.id,
            check_gb(
                account_holder="Heart & Soul UK", sort_code="20-00-00", account_number="55779911"
            ),
        )
        self.counter = 0
        db.commit()

    def payer(self, fund_id: int, details: BankDetails) -> None:
        set_payer(
            self.db,
            actor=self.finance,
            fund_id=fund_id,
            details=details,
            ach_company_id="1234567890",
            ach_bank_name="JPMORGAN CHASE",
            invoice_required=True,
            keys=self.keys,
            now=NOW,
        )

    def key(self) -> str:
        self.counter += 1
        return f"k{self.counter}"

    def provider(self, currency: str) -> int:
        """A verified provider paid in ``currency``, with bank details."""
        details, account = PROVIDERS[currency]
        booker = self.ambassador if currency == "USD" else self.briton
        receipt = propose_provider(
            self.db, key=self.key(), actor=booker.user, details=details, now=NOW
        )
        assert receipt.object_id is not None
        set_bank_details(
            self.db,
            actor=self.finance,
            provider_id=receipt.object_id,
            details=account,
            keys=self.keys,
            version=None,
            now=NOW,
        )
        verify_provider(
            self.db, actor=self.finance, provider_id=receipt.object_id, version=None, now=NOW
        )
        return receipt.object_id

    def batch(self, currency: str, amounts: tuple[int, ...], reference: str) -> PayoutBatch:
        """Sessions of ``amounts`` with one provider, invoiced, approved and paid in a batch
        under ``reference``."""
        provider_id = self.provider(currency)
        wallet = self.wallets[currency]
        paid = []
        for minor in amounts:
            receipt = redemptions.request_redemption(
                self.db,
                key=self.key(),
                actor=wallet.user,
                wallet_id=wallet.id,
                amount=Money(minor, currency),
                provider_id=provider_id,
                session_date=date(2026, 5, 20),
                now=NOW,
            )
            assert receipt.object_id is not None
            attach_invoice(
                self.db,
                actor=wallet.user,
                redemption_id=receipt.object_id,
                upload_stream=io.BytesIO(PDF),
                filename="invoice.pdf",
                folder=self.app.instance_path,
                max_bytes=1_000_000,
                now=NOW,
            )
            redemptions.approve_redemption(
                self.db,
                key=self.key(),
                actor=self.finance,
                redemption_id=receipt.object_id,
                now=NOW,
            )
            paid.append(receipt.object_id)
        payouts.pay_redemptions(
            self.db,
            key=self.key(),
            actor=self.finance,
            redemption_ids=paid,
            payment_reference=reference,
            now=NOW,
        )
        batch = self.db.scalars(
            select(PayoutBatch).where(PayoutBatch.payment_reference == reference)
        ).one()
        self.db.commit()
        return batch

    def footprint(self) -> tuple[int, int, int, int]:
        """Counts any import would change: imports, lines, audit events, settled batches."""
        self.db.rollback()
        counts = (
            self.db.scalar(select(func.count()).select_from(StatementImport)) or 0,
            self.db.scalar(select(func.count()).select_from(StatementLine)) or 0,
            self.db.scalar(select(func.count()).select_from(AuditEvent)) or 0,
            self.db.scalar(select(func.count()).where(PayoutBatch.settled_at.is_not(None))) or 0,
        )
        self.db.commit()
        return counts


@pytest.fixture
def world(app: Flask, db: Session) -> Payments:
    return Payments(app, db)


@pytest.fixture
def finance(app: Flask, world: Payments) -> FlaskClient:
    return sign_in(app, world.finance.email)


def text(response: TestResponse) -> str:
    """The page's words, tags removed and white space folded."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)).split())


def upload(
    client: FlaskClient, data: bytes, name: str = "statement.xml", currency: str = ""
) -> TestResponse:
    """Post ``data`` as the statement form's file; the request's temporary file is closed
    after the request."""
    fields: dict[str, object] = {
        **form_fields(client, STATEMENTS),
        "currency": currency,
        "file": (io.BytesIO(data), name),
    }
    builder = EnvironBuilder(path=STATEMENTS, method="POST", data=fields)
    environ = builder.get_environ()
    try:
        return client.open(environ)
    finally:
        environ["wsgi.input"].close()
        builder.close()


def settling(batch: PayoutBatch, amount: int | None = None) -> bytes:
    """A camt.053 statement booking ``batch`` as one entry, as the bank books a payment run."""
    return camt.camt053(
        [
            camt.Entry(
                date(2026, 6, 2),
                amount or batch.amount,
                "debit",
                pmt_inf_id=batch.file_id,
                bank_reference="BANK-778",
                transactions=(camt.Transaction(f"{batch.file_id}-P1", amount or batch.amount),),
            ),
            camt.Entry(date(2026, 6, 3), 5_000, "credit", text="Donation"),
        ],
        currency=batch.currency,
    )


# --- bank files ------------------------------------------------------------------------------


def test_the_batch_files_download_as_the_domain_builds_them(
    world: Payments, finance: FlaskClient, db: Session
) -> None:
    batch = world.batch("USD", (12_000, 8_050), "ACH-2026-06-01")
    listing = finance.get("/finance/payouts/batches").get_data(as_text=True)
    assert f'href="/finance/batches/{batch.id}/pain001"' in listing
    assert f'href="/finance/batches/{batch.id}/nacha"' in listing
    assert "Not settled" in listing

    xml = finance.get(f"/finance/batches/{batch.id}/pain001")
    assert xml.status_code == 200
    expected = pain001_file(db, actor=world.finance, batch_id=batch.id, keys=world.keys)
    assert xml.data == expected.content
    validated(xml.data)
    assert xml.headers["Content-Disposition"] == f'attachment; filename="{expected.filename}"'
    assert xml.mimetype == "application/xml"

    ach = finance.get(f"/finance/batches/{batch.id}/nacha")
    assert ach.status_code == 200
    built = nacha_file(db, actor=world.finance, batch_id=batch.id, keys=world.keys)
    assert ach.data == built.content
    assert read_nacha(ach.data).total_credit == 20_050
    assert ach.headers["Content-Disposition"] == f'attachment; filename="{batch.file_id}.ach.txt"'
    for response in (xml, ach):
        assert "no-store" in response.headers["Cache-Control"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_pound_batch_has_no_nacha_file(world: Payments, finance: FlaskClient) -> None:
    batch = world.batch("GBP", (6_550,), "BACS-2026-06-01")
    listing = finance.get("/finance/payouts/batches").get_data(as_text=True)
    assert f"/finance/batches/{batch.id}/pain001" in listing
    assert f"/finance/batches/{batch.id}/nacha" not in listing
    assert finance.get(f"/finance/batches/{batch.id}/pain001").status_code == 200

    refused = finance.get(f"/finance/batches/{batch.id}/nacha")
    assert refused.status_code == 422
    assert "Content-Disposition" not in refused.headers
    assert "A NACHA file pays US dollars only" in text(refused)
    assert "BACS-2026-06-01" in text(refused), "the refusal comes with the list of batches"


def test_a_batch_the_files_cannot_pay_is_refused_with_the_reason(
    world: Payments, finance: FlaskClient, db: Session
) -> None:
    batch = world.batch("USD", (12_000,), "ACH-2026-06-01")
    fund = db.get_one(Fund, world.usd.id)
    fund.payer_account, fund.payer_summary = None, ""
    db.commit()
    for kind in ("pain001", "nacha"):
        refused = finance.get(f"/finance/batches/{batch.id}/{kind}")
        assert refused.status_code == 409
        assert "Therapy US has no account to pay from" in text(refused)
    assert finance.get(f"/finance/batches/{batch.id + 99}/pain001").status_code == 404


# --- a fund's payment settings ---------------------------------------------------------------


def payments_url(fund: Fund) -> str:
    return f"/finance/funds/{fund.id}/payments"


def test_a_fund_gets_a_new_payer_account_and_keeps_it_when_left_empty(
    world: Payments, finance: FlaskClient, db: Session
) -> None:
    dashboard = finance.get("/finance/").get_data(as_text=True)
    assert f'href="{payments_url(world.usd)}"' in dashboard
    page = finance.get(payments_url(world.usd))
    assert "Heart &amp; Soul Funding" in page.get_data(as_text=True)
    assert "····3210" in text(page)
    assert "9876543210" not in page.get_data(as_text=True)

    fields = form_fields(finance, payments_url(world.usd))
    assert fields["invoice_required"] == "y"
    changed = finance.post(
        payments_url(world.usd),
        data={
            **fields,
            "scheme": "us",
            "account_holder": "Heart & Soul Therapy",
            "routing_number": "011000015",
            "us_account_number": "44556677",
            "account_type": "savings",
            "ach_company_id": "9876543210",
        },
    )
    assert changed.status_code == 303
    db.expire_all()
    fund = db.get_one(Fund, world.usd.id)
    assert fund.payer_name == "Heart & Soul Therapy"
    assert fund.payer_summary.endswith("6677")
    assert fund.ach_company_id == "9876543210"
    assert "44556677" not in (fund.payer_account or "")
    db.commit()

    fields = form_fields(finance, payments_url(world.usd))
    del fields["invoice_required"]
    kept = finance.post(payments_url(world.usd), data=fields)
    assert kept.status_code == 303
    db.expire_all()
    fund = db.get_one(Fund, world.usd.id)
    assert fund.payer_summary.endswith("6677"), "empty account fields keep the account"
    assert fund.invoice_required is False
    assert "were saved" in text(finance.get(payments_url(world.usd)))
    db.commit()


def test_a_wrong_account_is_refused_on_its_field_and_changes_nothing(
    world: Payments, finance: FlaskClient, db: Session
) -> None:
    before = world.footprint()
    fields = form_fields(finance, payments_url(world.gbp))
    assert "ach_company_id" not in fields, "ACH details are for US funds only"
    refused = finance.post(
        payments_url(world.gbp),
        data={
            **fields,
            "scheme": "gb",
            "account_holder": "Heart & Soul UK",
            "sort_code": "20-00-00",
            "gb_account_number": "12x",
        },
    )
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert re.search(r'id="gb_account_number-error">[^<]*account number', page, re.IGNORECASE)
    assert world.footprint() == before
    db.expire_all()
    assert db.get_one(Fund, world.gbp.id).payer_summary.endswith("9911")
    db.commit()


def test_a_grants_fund_has_no_payment_settings(
    world: Payments, finance: FlaskClient, db: Session
) -> None:
    fund = open_fund(
        db,
        name="Grants US",
        kind=FundKind.GRANTS,
        currency="USD",
        start=date(2026, 1, 1),
        end=date(2026, 12, 31),
    )
    db.commit()
    assert finance.get(payments_url(fund)).status_code == 404
    assert f'href="{payments_url(fund)}"' not in finance.get("/finance/").get_data(as_text=True)


# --- statements ------------------------------------------------------------------------------


def test_a_camt_statement_settles_its_batch_once(
    world: Payments, finance: FlaskClient, db: Session
) -> None:
    batch = world.batch("USD", (12_000, 8_050), "ACH-2026-06-01")
    statement = settling(batch)

    imported = upload(finance, statement, "june.xml")
    assert imported.status_code == 303
    page = finance.get(imported.headers["Location"])
    words = text(page)
    assert "2 lines, 1 payment settled." in words
    assert f"Settled batch {batch.file_id} (ACH-2026-06-01)" in words
    assert "Money in" in words
    assert "BANK-778" in words
    assert "$200.50" in words
    db.expire_all()
    assert db.get_one(PayoutBatch, batch.id).settled_at is not None
    outcomes = db.scalars(select(StatementLine.outcome).order_by(StatementLine.line_number)).all()
    assert outcomes == [LineOutcome.SETTLED_BATCH, LineOutcome.NOT_A_PAYMENT]
    db.commit()
    listing = text(finance.get("/finance/payouts/batches"))
    assert re.search(r"Settled [A-Z][a-z]{2} \d{1,2}, \d{4}", listing), "the day it was settled"
    assert "Not settled" not in listing

    before = world.footprint()
    again = upload(finance, statement, "june-again.xml")
    assert again.status_code == 409
    assert "imported already" in text(again)
    assert "nothing changed" in text(again)
    earlier = db.scalars(select(StatementImport.id)).one()
    db.commit()
    assert f'href="/finance/statements/{earlier}"' in again.get_data(as_text=True)
    assert world.footprint() == before

    history = text(finance.get(STATEMENTS))
    assert "june.xml camt.053 2 1 0 Frankie Fern" in history


def test_lines_that_name_no_payment_or_another_amount_go_on_the_dashboard(
    world: Payments, finance: FlaskClient, db: Session
) -> None:
    batch = world.batch("USD", (12_000,), "ACH-2026-06-01")
    csv = (
        "Date,Amount,Reference,Description\r\n"
        "2026-06-03,-45.00,MYSTERY-1,Card payment\r\n"
        f"2026-06-04,-119.00,{batch.file_id},Provider run\r\n"
    ).encode()
    missing = upload(finance, csv, "june.csv")
    assert missing.status_code == 422
    assert "no currency column" in text(missing)

    imported = upload(finance, csv, "june.csv", currency="USD")
    assert imported.status_code == 303
    words = text(finance.get(imported.headers["Location"]))
    assert "No payment with this reference" in words
    assert f"Amount differs from batch {batch.file_id} (ACH-2026-06-01) (expected $120.00)" in words

    dashboard = text(finance.get("/finance/"))
    section = dashboard[dashboard.index("Statement lines to look into") :]
    assert "MYSTERY-1" in section
    assert "$45.00" in section
    assert f"Amount differs from batch {batch.file_id}" in section
    assert "All lines to look into" in section
    everything = text(finance.get("/finance/statements/attention"))
    assert "MYSTERY-1" in everything
    assert "$119.00" in everything
    db.expire_all()
    assert db.get_one(PayoutBatch, batch.id).settled_at is None
    db.commit()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (BILLION_LAUGHS, "document type declaration"),
        (EXTERNAL_ENTITY, "document type declaration"),
        (b"<Document><unclosed></Document>", "not well-formed XML"),
        (b"date,amount,reference\r\n2026-06-03,-12.345,R1\r\n", "decimal places"),
    ],
    ids=["xml bomb", "external entity", "malformed", "too many decimals"],
)
def test_an_unsafe_or_unreadable_statement_is_refused_with_nothing_written(
    world: Payments, finance: FlaskClient, data: bytes, message: str
) -> None:
    before = world.footprint()
    refused = upload(finance, data, "bad.xml", currency="USD")
    assert refused.status_code == 422
    assert message in text(refused)
    assert "root:" not in refused.get_data(as_text=True)
    assert world.footprint() == before


def test_a_statement_over_the_limit_is_refused(world: Payments, finance: FlaskClient) -> None:
    before = world.footprint()
    data = b"date,amount,reference\r\n" + b"x" * (10 * 1024 * 1024)
    refused = upload(finance, data, "huge.csv", currency="USD")
    assert refused.status_code == 422
    assert "larger than 10 MiB" in text(refused)
    assert world.footprint() == before


def test_a_payment_unsettled_after_five_working_days_is_on_the_dashboard(
    world: Payments, finance: FlaskClient, db: Session
) -> None:
    batch = world.batch("USD", (12_000,), "ACH-LATE-1")
    db.get_one(PayoutBatch, batch.id).paid_at = clock.now() - timedelta(days=1)
    db.commit()
    section = "Payments not settled after 5 working days"
    dashboard = text(finance.get("/finance/"))
    assert "ACH-LATE-1" not in dashboard[dashboard.index(section) :]

    db.get_one(PayoutBatch, batch.id).paid_at = clock.now() - timedelta(days=14)
    db.commit()
    dashboard = text(finance.get("/finance/"))
    late = dashboard[dashboard.index(section) :]
    assert "Batch ACH-LATE-1" in late
    assert "$120.00" in late


# --- who may reach it ------------------------------------------------------------------------


def test_only_finance_reaches_these_screens(app: Flask, world: Payments, db: Session) -> None:
    batch = world.batch("USD", (12_000,), "ACH-2026-06-01")
    imported = upload(sign_in(app, world.finance.email), settling(batch))
    statement_url = imported.headers["Location"]
    gets = [
        f"/finance/batches/{batch.id}/pain001",
        f"/finance/batches/{batch.id}/nacha",
        payments_url(world.usd),
        STATEMENTS,
        statement_url,
        "/finance/statements/attention",
    ]
    others = (world.manager, world.ambassador.user, make_user(db, Role.ADMIN))
    db.commit()
    before = world.footprint()
    for email in (other.email for other in others):
        client = sign_in(app, email)
        token = csrf_token(client, "/account/profile")
        for url in gets:
            assert client.get(url).status_code == 403, (email, url)
        unticked = client.post(payments_url(world.usd), data={"csrf_token": token})
        assert unticked.status_code == 403, email
        statement = client.post(
            STATEMENTS,
            data={"csrf_token": token, "file": (io.BytesIO(b"date,amount,reference\r\n"), "s.csv")},
        )
        assert statement.status_code == 403, email
    anonymous = app.test_client()
    for url in gets:
        assert anonymous.get(url).status_code == 302, url
    assert world.footprint() == before
    db.expire_all()
    assert db.get_one(Fund, world.usd.id).invoice_required is True
    db.commit()
