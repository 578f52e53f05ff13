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
    report_query,
    sum_postings,
    total_after,
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
    first_total = next(line for line in funds.splitlines() if line.startswith("Total"))
    assert amounts(first_total) == [
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
    assert "Active" in grants
    assert "Approved" in grants

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
    received = sum_postings(
        db, kinds=[AccountKind.WALLET], transaction_kinds=[TransactionKind.GIFT_CLAIM]
    )
    held = sum_postings(db, kinds=[AccountKind.WALLET_HOLD])
    available = sum_postings(db, kinds=[AccountKind.WALLET])
    outstanding = sum_postings(db, kinds=wallets, wallet_side="available") + sum_postings(
        db, kinds=wallets, wallet_side="held"
    )
    therapy = page_with(pdf, "Therapy credit by programme and country")
    total = total_after(therapy, "Therapy credit by programme and country")
    assert amounts(total) == [
        allocated + received,
        gifted,
        claimed,
        redeemed,
        to_providers,
        allocated + received - claimed - redeemed - held - available,
        held,
        available,
    ]
    assert total.split()[1:2] == ["9"]  # eight ambassadors and a bandmate
    assert (allocated, received, gifted, claimed, redeemed, to_providers) == (
        360_000,
        10_000,
        15_000,
        10_000,
        33_000,
        25_000,
    )
    assert held + available == outstanding + received, "the bandmate's credit has its own row"

    lines = plumbed_lines(pdf, "Therapy credit by person")
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
    assert amounts(totals_line("\n".join(pages_text(pdf)))) == [
        allocated + received,
        gifted,
        redeemed,
        held + available,
    ], "the last table's totals: every person, bandmates included"

    therapy_lines = plumbed_lines(pdf, "Therapy credit by programme and country")
    glow = next(line for line in therapy_lines if line.startswith("GLOW US "))
    glow_wallets = books.glow
    glow_held = sum(wallet_sum(db, w.hold_account_id) for w in glow_wallets)
    glow_available = sum(wallet_sum(db, w.account_id) for w in glow_wallets)
    assert amounts(glow) == [300_000, 15_000, 10_000, 23_000, 15_000, 0, glow_held, glow_available]
    assert glow_held == 5_000 + 4_000, "a gift pending and a session requested"
    assert 10_000 + 23_000 + 0 + glow_held + glow_available == 300_000

    pages = pages_text(pdf)
    text = "\n".join(pages)
    assert f"page 1 of {len(pages)}" in pages[0]
    assert f"page {len(pages)} of {len(pages)}" in pages[-1]
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
