"""Redemptions: a credit holder asks for credit to pay for a therapy session; finance approves,
rejects or pays; the holder may cancel until finance decides.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import bindparam, insert, update
from sqlalchemy.orm import Session

from grants.clock import date_in
from grants.domain import audit, notifications
from grants.domain.account_tokens import time_zone_of
from grants.domain.checks import (
    Amount,
    amount_request,
    clean_payment_reference,
    clean_text,
    read_amount,
    require_role,
    same_currency,
)
from grants.domain.dates import format_day
from grants.domain.errors import InvalidInput, InvalidState, NotAllowed, NotFound
from grants.domain.funds import plan_year_over
from grants.domain.idempotency import Receipt, idempotent
from grants.domain.invoices import has_invoice
from grants.domain.ledger import Leg, fund_account, post
from grants.domain.money import DEFAULT_LOCALE
from grants.domain.providers import bookable, locked_provider, payment_blocker
from grants.domain.statements import Prepared
from grants.domain.wallets import check_credit_wallet, credit_wallet_row, row_currency
from grants.models import (
    AccountKind,
    Redemption,
    RedemptionState,
    Role,
    TransactionKind,
    User,
)

_REDEMPTION_FIELDS = (
    "wallet_id",
    "amount",
    "currency",
    "provider_name",
    "provider_id",
    "session_date",
    "state",
    "reason",
    "invoice_waiver",
    "requested_at",
)


NEW_REDEMPTION = Prepared(
    insert(Redemption)
    .values({name: bindparam(name) for name in _REDEMPTION_FIELDS})
    .returning(Redemption.id)
)


def request_redemption(
    session: Session,
    *,
    key: str,
    actor: User,
    wallet_id: int,
    amount: Amount,
    session_date: date,
    now: datetime,
    provider_id: int | None = None,
    provider_name: str = "",
    today: date | None = None,
    locale: str = DEFAULT_LOCALE,
) -> Receipt:
    """Hold credit for one therapy session until finance decides; ``now`` is when it is
    asked, and a session after ``today`` is refused.

    The provider is one of the directory (``provider_id``: verified or proposed, not
    suspended), whose name is kept with the session as it is now; or, from the command line
    and for sessions booked before the directory, only a name, which no payment file can pay.

    ``today`` is the holder's own date at ``now``, in their time zone (the view knows it);
    without it, it is worked out from the actor's time zone
    (:func:`~grants.domain.account_tokens.time_zone_of`). ``amount`` may be the text the
    holder typed, read in ``locale`` and the wallet's currency.
    """
    require_role(actor, Role.AMBASSADOR, Role.RECIPIENT, doing="redeem credit")
    if provider_id is not None:
        provider_name = bookable(session, provider_id, actor).label
    provider = clean_text(
        provider_name, field="provider_name", label="the provider's name", required=True, limit=200
    )
    if today is None:
        today = date_in(now, time_zone_of(session, actor))
    if session_date > today:
        raise InvalidInput("The session date cannot be in the future.", field="session_date")
    row = credit_wallet_row(session, wallet_id)
    amount = read_amount(amount, row_currency(row), locale=locale)

    def perform() -> Receipt:
        wallet = check_credit_wallet(actor, wallet_id, row)
        fund = wallet.fund
        if not fund.plan_year_start <= session_date <= fund.plan_year_end:
            raise InvalidInput(
                "The session must fall within the plan year, "
                f"{format_day(fund.plan_year_start, locale)} to "
                f"{format_day(fund.plan_year_end, locale)}.",
                field="session_date",
            )
        minor = same_currency(amount, fund.currency, locale=locale)
        transaction_id = post(
            session,
            kind=TransactionKind.REDEMPTION_HOLD,
            legs=[Leg(wallet.account, -minor), Leg(wallet.hold_account, minor)],
            actor_id=actor.id,
        )
        redemption_id: int = NEW_REDEMPTION.run(
            session,
            requested_redemption(
                wallet_id=wallet.id,
                amount=minor,
                currency=fund.currency,
                provider=provider,
                session_date=session_date,
                requested_at=now,
                provider_id=provider_id,
            ),
        ).fetchone()[0]
        audit.record(
            session,
            actor_id=actor.id,
            action="redemption.request",
            object_type="redemption",
            object_id=redemption_id,
            after=requested_audit(minor, fund.currency, transaction_id),
        )
        return Receipt("redemption.request", object_id=redemption_id, transaction_id=transaction_id)

    request = redemption_request(wallet_id, amount, provider, session_date)
    if provider_id is not None:
        request["provider_id"] = provider_id
    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="redemption.request",
        request=request,
        perform=perform,
    )


def _decidable(session: Session, actor: User, redemption_id: int) -> Redemption:
    """A redemption finance may decide: not the actor's own."""
    require_role(actor, Role.FINANCE, doing="decide redemptions")
    redemption = session.get(Redemption, redemption_id)
    if redemption is None:
        raise NotFound("There is no such redemption.")
    if redemption.wallet.user_id == actor.id:
        raise NotAllowed("You cannot decide on your own redemption; ask another member of finance.")
    return redemption


