"""The partner portal through its pages: a partner's person applies to an open round (saving
a draft, attaching a document, submitting), sees only their own organisation, and writes a
progress report that a manager accepts before the tranche waiting on it can be paid."""

from __future__ import annotations

import io

import pytest
from flask import Flask
from sqlalchemy import func, select

from grants import clock
from grants.extensions import db as database
from grants.models import (
    Application,
    ApplicationState,
    Document,
    ReportingRequirement,
    ReportState,
    ReportVersion,
)
from tests.portal.portal_world import NOW, Portal
from tests.support import form_fields, sign_in

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40


class World:
    """The portal's world as pages see it: who signs in, and the round's id. Its
    :class:`Portal` is used again inside an application context."""

    def __init__(self, portal: Portal, round_id: int) -> None:
        self.round_id = round_id
        self.backline = portal.backline_person.email
        self.musicares = portal.musicares_person.email
        self.opener = portal.opener.email
        self.portal = portal

    def again(self) -> Portal:
        """The portal with its rows loaded in the current application context."""
        session = database.session()
        for name, value in vars(self.portal).items():
            if hasattr(value, "_sa_instance_state"):
                setattr(self.portal, name, session.merge(value))
        self.portal.db = session
        return self.portal


@pytest.fixture
def world(app: Flask, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setattr(clock, "now", lambda: NOW)
    with app.app_context():
        portal = Portal(database.session())
        round_id = portal.open_round()
        database.session.commit()
        return World(portal, round_id)


def application_fields(client, url: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    fields = form_fields(client, url)
    questions = sorted(name for name in fields if name.startswith("answer_"))
    fields.update(
        {
            "purpose": "Free therapy sessions for touring crew.",
            "category": "therapy_access",
            "amount": "12,000.00",
            "budget-0-item": "Therapists",
            "budget-0-amount": "10,000.00",
            "budget-1-item": "Admin",
            "budget-1-amount": "2,000.00",
            "tranches-0-due_date": "2026-04-01",
            "tranches-0-amount": "6,000.00",
            "tranches-1-due_date": "2026-09-01",
            "tranches-1-amount": "6,000.00",
            "reports-0-title": "Mid-year report",
            "reports-0-due_date": "2026-08-15",
            questions[0]: "Touring crew in the US.",
            questions[1]: "120",
            questions[3]: "East",
        }
    )
    return fields


def test_a_partner_applies_saves_attaches_and_submits(app: Flask, world: World) -> None:
    client = sign_in(app, world.backline)
    home = client.get("/partner/")
    assert "Therapy access 2026" in home.get_data(as_text=True)
    start = form_fields(
        client, f"/partner/rounds/{world.round_id}", f"/partner/rounds/{world.round_id}/apply"
    )
    response = client.post(f"/partner/rounds/{world.round_id}/apply", data=start)
    assert response.status_code == 302
    url = response.headers["Location"]
    page = client.get(url).get_data(as_text=True)
    assert "Before it can be submitted" in page
    assert "Enter the amount you ask for." in page

    fields = application_fields(client, url)
    fields["budget-1-amount"] = "1,999.99"
    saved = client.post(url, data={**fields, "action": "submit"})
    assert saved.status_code == 303
    shown = client.get(url).get_data(as_text=True)
    assert "saved but not submitted" in shown
    assert "add up to $11,999.99, not the $12,000.00 asked" in shown
    with app.app_context():
        application = database.session.scalars(select(Application)).one()
        assert application.state is ApplicationState.DRAFT
        assert application.amount_asked == 1_200_000

    upload = form_fields(client, url, f"{url}/documents")
    attached = client.post(
        f"{url}/documents",
        data={**upload, "document": (io.BytesIO(PNG), "logo.png")},
        content_type="multipart/form-data",
    )
    assert attached.status_code == 303
    with app.app_context():
        assert database.session.scalar(select(func.count()).select_from(Document)) == 1

    fields = application_fields(client, url)
    done = client.post(url, data={**fields, "action": "submit"})
    assert done.status_code == 303
    with app.app_context():
        application = database.session.scalars(select(Application)).one()
        assert application.state is ApplicationState.SUBMITTED
    assert "logo.png" in client.get(url).get_data(as_text=True)


def test_another_organisation_sees_nothing_of_it(app: Flask, world: World) -> None:
    with app.app_context():
        portal = world.again()
        application = portal.apply(world.round_id, portal.backline_person)
        database.session.commit()
        application_id = application.id
    other = sign_in(app, world.musicares)
    assert other.get(f"/partner/applications/{application_id}").status_code == 404
    assert "Backline" not in other.get("/partner/").get_data(as_text=True)
    manager = sign_in(app, world.opener)
    assert manager.get("/partner/").status_code == 403


def test_a_report_is_written_submitted_and_accepted_before_its_tranche_is_paid(
    app: Flask, world: World
) -> None:
    with app.app_context():
        portal = world.again()
        application = portal.apply(world.round_id, portal.backline_person)
        grant = portal.award_and_approve(application)
        requirement_id = grant.reports[0].id
        database.session.commit()
    client = sign_in(app, world.backline)
    url = f"/partner/reports/{requirement_id}"
    fields = form_fields(client, url)
    assert fields["spending-0-item"] == "Therapists"
    fields.update(
        {
            "narrative": "We held 40 sessions.",
            "sessions_held": "40",
            "reach-0-country": "US",
            "reach-0-people": "35",
            "spending-0-amount": "4,000.00",
            "action": "submit",
        }
    )
    assert client.post(url, data=fields).status_code == 303
    with app.app_context():
        version = database.session.scalars(select(ReportVersion)).one()
        assert version.submitted_at is not None
        assert version.sessions_held == 40
        assert [(r.country, r.people) for r in version.reach] == [("US", 35)]
        requirement = database.session.get(ReportingRequirement, requirement_id)
        assert requirement is not None
        assert requirement.state is ReportState.SUBMITTED
