"""The reports' running totals: a report reads the same figures before and after folding,
at the latest position and at a cutoff before the watermark; folding twice counts nothing
twice. A fold takes what has committed at once, and on PostgreSQL a transaction that
commits after later ones, or a payment made while a fold runs, is folded when it commits:
the totals always end equal to the ledger's sums."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, aliased

from grants.domain.allowances import allocate_allowance
from grants.domain.ledger import Leg, fund_account, post
from grants.domain.money import Money
from grants.domain.payouts import pay_redemptions
from grants.extensions import db as database
from grants.models import (
    AccountKind,
    Ambassador,
    LedgerTransaction,
    Posting,
    Redemption,
    RedemptionState,
    TransactionKind,
    User,
    Wallet,
)
from grants.reports.flows import (
    Mark,
    ReportAccountFlow,
    ReportWalletPaid,
    current_mark,
    flows_at,
    fold,
    paid_at,
)
from grants.reports.queries import CellKind, Privacy, ReportData, ReportParameters, collect
from tests.reports.dataset import NOW, YEAR, Books

Sums = dict[object, tuple[int, int]]
"""Per key (an account and kind, or a wallet): an amount and how many rows made it."""


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


def fold_through(db: Session, transaction_id: int, within: float = 30) -> Mark:
    """Fold (and commit) until the mark reaches ``transaction_id``: the first fold does, but
    on PostgreSQL a transaction still writing anywhere on the server (another test run's,
    say) holds the fold back until it ends. The last mark."""
    deadline = time.monotonic() + within
    while True:
        mark = fold(db)
        db.commit()
        if mark.transaction_id >= transaction_id or time.monotonic() > deadline:
            return mark
        time.sleep(0.05)


def last_transaction(db: Session) -> int:
    return db.scalar(select(func.max(LedgerTransaction.id))) or 0


def test_folding_changes_no_figure(db: Session, books: Books) -> None:
    before = collect(db, parameters())
    assert current_mark(db).transaction_id == 0
    mark = fold_through(db, before.position)
    assert mark.transaction_id == before.position
    assert db.scalar(select(func.count()).select_from(ReportAccountFlow)) > 0
    after = collect(db, parameters())
    assert after.digest() == before.digest()

    again = fold(db)
    db.commit()
    assert again.transaction_id == mark.transaction_id
    assert collect(db, parameters()).digest() == before.digest(), "nothing counted twice"


def test_new_postings_and_earlier_cutoffs_read_through_the_totals(
    db: Session, books: Books
) -> None:
    fold_through(db, last_transaction(db))
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


def ledger_sums(db: Session) -> Sums:
    """The ledger's postings summed per account and kind (``reversal:<kind>`` for a
    reversal), straight from the postings."""
    original = aliased(LedgerTransaction)
    sums: defaultdict[object, tuple[int, int]] = defaultdict(lambda: (0, 0))
    for account_id, kind, reversed_kind, amount in db.execute(
        select(Posting.account_id, LedgerTransaction.kind, original.kind, Posting.amount)
        .join(LedgerTransaction, LedgerTransaction.id == Posting.transaction_id)
        .outerjoin(original, original.id == LedgerTransaction.reverses_id)
    ):
        key = (account_id, f"reversal:{reversed_kind}" if reversed_kind else str(kind))
        total, count = sums[key]
        sums[key] = (total + amount, count + 1)
    return dict(sums)


def stored_sums(db: Session) -> Sums:
    """The folded totals as stored."""
    return {
        (row.account_id, row.kind): (row.amount, row.postings)
        for row in db.scalars(select(ReportAccountFlow))
    }


def read_sums(db: Session) -> Sums:
    """The totals a report reads at the latest position (folded, corrected)."""
    flows = flows_at(db, last_transaction(db))
    return {
        (account_id, kind): (int(amount), int(count))
        for account_id, kind, amount, count in db.execute(
            select(
                flows.c.account_id,
                flows.c.kind,
                func.sum(flows.c.amount),
                func.sum(flows.c.postings),
            ).group_by(flows.c.account_id, flows.c.kind)
        )
    }


def payments(db: Session) -> dict[int, int]:
    """What the paid redemptions add up to per wallet, straight from the redemptions."""
    return {
        wallet_id: int(amount)
        for wallet_id, amount in db.execute(
            select(Redemption.wallet_id, func.sum(Redemption.amount))
            .where(Redemption.state == RedemptionState.PAID)
            .group_by(Redemption.wallet_id)
        )
    }


def read_payments(db: Session, cutoff: datetime | None = None) -> dict[int, int]:
    """What a report reads as paid per wallet up to ``cutoff``, wallets at zero left out."""
    paid = paid_at(db, cutoff)
    return {
        wallet_id: int(amount)
        for wallet_id, amount in db.execute(
            select(paid.c.wallet_id, func.sum(paid.c.amount)).group_by(paid.c.wallet_id)
        )
        if amount
    }


def stored_payments(db: Session) -> dict[int, int]:
    return {row.wallet_id: row.amount for row in db.scalars(select(ReportWalletPaid))}


def assert_exact(db: Session, *, all_folded: bool) -> None:
    """A report reads the ledger's and the payments' sums; once everything is folded, so do
    the stored totals."""
    assert read_sums(db) == ledger_sums(db)
    assert read_payments(db) == payments(db)
    if all_folded:
        assert stored_sums(db) == ledger_sums(db)
        assert stored_payments(db) == payments(db)


def test_a_fold_takes_what_has_just_committed(db: Session, books: Books) -> None:
    """No settling time: a transaction and a payment committed a moment ago are folded."""
    books.redeem(books.glow[4], 1_500, "pay")
    db.commit()
    last = last_transaction(db)
    mark = fold(db)
    db.commit()
    if db.get_bind().dialect.name == "sqlite":
        assert mark.transaction_id == last, "the one writer has committed everything"
    assert stored_payments(db) == payments(db)
    mark = fold_through(db, last)
    assert mark.transaction_id == last
    assert_exact(db, all_folded=True)
    assert fold(db).transaction_id == mark.transaction_id
    db.commit()
    assert_exact(db, all_folded=True)


def test_payments_read_at_a_cutoff_through_the_counted_totals(db: Session, books: Books) -> None:
    later = NOW + timedelta(days=1)
    books.redeem(books.glow[4], 1_500, "pay", at=later)
    db.commit()
    paid_before = {
        wallet_id: amount
        for wallet_id, amount in payments(db).items()
        if wallet_id != books.glow[4].id
    }
    fold(db)
    db.commit()
    assert stored_payments(db) == payments(db)
    assert read_payments(db, NOW + timedelta(hours=1)) == paid_before
    assert read_payments(db, later) == payments(db)
    assert read_payments(db, NOW - timedelta(days=1)) == {}


@contextmanager
def held_open(app: Flask) -> Iterator[Session]:
    """A second session on its own connection, whose transaction the test ends (rolled back
    if the test fails first)."""
    session = Session(database.engine)
    try:
        session.execute(text("SET lock_timeout = '20s'"))
        yield session
    finally:
        session.rollback()
        session.close()


def later_transaction(db: Session, books: Books) -> int:
    """A budget increase of the grants fund, written and committed by ``db`` through the
    ledger (it takes no lock a therapy operation holds); its id."""
    fund_id = books.grants_fund.id
    transaction_id = post(
        db,
        kind=TransactionKind.BUDGET_INCREASE,
        legs=[
            Leg(fund_account(db, fund_id, AccountKind.BUDGET_SOURCE), -4_321),
            Leg(fund_account(db, fund_id, AccountKind.FUND), 4_321),
        ],
        actor_id=books.manager.id,
    )
    db.commit()
    return transaction_id


@pytest.mark.postgres
def test_a_transaction_committing_after_later_ones_is_folded_when_it_commits(
    app: Flask, db: Session, books: Books
) -> None:
    fold(db)
    db.commit()
    ambassador_id = db.scalar(
        select(Ambassador.id).where(Ambassador.user_id == books.glow[0].user_id)
    )
    assert ambassador_id is not None
    with held_open(app) as held:
        allocate_allowance(
            held,
            key="held-open",
            actor=held.get_one(User, books.manager.id),
            fund_id=books.therapy_fund.id,
            ambassador_id=ambassador_id,
            amount=Money(555, "USD"),
        )
        held.flush()
        held_id = held.scalar(select(func.max(LedgerTransaction.id)))
        assert held_id is not None
        later_id = later_transaction(db, books)
        assert later_id > held_id

        for _ in range(2):
            mark = fold(db)
            db.commit()
            assert_exact(db, all_folded=False)
        assert mark.transaction_id < later_id, "nothing past the open transaction is folded"
        visible = ledger_sums(db)
        assert stored_sums(db) != visible, "the later transaction waits in the corrections"

        held.commit()
    assert ledger_sums(db) != visible
    assert_exact(db, all_folded=False)
    mark = fold_through(db, later_id)
    assert mark.transaction_id == later_id
    assert_exact(db, all_folded=True)


@pytest.mark.postgres
def test_a_payment_committing_after_folds_is_counted_when_it_commits(
    app: Flask, db: Session, books: Books
) -> None:
    fold_through(db, last_transaction(db))
    approved = db.scalar(select(Redemption.id).where(Redemption.state == RedemptionState.APPROVED))
    assert approved is not None
    paid_before = payments(db)
    with held_open(app) as held:
        pay_redemptions(
            held,
            key="held-batch",
            actor=held.get_one(User, books.finance.id),
            redemption_ids=[approved],
            payment_reference="HELD-1",
            now=NOW - timedelta(hours=1),
        )
        held.flush()
        for _ in range(2):
            fold(db)
            db.commit()
            assert payments(db) == paid_before
            assert_exact(db, all_folded=True)
        held.commit()
    assert payments(db) != paid_before
    assert_exact(db, all_folded=False)
    fold_through(db, last_transaction(db))
    assert_exact(db, all_folded=True)


def waiting_for(db: Session, holder: Session) -> bool:
    """Whether a connection waits for a lock ``holder`` holds, within ten seconds."""
    holder_pid = holder.scalar(text("SELECT pg_backend_pid()"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        waiting = db.scalar(
            text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"),
            {"pid": holder_pid},
        )
        db.rollback()
        if waiting:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.postgres
def test_two_folds_at_once_count_nothing_twice(app: Flask, db: Session, books: Books) -> None:
    """The second fold waits for the first's mark and, finding it moved, folds nothing."""
    fold_through(db, last_transaction(db))
    books.redeem(books.glow[4], 1_500, "pay")
    db.commit()
    first = Session(database.engine)
    finished: dict[str, object] = {}

    def second() -> None:
        with app.app_context():
            try:
                session = database.session()
                finished["mark"] = fold(session)
                session.commit()
            finally:
                database.session.remove()

    thread = threading.Thread(target=second)
    try:
        first_mark = fold(first)
        thread.start()
        assert waiting_for(db, first), "the second fold waits for the first's mark"
        first.commit()
        thread.join(20)
        assert not thread.is_alive()
    finally:
        first.rollback()
        first.close()
    assert finished["mark"] == first_mark
    assert stored_payments(db) == payments(db)
    assert_exact(db, all_folded=False)
    fold_through(db, last_transaction(db))
    assert_exact(db, all_folded=True)
