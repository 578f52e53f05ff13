"""Funding rounds through the managers' screens: opening one through the form (its times typed
on the fund's clocks), editing it, the refusals that write nothing, the list, the scoring
sheet, and who may reach every new manager route."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants import clock
from grants.models import FundingRound, QuestionKind, Role, User
from tests.factories import make_user
from tests.portal.portal_world import CLOSES, NOW, OPENS, Portal, reviews, rounds
from tests.support import csrf_token, form_fields, sign_in, submit

NEW = "/manager/rounds/new"


@pytest.fixture
def world(db: Session) -> Portal:
    """The portal's test world, committed so that requests see it."""
    portal = Portal(db)
    db.commit()
    return portal


@pytest.fixture
def at_now(monkeypatch: pytest.MonkeyPatch) -> None:
    """The clock stands at the portal world's moment, while its round is open."""
    monkeypatch.setattr(clock, "now", lambda: NOW)


def manager(app: Flask, world: Portal) -> FlaskClient:
    return sign_in(app, world.opener.email)


def round_count(db: Session) -> int:
    db.rollback()
    return db.scalar(select(func.count()).select_from(FundingRound)) or 0


def round_fields(world: Portal, **changes: object) -> dict[str, object]:
    """A whole round as the form posts it: two questions, two criteria, two reviewers."""
    return {
        "fund_id": str(world.fund.id),
        "title": "Crew care 2026",
        "categories": ["services", "therapy_access"],
        "max_amount": "15,000.00",
        "opens": "2026-03-01T09:00",
        "closes": "2026-03-31T17:00",
        "eligibility": "US nonprofits.\nServing touring crew.",
        "questions-0-prompt": "Who will you reach?",
        "questions-0-kind": "text",
        "questions-0-required": "y",
        "questions-1-prompt": "Region",
        "questions-1-kind": "choice",
        "questions-1-choices": "East | West\nNorth",
        "questions-1-required": "",
        "criteria-0-title": "Need",
        "criteria-1-title": "Reach",
        "reviewer_ids": [str(world.reviewer.id), str(world.second.id)],
        **changes,
    }


def post_round(  # type: ignore[no-untyped-def]
    client: FlaskClient, world: Portal, changes: dict[str, object] | None = None
):
    fields = form_fields(client, NEW)
    data = {**fields, **round_fields(world, **(changes or {}))}
    return client.post(NEW, data={k: v for k, v in data.items() if v != ""})


def test_a_round_opened_through_the_form_keeps_everything_with_its_times_on_the_funds_clocks(
    app: Flask, db: Session, world: Portal
) -> None:
    client = manager(app, world)
    form = client.get(NEW).get_data(as_text=True)
    assert "America/New York time" in form
    assert 'type="datetime-local"' in form
    assert "as the clocks of the fund's time zone show them" in form

    response = post_round(client, world)
    assert response.status_code == 302, response.get_data(as_text=True)
    round_id = int(response.headers["Location"].rsplit("/", 1)[1])

    db.rollback()
    saved = db.get_one(FundingRound, round_id)
    assert saved.title == "Crew care 2026"
    assert saved.categories == ["services", "therapy_access"]
    assert saved.max_amount == 1_500_000
    # 09:00 in New York on 1 March is EST (UTC-5); 17:00 on 31 March is EDT (UTC-4).
    assert saved.opens_at == datetime(2026, 3, 1, 14, tzinfo=UTC)
    assert saved.closes_at == datetime(2026, 3, 31, 21, tzinfo=UTC)
    assert saved.eligibility == "US nonprofits.\nServing touring crew."
    assert [(q.prompt, q.kind, q.choices, q.required) for q in saved.questions] == [
        ("Who will you reach?", QuestionKind.TEXT, [], True),
        ("Region", QuestionKind.CHOICE, ["East", "West", "North"], False),
    ]
    assert [c.title for c in saved.criteria] == ["Need", "Reach"]
    assert {r.user_id for r in saved.reviewers} == {world.reviewer.id, world.second.id}

    page = client.get(f"/manager/rounds/{round_id}").get_data(as_text=True)
    assert "Crew care 2026" in page
    assert rounds.closing_words(saved, "en_US") in page
    assert "EDT" in page
    assert "East, West, North" in page
    assert "Rita Reviewer, Sam Second" in page
    assert "No application has been submitted yet." in page


