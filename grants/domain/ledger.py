"""The one place postings are written, the fund and wallet accounts, and ledger verification."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Table, bindparam, case, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grants import clock
from grants.domain import audit
from grants.domain.errors import InsufficientFunds, InvalidInput, NotAllowed, NotFound
from grants.domain.idempotency import Receipt, idempotent
from grants.domain.statements import Prepared
from grants.models import (
    Account,
    AccountKind,
    Fund,
    LedgerTransaction,
    Posting,
    Role,
    TransactionKind,
    User,
    Wallet,
    WalletKind,
)

FUND_ACCOUNT_KINDS = (
    AccountKind.BUDGET_SOURCE,
    AccountKind.FUND,
    AccountKind.PAYABLE_TO_PROVIDERS,
    AccountKind.PAID_TO_PROVIDERS,
    AccountKind.PAID_TO_PARTNERS,
)
"""The accounts every fund has, one of each."""

REVERSIBLE = frozenset(
    {TransactionKind.BUDGET_INCREASE, TransactionKind.BUDGET_DECREASE, TransactionKind.ALLOWANCE}
)
"""Kinds a finance user may reverse directly; the others are undone through their workflow."""

MEMO_MAX = 500
"""The longest reason a reversal may carry."""


@dataclass(frozen=True)
class AccountRef:
    """What posting needs of an account, when the model itself was not loaded."""

    id: int
    kind: AccountKind
    currency: str


@dataclass(frozen=True)
class Leg:
    """One intended posting: ``amount`` minor units onto ``account``."""

    account: Account | AccountRef
    amount: int


_accounts: Table = Account.__table__  # type: ignore[assignment]
_transactions: Table = LedgerTransaction.__table__  # type: ignore[assignment]
_postings: Table = Posting.__table__  # type: ignore[assignment]
_TRANSACTION_FIELDS = ("kind", "currency", "actor_id", "memo", "reverses_id", "created_at")
_POSTING_FIELDS = ("transaction_id", "account_id", "amount")
_DEBIT = Prepared(
    update(_accounts)
    .where(
        _accounts.c.id == bindparam("account_id"),
        or_(
            _accounts.c.kind == AccountKind.BUDGET_SOURCE.value,
            _accounts.c.balance >= bindparam("needed"),
        ),
    )
    .values(balance=_accounts.c.balance + bindparam("delta"))
)
_CREDIT = Prepared(
    update(_accounts)
    .where(_accounts.c.id == bindparam("account_id"))
    .values(balance=_accounts.c.balance + bindparam("delta"))
)
_NEW_TRANSACTION = Prepared(
    insert(_transactions)
    .values({name: bindparam(name) for name in _TRANSACTION_FIELDS})
    .returning(_transactions.c.id)
)
_NEW_POSTING = Prepared(
    insert(_postings).values({name: bindparam(name) for name in _POSTING_FIELDS})
)


def post(
    session: Session,
    *,
    kind: TransactionKind,
    legs: Sequence[Leg],
    actor_id: int | None,
    memo: str = "",
    reverses_id: int | None = None,
) -> int:
    """Write one balanced transaction, move the stored balances with it, return its id.

    Each account's balance moves with one conditional ``UPDATE``, in account id order so
    that concurrent transactions lock rows in the same order and cannot deadlock: an account
    other than a budget source only moves if it stays at or above zero, else
    :class:`InsufficientFunds` is raised. The row lock the update takes (and, on SQLite,
    the write lock every transaction takes at ``BEGIN IMMEDIATE``) means no check is ever
    made on a stale balance. A refusal may come after earlier accounts moved: callers run
    inside :func:`~grants.domain.idempotency.idempotent`, whose savepoint undoes them. The
    database's CHECK constraints back the same rule.
    """
    legs = [leg for leg in legs if leg.amount != 0]
    if len(legs) < 2:
        raise ValueError("a transaction needs at least two non-zero legs")
    if sum(leg.amount for leg in legs) != 0:
        raise ValueError("a transaction's postings must sum to zero")
    currencies = {leg.account.currency for leg in legs}
    if len(currencies) != 1:
        raise ValueError("a transaction never mixes currencies")

    accounts = {leg.account.id: leg.account for leg in legs}
    deltas: dict[int, int] = {}
    for leg in legs:
        deltas[leg.account.id] = deltas.get(leg.account.id, 0) + leg.amount
    for account_id in sorted(deltas):
        delta = deltas[account_id]
        if delta < 0:
            moved = _DEBIT.run(
                session, {"account_id": account_id, "needed": -delta, "delta": delta}
            )
        else:
            moved = _CREDIT.run(session, {"account_id": account_id, "delta": delta})
        if moved.rowcount != 1:
            raise InsufficientFunds(_shortfall_message(accounts[account_id]))
        if isinstance(accounts[account_id], Account):
            session.expire(accounts[account_id], ["balance"])

    transaction_id: int = _NEW_TRANSACTION.run(
        session,
        {
            "kind": kind.value,
            "currency": currencies.pop(),
            "actor_id": actor_id,
            "memo": memo,
            "reverses_id": reverses_id,
            "created_at": clock.now(),
        },
    ).fetchone()[0]
    _NEW_POSTING.run_many(
        session,
        [
            {"transaction_id": transaction_id, "account_id": leg.account.id, "amount": leg.amount}
            for leg in legs
        ],
    )
    return transaction_id


def lock_accounts(session: Session, account_ids: Iterable[int]) -> dict[int, Account]:
    """Lock ``account_ids`` in id order and return them with their current balances."""
    ids = sorted(set(account_ids))
    rows = session.scalars(
        select(Account)
        .where(Account.id.in_(ids))
        .order_by(Account.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    return {account.id: account for account in rows}


def _shortfall_message(account: Account | AccountRef) -> str:
    if account.kind is AccountKind.WALLET:
        return "There is not enough available credit for this."
    if account.kind is AccountKind.FUND:
        return "The fund's remaining budget cannot cover this."
    return "There is not enough money in this account for this."


def open_fund_accounts(session: Session, fund: Fund) -> None:
    """Give ``fund`` its budget, fund, payable and paid accounts."""
    session.add_all(
        Account(kind=kind, currency=fund.currency, fund_id=fund.id, balance=0)
        for kind in FUND_ACCOUNT_KINDS
    )
    session.flush()


def fund_account(session: Session, fund_id: int, kind: AccountKind) -> Account:
    """The ``kind`` account of a fund."""
    account = session.scalar(
        select(Account).where(Account.fund_id == fund_id, Account.kind == kind)
    )
    if account is None:
        raise NotFound("This fund has no ledger accounts yet.")
    return account


def open_wallet(session: Session, fund: Fund, user: User, kind: WalletKind) -> Wallet:
    """The ``kind`` wallet of ``user`` in ``fund``, opened with its two accounts if missing.

    Two requests opening the same wallet at once end with one wallet: the loser of the
    unique constraint reads the winner's.
    """
    existing = find_wallet(session, fund.id, user.id, kind)
    if existing is not None:
        return existing
    try:
        with session.begin_nested():
            available = Account(
                kind=AccountKind.WALLET, currency=fund.currency, fund_id=fund.id, balance=0
            )
            held = Account(
                kind=AccountKind.WALLET_HOLD, currency=fund.currency, fund_id=fund.id, balance=0
            )
            session.add_all([available, held])
            session.flush()
            wallet = Wallet(
                fund_id=fund.id,
                user_id=user.id,
                kind=kind,
                account_id=available.id,
                hold_account_id=held.id,
            )
            session.add(wallet)
    except IntegrityError:
        found = find_wallet(session, fund.id, user.id, kind)
        assert found is not None
        return found
    return wallet


@dataclass(frozen=True)
class WalletRef:
    """What posting to a wallet needs of it, when the model itself was not loaded."""

    id: int
    account: AccountRef
    hold_account: AccountRef


_wallets: Table = Wallet.__table__  # type: ignore[assignment]
_NEW_WALLET_ACCOUNTS = Prepared(
    insert(_accounts)
    .values(
        [
            {
                "kind": kind.value,
                "currency": bindparam("currency"),
                "fund_id": bindparam("fund_id"),
                "balance": 0,
            }
            for kind in (AccountKind.WALLET, AccountKind.WALLET_HOLD)
        ]
    )
    .returning(_accounts.c.id, _accounts.c.kind)
)
_NEW_WALLET = Prepared(
    insert(_wallets)
    .values(
        {
            name: bindparam(name)
            for name in ("fund_id", "user_id", "kind", "account_id", "hold_account_id")
        }
        | {"created_at": bindparam("created_at")}
    )
    .returning(_wallets.c.id)
)
_FIND_WALLET = select(_wallets.c.id, _wallets.c.account_id, _wallets.c.hold_account_id).where(
    _wallets.c.fund_id == bindparam("fund_id"),
    _wallets.c.user_id == bindparam("user_id"),
    _wallets.c.kind == bindparam("kind"),
)
"""Built once, with :data:`_NEW_WALLET_ACCOUNTS` and :data:`_NEW_WALLET`: opening a
recipient's wallet is on a claim's path, finding an ambassador's on an allowance's."""


def open_new_wallet(
    session: Session, *, fund_id: int, currency: str, user_id: int, kind: WalletKind
) -> WalletRef:
    """Open the ``kind`` wallet of a user who has none in the fund (one created in this very
    transaction, whom no other transaction can see): its two accounts in one statement,
    then the wallet. :func:`wallet_ref` is for a user who may have one already."""
    ids = {
        AccountKind(kind_): account_id
        for account_id, kind_ in _NEW_WALLET_ACCOUNTS.run(
            session, {"currency": currency, "fund_id": fund_id}
        ).fetchall()
    }
    available = AccountRef(ids[AccountKind.WALLET], AccountKind.WALLET, currency)
    held = AccountRef(ids[AccountKind.WALLET_HOLD], AccountKind.WALLET_HOLD, currency)
    (wallet_id,) = _NEW_WALLET.run(
        session,
        {
            "fund_id": fund_id,
            "user_id": user_id,
            "kind": kind.value,
            "account_id": available.id,
            "hold_account_id": held.id,
            "created_at": clock.now(),
        },
    ).fetchone()
    return WalletRef(wallet_id, available, held)


def wallet_ref(
    session: Session, *, fund_id: int, currency: str, user_id: int, kind: WalletKind
) -> WalletRef:
    """The ``kind`` wallet of the user in the fund, opened with its two accounts if missing:
    :func:`open_wallet` as rows rather than models.

    Two requests opening the same wallet at once end with one wallet: the loser of the
    unique constraint reads the winner's.
    """
    keys = {"fund_id": fund_id, "user_id": user_id, "kind": kind.value}
    found = session.connection().execute(_FIND_WALLET, keys).first()
    if found is None:
        refused = session.get_bind().dialect.loaded_dbapi.IntegrityError
        try:
            with session.begin_nested():
                return open_new_wallet(
                    session, fund_id=fund_id, currency=currency, user_id=user_id, kind=kind
                )
        except (IntegrityError, refused):
            found = session.connection().execute(_FIND_WALLET, keys).one()
    wallet_id, account_id, hold_account_id = found
    return WalletRef(
        wallet_id,
        AccountRef(account_id, AccountKind.WALLET, currency),
        AccountRef(hold_account_id, AccountKind.WALLET_HOLD, currency),
    )


def find_wallet(session: Session, fund_id: int, user_id: int, kind: WalletKind) -> Wallet | None:
    return session.scalar(
        select(Wallet).where(
            Wallet.fund_id == fund_id, Wallet.user_id == user_id, Wallet.kind == kind
        )
    )


@dataclass(frozen=True)
class FundBalances:
    """A fund's position, in minor units of its currency."""

    currency: str
    budget: int
    remaining: int
    payable: int
    paid: int
    paid_to_partners: int = 0

    @property
    def allocated(self) -> int:
        """Budget that has left the fund: for wallets, holds and providers, or committed to
        grants and paid to partners."""
        return self.budget - self.remaining


