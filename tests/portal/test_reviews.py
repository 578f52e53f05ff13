"""Reviews: only a round's reviewers declare and score; a conflicted or undeclared reviewer
never sees the scores; the scoring sheet's mean is exact and its queries do not grow with
the number of applications."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from grants.domain import awards, reviews
from grants.domain.errors import InvalidInput, InvalidState, NotAllowed, NotFound
from grants.models import Application, Review, ReviewScore, User
from tests.portal.portal_world import NOW, Portal
from tests.portal.test_rounds import count, events, refused


class Setting:
    """The world with a round and two submitted applications: Backline's and MusiCares'."""

    def __init__(self, db: Session) -> None:
        self.world = Portal(db)
        self.db = db
        self.round_id = self.world.open_round()
        self.backline = self.world.apply(self.round_id, self.world.backline_person)
        self.musicares = self.world.apply(self.round_id, self.world.musicares_person)
        self.criteria = [c.id for c in self.backline.round.criteria]

    def declare(
        self, actor: User, application: Application, conflicted: bool, note: str = ""
    ) -> Review:
        return reviews.declare(
            self.db,
            actor=actor,
            application_id=application.id,
            conflicted=conflicted,
            note=note,
            now=NOW,
        )

    def score(
        self, actor: User, application: Application, *values: int, comment: str = ""
    ) -> Review:
        return reviews.score(
            self.db,
            actor=actor,
            application_id=application.id,
            scores=dict(zip(self.criteria, values, strict=True)),
            comment=comment,
            now=NOW,
        )

    def row(self, viewer: User, application: Application) -> reviews.SheetRow:
        sheet = reviews.scoring_sheet(self.db, round_id=self.round_id, viewer=viewer)
        assert [name for _, name in sheet.reviewers] == ["Rita Reviewer", "Sam Second"]
        assert sheet.criteria_count == 3
        return next(row for row in sheet.rows if row.application_id == application.id)


@pytest.fixture
def setting(db: Session) -> Setting:
    return Setting(db)


def scores_of(db: Session, review_id: int) -> dict[int, int]:
    return dict(
        db.execute(
            select(ReviewScore.criterion_id, ReviewScore.score).where(
                ReviewScore.review_id == review_id
            )
        ).all()
    )


def test_only_the_round_s_reviewers_declare_and_score(setting: Setting, db: Session) -> None:
    world = setting.world
    for actor, error, message in (
        (world.opener, NotAllowed, "You are not a reviewer of this round."),
        (world.finance, NotAllowed, "cannot review applications"),
        (world.backline_person, NotAllowed, "cannot review applications"),
    ):
        refused(
            db,
            error,
            message,
            lambda actor=actor: setting.declare(actor, setting.backline, conflicted=False),
        )
        refused(
            db,
            error,
            message,
            lambda actor=actor: setting.score(actor, setting.backline, 3, 3, 3),
        )
    assert count(db, Review) == 0


def test_a_reviewer_declares_before_scoring_and_sees_no_scores_until_then(
    setting: Setting, db: Session
) -> None:
    world = setting.world
    refused(
        db,
        InvalidState,
        "Declare whether you have a conflict of interest first.",
        lambda: setting.score(world.second, setting.backline, 3, 3, 3),
    )
    setting.declare(world.reviewer, setting.backline, conflicted=False)
    review = setting.score(world.reviewer, setting.backline, 4, 4, 4, comment="Clear plan")
    assert (review.conflicted, review.comment, review.submitted_at) == (False, "Clear plan", NOW)
    assert scores_of(db, review.id) == dict.fromkeys(setting.criteria, 4)

    undeclared = setting.row(world.second, setting.backline)
    assert (undeclared.hidden, undeclared.totals, undeclared.mean) == (True, (None, None), None)
    assert not reviews.may_see_scores(db, setting.backline, world.second)

    for viewer in (world.reviewer, world.opener):
        seen = setting.row(viewer, setting.backline)
        assert (seen.hidden, seen.totals, seen.mean) == (False, (12, None), Fraction(12))
        assert reviews.may_see_scores(db, setting.backline, viewer)


def test_a_conflicted_reviewer_neither_scores_nor_sees_the_scores(
    setting: Setting, db: Session
) -> None:
    world = setting.world
    conflict = setting.declare(world.second, setting.backline, True, "I sit on their board.")
    assert (conflict.conflicted, conflict.conflict_note) == (True, "I sit on their board.")
    setting.declare(world.reviewer, setting.backline, conflicted=False)
    setting.score(world.reviewer, setting.backline, 4, 4, 4)
    refused(
        db,
        NotAllowed,
        "You declared a conflict of interest with this application.",
        lambda: setting.score(world.second, setting.backline, 5, 5, 5),
    )

    hidden = setting.row(world.second, setting.backline)
    assert (hidden.hidden, hidden.totals, hidden.mean) == (True, (None, None), None)
    assert not reviews.may_see_scores(db, setting.backline, world.second)
    for viewer in (world.reviewer, world.opener):
        seen = setting.row(viewer, setting.backline)
        assert (seen.hidden, seen.totals, seen.mean) == (False, (12, "conflict"), Fraction(12))
        assert reviews.may_see_scores(db, setting.backline, viewer)

    # Without a conflict on MusiCares, the second reviewer sees its row once declared.
    assert setting.row(world.second, setting.musicares).hidden
    setting.declare(world.second, setting.musicares, conflicted=False)
    assert not setting.row(world.second, setting.musicares).hidden
    assert reviews.may_see_scores(db, setting.musicares, world.second)


def test_declaring_a_conflict_after_scoring_removes_the_scores_and_is_final(
    setting: Setting, db: Session
) -> None:
    world = setting.world
    setting.declare(world.reviewer, setting.backline, conflicted=False)
    review = setting.score(world.reviewer, setting.backline, 5, 4, 3, comment="Strong")
    assert scores_of(db, review.id) != {}
    setting.declare(world.reviewer, setting.backline, True, "Just learnt they hired my sister.")
    db.commit()
    found = db.get_one(Review, review.id)
    assert (found.conflicted, found.comment, found.submitted_at) == (True, "", None)
    assert found.conflict_note == "Just learnt they hired my sister."
    assert scores_of(db, review.id) == {}
    assert count(db, ReviewScore) == 0
    changes = [
        (json.loads(e.before), json.loads(e.after)) for e in events(db, "application.declare")
    ]
    assert changes == [
        ({"conflicted": None}, {"conflicted": False}),
        ({"conflicted": False}, {"conflicted": True}),
    ]
    for again in (False, True):
        refused(
            db,
            InvalidState,
            "You declared a conflict of interest with this application.",
            lambda again=again: setting.declare(world.reviewer, setting.backline, again),
        )
    refused(
        db,
        NotAllowed,
        "You declared a conflict of interest",
        lambda: setting.score(world.reviewer, setting.backline, 5, 5, 5),
    )
    assert setting.row(world.opener, setting.backline).totals == ("conflict", None)
    assert setting.row(world.opener, setting.backline).mean is None


def test_scores_run_from_one_to_five_on_every_criterion(setting: Setting, db: Session) -> None:
    world = setting.world
    review = setting.declare(world.reviewer, setting.backline, conflicted=False)
    need, reach, value = setting.criteria
    for bad in (0, 6, -1):
        error = refused(
            db,
            InvalidInput,
            "Scores run from 1 to 5.",
            lambda bad=bad: setting.score(world.reviewer, setting.backline, 3, bad, 3),
        )
        assert getattr(error, "field", None) == f"score_{reach}"
    refused(
        db,
        InvalidInput,
        "Score criterion 2: Reach.",
        lambda: reviews.score(
            db,
            actor=world.reviewer,
            application_id=setting.backline.id,
            scores={need: 3, value: 3},
            comment="",
            now=NOW,
        ),
    )
    refused(
        db,
        InvalidInput,
        "A score was given for a criterion this round does not have.",
        lambda: reviews.score(
            db,
            actor=world.reviewer,
            application_id=setting.backline.id,
            scores={need: 3, reach: 3, value: 3, value + 100: 3},
            comment="",
            now=NOW,
        ),
    )
    assert count(db, ReviewScore) == 0
    setting.score(world.reviewer, setting.backline, 1, 5, 1)
    assert scores_of(db, review.id) == {need: 1, reach: 5, value: 1}
    setting.score(world.reviewer, setting.backline, 5, 5, 5)
    assert scores_of(db, review.id) == {need: 5, reach: 5, value: 5}
    assert count(db, ReviewScore) == 3
    last = events(db, "application.score")[-1]
    assert json.loads(last.before) == {str(need): 1, str(reach): 5, str(value): 1}


def test_the_mean_is_the_exact_mean_of_the_totals_best_first(setting: Setting, db: Session) -> None:
    world = setting.world
    for reviewer in (world.reviewer, world.second):
        setting.declare(reviewer, setting.backline, conflicted=False)
        setting.declare(reviewer, setting.musicares, conflicted=False)
    setting.score(world.reviewer, setting.backline, 4, 4, 4)
    setting.score(world.second, setting.backline, 5, 4, 2)
    setting.score(world.reviewer, setting.musicares, 4, 4, 4)
    setting.score(world.second, setting.musicares, 4, 4, 5)
    sheet = reviews.scoring_sheet(db, round_id=setting.round_id, viewer=world.opener)
    assert [(row.application_id, row.totals, row.mean) for row in sheet.rows] == [
        (setting.musicares.id, (12, 13), Fraction(25, 2)),
        (setting.backline.id, (12, 11), Fraction(23, 2)),
    ]
    assert all(isinstance(row.mean, Fraction) for row in sheet.rows)
    assert [row.partner for row in sheet.rows] == ["MusiCares", "Backline"]
    assert [row.amount_asked for row in sheet.rows] == [1_200_000, 1_200_000]


def test_only_a_submitted_application_is_reviewed(setting: Setting, db: Session) -> None:
    world = setting.world
    other_round = world.open_round(title="Another round")
    draft = world.apply(other_round, world.backline_person, submit=False)
    refused(
        db,
        NotFound,
        "There is no such application.",
        lambda: setting.declare(world.reviewer, draft, conflicted=False),
    )
    setting.declare(world.reviewer, setting.backline, conflicted=False)
    awards.award(
        db,
        key=world.key(),
        actor=world.opener,
        application_id=setting.backline.id,
        amount="12,000.00",
        now=NOW,
    )
    refused(
        db,
        InvalidState,
        "This application was awarded.",
        lambda: setting.score(world.reviewer, setting.backline, 3, 3, 3),
    )
    refused(
        db,
        InvalidState,
        "This application was awarded.",
        lambda: setting.declare(world.second, setting.backline, conflicted=False),
    )


@contextmanager
def statements(db: Session) -> Iterator[list[str]]:
    """The SQL statements run against ``db``'s engine inside the block."""
    seen: list[str] = []
    engine = db.get_bind()

    def note(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_the_scoring_sheet_s_statements_do_not_grow_with_its_applications(db: Session) -> None:
    world = Portal(db)
    round_id = world.open_round()

    def applied(number: int) -> None:
        for _ in range(number):
            partner = world.partner(f"Partner {count(db, Application) + 1}")
            application = world.apply(round_id, world.person(partner))
            position = application.id % 3
            if position == 0:
                reviews.declare(
                    db,
                    actor=world.second,
                    application_id=application.id,
                    conflicted=True,
                    note="",
                    now=NOW,
                )
            if position != 2:
                reviews.declare(
                    db,
                    actor=world.reviewer,
                    application_id=application.id,
                    conflicted=False,
                    note="",
                    now=NOW,
                )
                reviews.score(
                    db,
                    actor=world.reviewer,
                    application_id=application.id,
                    scores={c.id: 1 + application.id % 5 for c in application.round.criteria},
                    comment="",
                    now=NOW,
                )

    def sheet_statements(viewer: User) -> tuple[int, int]:
        db.commit()
        viewer_id = viewer.id
        with statements(db) as seen:
            sheet = reviews.scoring_sheet(db, round_id=round_id, viewer=viewer)
        assert all(row.partner for row in sheet.rows)
        assert viewer.id == viewer_id
        return len(seen), len(sheet.rows)

    applied(3)
    few = {viewer.id: sheet_statements(viewer) for viewer in (world.opener, world.reviewer)}
    applied(27)
    many = {viewer.id: sheet_statements(viewer) for viewer in (world.opener, world.reviewer)}
    assert [rows for _, rows in few.values()] == [3, 3]
    assert [rows for _, rows in many.values()] == [30, 30]
    assert {viewer: used for viewer, (used, _) in few.items()} == {
        viewer: used for viewer, (used, _) in many.items()
    }
    assert max(used for used, _ in many.values()) <= 5, "five queries, as documented"
