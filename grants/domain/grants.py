"""Grants to partners: drafting, four-eyes approval, tranche payments, closing, cancelling.

Approval moves the grant's amount from its fund into the grant's own ledger account, so a
fund can never commit more than its budget, even when two approvals race for the last of it.
Each paid tranche moves its amount from the grant to the fund's "paid to partners" account;
cancelling releases what was not paid back to the fund. Every operation that moves money or
changes a grant's status takes an idempotency key and writes an audit event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from grants.domain import audit
from grants.domain.checks import (
    MANAGERS,
    clean_payment_reference,
    clean_text,
    require_role,
    same_currency,
    within,
)
from grants.domain.errors import InsufficientFunds, InvalidInput, InvalidState, NotAllowed, NotFound
from grants.domain.idempotency import Receipt, idempotent
from grants.domain.ledger import Leg, fund_account, fund_balances, post
from grants.domain.money import Money, format_money
from grants.models import (
    Account,
    AccountKind,
    AuditEvent,
    Fund,
    FundKind,
    Grant,
    GrantCategory,
    GrantStatus,
    Partner,
    ReportingRequirement,
    Role,
    Tranche,
    TransactionKind,
    User,
)

EDITABLE = (GrantStatus.DRAFT,)
CANCELLABLE = (GrantStatus.DRAFT, GrantStatus.SUBMITTED, GrantStatus.APPROVED, GrantStatus.ACTIVE)
PAYABLE = (GrantStatus.APPROVED, GrantStatus.ACTIVE)
MAX_TRANCHES = 24
MAX_REPORTS = 24


@dataclass(frozen=True)
class Instalment:
    """One line of a grant's payment schedule, as typed."""

    due_date: date
    amount: Money


@dataclass(frozen=True)
class ReportDue:
    """Something the partner owes by a date, as typed."""

    title: str
    due_date: date


@dataclass(frozen=True)
class GrantDraft:
    """Everything a manager fills in for a grant."""

    fund_id: int
    partner_id: int
    purpose: str
    category: str
    amount: Money
    tranches: Sequence[Instalment]
    reports: Sequence[ReportDue] = ()

    def request(self) -> dict[str, object]:
        """The draft as plain values, for idempotency hashing."""
        return {
            "fund": self.fund_id,
            "partner": self.partner_id,
            "purpose": self.purpose,
            "category": self.category,
            "amount": [self.amount.minor, self.amount.currency],
            "tranches": [
                [str(t.due_date), t.amount.minor, t.amount.currency] for t in self.tranches
            ],
            "reports": [[r.title, str(r.due_date)] for r in self.reports],
        }


# --- drafting ------------------------------------------------------------------------------


def create_grant(session: Session, *, key: str, actor: User, draft: GrantDraft) -> Receipt:
    """Write a grant as a draft, with its schedule and reporting dates."""
    require_role(actor, *MANAGERS, doing="draft grants")

    def perform() -> Receipt:
        grant = Grant(created_by_id=actor.id, status=GrantStatus.DRAFT)
        _fill(session, grant, draft)
        session.add(grant)
        session.flush()
        _replace_schedule(session, grant, draft)
        audit.record(
            session,
            actor_id=actor.id,
            action="grant.create",
            object_type="grant",
            object_id=grant.id,
            after=_snapshot(grant),
        )
        return Receipt("grant.create", object_id=grant.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="grant.create",
        request=draft.request(),
        perform=perform,
    )


def update_grant(session: Session, *, actor: User, grant_id: int, draft: GrantDraft) -> Grant:
    """Replace a draft's details, schedule and reporting dates; only a draft is editable."""
    require_role(actor, *MANAGERS, doing="edit grants")
    grant = _grant(session, grant_id, lock=True)
    if grant.status not in EDITABLE:
        raise InvalidState(f"This grant is {grant.status.value}: only a draft can be edited.")
    before = _snapshot(grant)
    _fill(session, grant, draft)
    session.flush()
    _replace_schedule(session, grant, draft)
    after = _snapshot(grant)
    if after != before:
        audit.record(
            session,
            actor_id=actor.id,
            action="grant.update",
            object_type="grant",
            object_id=grant.id,
            before=before,
            after=after,
        )
    return grant


