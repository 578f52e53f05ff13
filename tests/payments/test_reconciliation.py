"""Reconciling bank statements with payments: what each line is matched to, in camt.053 and
CSV, for batches and tranches; what a statement may not do twice; what settling leaves in the
ledger and the audit trail; and what finance is shown as late or needing attention."""

from __future__ import annotations

import os
from datetime import date, timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain.audit import verify_chain
from grants.domain.errors import Conflict, InvalidInput
from grants.domain.ledger import verify_ledger
from grants.domain.reconciliation import (
    AlreadyImported,
    imported_lines,
    lines_needing_attention,
    unsettled_payments,
    working_days_before,
)
from grants.models import (
    AuditEvent,
    LineOutcome,
    PayoutBatch,
    StatementImport,
    StatementLine,
    Tranche,
)
from tests.domain.test_grants import Office
from tests.payments import camt
from tests.payments.builders import (
    Payments,
    audit_actions,
    balances,
    batch_entry,
    batches,
    count,
    counts,
    csv_statement,
)
from tests.payments.test_provider_payments import NOW
from tests.payments.test_statements import BILLION_LAUGHS, with_doctype

ON_POSTGRES = bool(os.environ.get("TEST_DATABASE_URL"))
MONDAY = NOW.date()
BOOKED = date(2026, 6, 2)


@pytest.fixture
def run(app: Flask, db: Session) -> Payments:
    return Payments(app, db)


def outcomes(lines: list[StatementLine]) -> list[tuple[LineOutcome, int | None, int | None]]:
    return [(line.outcome, line.payout_batch_id, line.tranche_id) for line in lines]


def paid_tranches(db: Session, *references: str) -> list[Tranche]:
    """For each of ``references``, the first tranche of a new grant, paid under it."""
    office = Office(db)
    paid = []
    for reference in references:
        tranche = office.approved().tranches[0]
        office.pay(tranche, reference=reference)
        paid.append(tranche)
    return paid


def settled_at(db: Session, model: type[PayoutBatch] | type[Tranche]) -> dict[int, object]:
    """When each batch or tranche was settled, read from the table itself."""
    rows = db.execute(select(model.id, model.settled_at)).all()
    return {row.id: row.settled_at for row in rows}


def single(batch: PayoutBatch, provider_id: int, amount: int | None = None) -> camt.Entry:
    """A transfer booked alone, known by its end-to-end id."""
    return camt.Entry(
        BOOKED,
        batch.amount if amount is None else amount,
        end_to_end_id=f"{batch.file_id}-P{provider_id}",
    )


def test_a_camt_statement_matches_batches_by_file_id_and_end_to_end_id(
    run: Payments, db: Session
) -> None:
    by_file, by_reference, twice, short, other = batches(run, 20_050, 9_000, 7_000, 6_000, 5_000)
    provider_id = run.verified("Sam Ortiz")
    lone = run.pay([run.approved(provider_id, 4_000)], "ACH-LONE")
    entries = [
        batch_entry(by_file),
        single(lone, provider_id),
        camt.Entry(BOOKED, 9_999, end_to_end_id="NOT-OURS-77"),
        camt.Entry(BOOKED, short.amount - 1, end_to_end_id=short.file_id),
        camt.Entry(BOOKED, other.amount, "credit", end_to_end_id=other.file_id),
        batch_entry(twice),
        batch_entry(twice),
        camt.Entry(BOOKED, 9_000, end_to_end_id=by_reference.payment_reference.lower()),
    ]

    imported = run.statement(camt.camt053(entries, currency="USD"))

    assert (imported.format, imported.currency, imported.lines, imported.settled) == (
        "camt.053",
        "USD",
        8,
        4,
    )
    assert outcomes(imported_lines(db, imported.id)) == [
        (LineOutcome.SETTLED_BATCH, by_file.id, None),
        (LineOutcome.SETTLED_BATCH, lone.id, None),
        (LineOutcome.UNMATCHED, None, None),
        (LineOutcome.AMOUNT_DIFFERS, short.id, None),
        (LineOutcome.NOT_A_PAYMENT, None, None),
        (LineOutcome.SETTLED_BATCH, twice.id, None),
        (LineOutcome.ALREADY_SETTLED, twice.id, None),
        (LineOutcome.SETTLED_BATCH, by_reference.id, None),
    ]
    assert settled_at(db, PayoutBatch) == {
        by_file.id: NOW,
        by_reference.id: NOW,
        twice.id: NOW,
        short.id: None,
        other.id: None,
        lone.id: NOW,
    }


