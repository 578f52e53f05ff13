"""Reading the audit trail as an admin does: events filtered by who, what and when, newest
first, a page at a time; and checking the whole chain, timed.

Read-only. Filters are exact where an index can answer them (the actor, the object, the
action or the family of actions it starts), and by day for dates, inclusive, each day
the admin's own (in the filter's ``time_zone``).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session, aliased

from grants.clock import end_of_day, start_of_day
from grants.domain.audit import verify_chain
from grants.domain.dates import format_day, format_moment
from grants.domain.money import DEFAULT_LOCALE
from grants.domain.paging import Page, paginate_rows
from grants.models import AuditEvent, User

ACTION_MAX = 60
TYPE_MAX = 40


@dataclass(frozen=True)
class AuditFilter:
    """What the admin asked to see; ``None`` (or empty) means any."""

    actor_email: str = ""
    """The actor's email, any case; ``system`` for events no person made."""
    object_type: str = ""
    object_id: int | None = None
    action: str = ""
    """An action (``user.deactivate``) or a family of them ending in a dot (``user.``)."""
    since: date | None = None
    until: date | None = None
    time_zone: str = "UTC"
    """Where ``since`` and ``until`` are days, and the zone the changes' times are shown in:
    the admin's time zone."""
    locale: str = DEFAULT_LOCALE
    """How the changes' dates and times are written: the admin's locale."""


@dataclass(frozen=True)
class Change:
    """One field an event changed, as shown: its name, before and after."""

    field: str
    before: str
    after: str


@dataclass(frozen=True)
class ListedEvent:
    """One event as the audit-log view lists it."""

    seq: int
    occurred_at: datetime
    actor_id: int | None
    actor_name: str | None
    actor_email: str | None
    action: str
    object_type: str
    object_id: int | None
    changes: list[Change]


@dataclass(frozen=True)
class ChainCheck:
    """What verifying the whole chain found, and how long it took."""

    problems: list[str]
    events: int
    seconds: float
    checked_at: datetime

    @property
    def intact(self) -> bool:
        return not self.problems


def event_count(session: Session) -> int:
    """How many events the chain holds (its head's sequence number: no count of the rows)."""
    return session.scalar(select(func.max(AuditEvent.seq))) or 0


def check_chain(session: Session, *, now: datetime) -> ChainCheck:
    """Verify every event of the chain, as ``flask grants audit verify`` does, timed."""
    started = time.perf_counter()
    problems = verify_chain(session)
    return ChainCheck(problems, event_count(session), time.perf_counter() - started, now)


def find_events(
    session: Session, wanted: AuditFilter, *, page: int, per_page: int
) -> Page[ListedEvent]:
    """The events that match ``wanted``, newest first."""
    actor = aliased(User)
    query = select(
        AuditEvent.seq,
        AuditEvent.occurred_at,
        AuditEvent.actor_id,
        actor.display_name,
        actor.email,
        AuditEvent.action,
        AuditEvent.object_type,
        AuditEvent.object_id,
        AuditEvent.before,
        AuditEvent.after,
    ).outerjoin(actor, actor.id == AuditEvent.actor_id)
    email = wanted.actor_email.strip().lower()
    if email == "system":
        query = query.where(AuditEvent.actor_id.is_(None))
    elif email:
        query = query.where(
            AuditEvent.actor_id == select(User.id).where(User.email == email).scalar_subquery()
        )
    if wanted.object_type.strip():
        query = query.where(AuditEvent.object_type == wanted.object_type.strip()[:TYPE_MAX])
    if wanted.object_id is not None:
        query = query.where(AuditEvent.object_id == wanted.object_id)
    action = wanted.action.strip()[:ACTION_MAX]
    if action.endswith("."):
        query = query.where(AuditEvent.action.startswith(action, autoescape=True))
    elif action:
        query = query.where(AuditEvent.action == action)
    if wanted.since is not None:
        query = query.where(AuditEvent.occurred_at >= start_of_day(wanted.since, wanted.time_zone))
    if wanted.until is not None:
        query = query.where(AuditEvent.occurred_at < end_of_day(wanted.until, wanted.time_zone))
    found = paginate_rows(session, query.order_by(AuditEvent.seq.desc()), page, per_page)
    return found.map(lambda row: _listed(row, wanted))


def _listed(row: Row[Any], wanted: AuditFilter) -> ListedEvent:
    return ListedEvent(
        seq=row.seq,
        occurred_at=row.occurred_at,
        actor_id=row.actor_id,
        actor_name=row.display_name,
        actor_email=row.email,
        action=row.action,
        object_type=row.object_type,
        object_id=row.object_id,
        changes=changes(row.before, row.after, wanted.time_zone, wanted.locale),
    )


def changes(
    before: str, after: str, time_zone: str = "UTC", locale: str = DEFAULT_LOCALE
) -> list[Change]:
    """The fields an event's ``before`` and ``after`` (canonical JSON) name, each with its
    two values as text (``—`` for a field one side does not have). Dates and times stored
    in ISO 8601 are written as ``locale`` writes them, times in ``time_zone``; every other
    value as it was stored."""
    old, new = _loaded(before), _loaded(after)
    shown = _Writer(time_zone, locale)
    return [
        Change(name, shown.field(old, name), shown.field(new, name))
        for name in sorted(set(old) | set(new))
    ]


def _loaded(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {"(unreadable)": raw}
    return value if isinstance(value, dict) else {"value": value}


@dataclass(frozen=True)
class _Writer:
    """Writes a stored value for an admin: ISO days and times in their locale and zone."""

    time_zone: str
    locale: str

    def field(self, values: dict[str, Any], name: str) -> str:
        if name not in values:
            return "—"
        value = values[name]
        if isinstance(value, list):
            return ", ".join(self.item(item) for item in value) or "none"
        return self.item(value)

    def item(self, value: Any) -> str:
        if value is None:
            return "none"
        if isinstance(value, list):
            return f"({', '.join(self.item(item) for item in value)})"
        if isinstance(value, str):
            try:
                if _ISO_DAY.fullmatch(value):
                    return format_day(date.fromisoformat(value), self.locale)
                if _ISO_MOMENT.fullmatch(value):
                    moment = datetime.fromisoformat(value)
                    return format_moment(moment, self.time_zone, self.locale)
            except ValueError:
                return value
        return str(value)


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})")
"""A stored moment: always with its offset (a naive time would be a guess)."""
