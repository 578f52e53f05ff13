"""What a person holding therapy credit sees of it: their wallets and each wallet's history.

Read-only. Every function is scoped to one person or one wallet the caller has already
established is theirs; the ``own_…`` lookups answer ``None`` for anyone else's object, so
a screen can answer 404 without telling "not yours" from "does not exist". Lists come a
page at a time, each page in a fixed number of queries whatever its length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, aliased

from grants.domain.credits import credit_usable
from grants.models import (
    Account,
    Fund,
    Gift,
    LedgerTransaction,
    Posting,
    Redemption,
    TransactionKind,
    User,
    Wallet,
    WalletKind,
)

T = TypeVar("T")
AnyRows = Select[*tuple[Any, ...]]
"""A query of any columns."""

PER_PAGE = 20
RECENT = 5
"""How many entries of each history a wallet's summary shows."""
MAX_PAGE = 10_000
MAX_WALLETS = 100
"""A person has one wallet per fund and kind; this bounds the list all the same."""

CREDIT_KINDS = {
    TransactionKind.ALLOWANCE: "Allowance",
    TransactionKind.REVERSAL: "Correction",
    TransactionKind.PLAN_YEAR_CLOSE: "Returned to the fund when the plan year closed",
}
"""Movements of a wallet's available credit that are not the holder's own gifts or
redemptions, with how each is named on screen."""


@dataclass(frozen=True)
class HistoryPage(Generic[T]):
    """One page of a history, with what a pager needs."""

    items: Sequence[T]
    number: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


@dataclass(frozen=True)
class WalletSummary:
    """One wallet with its fund's plan year and its two balances, in minor units."""

    id: int
    kind: WalletKind
    fund_id: int
    fund_name: str
    currency: str
    plan_year_start: date
    plan_year_end: date
    closed: bool
    available: int
    held: int

    @property
    def posted(self) -> int:
        """All credit in the wallet: available plus held."""
        return self.available + self.held

    def can_redeem_on(self, today: date) -> bool:
        """Whether a session can be paid for from the wallet on ``today``: a session on any
        day of the plan year up to today qualifies (``request_redemption``'s rule), until
        the plan year is closed."""
        return not self.closed and self.plan_year_start <= today

    def can_give_on(self, today: date) -> bool:
        """Whether the holder can give credit from the wallet on ``today``: only from an
        ambassador's own allowance (gifted credit is never given on), while
        :func:`~grants.domain.credits.credit_usable`."""
        return self.kind is WalletKind.AMBASSADOR and credit_usable(
            plan_year_start=self.plan_year_start,
            plan_year_end=self.plan_year_end,
            closed=self.closed,
            on=today,
        )


@dataclass(frozen=True)
class CreditEntry:
    """A movement of a wallet's available credit: an allowance, a correction, a close."""

    transaction_id: int
    kind: TransactionKind
    amount: int
    currency: str
    at: datetime

    @property
    def label(self) -> str:
        return CREDIT_KINDS.get(self.kind, self.kind.value.replace("_", " ").capitalize())


@dataclass(frozen=True)
class GiftReceived:
    """A gift claimed into a recipient's wallet, with the giver's name."""

    id: int
    amount: int
    currency: str
    giver_name: str
    message: str
    claimed_at: datetime | None


_available, _held = aliased(Account), aliased(Account)
_SUMMARY = (
    select(
        Wallet.id,
        Wallet.kind,
        Fund.id,
        Fund.name,
        Fund.currency,
        Fund.plan_year_start,
        Fund.plan_year_end,
        Fund.closed_at,
        _available.balance,
        _held.balance,
    )
    .join(Fund, Fund.id == Wallet.fund_id)
    .join(_available, _available.id == Wallet.account_id)
    .join(_held, _held.id == Wallet.hold_account_id)
)


def _summary(row: Any) -> WalletSummary:
    wallet_id, kind, fund_id, name, currency, start, end, closed_at, available, held = row
    return WalletSummary(
        id=wallet_id,
        kind=kind,
        fund_id=fund_id,
        fund_name=name,
        currency=currency,
        plan_year_start=start,
        plan_year_end=end,
        closed=closed_at is not None,
        available=available,
        held=held,
    )


def wallets_of(session: Session, user_id: int) -> list[WalletSummary]:
    """The person's wallets, newest plan year first, an ambassador's allowance before
    credit they were given; in one query."""
    rows = session.execute(
        _SUMMARY.where(Wallet.user_id == user_id)
        .order_by(Fund.plan_year_end.desc(), Wallet.kind, Wallet.id)
        .limit(MAX_WALLETS)
    ).all()
    return [_summary(row) for row in rows]


def own_wallet(session: Session, user_id: int, wallet_id: int) -> WalletSummary | None:
    """The wallet if it is the person's, else ``None``."""
    row = session.execute(
        _SUMMARY.where(Wallet.id == wallet_id, Wallet.user_id == user_id)
    ).one_or_none()
    return _summary(row) if row is not None else None


def own_gift(session: Session, user_id: int, gift_id: int) -> Gift | None:
    """A gift the person gave, else ``None`` (a gift they received is the giver's)."""
    return session.scalar(
        select(Gift)
        .join(Wallet, Wallet.id == Gift.giver_wallet_id)
        .where(Gift.id == gift_id, Wallet.user_id == user_id)
    )