def test_a_csv_statement_matches_the_reference_finance_gave_ignoring_case_and_spaces(
    run: Payments, db: Session
) -> None:
    provider_id = run.verified()
    batch = run.pay([run.approved(provider_id, 12_345)], "June Run  7")
    assert batch.payment_reference == "June Run 7"
    data = csv_statement([("  JUNE   run 7 ", -12_345), ("ACH-UNKNOWN", -500)], "USD")

    imported = run.statement(data, "june.csv")

    assert (imported.format, imported.settled) == ("csv", 1)
    assert outcomes(imported_lines(db, imported.id)) == [
        (LineOutcome.SETTLED_BATCH, batch.id, None),
        (LineOutcome.UNMATCHED, None, None),
    ]
    assert settled_at(db, PayoutBatch) == {batch.id: NOW}


def test_a_tranche_is_settled_by_its_payment_reference_and_a_wrong_amount_names_it(
    run: Payments, db: Session
) -> None:
    tranche, other = paid_tranches(db, "WIRE-2026-03", "WIRE-2026-04")
    data = csv_statement(
        [("wire-2026-03", -tranche.amount), ("WIRE-2026-04", -(other.amount + 100))], "USD"
    )

    imported = run.statement(data, "march.csv")

    assert outcomes(imported_lines(db, imported.id)) == [
        (LineOutcome.SETTLED_TRANCHE, None, tranche.id),
        (LineOutcome.AMOUNT_DIFFERS, None, other.id),
    ]
    assert {key: value for key, value in settled_at(db, Tranche).items() if value is not None} == {
        tranche.id: NOW
    }
    assert audit_actions(db, "tranche") == ["tranche.settle"]


def test_a_payment_settles_once_and_a_statement_is_imported_once(
    run: Payments, db: Session
) -> None:
    (batch,) = batches(run, 15_000)
    first = camt.camt053([batch_entry(batch)], currency="USD", statement_id="STMT-1")
    earlier = run.statement(first)
    second = csv_statement([(batch.file_id, -15_000)], "USD")

    again = run.statement(second, "again.csv")

    assert again.settled == 0
    assert outcomes(imported_lines(db, again.id)) == [(LineOutcome.ALREADY_SETTLED, batch.id, None)]
    before = counts(db, [StatementImport, StatementLine, AuditEvent, PayoutBatch])
    with pytest.raises(AlreadyImported, match="imported already") as refused:
        run.statement(first, "renamed.xml")
    assert refused.value.earlier_id == earlier.id
    assert counts(db, [StatementImport, StatementLine, AuditEvent, PayoutBatch]) == before
    assert audit_actions(db, "payout_batch").count("payout_batch.settle") == 1


def test_a_statement_in_pounds_never_settles_a_batch_in_dollars(run: Payments, db: Session) -> None:
    (batch,) = batches(run, 15_000)
    data = csv_statement([(batch.payment_reference, -15_000), (batch.file_id, -15_000)], "GBP")

    imported = run.statement(data, "pounds.csv")

    assert imported.currency == "GBP"
    assert outcomes(imported_lines(db, imported.id)) == [(LineOutcome.UNMATCHED, None, None)] * 2
    assert settled_at(db, PayoutBatch) == {batch.id: None}


@pytest.mark.parametrize(
    "reference",
    [
        "MÄRZ-2026",
        "Straße 7",
    ],
)
def test_a_reference_beyond_ascii_matches_as_finance_gave_it(
    run: Payments, db: Session, reference: str
) -> None:
    provider_id = run.verified()
    batch = run.pay([run.approved(provider_id, 5_000)], reference)

    imported = run.statement(csv_statement([(reference, -5_000)], "USD"))

    assert outcomes(imported_lines(db, imported.id)) == [
        (LineOutcome.SETTLED_BATCH, batch.id, None)
    ]


def test_references_differing_only_in_case_never_confuse_two_batches(
    run: Payments, db: Session
) -> None:
    provider_id = run.verified()
    upper = run.pay([run.approved(provider_id, 5_000)], "JUNE-1")
    try:
        lower = run.pay([run.approved(provider_id, 6_000)], "june-1")
    except Conflict:
        return
    data = csv_statement([("JUNE-1", -5_000), ("june-1", -6_000)], "USD")

    imported = run.statement(data)

    assert outcomes(imported_lines(db, imported.id)) == [
        (LineOutcome.SETTLED_BATCH, upper.id, None),
        (LineOutcome.SETTLED_BATCH, lower.id, None),
    ]


