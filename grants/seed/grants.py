"""Grants to the demo partners at scale, through the domain operations, in every status."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain import funds
from grants.domain import grants as grant_operations
from grants.domain.money import Money
from grants.domain.tranches import close_grant, pay_tranche
from grants.models import Fund, FundKind, GrantCategory, Partner, Tranche, User
from grants.seed.demo import email_for

GRANT_PURPOSES = (
    ("Free counselling sessions for touring crew", GrantCategory.SERVICES),
    ("Online resource hub for artists' mental health", GrantCategory.RESOURCE_HUB),
    ("Wellness tents at summer festivals", GrantCategory.FESTIVAL_WELLNESS),
    ("Songwriter retreats with peer support", GrantCategory.SONGWRITER_EVENTS),
    ("Subsidised therapy for emerging artists", GrantCategory.THERAPY_ACCESS),
)


def grant_count(ambassadors: int) -> int:
    """How many grants a programme of ``ambassadors`` gets: two per purpose at least, one
    per 50 ambassadors, 200 at most."""
    return max(len(GRANT_PURPOSES) * 2, min(200, ambassadors // 50))


def seed_grants(
    session: Session, second_manager: User, ambassadors: int, now: datetime, rng: random.Random
) -> int:
    """Grants to the partners through the domain operations, in every status."""
    manager = session.scalars(select(User).where(User.email == email_for("manager"))).one()
    finance = session.scalars(select(User).where(User.email == email_for("finance"))).one()
    fund = session.scalars(
        select(Fund).where(Fund.kind == FundKind.GRANTS).order_by(Fund.id.desc())
    ).first()
    assert fund is not None
    partners = list(session.scalars(select(Partner).order_by(Partner.id)))
    count = grant_count(ambassadors)
    funds.change_budget(
        session,
        key="scale:grants-budget",
        actor=manager,
        fund_id=fund.id,
        amount=Money(count * 2_500_000, fund.currency),
        reason="Budget for the grants programme",
    )
    statuses = ("active", "closed", "approved", "submitted", "draft", "rejected", "cancelled")
    today = now.date()
    for number in range(count):
        purpose, category = GRANT_PURPOSES[number % len(GRANT_PURPOSES)]
        partner = partners[number % len(partners)]
        tranches = 1 + number % 4
        each = 100 * rng.randint(50, 200) * 10
        due = [
            min(fund.plan_year_end, fund.plan_year_start + timedelta(days=60 * (i + 1)))
            for i in range(tranches)
        ]
        draft = grant_operations.GrantDraft(
            fund_id=fund.id,
            partner_id=partner.id,
            purpose=f"{purpose} ({partner.display_name}, {number + 1})",
            category=category.value,
            amount=Money(each * tranches, fund.currency),
            tranches=[grant_operations.Instalment(d, Money(each, fund.currency)) for d in due],
            reports=[
                grant_operations.ReportDue("Outcomes report", fund.plan_year_end),
            ],
        )
        key = f"scale:grant:{number}"
        grant_id = grant_operations.create_grant(
            session, key=key, actor=manager, draft=draft
        ).object_id
        assert grant_id is not None
        status = statuses[number % len(statuses)]
        if status != "draft":
            grant_operations.submit_grant(
                session, key=f"{key}:submit", actor=manager, grant_id=grant_id, now=now
            )
        if status == "rejected":
            grant_operations.reject_grant(
                session,
                key=f"{key}:reject",
                actor=second_manager,
                grant_id=grant_id,
                reason="Outside this year's priorities",
                now=now,
            )
        if status in ("approved", "active", "closed", "cancelled"):
            grant_operations.approve_grant(
                session, key=f"{key}:approve", actor=second_manager, grant_id=grant_id, now=now
            )
        if status in ("active", "closed"):
            schedule = session.scalars(
                select(Tranche.id).where(Tranche.grant_id == grant_id).order_by(Tranche.id)
            ).all()
            paying = schedule if status == "closed" else schedule[: max(1, len(schedule) // 2)]
            for tranche_id in paying:
                pay_tranche(
                    session,
                    key=f"{key}:pay:{tranche_id}",
                    actor=finance,
                    tranche_id=tranche_id,
                    payment_reference=f"GR-{grant_id}-{tranche_id}",
                    paid_on=today,
                    today=today,
                )
        if status == "closed":
            close_grant(session, key=f"{key}:close", actor=manager, grant_id=grant_id, now=now)
        if status == "cancelled":
            grant_operations.cancel_grant(
                session,
                key=f"{key}:cancel",
                actor=manager,
                grant_id=grant_id,
                reason="The partner withdrew",
                now=now,
            )
        session.flush()
    return count
