"""Provider payments under concurrency, on SQLite and on PostgreSQL: one statement imported
twice at once, two statements settling one batch at once, and a change of bank details
racing the approval of a session with that provider. Each worker is a request of its own:
an application context, a session, one operation, one commit."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from grants.data_key import current_data_keys
from grants.domain import redemptions
from grants.domain.errors import DomainError, InvalidState
from grants.domain.provider_bank import set_bank_details
from grants.domain.reconciliation import AlreadyImported, import_statement
from grants.extensions import db as database
from grants.models import (
    AuditEvent,
    LineOutcome,
    PayoutBatch,
    Provider,
    Redemption,
    RedemptionState,
    StatementImport,
    StatementLine,
    User,
)
from tests.domain.test_concurrency import START_TIMEOUT, Threads
from tests.payments import camt
from tests.payments.builders import Payments, batch_entry, batches, csv_statement, us_bank
from tests.payments.test_provider_payments import NOW

ON_POSTGRES = bool(os.environ.get("TEST_DATABASE_URL"))


def as_request(work: Callable[[], object], refusal: type[DomainError]) -> str:
    """Run ``work`` as a request would: commit on success and after a refusal recorded
    under its key, roll back any other; ``"done"`` or ``"refused: <message>"``."""
    session = database.session
    try:
        work()
    except refusal as error:
        if error.recorded:
            session.commit()
        else:
            session.rollback()
        return f"refused: {error.message}"
    except BaseException:
        session.rollback()
        raise
    session.commit()
    return "done"


def user(user_id: int) -> User:
    return database.session.get_one(User, user_id)


def importing(finance_id: int, data: bytes, barrier: threading.Barrier) -> Callable[[], str]:
    def work() -> str:
        barrier.wait(START_TIMEOUT)
        return as_request(
            lambda: import_statement(
                database.session,
                actor=user(finance_id),
                data=data,
                filename="statement",
                currency=None,
                now=NOW,
            ),
            AlreadyImported,
        )

    return work


def settle_events(db: Session, batch_id: int) -> int:
    return (
        db.scalar(
            select(func.count()).where(
                AuditEvent.action == "payout_batch.settle", AuditEvent.object_id == batch_id
            )
        )
        or 0
    )


def test_one_statement_imported_twice_at_once_is_imported_once(app: Flask, db: Session) -> None:
    run = Payments(app, db)
    cases = []
    for number in range(3):
        paid = batches(run, 5_000 + number, 6_000 + number, reference=f"ACH-R{number}")
        data = camt.camt053(
            [batch_entry(batch) for batch in paid], currency="USD", statement_id=f"STMT-{number}"
        )
        cases.append(([batch.id for batch in paid], data))
    finance_id = run.finance.id
    db.commit()

    for number, (batch_ids, data) in enumerate(cases, start=1):
        db.rollback()
        barrier = threading.Barrier(2)
        threads = Threads(app)
        threads.start("first", importing(finance_id, data, barrier))
        threads.start("second", importing(finance_id, data, barrier))
        threads.join()

        done, refused = sorted(str(result) for result in threads.results.values())
        assert done == "done"
        assert refused.startswith("refused: This statement was imported already")
        db.rollback()
        digest = hashlib.sha256(data).hexdigest()
        (imported,) = db.scalars(select(StatementImport).where(StatementImport.digest == digest))
        assert (imported.lines, imported.settled) == (2, 2)
        lines = db.scalars(select(StatementLine).where(StatementLine.import_id == imported.id))
        assert sorted((line.outcome, line.payout_batch_id) for line in lines) == [
            (LineOutcome.SETTLED_BATCH, batch_id) for batch_id in batch_ids
        ]
        assert db.scalar(select(func.count()).select_from(StatementLine)) == 2 * number
        for batch_id in batch_ids:
            assert db.scalar(select(PayoutBatch.settled_at).where(PayoutBatch.id == batch_id))
            assert settle_events(db, batch_id) == 1
    imports = db.scalar(select(func.count()).where(AuditEvent.action == "statement.import"))
    assert imports == len(cases)


def test_two_statements_naming_one_batch_at_once_settle_it_once(app: Flask, db: Session) -> None:
    run = Payments(app, db)
    cases = []
    for number in range(3):
        (batch,) = batches(run, 7_000 + number, reference=f"ACH-S{number}")
        by_file = camt.camt053([batch_entry(batch)], currency="USD", statement_id=f"S-{number}")
        by_reference = csv_statement([(batch.payment_reference.lower(), -batch.amount)], "USD")
        cases.append((batch.id, by_file, by_reference))
    finance_id = run.finance.id
    db.commit()

    for batch_id, by_file, by_reference in cases:
        db.rollback()
        barrier = threading.Barrier(2)
        threads = Threads(app)
        threads.start("camt", importing(finance_id, by_file, barrier))
        threads.start("csv", importing(finance_id, by_reference, barrier))
        threads.join()

        assert threads.results == {"camt": "done", "csv": "done"}
        db.rollback()
        lines = db.scalars(
            select(StatementLine.outcome).where(StatementLine.payout_batch_id == batch_id)
        ).all()
        assert sorted(lines) == [LineOutcome.ALREADY_SETTLED, LineOutcome.SETTLED_BATCH]
        settled = db.scalars(
            select(StatementImport.settled)
            .join(StatementLine, StatementLine.import_id == StatementImport.id)
            .where(StatementLine.payout_batch_id == batch_id)
        ).all()
        assert sorted(settled) == [0, 1]
        assert settle_events(db, batch_id) == 1
        assert db.scalar(select(PayoutBatch.settled_at).where(PayoutBatch.id == batch_id)) == NOW


def audit_seq(db: Session, action: str, object_type: str, object_id: int) -> list[int]:
    return list(
        db.scalars(
            select(AuditEvent.seq)
            .where(
                AuditEvent.action == action,
                AuditEvent.object_type == object_type,
                AuditEvent.object_id == object_id,
            )
            .order_by(AuditEvent.seq)
        )
    )


def waiting_session(run: Payments, name: str) -> tuple[int, int]:
    """A verified provider and a session with them waiting for approval, with its invoice."""
    provider_id = run.verified(name)
    session_id = run.book_in(None, provider_id, 6_000)
    run.invoice(session_id)
    return provider_id, session_id


def approving(approver_id: int, session_id: int, pause: float = 0.0) -> Callable[[], str]:
    def work() -> str:
        time.sleep(pause)
        return as_request(
            lambda: redemptions.approve_redemption(
                database.session,
                key=f"approve-{session_id}",
                actor=user(approver_id),
                redemption_id=session_id,
                now=NOW,
            ),
            InvalidState,
        )

    return work


def changing(finance_id: int, provider_id: int, pause: float = 0.0) -> Callable[[], str]:
    def work() -> str:
        time.sleep(pause)
        return as_request(
            lambda: set_bank_details(
                database.session,
                actor=user(finance_id),
                provider_id=provider_id,
                details=us_bank("000999888777", holder="Zoe Lee LCSW"),
                keys=current_data_keys(),
                version=None,
                now=NOW,
            ),
            InvalidState,
        )

    return work


def check_order(db: Session, provider_id: int, session_id: int, approval: str) -> None:
    """Either the approval came before the change in the audit chain, or it was refused
    because the change held the provider's payouts; the change itself always holds."""
    db.rollback()
    change = audit_seq(db, "provider.bank_details_change", "provider", provider_id)
    approved = audit_seq(db, "redemption.approve", "redemption", session_id)
    state = db.scalar(select(Redemption.state).where(Redemption.id == session_id))
    assert db.scalar(select(Provider.payouts_held).where(Provider.id == provider_id)) is True
    assert len(change) == 1
    if approval == "done":
        assert state is RedemptionState.APPROVED
        assert len(approved) == 1
        assert approved[0] < change[0], "approved after the hold, on details not yet confirmed"
    else:
        assert "bank details changed" in approval
        assert state is RedemptionState.REQUESTED
        assert approved == []