def test_the_edit_form_shows_the_round_on_its_funds_clocks_and_saves_a_change(
    app: Flask, db: Session, world: Portal
) -> None:
    round_id = world.open_round()
    db.commit()
    client = manager(app, world)
    url = f"/manager/rounds/{round_id}/edit"
    fields = form_fields(client, url)
    assert fields["opens"] == "2026-03-01T09:00"
    assert fields["closes"] == "2026-03-31T17:00"
    assert fields["max_amount"] == "20000.00"
    assert fields["questions-3-prompt"] == "Region"
    page = client.get(url).get_data(as_text=True)
    assert "\nEast | West</textarea>" in page  # (the form reader skips text areas)
    assert "\nUS nonprofits serving music people.</textarea>" in page
    assert fields["questions-2-kind"] == "amount"
    assert "questions-2-required" not in fields  # the optional question's box is unchecked
    assert fields["criteria-2-title"] == "Value for money"

    assert "fund cannot change once it is saved." in page
    response = client.post(
        url,
        data={
            **fields,
            "questions-3-choices": "East | West",
            "title": "Therapy access 2026, extended",
            "closes": "2026-04-15T17:00",
            "reviewer_ids": [str(world.reviewer.id)],
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    db.rollback()
    saved = db.get_one(FundingRound, round_id)
    assert saved.title == "Therapy access 2026, extended"
    assert saved.opens_at == datetime(2026, 3, 1, 14, tzinfo=UTC)
    assert saved.closes_at == datetime(2026, 4, 15, 21, tzinfo=UTC)
    assert [q.prompt for q in saved.questions] == [
        "Who will you reach?",
        "How many sessions?",
        "Your annual budget",
        "Region",
    ]
    assert [r.user_id for r in saved.reviewers] == [world.reviewer.id]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"closes": "2026-02-28T17:00"}, "The round must close after it opens."),
        (
            {"questions-1-choices": "Only one"},
            "Question 2: a choice has 2 to 12 options.",
        ),
        (
            {"questions-1-prompt": "", "questions-1-choices": "East | West"},
            "Question 2: write the question its options belong to.",
        ),
        ({"criteria-0-title": "", "criteria-1-title": ""}, "Give at least one criterion"),
        ({"opens": "2026-03-08T02:30"}, "does not happen in America/New York"),
        ({"max_amount": "15,000.001"}, "decimal"),
        ({"categories": []}, "Choose at least one thing the round funds."),
        ({"title": ""}, "This field is required."),
    ],
)
def test_a_refused_round_is_shown_again_with_the_reason_and_nothing_is_written(
    app: Flask, db: Session, world: Portal, changes: dict[str, object], message: str
) -> None:
    client = manager(app, world)
    response = post_round(client, world, changes)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page
    assert "Crew care 2026" in page or "title" in changes  # what was typed is kept
    assert round_count(db) == 0


def test_the_questions_of_a_round_someone_applied_to_cannot_change(
    app: Flask, db: Session, world: Portal
) -> None:
    round_id = world.open_round()
    world.apply(round_id, world.backline_person, submit=False)
    db.commit()
    client = manager(app, world)
    url = f"/manager/rounds/{round_id}/edit"
    refused = submit(
        client,
        url,
        {"questions-0-prompt": "Whom will you reach?", "questions-3-choices": "East|West"},
    )
    assert refused.status_code == 409
    assert "Partners have started applying" in refused.get_data(as_text=True)
    db.rollback()
    assert db.get_one(FundingRound, round_id).questions[0].prompt == "Who will you reach?"


def test_the_list_says_where_each_round_stands_and_counts_applications_by_state(
    app: Flask, db: Session, world: Portal, at_now: None
) -> None:
    open_id = world.open_round()
    world.open_round(
        title="Festival wellness 2026",
        opens=OPENS.replace(month=6),
        closes=CLOSES.replace(month=6, day=30),
    )
    world.apply(open_id, world.backline_person)
    world.apply(open_id, world.musicares_person, submit=False)
    db.commit()
    page = manager(app, world).get("/manager/rounds").get_data(as_text=True)
    assert "Therapy access 2026" in page
    assert "Festival wellness 2026" in page
    assert ">Open<" in page
    assert ">Upcoming<" in page
    assert rounds.closing_words(db.get_one(FundingRound, open_id), "en_US") in page
    assert "1 submitted" in page
    assert "draft" not in page.lower().split("<main", 1)[1]  # a partner's draft is its own
    dashboard = manager(app, world).get("/manager/").get_data(as_text=True)
    assert 'href="/manager/rounds"' in dashboard
    assert "Funding rounds" in dashboard


def scored(
    db: Session,
    world: Portal,
    application_id: int,
    reviewer: User,
    marks: list[int],
    comment: str = "",
) -> None:
    """``reviewer`` declares no conflict and gives ``marks``, criterion by criterion."""
    application = reviews.find_application(db, application_id)
    criteria = [criterion.id for criterion in application.round.criteria]
    reviews.declare(
        db, actor=reviewer, application_id=application_id, conflicted=False, note="", now=NOW
    )
    reviews.score(
        db,
        actor=reviewer,
        application_id=application_id,
        scores=dict(zip(criteria, marks, strict=True)),
        comment=comment,
        now=NOW,
    )