def _move_redemption(
    session: Session,
    redemption: Redemption,
    from_state: RedemptionState,
    to_state: RedemptionState,
    **values: object,
) -> None:
    """Change a redemption's state with one guarded update, or raise why it cannot."""
    changed = session.execute(
        update(Redemption)
        .where(Redemption.id == redemption.id, Redemption.state == from_state)
        .values(state=to_state, **values)
        .execution_options(synchronize_session=False)
    )
    session.refresh(redemption)
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidState(f"This redemption is {redemption.state.value}, not {from_state.value}.")


def approve_redemption(
    session: Session,
    *,
    key: str,
    actor: User,
    redemption_id: int,
    now: datetime,
    invoice_waiver: str = "",
) -> Receipt:
    """Approve the payout: the held credit becomes payable to the provider.

    Refused while the provider is not verified, is suspended or has a bank change to
    confirm (:func:`~grants.domain.providers.payment_blocker`), and, where the fund asks
    for invoices, while the session has none, unless ``invoice_waiver`` says why finance
    approves without one (kept with the session and in the audit trail).
    """
    waiver = clean_text(
        invoice_waiver, field="invoice_waiver", label="why there is no invoice", required=False
    )

    def perform() -> Receipt:
        redemption = _decidable(session, actor, redemption_id)
        check_payable(session, redemption, waiver)
        _move_redemption(
            session,
            redemption,
            RedemptionState.REQUESTED,
            RedemptionState.APPROVED,
            decided_at=now,
            decided_by_id=actor.id,
            invoice_waiver=waiver,
        )
        wallet = redemption.wallet
        payable = fund_account(session, wallet.fund_id, AccountKind.PAYABLE_TO_PROVIDERS)
        transaction_id = post(
            session,
            kind=TransactionKind.REDEMPTION_APPROVAL,
            legs=[Leg(wallet.hold_account, -redemption.amount), Leg(payable, redemption.amount)],
            actor_id=actor.id,
        )
        notifications.redemption_decided(session, redemption, notifications.REDEMPTION_APPROVED)
        _audit_redemption(
            session,
            actor,
            redemption,
            "approve",
            "requested",
            transaction_id,
            {"invoice_waiver": waiver} if waiver else None,
        )
        return Receipt("redemption.approve", object_id=redemption.id, transaction_id=transaction_id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="redemption.approve",
        request=decision_request(redemption_id, **({"waiver": waiver} if waiver else {})),
        perform=perform,
    )


def check_payable(session: Session, redemption: Redemption, waiver: str) -> None:
    """Refuse approving ``redemption`` while its provider may not be paid, or while its
    fund asks for an invoice it lacks and no ``waiver`` says why.

    A session booked with only a provider's name (before the directory, or from the command
    line) was booked where no invoice could be given: it is decided as it always was.
    """
    if redemption.provider_id is None:
        return
    provider = locked_provider(session, redemption.provider_id)
    if (blocked := payment_blocker(provider)) is not None:
        raise InvalidState(blocked)
    if waiver or not redemption.wallet.fund.invoice_required:
        return
    if has_invoice(session, redemption.id):
        return
    raise InvalidInput(
        "There is no invoice or receipt for this session. Ask the person who booked it to "
        "add one, or say why you approve it without one.",
        field="invoice_waiver",
    )


def reject_redemption(
    session: Session, *, key: str, actor: User, redemption_id: int, reason: str, now: datetime
) -> Receipt:
    """Refuse the payout with a reason the redeemer will see; the credit is released."""
    reason = clean_text(reason, field="reason", label="a reason", required=True)

    def perform() -> Receipt:
        redemption = _decidable(session, actor, redemption_id)
        _move_redemption(
            session,
            redemption,
            RedemptionState.REQUESTED,
            RedemptionState.REJECTED,
            decided_at=now,
            decided_by_id=actor.id,
            reason=reason,
        )
        notifications.redemption_decided(session, redemption, notifications.REDEMPTION_REJECTED)
        return release_redemption(session, actor, redemption, "reject", now)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="redemption.reject",
        request=decision_request(redemption_id, reason=reason),
        perform=perform,
    )


def cancel_redemption(
    session: Session, *, key: str, actor: User, redemption_id: int, now: datetime
) -> Receipt:
    """The redeemer withdraws a request finance has not decided yet."""

    def perform() -> Receipt:
        redemption = session.get(Redemption, redemption_id)
        if redemption is None or redemption.wallet.user_id != actor.id:
            raise NotFound("There is no such redemption.")
        _move_redemption(
            session,
            redemption,
            RedemptionState.REQUESTED,
            RedemptionState.CANCELLED,
            decided_at=now,
        )
        return release_redemption(session, actor, redemption, "cancel", now)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="redemption.cancel",
        request=decision_request(redemption_id),
        perform=perform,
    )