def _fill(session: Session, grant: Grant, draft: GrantDraft) -> None:
    """Check ``draft`` and copy it onto ``grant``."""
    fund = session.get(Fund, draft.fund_id)
    if fund is None or fund.kind is not FundKind.GRANTS:
        raise InvalidInput("Choose a partner-grants fund.", field="fund_id")
    if fund.closed_at is not None:
        raise InvalidState(f"The plan year of {fund.name} is closed.")
    partner = session.get(Partner, draft.partner_id)
    if partner is None:
        raise InvalidInput("Choose a partner.", field="partner_id")
    if not partner.active and partner.id != grant.partner_id:
        raise InvalidState(f"{partner.display_name} is deactivated and takes no new grants.")
    try:
        category = GrantCategory(draft.category)
    except ValueError:
        raise InvalidInput("Choose a category.", field="category") from None
    minor = same_currency(draft.amount, fund.currency)
    if len(draft.tranches) > MAX_TRANCHES:
        raise InvalidInput(f"A grant has at most {MAX_TRANCHES} tranches.", field="tranches")
    if len(draft.reports) > MAX_REPORTS:
        raise InvalidInput(f"A grant has at most {MAX_REPORTS} reporting dates.", field="reports")
    for instalment in draft.tranches:
        same_currency(instalment.amount, fund.currency, field="tranches")
        within(
            instalment.due_date,
            fund.plan_year_start,
            fund.plan_year_end,
            field="tranches",
            label="every tranche's due date",
        )
    for report in draft.reports:
        clean_text(
            report.title,
            field="reports",
            label="what the partner reports",
            required=True,
            limit=200,
        )
    grant.fund_id = fund.id
    grant.partner_id = partner.id
    grant.purpose = clean_text(
        draft.purpose, field="purpose", label="the purpose", required=True, limit=2000
    )
    grant.category = category
    grant.amount = minor
    grant.currency = fund.currency


def _replace_schedule(session: Session, grant: Grant, draft: GrantDraft) -> None:
    session.execute(delete(Tranche).where(Tranche.grant_id == grant.id))
    session.execute(delete(ReportingRequirement).where(ReportingRequirement.grant_id == grant.id))
    session.add_all(
        Tranche(grant_id=grant.id, due_date=t.due_date, amount=t.amount.minor)
        for t in sorted(draft.tranches, key=lambda t: t.due_date)
    )
    seen: set[tuple[str, date]] = set()
    for report in draft.reports:
        title = " ".join(report.title.split())
        if (title, report.due_date) not in seen:
            seen.add((title, report.due_date))
            session.add(
                ReportingRequirement(grant_id=grant.id, title=title, due_date=report.due_date)
            )
    session.flush()
    session.expire(grant, ["tranches", "reports"])


# --- submission and decision ---------------------------------------------------------------


def schedule_mismatch(grant: Grant, locale: str = "en_US") -> str | None:
    """Why ``grant``'s payment schedule cannot be submitted (its tranches do not add up to
    its amount), or ``None`` when it can: the submission's refusal, and the warning its
    draft page shows as soon as it is saved."""
    scheduled = sum(t.amount for t in grant.tranches)
    if grant.tranches and scheduled == grant.amount:
        return None
    return (
        f"The tranches add up to {format_money(scheduled, grant.currency, locale)}, "
        f"not the grant's {format_money(grant.amount, grant.currency, locale)}."
    )


def submit_grant(
    session: Session, *, key: str, actor: User, grant_id: int, now: datetime
) -> Receipt:
    """Send a draft for approval: its tranches must add up to its amount exactly."""
    require_role(actor, *MANAGERS, doing="submit grants")

    def perform() -> Receipt:
        grant = _grant(session, grant_id, lock=True)
        _require_status(grant, GrantStatus.DRAFT, doing="submitted")
        mismatch = schedule_mismatch(grant)
        if mismatch is not None:
            raise InvalidInput(mismatch, field="tranches")
        _refuse_over_budget(session, grant)
        return _advance(
            session,
            grant,
            actor,
            "submit",
            GrantStatus.SUBMITTED,
            submitted_by_id=actor.id,
            submitted_at=now,
        )

    return _once(session, key, actor, "submit", {"grant": grant_id}, perform)


