"""Progress reports: each reporting date of a grant is a report the partner submits online.

A partner's people write a version (a narrative, people reached by country, sessions or
events held, the amount spent against each budget line, documents), save it as often as
they like, and submit it. A manager accepts it or asks for changes with a comment; the
partner then writes the next version, which starts as a copy of the last, and submits it
again. Every version is kept with its decision.

A tranche may be set to wait for a report (:func:`set_release`): paying it before that
report is accepted is refused by :func:`grants.domain.tranches.pay_tranche`. Accepting a
report and paying a tranche both lock the grant first, so the one that comes second sees
what the first did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import pycountry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.domain import audit, portal_notices
from grants.domain.applications import partner_of
from grants.domain.checks import MANAGERS, clean_text, require_role
from grants.domain.dates import format_day
from grants.domain.errors import InvalidInput, InvalidState, NotFound
from grants.domain.grants import PAYABLE, find_grant
from grants.domain.idempotency import Receipt, idempotent
from grants.domain.money import DEFAULT_LOCALE, parse_money
from grants.models import (
    Application,
    Grant,
    GrantStatus,
    ReportDecision,
    ReportingRequirement,
    ReportReach,
    ReportSpending,
    ReportState,
    ReportVersion,
    Role,
    Tranche,
    User,
)

NARRATIVE_MAX = 20_000
COMMENT_MAX = 4000
MAX_COUNTRIES = 60
MAX_SPENDING_LINES = 30
PEOPLE_MAX = 10**9
REPORTABLE = (*PAYABLE, GrantStatus.CLOSED)
"""A grant's reports are written once it is approved, and still after it closes."""
WRITABLE = (ReportState.DUE, ReportState.CHANGES_REQUESTED)


@dataclass(frozen=True)
class Spending:
    """An amount spent against a budget line, as typed in the person's locale."""

    label: str
    amount: str


@dataclass(frozen=True)
class ReportContent:
    """What a partner types into a report version. ``reach`` gives the number of people
    reached (as typed) in each country (an ISO code), as a mapping or as pairs; a country
    given twice counts the sum."""

    narrative: str = ""
    sessions_held: str = ""
    reach: Mapping[str, str] | Sequence[tuple[str, str]] | None = None
    spending: Sequence[Spending] = ()
    locale: str = DEFAULT_LOCALE


def own_requirement(
    session: Session, actor: User, requirement_id: int, *, lock: bool = False
) -> ReportingRequirement:
    """The reporting date, if it is of a grant to ``actor``'s organisation that has been
    approved; else :class:`NotFound`."""
    partner_id = partner_of(actor)
    query = (
        select(ReportingRequirement)
        .join(Grant, Grant.id == ReportingRequirement.grant_id)
        .where(
            ReportingRequirement.id == requirement_id,
            Grant.partner_id == partner_id,
            Grant.status.in_(REPORTABLE),
        )
        .execution_options(populate_existing=True)
    )
    requirement = session.scalar(query.with_for_update(of=ReportingRequirement) if lock else query)
    if requirement is None:
        raise NotFound("There is no such report.")
    return requirement


def find_requirement(session: Session, requirement_id: int) -> ReportingRequirement:
    requirement = session.get(ReportingRequirement, requirement_id)
    if requirement is None:
        raise NotFound("There is no such report.")
    return requirement


