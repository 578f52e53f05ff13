"""Funding rounds: a manager opens a call for applications on a grants fund.

A round names what it funds (grant categories), the most one application may ask for, when
it opens and closes (typed as the fund's wall-clock time), who may apply (eligibility text),
what it asks (questions of five kinds), what reviewers score (criteria, 1 to 5 each) and who
reviews (managers). Its questions are fixed once an application exists, and its criteria
once a review has been scored, so that no answer or score loses its question.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from grants.domain import audit
from grants.domain.checks import (
    MANAGERS,
    Amount,
    amount_request,
    clean_text,
    require_role,
    same_currency,
)
from grants.domain.dates import format_moment, wall_clock_moment
from grants.domain.errors import InvalidInput, InvalidState, NotFound
from grants.domain.idempotency import Receipt, idempotent
from grants.domain.money import DEFAULT_LOCALE
from grants.models import (
    Application,
    Fund,
    FundingRound,
    FundKind,
    GrantCategory,
    QuestionKind,
    Review,
    RoundCriterion,
    RoundQuestion,
    RoundReviewer,
    User,
    UserRole,
)

MAX_QUESTIONS = 20
MAX_CRITERIA = 10
MAX_CHOICES = 12
TITLE_MAX = 200
PROMPT_MAX = 500
ELIGIBILITY_MAX = 4000


@dataclass(frozen=True)
class Question:
    """A question as a manager types it; ``choices`` only for a ``choice`` question."""

    prompt: str
    kind: str
    choices: Sequence[str] = ()
    required: bool = True


@dataclass(frozen=True)
class RoundPlan:
    """Everything a manager fills in for a round. ``opens`` and ``closes`` are naive: the
    fund's wall-clock time."""

    fund_id: int
    title: str
    categories: Sequence[str]
    max_amount: Amount
    opens: datetime
    closes: datetime
    eligibility: str = ""
    questions: Sequence[Question] = ()
    criteria: Sequence[str] = ()
    reviewer_ids: Sequence[int] = field(default_factory=tuple)
    locale: str = DEFAULT_LOCALE

    def request(self) -> dict[str, object]:
        """The plan as plain values, for idempotency hashing."""
        return {
            "fund": self.fund_id,
            "title": self.title,
            "categories": sorted(self.categories),
            "max": list(amount_request(self.max_amount).values()),
            "opens": self.opens.isoformat(),
            "closes": self.closes.isoformat(),
            "eligibility": self.eligibility,
            "questions": [[q.prompt, q.kind, list(q.choices), q.required] for q in self.questions],
            "criteria": list(self.criteria),
            "reviewers": sorted(self.reviewer_ids),
        }


def open_round(session: Session, *, key: str, actor: User, plan: RoundPlan) -> Receipt:
    """Write a new round from ``plan``."""
    require_role(actor, *MANAGERS, doing="open funding rounds")

    def perform() -> Receipt:
        funding_round = FundingRound(created_by_id=actor.id)
        _fill(session, funding_round, plan)
        session.add(funding_round)
        session.flush()
        _replace_questions(session, funding_round, plan)
        _replace_criteria(session, funding_round, plan)
        _replace_reviewers(session, funding_round, plan)
        audit.record(
            session,
            actor_id=actor.id,
            action="round.open",
            object_type="funding_round",
            object_id=funding_round.id,
            after=snapshot(funding_round),
        )
        return Receipt("round.open", object_id=funding_round.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="round.open",
        request=plan.request(),
        perform=perform,
    )


