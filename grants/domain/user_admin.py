"""What an admin changes about a person's account: their roles and, for an ambassador, their
programme, country and cohort status; and the search of the admin's list of people.

Deactivation and reactivation are :func:`grants.domain.accounts.set_user_active`. Every change
is an audit event with what was before and what is after; none can leave the programme
without an active admin (:func:`grants.domain.accounts.keep_an_active_admin`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, String, bindparam, exists, func, or_, select
from sqlalchemy.orm import Session

from grants.database import UNICODE_LOWER
from grants.domain import audit
from grants.domain.accounts import awaits_acceptance, keep_an_active_admin
from grants.domain.checks import require_role
from grants.domain.errors import InvalidInput, InvalidState, NotAllowed, NotFound
from grants.domain.idempotency import Receipt, idempotent
from grants.domain.paging import Page, paginate
from grants.models import (
    ROLE_PRIORITY,
    Ambassador,
    CohortStatus,
    Country,
    Invitation,
    Programme,
    Role,
    User,
    UserRole,
)

SEARCH_MAX = 100
"""The longest search text read; anything after it is ignored."""


@dataclass(frozen=True)
class Membership:
    """An ambassador's place: their programme, their country and where they stand in it."""

    programme_id: int
    country: Country
    cohort_status: CohortStatus


class AccountStatus(StrEnum):
    """Where an account stands, as the admin's screens say it."""

    ACTIVE = "active"
    INVITED = "invited"
    """Made by an invitation not yet accepted: no password, cannot sign in."""
    DEACTIVATED = "deactivated"

    @property
    def label(self) -> str:
        return {"active": "Active", "invited": "Invited", "deactivated": "Deactivated"}[self.value]


def account_status(user: User, *, invited: bool) -> AccountStatus:
    """Whether ``user`` is active, invited (``invited``: they have an invitation not yet
    accepted, and no password) or deactivated."""
    if user.active:
        return AccountStatus.ACTIVE
    if invited and user.password_hash is None:
        return AccountStatus.INVITED
    return AccountStatus.DEACTIVATED


def status_of(session: Session, user: User) -> AccountStatus:
    """:func:`account_status` of ``user``, reading whether they await acceptance."""
    return account_status(user, invited=awaits_acceptance(session, user.id))


def statuses(session: Session, users: Iterable[User]) -> dict[int, AccountStatus]:
    """:func:`account_status` of each of ``users`` (a page of a list), by id, in one query."""
    people = list(users)
    waiting = set(
        session.scalars(
            select(Invitation.user_id).where(
                Invitation.user_id.in_([user.id for user in people if not user.active]),
                Invitation.accepted_at.is_(None),
            )
        )
    )
    return {user.id: account_status(user, invited=user.id in waiting) for user in people}


def clean_roles(raw: Iterable[str | Role]) -> list[Role]:
    """The roles chosen, in :data:`ROLE_PRIORITY` order; :class:`InvalidInput` for none or
    for a name that is not a role."""
    try:
        chosen = {Role(value) for value in raw}
    except ValueError:
        raise InvalidInput("Choose roles from the list.", field="roles") from None
    if not chosen:
        raise InvalidInput("Choose at least one role.", field="roles")
    return [role for role in ROLE_PRIORITY if role in chosen]


def check_membership(
    session: Session, roles: list[Role], membership: Membership | None
) -> Membership | None:
    """The membership to keep for someone holding ``roles``: required of an ambassador, in
    an active programme; ignored for anyone else."""
    if Role.AMBASSADOR not in roles:
        return None
    if membership is None:
        raise InvalidInput("Choose the ambassador's programme.", field="programme_id")
    programme = session.get(Programme, membership.programme_id)
    if programme is None or not programme.active:
        raise InvalidInput("Choose a programme from the list.", field="programme_id")
    return membership


def membership_of(session: Session, user_id: int) -> Ambassador | None:
    """The ambassador row of ``user_id``, if they have ever been an ambassador."""
    return session.scalar(select(Ambassador).where(Ambassador.user_id == user_id))


