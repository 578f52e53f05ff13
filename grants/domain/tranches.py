"""A grant after approval: paying its tranches, receiving its progress reports, closing it.

Each paid tranche moves its amount from the grant to the fund's "paid to partners" account;
the first one makes the grant active, and a grant closes once every tranche is paid.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from grants.domain import audit
from grants.domain.checks import MANAGERS, clean_payment_reference, require_role
from grants.domain.dates import format_day
from grants.domain.errors import InsufficientFunds, InvalidInput, InvalidState, NotFound
from grants.domain.grants import PAYABLE, advance, find_grant, move_status, require_status, run_once
from grants.domain.idempotency import Receipt, idempotent
from grants.domain.ledger import Leg, fund_account, post
from grants.domain.progress import release_refusal
from grants.models import (
    Account,
    AccountKind,
    GrantStatus,
    ReportingRequirement,
    Role,
    Tranche,
    TransactionKind,
    User,
)


def pay_tranche(
    session: Session,
    *,
    key: str,
    actor: User,
    tranche_id: int,
    payment_reference: str,
    paid_on: date,
    today: date,
) -> Receipt:
    """Finance records a tranche as paid: its amount leaves the grant for the partner.

    A tranche that waits for a report is refused, naming the report, until that report is
    accepted. The first paid tranche makes the grant active. Recording the same payment again (same
    reference) returns the first receipt; a different reference is refused.
    """
    require_role(actor, Role.FINANCE, doing="pay tranches")
    reference = clean_payment_reference(payment_reference)
    if paid_on > today:
        raise InvalidInput("The payment date cannot be in the future.", field="paid_on")

    def perform() -> Receipt:
        tranche = session.get(Tranche, tranche_id)
        if tranche is None:
            raise NotFound("There is no such tranche.")
        grant = find_grant(session, tranche.grant_id, lock=True)
        session.refresh(tranche)
        if tranche.paid_on is not None:
            if tranche.payment_reference == reference:
                return Receipt(
                    "grant.pay_tranche",
                    object_id=tranche.id,
                    transaction_id=tranche.transaction_id,
                    replayed=True,
                )
            raise InvalidState(
                f"This tranche was already paid on {format_day(tranche.paid_on, actor.locale)} "
                f"with reference {tranche.payment_reference}."
            )
        if grant.status not in PAYABLE:
            raise InvalidState(
                f"This grant is {grant.status.value}: only approved grants are paid."
            )
        waiting = release_refusal(session, tranche, actor.locale)
        if waiting is not None:
            raise InvalidState(waiting)
        if paid_on < grant.fund.plan_year_start:
            raise InvalidInput("The payment date is before the fund's plan year.", field="paid_on")
        assert grant.account_id is not None, "an approved grant has its account"
        awarded = session.get_one(Account, grant.account_id)
        paid = fund_account(session, grant.fund_id, AccountKind.PAID_TO_PARTNERS)
        try:
            transaction_id = post(
                session,
                kind=TransactionKind.TRANCHE_PAYMENT,
                legs=[Leg(awarded, -tranche.amount), Leg(paid, tranche.amount)],
                actor_id=actor.id,
                memo=f"Grant {grant.id}: {reference}",
            )
        except InsufficientFunds:
            raise InsufficientFunds(
                "This payment would pay out more than the grant awarded."
            ) from None
        marked = session.execute(
            update(Tranche)
            .where(Tranche.id == tranche.id, Tranche.paid_on.is_(None))
            .values(
                paid_on=paid_on,
                payment_reference=reference,
                paid_by_id=actor.id,
                transaction_id=transaction_id,
            )
            .execution_options(synchronize_session=False)
        )
        if marked.rowcount != 1:  # type: ignore[attr-defined]
            raise InvalidState("This tranche was paid by someone else just now.")
        before = grant.status
        if before is GrantStatus.APPROVED:
            move_status(session, grant, GrantStatus.APPROVED, GrantStatus.ACTIVE)
        session.refresh(tranche)
        audit.record(
            session,
            actor_id=actor.id,
            action="grant.pay_tranche",
            object_type="grant",
            object_id=grant.id,
            before={"status": before.value},
            after={
                "status": grant.status.value,
                "tranche": tranche.id,
                "amount": tranche.amount,
                "reference": reference,
                "paid_on": str(paid_on),
                "transaction": transaction_id,
            },
        )
        return Receipt("grant.pay_tranche", object_id=tranche.id, transaction_id=transaction_id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="grant.pay_tranche",
        request={"tranche": tranche_id, "reference": reference, "paid_on": str(paid_on)},
        perform=perform,
    )


def close_grant(
    session: Session, *, key: str, actor: User, grant_id: int, now: datetime
) -> Receipt:
    """Close an active grant whose every tranche is paid."""
    require_role(actor, *MANAGERS, Role.FINANCE, doing="close grants")

    def perform() -> Receipt:
        grant = find_grant(session, grant_id, lock=True)
        require_status(grant, GrantStatus.ACTIVE, doing="closed")
        unpaid = [t for t in grant.tranches if t.paid_on is None]
        if unpaid:
            raise InvalidState(
                f"{len(unpaid)} tranche{'s' if len(unpaid) > 1 else ''} still to pay; "
                "a grant closes once all are paid."
            )
        return advance(session, grant, actor, "close", GrantStatus.CLOSED, ended_at=now)

    return run_once(session, key, actor, "close", {"grant": grant_id}, perform)


def mark_report_received(
    session: Session, *, key: str, actor: User, report_id: int, now: datetime
) -> Receipt:
    """Record that the partner delivered a report; marking it twice changes nothing."""
    require_role(actor, *MANAGERS, doing="record reports")

    def perform() -> Receipt:
        report = session.get(ReportingRequirement, report_id)
        if report is None:
            raise NotFound("There is no such reporting date.")
        if report.grant.status not in (*PAYABLE, GrantStatus.CLOSED):
            raise InvalidState("Reports are received once the grant is approved.")
        marked = session.execute(
            update(ReportingRequirement)
            .where(ReportingRequirement.id == report.id, ReportingRequirement.received_at.is_(None))
            .values(received_at=now, received_by_id=actor.id)
            .execution_options(synchronize_session=False)
        )
        session.refresh(report)
        if marked.rowcount == 1:  # type: ignore[attr-defined]
            audit.record(
                session,
                actor_id=actor.id,
                action="grant.report_received",
                object_type="grant",
                object_id=report.grant_id,
                after={
                    "report": report.id,
                    "title": report.title,
                    "due_date": str(report.due_date),
                },
            )
        return Receipt("grant.report_received", object_id=report.id)

    return run_once(session, key, actor, "report_received", {"report": report_id}, perform)
