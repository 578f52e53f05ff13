"""Paying providers in batches: all or nothing, once per key, one reference per batch, and the
CSV finance pays from, safe to open in a spreadsheet."""

from __future__ import annotations

import json
import threading
import traceback
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from grants.domain import payouts, redemptions
from grants.domain.audit import verify_chain
from grants.domain.errors import (
    Conflict,
    DomainError,
    IdempotencyConflict,
    InvalidInput,
    InvalidState,
    NotAllowed,
    NotFound,
)
from grants.domain.ledger import fund_balances, verify_ledger
from grants.domain.money import Money
from grants.domain.payouts import (
    BatchLine,
    PayoutLine,
    pay_redemptions,
    payout_csv,
    payout_lines,
    verify_batches,
)
from grants.extensions import db as database
from grants.models import (
    AuditEvent,
    Country,
    IdempotencyRecord,
    LedgerTransaction,
    PayoutBatch,
    Redemption,
    RedemptionState,
    Role,
    User,
    Wallet,
)
from tests.factories import fund_wallet, make_ambassador, make_fund, make_user

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


class Payouts:
    """A USD and a GBP fund, an ambassador in each country, and two members of finance."""

    def __init__(self, db: Session) -> None:
        self.db = db
        self.manager = make_user(db, Role.MANAGER)
        self.finance = make_user(db, Role.FINANCE)
        self.usd = make_fund(db, budget=1_000_000, manager=self.manager)
        self.gbp = make_fund(db, currency="GBP", budget=1_000_000, manager=self.manager)
        self.us = make_ambassador(db)
        self.gb = make_ambassador(db, country=Country.GB)
        self.us_wallet = fund_wallet(db, self.usd, self.us, 100_000, self.manager)
        self.gb_wallet = fund_wallet(db, self.gbp, self.gb, 100_000, self.manager)
        self.keys = 0

    def key(self) -> str:
        self.keys += 1
        return f"k{self.keys}"

    def request(
        self,
        minor: int,
        *,
        wallet: Wallet | None = None,
        provider: str = "Dr Lee, Nashville",
        holder: User | None = None,
    ) -> int:
        wallet = wallet or self.us_wallet
        receipt = redemptions.request_redemption(
            self.db,
            key=self.key(),
            actor=holder or wallet.user,
            wallet_id=wallet.id,
            amount=Money(minor, wallet.currency),
            provider_name=provider,
            session_date=date(2026, 5, 20),
            now=NOW,
        )
        assert receipt.object_id is not None
        return receipt.object_id

    def approved(self, minor: int, **options: object) -> int:
        redemption_id = self.request(minor, **options)  # type: ignore[arg-type]
        redemptions.approve_redemption(
            self.db, key=self.key(), actor=self.finance, redemption_id=redemption_id, now=NOW
        )
        return redemption_id

    def pay(  # type: ignore[no-untyped-def]
        self,
        ids: list[int],
        reference: str = "BACS-2026-06-01",
        key: str = "batch",
        now: datetime = NOW,
    ):
        return pay_redemptions(
            self.db,
            key=key,
            actor=self.finance,
            redemption_ids=ids,
            payment_reference=reference,
            now=now,
        )

    def footprint(self) -> tuple[int, ...]:
        paid = select(func.count()).where(Redemption.state == RedemptionState.PAID)
        return (
            *(
                self.db.scalar(select(func.count()).select_from(model)) or 0
                for model in (LedgerTransaction, AuditEvent, PayoutBatch)
            ),
            self.db.scalar(paid.select_from(Redemption)) or 0,
        )

    def batches(self) -> list[tuple[str, str, int, int, datetime, int]]:
        """Every batch's row: reference, currency, redemptions, amount, time and payer."""
        return [
            tuple(row)  # type: ignore[misc]
            for row in self.db.execute(
                select(
                    PayoutBatch.payment_reference,
                    PayoutBatch.currency,
                    PayoutBatch.redemptions,
                    PayoutBatch.amount,
                    PayoutBatch.paid_at,
                    PayoutBatch.paid_by_id,
                ).order_by(PayoutBatch.id)
            )
        ]


