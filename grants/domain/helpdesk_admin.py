"""The help desk as an admin runs it: which partner answers which country and language,
each partner's working week, which partner a navigator works for, and re-routing a request.

An admin re-routes a request without reading it: the list they choose from
(:func:`requests_to_route`) carries no personal data, and nothing here returns any.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from grants.domain import audit
from grants.domain.checks import require_role
from grants.domain.errors import InvalidInput, InvalidState, NotFound
from grants.domain.helpdesk import answer_deadline
from grants.domain.helpdesk_links import REFERENCE
from grants.domain.helpdesk_notices import tell_navigators_of_new
from grants.domain.hub import HUB_LANGUAGES
from grants.domain.hub_contacts import country_code, time_zones
from grants.domain.paging import Page, paginate_rows
from grants.models import HelpdeskRoute, HelpRequest, HelpState, Partner, Role, User
from grants.models.helpdesk import ANY


@dataclass(frozen=True)
class Route:
    """A route as the admin screen lists it."""

    id: int
    country: str
    language: str
    partner: str
    partner_id: int


def routes(session: Session) -> list[Route]:
    """Every route, the default first, then by country and language."""
    rows = session.execute(
        select(
            HelpdeskRoute.id,
            HelpdeskRoute.country,
            HelpdeskRoute.language,
            Partner.display_name,
            Partner.id.label("partner_id"),
        ).join(Partner, Partner.id == HelpdeskRoute.partner_id)
    ).all()
    found = [
        Route(row.id, row.country, row.language, row.display_name, row.partner_id) for row in rows
    ]
    return sorted(found, key=lambda r: (r.country != ANY, r.country, r.language != ANY, r.language))


def _active_partner(session: Session, partner_id: int) -> Partner:
    partner = session.get(Partner, partner_id)
    if partner is None or not partner.active:
        raise InvalidInput("Choose an active partner.", field="partner_id")
    return partner


def set_route(
    session: Session, *, actor: User, country: str, language: str, partner_id: int
) -> int:
    """Route ``country`` (``*`` for any) in ``language`` (``*`` for any) to ``partner_id``,
    replacing the route of that pair if there is one. Returns the route's id."""
    require_role(actor, Role.ADMIN, doing="route the help desk")
    country = ANY if country.strip() in ("", ANY) else country_code(country)
    language = language.strip() or ANY
    if language != ANY and language not in HUB_LANGUAGES:
        raise InvalidInput("Choose one of the hub's languages, or any.", field="language")
    partner = _active_partner(session, partner_id)
    route = session.scalar(
        select(HelpdeskRoute).where(
            HelpdeskRoute.country == country, HelpdeskRoute.language == language
        )
    )
    before = None if route is None else {"partner_id": route.partner_id}
    if route is None:
        route = HelpdeskRoute(country=country, language=language, partner_id=partner.id)
        session.add(route)
    route.partner_id = partner.id
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="helpdesk.route_set",
        object_type="helpdesk_route",
        object_id=route.id,
        before=before,
        after={"country": country, "language": language, "partner_id": partner.id},
    )
    return route.id


def remove_route(session: Session, *, actor: User, route_id: int) -> None:
    """Remove a route; its requests then follow the next most specific one."""
    require_role(actor, Role.ADMIN, doing="route the help desk")
    route = session.get(HelpdeskRoute, route_id)
    if route is None:
        raise NotFound("There is no such route.")
    before = {"country": route.country, "language": route.language, "partner_id": route.partner_id}
    session.execute(delete(HelpdeskRoute).where(HelpdeskRoute.id == route_id))
    audit.record(
        session,
        actor_id=actor.id,
        action="helpdesk.route_removed",
        object_type="helpdesk_route",
        object_id=route_id,
        before=before,
    )


