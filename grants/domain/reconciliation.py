"""Reconciling the bank's statement with what the programme paid.

Finance imports the statement of the account payments leave from (camt.053 or a CSV, read by
:mod:`grants.payments.statements`). Each debit line is matched by its reference and amount to
a payout batch (by the batch's file id, ``HSF-B12``, or the payment reference finance gave it)
or to a paid grant tranche (by its payment reference). A match marks the payment settled: a
status beside the ledger, which moves no money, written with an audit event. Every line is
kept with its outcome, so a line that matched nothing, or named a payment for another amount,
stays in front of finance until they deal with it.

A statement is imported once: its SHA-256 is unique, and importing the same file again
changes nothing (:class:`AlreadyImported`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.orm import Session

from grants.database import UNICODE_LOWER, insert_for
from grants.domain import audit
from grants.domain.checks import require_role
from grants.domain.errors import Conflict
from grants.models import (
    Fund,
    Grant,
    LineOutcome,
    PayoutBatch,
    Role,
    StatementImport,
    StatementLine,
    Tranche,
    User,
)
from grants.payments.statements import Statement, read_statement
from grants.payments.statements import StatementLine as ReadLine

FILE_ID = re.compile(r"HSF-B(\d{1,18})(?:-P\d{1,18})?", re.IGNORECASE)
"""A batch's file id as payment files give it (:attr:`PayoutBatch.file_id`), alone (the
payment information id a bank books a batch under) or with a provider's number (the
end-to-end id of one payment, which a statement shows for a batch of one payment)."""
SETTLE_WITHIN = 5
"""Working days after payment by which a statement should have shown it."""
CHUNK = 500
"""References looked up per statement, so a long statement never builds a huge ``IN``."""


T = TypeVar("T")
_lines: Table = StatementLine.__table__  # type: ignore[assignment]
"""The lines' table: a statement's lines are written in one core ``INSERT``, without the
ORM's per-row bookkeeping."""


class AlreadyImported(Conflict):
    """The same statement file was imported before; nothing changed."""

    def __init__(self, earlier: StatementImport) -> None:
        super().__init__(
            f"This statement was imported already, on {earlier.imported_at:%Y-%m-%d at %H:%M} "
            "UTC; nothing changed."
        )
        self.earlier_id = earlier.id


def key_of(reference: str) -> str:
    """A reference as matching compares it: spaces made single, lower case (as the database
    lowers it: :func:`lower_function`)."""
    return " ".join(reference.split()).lower()


def lower_function(session: Session) -> Any:
    """The SQL function that lower-cases like :meth:`str.lower`: PostgreSQL's ``lower``, or
    on SQLite the connection's :data:`~grants.database.UNICODE_LOWER` (SQLite's own changes
    only A to Z)."""
    if session.get_bind().dialect.name == "sqlite":
        return getattr(func, UNICODE_LOWER)
    return func.lower


@dataclass
class _Open:
    """The payments a statement's lines may name, looked up once for the whole file."""

    batches: dict[str, PayoutBatch]
    tranches: dict[str, list[tuple[Tranche, str]]]


def import_statement(
    session: Session,
    *,
    actor: User,
    data: bytes,
    filename: str,
    currency: str | None,
    now: datetime,
) -> StatementImport:
    """Read the statement in ``data`` and match each of its lines (finance only).

    Raises :class:`AlreadyImported` for a file imported before, and what
    :func:`~grants.payments.statements.read_statement` raises for a file it cannot read;
    either way nothing is written.
    """
    require_role(actor, Role.FINANCE, doing="import bank statements")
    statement = read_statement(data, currency=currency)
    earlier = session.scalar(
        select(StatementImport).where(StatementImport.digest == statement.digest)
    )
    if earlier is not None:
        raise AlreadyImported(earlier)
    import_id = session.scalar(
        insert_for(session, StatementImport)
        .values(
            digest=statement.digest,
            format=statement.format,
            statement_id=statement.statement_id[:100],
            account=statement.account[:60],
            currency=statement.currency,
            filename=filename[:200],
            lines=len(statement.lines),
            settled=0,
            imported_by_id=actor.id,
            imported_at=now,
        )
        .on_conflict_do_nothing(index_elements=[StatementImport.digest])
        .returning(StatementImport.id)
    )
    if import_id is None:
        raise AlreadyImported(
            session.scalars(
                select(StatementImport).where(StatementImport.digest == statement.digest)
            ).one()
        )
    found = _open_payments(session, statement)
    rows, batch_ids, tranche_ids = _match(import_id, statement, found)
    settled_batches = _settle(session, PayoutBatch, batch_ids, now)
    settled_tranches = _settle(session, Tranche, tranche_ids, now)
    for row in rows:
        if (
            row["outcome"] == LineOutcome.SETTLED_BATCH
            and row["payout_batch_id"] not in settled_batches
        ) or (
            row["outcome"] == LineOutcome.SETTLED_TRANCHE
            and row["tranche_id"] not in settled_tranches
        ):
            row["outcome"] = LineOutcome.ALREADY_SETTLED
    if rows:
        session.execute(insert(_lines), rows)
    imported = session.get_one(StatementImport, import_id)
    imported.settled = len(settled_batches) + len(settled_tranches)
    session.flush()
    audit.record_all(
        session,
        [
            *_settled_events(actor, "payout_batch", settled_batches),
            *_settled_events(actor, "tranche", settled_tranches),
            audit.Event(
                actor.id,
                "statement.import",
                "statement_import",
                imported.id,
                None,
                {
                    "digest": imported.digest,
                    "lines": imported.lines,
                    "settled": imported.settled,
                    "currency": imported.currency,
                },
            ),
        ],
    )
    return imported


