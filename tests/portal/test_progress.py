"""Progress reports and the tranches that wait for them: only the grant's partner writes,
versions are kept with their decisions, figures are checked, and a tranche waiting for a
report is paid only once that report is accepted."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain import progress, tranches
from grants.domain.errors import InvalidInput, InvalidState, NotAllowed, NotFound
from grants.domain.grants import cancel_grant
from grants.domain.progress import ReportContent, Spending
from grants.models import (
    Grant,
    GrantStatus,
    Notification,
    ReportDecision,
    ReportingRequirement,
    ReportState,
    ReportVersion,
    Role,
    Tranche,
    User,
)
from tests.factories import make_user
from tests.portal.portal_world import NOW, Portal, awards
from tests.portal.test_rounds import count, events, refused

TODAY = date(2026, 3, 2)
CONTENT = ReportContent(
    narrative="We held 40 sessions for touring crew.",
    sessions_held="40",
    reach={"US": "35", "gb": "5"},
    spending=[Spending("Therapists", "4,000.00"), Spending("Admin", "500.00")],
)


class Setting:
    """Backline's approved grant of 12,000.00 in two tranches, the second waiting for the
    "Mid-year report"."""

    def __init__(self, db: Session) -> None:
        self.db = db
        self.world = Portal(db)
        self.round_id = self.world.open_round()
        application = self.world.apply(self.round_id, self.world.backline_person)
        self.grant = self.world.award_and_approve(application)
        self.report = self.grant.reports[0]
        self.first, self.second = self.grant.tranches
        self.partner = self.world.backline_person

    def save(
        self, content: ReportContent = CONTENT, actor: User | None = None, now: datetime = NOW
    ) -> ReportVersion:
        return progress.save_version(
            self.db,
            actor=actor or self.partner,
            requirement_id=self.report.id,
            content=content,
            now=now,
        )

    def submit(self, actor: User | None = None, now: datetime = NOW) -> object:
        return progress.submit_version(
            self.db,
            key=self.world.key(),
            actor=actor or self.partner,
            requirement_id=self.report.id,
            now=now,
        )

    def decide(
        self,
        decision: ReportDecision,
        comment: str = "",
        actor: User | None = None,
        now: datetime = NOW,
    ) -> object:
        return progress.decide_version(
            self.db,
            key=self.world.key(),
            actor=actor or self.world.opener,
            requirement_id=self.report.id,
            decision=decision,
            comment=comment,
            now=now,
        )

    def pay(self, tranche: Tranche, reference: str) -> object:
        return tranches.pay_tranche(
            self.db,
            key=self.world.key(),
            actor=self.world.finance,
            tranche_id=tranche.id,
            payment_reference=reference,
            paid_on=TODAY,
            today=TODAY,
        )

    def stored(self) -> ReportingRequirement:
        return self.db.get_one(ReportingRequirement, self.report.id, populate_existing=True)

    def versions(self) -> list[ReportVersion]:
        return list(
            self.db.scalars(
                select(ReportVersion)
                .where(ReportVersion.requirement_id == self.report.id)
                .order_by(ReportVersion.number)
                .execution_options(populate_existing=True)
            )
        )


@pytest.fixture
def setting(db: Session) -> Setting:
    return Setting(db)


def reach_of(version: ReportVersion) -> list[tuple[str, int]]:
    return [(line.country, line.people) for line in version.reach]


def spending_of(version: ReportVersion) -> list[tuple[int, str, int]]:
    return [(line.position, line.label, line.amount) for line in version.spending]


def test_only_the_grant_s_partner_writes_its_reports(setting: Setting, db: Session) -> None:
    world = setting.world
    other = world.musicares_person
    for attempt in (
        lambda: progress.draft_version(db, actor=other, requirement_id=setting.report.id, now=NOW),
        lambda: setting.save(actor=other),
        lambda: setting.submit(actor=other),
    ):
        refused(db, NotFound, "There is no such report.", attempt)
    for manager in (world.opener, world.finance):
        refused(
            db,
            NotAllowed,
            "cannot write progress reports",
            lambda manager=manager: setting.save(actor=manager),
        )
    nobody_s = make_user(db, Role.PARTNER)
    refused(db, NotFound, "There is no such page.", lambda: setting.save(actor=nobody_s))
    refused(
        db,
        NotFound,
        "There is no such report.",
        lambda: progress.draft_version(
            db, actor=setting.partner, requirement_id=setting.report.id + 99, now=NOW
        ),
    )
    assert setting.versions() == []


def test_a_grant_s_reports_are_not_found_before_it_is_approved(db: Session) -> None:
    world = Portal(db)
    round_id = world.open_round()
    application = world.apply(round_id, world.backline_person)
    awards.award(
        db,
        key=world.key(),
        actor=world.opener,
        application_id=application.id,
        amount="12,000.00",
        now=NOW,
    )
    db.refresh(application)
    assert application.grant is not None
    report_id = application.grant.reports[0].id
    refused(
        db,
        NotFound,
        "There is no such report.",
        lambda: progress.draft_version(
            db, actor=world.backline_person, requirement_id=report_id, now=NOW
        ),
    )
    assert count(db, ReportVersion) == 0


def test_the_first_version_starts_with_the_budget_s_lines(setting: Setting, db: Session) -> None:
    version = progress.draft_version(
        db, actor=setting.partner, requirement_id=setting.report.id, now=NOW
    )
    assert (version.number, version.narrative, version.sessions_held) == (1, "", 0)
    assert spending_of(version) == [(1, "Therapists", 0), (2, "Admin", 0)]
    again = progress.draft_version(
        db, actor=setting.partner, requirement_id=setting.report.id, now=NOW
    )
    assert again.id == version.id, "the unsubmitted version is the one being written"
    assert count(db, ReportVersion) == 1


def test_a_report_is_saved_submitted_and_accepted(setting: Setting, db: Session) -> None:
    world = setting.world
    setting.save()
    (version,) = setting.versions()
    assert (version.number, version.narrative, version.sessions_held) == (
        1,
        "We held 40 sessions for touring crew.",
        40,
    )
    assert reach_of(version) == [("GB", 5), ("US", 35)]
    assert spending_of(version) == [(1, "Therapists", 400_000), (2, "Admin", 50_000)]
    assert (version.people_reached, version.amount_spent) == (40, 450_000)
    assert version.submitted_at is None
    assert setting.stored().state is ReportState.DUE

    submitted_at = NOW + timedelta(hours=1)
    setting.submit(now=submitted_at)
    report = setting.stored()
    assert report.state is ReportState.SUBMITTED
    assert (report.received_at, report.received_by_id) == (submitted_at, setting.partner.id)
    (version,) = setting.versions()
    assert (version.submitted_at, version.submitted_by_id) == (submitted_at, setting.partner.id)

    accepted_at = NOW + timedelta(days=1)
    setting.decide(ReportDecision.ACCEPTED, now=accepted_at)
    report = setting.stored()
    assert report.state is ReportState.ACCEPTED
    assert (report.accepted_at, report.accepted_by_id) == (accepted_at, world.opener.id)
    (version,) = setting.versions()
    assert (version.decision, version.decided_by_id, version.decided_at) == (
        ReportDecision.ACCEPTED,
        world.opener.id,
        accepted_at,
    )
    assert [json.loads(e.after) for e in events(db, "progress.submit")] == [
        {"report": report.id, "state": "submitted", "version": 1}
    ]
    (accepted,) = events(db, "progress.accepted")
    assert (json.loads(accepted.before), json.loads(accepted.after)) == (
        {"report": report.id, "state": "submitted"},
        {"report": report.id, "state": "accepted", "version": 1},
    )


def test_a_report_is_submitted_with_a_narrative(setting: Setting, db: Session) -> None:
    refused(
        db,
        InvalidState,
        "Write the report before submitting it.",
        lambda: setting.submit(),
    )
    for narrative in ("", "  \n "):
        setting.save(ReportContent(narrative=narrative, sessions_held="3"))
        error = refused(
            db, InvalidInput, "Write what happened in the period.", lambda: setting.submit()
        )
        assert getattr(error, "field", None) == "narrative"
    assert setting.stored().state is ReportState.DUE
    assert setting.stored().received_at is None


def test_changes_asked_for_lead_to_a_second_version_and_every_version_is_kept(
    setting: Setting, db: Session
) -> None:
    world = setting.world
    first_submission = NOW + timedelta(hours=1)
    setting.save()
    setting.submit(now=first_submission)
    refused(
        db,
        InvalidState,
        "This report waits for a manager's review.",
        lambda: setting.save(ReportContent(narrative="Sneaky edit")),
    )
    for blank in ("", "   "):
        error = refused(
            db,
            InvalidInput,
            "Enter the changes asked for.",
            lambda blank=blank: setting.decide(ReportDecision.CHANGES_REQUESTED, blank),
        )
        assert getattr(error, "field", None) == "comment"
    setting.decide(ReportDecision.CHANGES_REQUESTED, "Split the spending by city.")
    assert setting.stored().state is ReportState.CHANGES_REQUESTED

    second = progress.draft_version(
        db, actor=setting.partner, requirement_id=setting.report.id, now=NOW
    )
    assert second.number == 2
    assert (second.narrative, second.sessions_held) == (
        "We held 40 sessions for touring crew.",
        40,
    )
    assert reach_of(second) == [("GB", 5), ("US", 35)]
    assert spending_of(second) == [(1, "Therapists", 400_000), (2, "Admin", 50_000)]
    setting.save(
        ReportContent(
            narrative="40 sessions: 25 in Nashville, 15 in Austin.",
            sessions_held="40",
            reach={"US": "40"},
            spending=[Spending("Therapists, Nashville", "2,500.00"), Spending("Admin", "0")],
        )
    )
    setting.submit(now=NOW + timedelta(days=3))
    assert setting.stored().received_at == first_submission, "received at the first submission"
    setting.decide(ReportDecision.ACCEPTED, actor=world.second)

    first, second = setting.versions()
    assert (first.number, first.decision, first.decision_comment) == (
        1,
        ReportDecision.CHANGES_REQUESTED,
        "Split the spending by city.",
    )
    assert first.narrative == "We held 40 sessions for touring crew."
    assert reach_of(first) == [("GB", 5), ("US", 35)]
    assert (second.number, second.decision, second.decided_by_id) == (
        2,
        ReportDecision.ACCEPTED,
        world.second.id,
    )
    assert spending_of(second) == [(1, "Therapists, Nashville", 250_000), (2, "Admin", 0)]
    assert progress.submitted_count(db, setting.report.id) == 2
    assert setting.stored().state is ReportState.ACCEPTED


def test_an_accepted_report_cannot_be_written_or_decided_again(
    setting: Setting, db: Session
) -> None:
    setting.save()
    setting.submit()
    setting.decide(ReportDecision.ACCEPTED)
    message = "This report was accepted; it can no longer change."
    refused(
        db,
        InvalidState,
        message,
        lambda: progress.draft_version(
            db, actor=setting.partner, requirement_id=setting.report.id, now=NOW
        ),
    )
    refused(db, InvalidState, message, lambda: setting.save())
    refused(db, InvalidState, "Write the report before submitting it.", lambda: setting.submit())
    refused(
        db, InvalidState, message, lambda: setting.decide(ReportDecision.CHANGES_REQUESTED, "x")
    )
    assert len(setting.versions()) == 1


def test_only_managers_decide_reports_and_only_submitted_ones(
    setting: Setting, db: Session
) -> None:
    world = setting.world
    setting.save()
    refused(
        db,
        InvalidState,
        "This report has no version waiting for review.",
        lambda: setting.decide(ReportDecision.ACCEPTED),
    )
    setting.submit()
    for actor in (setting.partner, world.finance):
        refused(
            db,
            NotAllowed,
            "cannot review progress reports",
            lambda actor=actor: setting.decide(ReportDecision.ACCEPTED, actor=actor),
        )
    assert setting.stored().state is ReportState.SUBMITTED


@pytest.mark.parametrize(
    ("content", "field", "message"),
    [
        (ReportContent(narrative="x", reach={"XX": "5"}), "reach", "Choose a country"),
        (ReportContent(narrative="x", reach={"USA": "5"}), "reach", "Choose a country"),
        (ReportContent(narrative="x", reach={"": "5"}), "reach", "Choose a country"),
        (ReportContent(narrative="x", reach={"US": "-5"}), "reach", "people reached as a whole"),
        (ReportContent(narrative="x", reach={"US": "five"}), "reach", "people reached"),
        (ReportContent(narrative="x", reach={"US": "1.5"}), "reach", "people reached"),
        (ReportContent(narrative="x", reach={"US": "1000000001"}), "reach", "people reached"),
        (ReportContent(narrative="x", sessions_held="-1"), "sessions_held", "sessions or events"),
        (ReportContent(narrative="x", sessions_held="many"), "sessions_held", "sessions"),
        (ReportContent(narrative="x", sessions_held="٣"), "sessions_held", "sessions"),
        (ReportContent(narrative="x", sessions_held="1,5"), "sessions_held", "sessions"),
        (ReportContent(narrative="x", reach={"US": "3,5"}), "reach", "people reached"),
        (ReportContent(narrative="x", reach={"US": "35,00"}), "reach", "people reached"),
        (
            ReportContent(narrative="x", spending=[Spending("Therapists", "-10.00")]),
            "spending",
            "Line 1: Enter an amount greater than zero.",
        ),
        (
            ReportContent(narrative="x", spending=[Spending("Therapists", "lots")]),
            "spending",
            "Line 1: Enter an amount in figures",
        ),
        (
            ReportContent(
                narrative="x",
                spending=[Spending("Admin", "1.00"), Spending("Therapists", "1.001")],
            ),
            "spending",
            "Line 2: USD amounts have at most 2 decimal places.",
        ),
        (
            ReportContent(narrative="x", spending=[Spending(" ", "10.00")]),
            "spending",
            "Enter line 1's budget line.",
        ),
    ],
)
def test_a_report_s_figures_are_checked(
    setting: Setting, db: Session, content: ReportContent, field: str, message: str
) -> None:
    setting.save()
    error = refused(db, InvalidInput, message, lambda: setting.save(content))
    assert getattr(error, "field", None) == field
    (version,) = setting.versions()
    assert version.narrative == CONTENT.narrative
    assert reach_of(version) == [("GB", 5), ("US", 35)]


def test_figures_are_read_as_typed(setting: Setting, db: Session) -> None:
    setting.save(
        ReportContent(
            narrative="x",
            sessions_held="1,200",
            reach={"us": "3", "US": "4", " ": "", "ca": ""},
            spending=[Spending("Therapists", "0.00"), Spending("", "")],
        )
    )
    (version,) = setting.versions()
    assert version.sessions_held == 1200
    assert reach_of(version) == [("CA", 0), ("US", 7)]
    assert spending_of(version) == [(1, "Therapists", 0)]


def test_managers_and_the_partner_are_told(setting: Setting, db: Session) -> None:
    world = setting.world
    colleague = world.person(world.backline)
    setting.save()
    setting.submit()
    setting.decide(ReportDecision.CHANGES_REQUESTED, "More detail")
    setting.save()
    setting.submit()
    setting.decide(ReportDecision.ACCEPTED)
    rows = db.execute(
        select(Notification.kind, Notification.user_id, Notification.event_key).order_by(
            Notification.id
        )
    ).all()
    report = setting.report.id
    submitted = [(r.user_id, r.event_key) for r in rows if r.kind == "progress.submitted"]
    decided = [(r.user_id, r.event_key) for r in rows if r.kind == "progress.decided"]
    managers = sorted([world.opener.id, world.second.id])
    assert submitted == [(m, f"progress:{report}:1") for m in managers] + [
        (m, f"progress:{report}:2") for m in managers
    ]
    assert decided == [
        (setting.partner.id, f"progress:{report}:1"),
        (colleague.id, f"progress:{report}:1"),
        (setting.partner.id, f"progress:{report}:2"),
        (colleague.id, f"progress:{report}:2"),
    ]
    titles = db.scalars(
        select(Notification.title)
        .where(Notification.kind == "progress.decided", Notification.user_id == colleague.id)
        .order_by(Notification.id)
    ).all()
    assert titles == ["Changes asked to “Mid-year report”", "“Mid-year report” was accepted"]


# --- tranches that wait for a report ---------------------------------------------------------


def test_a_waiting_tranche_is_paid_only_once_its_report_is_accepted(
    setting: Setting, db: Session
) -> None:
    assert setting.second.release_after_id == setting.report.id
    setting.pay(setting.first, "ACH-1")

    def refused_payment(state_words: str) -> None:
        refused(
            db,
            InvalidState,
            "This tranche is paid once the report “Mid-year report” due Aug 15, 2026 is "
            f"accepted; it is {state_words}.",
            lambda: setting.pay(setting.second, "ACH-2"),
        )
        assert db.get_one(Tranche, setting.second.id, populate_existing=True).paid_on is None

    refused_payment("due")
    setting.save()
    setting.submit()
    refused_payment("submitted")
    setting.decide(ReportDecision.CHANGES_REQUESTED, "Add the receipts")
    refused_payment("changes requested")
    setting.save()
    setting.submit()
    refused_payment("submitted")
    setting.decide(ReportDecision.ACCEPTED)

    receipt = setting.pay(setting.second, "ACH-2")
    paid = db.get_one(Tranche, setting.second.id, populate_existing=True)
    assert (paid.paid_on, paid.payment_reference) == (TODAY, "ACH-2")
    assert paid.transaction_id == receipt.transaction_id  # type: ignore[attr-defined]
    assert db.get_one(Grant, setting.grant.id, populate_existing=True).status is (
        GrantStatus.ACTIVE
    )
    assert len(events(db, "grant.pay_tranche")) == 2


def test_a_tranche_waits_for_one_of_its_own_grant_s_reports(setting: Setting, db: Session) -> None:
    world = setting.world
    theirs = world.award_and_approve(world.apply(setting.round_id, world.musicares_person))
    refused(
        db,
        InvalidInput,
        "Choose one of this grant's reports.",
        lambda: progress.set_release(
            db,
            actor=world.opener,
            tranche_id=setting.second.id,
            requirement_id=theirs.reports[0].id,
        ),
    )
    refused(
        db,
        NotFound,
        "There is no such tranche.",
        lambda: progress.set_release(
            db, actor=world.opener, tranche_id=999_999, requirement_id=None
        ),
    )
    for actor in (world.finance, setting.partner):
        refused(
            db,
            NotAllowed,
            "cannot set when tranches are paid",
            lambda actor=actor: progress.set_release(
                db, actor=actor, tranche_id=setting.second.id, requirement_id=None
            ),
        )

    progress.set_release(db, actor=world.opener, tranche_id=setting.second.id, requirement_id=None)
    (event,) = events(db, "grant.tranche_release")
    assert (event.object_id, json.loads(event.before), json.loads(event.after)) == (
        setting.grant.id,
        {"tranche": setting.second.id, "after_report": setting.report.id},
        {"tranche": setting.second.id, "after_report": None},
    )
    progress.set_release(db, actor=world.opener, tranche_id=setting.second.id, requirement_id=None)
    assert len(events(db, "grant.tranche_release")) == 1, "no change, no event"

    progress.set_release(
        db, actor=world.second, tranche_id=setting.first.id, requirement_id=setting.report.id
    )
    assert (
        db.get_one(Tranche, setting.first.id, populate_existing=True).release_after_id
        == setting.report.id
    )
    refused(
        db,
        InvalidState,
        "“Mid-year report”",
        lambda: setting.pay(setting.first, "ACH-1"),
    )
    setting.pay(setting.second, "ACH-2")  # waits for nothing now
    refused(
        db,
        InvalidState,
        "This tranche was paid already.",
        lambda: progress.set_release(
            db, actor=world.opener, tranche_id=setting.second.id, requirement_id=setting.report.id
        ),
    )
    assert len(events(db, "grant.tranche_release")) == 2


def test_a_cancelled_grant_s_tranche_waits_for_nothing_new(setting: Setting, db: Session) -> None:
    world = setting.world
    cancel_grant(
        db, key=world.key(), actor=world.opener, grant_id=setting.grant.id, reason="Ended", now=NOW
    )
    refused(
        db,
        InvalidState,
        "This grant is cancelled.",
        lambda: progress.set_release(
            db, actor=world.opener, tranche_id=setting.second.id, requirement_id=None
        ),
    )
