"""What a person holding therapy credit sees of it: their wallets and each wallet's history.

Read-only. Every function is scoped to one person or one wallet the caller has already
established is theirs; the ``own_…`` lookups answer ``None`` for anyone else's object, so
a screen can answer 404 without telling "not yours" from "does not exist". Lists come a
page at a time, each page in a fixed number of queries whatever its length.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import BindParameter, Integer, Row, bindparam, select
from sqlalchemy.orm import Session, aliased

from grants.clock import date_in
from grants.domain.errors import InvalidState, NotFound
from grants.domain.funds import FundTerms, credit_usable
from grants.domain.ledger import AccountRef
from grants.domain.paging import Latest, Page, Recent, core_rows, paginate_rows
from grants.models import (
    Account,
    AccountKind,
    Ambassador,
    Country,
    Fund,
    FundKind,
    Gift,
    GiftState,
    LedgerTransaction,
    Posting,
    Programme,
    Redemption,
    RedemptionState,
    Relation,
    TransactionKind,
    User,
    Wallet,
    WalletKind,
)

HISTORY_PER_PAGE = 20
"""How many entries of a history a page shows."""
RECENT = 5
"""How many entries of each history a wallet's summary shows."""
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
    time_zone: str
    """The fund's time zone, in which its plan-year days are days."""
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

    def fund_today(self, now: datetime) -> date:
        """The day it is at ``now`` in the fund's time zone, which :meth:`can_give_on` asks
        about."""
        return date_in(now, self.time_zone)

    def can_give_on(self, today: date) -> bool:
        """Whether the holder can give credit from the wallet on ``today`` (the fund's day,
        :meth:`fund_today`): only from an
        ambassador's own allowance (gifted credit is never given on), while
        :func:`~grants.domain.funds.credit_usable`."""
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


@dataclass(frozen=True, slots=True)
class GiftLine:
    """A gift as a wallet's history lists it."""

    id: int
    recipient_name: str
    relation: Relation
    amount: int
    currency: str
    state: GiftState
    created_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, row: Row[Any]) -> GiftLine:
        return cls(**row._mapping)


@dataclass(frozen=True, slots=True)
class RedemptionLine:
    """A redemption as a wallet's history lists it."""

    id: int
    provider_name: str
    session_date: date
    amount: int
    currency: str
    state: RedemptionState
    reason: str

    @classmethod
    def of(cls, row: Row[Any]) -> RedemptionLine:
        return cls(**row._mapping)


@dataclass(frozen=True)
class Membership:
    """An ambassador's programme and country, as their wallet names them."""

    programme_name: str
    country: Country


_MEMBERSHIP = (
    select(Programme.name.label("programme_name"), Ambassador.country)
    .join(Programme, Programme.id == Ambassador.programme_id)
    .where(Ambassador.user_id == bindparam("user_id"))
)


def membership_of(session: Session, user_id: int) -> Membership | None:
    """The person's ambassador membership, if they are one."""
    found = core_rows(session, _MEMBERSHIP, {"user_id": user_id})
    return Membership(**found[0]._mapping) if found else None


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
        Fund.time_zone,
        _available.balance,
        _held.balance,
    )
    .join(Fund, Fund.id == Wallet.fund_id)
    .join(_available, _available.id == Wallet.account_id)
    .join(_held, _held.id == Wallet.hold_account_id)
)


_WALLETS_OF = (
    _SUMMARY.where(Wallet.user_id == bindparam("user_id"))
    .order_by(Fund.plan_year_end.desc(), Wallet.kind, Wallet.id)
    .limit(MAX_WALLETS)
)
"""A person's wallets, as :func:`wallets_of` lists them."""


def _summary(row: Any) -> WalletSummary:
    wallet_id, kind, fund_id, name, currency, start, end, closed_at, zone, available, held = row
    return WalletSummary(
        id=wallet_id,
        kind=kind,
        fund_id=fund_id,
        fund_name=name,
        currency=currency,
        plan_year_start=start,
        plan_year_end=end,
        closed=closed_at is not None,
        time_zone=zone,
        available=available,
        held=held,
    )


def wallets_of(session: Session, user_id: int) -> list[WalletSummary]:
    """The person's wallets, newest plan year first, an ambassador's allowance before
    credit they were given; in one query."""
    rows = core_rows(session, _WALLETS_OF, {"user_id": user_id})
    return [_summary(row) for row in rows]


_OWN = _SUMMARY.where(Wallet.id == bindparam("wallet_id"), Wallet.user_id == bindparam("user_id"))
"""One wallet, if it is the person's."""


def own_wallet(session: Session, user_id: int, wallet_id: int) -> WalletSummary | None:
    """The wallet if it is the person's, else ``None``."""
    rows = core_rows(session, _OWN, {"wallet_id": wallet_id, "user_id": user_id})
    return _summary(rows[0]) if rows else None


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