def _open_payments(session: Session, statement: Statement) -> _Open:
    """The batches and paid tranches in the statement's currency that its lines name: a
    batch by its file id (read by primary key), or by the payment reference finance gave it;
    a tranche by its payment reference. No batch's reference looks like a file id (paying
    refuses one), so file ids are looked up by id alone."""
    keys = {key_of(line.reference) for line in statement.lines if line.reference}
    lower = lower_function(session)
    batch_ids = {int(m.group(1)) for k in keys if (m := FILE_ID.fullmatch(k))}
    batches: dict[str, PayoutBatch] = {}
    tranches: dict[str, list[tuple[Tranche, str]]] = {}
    by_reference = sorted(key for key in keys if not FILE_ID.fullmatch(key))
    for chunk in _chunks(by_reference, CHUNK):
        for batch in session.scalars(
            select(PayoutBatch).where(
                lower(PayoutBatch.payment_reference).in_(chunk),
                PayoutBatch.currency == statement.currency,
            )
        ):
            batches[key_of(batch.payment_reference)] = batch
        rows = session.execute(
            select(Tranche, Fund.currency)
            .join(Grant, Grant.id == Tranche.grant_id)
            .join(Fund, Fund.id == Grant.fund_id)
            .where(
                lower(Tranche.payment_reference).in_(chunk),
                Tranche.paid_on.is_not(None),
                Fund.currency == statement.currency,
            )
            .order_by(Tranche.id)
        )
        for tranche, currency in rows:
            tranches.setdefault(key_of(tranche.payment_reference or ""), []).append(
                (tranche, currency)
            )
    for chunk_ids in _chunks(sorted(batch_ids), CHUNK):
        for batch in session.scalars(
            select(PayoutBatch).where(
                PayoutBatch.id.in_(chunk_ids), PayoutBatch.currency == statement.currency
            )
        ):
            batches[key_of(batch.file_id)] = batch
    for key in keys:
        if key not in batches and (match := FILE_ID.fullmatch(key)):
            named = batches.get(f"hsf-b{int(match.group(1))}")
            if named is not None:
                batches[key] = named
    return _Open(batches, tranches)


def _match(
    import_id: int, statement: Statement, found: _Open
) -> tuple[list[dict[str, object]], list[int], list[int]]:
    """Each line's row with its outcome, and the batches and tranches it settles.

    A payment settles once: a second line naming it in the same file or a later one is
    ``already_settled``. A debit that names a payment for another amount is
    ``amount_differs``: a partial or returned payment is for finance to look into.
    """
    rows: list[dict[str, object]] = []
    settled_batches: dict[int, None] = {}
    settled_tranches: dict[int, None] = {}
    for line in statement.lines:
        outcome, batch_id, tranche_id = _outcome(line, found, settled_batches, settled_tranches)
        if outcome is LineOutcome.SETTLED_BATCH and batch_id is not None:
            settled_batches[batch_id] = None
        if outcome is LineOutcome.SETTLED_TRANCHE and tranche_id is not None:
            settled_tranches[tranche_id] = None
        rows.append(
            {
                "import_id": import_id,
                "line_number": line.line_number,
                "booked_on": line.booked_on,
                "amount": line.amount,
                "direction": line.direction,
                "currency": line.currency,
                "reference": line.reference[:140],
                "bank_reference": line.bank_reference[:140],
                "description": line.description[:280],
                "outcome": outcome,
                "payout_batch_id": batch_id,
                "tranche_id": tranche_id,
            }
        )
    return rows, list(settled_batches), list(settled_tranches)


