"""Curating the resource hub: four eyes on every published version, numbers and links
checked before they are stored, and the facets the filters read kept with what is public."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain import hub
from grants.domain.errors import InvalidInput, InvalidState, NotAllowed
from grants.domain.hub import Opening, ServiceContent
from grants.domain.hub_changes import changes
from grants.domain.hub_contacts import read_phone
from grants.models import (
    AuditEvent,
    Facet,
    HubOrganization,
    HubService,
    HubServiceFacet,
    HubServiceVersion,
    Role,
    VersionState,
)
from tests.factories import make_user

NOW = datetime(2026, 11, 28, 9, tzinfo=UTC)


def content(**changes: object) -> ServiceContent:
    fields: dict[str, object] = {
        "name": "Samaritans",
        "checked_on": date(2026, 11, 1),
        "descriptions": {"en": "Someone to talk to, day or night.", "de": "Jemand zum Reden."},
        "crisis_line": True,
        "phones": (read_phone("116 123", "GB"),),
        "countries": ("gb", "IE"),
        "languages": ("en",),
        "topics": ("crisis",),
        "time_zone": "Europe/London",
        "open_all_hours": True,
        "url": "https://www.samaritans.org/",
    }
    fields.update(changes)
    return ServiceContent(**fields)  # type: ignore[arg-type]


@pytest.fixture
def organisation(db: Session) -> HubOrganization:
    found = HubOrganization(id=hub.new_id(), name="Samaritans", created_at=NOW)
    db.add(found)
    db.flush()
    return found


def facets(db: Session, service_id: str) -> set[tuple[str, str]]:
    return {
        (row.facet.value, row.value)
        for row in db.scalars(
            select(HubServiceFacet).where(HubServiceFacet.service_id == service_id)
        )
    }


def test_a_proposal_is_public_only_once_someone_else_publishes_it(
    db: Session, organisation: HubOrganization
) -> None:
    first, second = make_user(db, Role.NAVIGATOR), make_user(db, Role.NAVIGATOR)
    version = hub.propose(
        db, actor=first, content=content(), now=NOW, organization_id=organisation.id
    )
    service = db.get_one(HubService, version.service_id)
    assert (version.number, version.state) == (1, VersionState.PROPOSED)
    assert service.published_version_id is None
    assert facets(db, service.id) == set()

    with pytest.raises(NotAllowed, match="Someone else must publish"):
        hub.publish(db, actor=first, version_id=version.id, now=NOW)
    with pytest.raises(NotAllowed):
        hub.publish(db, actor=make_user(db, Role.FINANCE), version_id=version.id, now=NOW)
    hub.publish(db, actor=second, version_id=version.id, now=NOW)

    assert service.published_version_id == version.id
    assert version.decided_by_id == second.id
    assert facets(db, service.id) == {
        ("country", "GB"),
        ("country", "IE"),
        ("topic", "crisis"),
        ("channel", "call"),
        ("channel", "web"),
        ("language", "en"),
        ("audience", "anyone"),
        ("cost", "free"),
    }
    assert [text.language for text in version.texts] == ["en", "de"]
    assert version.text_in("fr").description == "Someone to talk to, day or night."  # type: ignore[union-attr]
    with pytest.raises(InvalidState, match="already published"):
        hub.publish(db, actor=second, version_id=version.id, now=NOW)
    actions = db.scalars(
        select(AuditEvent.action).where(AuditEvent.object_type == "hub_service_version")
    ).all()
    assert actions == ["hub.propose", "hub.publish"]


def test_a_change_supersedes_the_published_version_and_a_retirement_takes_it_off(
    db: Session, organisation: HubOrganization
) -> None:
    navigator, manager = make_user(db, Role.NAVIGATOR), make_user(db, Role.MANAGER)
    first = hub.propose(
        db, actor=navigator, content=content(), now=NOW, organization_id=organisation.id
    )
    hub.publish(db, actor=manager, version_id=first.id, now=NOW)
    change = hub.propose(
        db,
        actor=navigator,
        content=content(countries=("GB",), chat_url="https://www.samaritans.org/chat"),
        now=NOW,
        service_id=first.service_id,
        note="Chat opened",
    )
    assert change.number == 2
    hub.publish(db, actor=manager, version_id=change.id, now=NOW)
    assert first.state is VersionState.SUPERSEDED
    assert ("country", "IE") not in facets(db, first.service_id)
    assert ("channel", "chat") in facets(db, first.service_id)

    with pytest.raises(InvalidInput, match="Say why"):
        hub.propose_retirement(db, actor=navigator, service_id=first.service_id, note=" ", now=NOW)
    retirement = hub.propose_retirement(
        db, actor=navigator, service_id=first.service_id, note="Closed in 2026", now=NOW
    )
    hub.publish(db, actor=manager, version_id=retirement.id, now=NOW)
    service = db.get_one(HubService, first.service_id)
    assert (service.published_version_id, service.retired_at) == (None, NOW)
    assert facets(db, service.id) == set()
    assert (
        db.scalar(select(HubServiceVersion.name).where(HubServiceVersion.id == retirement.id))
        == "Samaritans"
    )


def test_a_reviewer_sends_a_proposal_back_with_a_reason(
    db: Session, organisation: HubOrganization
) -> None:
    navigator, reviewer = make_user(db, Role.NAVIGATOR), make_user(db, Role.NAVIGATOR)
    version = hub.propose(
        db, actor=navigator, content=content(), now=NOW, organization_id=organisation.id
    )
    with pytest.raises(InvalidInput, match="Say why it goes back"):
        hub.withdraw(db, actor=reviewer, version_id=version.id, note="", now=NOW)
    hub.withdraw(db, actor=reviewer, version_id=version.id, note="Wrong number", now=NOW)
    assert (version.state, version.decision_note) == (VersionState.WITHDRAWN, "Wrong number")
    with pytest.raises(InvalidState):
        hub.publish(db, actor=reviewer, version_id=version.id, now=NOW)


@pytest.mark.parametrize(
    ("written", "country", "number", "short", "shown"),
    [
        ("988", "US", "988", True, "988"),
        ("116 123", "GB", "116123", True, "116 123"),
        ("116123", "GB", "116123", True, "116123"),
        ("(800) 273-8255", "US", "+18002738255", False, "(800) 273-8255"),
        ("+44 20 7123 4567", "US", "+442071234567", False, "020 7123 4567"),
        ("13 11 14", "AU", "131114", True, "13 11 14"),
    ],
)
def test_numbers_are_stored_in_e164_or_as_a_short_code_of_their_country(
    written: str, country: str, number: str, short: bool, shown: str
) -> None:
    phone = read_phone(written, country)
    assert (phone.number, phone.short, phone.shown) == (number, short, shown)
    assert phone.uri == f"tel:{number}"


@pytest.mark.parametrize(
    ("written", "country"),
    [("12", "GB"), ("not a number", "US"), ("+44 20 7123", "GB"), ("911 911 911 911 911", "US")],
)
def test_a_number_that_does_not_parse_is_refused(written: str, country: str) -> None:
    with pytest.raises(InvalidInput, match="is not a phone number in"):
        read_phone(written, country)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"url": "http://example.org"}, "starting with https://"),
        ({"chat_url": "javascript:alert(1)"}, "starting with https://"),
        ({"countries": ("XX",)}, "is not a country code"),
        ({"countries": ()}, "which countries"),
        ({"descriptions": {"de": "Nur Deutsch"}}, "in English"),
        ({"descriptions": {"en": "x", "ru": "y"}}, "not one of the hub's languages"),
        ({"topics": ("astrology",)}, "not one of the choices"),
        ({"time_zone": "Mars/Olympus"}, "time zone"),
        ({"open_all_hours": False, "hours": (Opening("XX", "09:00", "17:00"),)}, "day of the week"),
        ({"open_all_hours": False, "hours": (Opening("MO", "9am", "17:00"),)}, "times such as"),
        ({"phones": (), "url": ""}, "at least one way to reach"),
        ({"sms_keyword": "HOME"}, "needs a number to text"),
        ({"name": "  "}, "a name"),
    ],
)
def test_bad_content_is_refused_and_nothing_is_written(
    db: Session, organisation: HubOrganization, changes: dict[str, object], message: str
) -> None:
    navigator = make_user(db, Role.NAVIGATOR)
    with pytest.raises(InvalidInput, match=message):
        hub.propose(
            db,
            actor=navigator,
            content=content(**changes),
            now=NOW,
            organization_id=organisation.id,
        )
    assert db.scalars(select(HubServiceVersion)).all() == []


def test_only_navigators_propose(db: Session, organisation: HubOrganization) -> None:
    with pytest.raises(NotAllowed):
        hub.propose(
            db,
            actor=make_user(db, Role.MANAGER),
            content=content(),
            now=NOW,
            organization_id=organisation.id,
        )
    assert Facet.COUNTRY.value == "country"


def test_a_proposal_s_changes_write_days_in_the_reader_s_locale(
    db: Session, organisation: HubOrganization
) -> None:
    navigator, manager = make_user(db, Role.NAVIGATOR), make_user(db, Role.MANAGER)
    first = hub.propose(
        db, actor=navigator, content=content(), now=NOW, organization_id=organisation.id
    )
    hub.publish(db, actor=manager, version_id=first.id, now=NOW)
    change = hub.propose(
        db,
        actor=navigator,
        content=content(checked_on=date(2026, 11, 20)),
        now=NOW,
        service_id=first.service_id,
    )
    [british] = changes(change, first, "en_GB")
    assert (british.label, british.before, british.after) == (
        "Checked on",
        "1 Nov 2026",
        "20 Nov 2026",
    )
    [american] = changes(change, first, "en_US")
    assert (american.before, american.after) == ("Nov 1, 2026", "Nov 20, 2026")
