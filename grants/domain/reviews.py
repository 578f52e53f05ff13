"""Reviews: a round's reviewers declare any conflict of interest, then score and comment.

A reviewer first says, for each application, whether they have a conflict of interest. A
conflicted reviewer never scores it and never sees its scores (nor may they decide it); a
declared conflict is final, and declaring one after scoring removes the scores. A reviewer
who has not declared sees no scores of that application either, so that nobody scores
knowing how others scored. The round's scoring sheet shows each application's reviewers'
totals side by side and their mean, in a fixed number of queries however many applications
the round has.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.domain import audit
from grants.domain.checks import MANAGERS, clean_text, require_role
from grants.domain.errors import InvalidInput, InvalidState, NotAllowed, NotFound
from grants.domain.rounds import find_round
from grants.models import (
    SCORE_MAX,
    SCORE_MIN,
    Application,
    ApplicationState,
    Partner,
    Review,
    ReviewScore,
    RoundReviewer,
    User,
)

COMMENT_MAX = 4000
REVIEWABLE = (ApplicationState.SUBMITTED,)
DECIDED = (ApplicationState.AWARDED, ApplicationState.DECLINED)


def find_application(session: Session, application_id: int, *, lock: bool = False) -> Application:
    """Any application a manager may see (submitted or decided; never a draft)."""
    query = (
        select(Application)
        .where(
            Application.id == application_id,
            Application.state.in_((*REVIEWABLE, *DECIDED, ApplicationState.WITHDRAWN)),
            Application.submitted_at.is_not(None),
        )
        .execution_options(populate_existing=True)
    )
    application = session.scalar(query.with_for_update() if lock else query)
    if application is None:
        raise NotFound("There is no such application.")
    return application


def review_of(session: Session, application_id: int, reviewer_id: int) -> Review | None:
    return session.scalar(
        select(Review).where(
            Review.application_id == application_id, Review.reviewer_id == reviewer_id
        )
    )


def is_conflicted(session: Session, application_id: int, user_id: int) -> bool:
    review = review_of(session, application_id, user_id)
    return review is not None and review.conflicted is True


def may_see_scores(session: Session, application: Application, viewer: User) -> bool:
    """Whether ``viewer`` sees the application's scores: a reviewer of its round once they
    have declared no conflict; a manager who does not review the round unless they declared
    a conflict."""
    review = review_of(session, application.id, viewer.id)
    if review is not None and review.conflicted is not None:
        return review.conflicted is False
    reviewing = session.get(RoundReviewer, (application.round_id, viewer.id)) is not None
    return not reviewing


def declare(
    session: Session,
    *,
    actor: User,
    application_id: int,
    conflicted: bool,
    note: str,
    now: datetime,
) -> Review:
    """``actor`` declares whether they have a conflict of interest with the application."""
    require_role(actor, *MANAGERS, doing="review applications")
    application = find_application(session, application_id, lock=True)
    _require_reviewer(session, application, actor)
    if application.state not in REVIEWABLE:
        raise InvalidState(f"This application was {application.state.value}.")
    review = review_of(session, application.id, actor.id)
    if review is None:
        review = Review(application_id=application.id, reviewer_id=actor.id)
        session.add(review)
    if review.conflicted is True:
        raise InvalidState("You declared a conflict of interest with this application.")
    before = review.conflicted
    review.conflicted = conflicted
    review.conflict_note = clean_text(
        note, field="conflict_note", label="the conflict", required=False, limit=1000
    )
    review.declared_at = now
    if conflicted:
        review.scores.clear()
        review.comment = ""
        review.submitted_at = None
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="application.declare",
        object_type="application",
        object_id=application.id,
        before={"conflicted": before},
        after={"conflicted": conflicted},
    )
    return review


def score(
    session: Session,
    *,
    actor: User,
    application_id: int,
    scores: Mapping[int, int],
    comment: str,
    now: datetime,
) -> Review:
    """``actor``'s scores (criterion id to 1 to 5, every criterion) and comment, replacing any
    they gave before; only after declaring no conflict."""
    require_role(actor, *MANAGERS, doing="review applications")
    application = find_application(session, application_id, lock=True)
    _require_reviewer(session, application, actor)
    if application.state not in REVIEWABLE:
        raise InvalidState(f"This application was {application.state.value}.")
    review = review_of(session, application.id, actor.id)
    if review is None or review.conflicted is None:
        raise InvalidState("Declare whether you have a conflict of interest first.")
    if review.conflicted:
        raise NotAllowed("You declared a conflict of interest with this application.")
    criteria = application.round.criteria
    for number, criterion in enumerate(criteria, start=1):
        value = scores.get(criterion.id)
        if value is None:
            raise InvalidInput(f"Score criterion {number}: {criterion.title}.", field="scores")
        if not SCORE_MIN <= value <= SCORE_MAX:
            raise InvalidInput(
                f"Scores run from {SCORE_MIN} to {SCORE_MAX}.", field=f"score_{criterion.id}"
            )
    if set(scores) - {criterion.id for criterion in criteria}:
        raise InvalidInput("A score was given for a criterion this round does not have.")
    before = {str(s.criterion_id): s.score for s in review.scores}
    review.scores.clear()
    session.flush()
    review.scores.extend(
        ReviewScore(criterion_id=criterion.id, score=scores[criterion.id]) for criterion in criteria
    )
    review.comment = clean_text(
        comment, field="comment", label="the comment", required=False, limit=COMMENT_MAX
    )
    review.submitted_at = now
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="application.score",
        object_type="application",
        object_id=application.id,
        before=before or None,
        after={str(criterion.id): scores[criterion.id] for criterion in criteria},
    )
    return review


@dataclass(frozen=True)
class SheetRow:
    """One application on a round's scoring sheet. ``totals`` holds each reviewer's total
    (``None``: not scored yet; ``"conflict"``: declared a conflict) in the sheet's reviewer
    order; ``hidden`` when the viewer may not see this row's scores."""

    application_id: int
    partner: str
    amount_asked: int
    state: ApplicationState
    totals: tuple[int | str | None, ...]
    mean: Fraction | None
    hidden: bool