WALLET_ID: BindParameter[int] = bindparam("wallet_id", type_=Integer)
"""The wallet whose history a statement below reads."""

_CREDIT_ENTRIES = (
    select(
        LedgerTransaction.id,
        LedgerTransaction.kind,
        Posting.amount,
        LedgerTransaction.currency,
        LedgerTransaction.created_at,
    )
    .join(Posting, Posting.transaction_id == LedgerTransaction.id)
    .where(
        Posting.account_id
        == select(Wallet.account_id).where(Wallet.id == WALLET_ID).scalar_subquery(),
        LedgerTransaction.kind.in_(list(CREDIT_KINDS)),
    )
    .order_by(LedgerTransaction.created_at.desc(), LedgerTransaction.id.desc())
)
"""Allowances into a wallet, corrections and plan-year closes, newest first."""

_GIFTS_GIVEN = (
    select(
        Gift.id,
        Gift.recipient_name,
        Gift.relation,
        Gift.amount,
        Gift.currency,
        Gift.state,
        Gift.created_at,
        Gift.expires_at,
    )
    .where(Gift.giver_wallet_id == WALLET_ID)
    .order_by(Gift.created_at.desc(), Gift.id.desc())
)
"""Gifts given from a wallet, newest first: the columns of a :class:`GiftLine`."""

_giver_wallet = aliased(Wallet)
_GIFTS_RECEIVED = (
    select(Gift.id, Gift.amount, Gift.currency, User.display_name, Gift.message, Gift.settled_at)
    .join(_giver_wallet, _giver_wallet.id == Gift.giver_wallet_id)
    .join(User, User.id == _giver_wallet.user_id)
    .where(Gift.recipient_wallet_id == WALLET_ID)
    .order_by(Gift.settled_at.desc(), Gift.id.desc())
)
"""Gifts claimed into a wallet, newest first, with the name of whoever gave each."""

_REDEMPTIONS = (
    select(
        Redemption.id,
        Redemption.provider_name,
        Redemption.session_date,
        Redemption.amount,
        Redemption.currency,
        Redemption.state,
        Redemption.reason,
    )
    .where(Redemption.wallet_id == WALLET_ID)
    .order_by(Redemption.requested_at.desc(), Redemption.id.desc())
)
"""Redemptions from a wallet, newest first: the columns of a :class:`RedemptionLine`."""


def _credit_entry(row: Any) -> CreditEntry:
    return CreditEntry(
        transaction_id=row[0], kind=row[1], amount=row[2], currency=row[3], at=row[4]
    )


def _gift_received(row: Any) -> GiftReceived:
    return GiftReceived(
        id=row[0],
        amount=row[1],
        currency=row[2],
        giver_name=row[3],
        message=row[4],
        claimed_at=row[5],
    )


def credit_history(
    session: Session, wallet: WalletSummary, *, page: int = 1, per_page: int = HISTORY_PER_PAGE
) -> Page[CreditEntry]:
    """Allowances into the wallet, corrections and plan-year closes, newest first."""
    return paginate_rows(session, _CREDIT_ENTRIES, page, per_page, {"wallet_id": wallet.id}).map(
        _credit_entry
    )


def gifts_given(
    session: Session, wallet: WalletSummary, *, page: int = 1, per_page: int = HISTORY_PER_PAGE
) -> Page[GiftLine]:
    """Gifts given from the wallet, newest first, with their recipients (the giver's to see)."""
    return paginate_rows(session, _GIFTS_GIVEN, page, per_page, {"wallet_id": wallet.id}).map(
        GiftLine.of
    )


def gifts_received(
    session: Session, wallet: WalletSummary, *, page: int = 1, per_page: int = HISTORY_PER_PAGE
) -> Page[GiftReceived]:
    """Gifts claimed into the wallet, newest first, with the name of whoever gave each."""
    return paginate_rows(session, _GIFTS_RECEIVED, page, per_page, {"wallet_id": wallet.id}).map(
        _gift_received
    )


def redemptions(
    session: Session, wallet: WalletSummary, *, page: int = 1, per_page: int = HISTORY_PER_PAGE
) -> Page[RedemptionLine]:
    """Redemptions from the wallet, newest first (the redeemer's own to see)."""
    return paginate_rows(session, _REDEMPTIONS, page, per_page, {"wallet_id": wallet.id}).map(
        RedemptionLine.of
    )


@dataclass(frozen=True)
class RecentHistory:
    """The latest :data:`RECENT` entries of each history of one wallet, and whether each
    has more: an ambassador's wallet lists the gifts it gave, a recipient's those it was
    given."""

    credits: Latest[CreditEntry]
    gifts: Latest[GiftLine] | None
    received: Latest[GiftReceived] | None
    redemptions: Latest[RedemptionLine]


