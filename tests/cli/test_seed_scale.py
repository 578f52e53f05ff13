"""``flask grants seed-scale`` at a small size: counts as asked, every state present, and
both verify commands pass on the result."""

from __future__ import annotations

from flask.testing import FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.models import (
    Ambassador,
    AuditEvent,
    CohortStatus,
    Country,
    Gift,
    GiftState,
    Grant,
    GrantStatus,
    IdempotencyRecord,
    LedgerTransaction,
    Posting,
    Redemption,
    RedemptionState,
    Tranche,
    User,
    Wallet,
    WalletKind,
)
from grants.seed.demo import DEMO_PASSWORD
from tests.support import login


def count(db: Session, model: type, *where: object) -> int:
    return db.scalar(select(func.count()).select_from(model).where(*where)) or 0  # type: ignore[arg-type]


def test_a_small_scale_dataset_has_what_was_asked_and_verifies(
    runner: FlaskCliRunner, db: Session, client
) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(
        args=["grants", "seed-scale", "--ambassadors", "50", "--postings", "2000"]
    )
    assert result.exit_code == 0, result.output
    assert "Built 50 ambassadors, 2,000 postings" in result.output
    assert "manager.two@heartandsoul.example" in result.output

    db.rollback()
    assert count(db, Ambassador) == 50
    assert count(db, Posting) == 2000
    assert {country for (country,) in db.execute(select(Ambassador.country).distinct())} == {
        Country.US,
        Country.GB,
    }
    assert count(db, Ambassador, Ambassador.cohort_status != CohortStatus.CURRENT) > 0
    for state in GiftState:
        assert count(db, Gift, Gift.state == state) > 0, state
    for state in RedemptionState:
        if state is not RedemptionState.EXPIRED:
            assert count(db, Redemption, Redemption.state == state) > 0, state
    for status in GrantStatus:
        assert count(db, Grant, Grant.status == status) > 0, status
    assert count(db, Tranche, Tranche.paid_on.is_not(None)) > 0
    claimed = count(db, Gift, Gift.state == GiftState.CLAIMED)
    assert count(db, Wallet, Wallet.kind == WalletKind.RECIPIENT) == claimed
    paid_batches = db.scalar(
        select(func.count(func.distinct(Redemption.payment_reference))).where(
            Redemption.state == RedemptionState.PAID
        )
    )
    assert 0 < (paid_batches or 0) < count(db, Redemption, Redemption.state == RedemptionState.PAID)
    assert count(db, IdempotencyRecord) >= count(db, LedgerTransaction)
    assert count(db, AuditEvent) > count(db, LedgerTransaction)
    db.rollback()

    ledger = runner.invoke(args=["grants", "ledger", "verify"])
    assert ledger.exit_code == 0, ledger.output
    audit = runner.invoke(args=["grants", "audit", "verify"])
    assert audit.exit_code == 0, audit.output
    sweep = runner.invoke(args=["grants", "sweep"])
    assert "Expired 0 gifts." in sweep.output

    assert login(client, "manager.two@heartandsoul.example", DEMO_PASSWORD).status_code == 302
    page = client.get("/manager/grants")
    assert page.status_code == 200
    assert "Free counselling sessions for touring crew" in page.get_data(as_text=True)


def test_seed_scale_refuses_a_database_with_users_unless_forced(
    runner: FlaskCliRunner, db: Session
) -> None:
    first = runner.invoke(args=["grants", "seed-demo"])
    assert first.exit_code == 0, first.output
    db.rollback()
    users, postings = count(db, User), count(db, Posting)

    refused = runner.invoke(
        args=["grants", "seed-scale", "--ambassadors", "50", "--postings", "2000"]
    )
    assert refused.exit_code == 1
    assert "has 5 users already" in refused.output or "users already" in refused.output
    db.rollback()
    assert (count(db, User), count(db, Posting)) == (users, postings)

    forced = runner.invoke(
        args=["grants", "seed-scale", "--ambassadors", "50", "--postings", "2000", "--force"]
    )
    assert forced.exit_code == 0, forced.output
    db.rollback()
    assert count(db, Ambassador) == 50
    assert count(db, Posting) == 2000
    assert runner.invoke(args=["grants", "ledger", "verify"]).exit_code == 0
    assert runner.invoke(args=["grants", "audit", "verify"]).exit_code == 0


def test_too_few_postings_for_the_ambassadors_is_refused_before_writing(
    runner: FlaskCliRunner, db: Session
) -> None:
    result = runner.invoke(
        args=["grants", "seed-scale", "--ambassadors", "1000", "--postings", "500"]
    )
    assert result.exit_code == 2
    assert "--postings" in result.output
    db.rollback()
    assert count(db, User) == 0
