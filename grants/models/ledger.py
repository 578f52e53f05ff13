"""The double-entry ledger: accounts with stored balances, transactions and their postings.

Ledger rows (transactions and postings) are append-only. A correction is a new transaction
that reverses an earlier one.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, event
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from grants.models.base import Base, UTCDateTime, enum_column, utcnow


class AccountKind(StrEnum):
    """What an account holds. Only ``budget_source`` may have a negative balance."""

    BUDGET_SOURCE = "budget_source"
    """The contra account of a fund's budget: its balance is minus the budget."""
    FUND = "fund"
    """Money in a fund not yet allocated or committed."""
    WALLET = "wallet"
    """Therapy credit available to its holder."""
    WALLET_HOLD = "wallet_hold"
    """Credit of one wallet held for pending gifts and redemptions."""
    PAYABLE_TO_PROVIDERS = "payable_to_providers"
    """Approved redemptions of a fund not yet paid to the therapists."""
    PAID_TO_PROVIDERS = "paid_to_providers"
    """What a fund has paid to therapists."""
    GRANT = "grant"
    """One grant's award: reserved from its fund at approval, not yet paid."""
    PAID_TO_PARTNERS = "paid_to_partners"
    """What a fund has paid to partner nonprofits in grant tranches."""


class Account(Base):
    """One ledger account in one currency, with its balance stored.

    The stored balance is kept equal to the sum of the account's postings by the one function
    that writes postings; ``flask grants ledger verify`` checks that it is.
    """

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("kind = 'budget_source' OR balance >= 0", name="balance_not_negative"),
        CheckConstraint("length(currency) = 3", name="currency_code"),
        Index("ix_accounts_fund_id_kind", "fund_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[AccountKind] = mapped_column(enum_column(AccountKind, "account_kind"))
    currency: Mapped[str] = mapped_column(String(3))
    fund_id: Mapped[int] = mapped_column(ForeignKey("funds.id"))
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    """Integer minor units."""

    def __repr__(self) -> str:
        return f"<Account {self.id} {self.kind} {self.balance} {self.currency}>"


class TransactionKind(StrEnum):
    """Why money moved."""

    BUDGET_INCREASE = "budget_increase"
    BUDGET_DECREASE = "budget_decrease"
    ALLOWANCE = "allowance"
    GIFT_HOLD = "gift_hold"
    GIFT_CLAIM = "gift_claim"
    GIFT_RELEASE = "gift_release"
    REDEMPTION_HOLD = "redemption_hold"
    REDEMPTION_APPROVAL = "redemption_approval"
    REDEMPTION_RELEASE = "redemption_release"
    PROVIDER_PAYMENT = "provider_payment"
    PLAN_YEAR_CLOSE = "plan_year_close"
    GRANT_APPROVAL = "grant_approval"
    TRANCHE_PAYMENT = "tranche_payment"
    GRANT_RELEASE = "grant_release"
    REVERSAL = "reversal"


class CurrentXid(FunctionElement[int]):
    """The id of the PostgreSQL transaction running the statement, as a bigint (NULL on
    SQLite, which has no such id)."""

    type = BigInteger()
    inherit_cache = True


@compiles(CurrentXid)
def _no_xid(element: CurrentXid, compiler: SQLCompiler, **kw: Any) -> str:
    return "NULL"


@compiles(CurrentXid, "postgresql")
def _pg_xid(element: CurrentXid, compiler: SQLCompiler, **kw: Any) -> str:
    return "(pg_current_xact_id()::text::bigint)"


class LedgerTransaction(Base):
    """A balanced set of postings in one currency."""

    __tablename__ = "ledger_transactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[TransactionKind] = mapped_column(enum_column(TransactionKind, "transaction_kind"))
    currency: Mapped[str] = mapped_column(String(3))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    """``None`` for the system (the sweep)."""
    memo: Mapped[str] = mapped_column(Text, default="")
    reverses_id: Mapped[int | None] = mapped_column(
        ForeignKey("ledger_transactions.id"), unique=True
    )
    """The transaction this one reverses; each can be reversed once."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    written_by_xid: Mapped[int | None] = mapped_column(
        BigInteger, server_default=CurrentXid(), index=True
    )
    """The PostgreSQL transaction that wrote the row, set by the database; ``None`` on SQLite
    and for rows written before it was recorded. The reports' fold orders by it
    (:mod:`grants.reports.flows`)."""

    postings: Mapped[list[Posting]] = relationship(
        back_populates="transaction", order_by="Posting.id", lazy="selectin"
    )


class Posting(Base):
    """One leg of a transaction: a signed amount on one account."""

    __tablename__ = "postings"
    __table_args__ = (CheckConstraint("amount <> 0", name="amount_not_zero"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    """Integer minor units; positive adds to the account, negative takes from it."""

    transaction: Mapped[LedgerTransaction] = relationship(back_populates="postings")


class IdempotencyRecord(Base):
    """The first outcome of a mutating request, replayed for any retry with the same key."""

    __tablename__ = "idempotency_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    operation: Mapped[str] = mapped_column(String(50))
    request_hash: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(Text)
    """JSON: ``{"result": {...}}`` or ``{"refusal": {"error": ..., "message": ...}}``."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


APPEND_ONLY: tuple[type[Base], ...] = (LedgerTransaction, Posting)


@event.listens_for(Session, "before_flush")
def _refuse_ledger_edits(session: Session, flush_context: Any, instances: Any) -> None:
    """Ledger rows are written once: a flush that would change or delete one is refused."""
    for instance in (*session.dirty, *session.deleted):
        if isinstance(instance, APPEND_ONLY) and (
            instance in session.deleted or session.is_modified(instance)
        ):
            raise RuntimeError(f"{type(instance).__name__} rows are append-only")