def _outcome(
    line: ReadLine,
    found: _Open,
    settled_batches: dict[int, None],
    settled_tranches: dict[int, None],
) -> tuple[LineOutcome, int | None, int | None]:
    if line.direction != "debit":
        return LineOutcome.NOT_A_PAYMENT, None, None
    key = key_of(line.reference)
    batch = found.batches.get(key)
    if batch is not None:
        if batch.amount != line.amount:
            return LineOutcome.AMOUNT_DIFFERS, batch.id, None
        if batch.settled_at is not None or batch.id in settled_batches:
            return LineOutcome.ALREADY_SETTLED, batch.id, None
        return LineOutcome.SETTLED_BATCH, batch.id, None
    candidates = found.tranches.get(key, [])
    if not candidates:
        return LineOutcome.UNMATCHED, None, None
    same_amount = [tranche for tranche, _ in candidates if tranche.amount == line.amount]
    if not same_amount:
        return LineOutcome.AMOUNT_DIFFERS, None, candidates[0][0].id
    for tranche in same_amount:
        if tranche.settled_at is None and tranche.id not in settled_tranches:
            return LineOutcome.SETTLED_TRANCHE, None, tranche.id
    return LineOutcome.ALREADY_SETTLED, None, same_amount[0].id


def _settle(
    session: Session,
    model: type[PayoutBatch] | type[Tranche],
    ids: list[int],
    now: datetime,
) -> set[int]:
    """Mark ``ids`` settled and return those this call settled: a row settled meanwhile by
    another import is left as it is (the update only touches unsettled rows; on PostgreSQL
    it waits for the other import's row lock, then finds the row settled), and its line
    becomes ``already_settled``."""
    settled: set[int] = set()
    for chunk in _chunks(ids, CHUNK):
        settled.update(
            session.scalars(
                update(model)
                .where(model.id.in_(chunk), model.settled_at.is_(None))
                .values(settled_at=now)
                .returning(model.id)
                .execution_options(synchronize_session=False)
            ).all()
        )
    return settled


def _settled_events(actor: User, object_type: str, ids: set[int]) -> list[audit.Event]:
    """One audit event per payment settled, in id order."""
    return [
        audit.Event(
            actor.id,
            f"{object_type}.settle",
            object_type,
            object_id,
            {"settled": False},
            {"settled": True},
        )
        for object_id in sorted(ids)
    ]


def _chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- what finance is shown -------------------------------------------------------------------


def working_days_before(day: date, count: int) -> date:
    """The day ``count`` working days (Monday to Friday) before ``day``. Bank holidays are
    not known here, so the count can run a day or two short around them."""
    while count > 0:
        day -= timedelta(days=1)
        if day.weekday() < 5:
            count -= 1
    return day


@dataclass(frozen=True, slots=True)
class Unsettled:
    """A payment no statement has shown yet, older than it should be."""

    kind: str
    """``batch`` or ``tranche``."""
    object_id: int
    reference: str
    amount: int
    currency: str
    paid_on: date


def unsettled_payments(session: Session, *, today: date, limit: int = 50) -> list[Unsettled]:
    """Payout batches and tranches paid more than :data:`SETTLE_WITHIN` working days before
    ``today`` that no statement has settled, oldest first."""
    cutoff = working_days_before(today, SETTLE_WITHIN)
    found = [
        Unsettled("batch", b.id, b.payment_reference, b.amount, b.currency, b.paid_at.date())
        for b in session.scalars(
            select(PayoutBatch)
            .where(PayoutBatch.settled_at.is_(None))
            .order_by(PayoutBatch.paid_at, PayoutBatch.id)
            .limit(limit)
        )
        if b.paid_at.date() < cutoff
    ]
    rows = session.execute(
        select(Tranche, Fund.currency)
        .join(Grant, Grant.id == Tranche.grant_id)
        .join(Fund, Fund.id == Grant.fund_id)
        .where(Tranche.paid_on.is_not(None), Tranche.paid_on < cutoff, Tranche.settled_at.is_(None))
        .order_by(Tranche.paid_on, Tranche.id)
        .limit(limit)
    )
    found += [
        Unsettled("tranche", t.id, t.payment_reference or "", t.amount, currency, t.paid_on)
        for t, currency in rows
        if t.paid_on is not None
    ]
    return sorted(found, key=lambda item: (item.paid_on, item.kind, item.object_id))[:limit]


ATTENTION = (LineOutcome.UNMATCHED, LineOutcome.AMOUNT_DIFFERS)
"""Outcomes finance must look into."""


def lines_needing_attention(session: Session, *, limit: int = 50) -> list[StatementLine]:
    """Debit lines of imported statements that matched nothing or named a payment for
    another amount, latest first."""
    return list(
        session.scalars(
            select(StatementLine)
            .where(StatementLine.outcome.in_(ATTENTION))
            .order_by(StatementLine.booked_on.desc(), StatementLine.id.desc())
            .limit(limit)
        )
    )


def imported_lines(session: Session, import_id: int) -> list[StatementLine]:
    """The lines of one import, in the file's order."""
    return list(
        session.scalars(
            select(StatementLine)
            .where(StatementLine.import_id == import_id)
            .order_by(StatementLine.line_number)
        )
    )