def own_redemption(session: Session, user_id: int, redemption_id: int) -> Redemption | None:
    """A redemption the person requested, else ``None``."""
    return session.scalar(
        select(Redemption)
        .join(Wallet, Wallet.id == Redemption.wallet_id)
        .where(Redemption.id == redemption_id, Wallet.user_id == user_id)
    )


def credit_history(
    session: Session, wallet: WalletSummary, *, page: int = 1, per_page: int = PER_PAGE
) -> HistoryPage[CreditEntry]:
    """Allowances into the wallet, corrections and plan-year closes, newest first."""
    account_id = select(Wallet.account_id).where(Wallet.id == wallet.id).scalar_subquery()
    query = (
        select(
            LedgerTransaction.id,
            LedgerTransaction.kind,
            Posting.amount,
            LedgerTransaction.currency,
            LedgerTransaction.created_at,
        )
        .join(Posting, Posting.transaction_id == LedgerTransaction.id)
        .where(Posting.account_id == account_id, LedgerTransaction.kind.in_(list(CREDIT_KINDS)))
    )
    total, rows = _page_rows(
        session,
        query,
        (LedgerTransaction.created_at.desc(), LedgerTransaction.id.desc()),
        page,
        per_page,
    )
    items = [
        CreditEntry(transaction_id=row[0], kind=row[1], amount=row[2], currency=row[3], at=row[4])
        for row in rows
    ]
    return _page(items, page, per_page, total)


def gifts_given(
    session: Session, wallet: WalletSummary, *, page: int = 1, per_page: int = PER_PAGE
) -> HistoryPage[Gift]:
    """Gifts given from the wallet, newest first, with their recipients (the giver's to see)."""
    query = select(Gift).where(Gift.giver_wallet_id == wallet.id)
    total, gifts = _page_entities(
        session, query, (Gift.created_at.desc(), Gift.id.desc()), page, per_page
    )
    return _page(gifts, page, per_page, total)


def gifts_received(
    session: Session, wallet: WalletSummary, *, page: int = 1, per_page: int = PER_PAGE
) -> HistoryPage[GiftReceived]:
    """Gifts claimed into the wallet, newest first, with the name of whoever gave each."""
    giver_wallet = aliased(Wallet)
    query = (
        select(
            Gift.id,
            Gift.amount,
            Gift.currency,
            User.display_name,
            Gift.message,
            Gift.settled_at,
        )
        .join(giver_wallet, giver_wallet.id == Gift.giver_wallet_id)
        .join(User, User.id == giver_wallet.user_id)
        .where(Gift.recipient_wallet_id == wallet.id)
    )
    total, rows = _page_rows(
        session, query, (Gift.settled_at.desc(), Gift.id.desc()), page, per_page
    )
    items = [
        GiftReceived(
            id=row[0],
            amount=row[1],
            currency=row[2],
            giver_name=row[3],
            message=row[4],
            claimed_at=row[5],
        )
        for row in rows
    ]
    return _page(items, page, per_page, total)


def redemptions(
    session: Session, wallet: WalletSummary, *, page: int = 1, per_page: int = PER_PAGE
) -> HistoryPage[Redemption]:
    """Redemptions from the wallet, newest first (the redeemer's own to see)."""
    query = select(Redemption).where(Redemption.wallet_id == wallet.id)
    total, found = _page_entities(
        session, query, (Redemption.requested_at.desc(), Redemption.id.desc()), page, per_page
    )
    return _page(found, page, per_page, total)


def sessions_covered(available: int, session_price: int | None) -> int | None:
    """How many sessions at ``session_price`` the credit pays for in full (``None`` without
    a price)."""
    if not session_price or session_price <= 0:
        return None
    return available // session_price


def describe_sessions(sessions: int) -> str:
    """``sessions`` in words for a sentence ending "… at $150.00": "less than one session"
    below one, "about 1 session", "about 3 sessions"."""
    if sessions < 1:
        return "less than one session"
    return f"about {sessions} session{'' if sessions == 1 else 's'}"


def today() -> date:
    """Today's date in UTC, the calendar the plan years are kept in."""
    return datetime.now(UTC).date()


def _bounded(page: int) -> int:
    return page if 1 <= page <= MAX_PAGE else 1


def _count(session: Session, query: AnyRows) -> int:
    return session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0


def _page_rows(
    session: Session, query: AnyRows, order: tuple[Any, ...], page: int, per_page: int
) -> tuple[int, list[Any]]:
    total = _count(session, query)
    offset = (_last_page(_bounded(page), per_page, total) - 1) * per_page
    rows = session.execute(query.order_by(*order).limit(per_page).offset(offset)).all()
    return total, list(rows)


def _page_entities(
    session: Session, query: AnyRows, order: tuple[Any, ...], page: int, per_page: int
) -> tuple[int, list[Any]]:
    total = _count(session, query)
    offset = (_last_page(_bounded(page), per_page, total) - 1) * per_page
    return total, list(session.scalars(query.order_by(*order).limit(per_page).offset(offset)))


def _last_page(page: int, per_page: int, total: int) -> int:
    return min(page, max(1, -(-total // per_page)))


def _page(items: Sequence[T], page: int, per_page: int, total: int) -> HistoryPage[T]:
    return HistoryPage(
        items=items,
        number=_last_page(_bounded(page), per_page, total),
        per_page=per_page,
        total=total,
    )
