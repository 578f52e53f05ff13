"""Funding rounds: partners apply to a grants fund, reviewers score, a manager decides.

A manager opens a :class:`FundingRound` on a grants fund, with its questions and the criteria
reviewers score against. A partner's people draft an :class:`Application` (answers, the
amount asked, a budget whose lines add up to it, a proposed schedule of tranches and
reports) and submit it before the round closes. Each reviewer of the round first declares
whether they have a conflict of interest with the application; a conflicted reviewer
neither sees the scores nor scores. An award makes a draft grant from the application,
which then goes through the grant's own four-eyes approval.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grants.models.base import Base, UTCDateTime, enum_column, utcnow
from grants.models.grants import GrantCategory

if TYPE_CHECKING:
    from grants.models.accounts import User
    from grants.models.funds import Fund
    from grants.models.grants import Grant
    from grants.models.partners import Partner

SCORE_MIN = 1
SCORE_MAX = 5
"""Every criterion is scored on the same scale, from 1 (weak) to 5 (strong)."""


class QuestionKind(StrEnum):
    """What a round's question takes as its answer."""

    TEXT = "text"
    NUMBER = "number"
    AMOUNT = "amount"
    """An amount of money in the fund's currency, kept in minor units."""
    CHOICE = "choice"
    FILE = "file"
    """A document, uploaded with the application's documents."""

    @property
    def label(self) -> str:
        return self.value.capitalize()


class ApplicationState(StrEnum):
    """Where an application is: ``draft`` → ``submitted`` → ``awarded`` or ``declined``; a
    draft may be ``withdrawn``."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    AWARDED = "awarded"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class FundingRound(Base):
    """A call for applications on one grants fund, open between two moments."""

    __tablename__ = "funding_rounds"
    __table_args__ = (
        CheckConstraint("length(title) > 0", name="title_not_empty"),
        CheckConstraint("max_amount > 0", name="max_amount_positive"),
        CheckConstraint("closes_at > opens_at", name="closes_after_opening"),
        Index("ix_funding_rounds_closes_at", "closes_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    fund_id: Mapped[int] = mapped_column(ForeignKey("funds.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    categories: Mapped[list[str]] = mapped_column(JSON)
    """The :class:`GrantCategory` values the round funds; an application chooses one."""
    max_amount: Mapped[int] = mapped_column(BigInteger)
    """The most one application may ask for, in minor units of the fund's currency."""
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime())
    """Submission is refused from this moment on."""
    eligibility: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    fund: Mapped[Fund] = relationship()
    questions: Mapped[list[RoundQuestion]] = relationship(
        order_by="RoundQuestion.position", cascade="all, delete-orphan"
    )
    criteria: Mapped[list[RoundCriterion]] = relationship(
        order_by="RoundCriterion.position", cascade="all, delete-orphan"
    )
    reviewers: Mapped[list[RoundReviewer]] = relationship(cascade="all, delete-orphan")

    @property
    def funded_categories(self) -> list[GrantCategory]:
        return [GrantCategory(value) for value in self.categories]

    def is_open(self, now: datetime) -> bool:
        """Whether applications can be submitted at ``now``."""
        return self.opens_at <= now < self.closes_at

    def __repr__(self) -> str:
        return f"<FundingRound {self.id} {self.title!r}>"