@pytest.fixture
def world(db: Session) -> Payouts:
    return Payouts(db)


def refused(
    world: Payouts, kind: type[DomainError], message: str, attempt: Callable[[], object]
) -> None:
    """``attempt`` fails with ``kind`` and ``message`` and leaves the ledger as it was."""
    world.db.commit()
    before = world.footprint()
    with pytest.raises(kind, match=message) as raised:
        attempt()
    if raised.value.recorded:
        world.db.commit()
    else:
        world.db.rollback()
    assert world.footprint() == before


def test_a_batch_pays_every_redemption_under_one_reference(world: Payouts) -> None:
    first, second = world.approved(8_000), world.approved(12_550)
    waiting = world.approved(1_000)
    receipt = world.pay([second, first])
    assert (receipt.operation, receipt.object_id, receipt.replayed) == (
        "redemption.pay_batch",
        2,
        False,
    )
    paid = world.db.scalars(select(Redemption).where(Redemption.id.in_([first, second]))).all()
    assert {(r.state, r.payment_reference, r.paid_at) for r in paid} == {
        (RedemptionState.PAID, "BACS-2026-06-01", NOW)
    }
    assert world.db.get_one(Redemption, waiting).state is RedemptionState.APPROVED
    balances = fund_balances(world.db, world.usd.id)
    assert (balances.payable, balances.paid) == (1_000, 20_550)
    batch = world.db.scalars(
        select(AuditEvent).where(AuditEvent.action == "redemption.pay_batch")
    ).one()
    assert json.loads(batch.after) == {
        "payment_reference": "BACS-2026-06-01",
        "redemptions": sorted([first, second]),
        "amount": 20_550,
        "currency": "USD",
    }
    assert world.batches() == [("BACS-2026-06-01", "USD", 2, 20_550, NOW, world.finance.id)]
    row = world.db.scalars(select(PayoutBatch)).one()
    assert (batch.object_type, batch.object_id) == ("payout_batch", row.id)
    assert verify_ledger(world.db) == []
    assert verify_batches(world.db) == []


def test_a_retried_batch_pays_nothing_twice(world: Payouts) -> None:
    ids = [world.approved(8_000), world.approved(2_000)]
    world.pay(ids)
    world.db.commit()
    before = world.footprint()
    again = world.pay(list(reversed(ids)))
    assert again.replayed
    assert again.object_id == 2
    assert world.footprint() == before
    assert [batch[:4] for batch in world.batches()] == [("BACS-2026-06-01", "USD", 2, 10_000)]
    with pytest.raises(IdempotencyConflict):
        world.pay(ids, reference="BACS-OTHER")


def test_one_refusal_undoes_the_whole_batch(world: Payouts) -> None:
    approved = world.approved(8_000)
    requested = world.request(2_000)
    refused(
        world,
        InvalidState,
        f"redemption {requested} is requested. Nothing was paid",
        lambda: world.pay([approved, requested]),
    )
    assert world.db.get_one(Redemption, approved).state is RedemptionState.APPROVED
    assert fund_balances(world.db, world.usd.id).paid == 0


def test_a_retried_refusal_gets_the_same_refusal(world: Payouts) -> None:
    approved, requested = world.approved(8_000), world.request(2_000)
    for _ in range(2):
        refused(world, InvalidState, "Nothing was paid", lambda: world.pay([approved, requested]))


def test_a_batch_cannot_mix_currencies(world: Payouts) -> None:
    dollars = world.approved(8_000)
    pounds = world.approved(6_000, wallet=world.gb_wallet)
    refused(world, InvalidInput, "mixes GBP and USD", lambda: world.pay([dollars, pounds]))


