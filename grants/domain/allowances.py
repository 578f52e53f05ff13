"""Therapy allowances: crediting an ambassador's wallet from a therapy fund, one at a time or
for a whole cohort, in the currency of the ambassador's country.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session, aliased

from grants.domain import audit, notifications
from grants.domain.checks import (
    MANAGERS,
    Amount,
    amount_request,
    read_amount,
    require_role,
    same_currency,
)
from grants.domain.errors import InsufficientFunds, InvalidInput, InvalidState, NotFound
from grants.domain.funds import open_therapy_fund
from grants.domain.idempotency import Receipt, idempotent
from grants.domain.ledger import AccountRef, Leg, WalletRef, fund_account, post, wallet_ref
from grants.domain.money import DEFAULT_LOCALE
from grants.models import (
    Account,
    AccountKind,
    Ambassador,
    CohortStatus,
    Country,
    Fund,
    Programme,
    TransactionKind,
    User,
    Wallet,
    WalletKind,
)

COUNTRY_CURRENCY = {Country.US: "USD", Country.GB: "GBP"}
"""The currency of the therapy credit of ambassadors in each country."""


def allocate_allowance(
    session: Session,
    *,
    key: str,
    actor: User,
    fund_id: int,
    ambassador_id: int,
    amount: Amount,
    locale: str = DEFAULT_LOCALE,
) -> Receipt:
    """Move ``amount`` from a therapy fund into one ambassador's wallet."""
    require_role(actor, *MANAGERS, doing="allocate allowances")
    chosen = session.get(Fund, fund_id)  # held, so the operation finds it in the session
    amount = read_amount(amount, None if chosen is None else chosen.currency, locale=locale)

    def perform() -> Receipt:
        fund = _chosen_fund(session, fund_id)
        minor = same_currency(amount, fund.currency, locale=locale)
        target = (
            session.connection()
            .execute(ALLOCATION_TARGET, {"ambassador_id": ambassador_id, "fund_id": fund.id})
            .first()
        )
        if target is None:
            raise NotFound("There is no such ambassador.")
        _check_eligible(target.country, target.cohort_status, fund)
        if not target.active:
            raise InvalidInput(
                "This ambassador's account is deactivated: they receive no new allowances "
                "unless an admin reactivates it.",
                field="ambassador",
            )
        if target.pool_id is None:
            raise NotFound("This fund has no ledger accounts yet.")
        if target.wallet_id is None:
            wallet = wallet_ref(
                session,
                fund_id=fund.id,
                currency=fund.currency,
                user_id=target.user_id,
                kind=WalletKind.AMBASSADOR,
            )
        else:
            wallet = WalletRef(
                target.wallet_id,
                AccountRef(target.account_id, AccountKind.WALLET, fund.currency),
                AccountRef(target.hold_account_id, AccountKind.WALLET_HOLD, fund.currency),
            )
        pool = AccountRef(target.pool_id, AccountKind.FUND, fund.currency)
        transaction_id = _allocate(session, fund, pool, [wallet], minor, actor, [target.user_id])
        return allowance_receipt(
            "allowance.allocate", ambassador_id, transaction_id, minor, fund.currency
        )

    request = allocation_request(fund_id, ambassador_id, amount)
    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="allowance.allocate",
        request=request,
        perform=perform,
    )


@dataclass(frozen=True)
class CohortPreview:
    """Who a bulk allocation would reach and what it would cost."""

    ambassador_ids: list[int]
    each: int
    currency: str

    @property
    def total(self) -> int:
        return self.each * len(self.ambassador_ids)

    @property
    def cohort(self) -> str:
        """A digest of exactly who the preview reaches, for the confirmation to carry."""
        members = ",".join(map(str, self.ambassador_ids))
        return hashlib.sha256(members.encode()).hexdigest()[:32]


