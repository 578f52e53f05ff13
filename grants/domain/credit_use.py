"""How therapy credit is used, per programme and country, as managers may see it.

Figures are computed in the database with ``GROUP BY`` from the ledger's running totals, in
one statement whatever the number of ambassadors or the length of the ledger (after one
read of the totals' mark, and one of the small cells over all funds). A cell counting
fewer than five people shows neither its count nor its money figures (DESIGN.md section 4):
what one person did with their credit is health information.
No cell names a person, a provider or a gift's recipient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from grants.domain.privacy import SMALL_CELL_THRESHOLD, SUPPRESSED, suppress_small_count
from grants.models import (
    Account,
    Ambassador,
    Country,
    Fund,
    Programme,
    TransactionKind,
    Wallet,
    WalletKind,
)
from grants.reports.flows import flows_at


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


ALLOCATED = (TransactionKind.ALLOWANCE, f"reversal:{TransactionKind.ALLOWANCE}")
"""The totals' kinds of allowances into a wallet and their corrections."""
GIFT_MOVES = (TransactionKind.GIFT_HOLD, TransactionKind.GIFT_CLAIM, TransactionKind.GIFT_RELEASE)
REQUEST_MOVES = (
    TransactionKind.REDEMPTION_HOLD,
    TransactionKind.REDEMPTION_APPROVAL,
    TransactionKind.REDEMPTION_RELEASE,
)


EVERY_TRANSACTION = 2**31 - 1
"""A position past every transaction (the largest id an integer key can hold): the totals of
whatever the statement reading them sees, so that they and the balances read beside them
come from one snapshot."""


def _account_flows(session: Session) -> Any:
    """Per account, the ledger's totals that credit use reads: the reports' folded totals
    plus every transaction after them (a common table expression)."""
    flows = flows_at(session, EVERY_TRANSACTION)

    def total(*kinds: str) -> Any:
        return func.coalesce(
            func.sum(case((flows.c.kind.in_([str(kind) for kind in kinds]), flows.c.amount))), 0
        )

    return (
        select(
            flows.c.account_id,
            total(*ALLOCATED).label("allocated"),
            total(TransactionKind.GIFT_CLAIM).label("claimed"),
            total(*GIFT_MOVES).label("gifts_held"),
            total(TransactionKind.REDEMPTION_APPROVAL).label("approved"),
            total(*REQUEST_MOVES).label("requests_held"),
        )
        .group_by(flows.c.account_id)
        .cte("account_flows")
    )


def credit_use(session: Session, *, fund_id: int | None = None) -> list[CreditUse]:
    """Credit use per programme and country (and currency), of one therapy fund or of all.

    The figures come from the ledger's running totals by account and kind
    (:func:`grants.reports.flows.flows_at`), so they cost what the ambassadors cost, not
    what the ledger's history does. Per wallet, from its two accounts:

    - allocated: allowances into the available account, net of their corrections;
    - gifted: what left the hold account to recipients (claims), plus gifts still held; a
      wallet's hold account only ever moves by gift and redemption holds, their claims,
      approvals and releases, and the plan-year close, which expires whatever is still held:
      so once the fund is closed nothing is pending, and before, the holds less the claims
      and releases of each kind are what is pending of that kind;
    - redeemed: what left the hold account on approval (paid or not yet);
    - outstanding: the available balance plus requests still held.

    Suppression happens here, so the figures of a small cell never leave this function. Over
    all funds, a cell is also suppressed when the same programme and country counts fewer
    than five people in any one fund: otherwise the figures of all funds less those of the
    other funds would give away the small one.
    """
    flows = _account_flows(session)
    available, held = flows.alias("available_flows"), flows.alias("held_flows")
    open_fund = Fund.closed_at.is_(None)
    gifts_pending = case((open_fund, func.coalesce(held.c.gifts_held, 0)), else_=0)
    requests_pending = case((open_fund, func.coalesce(held.c.requests_held, 0)), else_=0)
    query = (
        select(
            Programme.code,
            Ambassador.country,
            Account.currency,
            func.count(Ambassador.id.distinct()),
            func.coalesce(func.sum(available.c.allocated), 0),
            func.sum(gifts_pending - func.coalesce(held.c.claimed, 0)),
            -func.coalesce(func.sum(held.c.approved), 0),
            func.sum(Account.balance + requests_pending),
        )
        .select_from(Wallet)
        .join(Fund, Fund.id == Wallet.fund_id)
        .join(Ambassador, Ambassador.user_id == Wallet.user_id)
        .join(Programme, Programme.id == Ambassador.programme_id)
        .join(Account, Account.id == Wallet.account_id)
        .outerjoin(available, available.c.account_id == Wallet.account_id)
        .outerjoin(held, held.c.account_id == Wallet.hold_account_id)
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
