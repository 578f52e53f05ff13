"""Partner grants in the domain: the lifecycle, four eyes, the budget guard (also under a race),
tranche payments, reporting dates, and every refusal writing nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.domain import grants as awards
from grants.domain import tranches
from grants.domain.audit import verify_chain
from grants.domain.errors import (
    DomainError,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidInput,
    InvalidState,
    NotAllowed,
)
from grants.domain.funds import change_budget, lower_budget, open_fund
from grants.domain.grants import GrantDraft, Instalment, ReportDue
from grants.domain.ledger import fund_balances, verify_ledger
from grants.domain.money import Money
from grants.extensions import db as database
from grants.models import (
    AuditEvent,
    Country,
    Fund,
    FundKind,
    Grant,
    GrantStatus,
    LedgerTransaction,
    Partner,
    ReportingRequirement,
    Role,
    Tranche,
    User,
)
from tests.factories import make_user

NOW = datetime(2026, 3, 1, 9, tzinfo=UTC)
TODAY = NOW.date()


class Office:
    """A grants fund of 100,000.00 USD, a partner, two managers and a finance officer."""

    def __init__(self, db: Session) -> None:
        self.db = db
        self.drafter = make_user(db, Role.MANAGER)
        self.approver = make_user(db, Role.MANAGER)
        self.finance = make_user(db, Role.FINANCE)
        self.fund = open_fund(
            db,
            name="Partner grants 2026 (USD)",
            kind=FundKind.GRANTS,
            currency="USD",
            start=date(2026, 1, 1),
            end=date(2026, 12, 31),
        )
        change_budget(
            db,
            key="budget",
            actor=self.drafter,
            fund_id=self.fund.id,
            amount=Money(10_000_000, "USD"),
            reason="Board allocation",
        )
        self.partner = Partner(
            legal_name="Backline Care Inc.", display_name="Backline", country=Country.US
        )
        db.add(self.partner)
        db.flush()
        self.keys = 0

    def key(self) -> str:
        self.keys += 1
        return f"key-{self.keys}"

    def draft(self, minor: int = 3_000_000, **overrides: object) -> GrantDraft:
        fields: dict[str, object] = {
            "fund_id": self.fund.id,
            "partner_id": self.partner.id,
            "purpose": "Crisis line for touring crews",
            "category": "services",
            "amount": Money(minor, "USD"),
            "tranches": [
                Instalment(date(2026, 4, 1), Money(minor - minor // 3, "USD")),
                Instalment(date(2026, 9, 1), Money(minor // 3, "USD")),
            ],
            "reports": [ReportDue("Outcomes report", date(2026, 10, 1))],
        }
        fields.update(overrides)
        return GrantDraft(**fields)  # type: ignore[arg-type]

    def create(self, draft: GrantDraft | None = None) -> Grant:
        receipt = awards.create_grant(
            self.db, key=self.key(), actor=self.drafter, draft=draft or self.draft()
        )
        return self.db.get_one(Grant, receipt.object_id)

    def submit(self, grant: Grant, actor: User | None = None) -> object:
        return awards.submit_grant(
            self.db, key=self.key(), actor=actor or self.drafter, grant_id=grant.id, now=NOW
        )

    def approve(self, grant: Grant, actor: User | None = None) -> object:
        return awards.approve_grant(
            self.db, key=self.key(), actor=actor or self.approver, grant_id=grant.id, now=NOW
        )

    def approved(self, draft: GrantDraft | None = None) -> Grant:
        grant = self.create(draft)
        self.submit(grant)
        self.approve(grant)
        return grant

    def pay(self, tranche: Tranche, reference: str = "ACH-1", key: str | None = None) -> object:
        return tranches.pay_tranche(
            self.db,
            key=key or self.key(),
            actor=self.finance,
            tranche_id=tranche.id,
            payment_reference=reference,
            paid_on=TODAY,
            today=TODAY,
        )

    def footprint(self) -> tuple[int, ...]:
        return tuple(
            self.db.scalar(select(func.count()).select_from(model)) or 0
            for model in (Grant, Tranche, ReportingRequirement, LedgerTransaction, AuditEvent)
        )


@pytest.fixture
def office(db: Session) -> Office:
    return Office(db)


def refused(
    office: Office, error: type[DomainError], message: str, attempt: Callable[[], object]
) -> None:
    """``attempt`` raises ``error`` mentioning ``message``, and nothing but the refusal's
    idempotency record is written."""
    office.db.commit()
    before = office.footprint()
    with pytest.raises(error, match=message):
        attempt()
    office.db.commit()  # as an entry point would: only the refusal record may be written
    assert office.footprint() == before


def test_a_grant_goes_from_draft_to_closed_and_the_ledger_follows(office: Office) -> None:
    grant = office.create()
    assert grant.status is GrantStatus.DRAFT
    assert [t.amount for t in grant.tranches] == [2_000_000, 1_000_000]
    assert fund_balances(office.db, office.fund.id).remaining == 10_000_000

    office.submit(grant)
    assert grant.status is GrantStatus.SUBMITTED
    assert grant.submitted_by_id == office.drafter.id

    office.approve(grant)
    assert grant.status is GrantStatus.APPROVED
    assert grant.decided_by_id == office.approver.id
    balances = fund_balances(office.db, office.fund.id)
    assert (balances.budget, balances.remaining, balances.allocated) == (
        10_000_000,
        7_000_000,
        3_000_000,
    )

    first, second = grant.tranches
    office.pay(first, "ACH-1")
    assert grant.status is GrantStatus.ACTIVE
    assert first.paid_on == TODAY
    assert first.payment_reference == "ACH-1"
    with pytest.raises(InvalidState, match="tranche still to pay"):
        tranches.close_grant(
            office.db, key="early", actor=office.approver, grant_id=grant.id, now=NOW
        )

    office.pay(second, "ACH-2")
    tranches.close_grant(office.db, key="close", actor=office.finance, grant_id=grant.id, now=NOW)
    assert grant.status is GrantStatus.CLOSED
    balances = fund_balances(office.db, office.fund.id)
    assert (balances.remaining, balances.paid_to_partners) == (7_000_000, 3_000_000)
    assert verify_ledger(office.db) == []
    assert verify_chain(office.db) == []
    actions = office.db.scalars(
        select(AuditEvent.action).where(AuditEvent.object_type == "grant").order_by(AuditEvent.seq)
    ).all()
    assert actions == [
        "grant.create",
        "grant.submit",
        "grant.approve",
        "grant.pay_tranche",
        "grant.pay_tranche",
        "grant.close",
    ]


def test_approval_needs_a_second_manager(office: Office) -> None:
    grant = office.create()
    office.submit(grant)
    refused(office, NotAllowed, "four eyes", lambda: office.approve(grant, office.drafter))
    refused(
        office,
        NotAllowed,
        "four eyes",
        lambda: awards.reject_grant(
            office.db, key="r", actor=office.drafter, grant_id=grant.id, reason="No", now=NOW
        ),
    )
    refused(office, NotAllowed, "cannot approve", lambda: office.approve(grant, office.finance))
    office.approve(grant)
    assert grant.status is GrantStatus.APPROVED


def test_nobody_who_drafted_edited_or_submitted_a_grant_decides_it(
    db: Session, office: Office
) -> None:
    """Four eyes: every author of a grant (whoever drafted, edited or submitted it) is
    refused approval and rejection, whatever path changed the draft; a third manager
    decides it."""
    editor = make_user(db, Role.MANAGER)
    admin = make_user(db, Role.ADMIN)
    third = make_user(db, Role.MANAGER)

    def reject(grant: Grant, actor: User) -> object:
        return awards.reject_grant(
            office.db, key=office.key(), actor=actor, grant_id=grant.id, reason="No", now=NOW
        )

    def edit(grant: Grant, actor: User, minor: int) -> None:
        awards.update_grant(
            office.db, key=office.key(), actor=actor, grant_id=grant.id, draft=office.draft(minor)
        )

    drafted_by_one_submitted_by_another = office.create()
    office.submit(drafted_by_one_submitted_by_another, admin)
    edited_by_another = office.create()
    edit(edited_by_another, editor, 600_000)
    office.submit(edited_by_another)
    submitted_by_its_drafter = office.create()
    office.submit(submitted_by_its_drafter)

    authors = [
        (drafted_by_one_submitted_by_another, office.drafter, "drafted"),
        (drafted_by_one_submitted_by_another, admin, "submitted"),
        (edited_by_another, editor, "edited"),
        (edited_by_another, office.drafter, "drafted"),
        (submitted_by_its_drafter, office.drafter, "drafted"),
    ]
    for grant, author, role in authors:
        assert awards.grant_authors(office.db, grant.id) >= {author.id}
        for decide in (office.approve, reject):
            refused(
                office,
                NotAllowed,
                "four eyes: a manager who did not draft, edit or submit it",
                lambda grant=grant, author=author, decide=decide: decide(grant, author),
            )
        assert grant.status is GrantStatus.SUBMITTED, role

    office.approve(drafted_by_one_submitted_by_another, third)
    office.approve(edited_by_another, third)
    reject(submitted_by_its_drafter, third)
    assert [
        (g.status, g.decided_by_id)
        for g in (drafted_by_one_submitted_by_another, edited_by_another, submitted_by_its_drafter)
    ] == [
        (GrantStatus.APPROVED, third.id),
        (GrantStatus.APPROVED, third.id),
        (GrantStatus.REJECTED, third.id),
    ]
    assert awards.grant_authors(office.db, edited_by_another.id) == {
        office.drafter.id,
        editor.id,
    }


def test_an_edit_that_changes_nothing_makes_nobody_an_author(office: Office) -> None:
    grant = office.create()
    awards.update_grant(
        office.db,
        key=office.key(),
        actor=office.approver,
        grant_id=grant.id,
        draft=office.draft(),
    )
    office.submit(grant)
    assert awards.grant_authors(office.db, grant.id) == {office.drafter.id}
    office.approve(grant)
    assert grant.status is GrantStatus.APPROVED


def test_only_a_draft_is_editable(office: Office) -> None:
    grant = office.create()
    awards.update_grant(
        office.db,
        key=office.key(),
        actor=office.approver,
        grant_id=grant.id,
        draft=office.draft(
            600_000, purpose="Festival wellness tents", category="festival_wellness"
        ),
    )
    edited = office.db.get_one(Grant, grant.id)
    assert (edited.amount, edited.purpose) == (600_000, "Festival wellness tents")
    assert sum(t.amount for t in edited.tranches) == 600_000
    office.submit(grant)
    refused(
        office,
        InvalidState,
        "only a draft can be edited",
        lambda: awards.update_grant(
            office.db,
            key=office.key(),
            actor=office.drafter,
            grant_id=grant.id,
            draft=office.draft(700_000),
        ),
    )


def test_tranches_must_add_up_to_the_amount_when_submitted(office: Office) -> None:
    short = office.draft(
        tranches=[Instalment(date(2026, 4, 1), Money(2_999_999, "USD"))],
    )
    grant = office.create(short)
    refused(
        office,
        InvalidInput,
        r"add up to \$29,999.99, not the grant's \$30,000.00",
        lambda: office.submit(grant),
    )
    empty = office.create(office.draft(tranches=[]))
    refused(office, InvalidInput, "add up to", lambda: office.submit(empty))


def test_a_grant_cannot_exceed_the_fund(office: Office) -> None:
    too_big = office.create(office.draft(10_000_001))
    refused(
        office,
        InsufficientFunds,
        "remaining budget of \\$100,000.00",
        lambda: office.submit(too_big),
    )

    first = office.create(office.draft(6_000_000))
    second = office.create(office.draft(6_000_000))
    office.submit(first)
    office.submit(second)
    office.approve(first)
    refused(
        office,
        InsufficientFunds,
        "remaining budget of \\$40,000.00",
        lambda: office.approve(second),
    )
    assert second.status is GrantStatus.SUBMITTED

    refused(
        office,
        InsufficientFunds,
        "below what is already allocated or committed",
        lambda: lower_budget(
            office.db,
            key="cut",
            actor=office.drafter,
            fund_id=office.fund.id,
            amount=Money(4_000_001, "USD"),
            reason="Cut",
        ),
    )


def test_cancelling_releases_what_was_not_paid(office: Office) -> None:
    grant = office.approved()
    office.pay(grant.tranches[0])
    awards.cancel_grant(
        office.db,
        key="c",
        actor=office.drafter,
        grant_id=grant.id,
        reason="Programme ended",
        now=NOW,
    )
    assert grant.status is GrantStatus.CANCELLED
    balances = fund_balances(office.db, office.fund.id)
    assert (balances.remaining, balances.paid_to_partners) == (8_000_000, 2_000_000)
    refused(
        office, InvalidState, "only approved grants are paid", lambda: office.pay(grant.tranches[1])
    )
    refused(
        office,
        InvalidState,
        "cannot be cancelled",
        lambda: awards.cancel_grant(
            office.db, key="c2", actor=office.drafter, grant_id=grant.id, reason="Again", now=NOW
        ),
    )
    assert verify_ledger(office.db) == []


def test_paying_a_tranche_is_idempotent(office: Office) -> None:
    grant = office.approved()
    tranche = grant.tranches[0]
    first = office.pay(tranche, "ACH-7", key="pay-once")
    again = office.pay(tranche, "ACH-7", key="pay-once")
    assert again.replayed  # type: ignore[attr-defined]
    assert again.transaction_id == first.transaction_id  # type: ignore[attr-defined]
    other_key = office.pay(tranche, "ACH-7")
    assert other_key.transaction_id == first.transaction_id  # type: ignore[attr-defined]
    refused(
        office,
        IdempotencyConflict,
        "already used for a different request",
        lambda: office.pay(tranche, "ACH-8", key="pay-once"),
    )
    refused(
        office,
        InvalidState,
        "already paid on Mar 1, 2026 with reference ACH-7",
        lambda: office.pay(tranche, "ACH-8"),
    )
    assert fund_balances(office.db, office.fund.id).paid_to_partners == 2_000_000


def test_payment_refusals(office: Office) -> None:
    grant = office.create()
    refused(
        office, InvalidState, "only approved grants are paid", lambda: office.pay(grant.tranches[0])
    )
    office.submit(grant)
    office.approve(grant)
    tranche = grant.tranches[0]
    refused(
        office,
        NotAllowed,
        "cannot pay",
        lambda: tranches.pay_tranche(
            office.db,
            key="m",
            actor=office.approver,
            tranche_id=tranche.id,
            payment_reference="X",
            paid_on=TODAY,
            today=TODAY,
        ),
    )
    for reference, paid_on, message in (
        (" ", TODAY, "Enter a payment reference"),
        ("ACH", date(2026, 3, 2), "cannot be in the future"),
        ("ACH", date(2025, 12, 31), "before the fund's plan year"),
        ("A" * 101, TODAY, "at most 100 characters"),
    ):
        refused(
            office,
            InvalidInput,
            message,
            lambda reference=reference, paid_on=paid_on: tranches.pay_tranche(
                office.db,
                key=office.key(),
                actor=office.finance,
                tranche_id=tranche.id,
                payment_reference=reference,
                paid_on=paid_on,
                today=TODAY,
            ),
        )


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"amount": Money(0, "USD")}, InvalidInput, "greater than zero"),
        ({"amount": Money(-100, "USD")}, InvalidInput, "greater than zero"),
        ({"amount": Money(100, "GBP")}, InvalidInput, "USD account; the amount was given in GBP"),
        (
            {"tranches": [Instalment(date(2027, 1, 1), Money(3_000_000, "USD"))]},
            InvalidInput,
            "must fall in the plan year, Jan 1, 2026 to Dec 31, 2026",
        ),
        (
            {"tranches": [Instalment(date(2026, 5, 1), Money(0, "USD"))]},
            InvalidInput,
            "greater than zero",
        ),
        ({"purpose": "  "}, InvalidInput, "Enter the purpose"),
        ({"category": "parties"}, InvalidInput, "Choose a category"),
        ({"partner_id": 999_999}, InvalidInput, "Choose a partner"),
        ({"reports": [ReportDue(" ", date(2026, 5, 1))]}, InvalidInput, "Enter what the partner"),
    ],
)
def test_bad_drafts_are_refused(
    office: Office, overrides: dict[str, object], error: type[DomainError], message: str
) -> None:
    refused(office, error, message, lambda: office.create(office.draft(**overrides)))


def test_a_therapy_fund_or_a_deactivated_partner_takes_no_grants(office: Office) -> None:
    therapy = open_fund(
        office.db,
        name="Therapy US 2026 (USD)",
        kind=FundKind.THERAPY,
        currency="USD",
        start=date(2026, 1, 1),
        end=date(2026, 12, 31),
    )
    refused(
        office,
        InvalidInput,
        "partner-grants fund",
        lambda: office.create(office.draft(fund_id=therapy.id)),
    )
    office.partner.active = False
    refused(office, InvalidState, "deactivated", lambda: office.create())


def test_reports_are_marked_received_once(office: Office) -> None:
    grant = office.create()
    report = grant.reports[0]
    refused(
        office,
        InvalidState,
        "once the grant is approved",
        lambda: tranches.mark_report_received(
            office.db, key=office.key(), actor=office.drafter, report_id=report.id, now=NOW
        ),
    )
    office.submit(grant)
    office.approve(grant)
    tranches.mark_report_received(
        office.db, key=office.key(), actor=office.drafter, report_id=report.id, now=NOW
    )
    later = datetime(2026, 4, 1, tzinfo=UTC)
    tranches.mark_report_received(
        office.db, key=office.key(), actor=office.approver, report_id=report.id, now=later
    )
    assert report.received_at == NOW
    assert report.received_by_id == office.drafter.id
    events = office.db.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == "grant.report_received")
    )
    assert events == 1


def test_two_approvals_racing_for_the_last_of_the_budget(app: Flask, office: Office) -> None:
    """Two grants that each fit the fund but not together, approved at the same moment by
    two managers: exactly one wins, on SQLite and on PostgreSQL."""
    first = office.create(office.draft(6_000_000))
    second = office.create(office.draft(6_000_000))
    office.submit(first)
    office.submit(second)
    grant_ids = [first.id, second.id]
    approver_id = office.approver.id
    office.db.commit()

    barrier = threading.Barrier(2)
    outcomes: dict[int, str] = {}
    failures: list[BaseException] = []

    def approve(grant_id: int) -> None:
        try:
            with app.app_context():
                session = database.session
                barrier.wait(30)
                try:
                    awards.approve_grant(
                        session,
                        key=f"race-{grant_id}",
                        actor=session.get_one(User, approver_id),
                        grant_id=grant_id,
                        now=NOW,
                    )
                    outcomes[grant_id] = "approved"
                except InsufficientFunds:
                    outcomes[grant_id] = "refused"
                session.commit()
                session.remove()
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=approve, args=(grant_id,)) for grant_id in grant_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures
    assert sorted(outcomes.values()) == ["approved", "refused"]

    office.db.expire_all()
    balances = fund_balances(office.db, office.fund.id)
    assert (balances.remaining, balances.allocated) == (4_000_000, 6_000_000)
    statuses = sorted(office.db.get_one(Grant, grant_id).status.value for grant_id in grant_ids)
    assert statuses == ["approved", "submitted"]
    assert verify_ledger(office.db) == []
    assert verify_chain(office.db) == []
    assert office.db.get_one(Fund, office.fund.id).closed_at is None
