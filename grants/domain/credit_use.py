"""How therapy credit is used, per programme and country, as managers may see it.

Figures are computed in the database with ``GROUP BY``, one query whatever the number of
ambassadors. A cell counting fewer than five people shows neither its count nor its money
figures (DESIGN.md section 4): what one person did with their credit is health information.
No cell names a person, a provider or a gift's recipient.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from grants.domain.privacy import SMALL_CELL_THRESHOLD, SUPPRESSED, suppress_small_count
from grants.models import (
    Account,
    Ambassador,
    Country,
    Gift,
    GiftState,
    LedgerTransaction,
    Posting,
    Programme,
    Redemption,
    RedemptionState,
    TransactionKind,
    Wallet,
    WalletKind,
)

GIFTED = (GiftState.PENDING, GiftState.CLAIMED)
"""Gifts that left the giver: sent and not withdrawn or expired."""

REDEEMED = (RedemptionState.APPROVED, RedemptionState.PAID)
"""Redemptions finance approved for payout."""


@dataclass(frozen=True)
class CreditUse:
    """The credit of the ambassadors of one programme in one country, in one currency.

    ``people`` is the number of ambassadors holding credit in the cell, or ``"<5"``. The
    money figures are minor units, or ``None`` when the cell is suppressed:

    - ``allocated``: allowances placed in their wallets, net of reversals;
    - ``gifted``: gifts sent to bandmates and crew, pending or claimed;
    - ``redeemed``: sessions finance approved, paid or not yet;
    - ``outstanding``: credit still theirs to spend, including requests finance has not
      decided.

    ``allocated`` is ``gifted + redeemed + outstanding`` plus whatever went back to the fund
    at plan-year close.
    """

    programme: str
    country: Country
    currency: str
    people: int | str
    allocated: int | None
    gifted: int | None
    redeemed: int | None
    outstanding: int | None

    @property
    def suppressed(self) -> bool:
        """Whether the cell counts too few people to show its figures."""
        return self.allocated is None


def credit_use(session: Session, *, fund_id: int | None = None) -> list[CreditUse]:
    """Credit use per programme and country (and currency), of one therapy fund or of all.

    Suppression happens here, so the figures of a small cell never leave this function. Over
    all funds, a cell is also suppressed when the same programme and country counts fewer
    than five people in any one fund: otherwise the figures of all funds less those of the
    other funds would give away the small one.
    """
    original = aliased(LedgerTransaction)
    allowances = (
        select(Posting.account_id, func.sum(Posting.amount).label("amount"))
        .join(LedgerTransaction, LedgerTransaction.id == Posting.transaction_id)
        .outerjoin(original, original.id == LedgerTransaction.reverses_id)
        .where(
            or_(
                LedgerTransaction.kind == TransactionKind.ALLOWANCE,
                and_(
                    LedgerTransaction.kind == TransactionKind.REVERSAL,
                    original.kind == TransactionKind.ALLOWANCE,
                ),
            )
        )
        .group_by(Posting.account_id)
        .subquery()
    )
    gifts = (
        select(Gift.giver_wallet_id.label("wallet_id"), func.sum(Gift.amount).label("amount"))
        .where(Gift.state.in_(GIFTED))
        .group_by(Gift.giver_wallet_id)
        .subquery()
    )
    redemptions = (
        select(
            Redemption.wallet_id,
            func.sum(case((Redemption.state.in_(REDEEMED), Redemption.amount), else_=0)).label(
                "redeemed"
            ),
            func.sum(
                case((Redemption.state == RedemptionState.REQUESTED, Redemption.amount), else_=0)
            ).label("in_review"),
        )
        .group_by(Redemption.wallet_id)
        .subquery()
    )
    query = (
        select(
            Programme.code,
            Ambassador.country,
            Account.currency,
            func.count(Ambassador.id.distinct()),
            func.coalesce(func.sum(allowances.c.amount), 0),
            func.coalesce(func.sum(gifts.c.amount), 0),
            func.coalesce(func.sum(redemptions.c.redeemed), 0),
            func.sum(Account.balance + func.coalesce(redemptions.c.in_review, 0)),
        )
        .select_from(Wallet)
        .join(Ambassador, Ambassador.user_id == Wallet.user_id)
        .join(Programme, Programme.id == Ambassador.programme_id)
        .join(Account, Account.id == Wallet.account_id)
        .outerjoin(allowances, allowances.c.account_id == Wallet.account_id)
        .outerjoin(gifts, gifts.c.wallet_id == Wallet.id)
        .outerjoin(redemptions, redemptions.c.wallet_id == Wallet.id)
        .where(Wallet.kind == WalletKind.AMBASSADOR)
        .group_by(Programme.code, Ambassador.country, Account.currency)
        .order_by(Programme.code, Ambassador.country, Account.currency)
    )
    if fund_id is not None:
        query = query.where(Wallet.fund_id == fund_id)
    hidden = _small_in_some_fund(session) if fund_id is None else set()
    cells = []
    for (
        code,
        country,
        currency,
        people,
        allocated,
        gifted,
        redeemed,
        outstanding,
    ) in session.execute(query):
        counted = suppress_small_count(people)
        shown = counted != SUPPRESSED and (code, country, currency) not in hidden
        cells.append(
            CreditUse(
                programme=code,
                country=country,
                currency=currency,
                people=counted,
                allocated=int(allocated) if shown else None,
                gifted=int(gifted) if shown else None,
                redeemed=int(redeemed) if shown else None,
                outstanding=int(outstanding) if shown else None,
            )
        )
    return cells


def _small_in_some_fund(session: Session) -> set[tuple[str, Country, str]]:
    """The programme, country and currency cells that count fewer than five people in at
    least one fund."""
    per_fund = (
        select(
            Programme.code,
            Ambassador.country,
            Account.currency,
            func.count(Ambassador.id.distinct()).label("people"),
        )
        .select_from(Wallet)
        .join(Ambassador, Ambassador.user_id == Wallet.user_id)
        .join(Programme, Programme.id == Ambassador.programme_id)
        .join(Account, Account.id == Wallet.account_id)
        .where(Wallet.kind == WalletKind.AMBASSADOR)
        .group_by(Wallet.fund_id, Programme.code, Ambassador.country, Account.currency)
        .subquery()
    )
    small = select(per_fund.c.code, per_fund.c.country, per_fund.c.currency).where(
        per_fund.c.people < SMALL_CELL_THRESHOLD
    )
    return {(code, country, currency) for code, country, currency in session.execute(small)}
