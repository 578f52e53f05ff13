"""The navigators' desk: what the curation screens read and the keyed operations they run.

The rules of the hub (four eyes, checked content, versions kept) live in
:mod:`grants.domain.hub`; this module gives the screens what they need on top of them:

- each operation of a screen once per idempotency key (:func:`propose_service`,
  :func:`publish_version`, :func:`send_back`, :func:`withdraw_version`,
  :func:`retire_service`, :func:`mark_checked`, :func:`create_organization`), so a
  double-click or a resubmitted page gets the first outcome;
- the services with their state and the date they were last checked (:func:`services`),
  a version compared field by field with what the public sees (:func:`changes`), and what a
  version says as the form edits it (:func:`grants.domain.hub.content_of`);
- when a service is due for checking (:func:`stale_before`, six months) and when a crisis
  line's date is old enough to warn the public (twelve months: it stays on the hub, since
  hiding a crisis line is worse than an old date).

Operations flush and never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from grants.domain import audit, hub
from grants.domain.checks import require_role
from grants.domain.errors import InvalidInput, NotFound
from grants.domain.hub import ServiceContent
from grants.domain.hub_contacts import https_link
from grants.domain.idempotency import Receipt, idempotent
from grants.models import (
    HubOrganization,
    HubService,
    HubServiceVersion,
    User,
    VersionState,
)

CHECK_EVERY_MONTHS = 6
"""A published service not checked for this many months is due for checking."""
CRISIS_WARNING_MONTHS = 12
"""A crisis line not checked for this many months is shown with a warning (never hidden)."""
ORGANIZATION_DESCRIPTION_MAX = 2_000


def months_before(day: date, months: int) -> date:
    """The same day ``months`` months before ``day`` (the month's last day if it is
    shorter: six months before 31 August is 28 or 29 February)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, candidate)
        except ValueError:
            continue
    raise AssertionError("every month has a 28th")  # pragma: no cover


def stale_before(today: date) -> date:
    """A published service checked on or before this day is due for checking."""
    return months_before(today, CHECK_EVERY_MONTHS)


def crisis_warning_before(today: date) -> date:
    """A crisis line checked on or before this day is shown with a warning."""
    return months_before(today, CRISIS_WARNING_MONTHS)


# --- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceRow:
    """A service as the list shows it: its latest version's name, its state, when what the
    public sees was last checked, and whether a change waits for a second pair of eyes."""

    id: str
    name: str
    organization: str
    state: str
    """``published``, ``proposed`` (never published yet) or ``retired``."""
    crisis_line: bool
    checked_on: date | None
    """The published version's date (``None`` for a service not on the hub)."""
    waiting: int
    """How many proposed versions wait."""
    latest_version_id: int


def _latest_versions() -> Any:
    return (
        select(
            HubServiceVersion.service_id,
            func.max(HubServiceVersion.number).label("number"),
        )
        .group_by(HubServiceVersion.service_id)
        .subquery()
    )


def services_query(*, search: str = "") -> Select[Any]:
    """Every service with its latest version, its published version's date and how many
    proposals wait, by name (those whose latest name contains ``search``, any case)."""
    latest = _latest_versions()
    current = aliased(HubServiceVersion)
    published = aliased(HubServiceVersion)
    waiting = (
        select(func.count(HubServiceVersion.id))
        .where(
            HubServiceVersion.service_id == HubService.id,
            HubServiceVersion.state == VersionState.PROPOSED,
        )
        .correlate(HubService)
        .scalar_subquery()
    )
    query = (
        select(
            HubService.id,
            current.name,
            HubOrganization.name.label("organization"),
            HubService.published_version_id,
            HubService.retired_at,
            func.coalesce(published.crisis_line, current.crisis_line).label("crisis_line"),
            published.checked_on,
            waiting.label("waiting"),
            current.id.label("latest_version_id"),
        )
        .join(HubOrganization, HubOrganization.id == HubService.organization_id)
        .join(latest, latest.c.service_id == HubService.id)
        .join(
            current,
            and_(current.service_id == HubService.id, current.number == latest.c.number),
        )
        .outerjoin(published, published.id == HubService.published_version_id)
    )
    words = search.strip()[:100]
    if words:
        pattern = (
            "%" + words.lower().replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"
        )
        query = query.where(
            or_(
                func.lower(current.name).like(pattern, escape="\\"),
                func.lower(HubOrganization.name).like(pattern, escape="\\"),
            )
        )
    return query.order_by(func.lower(current.name), HubService.id)


