"""The reports' running totals: a report reads the same figures before and after folding,
at the latest position and at a cutoff before the watermark; folding twice counts nothing
twice."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.domain.allowances import allocate_allowance
from grants.domain.money import Money
from grants.models import Ambassador, LedgerTransaction, Posting, TransactionKind, Wallet
from grants.reports.flows import ReportAccountFlow, current_mark, fold
from grants.reports.queries import CellKind, Privacy, ReportData, ReportParameters, collect
from tests.reports.dataset import YEAR, Books

LATER = datetime.now(UTC) + timedelta(hours=1)


def parameters(cutoff: datetime | None = None) -> ReportParameters:
    return ReportParameters(
        currency="USD",
        start=date(YEAR, 1, 1),
        end=date(YEAR, 12, 31),
        privacy=Privacy.FINANCE,
        cutoff=cutoff,
    )


def allowance_total(data: ReportData) -> int:
    """The allowances of the report's ambassador rows (a bandmates row's credit is received)."""
    return sum(cell.allocated or 0 for cell in data.therapy if cell.kind is CellKind.AMBASSADORS)


def allocated_directly(db: Session, position: int) -> int:
    """Allowances in ambassador wallets up to ``position``, summed from the postings."""
    return int(
        db.scalar(
            select(func.coalesce(func.sum(Posting.amount), 0))
            .join(LedgerTransaction, LedgerTransaction.id == Posting.transaction_id)
            .where(
                LedgerTransaction.kind == TransactionKind.ALLOWANCE,
                Posting.account_id.in_(select(Wallet.account_id)),
                Posting.transaction_id <= position,
            )
        )
        or 0
    )


def test_folding_changes_no_figure(db: Session, books: Books) -> None:
    before = collect(db, parameters())
    assert current_mark(db).transaction_id == 0
    mark = fold(db, now=LATER)
    db.commit()
    assert mark.transaction_id == before.position
    assert db.scalar(select(func.count()).select_from(ReportAccountFlow)) > 0
    after = collect(db, parameters())
    assert after.digest() == before.digest()

    again = fold(db, now=LATER)
    db.commit()
    assert again == mark
    assert collect(db, parameters()).digest() == before.digest(), "nothing counted twice"


def test_new_postings_and_earlier_cutoffs_read_through_the_totals(
    db: Session, books: Books
) -> None:
    fold(db, now=LATER)
    db.commit()
    ambassador_id = db.scalar(
        select(Ambassador.id).where(Ambassador.user_id == books.glow[0].user_id)
    )
    assert ambassador_id is not None
    allocate_allowance(
        db,
        key="after-the-fold",
        actor=books.manager,
        fund_id=books.therapy_fund.id,
        ambassador_id=ambassador_id,
        amount=Money(777, "USD"),
    )
    db.commit()
    latest = collect(db, parameters())
    assert latest.position > current_mark(db).transaction_id
    assert allowance_total(latest) == allocated_directly(db, latest.position)
    assert allowance_total(latest) == 360_777

    allowances = db.execute(
        select(LedgerTransaction.id, LedgerTransaction.created_at)
        .where(LedgerTransaction.kind == TransactionKind.ALLOWANCE)
        .order_by(LedgerTransaction.id)
    ).all()
    third = allowances[2]
    earlier = collect(db, parameters(cutoff=third.created_at))
    assert earlier.position >= third.id
    assert earlier.position < current_mark(db).transaction_id
    assert allowance_total(earlier) == allocated_directly(db, earlier.position)
    assert allowance_total(earlier) < 360_000
