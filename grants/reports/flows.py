"""Running totals of the ledger for reports, so that a report costs what its rows cost and
not what the ledger's history costs.

``report_account_flows`` holds, per account and transaction kind (a reversal counted under
``reversal:<kind of the original>``), the sum and number of the postings of every *folded*
ledger transaction; ``report_wallet_paid`` holds, per wallet, the folded payments to
therapists. :func:`fold` adds what has committed since the last fold; the worker runs it
every minute. Reading never writes: a report takes the totals and corrects them, in the
same statement, by the postings of transactions not yet folded at or below its position,
less those folded above it (index ranges of the few recent transactions), and likewise
payments by ``redemptions.paid_at``.

Which ledger transactions are folded is one row, :class:`ReportFlowMark`, and one ordering
key per transaction, the one that says when it is final:

- On PostgreSQL each transaction records the database transaction that wrote it
  (``written_by_xid``). Ids are handed out before commit and commits may land out of order,
  so an id says nothing about what may still arrive below it; but every database
  transaction older than the oldest one still running (the current snapshot's ``xmin``)
  has ended, so once read, the set written below it is final. The fold takes what was
  written between the mark's ``below_xid`` and that bound and moves ``below_xid`` to it.
  A transaction that has written and stays open, in any database of the server, holds the
  bound back (one that only reads has no id and holds nothing back): the transactions
  after it wait in the corrections until it ends, and none is left out.
- A transaction without a writer's id (every one on SQLite, whose single writer commits in
  id order, and those written on PostgreSQL before the id was recorded) is folded once its
  id is at most the mark's ``transaction_id``, the highest id folded.

A paid redemption says whether it is counted (``paid_in_totals``): the fold counts the paid
ones not yet counted and marks them in the same transaction. A payment still being made is
not yet paid in the fold's snapshot and is counted by a later fold.

Two folds at once count nothing twice: each moves the mark with one guarded update from the
values it read, and the second finds it moved and folds nothing. The payments' marks guard
themselves: a second fold waits for the first's row locks and finds them set.

Indexes on the ledger's and the redemptions' own tables are declared here:
``ledger_transactions.created_at`` (a cutoff time to a position), ``redemptions.paid_at``
(payments by time), and ``redemptions (paid_in_totals, state, paid_at)``, of which the
payments not yet counted, and those counted after a cutoff, are each one range. (A partial
index of the first alone would be smaller, but SQLite, without statistics, prefers the
index on ``state`` to it and reads every payment.) PostgreSQL is also given statistics of
``paid_in_totals`` and ``state`` together (:data:`PAID_COUNTED_STATISTICS`): taking them
as independent, it counts a share of the unpaid redemptions among the paid ones not yet
counted, and would rather read every payment up to a report's cutoff.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    ForeignKey,
    Index,
    String,
    and_,
    case,
    event,
    func,
    literal,
    or_,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column

from grants.database import insert_for
from grants.models import LedgerTransaction, Posting, Redemption, RedemptionState
from grants.models.base import Base

PAID_NOT_COUNTED = and_(~Redemption.paid_in_totals, Redemption.state == RedemptionState.PAID)
"""A payment the totals do not count yet."""

Index("ix_ledger_transactions_created_at", LedgerTransaction.created_at)
Index("ix_redemptions_paid_at", Redemption.paid_at)
Index(
    "ix_redemptions_paid_in_totals_state_paid_at",
    Redemption.paid_in_totals,
    Redemption.state,
    Redemption.paid_at,
)
PAID_COUNTED_STATISTICS = (
    "CREATE STATISTICS st_redemptions_paid_in_totals_state (mcv)"
    " ON paid_in_totals, state FROM redemptions"
)
"""How often each pair of ``paid_in_totals`` and ``state`` occurs, for PostgreSQL's planner
(migration 0009 makes the same)."""


@event.listens_for(Redemption.__table__, "after_create")
def _paid_counted_statistics(target: Any, connection: Connection, **kw: Any) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text(PAID_COUNTED_STATISTICS))


class ReportAccountFlow(Base):
    """The postings of one account from folded transactions of one kind."""

    __tablename__ = "report_account_flows"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(60), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger, default=0)
    postings: Mapped[int] = mapped_column(BigInteger, default=0)


class ReportWalletPaid(Base):
    """What was paid to therapists for one wallet's redemptions, those counted so far."""

    __tablename__ = "report_wallet_paid"

    wallet_id: Mapped[int] = mapped_column(ForeignKey("wallets.id"), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger, default=0)
    redemptions: Mapped[int] = mapped_column(BigInteger, default=0)