def pay_redemption(
    session: Session,
    *,
    key: str,
    actor: User,
    redemption_id: int,
    payment_reference: str,
    now: datetime,
) -> Receipt:
    """Record that the provider was paid for an approved redemption."""
    reference = clean_payment_reference(payment_reference)

    def perform() -> Receipt:
        redemption = _decidable(session, actor, redemption_id)
        if redemption.state is RedemptionState.PAID:
            raise InvalidState(
                f"This redemption was already paid, reference {redemption.payment_reference}."
            )
        _move_redemption(
            session,
            redemption,
            RedemptionState.APPROVED,
            RedemptionState.PAID,
            paid_at=now,
            payment_reference=reference,
        )
        fund_id = redemption.wallet.fund_id
        transaction_id = post(
            session,
            kind=TransactionKind.PROVIDER_PAYMENT,
            legs=[
                Leg(
                    fund_account(session, fund_id, AccountKind.PAYABLE_TO_PROVIDERS),
                    -redemption.amount,
                ),
                Leg(
                    fund_account(session, fund_id, AccountKind.PAID_TO_PROVIDERS), redemption.amount
                ),
            ],
            actor_id=actor.id,
            memo=payment_memo(reference),
        )
        notifications.redemption_decided(session, redemption, notifications.REDEMPTION_PAID)
        _audit_redemption(session, actor, redemption, "pay", "approved", transaction_id)
        return Receipt("redemption.pay", object_id=redemption.id, transaction_id=transaction_id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="redemption.pay",
        request=decision_request(redemption_id, reference=reference),
        perform=perform,
    )


def release_redemption(
    session: Session, actor: User, redemption: Redemption, verb: str, now: datetime
) -> Receipt:
    wallet = redemption.wallet
    back_to_fund = plan_year_over(wallet.fund, now)
    destination = (
        fund_account(session, wallet.fund_id, AccountKind.FUND) if back_to_fund else wallet.account
    )
    transaction_id = post(
        session,
        kind=TransactionKind.REDEMPTION_RELEASE,
        legs=[Leg(wallet.hold_account, -redemption.amount), Leg(destination, redemption.amount)],
        actor_id=actor.id,
    )
    _audit_redemption(session, actor, redemption, verb, "requested", transaction_id)
    return Receipt(f"redemption.{verb}", object_id=redemption.id, transaction_id=transaction_id)


def _audit_redemption(
    session: Session,
    actor: User,
    redemption: Redemption,
    verb: str,
    before: str,
    transaction_id: int,
    noted: dict[str, object] | None = None,
) -> None:
    """Record the redemption's move from ``before``; ``noted`` adds to the event's
    ``after`` (an approval's invoice waiver)."""
    audit.record(
        session,
        actor_id=actor.id,
        action=f"redemption.{verb}",
        object_type="redemption",
        object_id=redemption.id,
        before=state_before(before),
        after={**state_after(redemption.state.value, transaction_id), **(noted or {})},
    )


def requested_redemption(
    *,
    wallet_id: int,
    amount: int,
    currency: str,
    provider: str,
    session_date: date,
    requested_at: datetime,
    provider_id: int | None = None,
) -> dict[str, object]:
    """The fields of a redemption just requested (as :data:`NEW_REDEMPTION` writes them)."""
    return {
        "wallet_id": wallet_id,
        "amount": amount,
        "currency": currency,
        "provider_name": provider,
        "provider_id": provider_id,
        "session_date": session_date,
        "state": RedemptionState.REQUESTED.value,
        "reason": "",
        "invoice_waiver": "",
        "requested_at": requested_at,
    }


def redemption_request(
    wallet_id: int, amount: Amount, provider: str, session_date: date
) -> dict[str, object]:
    """What makes two requests for a session's payout the same request."""
    return {
        "wallet": wallet_id,
        **amount_request(amount),
        "provider": provider,
        "session_date": session_date.isoformat(),
    }


def requested_audit(minor: int, currency: str, transaction_id: int) -> dict[str, object]:
    """The audit ``after`` of a redemption of ``minor`` units of ``currency`` requested."""
    return {
        "state": "requested",
        "amount": minor,
        "currency": currency,
        "transaction": transaction_id,
    }


def decision_request(redemption_id: int, **details: str) -> dict[str, object]:
    """What makes two approvals, rejections (``reason``), cancellations or payments
    (``reference``) of a redemption the same request."""
    return {"redemption": redemption_id, **details}


def payment_memo(reference: str) -> str:
    """The memo of a provider payment's ledger transaction: its payment reference."""
    return reference


def state_before(state: str) -> dict[str, object]:
    """The audit ``before`` of a redemption leaving ``state``."""
    return {"state": state}


def state_after(state: str, transaction_id: int) -> dict[str, object]:
    """The audit ``after`` of a redemption moved to ``state`` by ``transaction_id``."""
    return {"state": state, "transaction": transaction_id}
