"""Closing a therapy fund's plan year: what is still held goes back to the fund and no more
credit is given or spent from it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from grants.domain import audit
from grants.domain.checks import require_role
from grants.domain.dates import format_day, zone_name
from grants.domain.errors import InvalidState
from grants.domain.funds import fund_today, open_therapy_fund
from grants.domain.idempotency import Receipt, idempotent
from grants.domain.ledger import Leg, fund_account, lock_accounts, post
from grants.models import (
    Account,
    AccountKind,
    Fund,
    Gift,
    GiftState,
    Redemption,
    RedemptionState,
    Role,
    TransactionKind,
    User,
    Wallet,
)


def close_plan_year(
    session: Session, *, key: str, actor: User, fund_id: int, now: datetime
) -> Receipt:
    """Settle a therapy fund after its plan year: every unspent credit and open hold goes back
    to the fund, in one ledger transaction; pending gifts and undecided redemptions expire.

    Approved redemptions stay payable: finance still pays them.
    """
    require_role(actor, Role.FINANCE, Role.ADMIN, doing="close a plan year")

    def perform() -> Receipt:
        fund = open_therapy_fund(session, fund_id)
        if fund_today(fund, now) <= fund.plan_year_end:
            raise InvalidState(
                f"The plan year of {fund.name} runs until "
                f"{format_day(fund.plan_year_end, actor.locale)} "
                f"(the end of that day in {zone_name(fund.time_zone)} time)."
            )
        closed = session.execute(
            update(Fund)
            .where(Fund.id == fund.id, Fund.closed_at.is_(None))
            .values(closed_at=now)
            .execution_options(synchronize_session=False)
        )
        if closed.rowcount != 1:  # type: ignore[attr-defined]
            raise InvalidState(f"The plan year of {fund.name} is already closed.")
        pending_gifts = (
            session.execute(
                update(Gift)
                .where(Gift.fund_id == fund.id, Gift.state == GiftState.PENDING)
                .values(state=GiftState.EXPIRED, settled_at=now)
                .returning(Gift.id)
                .execution_options(synchronize_session=False)
            )
            .scalars()
            .all()
        )
        wallet_ids = select(Wallet.id).where(Wallet.fund_id == fund.id).scalar_subquery()
        open_redemptions = (
            session.execute(
                update(Redemption)
                .where(
                    Redemption.wallet_id.in_(wallet_ids),
                    Redemption.state == RedemptionState.REQUESTED,
                )
                .values(state=RedemptionState.EXPIRED, decided_at=now)
                .returning(Redemption.id)
                .execution_options(synchronize_session=False)
            )
            .scalars()
            .all()
        )
        pool = fund_account(session, fund.id, AccountKind.FUND)
        credit_accounts = session.scalars(
            select(Account.id).where(
                Account.fund_id == fund.id,
                Account.kind.in_([AccountKind.WALLET, AccountKind.WALLET_HOLD]),
            )
        ).all()
        locked = lock_accounts(session, [pool.id, *credit_accounts])
        unspent = [
            locked[account_id] for account_id in credit_accounts if locked[account_id].balance
        ]
        transaction_id = None
        if unspent:
            legs = [Leg(account, -account.balance) for account in unspent]
            legs.append(Leg(pool, sum(account.balance for account in unspent)))
            transaction_id = post(
                session,
                kind=TransactionKind.PLAN_YEAR_CLOSE,
                legs=legs,
                actor_id=actor.id,
                memo="Plan-year close",
            )
        session.expire_all()
        audit.record(
            session,
            actor_id=actor.id,
            action="fund.close_plan_year",
            object_type="fund",
            object_id=fund_id,
            after={
                "expired_gifts": list(pending_gifts),
                "expired_redemptions": list(open_redemptions),
                "transaction": transaction_id,
            },
        )
        return Receipt("fund.close_plan_year", object_id=fund_id, transaction_id=transaction_id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="fund.close_plan_year",
        request={"fund": fund_id},
        perform=perform,
    )