def service_row(row: Any) -> ServiceRow:
    """A row of :func:`services_query` as the list shows it."""
    if row.retired_at is not None:
        state = "retired"
    elif row.published_version_id is not None:
        state = "published"
    else:
        state = "proposed"
    return ServiceRow(
        id=row.id,
        name=row.name,
        organization=row.organization,
        state=state,
        crisis_line=bool(row.crisis_line),
        checked_on=row.checked_on,
        waiting=int(row.waiting or 0),
        latest_version_id=row.latest_version_id,
    )


def stale_services(session: Session, *, today: date) -> list[HubServiceVersion]:
    """The published versions of services on the hub checked on or before
    :func:`stale_before` ``today``, oldest check first."""
    return list(
        session.scalars(
            select(HubServiceVersion)
            .join(HubService, HubService.published_version_id == HubServiceVersion.id)
            .where(
                HubService.retired_at.is_(None),
                HubServiceVersion.checked_on <= stale_before(today),
            )
            .order_by(HubServiceVersion.checked_on, HubServiceVersion.name)
        )
    )


def latest_version(session: Session, service_id: str) -> HubServiceVersion | None:
    """The newest version of a service, whatever its state."""
    return session.scalar(
        select(HubServiceVersion)
        .where(HubServiceVersion.service_id == service_id)
        .order_by(HubServiceVersion.number.desc())
        .limit(1)
    )


def editable_version(session: Session, service_id: str) -> HubServiceVersion | None:
    """What an edit starts from: the newest proposal that is not a retirement, else the
    published version, else the newest version."""
    proposed = session.scalar(
        select(HubServiceVersion)
        .where(
            HubServiceVersion.service_id == service_id,
            HubServiceVersion.state == VersionState.PROPOSED,
            HubServiceVersion.retires.is_(False),
        )
        .order_by(HubServiceVersion.number.desc())
        .limit(1)
    )
    if proposed is not None:
        return proposed
    service = session.get(HubService, service_id)
    if service is not None and service.published_version_id is not None:
        return session.get(HubServiceVersion, service.published_version_id)
    return latest_version(session, service_id)


def versions_of(session: Session, service_id: str) -> list[tuple[HubServiceVersion, str, str]]:
    """Every version of a service, newest first, with who proposed and who decided it
    (empty names for an import or the seed)."""
    proposer = aliased(User)
    decider = aliased(User)
    rows = session.execute(
        select(HubServiceVersion, proposer.display_name, decider.display_name)
        .outerjoin(proposer, proposer.id == HubServiceVersion.proposed_by_id)
        .outerjoin(decider, decider.id == HubServiceVersion.decided_by_id)
        .where(HubServiceVersion.service_id == service_id)
        .order_by(HubServiceVersion.number.desc())
    ).all()
    return [(version, who or "", decided or "") for version, who, decided in rows]


# --- keyed operations ---------------------------------------------------------------------


def _request_of(content: ServiceContent) -> dict[str, Any]:
    return asdict(
        replace(
            content, descriptions=dict(content.descriptions), hours_notes=dict(content.hours_notes)
        )
    )


def propose_service(
    session: Session,
    *,
    key: str,
    actor: User,
    content: ServiceContent,
    now: datetime,
    service_id: str | None = None,
    organization_id: str | None = None,
    note: str = "",
) -> Receipt:
    """:func:`grants.domain.hub.propose`, once per ``key``; the receipt names the version."""

    def perform() -> Receipt:
        version = hub.propose(
            session,
            actor=actor,
            content=content,
            now=now,
            service_id=service_id,
            organization_id=organization_id,
            note=note,
        )
        return Receipt("hub.propose", object_id=version.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="hub.propose",
        request={
            "service": service_id,
            "organization": organization_id,
            "note": note,
            "content": _request_of(content),
        },
        perform=perform,
    )


def mark_checked(
    session: Session, *, key: str, actor: User, service_id: str, checked_on: date, now: datetime
) -> Receipt:
    """Propose the published version again with a new date checked: someone compared it
    with its source and found nothing to change. A second person publishes it like any
    change, since the date is a promise to the public."""

    def perform() -> Receipt:
        service = session.get(HubService, service_id)
        if service is None or service.published_version_id is None:
            raise NotFound("There is no such service on the hub.")
        current = session.get_one(HubServiceVersion, service.published_version_id)
        if checked_on > now.date():
            raise InvalidInput(
                "The day it was checked cannot be in the future.", field="checked_on"
            )
        if checked_on <= current.checked_on:
            raise InvalidInput(
                "The new date must be later than the day it was last checked.", field="checked_on"
            )
        version = hub.propose(
            session,
            actor=actor,
            content=replace(hub.content_of(current), checked_on=checked_on),
            now=now,
            service_id=service.id,
            note="Checked against its source; nothing else changed.",
        )
        return Receipt("hub.mark_checked", object_id=version.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="hub.mark_checked",
        request={"service": service_id, "checked_on": checked_on.isoformat()},
        perform=perform,
    )