def test_an_empty_batch_and_a_missing_reference_are_refused(world: Payouts) -> None:
    approved = world.approved(8_000)
    world.db.commit()
    records = world.db.scalar(select(func.count()).select_from(IdempotencyRecord))
    refused(world, InvalidInput, "at least one approved redemption", lambda: world.pay([]))
    refused(world, InvalidInput, "Enter a payment reference", lambda: world.pay([approved], " "))
    refused(world, InvalidInput, "at most 100 characters", lambda: world.pay([approved], "R" * 101))
    refused(world, NotFound, "no redemption 999", lambda: world.pay([approved, 999]))
    recorded = world.db.scalar(select(func.count()).select_from(IdempotencyRecord))
    assert recorded == records + 1, "only the refusal found in the database is recorded"


def test_finance_cannot_pay_their_own_redemption(world: Payouts) -> None:
    own = make_ambassador(world.db, extra_roles=[Role.FINANCE])
    own_wallet = fund_wallet(world.db, world.usd, own, 5_000, world.manager)
    theirs = world.approved(1_000, wallet=own_wallet)
    someone_elses = world.approved(500)
    other_finance = world.finance
    world.finance = own.user
    refused(world, NotAllowed, "your own redemption", lambda: world.pay([someone_elses, theirs]))
    assert world.db.get_one(Redemption, someone_elses).state is RedemptionState.APPROVED
    world.finance = other_finance
    world.pay([theirs], key="by-someone-else")
    assert world.db.get_one(Redemption, theirs).state is RedemptionState.PAID


def test_only_finance_pays(world: Payouts) -> None:
    approved = world.approved(8_000)
    world.finance = world.manager
    refused(world, NotAllowed, "cannot pay providers", lambda: world.pay([approved]))


def test_a_reference_names_one_batch(world: Payouts) -> None:
    world.pay([world.approved(8_000)], key="first")
    later = world.approved(1_000)
    refused(
        world,
        Conflict,
        "already used for another batch",
        lambda: world.pay([later], key="second"),
    )
    world.pay([later], reference="BACS-2026-06-02", key="third")
    assert [batch[:4] for batch in world.batches()] == [
        ("BACS-2026-06-01", "USD", 1, 8_000),
        ("BACS-2026-06-02", "USD", 1, 1_000),
    ]


def test_export_lines_and_batches(world: Payouts) -> None:
    first = world.approved(8_000, provider="Dr Lee, Nashville")
    second = world.approved(12_550, provider="Calm Minds LLC")
    pounds = world.approved(6_000, wallet=world.gb_wallet, provider="Talk Therapy Ltd")
    assert [line.redemption_id for line in payout_lines(world.db, actor=world.finance)] == [
        first,
        second,
        pounds,
    ]
    world.pay([first, second])
    later = NOW + timedelta(days=1)
    world.pay([pounds], reference="FPS-77", key="pounds", now=later)
    lines = payout_lines(world.db, actor=world.finance, payment_reference="BACS-2026-06-01")
    assert lines == [
        PayoutLine(first, "Dr Lee, Nashville", 8_000, "USD", date(2026, 5, 20), "BACS-2026-06-01"),
        PayoutLine(second, "Calm Minds LLC", 12_550, "USD", date(2026, 5, 20), "BACS-2026-06-01"),
    ]
    assert payout_lines(world.db, actor=world.finance) == []
    with pytest.raises(NotFound):
        payout_lines(world.db, actor=world.finance, payment_reference="NOPE")
    with pytest.raises(NotAllowed):
        payout_lines(world.db, actor=world.manager)
    batches = payouts.payout_batches(world.db, actor=world.finance, per_page=10)
    assert batches.total == 2
    assert batches.items == [
        BatchLine("FPS-77", "GBP", 1, 6_000, later),
        BatchLine("BACS-2026-06-01", "USD", 2, 20_550, NOW),
    ]
    second_page = payouts.payout_batches(world.db, actor=world.finance, page=2, per_page=1)
    assert (second_page.number, second_page.items) == (2, [batches.items[1]])
    with pytest.raises(NotAllowed):
        payouts.payout_batches(world.db, actor=world.manager)


