"""The ledger fingerprint: a hash of the ledger's state at a report's cutoff.

It is the SHA-256 of the report's position (the id of the last transaction counted) and of
the balance, at that position, of every account of the funds the report covers, in account
id order. Ledger rows are append-only, so a position names one state of the ledger; the
balances make two copies of a database that diverged after a restore tell apart. Any new
transaction up to the cutoff moves the position, and so the fingerprint.

Computing it reads the stored balances and the postings after the position (an index
range), never the whole ledger.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.models import Account
from grants.reports.position import balance_at

VERSION = "ledger-fingerprint-v1"


def ledger_fingerprint(session: Session, *, position: int, fund_ids: Sequence[int]) -> str:
    """The fingerprint (64 hex digits) of the ledger at ``position`` for the funds ``fund_ids``."""
    later, balance = balance_at(position)
    digest = hashlib.sha256(f"{VERSION}\n{position}\n".encode())
    rows = session.execute(
        select(Account.id, balance)
        .outerjoin(later, later.c.account_id == Account.id)
        .where(Account.fund_id.in_(list(fund_ids)))
        .order_by(Account.id)
    )
    for account_id, amount in rows:
        digest.update(f"{account_id}:{int(amount)}\n".encode())
    return digest.hexdigest()


def short(fingerprint: str) -> str:
    """The first 16 hex digits, grouped in fours, as printed in a report's footer."""
    return " ".join(fingerprint[i : i + 4] for i in range(0, 16, 4))
