"""The ledger as it stood at a position: the last transaction a report counts, and each
account's balance there (its stored balance less the postings made after it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from grants.models import Account, LedgerTransaction, Posting


def ledger_position(session: Session, cutoff: datetime | None) -> tuple[int, datetime | None]:
    """The id and time of the last ledger transaction made at or before ``cutoff``
    (``None``: the last one); ``(0, None)`` for an empty ledger."""
    query = select(LedgerTransaction.id, LedgerTransaction.created_at)
    if cutoff is not None:
        query = query.where(
            LedgerTransaction.id
            == select(func.max(LedgerTransaction.id))
            .where(LedgerTransaction.created_at <= cutoff)
            .scalar_subquery()
        )
    else:
        query = query.order_by(LedgerTransaction.id.desc()).limit(1)
    row = session.execute(query).first()
    return (row[0], row[1]) if row else (0, None)


def later_postings(position: int) -> Any:
    """Per account, the sum of the postings made after ``position`` (a subquery).

    It reads the range of ``postings.transaction_id`` after the position; grouping by
    ``account_id + 0`` keeps SQLite from walking the whole ``account_id`` index instead.
    """
    account = (Posting.account_id + 0).label("account_id")
    return (
        select(account, func.sum(Posting.amount).label("amount"))
        .where(Posting.transaction_id > position)
        .group_by(account)
        .subquery()
    )


def balance_at(position: int) -> tuple[Any, ColumnElement[int]]:
    """The later-postings subquery and the expression of an account's balance at ``position``."""
    later = later_postings(position)
    return later, Account.balance - func.coalesce(later.c.amount, 0)
