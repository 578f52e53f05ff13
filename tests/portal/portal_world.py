"""The small world the partner-portal tests start from: a grants fund of 100,000.00 USD, two
partner organisations with one person each, three managers and a finance officer, and
helpers that take an application from a draft to an award."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.orm import Session

from grants.domain import applications, awards, progress, reviews, rounds
from grants.domain.applications import ApplicationDraft, BudgetItem
from grants.domain.funds import change_budget, open_fund
from grants.domain.grants import Instalment, ReportDue, approve_grant, submit_grant
from grants.domain.money import Money
from grants.models import Application, Country, FundKind, Grant, Partner, Role, User
from tests.factories import make_user

NOW = datetime(2026, 3, 2, 15, tzinfo=UTC)
"""A Monday afternoon in New York's morning: the round below is open."""
OPENS = datetime.combine(date(2026, 3, 1), time(9))
CLOSES = datetime.combine(date(2026, 3, 31), time(17))
"""The round's opening and closing, as New York's clocks show them (17:00 EDT is 21:00 UTC)."""


class Portal:
    """A fund, two partners (Backline, MusiCares) with one person each, managers, finance."""

    def __init__(self, db: Session) -> None:
        self.db = db
        self.keys = itertools.count(1)
        self.opener = make_user(db, Role.MANAGER, name="Ola Opener")
        self.reviewer = make_user(db, Role.MANAGER, name="Rita Reviewer")
        self.second = make_user(db, Role.MANAGER, name="Sam Second")
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
            actor=self.opener,
            fund_id=self.fund.id,
            amount=Money(10_000_000, "USD"),
            reason="Board allocation",
        )
        self.backline = self.partner("Backline")
        self.musicares = self.partner("MusiCares")
        self.backline_person = self.person(self.backline)
        self.musicares_person = self.person(self.musicares)

    def key(self) -> str:
        return f"key-{next(self.keys)}"

    def partner(self, name: str) -> Partner:
        partner = Partner(legal_name=f"{name} Inc.", display_name=name, country=Country.US)
        self.db.add(partner)
        self.db.flush()
        return partner

    def person(self, partner: Partner) -> User:
        user = make_user(self.db, Role.PARTNER)
        user.partner_id = partner.id
        self.db.flush()
        return user

    def open_round(self, **changes: object) -> int:
        plan = rounds.RoundPlan(
            fund_id=self.fund.id,
            title="Therapy access 2026",
            categories=["therapy_access", "services"],
            max_amount="20,000.00",
            opens=OPENS,
            closes=CLOSES,
            eligibility="US nonprofits serving music people.",
            questions=[
                rounds.Question("Who will you reach?", "text"),
                rounds.Question("How many sessions?", "number"),
                rounds.Question("Your annual budget", "amount", required=False),
                rounds.Question("Region", "choice", ["East", "West"]),
            ],
            criteria=["Need", "Reach", "Value for money"],
            reviewer_ids=[self.reviewer.id, self.second.id],
        )
        for name, value in changes.items():
            plan = type(plan)(**{**plan.__dict__, name: value})
        receipt = rounds.open_round(self.db, key=self.key(), actor=self.opener, plan=plan)
        assert receipt.object_id is not None
        return receipt.object_id

    def complete_draft(self, round_id: int, amount: str = "12,000.00") -> ApplicationDraft:
        funding_round = rounds.find_round(self.db, round_id)
        q = {question.prompt: question.id for question in funding_round.questions}
        return ApplicationDraft(
            purpose="Free therapy sessions for touring crew.",
            category="therapy_access",
            amount=amount,
            answers={
                q["Who will you reach?"]: "Touring crew in the US.",
                q["How many sessions?"]: "120",
                q["Region"]: "East",
            },
            budget=[BudgetItem("Therapists", "10,000.00"), BudgetItem("Admin", "2,000.00")],
            tranches=[
                Instalment(date(2026, 4, 1), "6,000.00"),
                Instalment(date(2026, 9, 1), "6,000.00"),
            ],
            reports=[ReportDue("Mid-year report", date(2026, 8, 15))],
        )

    def apply(self, round_id: int, person: User, *, submit: bool = True) -> Application:
        application = applications.start_application(
            self.db, actor=person, round_id=round_id, now=NOW
        )
        applications.save_application(
            self.db,
            actor=person,
            application_id=application.id,
            draft=self.complete_draft(round_id),
            now=NOW,
        )
        if submit:
            applications.submit_application(
                self.db, key=self.key(), actor=person, application_id=application.id, now=NOW
            )
        self.db.refresh(application)
        return application

    def award_and_approve(self, application: Application, amount: str = "12,000.00") -> Grant:
        awards.award(
            self.db,
            key=self.key(),
            actor=self.opener,
            application_id=application.id,
            amount=amount,
            now=NOW,
        )
        self.db.refresh(application)
        assert application.grant_id is not None
        submit_grant(
            self.db, key=self.key(), actor=self.opener, grant_id=application.grant_id, now=NOW
        )
        approve_grant(
            self.db, key=self.key(), actor=self.second, grant_id=application.grant_id, now=NOW
        )
        return self.db.get_one(Grant, application.grant_id)

    def later(self, days: int) -> datetime:
        return NOW + timedelta(days=days)


__all__ = ["NOW", "Portal", "applications", "awards", "progress", "reviews", "rounds"]
