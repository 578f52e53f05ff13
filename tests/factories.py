"""Factories for users and ambassadors, built through the same domain operations as the app."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain.accounts import create_user
from grants.models import Ambassador, CohortStatus, Country, Programme, Role, User
from grants.security import password_hasher, password_rules
from tests.support import PASSWORD

_sequence = itertools.count(1)


def make_user(
    session: Session,
    *roles: Role,
    email: str | None = None,
    name: str | None = None,
    password: str | None = PASSWORD,
    locale: str = "en_US",
) -> User:
    """A user holding ``roles``, flushed; needs an application context.

    With no roles the user is written directly, since the domain refuses to create one.
    """
    number = next(_sequence)
    email = email or f"person{number}@example.org"
    name = name or f"Person {number}"
    if not roles:
        user = User(
            email=email,
            display_name=name,
            password_hash=password_hasher().hash(password) if password else None,
            locale=locale,
        )
        session.add(user)
        session.flush()
        return user
    return create_user(
        session,
        email=email,
        display_name=name,
        password=password,
        roles=roles,
        hasher=password_hasher(),
        rules=password_rules(),
        locale=locale,
    )


def make_programme(session: Session, code: str = "GLOW") -> Programme:
    """The programme with ``code``, created if missing."""
    programme = session.scalar(select(Programme).where(Programme.code == code))
    if programme is None:
        programme = Programme(code=code, name=code)
        session.add(programme)
        session.flush()
    return programme


def make_ambassador(
    session: Session,
    *,
    programme: str = "GLOW",
    country: Country = Country.US,
    extra_roles: Iterable[Role] = (),
    **user_fields: str,
) -> Ambassador:
    """An ambassador with a user account that can sign in."""
    user = make_user(session, Role.AMBASSADOR, *extra_roles, **user_fields)
    ambassador = Ambassador(
        user=user,
        programme=make_programme(session, programme),
        country=country,
        cohort_status=CohortStatus.CURRENT,
    )
    session.add(ambassador)
    session.flush()
    return ambassador
