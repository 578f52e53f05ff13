"""Writing history straight into the tables, in batches: rows, ids, the audit chain.

:class:`BulkWriter` collects rows in memory and writes them in one go per batch (PostgreSQL
receives them by ``COPY``, SQLite by batched ``INSERT``); the stored balances move by the
sum of the batch's postings, and the audit chain's head moves to the batch's last event,
in the batch's own commit. What goes into the rows (payloads, requests, receipts) comes
from the domain's own builders, called by :class:`~grants.seed.loader.LedgerLoader`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import Connection, Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from grants.domain.audit import chain_hash, chained_event
from grants.domain.idempotency import Receipt, recorded_result, request_hash
from grants.extensions import db
from grants.models import (
    Account,
    AccountKind,
    Ambassador,
    AuditEvent,
    AuditHead,
    Gift,
    IdempotencyRecord,
    LedgerTransaction,
    PayoutBatch,
    Posting,
    Redemption,
    Role,
    TransactionKind,
    User,
    UserRole,
    Wallet,
    WalletKind,
)

LOAD_BATCH = 50_000
"""Postings written per batch (and per commit) while bulk-loading."""


def _table(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


USERS, USER_ROLES, AMBASSADORS = _table(User), _table(UserRole), _table(Ambassador)
ACCOUNTS, WALLETS, GIFTS = _table(Account), _table(Wallet), _table(Gift)
TRANSACTIONS, POSTINGS = _table(LedgerTransaction), _table(Posting)
REDEMPTIONS, IDEMPOTENCY, AUDIT_EVENTS = (
    _table(Redemption),
    _table(IdempotencyRecord),
    _table(AuditEvent),
)
AUDIT_HEADS, PAYOUT_BATCHES = _table(AuditHead), _table(PayoutBatch)
LOADED_TABLES = (
    USERS,
    USER_ROLES,
    AMBASSADORS,
    ACCOUNTS,
    WALLETS,
    GIFTS,
    TRANSACTIONS,
    POSTINGS,
    REDEMPTIONS,
    PAYOUT_BATCHES,
    IDEMPOTENCY,
    AUDIT_EVENTS,
)
"""Every table the loader writes, in an order that satisfies the foreign keys."""
MOVE_BALANCE = (
    update(ACCOUNTS)
    .where(ACCOUNTS.c.id == bindparam("account"))
    .values(balance=ACCOUNTS.c.balance + bindparam("delta"))
)


def is_postgres(connection: Connection | Session) -> bool:
    """Whether ``connection`` talks to PostgreSQL (else it is SQLite)."""
    bind = connection if isinstance(connection, Connection) else connection.get_bind()
    return bind.dialect.name == "postgresql"


def write_rows(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Append ``rows`` to ``table``: ``COPY`` on PostgreSQL, a batched INSERT on SQLite.

    Rows carry plain values (enum members as their strings, aware datetimes), so both paths
    store exactly what the models would.
    """
    if not rows:
        return
    if not is_postgres(connection):
        connection.execute(insert(table), rows)
        return
    columns = list(rows[0])
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    driver: Any = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([row[column] for column in columns])


def settle_storage(session: Session) -> None:
    """After a bulk load: on PostgreSQL, ``VACUUM ANALYZE`` (what autovacuum would do soon,
    and would otherwise do in the middle of the next measurements); on SQLite, fold the
    write-ahead log back into the database file, keeping the log file at its size so that
    the next commits do not pay for growing it again."""
    postgres = is_postgres(session)
    session.commit()
    session.close()
    if postgres:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
        return
    driver = db.engine.raw_connection()
    try:
        driver.cursor().execute("PRAGMA wal_checkpoint(RESTART)")
    finally:
        driver.close()


def plain(fields: Mapping[str, object]) -> dict[str, Any]:
    """``fields`` as a row to write: enum members as their stored strings."""
    return {
        name: value.value if isinstance(value, Enum) else value for name, value in fields.items()
    }