def set_desk_week(
    session: Session, *, actor: User, partner_id: int, time_zone: str, working_days: str
) -> None:
    """Set the zone and working days of ``partner_id``'s help desk (``12345`` is Monday to
    Friday); they decide when a request is 2 working days old."""
    require_role(actor, Role.ADMIN, doing="set a help desk's working week")
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise NotFound("There is no such partner.")
    zone = time_zone.strip()
    if zone and zone not in time_zones():
        raise InvalidInput("Choose a time zone from the list.", field="time_zone")
    days = "".join(sorted(set(working_days)))
    if not days or any(day not in "1234567" for day in days):
        raise InvalidInput("Choose at least one working day.", field="working_days")
    before = {"time_zone": partner.time_zone, "working_days": partner.working_days}
    partner.time_zone, partner.working_days = zone or None, days
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="helpdesk.week_set",
        object_type="partner",
        object_id=partner.id,
        before=before,
        after={"time_zone": partner.time_zone, "working_days": days},
    )


def set_navigator_partner(
    session: Session, *, actor: User, user_id: int, partner_id: int | None
) -> None:
    """Say which partner navigator ``user_id`` works for (``None``: none): they then answer
    that partner's help desk, and no other."""
    require_role(actor, Role.ADMIN, doing="link a navigator to a partner")
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("There is no such user.")
    if partner_id is not None:
        _active_partner(session, partner_id)
    before = {"partner_id": user.partner_id}
    user.partner_id = partner_id
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="user.partner_set",
        object_type="user",
        object_id=user.id,
        before=before,
        after={"partner_id": partner_id},
    )


@dataclass(frozen=True)
class RoutedRequest:
    """A request as an admin sees it to re-route it: nothing it says, nobody it names."""

    reference: str
    partner: str
    country: str
    language: str
    state: HelpState
    urgent: bool
    created_at: datetime


def requests_to_route(session: Session, *, page: int = 1) -> Page[RoutedRequest]:
    """The open requests, oldest first, without their content."""
    query = (
        select(
            HelpRequest.reference,
            Partner.display_name,
            HelpRequest.country,
            HelpRequest.language,
            HelpRequest.state,
            HelpRequest.urgent,
            HelpRequest.created_at,
        )
        .join(Partner, Partner.id == HelpRequest.partner_id)
        .where(HelpRequest.state != HelpState.CLOSED)
        .order_by(HelpRequest.created_at, HelpRequest.id)
    )
    counted = (
        select(func.count()).select_from(HelpRequest).where(HelpRequest.state != HelpState.CLOSED)
    )
    return paginate_rows(session, query, page, 50, counted=counted).map(
        lambda row: RoutedRequest(
            row.reference,
            row.display_name,
            row.country,
            row.language,
            HelpState(row.state),
            bool(row.urgent),
            row.created_at,
        )
    )


def reroute(
    session: Session, *, actor: User, reference: str, partner_id: int, now: datetime
) -> None:
    """Send open request ``reference`` to ``partner_id``'s desk: nobody there has it yet (an
    urgent one is due to be picked up there, by its first deadline), its answer deadline
    follows the new partner's week, and its navigators are told."""
    require_role(actor, Role.ADMIN, doing="re-route help desk requests")
    found = (
        session.scalar(
            select(HelpRequest)
            .where(HelpRequest.reference == reference)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if REFERENCE.fullmatch(reference)
        else None
    )
    if found is None:
        raise NotFound("There is no such request.")
    if found.state is HelpState.CLOSED:
        raise InvalidState(f"Request {reference} is closed.")
    partner = _active_partner(session, partner_id)
    if partner.id == found.partner_id:
        raise InvalidInput("The request is at that partner's desk already.", field="partner_id")
    before = {"partner_id": found.partner_id, "assignee_id": found.assignee_id}
    found.partner_id, found.assignee_id, found.state = partner.id, None, HelpState.NEW
    found.picked_up_at = None
    found.answer_due_at = answer_deadline(partner, found.created_at)
    found.pickup_alerted_at = found.answer_alerted_at = None
    session.flush()
    tell_navigators_of_new(session, found, occasion=f"routed-{int(now.timestamp() * 1000)}")
    audit.record(
        session,
        actor_id=actor.id,
        action="help_request.rerouted",
        object_type="help_request",
        object_id=found.id,
        before=before,
        after={"partner_id": partner.id, "assignee_id": None},
    )