def test_the_batches_add_up_to_what_was_paid(world: Payouts) -> None:
    """Each batch's row holds the number, sum and time of its redemptions, and each
    currency's batches add up to what the ledger paid providers; a refused batch adds no
    row, and a row or a payment that disagrees is reported."""
    dollars = [world.approved(1_000 * n) for n in range(1, 6)]
    pounds = [world.approved(700 * n, wallet=world.gb_wallet) for n in range(1, 4)]
    world.pay(dollars[:3], "BACS-A", key="a")
    world.pay(dollars[3:], "BACS-B", key="b", now=NOW + timedelta(hours=1))
    world.pay(pounds, "FPS-A", key="c")
    late = world.approved(50)
    refused(world, Conflict, "already used", lambda: world.pay([late], "BACS-A", key="d"))
    assert [batch[:4] for batch in world.batches()] == [
        ("BACS-A", "USD", 3, 6_000),
        ("BACS-B", "USD", 2, 9_000),
        ("FPS-A", "GBP", 3, 4_200),
    ]
    assert fund_balances(world.db, world.usd.id).paid == 15_000
    assert fund_balances(world.db, world.gbp.id).paid == 4_200
    assert verify_batches(world.db) == []

    world.db.execute(
        update(PayoutBatch).where(PayoutBatch.payment_reference == "BACS-B").values(amount=1)
    )
    lone = world.approved(300)
    redemptions.pay_redemption(
        world.db,
        key="outside-a-batch",
        actor=world.finance,
        redemption_id=lone,
        payment_reference="LONE-1",
        now=NOW,
    )
    problems = verify_batches(world.db)
    assert [problem.split(":")[0] for problem in problems] == [
        "payout batch BACS-B",
        "payment reference LONE-1",
        "USD",
    ]
    assert problems[-1] == "USD: the ledger paid providers 15300, its batches hold 6001"
    assert world.db.get_one(Redemption, late).state is RedemptionState.APPROVED


def test_the_csv_has_plain_decimal_amounts_and_no_live_formulas() -> None:
    lines = [
        PayoutLine(7, "Dr Lee, Nashville", 8_000, "USD", date(2026, 5, 20), "BACS-1"),
        PayoutLine(8, '=HYPERLINK("http://x.example","pay")', 5, "USD", date(2026, 5, 21), None),
        PayoutLine(9, "+1 clinic", 100_000, "GBP", date(2026, 5, 22), "-ref"),
        PayoutLine(10, "@sum", 1, "JPY", date(2026, 5, 23), "\tTAB"),
    ]
    assert payout_csv(lines) == (
        "provider_name,amount,currency,session_date,redemption_id,payment_reference\r\n"
        '"Dr Lee, Nashville",80.00,USD,2026-05-20,7,BACS-1\r\n'
        '"\'=HYPERLINK(""http://x.example"",""pay"")",0.05,USD,2026-05-21,8,\r\n'
        "'+1 clinic,1000.00,GBP,2026-05-22,9,'-ref\r\n"
        "'@sum,1,JPY,2026-05-23,10,'\tTAB\r\n"
    )
    assert payout_csv([]) == (
        "provider_name,amount,currency,session_date,redemption_id,payment_reference\r\n"
    )


