"""The partner portal's demo: two partner logins (Backline and MusiCares) and a funding round
on the plan year's partner-grants fund, open from a week ago for thirty days, reviewed by
the two demo managers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain.accounts import find_user_by_email
from grants.domain.rounds import Question, RoundPlan, open_round
from grants.models import Fund, FundingRound, FundKind, Partner, User

PARTNER_LOGINS = {"partner": "Backline", "partner.musicares": "MusiCares"}
"""The demo partner logins (email local parts) and the organisation each works for."""

DEMO_QUESTIONS = (
    Question("Who will the grant reach, and how will they hear of it?", "text"),
    Question("How many therapy sessions or events will it pay for?", "number"),
    Question("Which region will you work in first?", "choice", ("East", "Central", "West")),
    Question("Your latest annual report or accounts", "file", required=False),
)


def seed_portal(
    session: Session, *, today: date, email_for: Callable[[str], str], manager: User
) -> int:
    """Link the demo partner logins to their organisations and open the demo round if there
    is none; returns how many rounds it opened (0 or 1)."""
    session.flush()
    for local_part, name in PARTNER_LOGINS.items():
        person = find_user_by_email(session, email_for(local_part))
        organisation = session.scalar(select(Partner).where(Partner.display_name == name))
        if person is not None and organisation is not None and person.partner_id is None:
            person.partner_id = organisation.id
    if session.scalar(select(FundingRound.id)) is not None:
        return 0
    fund = session.scalar(
        select(Fund).where(
            Fund.kind == FundKind.GRANTS,
            Fund.currency == "USD",
            Fund.plan_year_start <= today,
            Fund.plan_year_end >= today,
        )
    )
    if fund is None:
        return 0
    reviewers = [
        user.id
        for user in (
            find_user_by_email(session, email_for(local_part))
            for local_part in ("manager", "manager.two")
        )
        if user is not None
    ]
    closes = min(today + timedelta(days=30), fund.plan_year_end)
    open_round(
        session,
        key=f"demo:round:{fund.id}",
        actor=manager,
        plan=RoundPlan(
            fund_id=fund.id,
            title=f"Therapy access {today.year}",
            categories=["therapy_access", "services"],
            max_amount="25,000.00",
            opens=datetime.combine(today - timedelta(days=7), time(9)),
            closes=datetime.combine(closes, time(17)),
            eligibility=(
                "US nonprofits that give music people (artists, crew and their families) "
                "free or low-cost mental-health care."
            ),
            questions=DEMO_QUESTIONS,
            criteria=["Need", "Reach", "Value for money"],
            reviewer_ids=reviewers,
        ),
    )
    return 1