class ReportFlowMark(Base):
    """Which ledger transactions are folded into ``report_account_flows``: one row."""

    __tablename__ = "report_flow_marks"

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(BigInteger, default=0)
    """The highest ledger transaction folded; those without a writer's id are folded up to
    here."""
    below_xid: Mapped[int] = mapped_column(BigInteger, default=0)
    """Those written by a PostgreSQL transaction whose id is below this are folded."""


@dataclass(frozen=True)
class Mark:
    transaction_id: int
    below_xid: int


def current_mark(session: Session) -> Mark:
    """The mark now (nothing folded yet: 0 and 0)."""
    row = session.execute(
        select(ReportFlowMark.transaction_id, ReportFlowMark.below_xid).where(
            ReportFlowMark.id == 1
        )
    ).first()
    return Mark(row[0], row[1]) if row else Mark(0, 0)


def flow_kind() -> Any:
    """The key a posting is totalled under: its transaction's kind, or ``reversal:<kind>``."""
    original = aliased(LedgerTransaction, name="reversed_transaction")
    key = case(
        (
            original.id.is_not(None),
            literal("reversal:", String) + type_coerce(original.kind, String),
        ),
        else_=type_coerce(LedgerTransaction.kind, String),
    )
    return key, original


def posting_flows(*conditions: ColumnElement[bool], sign: int = 1) -> Any:
    """The postings of the transactions meeting ``conditions``, keyed as the totals are (a
    select of ``account_id, kind, amount, postings`` rows, ``sign`` applied)."""
    key, original = flow_kind()
    return (
        select(
            Posting.account_id.label("account_id"),
            key.label("kind"),
            (Posting.amount * sign).label("amount"),
            literal(sign).label("postings"),
        )
        .join(LedgerTransaction, LedgerTransaction.id == Posting.transaction_id)
        .outerjoin(original, original.id == LedgerTransaction.reverses_id)
        .where(*conditions)
    )


def by_id(low: Any, high: Any) -> tuple[ColumnElement[bool], ...]:
    """Transactions ordered by id (no writer's id recorded) with ``low < id <= high``, the
    range given on both sides of the join."""
    return (
        LedgerTransaction.written_by_xid.is_(None),
        *between(low, high),
    )


def between(low: Any, high: Any) -> tuple[ColumnElement[bool], ...]:
    """Transactions with ``low < id <= high``, the range given on both sides of the join."""
    return (
        LedgerTransaction.id > low,
        LedgerTransaction.id <= high,
        Posting.transaction_id > low,
        Posting.transaction_id <= high,
    )


def by_xid(low: Any, high: Any) -> tuple[ColumnElement[bool], ...]:
    """Transactions written by a PostgreSQL transaction with ``low <= xid < high``."""
    return (LedgerTransaction.written_by_xid >= low, LedgerTransaction.written_by_xid < high)


def _marked(column: Any) -> Any:
    """The mark's ``column``, read in the statement that uses it (0 before any fold)."""
    return func.coalesce(select(column).where(ReportFlowMark.id == 1).scalar_subquery(), 0)


def flows_at(session: Session, position: int) -> Any:
    """Every account's totals by kind at ``position``: the folded totals, plus the postings
    of unfolded transactions up to the position, less those of folded transactions after it
    (a subquery of ``account_id, kind, amount, postings`` rows, several per key: sum them).

    The statement reads the mark itself, so a fold committing meanwhile changes nothing. The
    mark read here beforehand only gives the query planner bounds it can see: the mark never
    moves back, so those values bound the statement's own. Only PostgreSQL records writers'
    transaction ids, so only there does the statement look for transactions by them: on
    SQLite that part would find nothing, and the planner would read every posting to say so.
    """
    seen = current_mark(session)
    folded_through = _marked(ReportFlowMark.transaction_id)
    below_xid = _marked(ReportFlowMark.below_xid)
    unfolded = [
        posting_flows(
            *by_id(folded_through, position),
            LedgerTransaction.id > seen.transaction_id,
        )
    ]
    if session.get_bind().dialect.name == "postgresql":
        unfolded.append(
            posting_flows(
                LedgerTransaction.written_by_xid >= below_xid,
                LedgerTransaction.written_by_xid >= seen.below_xid,
                LedgerTransaction.id <= position,
            )
        )
    return (
        select(
            ReportAccountFlow.account_id,
            ReportAccountFlow.kind,
            ReportAccountFlow.amount,
            ReportAccountFlow.postings,
        )
        .union_all(
            *unfolded,
            posting_flows(
                *between(position, folded_through),
                or_(
                    LedgerTransaction.written_by_xid.is_(None),
                    LedgerTransaction.written_by_xid < below_xid,
                ),
                sign=-1,
            ),
        )
        .subquery()
    )


