"""``flask grants hub seed`` loads the resource hub's real seed data: every touring country's
emergency number and at least two published crisis lines (or a gap the data file names),
every phone parsed for its country, every source an ``https:`` page, and a second run
changes nothing. ``seed-demo`` loads the same data, so the README's first command shows a
populated hub."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import replace
from datetime import date
from typing import Any

from flask.testing import FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants import clock
from grants.domain.hub import propose, publish
from grants.domain.hub_contacts import read_phone
from grants.models import (
    AuditEvent,
    Base,
    HubCountry,
    HubService,
    HubServiceVersion,
    VersionState,
)
from grants.seed.hub import hub_data, service_content

TOURING = ("US", "GB", "IE", "CA", "AU", "NZ", "DE", "FR", "ES", "IT", "NL", "SE", "BR", "MX", "JP")
"""The countries the programme's artists tour, as the issue names them."""

HUB_TABLES = (
    "hub_organizations",
    "hub_services",
    "hub_service_versions",
    "hub_service_texts",
    "hub_service_facets",
    "hub_countries",
)


def seeded(runner: FlaskCliRunner) -> str:
    result = runner.invoke(args=["grants", "hub", "seed"])
    assert result.exit_code == 0, result.output
    return str(result.output)


def snapshot(db: Session) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the hub's tables and of the audit trail."""
    db.rollback()
    tables: dict[str, list[tuple[object, ...]]] = {}
    for table in Base.metadata.sorted_tables:
        if table.name in HUB_TABLES or table.name == AuditEvent.__tablename__:
            rows = db.execute(select(table).order_by(*table.primary_key.columns)).all()
            tables[table.name] = [tuple(row) for row in rows]
    return tables


def test_every_touring_country_has_its_emergency_number_and_two_published_crisis_lines(
    runner: FlaskCliRunner, db: Session
) -> None:
    output = seeded(runner)
    data = hub_data()
    assert f"{len(data['services'])} services published" in output
    db.rollback()

    countries = {country.code: country for country in db.scalars(select(HubCountry))}
    assert set(TOURING) <= set(countries)
    for code in TOURING:
        assert countries[code].emergency_number, code
        assert countries[code].source_url.startswith("https://"), code

    published = list(
        db.scalars(
            select(HubServiceVersion)
            .join(HubService, HubService.published_version_id == HubServiceVersion.id)
            .where(HubServiceVersion.state == VersionState.PUBLISHED)
        )
    )
    assert len(published) == len(data["services"])
    crisis_lines = Counter(
        code for version in published if version.crisis_line for code in version.countries
    )
    gaps = {gap["country"] for gap in data["known_gaps"]}
    for code in TOURING:
        assert crisis_lines[code] >= 2 or code in gaps, (code, crisis_lines[code])
    for code in gaps:
        assert crisis_lines[code] < 2, f"{code} is listed as a gap but has two crisis lines"


def test_the_music_industry_services_are_published(runner: FlaskCliRunner, db: Session) -> None:
    seeded(runner)
    db.rollback()
    industry = {
        version.name
        for version in db.scalars(
            select(HubServiceVersion).where(HubServiceVersion.state == VersionState.PUBLISHED)
        )
        if "industry" in version.topics
    }
    for name in (
        "B-LINE (Backline)",
        "Backline case management",
        "MusiCares",
        "Music Minds Matter",
        "Music Health Alliance",
        "Tonic Rider",
    ):
        assert name in industry
    musicares = db.scalar(select(HubServiceVersion).where(HubServiceVersion.name == "MusiCares"))
    assert musicares is not None
    assert "+18773036962" in [phone["number"] for phone in musicares.phones]


def test_every_phone_parses_for_its_country_and_is_stored_as_parsed(
    runner: FlaskCliRunner, db: Session
) -> None:
    data = hub_data()
    for country in data["countries"]:
        for number in (country["emergency_number"], *country["other_emergency_numbers"]):
            assert read_phone(number, country["code"]).short, (country["code"], number)
    expected = {}
    for service in data["services"]:
        expected[service["id"]] = [
            read_phone(phone["number"], phone["country"], kind=phone["kind"]).number
            for phone in service["phones"]
        ]
        for phone in service["phones"]:
            assert phone["country"] in service["countries"] or "*" in service["countries"]

    seeded(runner)
    db.rollback()
    for version in db.scalars(select(HubServiceVersion)):
        assert [phone["number"] for phone in version.phones] == expected[version.service_id]


def test_every_entry_names_an_https_source_and_the_day_it_was_checked() -> None:
    data = hub_data()
    entries: list[dict[str, Any]] = [*data["countries"], *data["services"]]
    for entry in entries:
        assert entry["source_url"].startswith("https://"), entry
        assert entry["source_kind"] in data["source_kinds"], entry
        assert date.fromisoformat(entry["checked_on"]) <= date(2026, 12, 31)
        for more in entry.get("more_sources", []):
            assert more.startswith("https://"), more
    for organization in data["organizations"]:
        assert organization["website"] == "" or organization["website"].startswith("https://")
    listed = {source["url"] for source in data["sources"]}
    assert {entry["source_url"] for entry in entries} <= listed
    assert data["checked_on_note"]
    for service in data["services"]:
        assert service["descriptions"]["en"]
        for key in ("url", "chat_url"):
            assert service.get(key, "") == "" or service[key].startswith("https://")


def test_ids_are_fixed_uuids_each_used_once() -> None:
    data = hub_data()
    ids = [entry["id"] for entry in (*data["organizations"], *data["services"])]
    assert len(ids) == len(set(ids))
    for value in ids:
        assert str(uuid.UUID(value)) == value
    organizations = {organization["id"] for organization in data["organizations"]}
    assert {service["organization_id"] for service in data["services"]} <= organizations


def test_running_it_twice_changes_nothing(runner: FlaskCliRunner, db: Session) -> None:
    seeded(runner)
    before = snapshot(db)
    assert before["hub_services"]
    again = seeded(runner)
    assert "nothing changed" in again
    assert snapshot(db) == before


def test_a_service_changed_since_seeding_is_left_as_it_is(
    runner: FlaskCliRunner, db: Session
) -> None:
    seeded(runner)
    db.rollback()
    entry = hub_data()["services"][0]
    changed = replace(service_content(entry), name=f"{entry['name']} (renamed)")
    version = propose(db, actor=None, content=changed, now=clock.now(), service_id=entry["id"])
    publish(db, actor=None, version_id=version.id, now=clock.now())
    db.commit()

    seeded(runner)
    db.rollback()
    service = db.get_one(HubService, entry["id"])
    assert service.published is not None
    assert service.published.name == f"{entry['name']} (renamed)"
    assert service.published.number == 2


def test_seed_demo_populates_the_hub(runner: FlaskCliRunner, db: Session) -> None:
    result = runner.invoke(args=["grants", "seed-demo"])
    assert result.exit_code == 0, result.output
    assert "hub services" in result.output
    db.rollback()
    assert db.get(HubCountry, "GB") is not None
    assert len(db.scalars(select(HubService)).all()) == len(hub_data()["services"])
