"""Large datasets, written straight into the tables exactly as the domain writes them.

:class:`LedgerLoader` appends history in batches: every operation is a balanced ledger
transaction with its postings, an idempotency record and hash-chained audit events, and the
stored balances move by the sum of each batch's postings in the batch's own commit, so every
commit leaves a ledger that ``flask grants ledger verify`` and ``flask grants audit verify``
accept. PostgreSQL receives the rows by ``COPY``, SQLite by batched ``INSERT``.

:func:`seed_scale` (``flask grants seed-scale``) builds a realistic programme on it: the demo
programmes, partners, funds and logins, grants with tranches in every status through the
domain operations, then ambassadors in the US and the UK with wallets and allowances, gifts
(pending, claimed, revoked, expired) and redemptions (requested, approved, paid in batches,
rejected, cancelled), up to an exact number of postings. The ledger benchmarks load their
ledgers with the same loader.
"""

from __future__ import annotations

import json
import random
import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import Connection, Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from grants.demo import AMBASSADORS as DEMO_AMBASSADORS
from grants.demo import email_for, seed_demo
from grants.domain import credits
from grants.domain import grants as grant_operations
from grants.domain.accounts import PasswordRules, find_user_by_email
from grants.domain.audit import chain_hash
from grants.domain.credits import hash_token, plan_year_deadline
from grants.domain.idempotency import Receipt, request_hash
from grants.domain.ledger import fund_account
from grants.domain.money import Money
from grants.extensions import db
from grants.models import (
    Account,
    AccountKind,
    Ambassador,
    AuditEvent,
    AuditHead,
    CohortStatus,
    Country,
    Fund,
    FundKind,
    Gift,
    GiftState,
    GrantCategory,
    IdempotencyRecord,
    LedgerTransaction,
    Partner,
    Posting,
    Programme,
    Redemption,
    RedemptionState,
    Relation,
    Role,
    Tranche,
    TransactionKind,
    User,
    UserRole,
    Wallet,
    WalletKind,
)

LOAD_BATCH = 50_000
"""Postings written per batch (and per commit) while bulk-loading."""
CYCLE_DOLLARS = (50, 150)
"""The range of one bulk-loaded session payout, in whole units of the currency."""


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
    IDEMPOTENCY,
    AUDIT_EVENTS,
)
"""Every table the loader writes, in an order that satisfies the foreign keys."""
MOVE_BALANCE = (
    update(ACCOUNTS)
    .where(ACCOUNTS.c.id == bindparam("account"))
    .values(balance=ACCOUNTS.c.balance + bindparam("delta"))
)


# --- storage -------------------------------------------------------------------------------


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


# --- the loader ----------------------------------------------------------------------------


@dataclass
class Books:
    """One therapy fund's ids and the wallets loaded into it; objects are loaded per request,
    as views do."""

    fund_id: int
    manager_id: int
    finance_id: int
    programme_id: int
    pool_id: int
    payable_id: int
    paid_id: int
    plan_year_start: date
    currency: str = "USD"
    country: Country = Country.US
    source_id: int = 0
    """The fund's budget source account (for budget increases); 0 when not needed."""
    deadline: datetime | None = None
    """The first instant after the plan year: no gift is claimable from then on."""
    ambassador_ids: list[int] = field(default_factory=list)
    user_ids: list[int] = field(default_factory=list)
    wallet_ids: list[int] = field(default_factory=list)
    available_ids: list[int] = field(default_factory=list)
    hold_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Person:
    """A name and an email address for a loaded user."""

    display_name: str
    email: str


