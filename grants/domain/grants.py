"""Grants to partners: drafting, four-eyes approval, tranche payments, closing, cancelling.

Approval moves the grant's amount from its fund into the grant's own ledger account, so a
fund can never commit more than its budget, even when two approvals race for the last of it.
Each paid tranche moves its amount from the grant to the fund's "paid to partners" account;
cancelling releases what was not paid back to the fund. Every operation that moves money or
changes a grant's status takes an idempotency key and writes an audit event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from grants.domain import audit, notifications
from grants.domain.checks import (
    MANAGERS,
    Amount,
    amount_request,
    clean_text,
    read_amount,
    require_role,
    same_currency,
    within,
)
from grants.domain.errors import InsufficientFunds, InvalidInput, InvalidState, NotAllowed, NotFound
from grants.domain.idempotency import Receipt, idempotent
from grants.domain.ledger import Leg, fund_account, fund_balances, post
from grants.domain.money import DEFAULT_LOCALE, format_money
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
    amount: Amount


@dataclass(frozen=True)
class ReportDue:
    """Something the partner owes by a date, as typed."""

    title: str
    due_date: date


@dataclass(frozen=True)
class GrantDraft:
    """Everything a manager fills in for a grant. Amounts may be as typed: they are read in
    ``locale`` and the fund's currency."""

    fund_id: int
    partner_id: int
    purpose: str
    category: str
    amount: Amount
    tranches: Sequence[Instalment]
    reports: Sequence[ReportDue] = ()
    locale: str = DEFAULT_LOCALE

    def read(self, currency: str | None) -> GrantDraft:
        """The draft with its amounts read in ``currency``, its fund's (see
        :func:`~grants.domain.checks.read_amount`): each tranche first, a malformed one refused
        with its number, then the grant's amount."""
        if currency is None:
            return self
        tranches = []
        for number, tranche in enumerate(self.tranches, start=1):
            try:
                amount = read_amount(tranche.amount, currency, locale=self.locale)
            except InvalidInput as error:
                raise InvalidInput(f"Tranche {number}: {error.message}", field="tranches") from None
            tranches.append(Instalment(tranche.due_date, amount))
        amount = read_amount(self.amount, currency, locale=self.locale)
        return replace(self, amount=amount, tranches=tranches)

    def request(self) -> dict[str, object]:
        """The draft as plain values, for idempotency hashing."""
        return {
            "fund": self.fund_id,
            "partner": self.partner_id,
            "purpose": self.purpose,
            "category": self.category,
            "amount": list(amount_request(self.amount).values()),
            "tranches": [
                [str(t.due_date), *amount_request(t.amount).values()] for t in self.tranches
            ],
            "reports": [[r.title, str(r.due_date)] for r in self.reports],
        }


# --- drafting ------------------------------------------------------------------------------


def create_grant(session: Session, *, key: str, actor: User, draft: GrantDraft) -> Receipt:
    """Write a grant as a draft, with its schedule and reporting dates."""
    require_role(actor, *MANAGERS, doing="draft grants")
    chosen = session.get(Fund, draft.fund_id)  # held, so the operation finds it in the session
    draft = draft.read(None if chosen is None else chosen.currency)

    def perform() -> Receipt:
        return Receipt("grant.create", object_id=draft_grant(session, actor, draft).id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="grant.create",
        request=draft.request(),
        perform=perform,
    )


def draft_grant(session: Session, actor: User, draft: GrantDraft) -> Grant:
    """Write ``draft`` as a new draft grant by ``actor``, with its schedule, reporting dates
    and audit event: the work of :func:`create_grant`, and of an award of an application,
    within the caller's own idempotent operation."""
    grant = Grant(created_by_id=actor.id, status=GrantStatus.DRAFT)
    schedule = _fill(session, grant, draft)
    session.add(grant)
    session.flush()
    _replace_schedule(session, grant, draft, schedule)
    audit.record(
        session,
        actor_id=actor.id,
        action="grant.create",
        object_type="grant",
        object_id=grant.id,
        after=_snapshot(grant),
    )
    return grant


def update_grant(
    session: Session, *, key: str, actor: User, grant_id: int, draft: GrantDraft
) -> Receipt:
    """Replace a draft's details, schedule and reporting dates; only a draft is editable."""
    require_role(actor, *MANAGERS, doing="edit grants")
    chosen = session.get(Fund, draft.fund_id)  # held, so the operation finds it in the session
    draft = draft.read(None if chosen is None else chosen.currency)

    def perform() -> Receipt:
        grant = find_grant(session, grant_id, lock=True)
        if grant.status not in EDITABLE:
            raise InvalidState(f"This grant is {grant.status.value}: only a draft can be edited.")
        before = _snapshot(grant)
        schedule = _fill(session, grant, draft)
        session.flush()
        _replace_schedule(session, grant, draft, schedule)
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
        return Receipt("grant.update", object_id=grant.id)

    return run_once(session, key, actor, "update", {"grant": grant_id, **draft.request()}, perform)


