"""Funding rounds: what a manager may open, what an update may still change once partners
have applied or reviewers have scored, and what is written (or not) each time.

Also the helpers the other portal tests share: :func:`refused` runs an operation as an entry
point would and checks that its refusal left every table as it was."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.domain import applications, reviews, rounds
from grants.domain.errors import (
    DomainError,
    IdempotencyConflict,
    InvalidInput,
    InvalidState,
    NotAllowed,
    NotFound,
)
from grants.domain.funds import open_fund
from grants.domain.money import Money
from grants.models import (
    AuditEvent,
    FundingRound,
    FundKind,
    QuestionKind,
    Role,
    RoundQuestion,
)
from grants.models.base import Base
from grants.unit_of_work import run
from tests.factories import make_user
from tests.portal.portal_world import CLOSES, NOW, OPENS, Portal

UNWATCHED = {"idempotency_records"}
"""The one table a refusal may write to: the refusal recorded against its request key."""


def everything(db: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but :data:`UNWATCHED`, in primary-key order."""
    return {
        table.name: [
            tuple(row) for row in db.execute(select(table).order_by(*table.primary_key.columns))
        ]
        for table in Base.metadata.sorted_tables
        if table.name not in UNWATCHED
    }


def refused(
    db: Session, error: type[DomainError], message: str, attempt: Callable[[], object]
) -> DomainError:
    """``attempt``, run as an entry point runs an operation (commit a recorded refusal, roll
    back any other), raises ``error`` whose message contains ``message``, and no table but
    the idempotency records changes."""
    db.commit()
    before = everything(db)
    with pytest.raises(error) as caught:
        run(attempt, session=db)
    assert message in caught.value.message, caught.value.message
    assert type(caught.value) is error
    assert everything(db) == before, "a refusal wrote something"
    return caught.value


def count(db: Session, model: Any, *where: Any) -> int:
    return db.scalar(select(func.count()).select_from(model).where(*where)) or 0


def events(db: Session, action: str) -> list[AuditEvent]:
    return list(
        db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq))
    )