class LedgerLoader:
    """Writes history straight into the tables, in batches, as the domain would have written it.

    Each operation is a balanced transaction with its postings, an idempotency record and
    its audit events, chained on from the chain's current head. Stored balances move by the
    sum of each batch's postings in the batch's own commit, so every commit leaves a ledger
    that ``verify_ledger`` accepts. Methods act on ``books`` (the loader's own by default).
    """

    def __init__(
        self,
        session: Session,
        books: Books,
        clock: datetime,
        *,
        key_prefix: str = "bench-load",
        email_domain: str = "bench.example",
    ) -> None:
        self.session = session
        self.books = books
        self.clock = clock
        self.key_prefix = key_prefix
        self.email_domain = email_domain
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

    def _user(self, user_id: int, person: Person | None, role: Role, locale: str) -> None:
        person = person or Person(
            f"Ambassador {user_id}", f"ambassador{user_id}@{self.email_domain}"
        )
        self.rows[USERS.name].append(
            {
                "id": user_id,
                "email": person.email,
                "display_name": person.display_name,
                "password_hash": None,
                "active": True,
                "locale": locale,
                "created_at": self.clock,
            }
        )
        self.rows[USER_ROLES.name].append({"user_id": user_id, "role": role.value})

    def _wallet(self, books: Books, user_id: int, kind: WalletKind) -> tuple[int, int, int]:
        """A wallet of ``kind`` in ``books``' fund: its id and its two accounts' ids."""
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
                    "currency": books.currency,
                    "fund_id": books.fund_id,
                    "balance": 0,
                }
            )
        self.rows[WALLETS.name].append(
            {
                "id": wallet_id,
                "fund_id": books.fund_id,
                "user_id": user_id,
                "kind": kind.value,
                "account_id": available_id,
                "hold_account_id": hold_id,
                "created_at": self.clock,
            }
        )
        return wallet_id, available_id, hold_id

    def enrol_ambassadors(self, count: int, books: Books | None = None) -> None:
        """``count`` current ambassadors of the books' programme and country, each with an
        empty wallet."""
        books = books or self.books
        for _ in range(count):
            self.enrol(books, books.programme_id, CohortStatus.CURRENT)
        self.flush()

    def enrol(
        self,
        books: Books,
        programme_id: int,
        status: CohortStatus,
        person: Person | None = None,
    ) -> int:
        """One ambassador of ``books``' country; a current one gets an empty wallet in
        ``books``' fund. Returns the ambassador's id."""
        user_id = self._take(USERS)
        ambassador_id = self._take(AMBASSADORS)
        locale = "en_GB" if books.country is Country.GB else "en_US"
        self._user(user_id, person, Role.AMBASSADOR, locale)
        self.rows[AMBASSADORS.name].append(
            {
                "id": ambassador_id,
                "user_id": user_id,
                "programme_id": programme_id,
                "country": books.country.value,
                "cohort_status": status.value,
            }
        )
        if status is CohortStatus.CURRENT:
            wallet_id, available_id, hold_id = self._wallet(books, user_id, WalletKind.AMBASSADOR)
            books.ambassador_ids.append(ambassador_id)
            books.user_ids.append(user_id)
            books.wallet_ids.append(wallet_id)
            books.available_ids.append(available_id)
            books.hold_ids.append(hold_id)
        return ambassador_id

    def transaction(
        self,
        kind: TransactionKind,
        legs: Sequence[tuple[int, int]],
        *,
        actor_id: int | None,
        operation: str,
        object_id: int,
        memo: str = "",
        currency: str | None = None,
        anonymous: bool = False,
    ) -> int:
        """One balanced transaction of ``(account id, amount)`` legs and its idempotency
        record (made by nobody signed in when ``anonymous``, as a claim by a new recipient)."""
        if sum(amount for _, amount in legs) != 0:
            raise ValueError("a transaction's postings must sum to zero")
        at = self._tick()
        transaction_id = self._take(TRANSACTIONS)
        self.rows[TRANSACTIONS.name].append(
            {
                "id": transaction_id,
                "kind": kind.value,
                "currency": currency or self.books.currency,
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
        receipt = Receipt(operation, object_id=object_id, transaction_id=transaction_id)
        requester = None if anonymous else actor_id
        self.rows[IDEMPOTENCY.name].append(
            {
                "id": self._take(IDEMPOTENCY),
                "key": f"{self.key_prefix}:{transaction_id}",
                "actor_id": requester,
                "operation": operation,
                "request_hash": request_hash(operation, requester, {"load": transaction_id}),
                "outcome": json.dumps({"result": asdict(receipt)}),
                "created_at": at,
            }
        )
        self.postings += len(legs)
        self.batch_postings += len(legs)
        return transaction_id

    def audit(
        self,
        *,
        actor_id: int | None,
        action: str,
        object_type: str,
        object_id: int | None,
        before: dict[str, object] | None = None,
        after: dict[str, object],
    ) -> None:
        """One audit event, chained to the one before it."""
        self.audit_seq += 1
        event_fields: dict[str, Any] = {
            "seq": self.audit_seq,
            "occurred_at": self.clock,
            "actor_id": actor_id,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "before": json.dumps(before or {}, sort_keys=True, separators=(",", ":")),
            "after": json.dumps(after, sort_keys=True, separators=(",", ":")),
            "prev_hash": self.audit_hash,
        }
        self.audit_hash = chain_hash(event_fields)
        self.rows[AUDIT_EVENTS.name].append(
            {"id": self._take(AUDIT_EVENTS), **event_fields, "hash": self.audit_hash}
        )

    def cohort_allowance(
        self, each: int, books: Books | None = None, slots: Sequence[int] | None = None
    ) -> int:
        """An allowance of ``each`` to every enrolled ambassador of ``books`` (or to those at
        ``slots``), as ``allocate_cohort`` posts: one transaction. Returns its id."""
        books = books or self.books
        chosen = range(len(books.wallet_ids)) if slots is None else slots
        legs = [(books.pool_id, -each * len(chosen))]
        legs += [(books.available_ids[slot], each) for slot in chosen]
        transaction_id = self.transaction(
            TransactionKind.ALLOWANCE,
            legs,
            actor_id=books.manager_id,
            operation="allowance.allocate_cohort",
            object_id=len(chosen),
            currency=books.currency,
        )
        for slot in chosen:
            self.audit(
                actor_id=books.manager_id,
                action="allowance.allocate",
                object_type="wallet",
                object_id=books.wallet_ids[slot],
                after={"amount": each, "currency": books.currency, "transaction": transaction_id},
            )
        if slots is None:
            self.flush()
        return transaction_id

    def allowance(self, slot: int, amount: int, books: Books | None = None) -> int:
        """An allowance of ``amount`` to one wallet, as ``allocate_allowance`` posts."""
        books = books or self.books
        transaction_id = self.transaction(
            TransactionKind.ALLOWANCE,
            [(books.pool_id, -amount), (books.available_ids[slot], amount)],
            actor_id=books.manager_id,
            operation="allowance.allocate",
            object_id=books.ambassador_ids[slot],
            currency=books.currency,
        )
        self.audit(
            actor_id=books.manager_id,
            action="allowance.allocate",
            object_type="wallet",
            object_id=books.wallet_ids[slot],
            after={"amount": amount, "currency": books.currency, "transaction": transaction_id},
        )
        return transaction_id

    def budget_increase(self, amount: int, books: Books, reason: str) -> int:
        """Raise ``books``' fund budget by ``amount``, as ``change_budget`` posts."""
        transaction_id = self.transaction(
            TransactionKind.BUDGET_INCREASE,
            [(books.source_id, -amount), (books.pool_id, amount)],
            actor_id=books.manager_id,
            operation="fund.budget_increase",
            object_id=books.fund_id,
            memo=reason,
            currency=books.currency,
        )
        self.audit(
            actor_id=books.manager_id,
            action="fund.budget_increase",
            object_type="fund",
            object_id=books.fund_id,
            after={
                "amount": amount,
                "currency": books.currency,
                "reason": reason,
                "transaction": transaction_id,
            },
        )
        return transaction_id

    def redemption(
        self,
        slot: int,
        amount: int,
        state: RedemptionState,
        books: Books | None = None,
        *,
        provider: str = "Dr Lee, Nashville",
        reference: str | None = None,
        reason: str = "",
    ) -> int:
        """A redemption of ``amount`` from one wallet, taken to ``state`` by the operations
        that lead there (requested; approved; paid; rejected; cancelled). Returns its id."""
        books = books or self.books
        user_id, wallet_id = books.user_ids[slot], books.wallet_ids[slot]
        available_id, hold_id = books.available_ids[slot], books.hold_ids[slot]
        money = {"amount": amount, "currency": books.currency}
        redemption_id = self._take(REDEMPTIONS)
        requested_at = self.clock
        hold = self.transaction(
            TransactionKind.REDEMPTION_HOLD,
            [(available_id, -amount), (hold_id, amount)],
            actor_id=user_id,
            operation="redemption.request",
            object_id=redemption_id,
            currency=books.currency,
        )
        self.audit(
            actor_id=user_id,
            action="redemption.request",
            object_type="redemption",
            object_id=redemption_id,
            after={"state": "requested", **money, "transaction": hold},
        )
        decided_at: datetime | None = None
        decided_by: int | None = None
        paid_at: datetime | None = None
        if state in (RedemptionState.APPROVED, RedemptionState.PAID):
            decided_at, decided_by = self._tick(), books.finance_id
            self._step(
                TransactionKind.REDEMPTION_APPROVAL,
                [(hold_id, -amount), (books.payable_id, amount)],
                books,
                books.finance_id,
                "approve",
                redemption_id,
                before="requested",
                after="approved",
            )
        if state is RedemptionState.PAID:
            reference = reference or f"PAY-{redemption_id}"
            self._step(
                TransactionKind.PROVIDER_PAYMENT,
                [(books.payable_id, -amount), (books.paid_id, amount)],
                books,
                books.finance_id,
                "pay",
                redemption_id,
                before="approved",
                after="paid",
                memo=reference,
            )
            paid_at = self.clock
        if state in (RedemptionState.REJECTED, RedemptionState.CANCELLED):
            rejected = state is RedemptionState.REJECTED
            decided_at = self._tick()
            decided_by = books.finance_id if rejected else None
            self._step(
                TransactionKind.REDEMPTION_RELEASE,
                [(hold_id, -amount), (available_id, amount)],
                books,
                books.finance_id if rejected else user_id,
                "reject" if rejected else "cancel",
                redemption_id,
                before="requested",
                after=state.value,
            )
        self.rows[REDEMPTIONS.name].append(
            {
                "id": redemption_id,
                "wallet_id": wallet_id,
                "amount": amount,
                "currency": books.currency,
                "provider_name": provider,
                "session_date": requested_at.date(),
                "state": state.value,
                "reason": reason if state is RedemptionState.REJECTED else "",
                "payment_reference": reference if state is RedemptionState.PAID else None,
                "requested_at": requested_at,
                "decided_at": decided_at,
                "decided_by_id": decided_by,
                "paid_at": paid_at,
            }
        )
        return redemption_id

    def _step(
        self,
        kind: TransactionKind,
        legs: Sequence[tuple[int, int]],
        books: Books,
        actor_id: int,
        verb: str,
        redemption_id: int,
        *,
        before: str,
        after: str,
        memo: str = "",
    ) -> None:
        transaction_id = self.transaction(
            kind,
            legs,
            actor_id=actor_id,
            operation=f"redemption.{verb}",
            object_id=redemption_id,
            memo=memo,
            currency=books.currency,
        )
        self.audit(
            actor_id=actor_id,
            action=f"redemption.{verb}",
            object_type="redemption",
            object_id=redemption_id,
            before={"state": before},
            after={"state": after, "transaction": transaction_id},
        )

    def session_cycle(
        self, slot: int, amount: int, books: Books | None = None, reference: str | None = None
    ) -> int:
        """A wallet's life for one therapy session: an allowance of ``amount``, a redemption
        of it held, approved and paid. Eight postings; the wallet ends where it began.
        Returns the redemption's id."""
        books = books or self.books
        self.allowance(slot, amount, books)
        redemption_id = self.redemption(
            slot, amount, RedemptionState.PAID, books, reference=reference
        )
        if self.batch_postings >= LOAD_BATCH:
            self.flush()
        return redemption_id

    def gift(
        self,
        slot: int,
        amount: int,
        state: GiftState,
        books: Books,
        *,
        recipient: Person,
        relation: Relation,
        now: datetime,
    ) -> int:
        """A gift of ``amount`` from one wallet, taken to ``state`` by the operations that
        lead there; a claimed gift creates its recipient's account and wallet. Returns its id.

        Pending gifts run to the earlier of ``now`` plus 30 days and the plan year's end;
        expired ones ran out at the moment they were expired. The claim tokens are random and
        kept by nobody: only their hashes are stored, as for any gift.
        """
        giver_id, wallet_id = books.user_ids[slot], books.wallet_ids[slot]
        available_id, hold_id = books.available_ids[slot], books.hold_ids[slot]
        gift_id = self._take(GIFTS)
        created_at = self.clock
        hold = self.transaction(
            TransactionKind.GIFT_HOLD,
            [(available_id, -amount), (hold_id, amount)],
            actor_id=giver_id,
            operation="gift.give",
            object_id=gift_id,
            currency=books.currency,
        )
        self.audit(
            actor_id=giver_id,
            action="gift.give",
            object_type="gift",
            object_id=gift_id,
            after={
                "state": "pending",
                "amount": amount,
                "currency": books.currency,
                "transaction": hold,
            },
        )
        deadline = books.deadline or now + credits.DEFAULT_GIFT_VALIDITY
        expires_at = min(now + credits.DEFAULT_GIFT_VALIDITY, deadline)
        settled_at: datetime | None = None
        recipient_wallet_id: int | None = None
        if state is GiftState.CLAIMED:
            recipient_id = self._take(USERS)
            locale = "en_GB" if books.country is Country.GB else "en_US"
            self._user(recipient_id, recipient, Role.RECIPIENT, locale)
            recipient_wallet_id, recipient_account, _ = self._wallet(
                books, recipient_id, WalletKind.RECIPIENT
            )
            settled_at = self._tick()
            claim = self.transaction(
                TransactionKind.GIFT_CLAIM,
                [(hold_id, -amount), (recipient_account, amount)],
                actor_id=recipient_id,
                operation="gift.claim",
                object_id=gift_id,
                currency=books.currency,
                anonymous=True,
            )
            self.audit(
                actor_id=recipient_id,
                action="user.create",
                object_type="user",
                object_id=recipient_id,
                after={"roles": ["recipient"], "via": "gift claim"},
            )
            self.audit(
                actor_id=recipient_id,
                action="gift.claim",
                object_type="gift",
                object_id=gift_id,
                before={"state": "pending"},
                after={"state": "claimed", "wallet": recipient_wallet_id, "transaction": claim},
            )
        elif state in (GiftState.REVOKED, GiftState.EXPIRED):
            revoked = state is GiftState.REVOKED
            settled_at = self._tick()
            if not revoked:
                created_at = settled_at - credits.DEFAULT_GIFT_VALIDITY
                expires_at = settled_at
            actor_id = giver_id if revoked else None
            operation = "gift.revoke" if revoked else "gift.expire"
            release = self.transaction(
                TransactionKind.GIFT_RELEASE,
                [(hold_id, -amount), (available_id, amount)],
                actor_id=actor_id,
                operation=operation,
                object_id=gift_id,
                currency=books.currency,
            )
            self.audit(
                actor_id=actor_id,
                action=operation,
                object_type="gift",
                object_id=gift_id,
                before={"state": "pending"},
                after={"state": state.value, "returned_to": "giver", "transaction": release},
            )
        self.rows[GIFTS.name].append(
            {
                "id": gift_id,
                "fund_id": books.fund_id,
                "giver_wallet_id": wallet_id,
                "amount": amount,
                "currency": books.currency,
                "recipient_name": recipient.display_name,
                "recipient_email": recipient.email,
                "relation": relation.value,
                "message": "",
                "token_hash": hash_token(secrets.token_urlsafe(32)),
                "state": state.value,
                "expires_at": expires_at,
                "created_at": created_at,
                "settled_at": settled_at,
                "recipient_wallet_id": recipient_wallet_id,
            }
        )
        return gift_id

    def grow_to(self, postings: int, rng: random.Random) -> int:
        """Add session cycles on random wallets until the ledger holds ``postings``; returns
        how many cycles were added."""
        cycles = 0
        low, high = CYCLE_DOLLARS
        while self.postings < postings:
            slot = rng.randrange(len(self.books.wallet_ids))
            self.session_cycle(slot, 100 * rng.randint(low, high))
            cycles += 1
        self.flush()
        return cycles

    def flush(self) -> None:
        """Write the pending rows, move the stored balances by their postings, commit."""
        connection = self.session.connection()
        for table in LOADED_TABLES:
            write_rows(connection, table, self.rows.pop(table.name, []))
        moves = [{"account": a, "delta": d} for a, d in sorted(self.deltas.items()) if d]
        if moves:
            connection.execute(MOVE_BALANCE, moves)
        connection.execute(
            update(_table(AuditHead))
            .where(_table(AuditHead).c.id == 1)
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


# --- a realistic programme at scale ----------------------------------------------------------

FIRST_NAMES = (
    "Alex", "Bea", "Cal", "Dee", "Eli", "Fern", "Gus", "Hana", "Ira", "Jude", "Kit", "Lou",
    "Mae", "Nico", "Ona", "Pip", "Quin", "Rae", "Sol", "Tess", "Uma", "Vik", "Wren", "Zed",
)  # fmt: skip
LAST_NAMES = (
    "Abbott", "Baines", "Carver", "Doyle", "Ennis", "Fraser", "Garcia", "Hughes", "Iqbal",
    "Jensen", "Khan", "Lowry", "Moreno", "Nakamura", "Osei", "Patel", "Quinn", "Rossi",
    "Silva", "Turner", "Usman", "Vance", "Walsh", "Young",
)  # fmt: skip
PROVIDERS = {
    "USD": ("Dr Lee, Nashville", "Harmony Counseling, Austin", "Dr Ortiz, Los Angeles",
            "Northside Therapy, Chicago", "Dr Brooks, Brooklyn"),
    "GBP": ("Dr Hughes, Manchester", "Soundmind Therapy, Glasgow", "Dr Patel, London",
            "Bristol Talking Therapies", "Dr Walsh, Belfast"),
}  # fmt: skip
GRANT_PURPOSES = (
    ("Free counselling sessions for touring crew", GrantCategory.SERVICES),
    ("Online resource hub for artists' mental health", GrantCategory.RESOURCE_HUB),
    ("Wellness tents at summer festivals", GrantCategory.FESTIVAL_WELLNESS),
    ("Songwriter retreats with peer support", GrantCategory.SONGWRITER_EVENTS),
    ("Subsidised therapy for emerging artists", GrantCategory.THERAPY_ACCESS),
)
ACTIVITIES = (
    ("paid", 40),
    ("requested", 8),
    ("approved", 6),
    ("rejected", 3),
    ("cancelled", 3),
    ("gift pending", 6),
    ("gift claimed", 14),
    ("gift revoked", 3),
    ("gift expired", 4),
    ("allowance", 13),
)
"""What the bulk load does, with relative weights: each is an allowance of the amount
followed by the operations that take a redemption or a gift to its state (or the allowance
alone). Wallets therefore never go below what their cohort allowance gave them."""
MOST_POSTINGS_PER_ACTIVITY = 10
"""A budget increase (2) then a paid session (8)."""
PAYOUT_BATCH = 25
"""Paid redemptions share a payment reference in batches of this many, per currency."""
BUDGET_STEP = 50_000_000
"""How much a therapy fund's budget is raised by when the load needs more."""
OPENING_ALLOWANCE = {"USD": 75_000, "GBP": 60_000}


@dataclass
class ScaleSeed:
    """What :func:`seed_scale` built."""

    ambassadors: int = 0
    postings: int = 0
    grants: int = 0
    gifts: int = 0
    redemptions: int = 0
    logins: list[tuple[Role, str]] = field(default_factory=list)


class ScaleRefused(Exception):
    """The dataset cannot be built as asked; the message says why."""


def grant_count(ambassadors: int) -> int:
    """How many grants a programme of ``ambassadors`` gets: two per purpose at least, one
    per 50 ambassadors, 200 at most."""
    return max(len(GRANT_PURPOSES) * 2, min(200, ambassadors // 50))


def minimum_postings(ambassadors: int) -> int:
    """A lower bound for ``--postings`` given ``--ambassadors``: the demo data, the grants
    (ten postings each at most), the cohort allowances and room for the activities."""
    return 100 + 10 * grant_count(ambassadors) + ambassadors + 4 * MOST_POSTINGS_PER_ACTIVITY


def seed_scale(
    session: Session,
    *,
    ambassadors: int,
    postings: int,
    now: datetime,
    hasher: PasswordHasher,
    rules: PasswordRules,
    seed: int = 1,
) -> ScaleSeed:
    """Build the dataset on an empty database; commits as it goes (batches of the load).

    ``ambassadors`` counts every ambassador (the demo ones included); ``postings`` is the
    exact number of ledger postings at the end.
    """
    rng = random.Random(seed)  # noqa: S311 - a repeatable dataset, not a secret
    demo_count = len(DEMO_AMBASSADORS)
    if ambassadors < demo_count + 2:
        raise ScaleRefused(f"--ambassadors must be at least {demo_count + 2}.")
    if postings < minimum_postings(ambassadors):
        raise ScaleRefused(
            f"--postings must be at least {minimum_postings(ambassadors):,} for "
            f"{ambassadors:,} ambassadors."
        )
    today = now.date()
    demo = seed_demo(session, today=today, hasher=hasher, rules=rules, now=now)
    second_manager = find_user_by_email(session, email_for("manager.two"))
    assert second_manager is not None, "seed_demo makes the second manager"
    session.commit()
    result = ScaleSeed(logins=list(demo.logins))
    result.grants = _seed_grants(session, second_manager, ambassadors, now, rng)
    session.commit()

    enrolled = session.scalar(select(func.count()).select_from(Ambassador)) or 0
    if ambassadors - enrolled < 2:
        raise ScaleRefused(
            f"The database has {enrolled:,} ambassadors already; ask for at least 2 more."
        )
    books = _therapy_books(session, today.year, second_manager)
    start = min(b.plan_year_start for b in books)
    clock = max(
        datetime.combine(start, datetime.min.time(), tzinfo=UTC),
        now - timedelta(days=30),
    )
    loader = LedgerLoader(session, books[0], clock, key_prefix="scale", email_domain="scale.ex")
    least = loader.postings + ambassadors + 2 * MOST_POSTINGS_PER_ACTIVITY
    if least > postings:
        raise ScaleRefused(f"--postings must be at least {least:,} for this dataset.")
    builder = _Builder(loader, books, rng, now)
    builder.enrol(ambassadors - enrolled, [p.id for p in session.scalars(select(Programme))])
    for fund_books in books:
        if fund_books.wallet_ids:
            opening = OPENING_ALLOWANCE[fund_books.currency]
            cohort = opening * len(fund_books.wallet_ids)
            builder.ensure_pool(fund_books, cohort)
            loader.cohort_allowance(opening, fund_books)
            builder.pool[fund_books.fund_id] -= cohort
    builder.fill(postings)
    loader.flush()
    settle_storage(session)
    result.ambassadors = session.scalar(select(func.count()).select_from(Ambassador)) or 0
    result.postings = session.scalar(select(func.count()).select_from(Posting)) or 0
    result.gifts = session.scalar(select(func.count()).select_from(Gift)) or 0
    result.redemptions = session.scalar(select(func.count()).select_from(Redemption)) or 0
    session.rollback()
    return result


def _seed_grants(
    session: Session, second_manager: User, ambassadors: int, now: datetime, rng: random.Random
) -> int:
    """Grants to the partners through the domain operations, in every status."""
    manager = session.scalars(select(User).where(User.email == email_for("manager"))).one()
    finance = session.scalars(select(User).where(User.email == email_for("finance"))).one()
    fund = session.scalars(
        select(Fund).where(Fund.kind == FundKind.GRANTS).order_by(Fund.id.desc())
    ).first()
    assert fund is not None
    partners = list(session.scalars(select(Partner).order_by(Partner.id)))
    count = grant_count(ambassadors)
    credits.change_budget(
        session,
        key="scale:grants-budget",
        actor=manager,
        fund_id=fund.id,
        amount=Money(count * 2_500_000, fund.currency),
        reason="Budget for the grants programme",
    )
    statuses = ("active", "closed", "approved", "submitted", "draft", "rejected", "cancelled")
    today = now.date()
    for number in range(count):
        purpose, category = GRANT_PURPOSES[number % len(GRANT_PURPOSES)]
        partner = partners[number % len(partners)]
        tranches = 1 + number % 4
        each = 100 * rng.randint(50, 200) * 10
        due = [
            min(fund.plan_year_end, fund.plan_year_start + timedelta(days=60 * (i + 1)))
            for i in range(tranches)
        ]
        draft = grant_operations.GrantDraft(
            fund_id=fund.id,
            partner_id=partner.id,
            purpose=f"{purpose} ({partner.display_name}, {number + 1})",
            category=category.value,
            amount=Money(each * tranches, fund.currency),
            tranches=[grant_operations.Instalment(d, Money(each, fund.currency)) for d in due],
            reports=[
                grant_operations.ReportDue("Outcomes report", fund.plan_year_end),
            ],
        )
        key = f"scale:grant:{number}"
        grant_id = grant_operations.create_grant(
            session, key=key, actor=manager, draft=draft
        ).object_id
        assert grant_id is not None
        status = statuses[number % len(statuses)]
        if status != "draft":
            grant_operations.submit_grant(
                session, key=f"{key}:submit", actor=manager, grant_id=grant_id, now=now
            )
        if status == "rejected":
            grant_operations.reject_grant(
                session,
                key=f"{key}:reject",
                actor=second_manager,
                grant_id=grant_id,
                reason="Outside this year's priorities",
                now=now,
            )
        if status in ("approved", "active", "closed", "cancelled"):
            grant_operations.approve_grant(
                session, key=f"{key}:approve", actor=second_manager, grant_id=grant_id, now=now
            )
        if status in ("active", "closed"):
            schedule = session.scalars(
                select(Tranche.id).where(Tranche.grant_id == grant_id).order_by(Tranche.id)
            ).all()
            paying = schedule if status == "closed" else schedule[: max(1, len(schedule) // 2)]
            for tranche_id in paying:
                grant_operations.pay_tranche(
                    session,
                    key=f"{key}:pay:{tranche_id}",
                    actor=finance,
                    tranche_id=tranche_id,
                    payment_reference=f"GR-{grant_id}-{tranche_id}",
                    paid_on=today,
                    today=today,
                )
        if status == "closed":
            grant_operations.close_grant(
                session, key=f"{key}:close", actor=manager, grant_id=grant_id, now=now
            )
        if status == "cancelled":
            grant_operations.cancel_grant(
                session,
                key=f"{key}:cancel",
                actor=manager,
                grant_id=grant_id,
                reason="The partner withdrew",
                now=now,
            )
        session.flush()
    return count


def _therapy_books(session: Session, year: int, manager: User) -> list[Books]:
    """The books of the plan year's US and UK therapy funds."""
    finance = session.scalars(select(User).where(User.email == email_for("finance"))).one()
    programme = session.scalars(select(Programme).order_by(Programme.id)).first()
    assert programme is not None
    books = []
    for country, currency in ((Country.US, "USD"), (Country.GB, "GBP")):
        fund = session.scalars(
            select(Fund).where(
                Fund.kind == FundKind.THERAPY,
                Fund.currency == currency,
                Fund.plan_year_start <= date(year, 12, 31),
                Fund.plan_year_end >= date(year, 1, 1),
            )
        ).one()
        books.append(
            Books(
                fund_id=fund.id,
                manager_id=manager.id,
                finance_id=finance.id,
                programme_id=programme.id,
                pool_id=fund_account(session, fund.id, AccountKind.FUND).id,
                payable_id=fund_account(session, fund.id, AccountKind.PAYABLE_TO_PROVIDERS).id,
                paid_id=fund_account(session, fund.id, AccountKind.PAID_TO_PROVIDERS).id,
                plan_year_start=fund.plan_year_start,
                currency=currency,
                country=country,
                source_id=fund_account(session, fund.id, AccountKind.BUDGET_SOURCE).id,
                deadline=plan_year_deadline(fund),
            )
        )
    session.commit()
    return books


class _Builder:
    """Chooses what the bulk load does, keeps the funds' pools above what it allocates and
    groups payouts into batches."""

    def __init__(
        self, loader: LedgerLoader, books: list[Books], rng: random.Random, now: datetime
    ) -> None:
        self.loader = loader
        self.books = books
        self.rng = rng
        self.now = now
        self.pool = {b.fund_id: loader.session.get_one(Account, b.pool_id).balance for b in books}
        loader.session.rollback()
        self.batches: dict[str, tuple[str, list[int], int]] = {}
        self.batch_numbers: dict[str, int] = defaultdict(int)
        names, weights = zip(*ACTIVITIES, strict=True)
        self.activities: tuple[str, ...] = names
        self.weights: tuple[int, ...] = weights
        self.people = 0

    def person(self, domain: str) -> Person:
        self.people += 1
        first = FIRST_NAMES[self.rng.randrange(len(FIRST_NAMES))]
        last = LAST_NAMES[self.rng.randrange(len(LAST_NAMES))]
        return Person(
            f"{first} {last}",
            f"{first.lower()}.{last.lower()}.{self.people}@{domain}",
        )

    def enrol(self, count: int, programme_ids: list[int]) -> None:
        """``count`` ambassadors: three in five in the US, across the programmes; most
        current, some upcoming and some alumni (who hold no wallet)."""
        us, uk = self.books
        for number in range(count):
            books = us if number % 5 < 3 else uk
            band = number % 50
            status = (
                CohortStatus.ALUMNI
                if band < 3
                else CohortStatus.UPCOMING
                if band < 5
                else CohortStatus.CURRENT
            )
            self.loader.enrol(
                books,
                programme_ids[number % len(programme_ids)],
                status,
                self.person("artists.example"),
            )
            if len(self.loader.rows[USERS.name]) >= LOAD_BATCH // 5:
                self.loader.flush()
        self.loader.flush()

    def ensure_pool(self, books: Books, amount: int) -> None:
        """Raise the fund's budget when its pool has less than ``amount`` left."""
        if self.pool[books.fund_id] >= amount:
            return
        step = max(BUDGET_STEP, amount)
        self.loader.budget_increase(step, books, "Budget raised for the cohort's sessions")
        self.pool[books.fund_id] += step

    def allowance(self, books: Books, slot: int, amount: int) -> None:
        self.ensure_pool(books, amount)
        self.loader.allowance(slot, amount, books)
        self.pool[books.fund_id] -= amount

    def reference(self, books: Books, redemption_id: int) -> str:
        """The payment reference of the batch this paid redemption joins."""
        reference, members, total = self.batches.get(books.currency, ("", [], 0))
        if not reference:
            self.batch_numbers[books.currency] += 1
            reference = f"BATCH-{books.currency}-{self.batch_numbers[books.currency]:06d}"
        members.append(redemption_id)
        self.batches[books.currency] = (reference, members, total)
        return reference

    def close_batch(self, books: Books, amount: int) -> None:
        """Count the paid redemption in its batch; a full batch gets its audit event."""
        reference, members, total = self.batches[books.currency]
        total += amount
        if len(members) < PAYOUT_BATCH:
            self.batches[books.currency] = (reference, members, total)
            return
        self.loader.audit(
            actor_id=books.finance_id,
            action="redemption.pay_batch",
            object_type="payout_batch",
            object_id=None,
            after={
                "payment_reference": reference,
                "redemptions": members,
                "amount": total,
                "currency": books.currency,
            },
        )
        del self.batches[books.currency]

    def fill(self, postings: int) -> None:
        """Activities on random wallets until the ledger holds exactly ``postings``."""
        loader = self.loader
        while postings - loader.postings >= 2 * MOST_POSTINGS_PER_ACTIVITY:
            self.activity(self.rng.choices(self.activities, self.weights)[0])
            if loader.batch_postings >= LOAD_BATCH:
                loader.flush()
        books = self.books[0]
        self.ensure_pool(books, 2 * MOST_POSTINGS_PER_ACTIVITY * 20_000)
        remaining = postings - loader.postings
        if remaining % 2:
            slots = self.rng.sample(range(len(books.wallet_ids)), 2)
            loader.cohort_allowance(5_000, books, slots)
            self.pool[books.fund_id] -= 10_000
            remaining -= 3
        for _ in range(remaining // 2):
            self.allowance(books, self.rng.randrange(len(books.wallet_ids)), 5_000)

    def activity(self, name: str) -> None:
        books = self.books[0] if self.rng.random() < 0.6 else self.books[1]
        if not books.wallet_ids:
            books = self.books[0]
        slot = self.rng.randrange(len(books.wallet_ids))
        amount = 100 * self.rng.randint(*CYCLE_DOLLARS)
        self.allowance(books, slot, amount)
        if name == "allowance":
            return
        if name.startswith("gift "):
            relation = self.rng.choice(list(Relation))
            self.loader.gift(
                slot,
                amount,
                GiftState(name.removeprefix("gift ")),
                books,
                recipient=self.person("crew.example"),
                relation=relation,
                now=self.now,
            )
            return
        state = RedemptionState(name)
        provider = self.rng.choice(PROVIDERS[books.currency])
        reference = None
        if state is RedemptionState.PAID:
            reference = self.reference(books, self.loader.next_id[REDEMPTIONS.name])
        self.loader.redemption(
            slot,
            amount,
            state,
            books,
            provider=provider,
            reference=reference,
            reason="The receipt does not show the session date." if name == "rejected" else "",
        )
        if state is RedemptionState.PAID:
            self.close_batch(books, amount)
