"""Applications: who may start, save, submit and withdraw one, when (to the microsecond of the
round's opening and closing), what a submission needs, and that a refusal writes nothing."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain import applications, awards, rounds
from grants.domain.applications import ApplicationDraft, BudgetItem
from grants.domain.errors import InvalidInput, InvalidState, NotAllowed, NotFound
from grants.domain.grants import Instalment, ReportDue
from grants.models import (
    Application,
    ApplicationAnswer,
    ApplicationState,
    BudgetLine,
    Document,
    Notification,
    ProposedReport,
    ProposedTranche,
    Role,
)
from tests.factories import make_user
from tests.portal.portal_world import NOW, Portal
from tests.portal.test_rounds import count, events, refused

OPENING = datetime(2026, 3, 1, 14, tzinfo=UTC)
"""09:00 EST on 1 March 2026, the world's round's opening."""
CLOSING = datetime(2026, 3, 31, 21, tzinfo=UTC)
"""17:00 EDT on 31 March 2026, the world's round's closing."""
CLOSED_WORDS = "This round closed on Mar 31, 2026, 5:00\u202fPM EDT"
TICK = timedelta(microseconds=1)


@pytest.fixture
def world(db: Session) -> Portal:
    return Portal(db)


@pytest.fixture
def round_id(world: Portal) -> int:
    return world.open_round()


def stored(db: Session, application_id: int) -> Application:
    found = db.get(Application, application_id, populate_existing=True)
    assert found is not None
    return found


def start(world: Portal, round_id: int, now: datetime = NOW) -> Application:
    return applications.start_application(
        world.db, actor=world.backline_person, round_id=round_id, now=now
    )


def save(
    world: Portal, application_id: int, draft: ApplicationDraft, now: datetime = NOW
) -> Application:
    return applications.save_application(
        world.db, actor=world.backline_person, application_id=application_id, draft=draft, now=now
    )


def submit(world: Portal, application_id: int, now: datetime = NOW) -> object:
    return applications.submit_application(
        world.db,
        key=world.key(),
        actor=world.backline_person,
        application_id=application_id,
        now=now,
    )


def drafted(world: Portal, round_id: int, **changes: object) -> Application:
    """Backline's application, saved with the world's complete draft and ``changes``."""
    application = start(world, round_id)
    save(world, application.id, replace(world.complete_draft(round_id), **changes))  # type: ignore[arg-type]
    return stored(world.db, application.id)


def questions(world: Portal, round_id: int) -> dict[str, int]:
    return {q.prompt: q.id for q in rounds.find_round(world.db, round_id).questions}


def test_a_complete_draft_is_saved_and_submitted(world: Portal, db: Session, round_id: int) -> None:
    application = drafted(world, round_id)
    assert application.state is ApplicationState.DRAFT
    assert application.purpose == "Free therapy sessions for touring crew."
    assert application.category is not None
    assert application.category.value == "therapy_access"
    assert application.amount_asked == 1_200_000
    assert [(b.position, b.label, b.amount) for b in application.budget_lines] == [
        (1, "Therapists", 1_000_000),
        (2, "Admin", 200_000),
    ]
    assert [(t.due_date, t.amount) for t in application.proposed_tranches] == [
        (date(2026, 4, 1), 600_000),
        (date(2026, 9, 1), 600_000),
    ]
    assert [(r.title, r.due_date) for r in application.proposed_reports] == [
        ("Mid-year report", date(2026, 8, 15))
    ]
    q = questions(world, round_id)
    answers = {a.question_id: (a.text, a.number) for a in application.answers}
    assert answers == {
        q["Who will you reach?"]: ("Touring crew in the US.", None),
        q["How many sessions?"]: ("", 120),
        q["Region"]: ("East", None),
    }
    assert applications.problems(application) == []

    receipt = submit(world, application.id)
    application = stored(db, application.id)
    assert application.state is ApplicationState.SUBMITTED
    assert (application.submitted_by_id, application.submitted_at) == (
        world.backline_person.id,
        NOW,
    )
    (event,) = events(db, "application.submit")
    assert event.object_id == application.id
    assert json.loads(event.after) == {"state": "submitted", "amount_asked": 1_200_000}
    assert receipt.object_id == application.id  # type: ignore[attr-defined]


def test_a_submission_replayed_with_its_key_changes_nothing(
    world: Portal, db: Session, round_id: int
) -> None:
    application = drafted(world, round_id)
    first = applications.submit_application(
        db, key="submit-1", actor=world.backline_person, application_id=application.id, now=NOW
    )
    again = applications.submit_application(
        db, key="submit-1", actor=world.backline_person, application_id=application.id, now=NOW
    )
    assert again.replayed
    assert again.object_id == first.object_id
    assert len(events(db, "application.submit")) == 1
    assert count(db, Notification, Notification.kind == "application.submitted") == 3


def test_only_a_partner_s_people_apply(world: Portal, db: Session, round_id: int) -> None:
    application = start(world, round_id)
    draft = world.complete_draft(round_id)
    for manager in (world.opener, world.finance):
        refused(
            db,
            NotAllowed,
            "cannot apply for grants",
            lambda manager=manager: applications.start_application(
                db, actor=manager, round_id=round_id, now=NOW
            ),
        )
        refused(
            db,
            NotAllowed,
            "cannot apply for grants",
            lambda manager=manager: applications.save_application(
                db, actor=manager, application_id=application.id, draft=draft, now=NOW
            ),
        )
        refused(
            db,
            NotAllowed,
            "cannot apply for grants",
            lambda manager=manager: applications.submit_application(
                db, key=world.key(), actor=manager, application_id=application.id, now=NOW
            ),
        )
        refused(
            db,
            NotAllowed,
            "cannot apply for grants",
            lambda manager=manager: applications.withdraw_application(
                db, actor=manager, application_id=application.id, now=NOW
            ),
        )
        with pytest.raises(NotFound):
            applications.partner_of(manager)
    nobody_s = make_user(db, Role.PARTNER)  # a partner person of no organisation
    refused(
        db,
        NotFound,
        "There is no such page.",
        lambda: applications.start_application(db, actor=nobody_s, round_id=round_id, now=NOW),
    )
    assert count(db, Application) == 1


def test_another_organisation_s_application_is_not_found_for_every_operation(
    world: Portal, db: Session, round_id: int
) -> None:
    application = drafted(world, round_id)
    document = attached(world, application)
    q = questions(world, round_id)
    other = world.musicares_person
    attempts = {
        "save": lambda: applications.save_application(
            db,
            actor=other,
            application_id=application.id,
            draft=world.complete_draft(round_id),
            now=NOW,
        ),
        "submit": lambda: applications.submit_application(
            db, key=world.key(), actor=other, application_id=application.id, now=NOW
        ),
        "withdraw": lambda: applications.withdraw_application(
            db, actor=other, application_id=application.id, now=NOW
        ),
        "link": lambda: applications.link_answer_document(
            db,
            actor=other,
            application_id=application.id,
            question_id=q["Who will you reach?"],
            document_id=document.id,
            now=NOW,
        ),
        "own": lambda: applications.own_application(db, other, application.id),
    }
    for name, attempt in attempts.items():
        error = refused(db, NotFound, "There is no such application.", attempt)
        assert error.message == "There is no such application.", name
    assert stored(db, application.id).state is ApplicationState.DRAFT


def test_starting_twice_gives_the_same_application(
    world: Portal, db: Session, round_id: int
) -> None:
    first = start(world, round_id)
    second = start(world, round_id, now=NOW + timedelta(days=1))
    assert second.id == first.id
    assert second.created_at == NOW
    assert count(db, Application) == 1
    assert len(events(db, "application.start")) == 1
    theirs = applications.start_application(
        db, actor=world.musicares_person, round_id=round_id, now=NOW
    )
    assert theirs.id != first.id
    assert (theirs.partner_id, theirs.state) == (world.musicares.id, ApplicationState.DRAFT)
    assert count(db, Application) == 2


def test_a_round_is_not_found_before_it_opens(world: Portal, db: Session, round_id: int) -> None:
    refused(
        db,
        NotFound,
        "There is no such funding round.",
        lambda: start(world, round_id, now=OPENING - TICK),
    )
    refused(db, NotFound, "no such funding round", lambda: start(world, round_id + 1))
    assert count(db, Application) == 0
    assert start(world, round_id, now=OPENING).created_at == OPENING


def test_saving_and_submitting_stop_at_the_round_s_closing_moment(
    world: Portal, db: Session, round_id: int
) -> None:
    application = start(world, round_id)
    draft = world.complete_draft(round_id)
    error = refused(
        db, InvalidState, CLOSED_WORDS, lambda: save(world, application.id, draft, CLOSING)
    )
    assert "no longer be saved or submitted" in error.message
    assert stored(db, application.id).amount_asked == 0
    save(world, application.id, draft, CLOSING - TICK)
    assert stored(db, application.id).updated_at == CLOSING - TICK
    refused(db, InvalidState, CLOSED_WORDS, lambda: submit(world, application.id, CLOSING))
    assert stored(db, application.id).state is ApplicationState.DRAFT
    submit(world, application.id, CLOSING - TICK)
    found = stored(db, application.id)
    assert (found.state, found.submitted_at) == (ApplicationState.SUBMITTED, CLOSING - TICK)


def test_nobody_starts_once_the_round_has_closed(world: Portal, db: Session, round_id: int) -> None:
    mine = start(world, round_id)
    refused(
        db,
        InvalidState,
        CLOSED_WORDS,
        lambda: applications.start_application(
            db, actor=world.musicares_person, round_id=round_id, now=CLOSING
        ),
    )
    assert start(world, round_id, now=CLOSING).id == mine.id, "an existing one is still shown"
    assert count(db, Application) == 1


def test_budget_lines_add_up_to_the_amount_asked_to_the_cent(
    world: Portal, db: Session, round_id: int
) -> None:
    application = drafted(
        world,
        round_id,
        budget=[BudgetItem("Therapists", "10,000.00"), BudgetItem("Admin", "1,999.99")],
    )
    assert [line.amount for line in application.budget_lines] == [1_000_000, 199_999]
    message = "The budget lines add up to $11,999.99, not the $12,000.00 asked."
    assert applications.problems(application) == [message]
    refused(db, InvalidInput, message, lambda: submit(world, application.id))
    assert stored(db, application.id).state is ApplicationState.DRAFT

    save(
        world,
        application.id,
        replace(
            world.complete_draft(round_id),
            budget=[BudgetItem("Therapists", "10,000.00"), BudgetItem("Admin", "2,000.01")],
        ),
    )
    refused(
        db,
        InvalidInput,
        "The budget lines add up to $12,000.01, not the $12,000.00 asked.",
        lambda: submit(world, application.id),
    )


def test_tranches_add_up_to_the_amount_asked_to_the_cent(
    world: Portal, db: Session, round_id: int
) -> None:
    application = drafted(
        world,
        round_id,
        tranches=[
            Instalment(date(2026, 4, 1), "6,000.00"),
            Instalment(date(2026, 9, 1), "5,999.99"),
        ],
    )
    message = "The proposed tranches add up to $11,999.99, not the $12,000.00 asked."
    assert applications.problems(application) == [message]
    refused(db, InvalidInput, message, lambda: submit(world, application.id))
    assert stored(db, application.id).state is ApplicationState.DRAFT


def test_tranche_dates_fall_in_the_fund_s_plan_year(
    world: Portal, db: Session, round_id: int
) -> None:
    application = drafted(world, round_id)
    before = [(t.due_date, t.amount) for t in application.proposed_tranches]
    for outside in (date(2025, 12, 31), date(2027, 1, 1)):
        draft = replace(
            world.complete_draft(round_id),
            tranches=[
                Instalment(date(2026, 4, 1), "6,000.00"),
                Instalment(outside, "6,000.00"),
            ],
            purpose="Changed",
        )
        error = refused(
            db,
            InvalidInput,
            "Tranche 2's date must fall in the plan year, Jan 1, 2026 to Dec 31, 2026.",
            lambda draft=draft: save(world, application.id, draft),
        )
        assert getattr(error, "field", None) == "tranches"
    found = stored(db, application.id)
    assert found.purpose == "Free therapy sessions for touring crew."
    assert [(t.due_date, t.amount) for t in found.proposed_tranches] == before
    save(
        world,
        application.id,
        replace(
            world.complete_draft(round_id),
            tranches=[
                Instalment(date(2026, 12, 31), "6,000.00"),
                Instalment(date(2026, 1, 1), "6,000.00"),
            ],
        ),
    )
    assert [t.due_date for t in stored(db, application.id).proposed_tranches] == [
        date(2026, 1, 1),
        date(2026, 12, 31),
    ]


def test_the_amount_asked_may_be_the_round_s_most_and_not_a_cent_more(
    world: Portal, db: Session, round_id: int
) -> None:
    def asking(amount: str, halves: tuple[str, str]) -> dict[str, object]:
        return {
            "amount": amount,
            "budget": [BudgetItem("Therapists", halves[0]), BudgetItem("Admin", halves[1])],
            "tranches": [
                Instalment(date(2026, 4, 1), halves[0]),
                Instalment(date(2026, 9, 1), halves[1]),
            ],
        }

    application = drafted(world, round_id, **asking("20,000.01", ("10,000.00", "10,000.01")))
    assert application.amount_asked == 2_000_001, "a draft may hold it"
    refused(
        db,
        InvalidInput,
        "This round gives at most $20,000.00 to one application.",
        lambda: submit(world, application.id),
    )
    save(
        world,
        application.id,
        replace(world.complete_draft(round_id), **asking("20,000.00", ("10,000.00", "10,000.00"))),  # type: ignore[arg-type]
    )
    submit(world, application.id)
    found = stored(db, application.id)
    assert (found.state, found.amount_asked) == (ApplicationState.SUBMITTED, 2_000_000)


def test_required_questions_are_answered_and_optional_ones_need_not_be(
    world: Portal, db: Session, round_id: int
) -> None:
    q = questions(world, round_id)
    for blank in ("", "   "):
        application = drafted(
            world,
            round_id,
            answers={
                q["Who will you reach?"]: blank,
                q["How many sessions?"]: "120",
                q["Region"]: "East",
            },
        )
        message = "Answer question 1: Who will you reach?"
        assert applications.problems(application) == [message]
        refused(
            db, InvalidInput, message, lambda application=application: submit(world, application.id)
        )
    application = drafted(
        world,
        round_id,
        answers={q["Who will you reach?"]: "", q["How many sessions?"]: "", q["Region"]: "East"},
    )
    assert applications.problems(application) == [
        "Answer question 1: Who will you reach?",
        "Answer question 2: How many sessions?",
    ]
    application = drafted(world, round_id)
    assert q["Your annual budget"] not in {a.question_id for a in application.answers}
    submit(world, application.id)
    assert stored(db, application.id).state is ApplicationState.SUBMITTED


@pytest.mark.parametrize(
    ("prompt", "typed", "message"),
    [
        ("How many sessions?", "12.5", "Question 2: enter a whole number"),
        ("How many sessions?", "-3", "Question 2: enter a whole number"),
        ("How many sessions?", "many", "Question 2: enter a whole number"),
        ("How many sessions?", "\uff11\uff12", "Question 2: enter a whole number"),
        ("How many sessions?", "1000000000001", "Question 2: enter a whole number"),
        ("How many sessions?", "12,5", "Question 2: enter a whole number"),
        ("How many sessions?", "1,20", "Question 2: enter a whole number"),
        ("How many sessions?", ",120", "Question 2: enter a whole number"),
        ("How many sessions?", "1 2 0", "Question 2: enter a whole number"),
        ("Your annual budget", "lots", "Enter an amount in figures"),
        ("Your annual budget", "1.001", "USD amounts have at most 2 decimal places"),
        ("Your annual budget", "-5.00", "greater than zero"),
        ("Region", "North", "Question 4: choose one of its options."),
        ("Region", "east", "Question 4: choose one of its options."),
    ],
)
def test_answers_are_checked_by_their_kind(
    world: Portal, db: Session, round_id: int, prompt: str, typed: str, message: str
) -> None:
    application = drafted(world, round_id)
    q = questions(world, round_id)
    draft = world.complete_draft(round_id)
    wrong = replace(draft, answers={**(draft.answers or {}), q[prompt]: typed})
    error = refused(db, InvalidInput, message, lambda: save(world, application.id, wrong))
    assert getattr(error, "field", None) == f"answer_{q[prompt]}"


def test_answers_are_stored_as_their_kind(world: Portal, db: Session, round_id: int) -> None:
    q = questions(world, round_id)
    application = drafted(
        world,
        round_id,
        answers={
            q["Who will you reach?"]: "  Crew  ",
            q["How many sessions?"]: "1,200",
            q["Your annual budget"]: "250,000.50",
            q["Region"]: "West",
        },
    )
    answers = {a.question_id: (a.text, a.number) for a in application.answers}
    assert answers == {
        q["Who will you reach?"]: ("Crew", None),
        q["How many sessions?"]: ("", 1200),
        q["Your annual budget"]: ("", 25_000_050),
        q["Region"]: ("West", None),
    }
    limit = drafted(world, round_id, answers={q["How many sessions?"]: "1000000000000"})
    assert {a.question_id: a.number for a in limit.answers}[q["How many sessions?"]] == 10**12


def test_an_answer_to_another_round_s_question_is_refused(
    world: Portal, db: Session, round_id: int
) -> None:
    application = drafted(world, round_id)
    other_round = world.open_round(title="Another round")
    stray = next(iter(questions(world, other_round).values()))
    refused(
        db,
        InvalidInput,
        "An answer was given to a question this round does not ask.",
        lambda: save(
            world, application.id, replace(world.complete_draft(round_id), answers={stray: "x"})
        ),
    )


def test_a_submitted_application_cannot_be_saved_or_submitted_again(
    world: Portal, db: Session, round_id: int
) -> None:
    application = drafted(world, round_id)
    submit(world, application.id)
    refused(
        db,
        InvalidState,
        "This application is submitted: only a draft can change.",
        lambda: save(world, application.id, replace(world.complete_draft(round_id), purpose="New")),
    )
    refused(db, InvalidState, "only a draft can change", lambda: submit(world, application.id))
    assert stored(db, application.id).purpose == "Free therapy sessions for touring crew."


def test_a_draft_or_a_submitted_application_is_withdrawn_once(
    world: Portal, db: Session, round_id: int
) -> None:
    draft = start(world, round_id)
    applications.withdraw_application(
        db, actor=world.backline_person, application_id=draft.id, now=NOW
    )
    assert stored(db, draft.id).state is ApplicationState.WITHDRAWN
    refused(
        db,
        InvalidState,
        "This application was withdrawn; it can no longer be withdrawn.",
        lambda: applications.withdraw_application(
            db, actor=world.backline_person, application_id=draft.id, now=NOW
        ),
    )
    refused(
        db,
        InvalidState,
        "only a draft can change",
        lambda: save(world, draft.id, world.complete_draft(round_id)),
    )

    submitted = world.apply(round_id, world.musicares_person)
    applications.withdraw_application(
        db, actor=world.musicares_person, application_id=submitted.id, now=NOW
    )
    found = stored(db, submitted.id)
    assert (found.state, found.submitted_at) == (ApplicationState.WITHDRAWN, NOW)
    withdrawals = events(db, "application.withdraw")
    assert [(json.loads(e.before), e.object_id) for e in withdrawals] == [
        ({"state": "draft"}, draft.id),
        ({"state": "submitted"}, submitted.id),
    ]


def test_a_withdrawn_application_is_a_draft_again_when_started_while_the_round_is_open(
    world: Portal, db: Session, round_id: int
) -> None:
    draft = start(world, round_id)
    save(world, draft.id, world.complete_draft(round_id))
    applications.withdraw_application(
        db, actor=world.backline_person, application_id=draft.id, now=NOW
    )
    again = start(world, round_id)
    assert again.id == draft.id
    assert stored(db, draft.id).state is ApplicationState.DRAFT
    assert stored(db, draft.id).amount_asked == 1_200_000, "what it held is kept"
    assert [json.loads(e.after) for e in events(db, "application.reopen")] == [{"state": "draft"}]
    applications.withdraw_application(
        db, actor=world.backline_person, application_id=draft.id, now=NOW
    )
    closed = world.later(40)
    refused(db, InvalidState, "closed on", lambda: start(world, round_id, now=closed))
    assert stored(db, draft.id).state is ApplicationState.WITHDRAWN


def test_a_decided_application_is_not_withdrawn(world: Portal, db: Session, round_id: int) -> None:
    application = world.apply(round_id, world.backline_person)
    awards.award(
        db,
        key=world.key(),
        actor=world.opener,
        application_id=application.id,
        amount="1.00",
        now=NOW,
    )
    refused(
        db,
        InvalidState,
        "This application was awarded; it can no longer be withdrawn.",
        lambda: applications.withdraw_application(
            db, actor=world.backline_person, application_id=application.id, now=NOW
        ),
    )


def test_a_refused_save_writes_nothing(world: Portal, db: Session, round_id: int) -> None:
    """A save that fails on its last part (the reporting dates) leaves the draft as it was:
    not its purpose, not its budget, not its answers."""
    application = drafted(world, round_id)
    q = questions(world, round_id)
    bad = ApplicationDraft(
        purpose="Something else entirely",
        category="services",
        amount="5,000.00",
        answers={q["Who will you reach?"]: "Nobody"},
        budget=[BudgetItem("Other", "5,000.00")],
        tranches=[Instalment(date(2026, 5, 1), "5,000.00")],
        reports=[ReportDue("  ", date(2026, 8, 1))],
    )
    refused(db, InvalidInput, "Enter report 1's title.", lambda: save(world, application.id, bad))
    found = stored(db, application.id)
    assert (found.purpose, found.amount_asked) == (
        "Free therapy sessions for touring crew.",
        1_200_000,
    )
    assert count(db, BudgetLine) == 2
    assert count(db, ProposedTranche) == 2
    assert count(db, ProposedReport) == 1
    assert count(db, ApplicationAnswer) == 3
    for category, message in (
        ("festival_wellness", "Choose one of the things this round funds."),
        ("parties", "Choose one of the things this round funds."),
    ):
        refused(
            db,
            InvalidInput,
            message,
            lambda category=category: save(
                world, application.id, replace(world.complete_draft(round_id), category=category)
            ),
        )
    refused(
        db,
        InvalidInput,
        "Budget line 2: USD amounts have at most 2 decimal places.",
        lambda: save(
            world,
            application.id,
            replace(
                world.complete_draft(round_id),
                budget=[BudgetItem("Therapists", "10,000.00"), BudgetItem("Admin", "1,999.999")],
            ),
        ),
    )
    refused(
        db,
        InvalidInput,
        "Enter budget line 1's description.",
        lambda: save(
            world,
            application.id,
            replace(world.complete_draft(round_id), budget=[BudgetItem(" ", "12,000.00")]),
        ),
    )


def test_reviewers_and_the_round_s_opener_are_told_of_a_submission(
    world: Portal, db: Session, round_id: int
) -> None:
    application = drafted(world, round_id)
    assert count(db, Notification) == 0
    submit(world, application.id)
    told = db.execute(
        select(Notification.user_id, Notification.event_key, Notification.link)
        .where(Notification.kind == "application.submitted")
        .order_by(Notification.user_id)
    ).all()
    assert [row.user_id for row in told] == sorted(
        [world.opener.id, world.reviewer.id, world.second.id]
    )
    assert {row.event_key for row in told} == {f"application:{application.id}"}
    assert {row.link for row in told} == {f"/manager/applications/{application.id}"}
    (title,) = set(
        db.scalars(select(Notification.title).where(Notification.kind == "application.submitted"))
    )
    assert title == "Backline applied to Therapy access 2026"


def test_an_inactive_reviewer_is_not_told_and_an_opener_who_reviews_is_told_once(
    world: Portal, db: Session
) -> None:
    round_id = world.open_round(reviewer_ids=[world.opener.id, world.second.id])
    world.second.active = False
    db.flush()
    world.apply(round_id, world.backline_person)
    told = db.scalars(
        select(Notification.user_id).where(Notification.kind == "application.submitted")
    ).all()
    assert told == [world.opener.id]


def attached(world: Portal, application: Application) -> Document:
    """A document row of ``application``, as an upload would have written it."""
    document = Document(
        partner_id=application.partner_id,
        application_id=application.id,
        stored_name=f"{application.id:064x}"[:64],
        filename="letter.pdf",
        content_type="application/pdf",
        size=10,
        sha256="0" * 64,
        uploaded_by_id=world.backline_person.id,
    )
    world.db.add(document)
    world.db.flush()
    return document


def test_a_file_question_is_answered_by_the_application_s_own_document(
    world: Portal, db: Session
) -> None:
    round_id = world.open_round(
        questions=[
            rounds.Question("Who will you reach?", "text"),
            rounds.Question("How many sessions?", "number"),
            rounds.Question("Region", "choice", ["East", "West"]),
            rounds.Question("Letter", "file"),
        ]
    )
    q = questions(world, round_id)
    application = drafted(world, round_id)
    assert applications.problems(application) == ["Answer question 4: Letter"]
    theirs = applications.start_application(
        db, actor=world.musicares_person, round_id=round_id, now=NOW
    )
    their_document = attached(world, theirs)
    refused(
        db,
        NotFound,
        "There is no such document.",
        lambda: applications.link_answer_document(
            db,
            actor=world.backline_person,
            application_id=application.id,
            question_id=q["Letter"],
            document_id=their_document.id,
            now=NOW,
        ),
    )
    mine = attached(world, application)
    refused(
        db,
        NotFound,
        "There is no such question.",
        lambda: applications.link_answer_document(
            db,
            actor=world.backline_person,
            application_id=application.id,
            question_id=q["Who will you reach?"],
            document_id=mine.id,
            now=NOW,
        ),
    )
    applications.link_answer_document(
        db,
        actor=world.backline_person,
        application_id=application.id,
        question_id=q["Letter"],
        document_id=mine.id,
        now=NOW,
    )
    answer = db.get_one(ApplicationAnswer, (application.id, q["Letter"]))
    assert answer.document_id == mine.id
    assert applications.problems(stored(db, application.id)) == []