def latest_version(session: Session, requirement_id: int) -> ReportVersion | None:
    return session.scalar(
        select(ReportVersion)
        .where(ReportVersion.requirement_id == requirement_id)
        .order_by(ReportVersion.number.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )


def budget_labels(session: Session, grant_id: int) -> list[str]:
    """The budget lines of the application the grant was awarded from (none for a grant
    drafted by hand): the lines a report says its spending against."""
    application = session.scalar(select(Application).where(Application.grant_id == grant_id))
    return [] if application is None else [line.label for line in application.budget_lines]


def draft_version(
    session: Session, *, actor: User, requirement_id: int, now: datetime
) -> ReportVersion:
    """The version the partner is writing: the unsubmitted one, or a new one, begun as a
    copy of the last submitted version (or, for a first, with the budget's lines)."""
    require_role(actor, Role.PARTNER, doing="write progress reports")
    requirement = own_requirement(session, actor, requirement_id, lock=True)
    latest = latest_version(session, requirement.id)
    if latest is not None and latest.submitted_at is None:
        return latest
    if requirement.state not in WRITABLE:
        raise InvalidState(_state_words(requirement))
    version = ReportVersion(
        requirement_id=requirement.id,
        number=1 if latest is None else latest.number + 1,
        created_by_id=actor.id,
        created_at=now,
        narrative="" if latest is None else latest.narrative,
        sessions_held=0 if latest is None else latest.sessions_held,
    )
    if latest is None:
        version.spending = [
            ReportSpending(position=position, label=label, amount=0)
            for position, label in enumerate(budget_labels(session, requirement.grant_id), 1)
        ]
    else:
        version.reach = [ReportReach(country=r.country, people=r.people) for r in latest.reach]
        version.spending = [
            ReportSpending(position=s.position, label=s.label, amount=s.amount)
            for s in latest.spending
        ]
    session.add(version)
    session.flush()
    return version


def save_version(
    session: Session, *, actor: User, requirement_id: int, content: ReportContent, now: datetime
) -> ReportVersion:
    """Replace the draft version's contents with ``content``."""
    version = draft_version(session, actor=actor, requirement_id=requirement_id, now=now)
    currency = version_currency(session, version)
    version.narrative = clean_text(
        content.narrative,
        field="narrative",
        label="the narrative",
        required=False,
        limit=NARRATIVE_MAX,
    )
    version.sessions_held = _count(content.sessions_held, "sessions_held", "sessions or events")
    version.reach.clear()
    version.spending.clear()
    session.flush()
    version.reach.extend(_reach(content.reach or {}))
    version.spending.extend(_spending(content.spending, currency, content.locale))
    session.flush()
    return version


def submit_version(
    session: Session, *, key: str, actor: User, requirement_id: int, now: datetime
) -> Receipt:
    """Send the draft version to the grant's managers."""
    require_role(actor, Role.PARTNER, doing="write progress reports")

    def perform() -> Receipt:
        requirement = own_requirement(session, actor, requirement_id, lock=True)
        version = latest_version(session, requirement.id)
        if version is None or version.submitted_at is not None:
            raise InvalidState("Write the report before submitting it.")
        if requirement.state not in WRITABLE:
            raise InvalidState(_state_words(requirement))
        if not version.narrative:
            raise InvalidInput("Write what happened in the period.", field="narrative")
        before = requirement.state
        version.submitted_at = now
        version.submitted_by_id = actor.id
        requirement.state = ReportState.SUBMITTED
        if requirement.received_at is None:
            requirement.received_at = now
            requirement.received_by_id = actor.id
        session.flush()
        portal_notices.progress_submitted(session, requirement, version.number)
        audit.record(
            session,
            actor_id=actor.id,
            action="progress.submit",
            object_type="grant",
            object_id=requirement.grant_id,
            before={"report": requirement.id, "state": before.value},
            after={
                "report": requirement.id,
                "state": ReportState.SUBMITTED.value,
                "version": version.number,
            },
        )
        return Receipt("progress.submit", object_id=version.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="progress.submit",
        request={"report": requirement_id},
        perform=perform,
    )


def decide_version(
    session: Session,
    *,
    key: str,
    actor: User,
    requirement_id: int,
    decision: ReportDecision,
    comment: str,
    now: datetime,
) -> Receipt:
    """A manager accepts the submitted version, or asks for changes (a comment required).

    The grant is locked first, as a tranche payment locks it, so a payment waiting for this
    report sees the acceptance once it is committed, and never half of it."""
    require_role(actor, *MANAGERS, doing="review progress reports")

    def perform() -> Receipt:
        requirement = find_requirement(session, requirement_id)
        find_grant(session, requirement.grant_id, lock=True)
        session.refresh(requirement)
        version = latest_version(session, requirement.id)
        if requirement.state is not ReportState.SUBMITTED or version is None:
            raise InvalidState(_state_words(requirement))
        words = clean_text(
            comment,
            field="comment",
            label="the changes asked for",
            required=decision is ReportDecision.CHANGES_REQUESTED,
            limit=COMMENT_MAX,
        )
        version.decision = decision
        version.decision_comment = words
        version.decided_by_id = actor.id
        version.decided_at = now
        if decision is ReportDecision.ACCEPTED:
            requirement.state = ReportState.ACCEPTED
            requirement.accepted_at = now
            requirement.accepted_by_id = actor.id
        else:
            requirement.state = ReportState.CHANGES_REQUESTED
        session.flush()
        portal_notices.progress_decided(session, requirement, version.number, decision.value)
        audit.record(
            session,
            actor_id=actor.id,
            action=f"progress.{decision.value}",
            object_type="grant",
            object_id=requirement.grant_id,
            before={"report": requirement.id, "state": ReportState.SUBMITTED.value},
            after={
                "report": requirement.id,
                "state": requirement.state.value,
                "version": version.number,
            },
        )
        return Receipt(f"progress.{decision.value}", object_id=version.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="progress.decide",
        request={"report": requirement_id, "decision": decision.value, "comment": comment},
        perform=perform,
    )


def set_release(
    session: Session, *, actor: User, tranche_id: int, requirement_id: int | None
) -> Tranche:
    """Make an unpaid tranche wait for the acceptance of one of its grant's reports
    (``None``: wait for none)."""
    require_role(actor, *MANAGERS, doing="set when tranches are paid")
    tranche = session.get(Tranche, tranche_id)
    if tranche is None:
        raise NotFound("There is no such tranche.")
    grant = find_grant(session, tranche.grant_id, lock=True)
    session.refresh(tranche)
    if tranche.paid_on is not None:
        raise InvalidState("This tranche was paid already.")
    if grant.status not in (GrantStatus.DRAFT, GrantStatus.SUBMITTED, *PAYABLE):
        raise InvalidState(f"This grant is {grant.status.value}.")
    if requirement_id is not None and requirement_id not in {r.id for r in grant.reports}:
        raise InvalidInput("Choose one of this grant's reports.", field="release_after")
    before = tranche.release_after_id
    tranche.release_after_id = requirement_id
    session.flush()
    if before != requirement_id:
        audit.record(
            session,
            actor_id=actor.id,
            action="grant.tranche_release",
            object_type="grant",
            object_id=grant.id,
            before={"tranche": tranche.id, "after_report": before},
            after={"tranche": tranche.id, "after_report": requirement_id},
        )
    return tranche


def release_refusal(session: Session, tranche: Tranche, locale: str = DEFAULT_LOCALE) -> str | None:
    """Why ``tranche`` cannot be paid yet (its report is not accepted), or ``None``. Reads
    the report afresh from the database: the caller holds the grant's lock."""
    if tranche.release_after_id is None:
        return None
    state, title, due = session.execute(
        select(
            ReportingRequirement.state, ReportingRequirement.title, ReportingRequirement.due_date
        )
        .where(ReportingRequirement.id == tranche.release_after_id)
        .execution_options(populate_existing=True)
    ).one()
    if state is ReportState.ACCEPTED:
        return None
    return (
        f"This tranche is paid once the report “{title}” due {format_day(due, locale)} is "
        f"accepted; it is {ReportState(state).label.lower()}."
    )


def version_currency(session: Session, version: ReportVersion) -> str:
    return (
        session.scalar(
            select(Grant.currency)
            .join(ReportingRequirement, ReportingRequirement.grant_id == Grant.id)
            .where(ReportingRequirement.id == version.requirement_id)
        )
        or "USD"
    )


def submitted_count(session: Session, requirement_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(ReportVersion)
            .where(
                ReportVersion.requirement_id == requirement_id,
                ReportVersion.submitted_at.is_not(None),
            )
        )
        or 0
    )