class BulkWriter:
    """Rows waiting to be written, the next id of every table, a clock that moves one second
    per transaction, and the audit chain carried on from its current head."""

    def __init__(self, session: Session, clock: datetime, *, key_prefix: str) -> None:
        self.session = session
        self.clock = clock
        self.key_prefix = key_prefix
        self.next_id = {
            table.name: (session.scalar(select(func.max(table.c.id))) or 0) + 1
            for table in LOADED_TABLES
            if "id" in table.c
        }
        head = session.get_one(AuditHead, 1)
        self.audit_seq, self.audit_hash = head.seq, head.last_hash
        self.postings = session.scalar(select(func.count()).select_from(POSTINGS)) or 0
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.deltas: dict[int, int] = defaultdict(int)
        self.batch_postings = 0

    def _take(self, table: Table) -> int:
        number = self.next_id[table.name]
        self.next_id[table.name] = number + 1
        return number

    def _tick(self) -> datetime:
        self.clock += timedelta(seconds=1)
        return self.clock

    def user(self, user_id: int, display_name: str, email: str, role: Role, locale: str) -> None:
        """An active user holding ``role``, with no password yet."""
        self.rows[USERS.name].append(
            {
                "id": user_id,
                "email": email,
                "display_name": display_name,
                "password_hash": None,
                "active": True,
                "locale": locale,
                "created_at": self.clock,
            }
        )
        self.rows[USER_ROLES.name].append({"user_id": user_id, "role": role.value})

    def wallet(
        self, fund_id: int, currency: str, user_id: int, kind: WalletKind
    ) -> tuple[int, int, int]:
        """A wallet of ``kind`` in the fund: its id and its two accounts' ids."""
        available_id, hold_id = self._take(ACCOUNTS), self._take(ACCOUNTS)
        wallet_id = self._take(WALLETS)
        for account_id, account_kind in (
            (available_id, AccountKind.WALLET),
            (hold_id, AccountKind.WALLET_HOLD),
        ):
            self.rows[ACCOUNTS.name].append(
                {
                    "id": account_id,
                    "kind": account_kind.value,
                    "currency": currency,
                    "fund_id": fund_id,
                    "balance": 0,
                }
            )
        self.rows[WALLETS.name].append(
            {
                "id": wallet_id,
                "fund_id": fund_id,
                "user_id": user_id,
                "kind": kind.value,
                "account_id": available_id,
                "hold_account_id": hold_id,
                "created_at": self.clock,
            }
        )
        return wallet_id, available_id, hold_id

    def transaction(
        self,
        kind: TransactionKind,
        legs: Sequence[tuple[int, int]],
        *,
        currency: str,
        actor_id: int | None,
        operation: str,
        request: Mapping[str, object],
        object_id: int,
        memo: str = "",
        anonymous: bool = False,
        receipt: Callable[[int], Receipt] | None = None,
    ) -> int:
        """One balanced transaction of ``(account id, amount)`` legs and the idempotency
        record of the ``operation`` that made it (``request`` and the receipt, by default
        the operation's ``object_id`` and the transaction), made by nobody signed in when
        ``anonymous``, as a claim by a new recipient. Returns the transaction's id."""
        if sum(amount for _, amount in legs) != 0:
            raise ValueError("a transaction's postings must sum to zero")
        at = self._tick()
        transaction_id = self._take(TRANSACTIONS)
        self.rows[TRANSACTIONS.name].append(
            {
                "id": transaction_id,
                "kind": kind.value,
                "currency": currency,
                "actor_id": actor_id,
                "memo": memo,
                "reverses_id": None,
                "created_at": at,
            }
        )
        for account_id, amount in legs:
            self.rows[POSTINGS.name].append(
                {
                    "id": self._take(POSTINGS),
                    "transaction_id": transaction_id,
                    "account_id": account_id,
                    "amount": amount,
                }
            )
            self.deltas[account_id] += amount
        made = (
            receipt(transaction_id)
            if receipt is not None
            else Receipt(operation, object_id=object_id, transaction_id=transaction_id)
        )
        self.record(
            f"{self.key_prefix}:{transaction_id}",
            None if anonymous else actor_id,
            operation,
            request,
            made,
        )
        self.postings += len(legs)
        self.batch_postings += len(legs)
        return transaction_id

    def record(
        self,
        key: str,
        actor_id: int | None,
        operation: str,
        request: Mapping[str, object],
        receipt: Receipt,
    ) -> None:
        """The idempotency record of one request that succeeded."""
        self.rows[IDEMPOTENCY.name].append(
            {
                "id": self._take(IDEMPOTENCY),
                "key": key,
                "actor_id": actor_id,
                "operation": operation,
                "request_hash": request_hash(operation, actor_id, request),
                "outcome": json.dumps(recorded_result(receipt)),
                "created_at": self.clock,
            }
        )

    def audit(
        self,
        actor: int | None,
        action: str,
        subject: str,
        subject_id: int | None,
        *,
        before: Mapping[str, object] | None = None,
        after: Mapping[str, object],
    ) -> None:
        """One audit event, chained to the one before it: ``actor`` did ``action`` to the
        object of type ``subject`` and id ``subject_id``."""
        seq, at, previous = self.audit_seq + 1, self.clock, self.audit_hash
        event = chained_event(seq, at, actor, action, subject, subject_id, before, after, previous)
        self.audit_seq, self.audit_hash = seq, chain_hash(event)
        self.rows[AUDIT_EVENTS.name].append(
            {"id": self._take(AUDIT_EVENTS), **event, "hash": self.audit_hash}
        )

    def flush_when_full(self) -> None:
        """Write the pending rows once a batch's worth of postings, or of users, waits."""
        if self.batch_postings >= LOAD_BATCH or len(self.rows[USERS.name]) >= LOAD_BATCH // 5:
            self.flush()

    def flush(self) -> None:
        """Write the pending rows, move the stored balances by their postings, commit."""
        connection = self.session.connection()
        for table in LOADED_TABLES:
            write_rows(connection, table, self.rows.pop(table.name, []))
        moves = [{"account": a, "delta": d} for a, d in sorted(self.deltas.items()) if d]
        if moves:
            connection.execute(MOVE_BALANCE, moves)
        connection.execute(
            update(AUDIT_HEADS)
            .where(AUDIT_HEADS.c.id == 1)
            .values(seq=self.audit_seq, last_hash=self.audit_hash)
        )
        if is_postgres(connection):
            for table in LOADED_TABLES:
                if "id" in table.c:
                    sequence = func.pg_get_serial_sequence(table.name, "id")
                    highest = select(func.max(table.c.id)).scalar_subquery()
                    connection.execute(select(func.setval(sequence, highest)))
        self.session.commit()
        self.deltas.clear()
        self.batch_postings = 0