def retire_service(
    session: Session, *, key: str, actor: User, service_id: str, note: str, now: datetime
) -> Receipt:
    """:func:`grants.domain.hub.propose_retirement`, once per ``key``."""

    def perform() -> Receipt:
        version = hub.propose_retirement(
            session, actor=actor, service_id=service_id, note=note, now=now
        )
        return Receipt("hub.propose_retirement", object_id=version.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="hub.propose_retirement",
        request={"service": service_id, "note": note},
        perform=perform,
    )


def publish_version(
    session: Session, *, key: str, actor: User, version_id: int, now: datetime
) -> Receipt:
    """:func:`grants.domain.hub.publish`, once per ``key``."""

    def perform() -> Receipt:
        version = hub.publish(session, actor=actor, version_id=version_id, now=now)
        return Receipt("hub.publish", object_id=version.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="hub.publish",
        request={"version": version_id},
        perform=perform,
    )


def send_back(
    session: Session, *, key: str, actor: User, version_id: int, note: str, now: datetime
) -> Receipt:
    """A reviewer sends a proposal back with the reason (never its proposer, who withdraws
    it instead), once per ``key``."""

    def perform() -> Receipt:
        found = session.get(HubServiceVersion, version_id)
        if found is not None and found.proposed_by_id == actor.id:
            raise InvalidInput(
                "You proposed this version: withdraw it rather than send it back.", field="note"
            )
        version = hub.withdraw(session, actor=actor, version_id=version_id, note=note, now=now)
        return Receipt("hub.send_back", object_id=version.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="hub.send_back",
        request={"version": version_id, "note": note},
        perform=perform,
    )


def withdraw_version(
    session: Session, *, key: str, actor: User, version_id: int, now: datetime
) -> Receipt:
    """Its proposer withdraws a proposal, once per ``key``."""

    def perform() -> Receipt:
        found = session.get(HubServiceVersion, version_id)
        if found is not None and found.proposed_by_id != actor.id:
            raise InvalidInput(
                "Only the person who proposed a version withdraws it; send it back with a "
                "reason instead."
            )
        version = hub.withdraw(session, actor=actor, version_id=version_id, note="", now=now)
        return Receipt("hub.withdraw", object_id=version.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="hub.withdraw",
        request={"version": version_id},
        perform=perform,
    )


@dataclass(frozen=True)
class OrganizationDetails:
    """What a navigator says of an organisation."""

    name: str
    description: str = ""
    website: str = ""
    email: str = ""


def create_organization(
    session: Session, *, key: str, actor: User, details: OrganizationDetails, now: datetime
) -> Receipt:
    """Add an organisation that runs services (a navigator), once per ``key``. Its
    website is an ``https:`` address or nothing."""

    def perform() -> Receipt:
        require_role(actor, *hub.CURATORS, doing="add organisations to the hub")
        name = details.name.strip()
        if not name or len(name) > hub.NAME_MAX:
            raise InvalidInput(
                f"Give the organisation a name of at most {hub.NAME_MAX} characters.",
                field="name",
            )
        description = details.description.strip()
        if len(description) > ORGANIZATION_DESCRIPTION_MAX:
            raise InvalidInput(
                f"Describe it in at most {ORGANIZATION_DESCRIPTION_MAX} characters.",
                field="description",
            )
        email = details.email.strip()
        if email and ("@" not in email or len(email) > 254 or any(c.isspace() for c in email)):
            raise InvalidInput("Give an email address the organisation answers.", field="email")
        taken = session.scalar(
            select(HubOrganization.id).where(func.lower(HubOrganization.name) == name.lower())
        )
        if taken is not None:
            raise InvalidInput("An organisation of that name is already on the hub.", field="name")
        organization = HubOrganization(
            id=hub.new_id(),
            name=name,
            description=description,
            website=https_link(details.website, field_name="website"),
            email=email,
            created_at=now,
        )
        session.add(organization)
        session.flush()
        audit.record(
            session,
            actor_id=actor.id,
            action="hub.organization_create",
            object_type="hub_organization",
            object_id=None,
            after={
                "organization": organization.id,
                "name": organization.name,
                "website": organization.website,
            },
        )
        return Receipt("hub.organization_create")

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="hub.organization_create",
        request=asdict(details),
        perform=perform,
    )


def organizations(session: Session) -> Sequence[tuple[HubOrganization, int]]:
    """Every organisation by name, with how many services it runs."""
    count = (
        select(func.count(HubService.id))
        .where(HubService.organization_id == HubOrganization.id)
        .correlate(HubOrganization)
        .scalar_subquery()
    )
    return [
        (organization, int(services or 0))
        for organization, services in session.execute(
            select(HubOrganization, count).order_by(func.lower(HubOrganization.name))
        ).all()
    ]
