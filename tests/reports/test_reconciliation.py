"""The report reconciles: every total in the PDF equals the ledger's own sums at the same
cutoff, per-ambassador rows equal their wallets' postings, and the CSV attached to the PDF
is the CSV export, byte for byte."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlencode

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.models import AccountKind, LedgerTransaction, Posting, TransactionKind
from grants.reports.pdf import ATTACHMENT_NAME
from tests.reports.dataset import Books
from tests.reports.support import (
    amounts,
    attachments,
    page_with,
    pages_text,
    plumbed_lines,
    plumbed_table,
    report_query,
    sum_postings,
    totals_line,
)
from tests.support import require, submit

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def wallet_sum(db: Session, account_id: int, *kinds: TransactionKind) -> int:
    """The sum of one account's postings, of transactions of ``kinds`` (all when none)."""
    query = (
        select(func.coalesce(func.sum(Posting.amount), 0))
        .join(LedgerTransaction, LedgerTransaction.id == Posting.transaction_id)
        .where(Posting.account_id == account_id)
    )
    if kinds:
        query = query.where(LedgerTransaction.kind.in_(kinds))
    return int(db.scalar(query) or 0)


def download_pdf(client: FlaskClient, **changes: str) -> bytes:
    page = f"/finance/reports?{urlencode(report_query(**changes))}"
    response = submit(client, page, {}, action="/finance/reports/pdf")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    return response.data


def test_every_total_ties_to_the_ledger(db: Session, books: Books, finance: FlaskClient) -> None:
    pdf = download_pdf(finance)
    assert pdf.startswith(b"%PDF-")

    budget = -sum_postings(db, kinds=[AccountKind.BUDGET_SOURCE])
    remaining = sum_postings(db, kinds=[AccountKind.FUND])
    paid = sum_postings(db, kinds=[AccountKind.PAID_TO_PARTNERS, AccountKind.PAID_TO_PROVIDERS])
    funds = page_with(pdf, "Funds: budget paid")
    assert amounts(totals_line(funds)) == [
        budget,
        budget - remaining,
        paid,
        budget - remaining - paid,
        remaining,
    ]
    assert budget == 15_000_000
    assert remaining == 11_140_000

    approved = sum_postings(
        db, kinds=[AccountKind.GRANT], transaction_kinds=[TransactionKind.GRANT_APPROVAL]
    )
    tranches = -sum_postings(
        db, kinds=[AccountKind.GRANT], transaction_kinds=[TransactionKind.TRANCHE_PAYMENT]
    )
    awarded = sum_postings(db, kinds=[AccountKind.GRANT])
    grants = page_with(pdf, "Grants by partner")
    assert amounts(totals_line(grants)) == [approved, tranches, awarded]
    assert tranches == sum_postings(db, kinds=[AccountKind.PAID_TO_PARTNERS])
    assert "Backline" in grants
    assert "active" in grants
    assert "approved" in grants

    wallets = [AccountKind.WALLET, AccountKind.WALLET_HOLD]
    allocated = sum_postings(
        db,
        kinds=[AccountKind.WALLET],
        transaction_kinds=[TransactionKind.ALLOWANCE],
        wallet_side="available",
    )
    gifted = sum_postings(
        db,
        kinds=[AccountKind.WALLET_HOLD],
        transaction_kinds=[TransactionKind.GIFT_HOLD, TransactionKind.GIFT_RELEASE],
        wallet_side="held",
    )
    claimed = -sum_postings(
        db,
        kinds=[AccountKind.WALLET_HOLD],
        transaction_kinds=[TransactionKind.GIFT_CLAIM],
        wallet_side="held",
    )
    redeemed = -sum_postings(
        db,
        kinds=[AccountKind.WALLET_HOLD],
        transaction_kinds=[TransactionKind.REDEMPTION_APPROVAL],
        wallet_side="held",
    )
    to_providers = sum_postings(db, kinds=[AccountKind.PAID_TO_PROVIDERS])
    outstanding = sum_postings(db, kinds=wallets, wallet_side="available") + sum_postings(
        db, kinds=wallets, wallet_side="held"
    )
    therapy = page_with(pdf, "Therapy credit by programme and country")
    total = totals_line(therapy)
    assert amounts(total) == [
        allocated,
        gifted,
        claimed,
        redeemed,
        to_providers,
        allocated - claimed - redeemed - outstanding,
        outstanding,
    ]
    assert total.split()[1:2] == ["8"]  # ambassadors
    assert (allocated, gifted, claimed, redeemed, to_providers) == (
        360_000,
        15_000,
        10_000,
        33_000,
        25_000,
    )

    lines = plumbed_lines(pdf, "Therapy credit by ambassador")
    for number, wallet in enumerate([*books.glow, *books.radar], start=1):
        programme = "GLOW" if number <= len(books.glow) else "RADAR"
        index = number if programme == "GLOW" else number - len(books.glow)
        line = next(v for v in lines if v.startswith(f"Ambassador {programme} {index} "))
        assert amounts(line) == [
            wallet_sum(db, wallet.account_id, TransactionKind.ALLOWANCE),
            wallet_sum(
                db,
                wallet.hold_account_id,
                TransactionKind.GIFT_HOLD,
                TransactionKind.GIFT_RELEASE,
            ),
            -wallet_sum(db, wallet.hold_account_id, TransactionKind.REDEMPTION_APPROVAL),
            wallet_sum(db, wallet.account_id) + wallet_sum(db, wallet.hold_account_id),
        ]
    assert amounts(totals_line(page_with(pdf, "Therapy credit by ambassador"))) == [
        allocated,
        gifted,
        redeemed,
        outstanding,
    ]

    table = plumbed_table(pdf, "Therapy credit by programme and country")
    glow = "".join(next(row for row in table if "GLOW" in row))
    glow_wallets = books.glow
    glow_outstanding = sum(
        wallet_sum(db, w.account_id) + wallet_sum(db, w.hold_account_id) for w in glow_wallets
    )
    assert amounts(glow) == [300_000, 15_000, 10_000, 23_000, 15_000, 0, glow_outstanding]
    assert 10_000 + 23_000 + 0 + glow_outstanding == 300_000

    text = "\n".join(pages_text(pdf))
    assert "page 1 of 5" in text
    assert "page 5 of 5" in text
    assert "Dr Lee" not in text, "no provider names"


def test_the_attached_csv_is_the_csv_export(books: Books, finance: FlaskClient) -> None:
    pdf = download_pdf(finance)
    attached = attachments(pdf)
    assert list(attached) == [ATTACHMENT_NAME]
    export = finance.get(f"/finance/reports/csv?{urlencode(report_query(table='all'))}")
    assert export.status_code == 200
    assert export.mimetype == "text/csv"
    assert attached[ATTACHMENT_NAME] == [export.data]
    assert b"funds,Total,,,,150000.00,38600.00," in export.data


def test_a_first_page_image_is_kept(books: Books, finance: FlaskClient, tmp_path: Path) -> None:
    pdftoppm = shutil.which("pdftoppm")
    require(pdftoppm is not None, "pdftoppm (poppler-utils) is not installed")
    assert pdftoppm is not None
    source = tmp_path / "report.pdf"
    source.write_bytes(download_pdf(finance))
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / "allocation-report-page-1"
    subprocess.run(
        [
            pdftoppm,
            "-png",
            "-r",
            "60",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(source),
            str(target),
        ],
        check=True,
        timeout=60,
    )
    image = target.with_suffix(".png")
    assert image.read_bytes().startswith(b"\x89PNG")
