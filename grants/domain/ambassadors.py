"""Finding an ambassador by name or email, as a manager does to choose whom an allowance is
for: a few matches at a time, never the whole programme.

Read-only. Each function sends one statement, built once, whatever the size of the
programme's list of ambassadors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, Row, String, bindparam, func, or_, select
from sqlalchemy.orm import Session

from grants.database import UNICODE_LOWER
from grants.domain.checks import MANAGERS, require_role
from grants.domain.errors import InvalidInput, NotFound
from grants.domain.paging import core_rows
from grants.models import Ambassador, CohortStatus, Country, Programme, User

SHOWN = 20
"""How many matches a search shows; when there are more, the manager adds to the search."""
SEARCH_MAX = 100
"""The longest search text read; anything after it is ignored."""
ESCAPE = "\\"
"""The character that makes a ``%`` or ``_`` typed in a search stand for itself."""


@dataclass(frozen=True)
class FoundAmbassador:
    """An ambassador as a search lists them and an allocation names them."""

    id: int
    name: str
    email: str
    programme: str
    """The programme's code, such as ``EQUAL``."""
    country: Country
    status: CohortStatus

    @property
    def may_receive(self) -> bool:
        """Whether an allowance may be allocated to them (alumni receive no new ones)."""
        return self.status is not CohortStatus.ALUMNI

    @classmethod
    def of(cls, row: Row[Any]) -> FoundAmbassador:
        return cls(**row._mapping)


@dataclass(frozen=True)
class AmbassadorSearch:
    """What a search found: at most :data:`SHOWN` matches, and whether there are more."""

    text: str
    matches: list[FoundAmbassador]
    more: bool


_AMBASSADORS = (
    select(
        Ambassador.id,
        User.display_name.label("name"),
        User.email,
        Programme.code.label("programme"),
        Ambassador.country,
        Ambassador.cohort_status.label("status"),
    )
    .join_from(Ambassador, User, User.id == Ambassador.user_id)
    .join(Programme, Programme.id == Ambassador.programme_id)
)

_PATTERN = bindparam("pattern", type_=String)


def _matching(lower: Any) -> Any:
    """Ambassadors who may receive an allowance whose name (lower-cased by ``lower``) or
    email holds the pattern (a lower case one: emails are stored in lower case), in the
    order they joined, so that a search many match stops at the first few; one more than
    are shown, to know whether there are more without counting them."""
    return (
        _AMBASSADORS.where(
            Ambassador.cohort_status != CohortStatus.ALUMNI,
            or_(
                lower(User.display_name).like(_PATTERN, escape=ESCAPE),
                User.email.like(_PATTERN, escape=ESCAPE),
            ),
        )
        .order_by(Ambassador.id)
        .limit(SHOWN + 1)
    )


_MATCHING = {
    ("sqlite", True): _matching(func.lower),
    ("sqlite", False): _matching(getattr(func, UNICODE_LOWER)),
    ("postgresql", True): _matching(func.lower),
    ("postgresql", False): _matching(func.lower),
}
"""The search, per database and whether the text searched for is ASCII. SQLite's own
``lower()`` changes only A to Z, which is all an ASCII search needs; for any other text it
uses the function every connection is given (:data:`grants.database.UNICODE_LOWER`), which
costs a call into Python per ambassador read."""

_ONE = _AMBASSADORS.where(Ambassador.id == bindparam("ambassador_id", type_=Integer))


def search_text(raw: str) -> str:
    """What a search box sent, as it is searched for: without the spaces around it, and at
    most :data:`SEARCH_MAX` characters."""
    return raw.strip()[:SEARCH_MAX].strip()


def find_ambassadors(session: Session, *, actor: User, text: str) -> AmbassadorSearch:
    """The current and upcoming ambassadors (never alumni) whose name or email contains
    ``text``, whatever its case (``%`` and ``_`` stand for themselves), listed by name: at
    most :data:`SHOWN` (the first to join), and ``more`` when others match too.

    Empty text finds nobody: a list of the whole programme is no way to find one person.
    Text with a NUL character finds nobody either, since no name or email holds one.
    Managers only: the list shows people's emails."""
    require_role(actor, *MANAGERS, doing="look up ambassadors")
    text = search_text(text)
    if not text or "\x00" in text:
        return AmbassadorSearch(text, [], more=False)
    escaped = (
        text.lower()
        .replace(ESCAPE, ESCAPE * 2)
        .replace("%", f"{ESCAPE}%")
        .replace("_", f"{ESCAPE}_")
    )
    matching = _MATCHING[session.get_bind().dialect.name, text.isascii()]
    rows = core_rows(session, matching, {"pattern": f"%{escaped}%"})
    found = sorted(map(FoundAmbassador.of, rows[:SHOWN]), key=lambda a: (a.name.lower(), a.id))
    return AmbassadorSearch(text, found, more=len(rows) > SHOWN)


def find_ambassador(session: Session, *, actor: User, ambassador_id: int) -> FoundAmbassador | None:
    """The ambassador with this id, whatever their status, or ``None``. Managers only."""
    require_role(actor, *MANAGERS, doing="look up ambassadors")
    rows = core_rows(session, _ONE, {"ambassador_id": ambassador_id})
    return FoundAmbassador.of(rows[0]) if rows else None


def allowance_recipient(
    session: Session, *, actor: User, ambassador_id: int | None
) -> FoundAmbassador:
    """The ambassador a manager chose to allocate an allowance to; refused when the id
    names nobody (``None``: it was no id at all) or someone among the alumni, who receive
    no new allowances."""
    ambassador = (
        find_ambassador(session, actor=actor, ambassador_id=ambassador_id)
        if ambassador_id is not None
        else None
    )
    if ambassador is None:
        raise NotFound("There is no such ambassador. Find them by name or email.")
    if not ambassador.may_receive:
        raise InvalidInput(
            f"{ambassador.name} is among the programme's alumni, who receive no new "
            "allowances. Find someone else.",
            field="ambassador",
        )
    return ambassador