def wall(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """A time as the fund's clocks show it: naive, as a manager types it."""
    return datetime.combine(date(year, month, day), time(hour, minute))


@pytest.fixture
def world(db: Session) -> Portal:
    return Portal(db)


def plan_of(world: Portal, **changes: object) -> rounds.RoundPlan:
    """The world's usual round, with ``changes``."""
    fields: dict[str, object] = {
        "fund_id": world.fund.id,
        "title": "Therapy access 2026",
        "categories": ["therapy_access", "services"],
        "max_amount": "20,000.00",
        "opens": OPENS,
        "closes": CLOSES,
        "eligibility": "US nonprofits serving music people.",
        "questions": [
            rounds.Question("Who will you reach?", "text"),
            rounds.Question("How many sessions?", "number"),
            rounds.Question("Your annual budget", "amount", required=False),
            rounds.Question("Region", "choice", ["East", "West"]),
        ],
        "criteria": ["Need", "Reach", "Value for money"],
        "reviewer_ids": [world.reviewer.id, world.second.id],
    }
    fields.update(changes)
    return rounds.RoundPlan(**fields)  # type: ignore[arg-type]


def open_with(world: Portal, **changes: object) -> int:
    receipt = rounds.open_round(
        world.db, key=world.key(), actor=world.opener, plan=plan_of(world, **changes)
    )
    assert receipt.object_id is not None
    return receipt.object_id


def update_with(world: Portal, round_id: int, **changes: object) -> object:
    return rounds.update_round(
        world.db,
        key=world.key(),
        actor=world.opener,
        round_id=round_id,
        plan=plan_of(world, **changes),
    )


def test_a_round_is_written_with_its_questions_criteria_reviewers_and_audit_event(
    world: Portal, db: Session
) -> None:
    round_id = open_with(world)
    db.commit()
    found = db.get_one(FundingRound, round_id)
    assert found.fund_id == world.fund.id
    assert found.title == "Therapy access 2026"
    assert found.categories == ["therapy_access", "services"]
    assert found.max_amount == 2_000_000
    assert found.opens_at == datetime(2026, 3, 1, 14, tzinfo=UTC), "09:00 EST"
    assert found.closes_at == datetime(2026, 3, 31, 21, tzinfo=UTC), "17:00 EDT"
    assert found.created_by_id == world.opener.id
    assert [(q.position, q.prompt, q.kind, q.choices, q.required) for q in found.questions] == [
        (1, "Who will you reach?", QuestionKind.TEXT, [], True),
        (2, "How many sessions?", QuestionKind.NUMBER, [], True),
        (3, "Your annual budget", QuestionKind.AMOUNT, [], False),
        (4, "Region", QuestionKind.CHOICE, ["East", "West"], True),
    ]
    assert [(c.position, c.title) for c in found.criteria] == [
        (1, "Need"),
        (2, "Reach"),
        (3, "Value for money"),
    ]
    assert sorted(r.user_id for r in found.reviewers) == sorted(
        [world.reviewer.id, world.second.id]
    )
    (event,) = events(db, "round.open")
    assert (event.actor_id, event.object_type, event.object_id) == (
        world.opener.id,
        "funding_round",
        round_id,
    )
    after = json.loads(event.after)
    assert after["title"] == "Therapy access 2026"
    assert after["max_amount"] == 2_000_000
    assert after["criteria"] == ["Need", "Reach", "Value for money"]


def test_opening_a_round_again_with_the_same_key_replays_it(world: Portal, db: Session) -> None:
    plan = plan_of(world)
    first = rounds.open_round(db, key="round-1", actor=world.opener, plan=plan)
    again = rounds.open_round(db, key="round-1", actor=world.opener, plan=plan)
    assert again.replayed
    assert again.object_id == first.object_id
    assert count(db, FundingRound) == 1
    assert len(events(db, "round.open")) == 1
    refused(
        db,
        IdempotencyConflict,
        "already used for a different request",
        lambda: rounds.open_round(
            db, key="round-1", actor=world.opener, plan=plan_of(world, title="Another")
        ),
    )
    assert count(db, FundingRound) == 1


def test_only_managers_open_or_edit_rounds(world: Portal, db: Session) -> None:
    round_id = open_with(world)
    for actor in (world.finance, world.backline_person):
        refused(
            db,
            NotAllowed,
            "cannot open funding rounds",
            lambda actor=actor: rounds.open_round(
                db, key=world.key(), actor=actor, plan=plan_of(world)
            ),
        )
        refused(
            db,
            NotAllowed,
            "cannot edit funding rounds",
            lambda actor=actor: rounds.update_round(
                db, key=world.key(), actor=actor, round_id=round_id, plan=plan_of(world)
            ),
        )
    refused(
        db,
        NotFound,
        "no such funding round",
        lambda: rounds.update_round(
            db, key=world.key(), actor=world.opener, round_id=round_id + 99, plan=plan_of(world)
        ),
    )


def test_a_therapy_fund_or_no_fund_takes_no_round(world: Portal, db: Session) -> None:
    therapy = open_fund(
        db,
        name="Therapy US 2026 (USD)",
        kind=FundKind.THERAPY,
        currency="USD",
        start=date(2026, 1, 1),
        end=date(2026, 12, 31),
    )
    for fund_id in (therapy.id, 999_999):
        error = refused(
            db,
            InvalidInput,
            "Choose a partner-grants fund.",
            lambda fund_id=fund_id: open_with(world, fund_id=fund_id),
        )
        assert getattr(error, "field", None) == "fund_id"
    assert count(db, FundingRound) == 0


@pytest.mark.parametrize(
    ("categories", "message"),
    [
        ([], "Choose at least one thing the round funds."),
        (["parties"], "Choose what the round funds."),
        (["services", "parties"], "Choose what the round funds."),
        ([""], "Choose what the round funds."),
    ],
)
def test_a_round_funds_known_categories_and_at_least_one(
    world: Portal, db: Session, categories: list[str], message: str
) -> None:
    refused(db, InvalidInput, message, lambda: open_with(world, categories=categories))
    assert count(db, FundingRound) == 0


def test_a_category_named_twice_is_kept_once(world: Portal, db: Session) -> None:
    round_id = open_with(world, categories=["services", "services", "resource_hub"])
    assert db.get_one(FundingRound, round_id).categories == ["services", "resource_hub"]


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("0.00", "greater than zero"),
        ("-0.01", "greater than zero"),
        ("0.001", "at most 2 decimal places"),
        (Money(100, "GBP"), "the amount was given in GBP"),
        ("", "Enter an amount"),
    ],
)
def test_a_round_s_most_is_a_positive_amount_in_the_fund_s_currency(
    world: Portal, db: Session, amount: object, message: str
) -> None:
    error = refused(db, InvalidInput, message, lambda: open_with(world, max_amount=amount))
    assert getattr(error, "field", None) == "max_amount"