class RoundQuestion(Base):
    """One question a round asks every applicant."""

    __tablename__ = "round_questions"
    __table_args__ = (
        CheckConstraint("length(prompt) > 0", name="prompt_not_empty"),
        UniqueConstraint("round_id", "position", name="uq_round_questions_round_id_position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("funding_rounds.id", ondelete="CASCADE"))
    position: Mapped[int]
    prompt: Mapped[str] = mapped_column(String(500))
    kind: Mapped[QuestionKind] = mapped_column(enum_column(QuestionKind, "question_kind"))
    choices: Mapped[list[str]] = mapped_column(JSON, default=list)
    """The options of a ``choice`` question; empty for the other kinds."""
    required: Mapped[bool] = mapped_column(default=True)


class RoundCriterion(Base):
    """Something reviewers score each application on, from 1 to 5."""

    __tablename__ = "round_criteria"
    __table_args__ = (
        CheckConstraint("length(title) > 0", name="title_not_empty"),
        UniqueConstraint("round_id", "position", name="uq_round_criteria_round_id_position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("funding_rounds.id", ondelete="CASCADE"))
    position: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))


class RoundReviewer(Base):
    """A manager chosen to review a round's applications."""

    __tablename__ = "round_reviewers"

    round_id: Mapped[int] = mapped_column(
        ForeignKey("funding_rounds.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)

    user: Mapped[User] = relationship()


class Application(Base):
    """A partner's application to a round; one per partner and round."""

    __tablename__ = "applications"
    __table_args__ = (
        UniqueConstraint("round_id", "partner_id", name="uq_applications_round_id_partner_id"),
        CheckConstraint("amount_asked >= 0", name="amount_asked_not_negative"),
        CheckConstraint(
            "amount_awarded IS NULL OR amount_awarded > 0", name="amount_awarded_positive"
        ),
        CheckConstraint(
            "(state = 'awarded') = (grant_id IS NOT NULL)", name="grant_exactly_when_awarded"
        ),
        Index("ix_applications_partner_id_state", "partner_id", "state"),
        Index("ix_applications_round_id_state", "round_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("funding_rounds.id"))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    state: Mapped[ApplicationState] = mapped_column(
        enum_column(ApplicationState, "application_state"), default=ApplicationState.DRAFT
    )
    purpose: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[GrantCategory | None] = mapped_column(
        enum_column(GrantCategory, "grant_category")
    )
    amount_asked: Mapped[int] = mapped_column(BigInteger, default=0)
    """Minor units of the fund's currency."""
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    amount_awarded: Mapped[int | None] = mapped_column(BigInteger)
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("grants.id"), unique=True)
    """The draft grant the award made."""

    round: Mapped[FundingRound] = relationship()
    partner: Mapped[Partner] = relationship()
    grant: Mapped[Grant | None] = relationship()
    answers: Mapped[list[ApplicationAnswer]] = relationship(cascade="all, delete-orphan")
    budget_lines: Mapped[list[BudgetLine]] = relationship(
        order_by="BudgetLine.position", cascade="all, delete-orphan"
    )
    proposed_tranches: Mapped[list[ProposedTranche]] = relationship(
        order_by="ProposedTranche.due_date, ProposedTranche.id", cascade="all, delete-orphan"
    )
    proposed_reports: Mapped[list[ProposedReport]] = relationship(
        order_by="ProposedReport.due_date, ProposedReport.id", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<Application {self.id} {self.state}>"


class ApplicationAnswer(Base):
    """An application's answer to one question: text, a number or an amount, or a document."""

    __tablename__ = "application_answers"

    application_id: Mapped[int] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), primary_key=True
    )
    question_id: Mapped[int] = mapped_column(ForeignKey("round_questions.id"), primary_key=True)
    text: Mapped[str] = mapped_column(Text, default="")
    number: Mapped[int | None] = mapped_column(BigInteger)
    """A number, or an amount in minor units."""
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))


class BudgetLine(Base):
    """One line of an application's budget; the lines add up to the amount asked."""

    __tablename__ = "budget_lines"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("length(label) > 0", name="label_not_empty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int]
    label: Mapped[str] = mapped_column(String(200))
    amount: Mapped[int] = mapped_column(BigInteger)


class ProposedTranche(Base):
    """A payment the partner proposes; an award turns them into the grant's tranches."""

    __tablename__ = "proposed_tranches"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    due_date: Mapped[date]
    amount: Mapped[int] = mapped_column(BigInteger)


class ProposedReport(Base):
    """A progress report the partner proposes to deliver by a date."""

    __tablename__ = "proposed_reports"
    __table_args__ = (CheckConstraint("length(title) > 0", name="title_not_empty"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    due_date: Mapped[date]


class Review(Base):
    """One reviewer's review of one application: first a conflict declaration, then scores.

    ``conflicted`` is ``None`` until declared. A conflicted reviewer's review holds no
    scores and no comment.
    """

    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint(
            "application_id", "reviewer_id", name="uq_reviews_application_id_reviewer_id"
        ),
        CheckConstraint(
            "submitted_at IS NULL OR conflicted = false", name="scored_only_without_conflict"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    conflicted: Mapped[bool | None]
    conflict_note: Mapped[str] = mapped_column(Text, default="")
    declared_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    comment: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """When the scores were last saved."""

    reviewer: Mapped[User] = relationship()
    scores: Mapped[list[ReviewScore]] = relationship(cascade="all, delete-orphan")

    @property
    def total(self) -> int:
        return sum(score.score for score in self.scores)


class ReviewScore(Base):
    """A review's score on one criterion."""

    __tablename__ = "review_scores"
    __table_args__ = (
        CheckConstraint(f"score BETWEEN {SCORE_MIN} AND {SCORE_MAX}", name="score_on_scale"),
    )

    review_id: Mapped[int] = mapped_column(
        ForeignKey("reviews.id", ondelete="CASCADE"), primary_key=True
    )
    criterion_id: Mapped[int] = mapped_column(ForeignKey("round_criteria.id"), primary_key=True)
    score: Mapped[int]