@pytest.mark.parametrize(
    ("declaration", "body"),
    [
        (BILLION_LAUGHS, "&lol9;"),
        ('<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', "&xxe;"),
    ],
    ids=["entity bomb", "external entity"],
)
def test_a_statement_with_entities_is_refused_and_writes_nothing(
    run: Payments, db: Session, declaration: str, body: str
) -> None:
    batches(run, 1250)
    before = counts(db)
    with pytest.raises(InvalidInput, match="document type declaration") as refused:
        run.statement(with_doctype(declaration, body).encode())
    assert "root:" not in refused.value.message
    assert counts(db) == before
    assert db.scalars(select(PayoutBatch.settled_at)).all() == [None]


def test_settling_moves_no_money_and_leaves_one_audit_event_per_batch(
    run: Payments, db: Session
) -> None:
    paid = batches(run, 20_050, 9_000, 7_000)
    (tranche,) = paid_tranches(db, "WIRE-2026-03")
    ledger = balances(db)
    statement = camt.camt053(
        [batch_entry(batch) for batch in paid]
        + [batch_entry(paid[0]), camt.Entry(BOOKED, tranche.amount, end_to_end_id="WIRE-2026-03")],
        currency="USD",
    )

    imported = run.statement(statement)

    assert imported.settled == 4
    assert balances(db) == ledger
    assert verify_ledger(db) == []
    assert verify_chain(db) == []
    settles = db.execute(
        select(AuditEvent.object_type, AuditEvent.object_id).where(
            AuditEvent.action.like("%.settle")
        )
    ).all()
    assert sorted(settles) == sorted(
        [("payout_batch", batch.id) for batch in paid] + [("tranche", tranche.id)]
    )
    assert audit_actions(db)[-1] == "statement.import"


def test_a_batch_is_late_after_more_than_five_working_days_unless_settled(
    run: Payments, db: Session
) -> None:
    late, settled = batches(run, 9_000, 8_000)
    run.statement(csv_statement([(settled.payment_reference, -8_000)], "USD"))
    assert late.paid_at.date() == MONDAY
    next_monday, next_tuesday = MONDAY + timedelta(days=7), MONDAY + timedelta(days=8)

    assert unsettled_payments(db, today=next_monday) == []
    (shown,) = unsettled_payments(db, today=next_tuesday)
    assert (shown.kind, shown.object_id, shown.reference, shown.amount, shown.currency) == (
        "batch",
        late.id,
        late.payment_reference,
        9_000,
        "USD",
    )
    assert shown.paid_on == MONDAY


def test_an_unsettled_tranche_is_late_too(run: Payments, db: Session) -> None:
    (tranche,) = paid_tranches(db, "WIRE-2026-03")
    assert tranche.paid_on is not None
    late = tranche.paid_on + timedelta(days=30)
    listed = unsettled_payments(db, today=late)
    assert [(item.kind, item.object_id) for item in listed] == [("tranche", tranche.id)]
    run.statement(csv_statement([("WIRE-2026-03", -tranche.amount)], "USD"))
    assert unsettled_payments(db, today=late) == []


def test_working_days_skip_the_weekend() -> None:
    friday, saturday, sunday = date(2026, 6, 5), date(2026, 6, 6), date(2026, 6, 7)
    assert working_days_before(MONDAY + timedelta(days=7), 1) == friday
    assert working_days_before(saturday, 1) == friday
    assert working_days_before(sunday, 1) == friday
    assert working_days_before(MONDAY + timedelta(days=7), 5) == MONDAY
    assert working_days_before(date(2026, 6, 10), 3) == friday
    assert working_days_before(friday, 0) == friday


def test_finance_is_shown_the_lines_that_matched_nothing_or_another_amount(
    run: Payments, db: Session
) -> None:
    good, short, twice = batches(run, 9_000, 8_000, 7_000)
    statement = camt.camt053(
        [
            batch_entry(good),
            batch_entry(short, amount=7_999),
            camt.Entry(BOOKED, 1_234, end_to_end_id="SOMEONE-ELSE"),
            camt.Entry(BOOKED, 50_000, "credit", end_to_end_id="TOP-UP"),
            batch_entry(twice),
            batch_entry(twice),
        ],
        currency="USD",
    )
    imported = run.statement(statement)

    shown = lines_needing_attention(db)

    assert sorted((line.outcome, line.reference) for line in shown) == sorted(
        [(LineOutcome.AMOUNT_DIFFERS, short.file_id), (LineOutcome.UNMATCHED, "SOMEONE-ELSE")]
    )
    assert {line.import_id for line in shown} == {imported.id}
    assert count(db, StatementLine) == 6
