"""Running totals of the ledger for reports, so that a report costs what its rows cost and
not what the ledger's history costs.

``report_account_flows`` holds, per account and transaction kind (a reversal counted under
``reversal:<kind of the original>``), the sum and number of its postings up to a
*watermark* transaction; ``report_wallet_paid`` holds, per wallet, the redemptions paid up
to a watermark time. :func:`fold` moves both watermarks forward; the worker runs it every
minute. Reading never writes: a report adds the postings between the watermark and its
own position (or takes away those after its position), an index range on
``postings.transaction_id``, and likewise for payments by ``redemptions.paid_at``.

Only rows older than :data:`SETTLE_WINDOW` are folded: a transaction is committed within
seconds of being numbered and stamped, so nothing can still arrive below the watermark
(on PostgreSQL, ids are handed out before commit and may commit out of order).

Two indexes serve the reports and are declared here, on the ledger's and the redemptions'
own tables: ``ledger_transactions.created_at`` (a cutoff time to a position) and
``redemptions.paid_at`` (payments after a watermark).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    String,
    and_,
    case,
    func,
    literal,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column

from grants.models import LedgerTransaction, Posting, Redemption, RedemptionState
from grants.models.base import Base, UTCDateTime

SETTLE_WINDOW = timedelta(minutes=5)
"""How old a transaction or a payment must be before it is folded into the totals."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Index("ix_ledger_transactions_created_at", LedgerTransaction.created_at)
Index("ix_redemptions_paid_at", Redemption.paid_at)


class ReportAccountFlow(Base):
    """The postings of one account from transactions of one kind, up to the watermark."""

    __tablename__ = "report_account_flows"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(60), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger, default=0)
    postings: Mapped[int] = mapped_column(BigInteger, default=0)


class ReportWalletPaid(Base):
    """What was paid to therapists for one wallet's redemptions, up to the watermark time."""

    __tablename__ = "report_wallet_paid"

    wallet_id: Mapped[int] = mapped_column(ForeignKey("wallets.id"), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger, default=0)
    redemptions: Mapped[int] = mapped_column(BigInteger, default=0)


class ReportFlowMark(Base):
    """The watermarks of the totals: one row."""

    __tablename__ = "report_flow_marks"

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(BigInteger, default=0)
    """The last ledger transaction folded into ``report_account_flows``."""
    paid_through: Mapped[datetime] = mapped_column(UTCDateTime(), default=lambda: EPOCH)
    """Payments made up to this time are in ``report_wallet_paid``."""


@dataclass(frozen=True)
class Mark:
    transaction_id: int
    paid_through: datetime


def current_mark(session: Session) -> Mark:
    """The watermarks now (nothing folded yet: transaction 0, the epoch)."""
    row = session.execute(
        select(ReportFlowMark.transaction_id, ReportFlowMark.paid_through).where(
            ReportFlowMark.id == 1
        )
    ).first()
    return Mark(row[0], row[1]) if row else Mark(0, EPOCH)


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


def posting_flows(low: int, high: int, sign: int = 1) -> Any:
    """Postings of transactions ``low < id <= high``, keyed as the totals are (a select of
    ``account_id, kind, amount, postings`` rows, ``sign`` applied)."""
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
        .where(Posting.transaction_id > low, Posting.transaction_id <= high)
    )


def flows_at(session: Session, position: int) -> Any:
    """Every account's totals by kind at ``position``: the folded totals, corrected by the
    postings between the watermark and the position (a subquery of ``account_id, kind,
    amount, postings`` rows, several per key: sum them)."""
    mark = current_mark(session)
    parts = [
        select(
            ReportAccountFlow.account_id,
            ReportAccountFlow.kind,
            ReportAccountFlow.amount,
            ReportAccountFlow.postings,
        )
    ]
    if position > mark.transaction_id:
        parts.append(posting_flows(mark.transaction_id, position))
    elif position < mark.transaction_id:
        parts.append(posting_flows(position, mark.transaction_id, sign=-1))
    return parts[0].union_all(*parts[1:]).subquery() if len(parts) > 1 else parts[0].subquery()


def paid_at(session: Session, cutoff: datetime | None) -> Any:
    """Per wallet, the redemptions paid up to ``cutoff`` (``None``: all), in minor units: the
    folded totals corrected by the payments between the watermark time and the cutoff (a
    subquery of ``wallet_id, amount`` rows, several per wallet: sum them)."""
    mark = current_mark(session)
    folded = select(ReportWalletPaid.wallet_id, ReportWalletPaid.amount)
    paid = Redemption.state == RedemptionState.PAID
    if cutoff is None or cutoff > mark.paid_through:
        window = [Redemption.paid_at > mark.paid_through]
        if cutoff is not None:
            window.append(Redemption.paid_at <= cutoff)
        correction = select(Redemption.wallet_id, Redemption.amount).where(paid, *window)
    else:
        correction = select(Redemption.wallet_id, -Redemption.amount).where(
            paid, Redemption.paid_at > cutoff, Redemption.paid_at <= mark.paid_through
        )
    return folded.union_all(correction).subquery()


def _upsert(
    session: Session, model: type[Base], keys: list[str], rows: list[dict[str, Any]]
) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table: Any = model.__table__
    statement = insert(table)
    totals = [name for name in rows[0] if name not in keys]
    statement = statement.on_conflict_do_update(
        index_elements=keys,
        set_={name: table.c[name] + statement.excluded[name] for name in totals},
    )
    session.execute(statement, rows)


def fold(session: Session, *, now: datetime) -> Mark:
    """Move the watermarks to what settled before ``now - SETTLE_WINDOW``; the new marks.

    Flushes, never commits. Two folds at once cannot both count the same rows: each moves
    the marks with one guarded update from the values it read, and the second finds them
    moved and folds nothing.
    """
    if session.get(ReportFlowMark, 1) is None:
        session.add(ReportFlowMark(id=1, transaction_id=0, paid_through=EPOCH))
        session.flush()
    mark = current_mark(session)
    settled = now - SETTLE_WINDOW
    target = (
        session.scalar(
            select(func.max(LedgerTransaction.id)).where(LedgerTransaction.created_at < settled)
        )
        or 0
    )
    target = max(target, mark.transaction_id)
    paid_through = max(settled, mark.paid_through)
    moved = session.execute(
        update(ReportFlowMark)
        .where(
            ReportFlowMark.id == 1,
            ReportFlowMark.transaction_id == mark.transaction_id,
            ReportFlowMark.paid_through == mark.paid_through,
        )
        .values(transaction_id=target, paid_through=paid_through)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return current_mark(session)
    if target > mark.transaction_id:
        grouped = posting_flows(mark.transaction_id, target).subquery()
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
    payments = [
        {"wallet_id": wallet_id, "amount": int(amount), "redemptions": count}
        for wallet_id, amount, count in session.execute(
            select(Redemption.wallet_id, func.sum(Redemption.amount), func.count())
            .where(
                Redemption.state == RedemptionState.PAID,
                and_(Redemption.paid_at > mark.paid_through, Redemption.paid_at <= paid_through),
            )
            .group_by(Redemption.wallet_id)
        )
    ]
    _upsert(session, ReportWalletPaid, ["wallet_id"], payments)
    session.flush()
    return Mark(target, paid_through)
