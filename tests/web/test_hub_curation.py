"""The navigators' curation screens: proposing through the form, four eyes on publishing,
sending back with a reason, who may reach what, and the reminder of services due for
checking."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants import clock
from grants.domain import hub
from grants.domain.hub import ServiceContent
from grants.domain.hub_contacts import read_phone
from grants.domain.hub_curation import months_before
from grants.domain.reminders import send_reminders
from grants.models import (
    AuditEvent,
    HubOrganization,
    HubService,
    HubServiceVersion,
    Notification,
    Role,
    VersionState,
)
from tests.factories import make_user
from tests.support import csrf_token, form_fields, sign_in, submit

TODAY = clock.today()


@pytest.fixture
def people(db: Session) -> dict[str, str]:
    """Two navigators, a manager, an admin, finance and an ambassador; their emails."""
    emails = {
        "first": make_user(db, Role.NAVIGATOR, name="Nina Navigator").email,
        "second": make_user(db, Role.NAVIGATOR, name="Noor Navigator").email,
        "manager": make_user(db, Role.MANAGER).email,
        "admin": make_user(db, Role.ADMIN).email,
        "finance": make_user(db, Role.FINANCE).email,
        "ambassador": make_user(db, Role.AMBASSADOR).email,
    }
    db.commit()
    return emails


@pytest.fixture
def organisation(db: Session) -> str:
    found = HubOrganization(id=hub.new_id(), name="Samaritans")
    db.add(found)
    db.commit()
    return found.id


SERVICE = {
    "name": "Samaritans",
    "crisis_line": "y",
    "phone_country": "GB",
    "phones": "116 123 | voice | Free from any phone",
    "url": "https://www.samaritans.org/",
    "countries": "GB, IE",
    "languages": "en",
    "topics": "crisis",
    "audiences": "anyone",
    "free": "y",
    "time_zone": "Europe/London",
    "open_all_hours": "y",
    "checked_on": TODAY.isoformat(),
    "source_url": "https://www.samaritans.org/how-we-can-help/contact-samaritan/",
    "description_en": "Someone to talk to, day or night.",
    "change_note": "A new crisis line for the UK and Ireland.",
}


def propose(client: FlaskClient, organisation: str, **changes: str) -> int:
    response = submit(
        client, "/hub/services/new", {**SERVICE, "organization_id": organisation, **changes}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.headers["Location"].rsplit("/", 1)[1])


def test_a_navigator_proposes_and_a_second_navigator_publishes(
    app: Flask, db: Session, people: dict[str, str], organisation: str
) -> None:
    first, second = sign_in(app, people["first"]), sign_in(app, people["second"])
    version_id = propose(first, organisation)
    version = db.get_one(HubServiceVersion, version_id)
    assert version.state is VersionState.PROPOSED
    assert version.phones[0]["number"] == "116123"
    assert version.countries == ["GB", "IE"]
    service_id = version.service_id

    queue = first.get("/hub/").get_data(as_text=True)
    assert "Samaritans" in queue
    assert "(you)" in queue
    page = second.get(f"/hub/versions/{version_id}").get_data(as_text=True)
    assert "Nina Navigator" in page
    assert "116 123 (voice, GB)" in page
    assert ">Publish<" in page
    response = submit(
        second,
        f"/hub/versions/{version_id}",
        {},
        action=f"/hub/versions/{version_id}/publish",
    )
    assert response.status_code == 302
    db.expire_all()
    service = db.get_one(HubService, service_id)
    assert service.published_version_id == version_id
    assert db.get_one(HubServiceVersion, version_id).state is VersionState.PUBLISHED
    actions = db.scalars(
        select(AuditEvent.action).where(AuditEvent.object_type == "hub_service_version")
    ).all()
    assert actions == ["hub.propose", "hub.publish"]

    history = first.get(f"/hub/services/{service_id}/history").get_data(as_text=True)
    assert "Published" in history
    assert "Noor Navigator" in history

    edit = first.get(f"/hub/services/{service_id}/edit").get_data(as_text=True)
    assert "116 123 | voice | Free from any phone" in edit, "the edit starts from what is public"
    changed = submit(
        first,
        f"/hub/services/{service_id}/edit",
        {
            "url": "https://www.samaritans.org/contact/",
            "change_note": "New contact page",
            # the test client's form reader leaves text areas out; a browser sends them
            "phones": SERVICE["phones"],
            "description_en": SERVICE["description_en"],
        },
    )
    assert changed.status_code == 302
    proposal = int(changed.headers["Location"].rsplit("/", 1)[1])
    shown = second.get(f"/hub/versions/{proposal}").get_data(as_text=True)
    assert "www.samaritans.org/<wbr>contact/<wbr>" in shown
    assert "Website" in shown
    assert "Crisis line</th>" not in shown, "only what changed"


def test_the_proposer_cannot_publish_and_is_told_why(
    app: Flask, db: Session, people: dict[str, str], organisation: str
) -> None:
    first = sign_in(app, people["first"])
    version_id = propose(first, organisation)
    page = first.get(f"/hub/versions/{version_id}").get_data(as_text=True)
    assert ">Publish<" not in page
    assert "You proposed this version, so someone else publishes it" in page
    assert "Withdraw it" in page

    fields = form_fields(
        first, f"/hub/versions/{version_id}", f"/hub/versions/{version_id}/withdraw"
    )
    response = first.post(f"/hub/versions/{version_id}/publish", data=fields)
    assert response.status_code == 403
    assert "Someone else must publish what you proposed" in response.get_data(as_text=True)
    db.expire_all()
    assert db.get_one(HubServiceVersion, version_id).state is VersionState.PROPOSED
    assert (
        db.get_one(
            HubService, db.get_one(HubServiceVersion, version_id).service_id
        ).published_version_id
        is None
    )
    assert (
        db.scalar(select(func.count(AuditEvent.seq)).where(AuditEvent.action == "hub.publish")) == 0
    )


def test_a_manager_publishes_and_an_admin_only_reads(
    app: Flask, db: Session, people: dict[str, str], organisation: str
) -> None:
    version_id = propose(sign_in(app, people["first"]), organisation)
    admin = sign_in(app, people["admin"])
    page = admin.get(f"/hub/versions/{version_id}").get_data(as_text=True)
    assert ">Publish<" not in page
    assert "A navigator or a manager publishes" in page

    manager = sign_in(app, people["manager"])
    response = submit(
        manager, f"/hub/versions/{version_id}", {}, action=f"/hub/versions/{version_id}/publish"
    )
    assert response.status_code == 302
    db.expire_all()
    assert db.get_one(HubServiceVersion, version_id).state is VersionState.PUBLISHED
    assert "Navigators propose changes" in manager.get(
        f"/hub/services/{db.get_one(HubServiceVersion, version_id).service_id}"
    ).get_data(as_text=True)


def test_sending_back_needs_a_reason(
    app: Flask, db: Session, people: dict[str, str], organisation: str
) -> None:
    version_id = propose(sign_in(app, people["first"]), organisation)
    second = sign_in(app, people["second"])
    page, action = f"/hub/versions/{version_id}", f"/hub/versions/{version_id}/send-back"
    response = submit(second, page, {"note": ""}, action=action)
    assert response.status_code == 422
    db.expire_all()
    assert db.get_one(HubServiceVersion, version_id).state is VersionState.PROPOSED

    response = submit(
        second, page, {"note": "The number is the Irish one; check it."}, action=action
    )
    assert response.status_code == 302
    db.expire_all()
    version = db.get_one(HubServiceVersion, version_id)
    assert version.state is VersionState.WITHDRAWN
    assert version.decision_note == "The number is the Irish one; check it."
    shown = sign_in(app, people["first"]).get(page).get_data(as_text=True)
    assert "The number is the Irish one; check it." in shown
    assert "Noor Navigator" in shown


def test_a_bad_phone_is_shown_on_its_field_and_nothing_is_written(
    app: Flask, db: Session, people: dict[str, str], organisation: str
) -> None:
    first = sign_in(app, people["first"])
    response = submit(
        first,
        "/hub/services/new",
        {**SERVICE, "organization_id": organisation, "phones": "12 | voice"},
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert 'id="phones-error"' in body
    assert "is not a phone number in United Kingdom" in body
    response = submit(
        first,
        "/hub/services/new",
        {**SERVICE, "organization_id": organisation, "url": "http://example.org"},
    )
    assert 'id="url-error"' in response.get_data(as_text=True)
    response = submit(
        first,
        "/hub/services/new",
        {**SERVICE, "organization_id": organisation, "phones": "9" * 30},
    )
    assert 'id="phones-error"' in response.get_data(as_text=True)
    response = submit(first, "/hub/services/new", {**SERVICE, "phone_country": ""})
    body = response.get_data(as_text=True)
    assert 'id="organization_id-error"' in body
    response = submit(
        first,
        "/hub/services/new",
        {**SERVICE, "organization_id": organisation, "phone_country": ""},
    )
    assert "Choose the country the numbers are dialled in." in response.get_data(as_text=True)
    assert db.scalar(select(func.count(HubServiceVersion.id))) == 0


def test_retiring_and_marking_checked_are_proposals(
    app: Flask, db: Session, people: dict[str, str], organisation: str
) -> None:
    first, second = sign_in(app, people["first"]), sign_in(app, people["second"])
    version_id = propose(first, organisation, checked_on=(TODAY - timedelta(days=30)).isoformat())
    submit(second, f"/hub/versions/{version_id}", {}, action=f"/hub/versions/{version_id}/publish")
    service_id = db.get_one(HubServiceVersion, version_id).service_id

    response = submit(
        first,
        f"/hub/services/{service_id}",
        {"checked_on": TODAY.isoformat()},
        action=f"/hub/services/{service_id}/checked",
    )
    assert response.status_code == 302
    checked = db.scalars(select(HubServiceVersion).where(HubServiceVersion.number == 2)).one()
    assert (checked.checked_on, checked.state, checked.phones) == (
        TODAY,
        VersionState.PROPOSED,
        db.get_one(HubServiceVersion, version_id).phones,
    )

    response = submit(first, f"/hub/services/{service_id}/retire", {"note": ""})
    assert response.status_code == 422
    response = submit(first, f"/hub/services/{service_id}/retire", {"note": "The line closed."})
    assert response.status_code == 302
    retirement = db.scalars(select(HubServiceVersion).where(HubServiceVersion.retires)).one()
    assert retirement.change_note == "The line closed."
    listed = first.get("/hub/services?q=samar").get_data(as_text=True)
    assert "Samaritans" in listed
    assert "Published" in listed
    assert "2 waiting" in listed
    assert "Samaritans" not in first.get("/hub/services?q=nothing-like-it").get_data(as_text=True)


def test_a_navigator_adds_an_organisation(app: Flask, db: Session, people: dict[str, str]) -> None:
    first = sign_in(app, people["first"])
    response = submit(
        first,
        "/hub/organisations",
        {"name": "Backline", "website": "http://backline.care", "email": ""},
    )
    assert response.status_code == 422
    assert 'id="website-error"' in response.get_data(as_text=True)
    response = submit(
        first,
        "/hub/organisations",
        {"name": "Backline", "website": "https://backline.care/", "email": "hello@backline.care"},
    )
    assert response.status_code == 302
    assert db.scalar(select(HubOrganization.website)) == "https://backline.care/"
    manager = sign_in(app, people["manager"])
    page = manager.get("/hub/organisations").get_data(as_text=True)
    assert "Backline" in page
    assert "Add an organisation" not in page
    token = csrf_token(manager, "/hub/organisations")
    assert manager.post("/hub/organisations", data={"csrf_token": token}).status_code == 403


ROUTES = (
    "/hub/",
    "/hub/services",
    "/hub/services/new",
    "/hub/organisations",
)


def test_who_reaches_the_screens(app: Flask, people: dict[str, str]) -> None:
    for role in ("finance", "ambassador"):
        client = sign_in(app, people[role])
        for route in ROUTES:
            assert client.get(route).status_code == 403, (role, route)
    anonymous = app.test_client()
    for route in ROUTES:
        response = anonymous.get(route)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")
    manager = sign_in(app, people["manager"])
    assert manager.get("/hub/").status_code == 200
    assert '<a href="/hub/">Resource hub</a>' in manager.get("/manager/").get_data(as_text=True)
    assert manager.get("/hub/services/new").status_code == 403, "only navigators propose"
    navigation = sign_in(app, people["first"]).get("/hub/").get_data(as_text=True)
    assert 'href="/hub/"' in navigation
    assert "Resource hub" in navigation


def test_a_post_without_its_csrf_token_is_refused(
    app: Flask, db: Session, people: dict[str, str], organisation: str
) -> None:
    first = sign_in(app, people["first"])
    fields = form_fields(first, "/hub/services/new")
    fields.pop("csrf_token")
    response = first.post(
        "/hub/services/new", data={**fields, **SERVICE, "organization_id": organisation}
    )
    assert response.status_code == 400
    assert db.scalar(select(func.count(HubServiceVersion.id))) == 0


def published_service(db: Session, checked_on: date, *, name: str = "Lifeline") -> str:
    organisation = HubOrganization(id=hub.new_id(), name=f"{name} org")
    db.add(organisation)
    db.flush()
    version = hub.propose(
        db,
        actor=None,
        content=ServiceContent(
            name=name,
            checked_on=checked_on,
            descriptions={"en": "Crisis support."},
            crisis_line=True,
            phones=(read_phone("13 11 14", "AU"),),
            countries=("AU",),
            topics=("crisis",),
            time_zone="Australia/Sydney",
            open_all_hours=True,
        ),
        now=datetime.now(UTC),
        organization_id=organisation.id,
    )
    hub.publish(db, actor=None, version_id=version.id, now=datetime.now(UTC))
    db.commit()
    return version.service_id


def test_navigators_are_told_once_of_each_service_due_for_checking(
    app: Flask, db: Session, people: dict[str, str]
) -> None:
    now = datetime.now(UTC)
    due = published_service(db, months_before(now.date(), 7))
    published_service(db, now.date() - timedelta(days=20), name="Fresh line")
    make_user(db, Role.NAVIGATOR, email="gone@example.org").active = False
    db.commit()

    assert send_reminders(db, now=now).hub_stale == 2
    db.commit()
    assert send_reminders(db, now=now).hub_stale == 0
    db.commit()
    told = db.execute(
        select(Notification.user_id, Notification.title, Notification.link).where(
            Notification.kind == "hub.stale"
        )
    ).all()
    assert len(told) == 2
    assert {link for _, _, link in told} == {f"/hub/services/{due}"}
    assert all(title.startswith("Lifeline was last checked on") for _, title, _ in told)

    queue = sign_in(app, people["first"]).get("/hub/").get_data(as_text=True)
    assert "Lifeline" in queue
    assert "Fresh line" not in queue.split("Due for checking")[1]
    assert "Over a year" not in queue


def test_six_months_before_keeps_to_the_month() -> None:
    assert months_before(date(2026, 8, 31), 6) == date(2026, 2, 28)
    assert months_before(date(2026, 5, 15), 6) == date(2025, 11, 15)
    assert months_before(date(2024, 8, 31), 6) == date(2024, 2, 29)