def test_a_bank_change_and_an_approval_one_after_the_other_keep_their_order(
    app: Flask, db: Session
) -> None:
    """The approval well before the change, then well after it: approved, then refused."""
    run = Payments(app, db)
    early = waiting_session(run, "Dr Early")
    late = waiting_session(run, "Dr Late")
    approver_id, finance_id = run.second.id, run.finance.id
    db.commit()

    outcomes = []
    for (provider_id, session_id), late_side in ((early, "change"), (late, "approval")):
        db.rollback()
        threads = Threads(app)
        pause = {late_side: 0.5}
        threads.start("approval", approving(approver_id, session_id, pause.get("approval", 0.0)))
        threads.start("change", changing(finance_id, provider_id, pause.get("change", 0.0)))
        threads.join()
        assert threads.results["change"] == "done"
        approval = str(threads.results["approval"])
        check_order(db, provider_id, session_id, approval)
        outcomes.append(approval.split(":")[0])
    assert outcomes == ["done", "refused"]

    db.rollback()
    with pytest.raises(InvalidState, match="bank details changed"):
        run.pay([early[1]], "ACH-AFTER-CHANGE")


def test_an_approval_checking_while_a_bank_change_commits_is_refused(
    app: Flask, db: Session
) -> None:
    """The change is written and not yet committed while the approval checks the
    provider; the change commits once the approval is seen waiting. The approval must then
    be refused: it cannot be decided on the details before the change and recorded after
    it."""
    run = Payments(app, db)
    provider_id, session_id = waiting_session(run, "Dr Midway")
    approver_id = run.second.id
    db.commit()

    run.give(provider_id, us_bank("000999888777"))
    started = threading.Event()
    backend: list[int] = []

    def approve() -> str:
        if ON_POSTGRES:
            backend.append(int(database.session.scalar(text("SELECT pg_backend_pid()")) or 0))
        started.set()
        return approving(approver_id, session_id)()

    threads = Threads(app)
    threads.start("approval", approve)
    assert started.wait(START_TIMEOUT)
    wait_until_blocked(backend)
    db.commit()
    threads.join()

    approval = str(threads.results["approval"])
    check_order(db, provider_id, session_id, approval)
    assert approval.startswith("refused")


def wait_until_blocked(backend: list[int]) -> None:
    """On PostgreSQL, wait until the backend in ``backend`` waits for a lock; on SQLite the
    approval waits for the write lock from its first statement, so a moment is enough."""
    if not backend:
        time.sleep(0.3)
        return
    deadline = time.monotonic() + START_TIMEOUT
    with database.engine.connect() as watcher:
        while time.monotonic() < deadline:
            waiting = watcher.scalar(
                text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                {"pid": backend[0]},
            )
            watcher.rollback()
            if waiting == "Lock":
                return
            time.sleep(0.02)
    raise AssertionError("the approval never waited for the change")
