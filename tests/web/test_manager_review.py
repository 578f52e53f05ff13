"""An application through the managers' screens: what it shows, a reviewer's declaration and
scores, a conflicted reviewer who sees and gives none, and the award or decline."""

from __future__ import annotations

import hashlib
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.models import (
    Application,
    ApplicationAnswer,
    ApplicationState,
    Document,
    Grant,
    GrantStatus,
    Review,
    ReviewScore,
)
from tests.portal.portal_world import Portal, reviews, rounds
from tests.support import form_fields, sign_in, submit
from tests.web.test_manager_rounds import scored


@pytest.fixture
def world(db: Session) -> Portal:
    """The portal's test world, committed so that requests see it."""
    portal = Portal(db)
    db.commit()
    return portal


def page_of(client: FlaskClient, application_id: int) -> str:
    response = client.get(f"/manager/applications/{application_id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def submitted(db: Session, world: Portal) -> Application:
    """Backline's submitted application to the world's round, committed."""
    round_id = world.open_round()
    application = world.apply(round_id, world.backline_person)
    db.commit()
    return application


def criteria_of(db: Session, application_id: int) -> list[int]:
    db.rollback()
    found = db.get_one(Application, application_id)
    return [criterion.id for criterion in found.round.criteria]


def review_of(db: Session, application_id: int, reviewer_id: int) -> Review | None:
    db.rollback()
    return reviews.review_of(db, application_id, reviewer_id)


def test_the_application_shows_what_the_partner_sent_with_its_documents_linked(
    app: Flask, db: Session, world: Portal
) -> None:
    round_id = world.open_round(
        questions=[
            rounds.Question("Who will you reach?", "text"),
            rounds.Question("How many sessions?", "number"),
            rounds.Question("Your annual budget", "amount", required=False),
            rounds.Question("Region", "choice", ["East", "West"]),
            rounds.Question("Your last accounts", "file", required=False),
        ]
    )
    application = world.apply(round_id, world.backline_person)
    accounts = Document(
        partner_id=world.backline.id,
        application_id=application.id,
        stored_name="a" * 32,
        filename="accounts-2025.pdf",
        content_type="application/pdf",
        size=2048,
        sha256=hashlib.sha256(b"accounts").hexdigest(),
        uploaded_by_id=world.backline_person.id,
    )
    letter = Document(
        partner_id=world.backline.id,
        application_id=application.id,
        stored_name="b" * 32,
        filename="support <letter>.pdf",
        content_type="application/pdf",
        size=1024,
        sha256=hashlib.sha256(b"letter").hexdigest(),
        uploaded_by_id=world.backline_person.id,
    )
    db.add_all([accounts, letter])
    db.flush()
    file_question = application.round.questions[-1]
    db.add(
        ApplicationAnswer(
            application_id=application.id, question_id=file_question.id, document_id=accounts.id
        )
    )
    db.commit()

    page = page_of(sign_in(app, world.opener.email), application.id)
    assert "Free therapy sessions for touring crew." in page
    assert "Therapy access" in page
    assert "$12,000.00" in page
    assert "Touring crew in the US." in page
    assert ">120<" in page
    assert "East" in page
    assert "Not answered" in page  # the optional amount
    assert "Therapists" in page
    assert "$10,000.00" in page
    assert "$2,000.00" in page
    assert "Mid-year report" in page
    assert "$6,000.00" in page
    assert f'href="/documents/{accounts.id}">accounts-2025.pdf</a>' in page
    assert f'href="/documents/{letter.id}">support &lt;letter&gt;.pdf</a>' in page
    assert "<letter>" not in page
    assert f"/manager/rounds/{round_id}" in page
    # A manager who does not review the round has nothing to declare, but may decide.
    assert "/declare" not in page
    assert "/award" in page
    assert "/decline" in page


def test_a_reviewer_declares_no_conflict_then_scores_and_only_then_sees_the_others(
    app: Flask, db: Session, world: Portal
) -> None:
    application = submitted(db, world)
    scored(db, world, application.id, world.second, [5, 4, 4], "Strong plan")
    db.commit()
    client = sign_in(app, world.reviewer.email)

    before = page_of(client, application.id)
    assert "Do you have a conflict of interest" in before
    assert "Strong plan" not in before
    assert "/score" not in before
    assert "Declare whether you have a conflict of interest to see the scores." in before

    url = f"/manager/applications/{application.id}"
    declared = submit(client, url, {"conflicted": "no"}, action=f"{url}/declare")
    assert declared.status_code == 302
    review = review_of(db, application.id, world.reviewer.id)
    assert review is not None
    assert review.conflicted is False

    after = page_of(client, application.id)
    assert "Do you have a conflict of interest" not in after
    assert "Strong plan" in after
    assert "total 13 of 15" in after
    criteria = criteria_of(db, application.id)
    for criterion in criteria:
        assert f'name="score_{criterion}"' in after

    incomplete = submit(
        client,
        url,
        {f"score_{criteria[0]}": "4", f"score_{criteria[1]}": "3", "comment": "Fine"},
        action=f"{url}/score",
    )
    assert incomplete.status_code == 422
    assert "Score Value for money." in incomplete.get_data(as_text=True)
    assert review_of(db, application.id, world.reviewer.id).submitted_at is None  # type: ignore[union-attr]

    marks = {f"score_{c}": str(m) for c, m in zip(criteria, [4, 3, 2], strict=True)}
    saved = submit(client, url, {**marks, "comment": "Reach is thin"}, action=f"{url}/score")
    assert saved.status_code == 302
    review = review_of(db, application.id, world.reviewer.id)
    assert review is not None
    assert sorted((s.criterion_id, s.score) for s in review.scores) == list(
        zip(criteria, [4, 3, 2], strict=True)
    )
    assert review.comment == "Reach is thin"
    again = page_of(client, application.id)
    assert re.search(r'<option selected value="3">|<option value="3" selected>', again)
    assert "total 9 of 15" in again


def test_a_conflicted_reviewer_sees_no_scores_has_no_scoring_form_and_is_refused_a_score(
    app: Flask, db: Session, world: Portal
) -> None:
    application = submitted(db, world)
    scored(db, world, application.id, world.second, [5, 4, 4], "Strong plan")
    db.commit()
    client = sign_in(app, world.reviewer.email)
    url = f"/manager/applications/{application.id}"
    fields = form_fields(client, url, f"{url}/declare")
    declared = client.post(
        f"{url}/declare", data={**fields, "conflicted": "yes", "note": "I sit on their board"}
    )
    assert declared.status_code == 302

    page = page_of(client, application.id)
    assert (
        "You declared a conflict of interest with this application (I sit on their board)" in page
    )
    assert "Strong plan" not in page
    assert "total 13" not in page
    assert f"{url}/score" not in page
    assert f"{url}/award" not in page
    assert "another manager decides it" in page

    criteria = criteria_of(db, application.id)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token is not None
    marks = {f"score_{c}": "5" for c in criteria}
    refused = client.post(f"{url}/score", data={**marks, "csrf_token": token.group(1)})
    assert refused.status_code == 403
    assert "You declared a conflict of interest" in refused.get_data(as_text=True)
    review = review_of(db, application.id, world.reviewer.id)
    assert review is not None
    assert review.conflicted is True
    assert review.submitted_at is None
    assert db.scalar(select(func.count()).where(ReviewScore.review_id == review.id)) == 0

    award = client.post(
        f"{url}/award",
        data={"csrf_token": token.group(1), "key": "k-award", "amount": "100"},
    )
    assert award.status_code == 403
    db.rollback()
    assert db.get_one(Application, application.id).state is ApplicationState.SUBMITTED
    assert db.scalar(select(func.count()).select_from(Grant)) == 0

    sheet = client.get(f"/manager/rounds/{application.round_id}").get_data(as_text=True)
    assert "Conflict of interest — scores hidden" in sheet


def test_an_award_drafts_the_grant_and_leads_to_it(app: Flask, db: Session, world: Portal) -> None:
    application = submitted(db, world)
    client = sign_in(app, world.opener.email)
    url = f"/manager/applications/{application.id}"
    fields = form_fields(client, url, f"{url}/award")
    assert fields["amount"] == "12000.00"

    too_much = client.post(f"{url}/award", data={**fields, "amount": "25,000.00"})
    assert too_much.status_code == 422
    assert "This round gives at most $20,000.00 to one application." in too_much.get_data(
        as_text=True
    )
    db.rollback()
    assert db.get_one(Application, application.id).state is ApplicationState.SUBMITTED
    assert db.scalar(select(func.count()).select_from(Grant)) == 0

    fields = form_fields(client, url, f"{url}/award")
    awarded = client.post(
        f"{url}/award",
        data={**fields, "amount": "10,000.00", "reason": "Well planned."},
    )
    assert awarded.status_code == 302
    db.rollback()
    found = db.get_one(Application, application.id)
    assert found.state is ApplicationState.AWARDED
    assert found.amount_awarded == 1_000_000
    assert found.decision_reason == "Well planned."
    grant = db.get_one(Grant, found.grant_id)
    assert awarded.headers["Location"].endswith(f"/manager/grants/{grant.id}")
    assert grant.status is GrantStatus.DRAFT
    assert grant.amount == 1_000_000
    assert [t.amount for t in grant.tranches] == [500_000, 500_000]

    grant_page = client.get(f"/manager/grants/{grant.id}").get_data(as_text=True)
    assert "Paid once “Mid-year report” is accepted" in grant_page
    shown = page_of(client, application.id)
    assert f'href="/manager/grants/{grant.id}"' in shown
    assert f"{url}/award" not in shown
    assert f"{url}/decline" not in shown


def test_a_decline_needs_a_reason_and_then_the_application_is_decided(
    app: Flask, db: Session, world: Portal
) -> None:
    application = submitted(db, world)
    client = sign_in(app, world.opener.email)
    url = f"/manager/applications/{application.id}"

    refused = submit(client, url, {"reason": ""}, action=f"{url}/decline")
    assert refused.status_code == 422
    assert "Say why the application is declined" in refused.get_data(as_text=True)
    db.rollback()
    assert db.get_one(Application, application.id).state is ApplicationState.SUBMITTED

    declined = submit(
        client, url, {"reason": "Outside this round's focus."}, action=f"{url}/decline"
    )
    assert declined.status_code == 302
    db.rollback()
    found = db.get_one(Application, application.id)
    assert found.state is ApplicationState.DECLINED
    assert found.decision_reason == "Outside this round's focus."
    page = page_of(client, application.id)
    assert "Declined" in page
    assert "Outside this round&#39;s focus." in page
    assert f"{url}/award" not in page

    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token is not None
    late = client.post(
        f"{url}/award",
        data={"csrf_token": token.group(1), "key": "k2", "amount": "5000"},
    )
    assert late.status_code == 409
    assert "it was decided already" in late.get_data(as_text=True)


def test_a_draft_is_never_shown_to_managers(app: Flask, db: Session, world: Portal) -> None:
    round_id = world.open_round()
    draft = world.apply(round_id, world.backline_person, submit=False)
    db.commit()
    client = sign_in(app, world.opener.email)
    assert client.get(f"/manager/applications/{draft.id}").status_code == 404
    assert client.get("/manager/applications/999999").status_code == 404


def test_a_declaration_without_its_csrf_token_is_refused_and_writes_nothing(
    app: Flask, db: Session, world: Portal
) -> None:
    application = submitted(db, world)
    client = sign_in(app, world.reviewer.email)
    page_of(client, application.id)
    refused = client.post(
        f"/manager/applications/{application.id}/declare", data={"conflicted": "no"}
    )
    assert refused.status_code == 400
    assert review_of(db, application.id, world.reviewer.id) is None


@pytest.mark.parametrize("conflicted", ["", "maybe"])
def test_a_declaration_must_say_yes_or_no(
    app: Flask, db: Session, world: Portal, conflicted: str
) -> None:
    application = submitted(db, world)
    client = sign_in(app, world.reviewer.email)
    url = f"/manager/applications/{application.id}"
    refused = submit(client, url, {"conflicted": conflicted}, action=f"{url}/declare")
    assert refused.status_code == 422
    assert review_of(db, application.id, world.reviewer.id) is None