def preview_cohort(
    session: Session,
    *,
    fund_id: int,
    amount: Amount,
    programme: str | None,
    country: Country | None,
    locale: str = DEFAULT_LOCALE,
) -> CohortPreview:
    """The current ambassadors of a programme and/or country whose currency is the fund's,
    leaving out those whose account an admin deactivated (people invited who have not set a
    password yet are included: their credit waits for them)."""
    fund = _chosen_fund(session, fund_id)
    minor = same_currency(amount, fund.currency, locale=locale)
    countries = [c for c, currency in COUNTRY_CURRENCY.items() if currency == fund.currency]
    if country is not None:
        if country not in countries:
            raise InvalidInput(
                f"{country.label} ambassadors are not paid from a {fund.currency} fund.",
                field="country",
            )
        countries = [country]
    query = (
        select(Ambassador.id)
        .join(User, User.id == Ambassador.user_id)
        .where(
            Ambassador.cohort_status == CohortStatus.CURRENT,
            Ambassador.country.in_(countries),
            User.active,
        )
        .order_by(Ambassador.id)
    )
    if programme:
        query = query.join(Ambassador.programme).where(Programme.code == programme)
    return CohortPreview(list(session.scalars(query)), minor, fund.currency)


def allocate_cohort(
    session: Session,
    *,
    key: str,
    actor: User,
    fund_id: int,
    amount: Amount,
    programme: str | None = None,
    country: Country | None = None,
    previewed: str | None = None,
    locale: str = DEFAULT_LOCALE,
) -> Receipt:
    """Give every current ambassador of a cohort ``amount``: all of them, or none.

    ``previewed`` is the :attr:`CohortPreview.cohort` the manager confirmed; if the cohort
    has changed since (someone joined or left), nothing is allocated.
    """
    require_role(actor, *MANAGERS, doing="allocate allowances")
    chosen = session.get(Fund, fund_id)  # held, so the operation finds it in the session
    amount = read_amount(amount, None if chosen is None else chosen.currency, locale=locale)

    def perform() -> Receipt:
        preview = preview_cohort(
            session,
            fund_id=fund_id,
            amount=amount,
            programme=programme,
            country=country,
            locale=locale,
        )
        if not preview.ambassador_ids:
            raise InvalidInput("No current ambassadors match that programme and country.")
        if previewed is not None and previewed != preview.cohort:
            raise InvalidState(
                f"The cohort has changed since the preview: it now has "
                f"{len(preview.ambassador_ids)} ambassadors. Nothing was allocated; check the "
                "new preview and confirm again."
            )
        fund = open_therapy_fund(session, fund_id)
        user_ids = session.scalars(
            select(Ambassador.user_id)
            .where(Ambassador.id.in_(preview.ambassador_ids))
            .order_by(Ambassador.id)
        ).all()
        wallets = [
            wallet_ref(
                session,
                fund_id=fund.id,
                currency=fund.currency,
                user_id=user_id,
                kind=WalletKind.AMBASSADOR,
            )
            for user_id in user_ids
        ]
        pool = fund_account(session, fund.id, AccountKind.FUND)
        transaction_id = _allocate(session, fund, pool, wallets, preview.each, actor, user_ids)
        return allowance_receipt(
            "allowance.allocate_cohort",
            len(wallets),
            transaction_id,
            preview.each,
            fund.currency,
        )

    request = cohort_request(fund_id, amount, programme, country, previewed)
    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="allowance.allocate_cohort",
        request=request,
        perform=perform,
    )


def _chosen_fund(session: Session, fund_id: int) -> Fund:
    """The open therapy fund a manager chose to allocate from. An id that names no fund at
    all is refused as a choice to make again, on the fund field."""
    fund = session.get(Fund, fund_id)
    if fund is None:
        raise InvalidInput("Choose a therapy fund.", field="fund")
    return open_therapy_fund(session, fund.id)


def currency_mismatch(country: Country, currency: str) -> str | None:
    """Why a fund in ``currency`` cannot pay an ambassador of ``country``, or ``None`` when
    it can (US ambassadors are paid in USD, UK ambassadors in GBP)."""
    if COUNTRY_CURRENCY[country] == currency:
        return None
    return f"{country.label} ambassadors are not paid from a {currency} fund."