def paid_at(session: Session, cutoff: datetime | None) -> Any:
    """Per wallet, the redemptions paid up to ``cutoff`` (``None``: all), in minor units: the
    counted totals, plus the payments not yet counted up to the cutoff, less those counted
    after it (a subquery of ``wallet_id, amount`` rows, several per wallet: sum them)."""
    waiting = [PAID_NOT_COUNTED]
    parts = [select(ReportWalletPaid.wallet_id, ReportWalletPaid.amount)]
    if cutoff is not None:
        waiting.append(Redemption.paid_at <= cutoff)
        parts.append(
            select(Redemption.wallet_id, -Redemption.amount).where(
                Redemption.paid_in_totals,
                Redemption.state == RedemptionState.PAID,
                Redemption.paid_at > cutoff,
            )
        )
    parts.append(select(Redemption.wallet_id, Redemption.amount).where(*waiting))
    return parts[0].union_all(*parts[1:]).subquery()


def oldest_running_xid(session: Session) -> int | None:
    """On PostgreSQL, the id below which every database transaction has ended (so what it
    wrote is final); ``None`` on SQLite, where nothing records one."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    bound = session.scalar(text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"))
    return int(bound or 0)


def _upsert(
    session: Session, model: type[Base], keys: list[str], rows: list[dict[str, Any]]
) -> None:
    if not rows:
        return
    table: Any = model.__table__
    statement = insert_for(session, table)
    totals = [name for name in rows[0] if name not in keys]
    statement = statement.on_conflict_do_update(
        index_elements=keys,
        set_={name: table.c[name] + statement.excluded[name] for name in totals},
    )
    session.execute(statement, rows)


def fold(session: Session) -> Mark:
    """Fold every ledger transaction and payment that is final and not yet folded; the new
    mark. Flushes, never commits."""
    if session.get(ReportFlowMark, 1) is None:
        session.add(ReportFlowMark(id=1, transaction_id=0, below_xid=0))
        session.flush()
    mark = current_mark(session)
    below_xid = max(mark.below_xid, oldest_running_xid(session) or 0)
    last_by_id = session.scalar(
        select(func.max(LedgerTransaction.id)).where(
            LedgerTransaction.id > mark.transaction_id, LedgerTransaction.written_by_xid.is_(None)
        )
    )
    last_by_xid = session.scalar(
        select(func.max(LedgerTransaction.id)).where(*by_xid(mark.below_xid, below_xid))
    )
    target = Mark(max(mark.transaction_id, last_by_id or 0, last_by_xid or 0), below_xid)
    moved = session.execute(
        update(ReportFlowMark)
        .where(
            ReportFlowMark.id == 1,
            ReportFlowMark.transaction_id == mark.transaction_id,
            ReportFlowMark.below_xid == mark.below_xid,
        )
        .values(transaction_id=target.transaction_id, below_xid=target.below_xid)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return current_mark(session)
    if target != mark:
        grouped = (
            posting_flows(*by_id(mark.transaction_id, target.transaction_id))
            .union_all(posting_flows(*by_xid(mark.below_xid, target.below_xid)))
            .subquery()
        )
        rows = [
            {"account_id": account_id, "kind": kind, "amount": int(amount), "postings": count}
            for account_id, kind, amount, count in session.execute(
                select(
                    grouped.c.account_id,
                    grouped.c.kind,
                    func.sum(grouped.c.amount),
                    func.count(),
                ).group_by(grouped.c.account_id, grouped.c.kind)
            )
        ]
        _upsert(session, ReportAccountFlow, ["account_id", "kind"], rows)
    _upsert(session, ReportWalletPaid, ["wallet_id"], count_payments(session))
    session.flush()
    return target


def count_payments(session: Session) -> list[dict[str, Any]]:
    """Mark the paid redemptions not yet counted as counted; their totals per wallet."""
    amounts: Counter[int] = Counter()
    numbers: Counter[int] = Counter()
    for wallet_id, amount in session.execute(
        update(Redemption)
        .where(PAID_NOT_COUNTED)
        .values(paid_in_totals=True)
        .returning(Redemption.wallet_id, Redemption.amount)
        .execution_options(synchronize_session=False)
    ):
        amounts[wallet_id] += amount
        numbers[wallet_id] += 1
    return [
        {"wallet_id": wallet_id, "amount": amounts[wallet_id], "redemptions": numbers[wallet_id]}
        for wallet_id in sorted(amounts)
    ]
