"""The artist programmes an admin sets up (EQUAL, GLOW, RADAR and any added later): adding one
and changing its name and description. A programme's code never changes once made: reports,
allowances and cohort lists name programmes by it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grants.domain import audit
from grants.domain.checks import clean_text, require_role
from grants.domain.errors import Conflict, InvalidInput, InvalidState, NotFound
from grants.domain.idempotency import Receipt, idempotent
from grants.models import Programme, Role, User

CODE = re.compile(r"[A-Z0-9][A-Z0-9-]{1,19}")
"""A programme's code: 2 to 20 capital letters, digits or hyphens, such as ``GLOW``."""
NAME_MAX = 120
DESCRIPTION_MAX = 500


@dataclass(frozen=True)
class ProgrammeDetails:
    """What an admin says of a programme, as typed: checked by :func:`clean_details`."""

    name: str
    description: str = ""


def clean_code(raw: str) -> str:
    """A programme code in capitals, or :class:`InvalidInput`."""
    code = raw.strip().upper()
    if not CODE.fullmatch(code):
        raise InvalidInput(
            "A code is 2 to 20 letters, digits or hyphens, such as GLOW.", field="code"
        )
    return code


def clean_details(details: ProgrammeDetails) -> ProgrammeDetails:
    """``details`` trimmed and checked."""
    return ProgrammeDetails(
        name=clean_text(
            " ".join(details.name.split()),
            field="name",
            label="a name",
            required=True,
            limit=NAME_MAX,
        ),
        description=clean_text(
            details.description,
            field="description",
            label="the description",
            required=False,
            limit=DESCRIPTION_MAX,
        ),
    )


def create_programme(
    session: Session, *, key: str, actor: User, code: str, details: ProgrammeDetails
) -> Receipt:
    """An admin adds a programme; :class:`Conflict` if its code is taken."""
    require_role(actor, Role.ADMIN, doing="set up programmes")
    code = clean_code(code)
    details = clean_details(details)

    def perform() -> Receipt:
        if session.scalar(select(Programme.id).where(Programme.code == code)) is not None:
            raise Conflict(f"There is already a programme with the code {code}.")
        programme = Programme(code=code, name=details.name, description=details.description)
        try:
            with session.begin_nested():
                session.add(programme)
        except IntegrityError:
            raise Conflict(f"There is already a programme with the code {code}.") from None
        audit.record(
            session,
            actor_id=actor.id,
            action="programme.create",
            object_type="programme",
            object_id=programme.id,
            after={"code": code, "name": details.name, "description": details.description},
        )
        return Receipt("programme.create", object_id=programme.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="programme.create",
        request={"code": code, "name": details.name, "description": details.description},
        perform=perform,
    )


def update_programme(
    session: Session, *, key: str, actor: User, programme_id: int, details: ProgrammeDetails
) -> Receipt:
    """An admin renames a programme or changes its description."""
    require_role(actor, Role.ADMIN, doing="set up programmes")
    details = clean_details(details)

    def perform() -> Receipt:
        programme = session.scalar(
            select(Programme)
            .where(Programme.id == programme_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if programme is None:
            raise NotFound("There is no such programme.")
        before = {"name": programme.name, "description": programme.description}
        after = {"name": details.name, "description": details.description}
        if before == after:
            raise InvalidState("Nothing was changed.")
        programme.name = details.name
        programme.description = details.description
        session.flush()
        audit.record(
            session,
            actor_id=actor.id,
            action="programme.update",
            object_type="programme",
            object_id=programme.id,
            before=before,
            after=after,
        )
        return Receipt("programme.update", object_id=programme.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="programme.update",
        request={"programme": programme_id, **details.__dict__},
        perform=perform,
    )