def _check_eligible(country: Country, cohort_status: CohortStatus, fund: Fund) -> None:
    mismatch = currency_mismatch(country, fund.currency)
    if mismatch is not None:
        raise InvalidInput(mismatch, field="fund")
    if cohort_status is CohortStatus.ALUMNI:
        raise InvalidInput("Alumni do not receive new allowances.", field="ambassador")


_pool = aliased(Account)
ALLOCATION_TARGET = (
    select(
        Ambassador.user_id.label("user_id"),
        Ambassador.country.label("country"),
        Ambassador.cohort_status.label("cohort_status"),
        User.active.label("active"),
        Wallet.id.label("wallet_id"),
        Wallet.account_id.label("account_id"),
        Wallet.hold_account_id.label("hold_account_id"),
        _pool.id.label("pool_id"),
    )
    .outerjoin(
        Wallet,
        and_(
            Wallet.user_id == Ambassador.user_id,
            Wallet.fund_id == bindparam("fund_id"),
            Wallet.kind == WalletKind.AMBASSADOR,
        ),
    )
    .join(User, User.id == Ambassador.user_id)
    .outerjoin(_pool, and_(_pool.fund_id == bindparam("fund_id"), _pool.kind == AccountKind.FUND))
    .where(Ambassador.id == bindparam("ambassador_id"))
)
"""Built once: what an allowance reads of its ambassador, their wallet in the fund (if they
have one yet) and the fund's pool account, in one row."""


def _allocate(
    session: Session,
    fund: Fund,
    pool: Account | AccountRef,
    wallets: list[WalletRef],
    each: int,
    actor: User,
    user_ids: Sequence[int],
) -> int:
    """Post one allowance of ``each`` from ``pool`` into each of ``wallets`` (held by
    ``user_ids``, in the same order), tell each holder, and record an audit event each."""
    legs = [Leg(pool, -each * len(wallets))] + [Leg(w.account, each) for w in wallets]
    try:
        transaction_id = post(session, kind=TransactionKind.ALLOWANCE, legs=legs, actor_id=actor.id)
    except InsufficientFunds:
        raise InsufficientFunds(
            "The fund's remaining budget cannot cover this allocation; nothing was allocated."
        ) from None
    notifications.allowances_received(
        session,
        user_ids=user_ids,
        each=each,
        currency=fund.currency,
        fund_name=fund.name,
        transaction_id=transaction_id,
    )
    audit.record_all(
        session,
        [
            audit.Event(
                actor.id,
                "allowance.allocate",
                "wallet",
                wallet.id,
                after=allowance_audit(each, fund.currency, transaction_id),
            )
            for wallet in wallets
        ],
    )
    return transaction_id


def allowance_receipt(
    operation: str, object_id: int, transaction_id: int, each: int, currency: str
) -> Receipt:
    """What an allocation tells its caller: the ambassador (or, for a cohort, how many), the
    transaction, and the amount each received."""
    return Receipt(
        operation,
        object_id=object_id,
        transaction_id=transaction_id,
        amount=each,
        currency=currency,
    )


def allocation_request(fund_id: int, ambassador_id: int, amount: Amount) -> dict[str, object]:
    """What makes two allowances to one ambassador the same request."""
    return {"fund": fund_id, "ambassador": ambassador_id, **amount_request(amount)}


def cohort_request(
    fund_id: int,
    amount: Amount,
    programme: str | None,
    country: Country | None,
    previewed: str | None,
) -> dict[str, object]:
    """What makes two allocations to a cohort the same request."""
    return {
        "fund": fund_id,
        **amount_request(amount),
        "programme": programme,
        "country": country.value if country else None,
        "previewed": previewed,
    }


def allowance_audit(each: int, currency: str, transaction_id: int) -> dict[str, object]:
    """The audit ``after`` of one wallet's allowance of ``each`` units of ``currency``."""
    return {"amount": each, "currency": currency, "transaction": transaction_id}