def update_round(
    session: Session, *, key: str, actor: User, round_id: int, plan: RoundPlan
) -> Receipt:
    """Replace a round's details. Its fund never changes; its questions only while nobody
    has applied, and its criteria only while nobody has scored."""
    require_role(actor, *MANAGERS, doing="edit funding rounds")

    def perform() -> Receipt:
        funding_round = find_round(session, round_id, lock=True)
        if plan.fund_id != funding_round.fund_id:
            raise InvalidInput("A round's fund cannot change.", field="fund_id")
        before = snapshot(funding_round)
        _fill(session, funding_round, plan)
        if _questions_of(plan) != _questions_of_round(funding_round):
            if session.scalar(select(exists().where(Application.round_id == round_id))):
                raise InvalidState(
                    "Partners have started applying, so the questions can no longer change."
                )
            _replace_questions(session, funding_round, plan)
        if [" ".join(c.split()) for c in plan.criteria] != [
            c.title for c in funding_round.criteria
        ]:
            scored = (
                select(Review.id)
                .join(Application)
                .where(Application.round_id == round_id, Review.submitted_at.is_not(None))
            )
            if session.scalar(select(exists(scored))):
                raise InvalidState("Reviewers have scored, so the criteria can no longer change.")
            _replace_criteria(session, funding_round, plan)
        _replace_reviewers(session, funding_round, plan)
        session.flush()
        session.refresh(funding_round)
        after = snapshot(funding_round)
        if after != before:
            audit.record(
                session,
                actor_id=actor.id,
                action="round.update",
                object_type="funding_round",
                object_id=funding_round.id,
                before=before,
                after=after,
            )
        return Receipt("round.update", object_id=funding_round.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="round.update",
        request={"round": round_id, **plan.request()},
        perform=perform,
    )


def find_round(session: Session, round_id: int, *, lock: bool = False) -> FundingRound:
    query = (
        select(FundingRound)
        .where(FundingRound.id == round_id)
        .execution_options(populate_existing=True)
    )
    funding_round = session.scalar(query.with_for_update() if lock else query)
    if funding_round is None:
        raise NotFound("There is no such funding round.")
    return funding_round


def closing_words(funding_round: FundingRound, locale: str = DEFAULT_LOCALE) -> str:
    """When the round closes, as its fund's clocks say it, such as "12 Mar 2027, 17:00
    (America/New_York)"."""
    return format_moment(funding_round.closes_at, funding_round.fund.time_zone, locale)


def is_reviewer(session: Session, funding_round: FundingRound, user: User) -> bool:
    return any(reviewer.user_id == user.id for reviewer in funding_round.reviewers)


def snapshot(funding_round: FundingRound) -> dict[str, object]:
    return {
        "fund": funding_round.fund_id,
        "title": funding_round.title,
        "categories": list(funding_round.categories),
        "max_amount": funding_round.max_amount,
        "opens_at": funding_round.opens_at.isoformat(),
        "closes_at": funding_round.closes_at.isoformat(),
        "eligibility": funding_round.eligibility,
        "questions": [
            [q.prompt, q.kind.value, q.choices, q.required] for q in funding_round.questions
        ],
        "criteria": [c.title for c in funding_round.criteria],
        "reviewers": sorted(r.user_id for r in funding_round.reviewers),
    }


def _fill(session: Session, funding_round: FundingRound, plan: RoundPlan) -> None:
    """Check ``plan`` and copy its own columns onto ``funding_round``."""
    fund = session.get(Fund, plan.fund_id)
    if fund is None or fund.kind is not FundKind.GRANTS:
        raise InvalidInput("Choose a partner-grants fund.", field="fund_id")
    if fund.closed_at is not None:
        raise InvalidState(f"The plan year of {fund.name} is closed.")
    title = clean_text(
        " ".join(plan.title.split()),
        field="title",
        label="a title",
        required=True,
        limit=TITLE_MAX,
    )
    categories = []
    for value in plan.categories:
        try:
            category = GrantCategory(value)
        except ValueError:
            raise InvalidInput("Choose what the round funds.", field="categories") from None
        if category.value not in categories:
            categories.append(category.value)
    if not categories:
        raise InvalidInput("Choose at least one thing the round funds.", field="categories")
    max_amount = same_currency(
        plan.max_amount, fund.currency, field="max_amount", locale=plan.locale
    )
    opens = wall_clock_moment(plan.opens, fund.time_zone, field="opens", locale=plan.locale)
    closes = wall_clock_moment(plan.closes, fund.time_zone, field="closes", locale=plan.locale)
    if closes <= opens:
        raise InvalidInput("The round must close after it opens.", field="closes")
    funding_round.fund_id = fund.id
    funding_round.fund = fund
    funding_round.title = title
    funding_round.categories = categories
    funding_round.max_amount = max_amount
    funding_round.opens_at = opens
    funding_round.closes_at = closes
    funding_round.eligibility = clean_text(
        plan.eligibility,
        field="eligibility",
        label="who may apply",
        required=False,
        limit=ELIGIBILITY_MAX,
    )


