"""``flask grants hub import FILE`` and ``export FILE``: an HSDS 3.0 data package checked
against the schemas first, imported as drafts for navigators to publish, idempotent by the
services' ids; export → import → export gives the same file; a file with errors names each
by its JSON pointer and writes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask.testing import FlaskCliRunner
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from grants.domain import hub
from grants.models import (
    AuditEvent,
    HubOrganization,
    HubService,
    HubServiceFacet,
    HubServiceText,
    HubServiceVersion,
    VersionState,
)
from tests.web.test_hub_hsds import (
    NOW,
    Schemas,
    content,
    office_hours,
    publish_service,
    shared_schemas,
)


def export(runner: FlaskCliRunner, path: Path) -> str:
    result = runner.invoke(args=["grants", "hub", "export", str(path)])
    assert result.exit_code == 0, result.output
    return path.read_text(encoding="utf-8")


def import_file(runner: FlaskCliRunner, path: Path) -> Any:
    return runner.invoke(args=["grants", "hub", "import", str(path)])


def counts(db: Session) -> tuple[int, ...]:
    db.rollback()
    return tuple(
        db.scalar(select(func.count()).select_from(model)) or 0
        for model in (HubOrganization, HubService, HubServiceVersion, HubServiceText, AuditEvent)
    )


def forget_the_hub(db: Session) -> None:
    """Delete every service and organisation, as a fresh installation would be."""
    db.execute(update(HubService).values(published_version_id=None))
    for model in (HubServiceFacet, HubServiceText, HubServiceVersion, HubService, HubOrganization):
        db.execute(delete(model))
    db.commit()


def publish_proposals(db: Session) -> None:
    for version in db.scalars(
        select(HubServiceVersion).where(HubServiceVersion.state == VersionState.PROPOSED)
    ).all():
        hub.publish(db, actor=None, version_id=version.id, now=NOW)
    db.commit()


def test_export_import_export_gives_the_same_file(
    runner: FlaskCliRunner, db: Session, tmp_path: Path
) -> None:
    publish_service(db, content())
    publish_service(db, office_hours())
    publish_service(db, content(name="Quiet line", open_all_hours=False, hours_notes={}))
    first = export(runner, tmp_path / "first.json")
    Schemas(shared_schemas()).package(json.loads(first))

    forget_the_hub(db)
    result = import_file(runner, tmp_path / "first.json")
    assert result.exit_code == 0, result.output
    assert "Proposed 3 versions for navigators to publish; 0 unchanged" in result.output
    proposed = db.scalars(select(HubServiceVersion)).all()
    assert {(v.state, v.number, v.proposed_by_id) for v in proposed} == {
        (VersionState.PROPOSED, 1, None)
    }
    assert json.loads(export(runner, tmp_path / "drafts.json"))["services"] == []
    publish_proposals(db)

    assert export(runner, tmp_path / "second.json") == first


def test_importing_the_same_file_twice_proposes_nothing_the_second_time(
    runner: FlaskCliRunner, db: Session, tmp_path: Path
) -> None:
    publish_service(db, content())
    publish_service(db, office_hours())
    export(runner, tmp_path / "hub.json")
    before = counts(db)

    result = import_file(runner, tmp_path / "hub.json")

    assert result.exit_code == 0, result.output
    assert "Proposed 0 versions for navigators to publish; 2 unchanged" in result.output
    assert counts(db) == before

    forget_the_hub(db)
    assert import_file(runner, tmp_path / "hub.json").exit_code == 0
    drafts = counts(db)
    again = import_file(runner, tmp_path / "hub.json")
    assert "Proposed 0 versions" in again.output
    assert counts(db) == drafts


def test_a_changed_service_is_proposed_as_a_new_version_and_its_organisation_updated(
    runner: FlaskCliRunner, db: Session, tmp_path: Path
) -> None:
    kept, changed = publish_service(db, content()), publish_service(db, office_hours())
    package = json.loads(export(runner, tmp_path / "hub.json"))
    for service in package["services"]:
        if service["id"] == changed.service_id:
            service["phones"][0]["number"] = "+1 (615) 555-0199"
            service["organization"]["description"] = "Runs counselling for crews."
    (tmp_path / "changed.json").write_text(json.dumps(package), encoding="utf-8")

    result = import_file(runner, tmp_path / "changed.json")

    assert result.exit_code == 0, result.output
    assert f"Proposed {changed.service_id} version 2: Backstage Counselling" in result.output
    assert "1 unchanged; organisations: 0 created, 1 updated" in result.output
    db.rollback()
    latest = db.scalars(
        select(HubServiceVersion)
        .where(HubServiceVersion.service_id == changed.service_id)
        .order_by(HubServiceVersion.number.desc())
    ).first()
    assert latest is not None
    assert (latest.state, latest.phones[0]["number"]) == (VersionState.PROPOSED, "+16155550199")
    assert db.get_one(HubService, changed.service_id).published_version_id == changed.id
    organization = db.get_one(HubOrganization, latest.service.organization_id)
    assert organization.description == "Runs counselling for crews."
    assert (
        db.scalar(select(func.count()).where(HubServiceVersion.service_id == kept.service_id)) == 1
    )


def test_a_file_against_the_schema_names_each_error_by_pointer_and_writes_nothing(
    runner: FlaskCliRunner, db: Session, tmp_path: Path
) -> None:
    publish_service(db, content())
    package = json.loads(export(runner, tmp_path / "hub.json"))
    good = package["services"][0]
    package["services"] = [
        {**good, "id": "not-a-uuid"},
        {**good, "phones": [{"id": good["phones"][0]["id"], "type": "voice"}]},
        {**good, "status": "open", "name": 7},
    ]
    (tmp_path / "bad.json").write_text(json.dumps(package), encoding="utf-8")
    before = counts(db)

    result = import_file(runner, tmp_path / "bad.json")

    assert result.exit_code == 1
    assert "/services/0/id: 'not-a-uuid' is not a 'uuid'" in result.output
    assert "/services/1/phones/0: 'number' is a required property" in result.output
    assert "/services/2/name: 7 is not of type 'string'" in result.output
    assert "/services/2/status: 'open' is not one of" in result.output
    assert "The file has 4 problems; nothing was imported." in result.output
    assert counts(db) == before


def test_a_valid_file_the_hub_cannot_take_names_each_problem_and_writes_nothing(
    runner: FlaskCliRunner, db: Session, tmp_path: Path
) -> None:
    publish_service(db, content())
    package = json.loads(export(runner, tmp_path / "hub.json"))
    good = package["services"][0]
    phones = [dict(phone) for phone in good["phones"]]
    phones[1]["number"] = "12"
    package["services"] = [
        {**good, "phones": phones},
        {**good, "id": hub.new_id(), "schedules": [{**good["schedules"][0], "opens_at": "9am"}]},
        {**good, "id": hub.new_id(), "description": ""},
        {**good, "id": hub.new_id(), "url": "http://insecure.example.org/"},
    ]
    (tmp_path / "bad.json").write_text(json.dumps(package), encoding="utf-8")
    before = counts(db)

    result = import_file(runner, tmp_path / "bad.json")

    assert result.exit_code == 1, result.output
    assert "/services/0/phones/1/number: “12” is not a phone number in Ireland" in result.output
    assert "/services/1/schedules/0/opens_at: A time of day" in result.output
    assert "/services/2/description: Describe the service in English." in result.output
    assert "/services/3/url: Links must be web addresses starting with https://." in result.output
    assert counts(db) == before


def test_a_file_that_is_not_json_is_refused(
    runner: FlaskCliRunner, db: Session, tmp_path: Path
) -> None:
    (tmp_path / "hub.json").write_text("{not json", encoding="utf-8")
    result = import_file(runner, tmp_path / "hub.json")
    assert result.exit_code == 1
    assert "is not a JSON file" in result.output
    (tmp_path / "list.json").write_text("[]", encoding="utf-8")
    result = import_file(runner, tmp_path / "list.json")
    assert result.exit_code == 1
    assert "/: [] is not of type 'object'" in result.output


def test_export_to_standard_output_writes_the_same_package(
    runner: FlaskCliRunner, db: Session, tmp_path: Path
) -> None:
    publish_service(db, office_hours())
    result = runner.invoke(args=["grants", "hub", "export", "-"])
    assert result.exit_code == 0, result.output
    assert result.output == export(runner, tmp_path / "hub.json")


def test_a_service_the_hub_keeps_under_another_organisation_is_refused(
    runner: FlaskCliRunner, db: Session, tmp_path: Path
) -> None:
    version = publish_service(db, content())
    package = json.loads(export(runner, tmp_path / "hub.json"))
    moved = package["services"][0]
    moved["organization"] = {**moved["organization"], "id": hub.new_id(), "name": "Another"}
    moved["organization_id"] = moved["organization"]["id"]
    (tmp_path / "moved.json").write_text(json.dumps(package), encoding="utf-8")
    before = counts(db)

    result = import_file(runner, tmp_path / "moved.json")

    assert result.exit_code == 1
    assert "/services/0/organization_id: The hub has this service under another" in result.output
    assert counts(db) == before
    assert db.get_one(HubService, version.service_id).organization.name == "Samaritans Trust"