def approve_grant(
    session: Session, *, key: str, actor: User, grant_id: int, now: datetime
) -> Receipt:
    """A second manager, who neither drafted, edited nor submitted it, approves: the amount
    is reserved from the fund into the grant."""
    require_role(actor, *MANAGERS, doing="approve grants")

    def perform() -> Receipt:
        grant = _grant(session, grant_id, lock=True)
        _require_status(grant, GrantStatus.SUBMITTED, doing="approved")
        _require_second_manager(session, grant, actor, doing="approve")
        pool = fund_account(session, grant.fund_id, AccountKind.FUND)
        awarded = Account(
            kind=AccountKind.GRANT, currency=grant.currency, fund_id=grant.fund_id, balance=0
        )
        session.add(awarded)
        session.flush()
        try:
            transaction_id = post(
                session,
                kind=TransactionKind.GRANT_APPROVAL,
                legs=[Leg(pool, -grant.amount), Leg(awarded, grant.amount)],
                actor_id=actor.id,
                memo=f"Grant {grant.id}",
            )
        except InsufficientFunds:
            raise InsufficientFunds(_over_budget_message(session, grant)) from None
        return _advance(
            session,
            grant,
            actor,
            "approve",
            GrantStatus.APPROVED,
            transaction_id=transaction_id,
            account_id=awarded.id,
            decided_by_id=actor.id,
            decided_at=now,
        )

    return _once(session, key, actor, "approve", {"grant": grant_id}, perform)


def reject_grant(
    session: Session, *, key: str, actor: User, grant_id: int, reason: str, now: datetime
) -> Receipt:
    """A second manager, who neither drafted, edited nor submitted it, turns a submitted
    grant down, with a reason."""
    require_role(actor, *MANAGERS, doing="reject grants")
    why = clean_text(reason, field="reason", label="a reason", required=True)

    def perform() -> Receipt:
        grant = _grant(session, grant_id, lock=True)
        _require_status(grant, GrantStatus.SUBMITTED, doing="rejected")
        _require_second_manager(session, grant, actor, doing="reject")
        return _advance(
            session,
            grant,
            actor,
            "reject",
            GrantStatus.REJECTED,
            decided_by_id=actor.id,
            decided_at=now,
            decision_reason=why,
            ended_at=now,
        )

    return _once(session, key, actor, "reject", {"grant": grant_id, "reason": why}, perform)


def cancel_grant(
    session: Session, *, key: str, actor: User, grant_id: int, reason: str, now: datetime
) -> Receipt:
    """Stop a grant before it closes; whatever was reserved and not paid returns to the fund."""
    require_role(actor, *MANAGERS, doing="cancel grants")
    why = clean_text(reason, field="reason", label="a reason", required=True)

    def perform() -> Receipt:
        grant = _grant(session, grant_id, lock=True)
        if grant.status not in CANCELLABLE:
            raise InvalidState(f"This grant is {grant.status.value} and cannot be cancelled.")
        transaction_id = None
        if grant.account_id is not None:
            awarded = session.get_one(Account, grant.account_id)
            session.refresh(awarded)
            if awarded.balance:
                transaction_id = post(
                    session,
                    kind=TransactionKind.GRANT_RELEASE,
                    legs=[
                        Leg(awarded, -awarded.balance),
                        Leg(
                            fund_account(session, grant.fund_id, AccountKind.FUND), awarded.balance
                        ),
                    ],
                    actor_id=actor.id,
                    memo=f"Grant {grant.id} cancelled",
                )
        return _advance(
            session,
            grant,
            actor,
            "cancel",
            GrantStatus.CANCELLED,
            transaction_id=transaction_id,
            decision_reason=why,
            ended_at=now,
        )

    return _once(session, key, actor, "cancel", {"grant": grant_id, "reason": why}, perform)


# --- payment and closing -------------------------------------------------------------------


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

    The first paid tranche makes the grant active. Recording the same payment again (same
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
        grant = _grant(session, tranche.grant_id, lock=True)
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
                f"This tranche was already paid on {tranche.paid_on} "
                f"with reference {tranche.payment_reference}."
            )
        if grant.status not in PAYABLE:
            raise InvalidState(
                f"This grant is {grant.status.value}: only approved grants are paid."
            )
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
            _move(session, grant, GrantStatus.APPROVED, GrantStatus.ACTIVE)
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
        grant = _grant(session, grant_id, lock=True)
        _require_status(grant, GrantStatus.ACTIVE, doing="closed")
        unpaid = [t for t in grant.tranches if t.paid_on is None]
        if unpaid:
            raise InvalidState(
                f"{len(unpaid)} tranche{'s' if len(unpaid) > 1 else ''} still to pay; "
                "a grant closes once all are paid."
            )
        return _advance(session, grant, actor, "close", GrantStatus.CLOSED, ended_at=now)

    return _once(session, key, actor, "close", {"grant": grant_id}, perform)


def mark_report_received(
    session: Session, *, actor: User, report_id: int, now: datetime
) -> ReportingRequirement:
    """Record that the partner delivered a report; marking it twice changes nothing."""
    require_role(actor, *MANAGERS, doing="record reports")
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
            after={"report": report.id, "title": report.title, "due_date": str(report.due_date)},
        )
    return report


# --- shared steps --------------------------------------------------------------------------