def test_the_smallest_most_is_one_cent(world: Portal, db: Session) -> None:
    round_id = open_with(world, max_amount="0.01")
    assert db.get_one(FundingRound, round_id).max_amount == 1


def test_a_round_closes_after_it_opens(world: Portal, db: Session) -> None:
    for closes in (OPENS, OPENS - timedelta(minutes=1)):
        error = refused(
            db,
            InvalidInput,
            "The round must close after it opens.",
            lambda closes=closes: open_with(world, closes=closes),
        )
        assert getattr(error, "field", None) == "closes"
    round_id = open_with(world, closes=OPENS + timedelta(minutes=1))
    found = db.get_one(FundingRound, round_id)
    assert found.closes_at - found.opens_at == timedelta(minutes=1)


def test_a_wall_clock_time_the_fund_s_clocks_skip_or_repeat_is_refused(
    world: Portal, db: Session
) -> None:
    """New York's clocks go from 02:00 to 03:00 on 8 March 2026 and from 02:00 back to
    01:00 on 1 November 2026."""
    gap = wall(2026, 3, 8, 2, 30)
    error = refused(db, InvalidInput, "does not happen", lambda: open_with(world, opens=gap))
    assert getattr(error, "field", None) == "opens"
    error = refused(
        db,
        InvalidInput,
        "does not happen",
        lambda: open_with(world, opens=wall(2026, 3, 1, 0, 0), closes=gap),
    )
    assert getattr(error, "field", None) == "closes"
    refused(
        db,
        InvalidInput,
        "happens twice",
        lambda: open_with(world, closes=wall(2026, 11, 1, 1, 30)),
    )
    round_id = open_with(world, opens=wall(2026, 3, 8, 3, 0))
    assert db.get_one(FundingRound, round_id).opens_at == datetime(2026, 3, 8, 7, tzinfo=UTC)


def test_reviewers_are_active_managers(world: Portal, db: Session) -> None:
    retired = make_user(db, Role.MANAGER)
    retired.active = False
    admin = make_user(db, Role.ADMIN)
    db.flush()
    for reviewer_id in (
        world.finance.id,
        world.backline_person.id,
        retired.id,
        999_999,
    ):
        error = refused(
            db,
            InvalidInput,
            "Reviewers are active managers.",
            lambda reviewer_id=reviewer_id: open_with(
                world, reviewer_ids=[world.reviewer.id, reviewer_id]
            ),
        )
        assert getattr(error, "field", None) == "reviewer_ids"
    round_id = open_with(world, reviewer_ids=[admin.id, world.reviewer.id])
    found = db.get_one(FundingRound, round_id)
    assert sorted(r.user_id for r in found.reviewers) == sorted([admin.id, world.reviewer.id])


@pytest.mark.parametrize(
    ("questions", "message"),
    [
        ([rounds.Question("Region", "choice", ["East"])], "a choice has 2 to 12 options"),
        ([rounds.Question("Region", "choice", ["East", " East "])], "a choice has 2 to 12"),
        (
            [rounds.Question("Region", "choice", [f"Option {n}" for n in range(13)])],
            "a choice has 2 to 12 options",
        ),
        ([rounds.Question("Who?", "essay")], "choose what kind of answer it takes"),
        ([rounds.Question("   ", "text")], "Enter question 1"),
        ([rounds.Question(f"Q{n}", "text") for n in range(21)], "at most 20 questions"),
    ],
)
def test_questions_are_checked(
    world: Portal, db: Session, questions: list[rounds.Question], message: str
) -> None:
    refused(db, InvalidInput, message, lambda: open_with(world, questions=questions))


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        ([], "Give at least one criterion"),
        (["Need", " "], "Enter criterion 2"),
        ([f"C{n}" for n in range(11)], "at most 10 criteria"),
    ],
)
def test_criteria_are_checked(
    world: Portal, db: Session, criteria: list[str], message: str
) -> None:
    refused(db, InvalidInput, message, lambda: open_with(world, criteria=criteria))


