"""Ledger invariants: balanced transactions, stored balances, append-only rows, idempotency,
the audit chain, and the verify commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from grants.domain import allowances, funds, redemptions
from grants.domain.audit import verify_chain
from grants.domain.errors import (
    IdempotencyConflict,
    InsufficientFunds,
    InvalidInput,
    NotAllowed,
    NotFound,
)
from grants.domain.ledger import Leg, fund_account, fund_balances, post, reverse, verify_ledger
from grants.domain.money import Money
from grants.models import (
    Account,
    AccountKind,
    AuditEvent,
    IdempotencyRecord,
    LedgerTransaction,
    Posting,
    Role,
    TransactionKind,
)
from tests.factories import fund_wallet, make_ambassador, make_fund, make_user


@pytest.fixture
def manager(db: Session):  # type: ignore[no-untyped-def]
    return make_user(db, Role.MANAGER)


@pytest.fixture
def finance(db: Session):  # type: ignore[no-untyped-def]
    return make_user(db, Role.FINANCE)


def count(db: Session, model: type) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


def test_every_transaction_balances_in_one_currency(db: Session, manager) -> None:  # type: ignore[no-untyped-def]
    fund = make_fund(db, budget=50_000, manager=manager)
    fund_wallet(db, fund, make_ambassador(db), 20_000, manager)
    for transaction in db.scalars(select(LedgerTransaction)):
        assert sum(p.amount for p in transaction.postings) == 0
        currencies = {db.get(Account, p.account_id).currency for p in transaction.postings}
        assert currencies == {transaction.currency} == {"USD"}
        assert all(type(p.amount) is int for p in transaction.postings)


def test_post_refuses_unbalanced_mixed_or_single_legs(db: Session, manager) -> None:  # type: ignore[no-untyped-def]
    usd = make_fund(db, currency="USD")
    gbp = make_fund(db, currency="GBP")
    source = fund_account(db, usd.id, AccountKind.BUDGET_SOURCE)
    pool = fund_account(db, usd.id, AccountKind.FUND)
    pound_pool = fund_account(db, gbp.id, AccountKind.FUND)
    with pytest.raises(ValueError, match="sum to zero"):
        post(
            db,
            kind=TransactionKind.BUDGET_INCREASE,
            legs=[Leg(source, -5), Leg(pool, 4)],
            actor_id=None,
        )
    with pytest.raises(ValueError, match="mixes currencies"):
        post(
            db,
            kind=TransactionKind.BUDGET_INCREASE,
            legs=[Leg(source, -5), Leg(pound_pool, 5)],
            actor_id=None,
        )
    with pytest.raises(ValueError, match="at least two"):
        post(
            db,
            kind=TransactionKind.BUDGET_INCREASE,
            legs=[Leg(source, 0), Leg(pool, 0)],
            actor_id=None,
        )
    assert count(db, LedgerTransaction) == 0


def test_a_fund_never_allocates_beyond_its_budget(db: Session, manager) -> None:  # type: ignore[no-untyped-def]
    fund = make_fund(db, budget=10_000, manager=manager)
    ambassador = make_ambassador(db)
    fund_wallet(db, fund, ambassador, 10_000, manager)  # exactly the budget: allowed
    with pytest.raises(InsufficientFunds, match="remaining budget"):
        fund_wallet(db, fund, ambassador, 1, manager)  # one cent more: refused
    balances = fund_balances(db, fund.id)
    assert (balances.budget, balances.remaining, balances.allocated) == (10_000, 0, 10_000)


def test_the_database_refuses_a_negative_balance_even_if_python_forgot(
    db: Session, manager
) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy.exc import IntegrityError

    fund = make_fund(db, budget=100, manager=manager)
    pool = fund_account(db, fund.id, AccountKind.FUND)
    db.commit()
    with pytest.raises(IntegrityError):
        db.execute(text("UPDATE accounts SET balance = -1 WHERE id = :id"), {"id": pool.id})
    db.rollback()
    with pytest.raises(IntegrityError):
        db.execute(
            text("INSERT INTO postings (transaction_id, account_id, amount) VALUES (1, :id, 0)"),
            {"id": pool.id},
        )
    db.rollback()


def test_budget_cannot_drop_below_what_is_allocated(db: Session, manager) -> None:  # type: ignore[no-untyped-def]
    fund = make_fund(db, budget=10_000, manager=manager)
    fund_wallet(db, fund, make_ambassador(db), 6_000, manager)
    funds.lower_budget(
        db, key="lower-ok", actor=manager, fund_id=fund.id, amount=Money(4_000, "USD"), reason="Cut"
    )
    with pytest.raises(InsufficientFunds, match="below what is already allocated"):
        funds.lower_budget(
            db, key="lower-no", actor=manager, fund_id=fund.id, amount=Money(1, "USD"), reason="Cut"
        )
    assert fund_balances(db, fund.id).budget == 6_000


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501])
def test_budget_changes_need_a_reason(db: Session, manager, reason: str) -> None:  # type: ignore[no-untyped-def]
    fund = make_fund(db)
    with pytest.raises(InvalidInput):
        funds.change_budget(
            db, key="k", actor=manager, fund_id=fund.id, amount=Money(100, "USD"), reason=reason
        )
    assert count(db, LedgerTransaction) == 0


def test_only_managers_change_budgets(db: Session) -> None:
    fund = make_fund(db)
    for role in (Role.FINANCE, Role.AMBASSADOR, Role.RECIPIENT):
        with pytest.raises(NotAllowed):
            funds.change_budget(
                db,
                key=f"k-{role}",
                actor=make_user(db, role),
                fund_id=fund.id,
                amount=Money(1, "USD"),
                reason="r",
            )
    assert count(db, LedgerTransaction) == 0


@pytest.mark.tampers
def test_stored_balances_equal_postings_and_verify_names_each_disagreement(
    db: Session, runner: FlaskCliRunner, manager
) -> None:  # type: ignore[no-untyped-def]
    fund = make_fund(db, budget=10_000, manager=manager)
    wallet = fund_wallet(db, fund, make_ambassador(db), 2_500, manager)
    db.commit()
    ok = runner.invoke(args=["grants", "ledger", "verify"])
    assert ok.exit_code == 0
    assert "Ledger verified" in ok.output

    db.execute(
        text("UPDATE accounts SET balance = balance + 1 WHERE id = :id"), {"id": wallet.account_id}
    )
    db.commit()
    broken = runner.invoke(args=["grants", "ledger", "verify"])
    assert broken.exit_code == 1
    assert (
        f"account {wallet.account_id} (wallet, USD): stored balance 2501, postings sum to 2500"
        in broken.output
    )
    assert len(verify_ledger(db)) == 1


@pytest.mark.tampers
def test_verify_finds_an_unbalanced_transaction(
    db: Session, runner: FlaskCliRunner, manager
) -> None:  # type: ignore[no-untyped-def]
    fund = make_fund(db, budget=10_000, manager=manager)
    db.commit()
    posting = db.scalars(select(Posting).order_by(Posting.id)).first()
    assert posting is not None
    db.execute(text("UPDATE postings SET amount = amount * 2 WHERE id = :id"), {"id": posting.id})
    db.commit()
    problems = verify_ledger(db)
    assert f"transaction {posting.transaction_id}: postings sum to" in "\n".join(problems)
    assert fund.id


def test_ledger_rows_cannot_be_changed_or_deleted_through_the_orm(db: Session, manager) -> None:  # type: ignore[no-untyped-def]
    make_fund(db, budget=10_000, manager=manager)
    db.commit()
    posting = db.scalars(select(Posting)).first()
    assert posting is not None
    posting.amount = 1
    with pytest.raises(RuntimeError, match="append-only"):
        db.flush()
    db.rollback()
    transaction = db.scalars(select(LedgerTransaction)).first()
    db.delete(transaction)
    with pytest.raises(RuntimeError, match="append-only"):
        db.flush()
    db.rollback()


def test_no_code_path_updates_or_deletes_ledger_rows() -> None:
    """The only writes to postings and transactions in the package are inserts."""
    import re

    package = Path(__file__).resolve().parents[2] / "grants"
    pattern = re.compile(
        r"(update|delete)\((Posting|LedgerTransaction|AuditEvent)\b|"
        r"(UPDATE|DELETE FROM)\s+(postings|ledger_transactions|audit_events)\b"
    )
    offenders = [
        f"{path.relative_to(package)}:{number}"
        for path in package.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


def test_same_key_same_request_posts_once(db: Session, manager) -> None:  # type: ignore[no-untyped-def]
    fund = make_fund(db, budget=10_000, manager=manager)
    ambassador = make_ambassador(db)
    arguments = {
        "actor": manager,
        "fund_id": fund.id,
        "ambassador_id": ambassador.id,
        "amount": Money(700, "USD"),
    }
    first = allowances.allocate_allowance(db, key="same", **arguments)
    transactions = count(db, LedgerTransaction)
    second = allowances.allocate_allowance(db, key="same", **arguments)
    assert (second.replayed, first.replayed) == (True, False)
    assert second.transaction_id == first.transaction_id
    assert count(db, LedgerTransaction) == transactions
    assert fund_balances(db, fund.id).remaining == 9_300


def test_same_key_different_request_is_a_conflict(db: Session, manager) -> None:  # type: ignore[no-untyped-def]
    fund = make_fund(db, budget=10_000, manager=manager)
    ambassador = make_ambassador(db)
    allowances.allocate_allowance(
        db,
        key="same",
        actor=manager,
        fund_id=fund.id,
        ambassador_id=ambassador.id,
        amount=Money(700, "USD"),
    )
    with pytest.raises(IdempotencyConflict):
        allowances.allocate_allowance(
            db,
            key="same",
            actor=manager,
            fund_id=fund.id,
            ambassador_id=ambassador.id,
            amount=Money(701, "USD"),
        )
    assert fund_balances(db, fund.id).remaining == 9_300


def test_a_refused_request_is_refused_again_on_retry_even_after_money_arrives(
    db: Session, manager
) -> None:  # type: ignore[no-untyped-def]
    fund = make_fund(db, budget=100, manager=manager)
    ambassador = make_ambassador(db)
    arguments = {
        "actor": manager,
        "fund_id": fund.id,
        "ambassador_id": ambassador.id,
        "amount": Money(500, "USD"),
    }
    with pytest.raises(InsufficientFunds):
        allowances.allocate_allowance(db, key="short", **arguments)
    db.commit()
    assert db.scalar(
        select(IdempotencyRecord.outcome).where(IdempotencyRecord.key == "short")
    ).startswith('{"refusal"')
    funds.change_budget(
        db, key="more", actor=manager, fund_id=fund.id, amount=Money(1_000, "USD"), reason="Top up"
    )
    with pytest.raises(InsufficientFunds):
        allowances.allocate_allowance(db, key="short", **arguments)
    assert fund_balances(db, fund.id).remaining == 1_100
    allowances.allocate_allowance(db, key="fresh", **arguments)
    assert fund_balances(db, fund.id).remaining == 600


@pytest.mark.parametrize("key", ["", " padded ", "x" * 101, "tab\there"])
def test_unusable_idempotency_keys_are_refused(db: Session, manager, key: str) -> None:  # type: ignore[no-untyped-def]
    fund = make_fund(db)
    with pytest.raises(InvalidInput, match="request key"):
        funds.change_budget(
            db, key=key, actor=manager, fund_id=fund.id, amount=Money(1, "USD"), reason="r"
        )
    assert count(db, IdempotencyRecord) == 0


def test_reversal_points_at_the_original_happens_once_and_is_audited(
    db: Session, manager, finance
) -> None:  # type: ignore[no-untyped-def]
    fund = make_fund(db, budget=10_000, manager=manager)
    ambassador = make_ambassador(db)
    receipt = allowances.allocate_allowance(
        db,
        key="a",
        actor=manager,
        fund_id=fund.id,
        ambassador_id=ambassador.id,
        amount=Money(3_000, "USD"),
    )
    assert receipt.transaction_id is not None
    original = receipt.transaction_id
    with pytest.raises(NotAllowed, match="Only finance"):
        reverse(db, key="r0", transaction_id=original, actor=manager, memo="")
    reversal = reverse(
        db, key="r1", transaction_id=original, actor=finance, memo="  Allocated   by mistake "
    )
    assert db.get(LedgerTransaction, reversal.transaction_id).reverses_id == original
    assert db.get(LedgerTransaction, reversal.transaction_id).memo == "Allocated by mistake"
    assert fund_balances(db, fund.id).remaining == 10_000
    event = db.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert (event.action, event.object_id) == ("transaction.reverse", original)

    replay = reverse(
        db, key="r1", transaction_id=original, actor=finance, memo="Allocated by mistake"
    )
    assert replay.replayed
    assert replay.transaction_id == reversal.transaction_id
    with pytest.raises(IdempotencyConflict):
        reverse(db, key="r1", transaction_id=original, actor=finance, memo="Other reason")
    with pytest.raises(NotAllowed, match="already reversed"):
        reverse(db, key="r2", transaction_id=original, actor=finance, memo="")
    with pytest.raises(NotFound):
        reverse(db, key="r3", transaction_id=original + 999, actor=finance, memo="")
    with pytest.raises(InvalidInput, match="under 500"):
        reverse(db, key="r4", transaction_id=original, actor=finance, memo="x" * 501)
    assert verify_ledger(db) == []


def test_a_reversal_that_would_overdraw_a_wallet_is_refused(db: Session, manager, finance) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, date, datetime

    fund = make_fund(db, budget=10_000, manager=manager)
    ambassador = make_ambassador(db)
    wallet = fund_wallet(db, fund, ambassador, 3_000, manager)
    allowance = db.scalars(
        select(LedgerTransaction.id).where(LedgerTransaction.kind == TransactionKind.ALLOWANCE)
    ).one()
    redemptions.request_redemption(
        db,
        key="r",
        actor=ambassador.user,
        wallet_id=wallet.id,
        amount=Money(2_000, "USD"),
        provider_name="Dr Lee",
        session_date=date(2026, 3, 1),
        now=datetime(2026, 3, 2, tzinfo=UTC),
    )
    with pytest.raises(InsufficientFunds):
        reverse(db, key="x", transaction_id=allowance, actor=finance, memo="")


@pytest.mark.tampers
def test_audit_chain_detects_an_edited_and_a_deleted_event(
    db: Session, runner: FlaskCliRunner, manager
) -> None:  # type: ignore[no-untyped-def]
    fund = make_fund(db, budget=10_000, manager=manager)
    for number in range(3):
        fund_wallet(db, fund, make_ambassador(db), 100 + number, manager)
    db.commit()
    events = db.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].actor_id == manager.id
    assert runner.invoke(args=["grants", "audit", "verify"]).exit_code == 0

    db.execute(text("UPDATE audit_events SET after = '{}' WHERE seq = 2"))
    db.commit()
    edited = runner.invoke(args=["grants", "audit", "verify"])
    assert edited.exit_code == 1
    assert "event 2 (" in edited.output
    assert "was altered" in edited.output


@pytest.mark.tampers
def test_audit_chain_detects_deletions_in_the_middle_and_at_the_end(db: Session, manager) -> None:  # type: ignore[no-untyped-def]
    fund = make_fund(db, budget=10_000, manager=manager)
    for number in range(3):
        fund_wallet(db, fund, make_ambassador(db), 100 + number, manager)
    db.commit()
    last = db.scalar(select(func.max(AuditEvent.seq)))
    db.execute(text("DELETE FROM audit_events WHERE seq = 2"))
    db.commit()
    assert any("missing" in problem for problem in verify_chain(db))
    db.execute(text("DELETE FROM audit_events WHERE seq = :seq"), {"seq": last})
    db.commit()
    assert any("removed" in problem for problem in verify_chain(db))
