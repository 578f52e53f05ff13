"""Deciding an application: award it (an amount that may differ from the one asked) or
decline it with a reason. The partner's people are told either way.

An award writes a draft grant from the application: its purpose, category and amount, the
proposed tranches (scaled to the amount awarded, to the minor unit, when it differs) and
the proposed reporting dates. Each tranche after the first waits for the acceptance of the
latest report due on or before its own date. The draft then goes through the grant's own
four-eyes approval: the awarding manager drafted it, so another manager approves it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from grants.domain import audit, portal_notices
from grants.domain.checks import (
    MANAGERS,
    Amount,
    amount_request,
    clean_text,
    read_amount,
    require_role,
    same_currency,
)
from grants.domain.errors import InvalidInput, InvalidState, NotAllowed
from grants.domain.grants import GrantDraft, Instalment, ReportDue, draft_grant
from grants.domain.idempotency import Receipt, idempotent
from grants.domain.money import DEFAULT_LOCALE, Money, format_money
from grants.domain.reviews import REVIEWABLE, find_application, is_conflicted
from grants.models import Application, ApplicationState, Fund, Grant, User


def scale_schedule(amounts: Sequence[int], total: int) -> list[int]:
    """``amounts`` scaled in proportion so that they add up to ``total`` exactly, each a
    whole number of minor units: every share rounded down, then the units left over given
    one each to the largest remainders (the earliest first among equals). ``amounts``
    unchanged when they already add up to ``total``."""
    whole = sum(amounts)
    if whole == total or whole <= 0:
        return list(amounts)
    shares = [divmod(amount * total, whole) for amount in amounts]
    scaled = [share for share, _ in shares]
    left = total - sum(scaled)
    by_remainder = sorted(range(len(amounts)), key=lambda index: (-shares[index][1], index))
    for index in by_remainder[:left]:
        scaled[index] += 1
    return scaled


def award(
    session: Session,
    *,
    key: str,
    actor: User,
    application_id: int,
    amount: Amount,
    reason: str = "",
    now: datetime,
    locale: str = DEFAULT_LOCALE,
) -> Receipt:
    """Award the application ``amount`` (at most the round's most) and draft its grant."""
    require_role(actor, *MANAGERS, doing="decide applications")
    application = find_application(session, application_id)
    currency = application.round.fund.currency
    amount = read_amount(amount, currency, locale=locale)

    def perform() -> Receipt:
        decided = _deciding(session, actor, application_id)
        funding_round = decided.round
        minor = same_currency(amount, currency, locale=locale)
        if minor > funding_round.max_amount:
            raise InvalidInput(
                "This round gives at most "
                f"{format_money(funding_round.max_amount, currency, locale)} to one application.",
                field="amount",
            )
        words = clean_text(reason, field="reason", label="the reason", required=False, limit=2000)
        grant = _draft_from(session, actor, decided, minor)
        decided.state = ApplicationState.AWARDED
        decided.grant_id = grant.id
        decided.amount_awarded = minor
        decided.decided_by_id = actor.id
        decided.decided_at = now
        decided.decision_reason = words
        session.flush()
        portal_notices.application_decided(session, decided)
        audit.record(
            session,
            actor_id=actor.id,
            action="application.award",
            object_type="application",
            object_id=decided.id,
            before={"state": ApplicationState.SUBMITTED.value},
            after={
                "state": ApplicationState.AWARDED.value,
                "amount": minor,
                "asked": decided.amount_asked,
                "grant": grant.id,
            },
        )
        return Receipt("application.award", object_id=decided.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="application.award",
        request={"application": application_id, **amount_request(amount), "reason": reason},
        perform=perform,
    )


def decline(
    session: Session,
    *,
    key: str,
    actor: User,
    application_id: int,
    reason: str,
    now: datetime,
) -> Receipt:
    """Decline the application; the reason is required and shown to the partner."""
    require_role(actor, *MANAGERS, doing="decide applications")

    def perform() -> Receipt:
        decided = _deciding(session, actor, application_id)
        decided.state = ApplicationState.DECLINED
        decided.decided_by_id = actor.id
        decided.decided_at = now
        decided.decision_reason = clean_text(
            reason, field="reason", label="the reason", required=True, limit=2000
        )
        session.flush()
        portal_notices.application_decided(session, decided)
        audit.record(
            session,
            actor_id=actor.id,
            action="application.decline",
            object_type="application",
            object_id=decided.id,
            before={"state": ApplicationState.SUBMITTED.value},
            after={"state": ApplicationState.DECLINED.value, "reason": decided.decision_reason},
        )
        return Receipt("application.decline", object_id=decided.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="application.decline",
        request={"application": application_id, "reason": reason},
        perform=perform,
    )


def _deciding(session: Session, actor: User, application_id: int) -> Application:
    """The application, locked, if it waits for a decision that ``actor`` may make."""
    application = find_application(session, application_id, lock=True)
    if application.state not in REVIEWABLE:
        raise InvalidState(
            f"This application was {application.state.value}; it was decided already."
        )
    if is_conflicted(session, application.id, actor.id):
        raise NotAllowed("You declared a conflict of interest with this application.")
    return application


def _draft_from(session: Session, actor: User, application: Application, minor: int) -> Grant:
    """The draft grant an award of ``minor`` makes from ``application``."""
    fund = session.get_one(Fund, application.round.fund_id)
    proposed = application.proposed_tranches
    amounts = scale_schedule([tranche.amount for tranche in proposed], minor)
    assert application.category is not None, "a submitted application has its category"
    draft = GrantDraft(
        fund_id=fund.id,
        partner_id=application.partner_id,
        purpose=application.purpose,
        category=application.category.value,
        amount=Money(minor, fund.currency),
        tranches=[
            Instalment(tranche.due_date, Money(share, fund.currency))
            for tranche, share in zip(proposed, amounts, strict=True)
        ],
        reports=[
            ReportDue(report.title, report.due_date) for report in application.proposed_reports
        ],
    )
    grant = draft_grant(session, actor, draft)
    _wait_for_reports(grant)
    session.flush()
    return grant


def _wait_for_reports(grant: Grant) -> None:
    """Each tranche after the first waits for the latest report due on or before its date."""
    reports = sorted(grant.reports, key=lambda report: (report.due_date, report.id))
    for tranche in grant.tranches[1:]:
        before = [report for report in reports if report.due_date <= tranche.due_date]
        if before:
            tranche.release_after_id = before[-1].id