def _fill(session: Session, grant: Grant, draft: GrantDraft) -> list[int]:
    """Check ``draft`` and copy it onto ``grant``; returns its tranches in minor units."""
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
    minor = same_currency(draft.amount, fund.currency, locale=draft.locale)
    if len(draft.tranches) > MAX_TRANCHES:
        raise InvalidInput(f"A grant has at most {MAX_TRANCHES} tranches.", field="tranches")
    if len(draft.reports) > MAX_REPORTS:
        raise InvalidInput(f"A grant has at most {MAX_REPORTS} reporting dates.", field="reports")
    schedule = []
    for number, instalment in enumerate(draft.tranches, start=1):
        try:
            schedule.append(same_currency(instalment.amount, fund.currency, locale=draft.locale))
        except InvalidInput as error:
            raise InvalidInput(f"Tranche {number}: {error.message}", field="tranches") from None
        within(
            instalment.due_date,
            fund.plan_year_start,
            fund.plan_year_end,
            field="tranches",
            label="every tranche's due date",
            locale=draft.locale,
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
    return schedule


def _replace_schedule(
    session: Session, grant: Grant, draft: GrantDraft, schedule: Sequence[int]
) -> None:
    """Replace the grant's tranches (``schedule``: each of ``draft``'s tranches in minor
    units, as :func:`_fill` read them) and its reporting dates."""
    session.execute(delete(Tranche).where(Tranche.grant_id == grant.id))
    session.execute(delete(ReportingRequirement).where(ReportingRequirement.grant_id == grant.id))
    session.add_all(
        Tranche(grant_id=grant.id, due_date=due, amount=minor)
        for due, minor in sorted(
            zip((t.due_date for t in draft.tranches), schedule, strict=True),
            key=lambda tranche: tranche[0],
        )
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
        grant = find_grant(session, grant_id, lock=True)
        require_status(grant, GrantStatus.DRAFT, doing="submitted")
        mismatch = schedule_mismatch(grant)
        if mismatch is not None:
            raise InvalidInput(mismatch, field="tranches")
        _refuse_over_budget(session, grant)
        notifications.grant_awaiting(
            session, grant, submitter=actor, authors=grant_authors(session, grant.id) | {actor.id}
        )
        return advance(
            session,
            grant,
            actor,
            "submit",
            GrantStatus.SUBMITTED,
            submitted_by_id=actor.id,
            submitted_at=now,
        )

    return run_once(session, key, actor, "submit", {"grant": grant_id}, perform)


def approve_grant(
    session: Session, *, key: str, actor: User, grant_id: int, now: datetime
) -> Receipt:
    """A second manager, who neither drafted, edited nor submitted it, approves: the amount
    is reserved from the fund into the grant."""
    require_role(actor, *MANAGERS, doing="approve grants")

    def perform() -> Receipt:
        grant = find_grant(session, grant_id, lock=True)
        require_status(grant, GrantStatus.SUBMITTED, doing="approved")
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
        notifications.grant_decided(session, grant, approved=True)
        return advance(
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

    return run_once(session, key, actor, "approve", {"grant": grant_id}, perform)


def reject_grant(
    session: Session, *, key: str, actor: User, grant_id: int, reason: str, now: datetime
) -> Receipt:
    """A second manager, who neither drafted, edited nor submitted it, turns a submitted
    grant down, with a reason."""
    require_role(actor, *MANAGERS, doing="reject grants")
    why = clean_text(reason, field="reason", label="a reason", required=True)

    def perform() -> Receipt:
        grant = find_grant(session, grant_id, lock=True)
        require_status(grant, GrantStatus.SUBMITTED, doing="rejected")
        _require_second_manager(session, grant, actor, doing="reject")
        notifications.grant_decided(session, grant, approved=False, reason=why)
        return advance(
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

    return run_once(session, key, actor, "reject", {"grant": grant_id, "reason": why}, perform)


def cancel_grant(
    session: Session, *, key: str, actor: User, grant_id: int, reason: str, now: datetime
) -> Receipt:
    """Stop a grant before it closes; whatever was reserved and not paid returns to the fund."""
    require_role(actor, *MANAGERS, doing="cancel grants")
    why = clean_text(reason, field="reason", label="a reason", required=True)

    def perform() -> Receipt:
        grant = find_grant(session, grant_id, lock=True)
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
        return advance(
            session,
            grant,
            actor,
            "cancel",
            GrantStatus.CANCELLED,
            transaction_id=transaction_id,
            decision_reason=why,
            ended_at=now,
        )

    return run_once(session, key, actor, "cancel", {"grant": grant_id, "reason": why}, perform)


# --- payment and closing -------------------------------------------------------------------


# --- shared steps --------------------------------------------------------------------------


def find_grant(session: Session, grant_id: int, *, lock: bool = False) -> Grant:
    """The grant, locked against concurrent changes when ``lock`` (a no-op on SQLite, whose
    transactions already hold the write lock)."""
    query = select(Grant).where(Grant.id == grant_id).execution_options(populate_existing=True)
    grant = session.scalar(query.with_for_update() if lock else query)
    if grant is None:
        raise NotFound("There is no such grant.")
    return grant


def require_status(grant: Grant, status: GrantStatus, *, doing: str) -> None:
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


def advance(
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
    move_status(session, grant, source, target, **values)
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


def run_once(
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


def move_status(
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