def fund_balances(session: Session, fund_id: int) -> FundBalances:
    """Read a fund's stored balances: one row per fund account, whatever the size of the ledger."""
    balances = dict(
        session.execute(
            select(Account.kind, Account.balance).where(
                Account.fund_id == fund_id, Account.kind.in_(FUND_ACCOUNT_KINDS)
            )
        ).all()
    )
    currency = session.scalar(select(Fund.currency).where(Fund.id == fund_id))
    if currency is None or len(balances) != len(FUND_ACCOUNT_KINDS):
        raise NotFound("There is no such fund.")
    return FundBalances(
        currency=currency,
        budget=-balances[AccountKind.BUDGET_SOURCE],
        remaining=balances[AccountKind.FUND],
        payable=balances[AccountKind.PAYABLE_TO_PROVIDERS],
        paid=balances[AccountKind.PAID_TO_PROVIDERS],
        paid_to_partners=balances[AccountKind.PAID_TO_PARTNERS],
    )


def reverse(session: Session, *, key: str, actor: User, transaction_id: int, memo: str) -> Receipt:
    """Post the mirror image of a transaction, pointing at it. Finance only, once per transaction.

    Only kinds in :data:`REVERSIBLE` can be reversed here; a gift or a redemption is undone
    through its own workflow so that its state and its money stay together.
    """
    if not actor.has_role(Role.FINANCE):
        raise NotAllowed("Only finance can reverse a transaction.")
    reason = " ".join(memo.split())
    if len(reason) > MEMO_MAX:
        raise InvalidInput(f"Keep the reason under {MEMO_MAX} characters.", field="memo")

    def perform() -> Receipt:
        original = session.get(LedgerTransaction, transaction_id)
        if original is None:
            raise NotFound("There is no such transaction.")
        if original.kind not in REVERSIBLE:
            raise NotAllowed(
                f"A {original.kind.value.replace('_', ' ')} transaction is undone through its "
                "own workflow, not reversed."
            )
        already = session.scalar(
            select(LedgerTransaction.id).where(LedgerTransaction.reverses_id == original.id)
        )
        if already is not None:
            raise NotAllowed(
                f"Transaction {original.id} was already reversed by transaction {already}."
            )
        accounts = {
            account.id: account
            for account in session.scalars(
                select(Account).where(Account.id.in_([p.account_id for p in original.postings]))
            )
        }
        reason_given = reason or f"Reversal of transaction {original.id}"
        reversal_id = post(
            session,
            kind=TransactionKind.REVERSAL,
            legs=[Leg(accounts[p.account_id], -p.amount) for p in original.postings],
            actor_id=actor.id,
            memo=reason_given,
            reverses_id=original.id,
        )
        audit.record(
            session,
            actor_id=actor.id,
            action="transaction.reverse",
            object_type="transaction",
            object_id=original.id,
            after={"reversal": reversal_id, "memo": reason_given},
        )
        return Receipt("transaction.reverse", object_id=original.id, transaction_id=reversal_id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="transaction.reverse",
        request={"transaction": transaction_id, "memo": reason},
        perform=perform,
    )


