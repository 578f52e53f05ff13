"""The help desk, the navigators' side: their partner's queue, and answering a request.

A navigator reaches only the requests routed to the partner they work for
(``User.partner_id``); anyone else's, like one that does not exist, is :class:`NotFound`.
The queue lists requests without their content (reference, topic, country, age, who has
it); reading one is :func:`open_request`, which the audit trail records every time. A
navigator takes a request (:func:`assign`), answers it (:func:`reply`: the answer is emailed
to the requester through the outbox, with a new private link, and may carry hub services),
and closes it with an outcome (:func:`close`).

Operations take an idempotency key, flush and never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from grants.domain import audit
from grants.domain import outbox as messages
from grants.domain.checks import require_role
from grants.domain.errors import InvalidInput, InvalidState, NotFound
from grants.domain.helpdesk import REPLY_EMAIL, clean_message
from grants.domain.helpdesk_links import REFERENCE, new_link
from grants.domain.idempotency import Receipt, idempotent
from grants.domain.paging import Page, paginate_rows
from grants.models import (
    Author,
    HelpMessage,
    HelpRequest,
    HelpState,
    HubService,
    LinkKind,
    Outcome,
    Role,
    User,
)

QUEUE_PER_PAGE = 50
SERVICES_MAX = 10
"""The most hub services one answer carries."""
NAVIGATOR_OUTCOMES = (Outcome.CONNECTED, Outcome.REFERRED, Outcome.NO_REPLY, Outcome.OUT_OF_SCOPE)
"""The outcomes a navigator closes a request with (withdrawn is the requester's)."""


def request_for_navigator(
    session: Session, actor: User, reference: str, *, lock: bool = False
) -> HelpRequest:
    """Request ``reference`` if ``actor`` is a navigator of the partner it is routed to;
    :class:`NotFound` otherwise, exactly as for a request that does not exist. With ``lock``,
    read afresh and locked until the transaction ends (see
    :func:`grants.domain.helpdesk.locked_request`)."""
    if (
        not actor.has_role(Role.NAVIGATOR)
        or actor.partner_id is None
        or not REFERENCE.fullmatch(reference)
    ):
        raise NotFound("There is no such request at your help desk.")
    query = select(HelpRequest).where(
        HelpRequest.reference == reference, HelpRequest.partner_id == actor.partner_id
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    found = session.scalar(query)
    if found is None:
        raise NotFound("There is no such request at your help desk.")
    return found


def open_request(session: Session, actor: User, reference: str, *, now: datetime) -> HelpRequest:
    """Request ``reference`` for ``actor`` to read; recorded in the audit trail each time."""
    found = request_for_navigator(session, actor, reference)
    audit.record(
        session,
        actor_id=actor.id,
        action="help_request.opened",
        object_type="help_request",
        object_id=found.id,
        after={"reference": found.reference},
    )
    return found


# --- the queue ------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    """A request as the queue lists it: nothing of what it says."""

    reference: str
    urgent: bool
    topic: str
    country: str
    language: str
    state: HelpState
    created_at: datetime
    assignee: str | None
    assigned_to_me: bool
    overdue: bool
    answered: bool
    waiting_on_desk: bool
    """The requester wrote last (or nobody has answered yet)."""
    outcome: Outcome | None


@dataclass(frozen=True)
class QueueCounts:
    """The desk's open requests: how many, how many urgent, how many overdue."""

    open: int
    urgent: int
    overdue: int


def overdue_clause(now: datetime) -> Any:
    """SQL: an open request past a deadline it has not met."""
    return and_(
        HelpRequest.state != HelpState.CLOSED,
        or_(
            and_(HelpRequest.picked_up_at.is_(None), HelpRequest.pickup_due_at <= now),
            and_(HelpRequest.first_answered_at.is_(None), HelpRequest.answer_due_at <= now),
        ),
    )


def queue_counts(session: Session, partner_id: int, *, now: datetime) -> QueueCounts:
    """How many requests are open at ``partner_id``'s desk, urgent, and overdue."""
    row = session.execute(
        select(
            func.count(),
            func.count(case((HelpRequest.urgent, 1))),
            func.count(case((overdue_clause(now), 1))),
        ).where(HelpRequest.partner_id == partner_id, HelpRequest.state != HelpState.CLOSED)
    ).one()
    return QueueCounts(open=row[0], urgent=row[1], overdue=row[2])


def queue(
    session: Session, actor: User, *, closed: bool = False, page: int = 1, now: datetime
) -> Page[QueueRow]:
    """A page of ``actor``'s desk: open requests urgent first, then oldest first; or, with
    ``closed``, the closed ones (not yet erased), most recently closed first."""
    if actor.partner_id is None:
        return Page(items=[], number=1, per_page=QUEUE_PER_PAGE, total=0)
    assignee = aliased(User)
    last_author = (
        select(HelpMessage.author)
        .where(HelpMessage.request_id == HelpRequest.id)
        .order_by(HelpMessage.id.desc())
        .limit(1)
        .correlate(HelpRequest)
        .scalar_subquery()
    )
    where = [HelpRequest.partner_id == actor.partner_id]
    if closed:
        where += [HelpRequest.state == HelpState.CLOSED, HelpRequest.erased_at.is_(None)]
        order: list[Any] = [HelpRequest.closed_at.desc(), HelpRequest.id.desc()]
    else:
        where.append(HelpRequest.state != HelpState.CLOSED)
        order = [HelpRequest.urgent.desc(), HelpRequest.created_at, HelpRequest.id]
    query = (
        select(
            HelpRequest.reference,
            HelpRequest.urgent,
            HelpRequest.topic,
            HelpRequest.country,
            HelpRequest.language,
            HelpRequest.state,
            HelpRequest.created_at,
            assignee.display_name.label("assignee"),
            HelpRequest.assignee_id,
            case((overdue_clause(now), True), else_=False).label("overdue"),
            HelpRequest.first_answered_at,
            last_author.label("last_author"),
            HelpRequest.outcome,
        )
        .outerjoin(assignee, assignee.id == HelpRequest.assignee_id)
        .where(*where)
        .order_by(*order)
    )
    counted = select(func.count()).select_from(HelpRequest).where(*where)
    found = paginate_rows(session, query, page, QUEUE_PER_PAGE, counted=counted)
    return found.map(
        lambda row: QueueRow(
            reference=row.reference,
            urgent=bool(row.urgent),
            topic=str(row.topic),
            country=row.country,
            language=row.language,
            state=HelpState(row.state),
            created_at=row.created_at,
            assignee=row.assignee,
            assigned_to_me=row.assignee_id == actor.id,
            overdue=bool(row.overdue),
            answered=row.first_answered_at is not None,
            waiting_on_desk=row.last_author in (None, Author.REQUESTER.value, Author.REQUESTER),
            outcome=Outcome(row.outcome) if row.outcome else None,
        )
    )


# --- answering ------------------------------------------------------------------------------


def _open_for(session: Session, actor: User, reference: str) -> HelpRequest:
    require_role(actor, Role.NAVIGATOR, doing="answer help desk requests")
    found = request_for_navigator(session, actor, reference, lock=True)
    if found.erased_at is not None:
        raise InvalidState(f"Request {found.reference} was erased by its requester.")
    if found.state is HelpState.CLOSED:
        raise InvalidState(f"Request {found.reference} is closed.")
    return found


def _take(found: HelpRequest, actor: User, now: datetime) -> None:
    found.assignee_id = actor.id
    found.state = HelpState.ASSIGNED
    if found.picked_up_at is None:
        found.picked_up_at = now


def assign(session: Session, *, key: str, actor: User, reference: str, now: datetime) -> Receipt:
    """``actor`` takes request ``reference`` (from the queue, or from a colleague)."""

    def perform() -> Receipt:
        found = _open_for(session, actor, reference)
        before = {"assignee_id": found.assignee_id, "state": found.state.value}
        _take(found, actor, now)
        session.flush()
        audit.record(
            session,
            actor_id=actor.id,
            action="help_request.assigned",
            object_type="help_request",
            object_id=found.id,
            before=before,
            after={"assignee_id": actor.id, "state": found.state.value},
        )
        return Receipt("helpdesk.assign", object_id=found.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="helpdesk.assign",
        request={"reference": reference},
        perform=perform,
    )


def published_services(session: Session, service_ids: Sequence[str]) -> list[str]:
    """``service_ids`` without repeats, each a service on the hub now; else
    :class:`InvalidInput`."""
    wanted = list(dict.fromkeys(service_ids))
    if len(wanted) > SERVICES_MAX:
        raise InvalidInput(f"An answer carries at most {SERVICES_MAX} services.", field="services")
    if not wanted:
        return []
    found = set(
        session.scalars(
            select(HubService.id).where(
                HubService.id.in_(wanted), HubService.published_version_id.is_not(None)
            )
        )
    )
    if len(found) != len(wanted):
        raise InvalidInput("One of the services is not on the hub any more.", field="services")
    return wanted


def reply(
    session: Session,
    *,
    key: str,
    actor: User,
    reference: str,
    body: str,
    service_ids: Sequence[str] = (),
    now: datetime,
) -> Receipt:
    """``actor`` answers request ``reference`` (taking it if nobody has it): the answer joins
    the thread and, when the requester gave an email address, is emailed to them with a new
    private link."""
    text = clean_message(body, field="body")

    def perform() -> Receipt:
        found = _open_for(session, actor, reference)
        services = published_services(session, service_ids)
        if found.assignee_id is None:
            _take(found, actor, now)
        message = HelpMessage(
            request_id=found.id,
            author=Author.NAVIGATOR,
            navigator_id=actor.id,
            body=text,
            services=services,
            created_at=now,
        )
        session.add(message)
        first = found.first_answered_at is None
        if first:
            found.first_answered_at = now
        found.last_message_at = now
        session.flush()
        if found.contact_email:
            token = new_link(session, found.id, LinkKind.LINK, now=now)
            messages.record(
                session,
                kind=REPLY_EMAIL,
                payload={"message": message.id, "token": token},
                now=now,
                to=found.contact_email,
            )
        audit.record(
            session,
            actor_id=actor.id,
            action="help_request.answered",
            object_type="help_request",
            object_id=found.id,
            after={"message_id": message.id, "services": len(services), "first": first},
        )
        return Receipt("helpdesk.reply", object_id=message.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="helpdesk.reply",
        request={"reference": reference, "services": list(service_ids)},
        perform=perform,
    )


def close(
    session: Session, *, key: str, actor: User, reference: str, outcome: str, now: datetime
) -> Receipt:
    """``actor`` closes request ``reference`` with ``outcome``; its personal data is erased
    the retention period later (:mod:`grants.domain.helpdesk_retention`)."""
    try:
        chosen = Outcome(outcome)
    except ValueError:
        chosen = None
    if chosen not in NAVIGATOR_OUTCOMES:
        raise InvalidInput("Choose how the request ended.", field="outcome")
    assert chosen is not None

    def perform() -> Receipt:
        found = _open_for(session, actor, reference)
        before = {"state": found.state.value}
        found.state, found.outcome, found.closed_at = HelpState.CLOSED, chosen, now
        if found.assignee_id is None:
            found.assignee_id = actor.id
        session.flush()
        audit.record(
            session,
            actor_id=actor.id,
            action="help_request.closed",
            object_type="help_request",
            object_id=found.id,
            before=before,
            after={"state": "closed", "outcome": chosen.value},
        )
        return Receipt("helpdesk.close", object_id=found.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="helpdesk.close",
        request={"reference": reference, "outcome": chosen.value},
        perform=perform,
    )


def navigator_names(session: Session, ids: Sequence[int]) -> dict[int, str]:
    """The display names of navigators ``ids`` (for a thread's authors)."""
    if not ids:
        return {}
    return dict(
        session.execute(select(User.id, User.display_name).where(User.id.in_(set(ids)))).all()
    )