_RECENT_CREDITS = Recent(_CREDIT_ENTRIES, RECENT)
_RECENT_GIFTS = Recent(_GIFTS_GIVEN, RECENT)
_RECENT_RECEIVED = Recent(_GIFTS_RECEIVED, RECENT)
_RECENT_REDEMPTIONS = Recent(_REDEMPTIONS, RECENT)


def recent_history(session: Session, wallet: WalletSummary) -> RecentHistory:
    """The wallet's summary of its histories: one query each, no counts."""
    wallet_id = {"wallet_id": wallet.id}
    given = wallet.kind is WalletKind.AMBASSADOR
    return RecentHistory(
        credits=_RECENT_CREDITS.read(session, wallet_id).map(_credit_entry),
        gifts=_RECENT_GIFTS.read(session, wallet_id).map(GiftLine.of) if given else None,
        received=None if given else _RECENT_RECEIVED.read(session, wallet_id).map(_gift_received),
        redemptions=_RECENT_REDEMPTIONS.read(session, wallet_id).map(RedemptionLine.of),
    )


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


@dataclass(frozen=True)
class CreditWallet:
    """A wallet as a credit operation needs it: owner, kind, its two accounts and its fund's
    terms, read as one row rather than as four loaded models."""

    id: int
    user_id: int
    kind: WalletKind
    fund: FundTerms
    account: AccountRef
    hold_account: AccountRef


CREDIT_WALLET = (
    select(
        Wallet.user_id,
        Wallet.kind,
        Wallet.account_id,
        Wallet.hold_account_id,
        Fund.id,
        Fund.name,
        Fund.kind,
        Fund.currency,
        Fund.plan_year_start,
        Fund.plan_year_end,
        Fund.closed_at,
        Fund.time_zone,
    )
    .join(Fund, Fund.id == Wallet.fund_id)
    .where(Wallet.id == bindparam("wallet_id"))
)
"""Built once: building a query costs more than running it."""


WalletRow = Row[*tuple[Any, ...]]
"""A row of :data:`CREDIT_WALLET`."""


def credit_wallet_row(session: Session, wallet_id: int) -> WalletRow | None:
    """Wallet ``wallet_id`` as :data:`CREDIT_WALLET` reads it, whoever's it is, or ``None``.

    An operation reads it once, before its idempotency key is used, to read the amount in
    the wallet's currency (:func:`row_currency`), and checks it in its own step with
    :func:`check_credit_wallet`."""
    return session.connection().execute(CREDIT_WALLET, {"wallet_id": wallet_id}).first()


def row_currency(row: WalletRow | None) -> str | None:
    """The currency of a wallet read by :func:`credit_wallet_row`, ``None`` for no wallet."""
    return None if row is None else str(row.currency)


def own_credit_wallet(session: Session, actor: User, wallet_id: int) -> CreditWallet:
    """The actor's wallet in a therapy fund whose plan year is not closed; anyone else's
    wallet is reported as not found."""
    return check_credit_wallet(actor, wallet_id, credit_wallet_row(session, wallet_id))


def check_credit_wallet(actor: User, wallet_id: int, row: WalletRow | None) -> CreditWallet:
    """:func:`own_credit_wallet` of a wallet already read by :func:`credit_wallet_row`."""
    if row is None or row.user_id != actor.id:
        raise NotFound("There is no such wallet.")
    user_id, kind, account_id, hold_account_id, *terms = row
    fund = FundTerms(*terms)
    if fund.kind is not FundKind.THERAPY:
        raise NotFound("There is no such wallet.")
    if fund.closed_at is not None:
        raise InvalidState(f"The plan year of {fund.name} is closed.")
    return CreditWallet(
        id=wallet_id,
        user_id=user_id,
        kind=kind,
        fund=fund,
        account=AccountRef(account_id, AccountKind.WALLET, fund.currency),
        hold_account=AccountRef(hold_account_id, AccountKind.WALLET_HOLD, fund.currency),
    )


@dataclass(frozen=True)
class WalletBalances:
    """A wallet's credit in minor units: available to spend, held, and the two together."""

    currency: str
    available: int
    held: int

    @property
    def posted(self) -> int:
        return self.available + self.held


_available, _held = aliased(Account), aliased(Account)


WALLET_BALANCES = (
    select(_available.currency, _available.balance, _held.balance)
    .select_from(Wallet)
    .join(_available, _available.id == Wallet.account_id)
    .join(_held, _held.id == Wallet.hold_account_id)
    .where(Wallet.id == bindparam("wallet_id"))
)
"""One indexed row per wallet: built once, since building a query costs more than running it."""


def wallet_balances(session: Session, wallet_id: int) -> WalletBalances:
    """Read a wallet's two stored balances: constant time, whatever the size of the ledger."""
    row = session.execute(WALLET_BALANCES, {"wallet_id": wallet_id}).one_or_none()
    if row is None:
        raise NotFound("There is no such wallet.")
    currency, available_balance, held_balance = row
    return WalletBalances(currency=currency, available=available_balance, held=held_balance)
