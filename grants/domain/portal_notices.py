"""What the partner portal tells people: reviewers of a new application, a partner's people
of a decision on their application or report, managers of a report to review.

A notice says which organisation, round or report it is about and what was decided; the
reasons and comments stay behind its link, a page that asks its reader to sign in.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain.money import format_money
from grants.domain.notifications import (
    APPLICATION_DECIDED,
    APPLICATION_SUBMITTED,
    PROGRESS_DECIDED,
    PROGRESS_SUBMITTED,
    Notice,
    notify,
)
from grants.models import (
    Application,
    Grant,
    ReportDecision,
    ReportingRequirement,
    Role,
    User,
    UserRole,
)


def partner_people(session: Session, partner_ids: Iterable[int]) -> dict[int, list[int]]:
    """The active partner users of each of ``partner_ids``."""
    wanted = set(partner_ids)
    people: dict[int, list[int]] = {partner_id: [] for partner_id in wanted}
    if not wanted:
        return people
    rows = session.execute(
        select(User.partner_id, User.id)
        .join(UserRole, UserRole.user_id == User.id)
        .where(User.partner_id.in_(wanted), User.active, UserRole.role == Role.PARTNER)
        .order_by(User.id)
    )
    for partner_id, user_id in rows:
        if partner_id is not None:
            people[partner_id].append(user_id)
    return people


def application_submitted(session: Session, application: Application) -> None:
    """The round's reviewers, and the manager who opened it, learn of a new application."""
    funding_round = application.round
    told = {reviewer.user_id for reviewer in funding_round.reviewers}
    told.add(funding_round.created_by_id)
    active = session.scalars(select(User.id).where(User.id.in_(told), User.active))
    currency = funding_round.fund.currency
    notify(
        session,
        (
            Notice(
                user_id=user_id,
                kind=APPLICATION_SUBMITTED,
                event_key=f"application:{application.id}",
                title=f"{application.partner.display_name} applied to {funding_round.title}",
                body=(
                    f"{application.partner.display_name} submitted its application to "
                    f"{funding_round.title}, asking for "
                    f"{format_money(application.amount_asked, currency)}. Its page has the "
                    "answers, the budget and the documents; reviewers declare any conflict of "
                    "interest there before scoring."
                ),
                link=f"/manager/applications/{application.id}",
            )
            for user_id in sorted(active)
        ),
    )


def application_decided(session: Session, application: Application) -> None:
    """The applicant organisation's people learn the decision."""
    funding_round = application.round
    currency = funding_round.fund.currency
    if application.amount_awarded is not None:
        title = f"Your application to {funding_round.title} was awarded"
        body = (
            f"{format_money(application.amount_awarded, currency)} was awarded; the grant "
            "is being approved and its schedule follows."
        )
    else:
        title = f"Your application to {funding_round.title} was not funded"
        body = "The application page says why."
    notify(
        session,
        (
            Notice(
                user_id=user_id,
                kind=APPLICATION_DECIDED,
                event_key=f"application:{application.id}",
                title=title,
                body=body,
                link=f"/partner/applications/{application.id}",
            )
            for user_id in partner_people(session, [application.partner_id])[application.partner_id]
        ),
    )


def progress_submitted(
    session: Session, requirement: ReportingRequirement, version_number: int
) -> None:
    """The managers who drafted or sent the grant learn that a report version came in."""
    grant: Grant = requirement.grant
    told = {grant.created_by_id, grant.submitted_by_id, grant.decided_by_id} - {None}
    active = session.scalars(select(User.id).where(User.id.in_(told), User.active))
    notify(
        session,
        (
            Notice(
                user_id=user_id,
                kind=PROGRESS_SUBMITTED,
                event_key=f"progress:{requirement.id}:{version_number}",
                title=f"{grant.partner.display_name} submitted “{requirement.title}”",
                body="It waits for a manager to accept it or ask for changes.",
                link=f"/manager/reports/{requirement.id}",
            )
            for user_id in sorted(active)
        ),
    )


def progress_decided(
    session: Session, requirement: ReportingRequirement, version_number: int, decision: str
) -> None:
    """The organisation's people learn that their report was accepted or sent back."""
    grant: Grant = requirement.grant
    accepted = decision == ReportDecision.ACCEPTED.value
    notify(
        session,
        (
            Notice(
                user_id=user_id,
                kind=PROGRESS_DECIDED,
                event_key=f"progress:{requirement.id}:{version_number}",
                title=(
                    f"“{requirement.title}” was accepted"
                    if accepted
                    else f"Changes asked to “{requirement.title}”"
                ),
                body=(
                    "The report was accepted."
                    if accepted
                    else "A manager asked for changes; the report page says which."
                ),
                link=f"/partner/reports/{requirement.id}",
            )
            for user_id in partner_people(session, [grant.partner_id])[grant.partner_id]
        ),
    )