def _grant(session: Session, grant_id: int, *, lock: bool = False) -> Grant:
    """The grant, locked against concurrent changes when ``lock`` (a no-op on SQLite, whose
    transactions already hold the write lock)."""
    query = select(Grant).where(Grant.id == grant_id).execution_options(populate_existing=True)
    grant = session.scalar(query.with_for_update() if lock else query)
    if grant is None:
        raise NotFound("There is no such grant.")
    return grant


def _require_status(grant: Grant, status: GrantStatus, *, doing: str) -> None:
    if grant.status is not status:
        raise InvalidState(
            f"This grant is {grant.status.value}: only a {status.value} grant can be {doing}."
        )


AUTHORING = ("grant.create", "grant.update", "grant.submit")
"""The audit actions that make their actor an author of a grant."""


def grant_authors(session: Session, grant_id: int) -> set[int]:
    """The ids of everyone who drafted, edited or submitted the grant.

    Every change to a draft writes an audit event (an edit that changes nothing writes none,
    and makes nobody an author), so the grant's events name every author; its own
    ``created_by_id`` and ``submitted_by_id`` are counted too.
    """
    grant = session.get_one(Grant, grant_id)
    authors = set(
        session.scalars(
            select(AuditEvent.actor_id)
            .where(
                AuditEvent.object_type == "grant",
                AuditEvent.object_id == grant_id,
                AuditEvent.action.in_(AUTHORING),
                AuditEvent.actor_id.is_not(None),
            )
            .distinct()
        )
    )
    authors.add(grant.created_by_id)
    if grant.submitted_by_id is not None:
        authors.add(grant.submitted_by_id)
    return {author for author in authors if author is not None}


def _require_second_manager(session: Session, grant: Grant, actor: User, *, doing: str) -> None:
    """Four eyes: nobody who drafted, edited or submitted a grant approves or rejects it."""
    if actor.id in grant_authors(session, grant.id):
        raise NotAllowed(
            f"Grants need four eyes: a manager who did not draft, edit or submit it must "
            f"{doing} it, and you worked on this one."
        )


def _advance(
    session: Session,
    grant: Grant,
    actor: User,
    verb: str,
    target: GrantStatus,
    *,
    transaction_id: int | None = None,
    **values: object,
) -> Receipt:
    """The last step of a decision: move the grant to ``target``, record the audit event
    (always the last lock taken) and say what was done."""
    source = grant.status
    _move(session, grant, source, target, **values)
    after: dict[str, object] = {"status": target.value}
    if transaction_id is not None:
        after["transaction"] = transaction_id
    if values.get("decision_reason"):
        after["reason"] = values["decision_reason"]
    audit.record(
        session,
        actor_id=actor.id,
        action=f"grant.{verb}",
        object_type="grant",
        object_id=grant.id,
        before={"status": source.value},
        after=after,
    )
    return Receipt(f"grant.{verb}", object_id=grant.id, transaction_id=transaction_id)


def _once(
    session: Session,
    key: str,
    actor: User,
    verb: str,
    request: dict[str, object],
    perform: Callable[[], Receipt],
) -> Receipt:
    """Run a decision once per idempotency key."""
    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation=f"grant.{verb}",
        request=request,
        perform=perform,
    )


def _move(
    session: Session, grant: Grant, source: GrantStatus, target: GrantStatus, **values: object
) -> None:
    """Change a grant's status only if it is still ``source``; else :class:`InvalidState`."""
    moved = session.execute(
        update(Grant)
        .where(Grant.id == grant.id, Grant.status == source)
        .values(status=target, **values)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidState("This grant was changed by someone else just now; reload and try again.")
    session.refresh(grant)


def _refuse_over_budget(session: Session, grant: Grant) -> None:
    if grant.amount > fund_balances(session, grant.fund_id).remaining:
        raise InsufficientFunds(_over_budget_message(session, grant))


def _over_budget_message(session: Session, grant: Grant) -> str:
    remaining = fund_balances(session, grant.fund_id).remaining
    return (
        f"This grant of {format_money(grant.amount, grant.currency)} is more than the fund's "
        f"remaining budget of {format_money(remaining, grant.currency)}."
    )


def _snapshot(grant: Grant) -> dict[str, object]:
    return {
        "fund": grant.fund_id,
        "partner": grant.partner_id,
        "purpose": grant.purpose,
        "category": grant.category.value,
        "amount": grant.amount,
        "currency": grant.currency,
        "tranches": [[str(t.due_date), t.amount] for t in grant.tranches],
        "reports": [[r.title, str(r.due_date)] for r in grant.reports],
    }
