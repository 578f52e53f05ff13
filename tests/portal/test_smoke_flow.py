"""The portal's whole path in the domain, once: round, application, review, award, grant,
report, gated tranche."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session

from grants.domain import tranches
from grants.domain.errors import InvalidState
from grants.models import ReportDecision, ReportState
from tests.portal.portal_world import NOW, Portal, awards, progress, reviews


def test_from_round_to_a_tranche_paid_against_an_accepted_report(db: Session) -> None:
    world = Portal(db)
    round_id = world.open_round()
    application = world.apply(round_id, world.backline_person)
    criteria = [c.id for c in application.round.criteria]
    reviews.declare(
        db, actor=world.reviewer, application_id=application.id, conflicted=False, note="", now=NOW
    )
    reviews.score(
        db,
        actor=world.reviewer,
        application_id=application.id,
        scores=dict.fromkeys(criteria, 4),
        comment="Good",
        now=NOW,
    )
    sheet = reviews.scoring_sheet(db, round_id=round_id, viewer=world.opener)
    assert sheet.rows[0].mean == 12
    grant = world.award_and_approve(application, "10,000.01")
    assert [t.amount for t in grant.tranches] == [500001, 500000]
    second = grant.tranches[1]
    assert second.release_after_id == grant.reports[0].id
    first = grant.tranches[0]
    tranches.pay_tranche(
        db,
        key="p1",
        actor=world.finance,
        tranche_id=first.id,
        payment_reference="REF1",
        paid_on=date(2026, 3, 2),
        today=date(2026, 3, 2),
    )
    with pytest.raises(InvalidState, match="Mid-year report"):
        tranches.pay_tranche(
            db,
            key="p2",
            actor=world.finance,
            tranche_id=second.id,
            payment_reference="REF2",
            paid_on=date(2026, 3, 2),
            today=date(2026, 3, 2),
        )
    requirement = grant.reports[0]
    progress.save_version(
        db,
        actor=world.backline_person,
        requirement_id=requirement.id,
        content=progress.ReportContent(
            narrative="We held 40 sessions.",
            sessions_held="40",
            reach={"US": "35", "GB": "5"},
            spending=[progress.Spending("Therapists", "4,000.00")],
        ),
        now=NOW,
    )
    progress.submit_version(
        db, key="s1", actor=world.backline_person, requirement_id=requirement.id, now=NOW
    )
    progress.decide_version(
        db,
        key="d1",
        actor=world.opener,
        requirement_id=requirement.id,
        decision=ReportDecision.ACCEPTED,
        comment="",
        now=NOW,
    )
    db.refresh(requirement)
    assert requirement.state is ReportState.ACCEPTED
    tranches.pay_tranche(
        db,
        key="p3",
        actor=world.finance,
        tranche_id=second.id,
        payment_reference="REF2",
        paid_on=date(2026, 3, 2),
        today=date(2026, 3, 2),
    )
    assert awards.scale_schedule([1, 1, 1], 100) == [34, 33, 33]