def test_batches_racing_for_the_same_redemptions_pay_each_exactly_once(
    app: Flask, world: Payouts
) -> None:
    """Six batches, each sharing a redemption with the next, sent at once from six threads,
    each with its own session as a request would have: no redemption is paid twice, each
    batch is paid whole or not at all, and nothing deadlocks."""
    size = 6
    ids = [world.approved(1_000 + n) for n in range(size)]
    batches = {f"BACS-{n}": [ids[n], ids[(n + 1) % size]] for n in range(size)}
    finance_id = world.finance.id
    world.db.commit()
    start = threading.Barrier(size)
    outcomes: dict[str, str] = {}
    errors: list[str] = []

    def pay(reference: str) -> None:
        try:
            with app.app_context():
                session = database.session
                try:
                    start.wait(30)
                    pay_redemptions(
                        session,
                        key=f"race-{reference}",
                        actor=session.get_one(User, finance_id),
                        redemption_ids=batches[reference],
                        payment_reference=reference,
                        now=NOW,
                    )
                except InvalidState as refusal:
                    session.commit()
                    outcomes[reference] = "refused" if refusal.recorded else "not recorded"
                else:
                    session.commit()
                    outcomes[reference] = "paid"
                finally:
                    session.remove()
        except BaseException:
            errors.append(traceback.format_exc())

    threads = [threading.Thread(target=pay, args=(reference,)) for reference in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive()
    assert not errors, "\n".join(errors)

    world.db.expire_all()
    rows = world.db.execute(select(Redemption.id, Redemption.payment_reference)).all()
    paid = dict(rows)
    winners = {reference for reference, outcome in outcomes.items() if outcome == "paid"}
    assert set(outcomes.values()) <= {"paid", "refused"}
    assert 1 <= len(winners) <= size // 2
    for reference, members in batches.items():
        expected = reference if reference in winners else None
        assert [paid[i] == reference for i in members] == [expected is not None] * 2, reference
    assert {paid[i] for i in ids} - {None} == winners, "no redemption paid outside a batch"
    amounts = {redemption_id: 1_000 + n for n, redemption_id in enumerate(ids)}
    paid_total = sum(amounts[i] for i in ids if paid[i] is not None)
    balances = fund_balances(world.db, world.usd.id)
    assert (balances.payable, balances.paid) == (sum(amounts.values()) - paid_total, paid_total)
    assert {batch[0] for batch in world.batches()} == winners
    assert verify_ledger(world.db) == []
    assert verify_chain(world.db) == []
    assert verify_batches(world.db) == []


def test_batches_racing_with_one_reference_for_different_redemptions_make_one_batch(
    app: Flask, world: Payouts
) -> None:
    """Four batches of different redemptions, all given the same new reference at once:
    one is paid, the others are refused, and the reference names one batch."""
    size = 4
    ids = [world.approved(2_000 + n) for n in range(size)]
    finance_id = world.finance.id
    world.db.commit()
    start = threading.Barrier(size)
    outcomes: list[str] = []
    errors: list[str] = []

    def pay(redemption_id: int) -> None:
        try:
            with app.app_context():
                session = database.session
                try:
                    start.wait(30)
                    pay_redemptions(
                        session,
                        key=f"same-reference-{redemption_id}",
                        actor=session.get_one(User, finance_id),
                        redemption_ids=[redemption_id],
                        payment_reference="BACS-SHARED",
                        now=NOW,
                    )
                except Conflict:
                    session.commit()
                    outcomes.append("refused")
                else:
                    session.commit()
                    outcomes.append("paid")
                finally:
                    session.remove()
        except BaseException:
            errors.append(traceback.format_exc())

    threads = [threading.Thread(target=pay, args=(redemption_id,)) for redemption_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive()
    assert not errors, "\n".join(errors)

    assert sorted(outcomes) == ["paid"] + ["refused"] * (size - 1)
    world.db.expire_all()
    paid = world.db.scalar(
        select(func.count())
        .select_from(Redemption)
        .where(Redemption.payment_reference == "BACS-SHARED")
    )
    assert paid == 1
    assert [batch[:3] for batch in world.batches()] == [("BACS-SHARED", "USD", 1)]
    assert verify_ledger(world.db) == []
    assert verify_batches(world.db) == []