@dataclass(frozen=True)
class ScoringSheet:
    reviewers: tuple[tuple[int, str], ...]
    rows: tuple[SheetRow, ...]
    criteria_count: int


def scoring_sheet(session: Session, *, round_id: int, viewer: User) -> ScoringSheet:
    """Every submitted application of the round with its reviewers' totals and their mean,
    best mean first; five queries whatever the number of applications."""
    viewer_id = viewer.id
    funding_round = find_round(session, round_id)
    reviewers = tuple(
        (user_id, name)
        for user_id, name in session.execute(
            select(User.id, User.display_name)
            .join(RoundReviewer, RoundReviewer.user_id == User.id)
            .where(RoundReviewer.round_id == round_id)
            .order_by(User.display_name, User.id)
        )
    )
    applications = session.execute(
        select(
            Application.id,
            Partner.display_name,
            Application.amount_asked,
            Application.state,
        )
        .join(Partner, Partner.id == Application.partner_id)
        .where(Application.round_id == round_id, Application.submitted_at.is_not(None))
        .order_by(Application.id)
    ).all()
    totals = session.execute(
        select(
            Review.application_id,
            Review.reviewer_id,
            Review.conflicted,
            Review.submitted_at.is_not(None),
            func.coalesce(func.sum(ReviewScore.score), 0),
        )
        .join(Application, Application.id == Review.application_id)
        .outerjoin(ReviewScore, ReviewScore.review_id == Review.id)
        .where(Application.round_id == round_id)
        .group_by(Review.id, Review.application_id, Review.reviewer_id, Review.conflicted)
    ).all()
    found: dict[tuple[int, int], int | str | None] = {}
    own: dict[int, bool | None] = {}
    for application_id, reviewer_id, conflicted, scored, total in totals:
        if conflicted:
            found[(application_id, reviewer_id)] = "conflict"
        elif scored:
            found[(application_id, reviewer_id)] = int(total)
        if reviewer_id == viewer_id:
            own[application_id] = conflicted
    reviewing = any(reviewer_id == viewer_id for reviewer_id, _ in reviewers)
    rows = []
    for application_id, partner, asked, state in applications:
        declared = own.get(application_id)
        hidden = declared is True or (reviewing and declared is None)
        row_totals = tuple(found.get((application_id, reviewer_id)) for reviewer_id, _ in reviewers)
        numbers = [total for total in row_totals if isinstance(total, int)]
        mean = Fraction(sum(numbers), len(numbers)) if numbers and not hidden else None
        rows.append(
            SheetRow(
                application_id=application_id,
                partner=partner,
                amount_asked=asked,
                state=state,
                totals=tuple(None for _ in row_totals) if hidden else row_totals,
                mean=mean,
                hidden=hidden,
            )
        )
    scale = math.lcm(*range(1, len(reviewers) + 1))
    rows.sort(key=lambda row: _best_first(row, scale))
    return ScoringSheet(
        reviewers=reviewers, rows=tuple(rows), criteria_count=len(funding_round.criteria)
    )


def _best_first(row: SheetRow, scale: int) -> tuple[bool, int, int]:
    """Best mean first, then the oldest application; rows without a mean last. ``scale`` is
    a multiple of every possible count of totals, so ``mean * scale`` is a whole number:
    means are compared exactly, as integers, which is far quicker than comparing fractions."""
    if row.mean is None:
        return (True, 0, row.application_id)
    return (False, -(row.mean.numerator * scale // row.mean.denominator), row.application_id)


def _require_reviewer(session: Session, application: Application, actor: User) -> None:
    if session.get(RoundReviewer, (application.round_id, actor.id)) is None:
        raise NotAllowed("You are not a reviewer of this round.")