def verify_ledger(session: Session) -> list[str]:
    """Every account whose stored balance differs from its postings, and every unbalanced
    or mixed-currency transaction, as sentences; an empty list means the ledger agrees."""
    problems: list[str] = []
    sums = (
        select(Posting.account_id, func.sum(Posting.amount).label("total"))
        .group_by(Posting.account_id)
        .subquery()
    )
    disagreeing = session.execute(
        select(
            Account.id,
            Account.kind,
            Account.currency,
            Account.balance,
            func.coalesce(sums.c.total, 0),
        )
        .outerjoin(sums, sums.c.account_id == Account.id)
        .where(Account.balance != func.coalesce(sums.c.total, 0))
        .order_by(Account.id)
    ).all()
    for account_id, kind, currency, balance, total in disagreeing:
        problems.append(
            f"account {account_id} ({kind.value}, {currency}): stored balance {balance}, "
            f"postings sum to {total}"
        )
    unbalanced = session.execute(
        select(Posting.transaction_id, func.sum(Posting.amount))
        .group_by(Posting.transaction_id)
        .having(func.sum(Posting.amount) != 0)
        .order_by(Posting.transaction_id)
    ).all()
    for transaction_id, total in unbalanced:
        problems.append(f"transaction {transaction_id}: postings sum to {total}, not zero")
    mixed = session.execute(
        select(LedgerTransaction.id)
        .join(Posting, Posting.transaction_id == LedgerTransaction.id)
        .join(Account, Account.id == Posting.account_id)
        .group_by(LedgerTransaction.id)
        .having(func.max(case((Account.currency != LedgerTransaction.currency, 1), else_=0)) == 1)
        .order_by(LedgerTransaction.id)
    ).all()
    for (transaction_id,) in mixed:
        problems.append(f"transaction {transaction_id}: posts to an account in another currency")
    return problems