def _questions_of(plan: RoundPlan) -> list[tuple[str, str, list[str], bool]]:
    """``plan``'s questions checked and cleaned, as :func:`_questions_of_round` gives them."""
    if len(plan.questions) > MAX_QUESTIONS:
        raise InvalidInput(f"A round asks at most {MAX_QUESTIONS} questions.", field="questions")
    cleaned = []
    for number, question in enumerate(plan.questions, start=1):
        prompt = clean_text(
            " ".join(question.prompt.split()),
            field="questions",
            label=f"question {number}",
            required=True,
            limit=PROMPT_MAX,
        )
        try:
            kind = QuestionKind(question.kind)
        except ValueError:
            raise InvalidInput(
                f"Question {number}: choose what kind of answer it takes.", field="questions"
            ) from None
        choices: list[str] = []
        if kind is QuestionKind.CHOICE:
            for choice in question.choices:
                option = " ".join(choice.split())[:200]
                if option and option not in choices:
                    choices.append(option)
            if len(choices) < 2 or len(choices) > MAX_CHOICES:
                raise InvalidInput(
                    f"Question {number}: a choice has 2 to {MAX_CHOICES} options.",
                    field="questions",
                )
        cleaned.append((prompt, kind.value, choices, question.required))
    return cleaned


def _questions_of_round(funding_round: FundingRound) -> list[tuple[str, str, list[str], bool]]:
    return [(q.prompt, q.kind.value, list(q.choices), q.required) for q in funding_round.questions]


def _replace_questions(session: Session, funding_round: FundingRound, plan: RoundPlan) -> None:
    questions = _questions_of(plan)
    funding_round.questions.clear()
    session.flush()
    funding_round.questions.extend(
        RoundQuestion(
            position=position,
            prompt=prompt,
            kind=QuestionKind(kind),
            choices=choices,
            required=required,
        )
        for position, (prompt, kind, choices, required) in enumerate(questions, start=1)
    )


def _replace_criteria(session: Session, funding_round: FundingRound, plan: RoundPlan) -> None:
    if len(plan.criteria) > MAX_CRITERIA:
        raise InvalidInput(f"A round has at most {MAX_CRITERIA} criteria.", field="criteria")
    titles = [
        clean_text(
            " ".join(title.split()),
            field="criteria",
            label=f"criterion {number}",
            required=True,
            limit=TITLE_MAX,
        )
        for number, title in enumerate(plan.criteria, start=1)
    ]
    if not titles:
        raise InvalidInput("Give at least one criterion reviewers score.", field="criteria")
    funding_round.criteria.clear()
    session.flush()
    funding_round.criteria.extend(
        RoundCriterion(position=position, title=title)
        for position, title in enumerate(titles, start=1)
    )


def _replace_reviewers(session: Session, funding_round: FundingRound, plan: RoundPlan) -> None:
    """The round's reviewers become ``plan``'s: active managers only."""
    wanted = set(plan.reviewer_ids)
    managers = set(
        session.scalars(
            select(User.id)
            .join(UserRole)
            .where(User.id.in_(wanted), User.active, UserRole.role.in_(MANAGERS))
        )
        if wanted
        else []
    )
    if wanted - managers:
        raise InvalidInput("Reviewers are active managers.", field="reviewer_ids")
    current = {reviewer.user_id for reviewer in funding_round.reviewers}
    for reviewer in list(funding_round.reviewers):
        if reviewer.user_id not in wanted:
            funding_round.reviewers.remove(reviewer)
    funding_round.reviewers.extend(
        RoundReviewer(user_id=user_id) for user_id in sorted(wanted - current)
    )
    session.flush()
