"""Reading reports back: PDF text, tables and attachments, amounts, and ledger sums computed
straight from the postings, independently of the report's own queries."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from decimal import Decimal

import pdfplumber
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.models import (
    Account,
    AccountKind,
    LedgerTransaction,
    Posting,
    TransactionKind,
    Wallet,
    WalletKind,
)
from tests.reports.dataset import YEAR

MONEY = re.compile(r"-?\$?\d[\d,]*\.\d\d")


def minor(text: str) -> int:
    """``$1,234.50`` or ``1,234.50`` as 123450."""
    return int(Decimal(text.replace("$", "").replace(",", "")) * 100)


def amounts(line: str) -> list[int]:
    """Every amount on ``line`` (with or without its dollar sign), in minor units, left to
    right."""
    return [minor(match) for match in MONEY.findall(line)]


def report_query(**changes: str) -> dict[str, str]:
    """The query string of the dataset's report: USD, this plan year, finance level."""
    return {"currency": "USD", "year": str(YEAR), "privacy": "finance", **changes}


def pages_text(pdf: bytes) -> list[str]:
    """Each page's text, as pypdf extracts it."""
    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages]


def page_with(pdf: bytes, heading: str) -> str:
    """The text of the first page whose text contains ``heading``."""
    for text in pages_text(pdf):
        if heading in text:
            return text
    raise AssertionError(f"no page with {heading!r}")


def totals_line(text: str, label: str = "Total") -> str:
    """The totals row of the table on a page."""
    lines = [line for line in text.splitlines() if line.startswith(label)]
    assert lines, f"no {label!r} row in {text!r}"
    return lines[-1]


def total_after(text: str, heading: str) -> str:
    """The first totals row after ``heading`` in ``text``."""
    lines = text.splitlines()
    start = next(number for number, line in enumerate(lines) if heading in line)
    return next(line for line in lines[start:] if line.startswith("Total"))


def plumbed_lines(pdf: bytes, heading: str) -> list[str]:
    """The lines of the page with ``heading``, as pdfplumber reads them."""
    with pdfplumber.open(io.BytesIO(pdf)) as document:
        for page in document.pages:
            text = page.extract_text() or ""
            if heading in text:
                return text.splitlines()
    raise AssertionError(f"no page with {heading!r}")


def plumbed_table(pdf: bytes, heading: str) -> list[list[str]]:
    """The rows of the table on the page with ``heading``, by pdfplumber's text strategies."""
    with pdfplumber.open(io.BytesIO(pdf)) as document:
        for page in document.pages:
            if heading in (page.extract_text() or ""):
                table = page.extract_table(
                    {"vertical_strategy": "text", "horizontal_strategy": "text"}
                )
                assert table, f"no table on the page with {heading!r}"
                return [[cell or "" for cell in row] for row in table]
    raise AssertionError(f"no page with {heading!r}")


def attachments(pdf: bytes) -> dict[str, list[bytes]]:
    return dict(PdfReader(io.BytesIO(pdf)).attachments)


# --- the ledger, summed directly ---------------------------------------------------------------


def sum_postings(
    db: Session,
    *,
    kinds: Iterable[AccountKind],
    transaction_kinds: Iterable[TransactionKind] | None = None,
    wallet_side: str | None = None,
) -> int:
    """The sum of the postings on accounts of ``kinds`` (optionally only from transactions of
    ``transaction_kinds``, optionally only on ambassador wallets' ``available`` or ``held``
    accounts)."""
    query = (
        select(func.coalesce(func.sum(Posting.amount), 0))
        .join(Account, Account.id == Posting.account_id)
        .join(LedgerTransaction, LedgerTransaction.id == Posting.transaction_id)
        .where(Account.kind.in_(list(kinds)))
    )
    if transaction_kinds is not None:
        query = query.where(LedgerTransaction.kind.in_(list(transaction_kinds)))
    if wallet_side is not None:
        column = Wallet.account_id if wallet_side == "available" else Wallet.hold_account_id
        query = query.where(
            Account.id.in_(select(column).where(Wallet.kind == WalletKind.AMBASSADOR))
        )
    return int(db.scalar(query) or 0)
