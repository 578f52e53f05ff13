"""What the help desk tells its navigators: a new request, a requester's answer, a request
overdue. Each notice names the request by its reference only; what it says stays behind the
link, a page that asks the navigator to sign in and records that they opened it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain.notifications import HELP_ANSWERED, HELP_NEW, HELP_OVERDUE, Notice, notify
from grants.models import HelpRequest, Role, User, UserRole


def desk_link(help_request: HelpRequest) -> str:
    """The navigators' page of ``help_request``."""
    return f"/helpdesk/requests/{help_request.reference}"


def navigators_of(session: Session, partner_id: int) -> list[int]:
    """The active navigators of partner ``partner_id``."""
    return list(
        session.scalars(
            select(User.id)
            .join(UserRole, UserRole.user_id == User.id)
            .where(User.partner_id == partner_id, User.active, UserRole.role == Role.NAVIGATOR)
            .order_by(User.id)
        )
    )


def tell_navigators_of_new(
    session: Session, help_request: HelpRequest, *, occasion: str = "new"
) -> None:
    """Tell the navigators of the request's partner that it came in: ``occasion`` tells one
    arrival from another (a request re-routed back to a desk is news there again)."""
    urgent = "Urgent: a" if help_request.urgent else "A"
    notify(
        session,
        (
            Notice(
                user_id=user_id,
                kind=HELP_NEW,
                event_key=f"help-{help_request.id}-{occasion}",
                title=f"{urgent} new help request, {help_request.reference}",
                body="A request came in at your help desk. Open it to read it.",
                link=desk_link(help_request),
            )
            for user_id in navigators_of(session, help_request.partner_id)
        ),
    )


def tell_assignee_of_answer(session: Session, help_request: HelpRequest, message_id: int) -> None:
    """Tell the navigator who has the request that its requester answered."""
    if help_request.assignee_id is None:
        return
    notify(
        session,
        [
            Notice(
                user_id=help_request.assignee_id,
                kind=HELP_ANSWERED,
                event_key=f"help-message-{message_id}",
                title=f"The requester of {help_request.reference} answered",
                body="Open the request to read their answer.",
                link=desk_link(help_request),
            )
        ],
    )


def tell_navigators_overdue(session: Session, help_request: HelpRequest, *, what: str) -> None:
    """Tell the navigators of the request's partner that it is overdue: ``what`` is
    ``pickup`` (urgent, not picked up in 4 hours) or ``answer`` (not answered in 2 working
    days)."""
    if what == "pickup":
        title = f"Urgent request {help_request.reference} not picked up in 4 hours"
        body = "An urgent request at your help desk is waiting for a navigator."
    else:
        title = f"Request {help_request.reference} not answered in 2 working days"
        body = "A request at your help desk is waiting for its first answer."
    notify(
        session,
        (
            Notice(
                user_id=user_id,
                kind=HELP_OVERDUE,
                event_key=f"help-{help_request.id}-{what}-overdue",
                title=title,
                body=body,
                link=desk_link(help_request),
            )
            for user_id in navigators_of(session, help_request.partner_id)
        ),
    )