def test_questions_change_until_an_application_exists(world: Portal, db: Session) -> None:
    round_id = open_with(world)
    fewer = [rounds.Question("Who will you reach?", "text")]
    update_with(world, round_id, questions=fewer)
    assert [q.prompt for q in db.get_one(FundingRound, round_id).questions] == [
        "Who will you reach?"
    ]
    (event,) = events(db, "round.update")
    assert len(json.loads(event.before)["questions"]) == 4
    assert len(json.loads(event.after)["questions"]) == 1

    applications.start_application(
        db, actor=world.backline_person, round_id=round_id, now=NOW
    )  # a draft is enough
    more = [*fewer, rounds.Question("Region", "choice", ["East", "West"])]
    refused(
        db,
        InvalidState,
        "Partners have started applying, so the questions can no longer change.",
        lambda: update_with(world, round_id, questions=more, title="Renamed"),
    )
    refused(
        db,
        InvalidState,
        "questions can no longer change",
        lambda: update_with(
            world, round_id, questions=[rounds.Question("Who will you reach?", "text", (), False)]
        ),
    )
    # The same questions typed with other spaces are the same questions; the rest changes.
    update_with(
        world,
        round_id,
        questions=[rounds.Question("  Who   will you reach? ", "text")],
        title="Therapy access, spring 2026",
        max_amount="25,000.00",
    )
    found = db.get_one(FundingRound, round_id)
    assert (found.title, found.max_amount) == ("Therapy access, spring 2026", 2_500_000)
    assert count(db, RoundQuestion, RoundQuestion.round_id == round_id) == 1


def test_making_a_question_optional_is_audited(world: Portal, db: Session) -> None:
    """Every change is audited, even one only to whether a question must be answered."""
    round_id = open_with(world)
    update_with(
        world,
        round_id,
        questions=[
            rounds.Question("Who will you reach?", "text", (), False),
            rounds.Question("How many sessions?", "number"),
            rounds.Question("Your annual budget", "amount", required=False),
            rounds.Question("Region", "choice", ["East", "West"]),
        ],
    )
    found = db.get_one(FundingRound, round_id)
    assert [q.required for q in found.questions] == [False, True, False, True]
    (event,) = events(db, "round.update")
    assert json.loads(event.before) != json.loads(event.after)


def test_criteria_change_until_a_review_is_scored(world: Portal, db: Session) -> None:
    round_id = world.open_round()
    application = world.apply(round_id, world.backline_person)
    update_with(world, round_id, criteria=["Need", "Reach"])
    reviews.declare(
        db, actor=world.reviewer, application_id=application.id, conflicted=False, note="", now=NOW
    )
    update_with(world, round_id, criteria=["Need", "Reach", "Fit"])  # declared, not scored
    found = db.get_one(FundingRound, round_id)
    assert [c.title for c in found.criteria] == ["Need", "Reach", "Fit"]
    reviews.score(
        db,
        actor=world.reviewer,
        application_id=application.id,
        scores={c.id: 3 for c in found.criteria},
        comment="",
        now=NOW,
    )
    refused(
        db,
        InvalidState,
        "Reviewers have scored, so the criteria can no longer change.",
        lambda: update_with(world, round_id, criteria=["Need", "Reach"]),
    )
    # Reviewers and the closing time may still change.
    later = wall(2026, 4, 30, 17, 0)
    update_with(
        world, round_id, criteria=["Need", "Reach", "Fit"], reviewer_ids=[world.reviewer.id]
    )
    update_with(world, round_id, criteria=["Need", "Reach", "Fit"], reviewer_ids=[], closes=later)
    found = db.get_one(FundingRound, round_id)
    assert found.reviewers == []
    assert found.closes_at == datetime(2026, 4, 30, 21, tzinfo=UTC)


def test_an_update_that_changes_nothing_writes_no_event_and_the_fund_never_changes(
    world: Portal, db: Session
) -> None:
    round_id = open_with(world)
    update_with(world, round_id)
    assert events(db, "round.update") == []
    other = open_fund(
        db,
        name="Partner grants 2026 (GBP)",
        kind=FundKind.GRANTS,
        currency="GBP",
        start=date(2026, 1, 1),
        end=date(2026, 12, 31),
    )
    refused(
        db,
        InvalidInput,
        "A round's fund cannot change.",
        lambda: update_with(world, round_id, fund_id=other.id, max_amount="1.00"),
    )