def _state_words(requirement: ReportingRequirement) -> str:
    if requirement.state is ReportState.ACCEPTED:
        return "This report was accepted; it can no longer change."
    if requirement.state is ReportState.SUBMITTED:
        return "This report waits for a manager's review."
    return "This report has no version waiting for review."


def _count(raw: str, field: str, label: str) -> int:
    """A whole number, its digits grouped by thousands with commas or not at all: a comma
    anywhere else ("1,5") is refused rather than dropped."""
    text = raw.strip()
    if not text:
        return 0
    head, *groups = text.split(",")
    grouped = not groups or (1 <= len(head) <= 3 and all(len(group) == 3 for group in groups))
    text = text.replace(",", "")
    if not grouped or not text.isascii() or not text.isdigit() or int(text) > PEOPLE_MAX:
        raise InvalidInput(f"Enter the number of {label} as a whole number.", field=field)
    return int(text)


def _reach(reach: Mapping[str, str] | Sequence[tuple[str, str]]) -> list[ReportReach]:
    counted: dict[str, int] = {}
    pairs = list(reach.items()) if isinstance(reach, Mapping) else list(reach)
    for code, raw in pairs:
        country = code.strip().upper()
        if not raw.strip() and not country:
            continue
        if pycountry.countries.get(alpha_2=country) is None or len(country) != 2:
            raise InvalidInput("Choose a country for each number of people.", field="reach")
        counted[country] = counted.get(country, 0) + _count(raw, "reach", "people reached")
    if len(counted) > MAX_COUNTRIES:
        raise InvalidInput(f"Report at most {MAX_COUNTRIES} countries.", field="reach")
    return [ReportReach(country=country, people=people) for country, people in counted.items()]


def _spending(lines: Sequence[Spending], currency: str, locale: str) -> list[ReportSpending]:
    items = [line for line in lines if line.label.strip() or line.amount.strip()]
    if len(items) > MAX_SPENDING_LINES:
        raise InvalidInput(f"Report at most {MAX_SPENDING_LINES} lines.", field="spending")
    spending = []
    for number, line in enumerate(items, start=1):
        label = clean_text(
            " ".join(line.label.split()),
            field="spending",
            label=f"line {number}'s budget line",
            required=True,
            limit=200,
        )
        amount = 0
        if line.amount.strip() and line.amount.strip() not in ("0", "0.00"):
            try:
                amount = parse_money(line.amount, currency, locale).minor
            except InvalidInput as error:
                raise InvalidInput(f"Line {number}: {error.message}", field="spending") from None
        spending.append(ReportSpending(position=number, label=label, amount=amount))
    return spending