def test_the_scoring_sheet_shows_each_reviewers_total_and_the_mean_and_hides_what_it_must(
    app: Flask, db: Session, world: Portal
) -> None:
    late = make_user(db, Role.MANAGER, name="Lee Late")
    round_id = world.open_round(reviewer_ids=[world.reviewer.id, world.second.id, late.id])
    backline = world.apply(round_id, world.backline_person)
    musicares = world.apply(round_id, world.musicares_person)
    scored(db, world, backline.id, world.reviewer, [4, 4, 3])  # 11
    scored(db, world, backline.id, world.second, [4, 4, 4])  # 12
    reviews.declare(
        db,
        actor=world.reviewer,
        application_id=musicares.id,
        conflicted=True,
        note="Board",
        now=NOW,
    )
    scored(db, world, musicares.id, world.second, [3, 3, 3])  # 9
    db.commit()
    url = f"/manager/rounds/{round_id}"

    page = manager(app, world).get(url).get_data(as_text=True)
    sheet = page.split("Scoring sheet", 1)[1]
    assert "out of 15" in sheet
    backline_row = sheet.split("Backline", 1)[1].split("</tr>", 1)[0]
    assert [">11<" in backline_row, ">12<" in backline_row] == [True, True]
    assert "11.5" in backline_row
    musicares_row = sheet.split("MusiCares", 1)[1].split("</tr>", 1)[0]
    assert "Conflict" in musicares_row
    assert ">9<" in musicares_row
    assert "9.0" in musicares_row
    assert "—" in musicares_row  # Lee has not scored
    assert sheet.index("Backline") < sheet.index("MusiCares")  # best mean first
    assert f"/manager/applications/{backline.id}" in sheet

    conflicted = sign_in(app, world.reviewer.email).get(url).get_data(as_text=True)
    row = conflicted.split("MusiCares", 1)[1].split("</tr>", 1)[0]
    assert "Conflict of interest — scores hidden" in row
    assert ">9<" not in row
    assert "11.5" in conflicted

    undeclared = sign_in(app, late.email).get(url).get_data(as_text=True)
    assert undeclared.count("Declare first") == 2
    assert "11.5" not in undeclared


ROUTES = [
    ("get", "/manager/rounds"),
    ("get", "/manager/rounds/new"),
    ("post", "/manager/rounds/new"),
    ("get", "/manager/rounds/{round}"),
    ("get", "/manager/rounds/{round}/edit"),
    ("post", "/manager/rounds/{round}/edit"),
    ("get", "/manager/applications/{application}"),
    ("post", "/manager/applications/{application}/declare"),
    ("post", "/manager/applications/{application}/score"),
    ("post", "/manager/applications/{application}/award"),
    ("post", "/manager/applications/{application}/decline"),
    ("get", "/manager/reports/{report}"),
    ("post", "/manager/reports/{report}/accept"),
    ("post", "/manager/reports/{report}/changes"),
    ("post", "/manager/tranches/{tranche}/release"),
    ("post", "/manager/partners/{partner}/people"),
]
"""Every route this issue adds to the managers' screens."""


def test_only_managers_and_admins_reach_the_new_routes_and_anonymous_visitors_sign_in(
    app: Flask, db: Session, world: Portal
) -> None:
    round_id = world.open_round()
    application = world.apply(round_id, world.backline_person)
    grant = world.award_and_approve(application)
    ambassador = make_user(db, Role.AMBASSADOR)
    admin = make_user(db, Role.ADMIN)
    db.commit()
    ids = {
        "round": round_id,
        "application": application.id,
        "report": grant.reports[0].id,
        "tranche": grant.tranches[1].id,
        "partner": world.backline.id,
    }
    addresses = [(method, url.format(**ids)) for method, url in ROUTES]

    anonymous = app.test_client()
    for method, url in addresses:
        if method == "get":
            answer = anonymous.get(url)
            assert answer.status_code == 302, url
            assert "/login" in answer.headers["Location"], url

    for email in (world.finance.email, world.backline_person.email, ambassador.email):
        client = sign_in(app, email)
        token = csrf_token(client, "/account")
        for method, url in addresses:
            if method == "get":
                assert client.get(url).status_code == 403, (email, url)
            else:
                assert client.post(url, data={"csrf_token": token}).status_code == 403, (
                    email,
                    url,
                )

    for email in (admin.email, world.opener.email):
        client = sign_in(app, email)
        for method, url in addresses:
            if method == "get":
                assert client.get(url).status_code == 200, (email, url)


def test_a_form_posted_without_its_csrf_token_is_refused(
    app: Flask, db: Session, world: Portal
) -> None:
    client = manager(app, world)
    client.get(NEW)
    response = client.post(NEW, data={**round_fields(world), "key": "k1"})
    assert response.status_code == 400
    assert round_count(db) == 0