def describe_access(user: User, ambassador: Ambassador | None) -> dict[str, object]:
    """What an audit event records of a person's access: roles, and their membership."""
    described: dict[str, object] = {"roles": [role.value for role in user.roles]}
    if ambassador is not None:
        described.update(
            programme_id=ambassador.programme_id,
            country=ambassador.country.value,
            cohort_status=ambassador.cohort_status.value,
        )
    return described


def apply_access(
    session: Session, user: User, roles: list[Role], membership: Membership | None
) -> None:
    """Give ``user`` exactly ``roles`` and, for an ambassador, ``membership`` (checked by
    :func:`check_membership`). Someone who stops being an ambassador keeps their place in the
    programme's history as alumni: their gifts and credit stay counted where they were, and
    no new allowance reaches them."""
    for grant in list(user.role_grants):
        if grant.role not in roles:
            user.role_grants.remove(grant)
    for role in roles:
        user.grant_role(role)
    ambassador = membership_of(session, user.id)
    if membership is not None:
        if ambassador is None:
            ambassador = Ambassador(user_id=user.id)
            session.add(ambassador)
        ambassador.programme_id = membership.programme_id
        ambassador.country = membership.country
        ambassador.cohort_status = membership.cohort_status
    elif ambassador is not None:
        ambassador.cohort_status = CohortStatus.ALUMNI
    session.flush()


def change_access(
    session: Session,
    *,
    key: str,
    actor: User,
    user_id: int,
    roles: Iterable[str | Role],
    membership: Membership | None,
) -> Receipt:
    """An admin sets a person's roles and, for an ambassador, their programme, country and
    cohort status. An admin cannot take the admin role from themselves, nor from the last
    active admin."""
    require_role(actor, Role.ADMIN, doing="change people's roles")
    wanted = clean_roles(roles)
    membership = check_membership(session, wanted, membership)

    def perform() -> Receipt:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound("There is no such user.")
        if user.has_role(Role.ADMIN) and Role.ADMIN not in wanted:
            if user.id == actor.id:
                raise NotAllowed("You cannot take the admin role from yourself; another admin can.")
            keep_an_active_admin(session, losing=user.id)
        user = session.scalar(
            select(User)
            .where(User.id == user_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert user is not None
        before = describe_access(user, membership_of(session, user.id))
        apply_access(session, user, wanted, membership)
        after = describe_access(user, membership_of(session, user.id))
        if before == after:
            raise InvalidState(f"{user.display_name} already has exactly these roles.")
        audit.record(
            session,
            actor_id=actor.id,
            action="user.change_access",
            object_type="user",
            object_id=user.id,
            before=before,
            after=after,
        )
        return Receipt("user.change_access", object_id=user.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="user.change_access",
        request={
            "user": user_id,
            "roles": [role.value for role in wanted],
            "membership": None
            if membership is None
            else [
                membership.programme_id,
                membership.country.value,
                membership.cohort_status.value,
            ],
        },
        perform=perform,
    )


# --- the list of people ----------------------------------------------------------------------

_PATTERN = bindparam("pattern", type_=String)


def _people(lower: Any, searching: bool, role: Role | None) -> Select[Any]:
    query = select(User).order_by(User.display_name, User.id)
    if searching:
        query = query.where(
            or_(
                lower(User.display_name).like(_PATTERN, escape="\\"),
                User.email.like(_PATTERN, escape="\\"),
            )
        )
    if role is not None:
        query = query.where(exists().where(UserRole.user_id == User.id, UserRole.role == role))
    return query


def search_people(
    session: Session, *, text: str, role: Role | None, page: int, per_page: int
) -> Page[User]:
    """A page of people, by name, whose name or email holds ``text`` (any case) and who hold
    ``role`` when one is given."""
    wanted = " ".join(text.split())[:SEARCH_MAX]
    dialect = session.get_bind().dialect.name
    lower = func.lower if dialect != "sqlite" or wanted.isascii() else getattr(func, UNICODE_LOWER)
    escaped = wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    query = _people(lower, bool(wanted), role)
    return paginate(
        session, query, page, per_page, {"pattern": f"%{escaped.lower()}%"} if wanted else None
    )
