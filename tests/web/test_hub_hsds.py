"""The hub's open data: every answer under /help/hsds validates against the official HSDS 3.0
JSON schemas (the reference copy in ../shared/hsds-3.0), only published versions appear,
and the list pages as the HSDS API's ``Page`` says."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from sqlalchemy.orm import Session

from grants.domain import hub
from grants.domain.hub import Opening, ServiceContent
from grants.domain.hub_contacts import read_phone
from grants.hsds_schema import SCHEMA_FILES
from grants.models import HubOrganization, HubServiceVersion, Role
from tests.factories import make_user
from tests.support import require

NOW = datetime(2026, 11, 28, 9, tzinfo=UTC)
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "hsds-3.0"
"""The reference copy of the HSDS 3.0 schemas, beside the repository."""
VENDORED = Path(__file__).resolve().parents[2] / "grants" / "hsds_schema"


def shared_schemas() -> Path:
    """The reference schemas' folder; the test skips (fails in CI) without it."""
    folder = SHARED / "schema"
    require(
        (folder / "service.json").is_file(),
        f"the HSDS 3.0 schemas are not at {folder} (clone them beside the repository)",
    )
    return folder


class Schemas:
    """Validators built on the reference schemas, their ``$ref`` resolved locally."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        resources = [
            (path.name, self._resource(path)) for path in sorted(folder.glob("*.json"))
        ] + [(f"compiled/{path.name}", self._resource(path)) for path in folder.glob("compiled/*")]
        self.registry: Registry[Any] = Registry().with_resources(resources)
        openapi = json.loads((folder / "openapi.json").read_text(encoding="utf-8"))
        self.page = openapi["components"]["schemas"]["Page"]

    @staticmethod
    def _resource(path: Path) -> Resource[Any]:
        contents = json.loads(path.read_text(encoding="utf-8"))
        return Resource.from_contents(contents, default_specification=DRAFT202012)

    def check(self, instance: object, schema: dict[str, Any]) -> None:
        validator = Draft202012Validator(
            schema, registry=self.registry, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]
        assert errors == [], errors

    def service(self, instance: object) -> None:
        """A fully nested service, as ``service.json`` and the self-contained compiled
        ``service_with_definitions.json`` have it."""
        self.check(instance, {"$ref": "service.json"})
        self.check(instance, {"$ref": "compiled/service_with_definitions.json"})

    def page_of(self, instance: object, item: str) -> None:
        """A page of the HSDS API whose contents are ``item`` (a schema's file name)."""
        self.check(
            instance,
            {
                "allOf": [self.page],
                "required": [*self.page["properties"], "contents"],
                "properties": {"contents": {"type": "array", "items": {"$ref": item}}},
            },
        )

    def package(self, instance: object) -> None:
        self.check(
            instance,
            {
                "type": "object",
                "required": ["services", "taxonomies", "taxonomy_terms"],
                "properties": {
                    "services": {"type": "array", "items": {"$ref": "service.json"}},
                    "taxonomies": {"type": "array", "items": {"$ref": "taxonomy.json"}},
                    "taxonomy_terms": {"type": "array", "items": {"$ref": "taxonomy_term.json"}},
                },
            },
        )


@pytest.fixture(scope="module")
def schemas() -> Schemas:
    return Schemas(shared_schemas())


def content(**changes: object) -> ServiceContent:
    """A crisis line open all hours in two countries, with texts in three languages."""
    fields: dict[str, object] = {
        "name": "Samaritans",
        "checked_on": date(2026, 11, 1),
        "descriptions": {
            "en": "Someone to talk to, day or night.",
            "de": "Jemand zum Reden, Tag und Nacht.",
            "pt_BR": "Alguém para conversar.",
        },
        "hours_notes": {"en": "Every day of the year.", "fr": "Tous les jours."},
        "crisis_line": True,
        "phones": (
            read_phone("116 123", "GB", description="Free from any phone"),
            read_phone("+353 1 671 0071", "IE"),
        ),
        "countries": ("GB", "IE"),
        "languages": ("en", "ga"),
        "topics": ("crisis", "anxiety-depression"),
        "audiences": ("anyone",),
        "time_zone": "Europe/London",
        "open_all_hours": True,
        "url": "https://www.samaritans.org/",
        "email": "jo@samaritans.org",
        "source_url": "https://www.samaritans.org/how-we-can-help/contact-samaritan/",
    }
    fields.update(changes)
    return ServiceContent(**fields)  # type: ignore[arg-type]


def office_hours(**changes: object) -> ServiceContent:
    """A paid service reached by text and chat, open on weekdays, for people anywhere."""
    fields: dict[str, object] = {
        "name": "Backstage Counselling",
        "checked_on": date(2026, 10, 15),
        "descriptions": {"en": "Counselling for touring crews.", "es": "Terapia para equipos."},
        "phones": (read_phone("+1 615 555 0123", "US", kind="text"),),
        "sms_keyword": "CREW",
        "chat_url": "https://chat.example.org/crew",
        "in_person": True,
        "countries": ("*", "US"),
        "languages": ("en", "pt-BR"),
        "topics": ("industry", "finding-a-therapist"),
        "audiences": ("crew", "artists"),
        "free": False,
        "fees_description": "USD 40 a session after the first.",
        "time_zone": "America/Chicago",
        "hours": (
            Opening("MO", "09:00", "17:00"),
            Opening("TU", "09:00", "17:00"),
            Opening("FR", "18:00", "02:00"),
        ),
    }
    fields.update(changes)
    return ServiceContent(**fields)  # type: ignore[arg-type]


def publish_service(
    db: Session, service_content: ServiceContent, *, organization: HubOrganization | None = None
) -> HubServiceVersion:
    """A service of ``organization`` (a new one by default) published with
    ``service_content``, as the seed loads one."""
    if organization is None:
        organization = HubOrganization(
            id=hub.new_id(),
            name=f"{service_content.name} Trust",
            description="Runs the service.",
            website="https://example.org/",
            created_at=NOW,
        )
        db.add(organization)
        db.flush()
    version = hub.propose(
        db, actor=None, content=service_content, now=NOW, organization_id=organization.id
    )
    hub.publish(db, actor=None, version_id=version.id, now=NOW)
    db.commit()
    return version


def get_json(client: FlaskClient, url: str, status: int = 200) -> Any:
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    return response.get_json()


def test_a_published_service_is_a_fully_nested_hsds_service(
    client: FlaskClient, db: Session, schemas: Schemas
) -> None:
    version = publish_service(db, content())

    found = get_json(client, f"/help/hsds/services/{version.service_id}")

    schemas.service(found)
    assert (found["id"], found["name"], found["status"]) == (
        version.service_id,
        "Samaritans",
        "active",
    )
    assert found["description"] == "Someone to talk to, day or night."
    assert found["assured_date"] == "2026-11-01"
    assert found["organization"]["name"] == "Samaritans Trust"
    assert found["organization_id"] == found["organization"]["id"]
    assert [(p["number"], p["type"]) for p in found["phones"]] == [
        ("116 123", "voice"),
        ("+35316710071", "voice"),
    ]
    assert found["phones"][0]["description"] == "Free from any phone"
    assert [(lang["code"], lang["name"]) for lang in found["languages"]] == [
        ("en", "English"),
        ("ga", "Irish"),
    ]
    assert [(a["name"], a["uri"]) for a in found["service_areas"]] == [
        ("United Kingdom", "https://www.iso.org/obp/ui/#iso:code:3166:GB"),
        ("Ireland", "https://www.iso.org/obp/ui/#iso:code:3166:IE"),
    ]
    [always] = found["schedules"]
    assert (always["freq"], always["byday"], always["opens_at"], always["closes_at"]) == (
        "WEEKLY",
        "MO,TU,WE,TH,FR,SA,SU",
        "00:00",
        "23:59",
    )
    assert always["description"] == "Every day of the year."
    terms = {(a["taxonomy_term"]["code"], a.get("value", "")) for a in found["attributes"]}
    assert {
        ("topic:crisis", ""),
        ("topic:anxiety-depression", ""),
        ("audience:anyone", ""),
        ("crisis-line", ""),
        ("free", ""),
        ("time-zone", "Europe/London"),
        ("description:de", "Jemand zum Reden, Tag und Nacht."),
        ("description:pt_BR", "Alguém para conversar."),
        ("hours-note:fr", "Tous les jours."),
    } <= terms
    ids = [found["id"], *(item["id"] for key in ("phones", "languages") for item in found[key])]
    assert len(set(ids)) == len(ids)


def test_opening_hours_text_chat_and_anywhere_are_written_as_hsds_has_them(
    client: FlaskClient, db: Session, schemas: Schemas
) -> None:
    version = publish_service(db, office_hours())

    found = get_json(client, f"/help/hsds/services/{version.service_id}")

    schemas.service(found)
    assert [(s["byday"], s["opens_at"], s["closes_at"]) for s in found["schedules"]] == [
        ("MO", "09:00", "17:00"),
        ("TU", "09:00", "17:00"),
        ("FR", "18:00", "02:00"),
    ]
    assert all("America/Chicago" in s["notes"] for s in found["schedules"])
    assert [(p["number"], p["type"]) for p in found["phones"]] == [("+16155550123", "text")]
    assert [a["name"] for a in found["service_areas"]] == ["Worldwide", "United States"]
    assert [(lang["code"], lang["name"]) for lang in found["languages"]] == [
        ("en", "English"),
        ("pt", "Portuguese (Brazil)"),
    ]
    assert found["fees_description"] == "USD 40 a session after the first."
    terms = {(a["taxonomy_term"]["code"], a.get("value", "")) for a in found["attributes"]}
    assert ("free", "") not in terms
    assert {("sms-keyword", "CREW"), ("chat-url", "https://chat.example.org/crew")} <= terms
    assert ("in-person", "") in terms


def test_the_same_service_exports_the_same_ids_every_time(client: FlaskClient, db: Session) -> None:
    version = publish_service(db, content())
    first = get_json(client, f"/help/hsds/services/{version.service_id}")
    second = get_json(client, f"/help/hsds/services/{version.service_id}")
    assert first == second


def test_the_list_pages_as_the_hsds_api_says(
    client: FlaskClient, db: Session, schemas: Schemas
) -> None:
    organization = HubOrganization(
        id=hub.new_id(), name="Samaritans", description="", created_at=NOW
    )
    db.add(organization)
    ids = sorted(
        publish_service(db, content(name=f"Line {n}"), organization=organization).service_id
        for n in range(3)
    )

    first = get_json(client, "/help/hsds/services?per_page=2")
    second = get_json(client, "/help/hsds/services?per_page=2&page=2")
    beyond = get_json(client, "/help/hsds/services?per_page=2&page=3")

    for page in (first, second, beyond):
        schemas.page_of(page, "compiled/service_list.json")
    assert [s["id"] for s in first["contents"] + second["contents"]] == ids
    assert {key: first[key] for key in first if key != "contents"} == {
        "total_items": 3,
        "total_pages": 2,
        "page_number": 1,
        "size": 2,
        "first_page": True,
        "last_page": False,
        "empty": False,
    }
    assert (second["size"], second["first_page"], second["last_page"]) == (1, False, True)
    assert (beyond["size"], beyond["empty"], beyond["contents"]) == (0, True, [])
    assert "phones" not in first["contents"][0]
    assert first["contents"][0]["organization"]["name"] == "Samaritans"

    full = get_json(client, "/help/hsds/services?full=true")
    schemas.page_of(full, "service.json")
    assert full["size"] == 3
    assert all(s["phones"] for s in full["contents"])


def test_an_empty_hub_is_one_empty_page(client: FlaskClient, schemas: Schemas) -> None:
    page = get_json(client, "/help/hsds/services")
    schemas.page_of(page, "compiled/service_list.json")
    assert (page["total_items"], page["total_pages"], page["empty"]) == (0, 1, True)


@pytest.mark.parametrize(
    "query",
    [
        "page=0",
        "page=-1",
        "page=two",
        "page=1.5",
        "page=99999999999999999999",
        "per_page=0",
        "per_page=201",
        "per_page=",
        "full=yes",
    ],
)
def test_a_page_it_cannot_read_is_a_json_400_that_says_why(client: FlaskClient, query: str) -> None:
    answer = get_json(client, f"/help/hsds/services?{query}", status=400)
    name = query.split("=")[0]
    assert answer["message"].startswith(f"{name} is ")


def test_only_published_versions_are_open_data(client: FlaskClient, db: Session) -> None:
    published = publish_service(db, content())
    hub.propose(
        db,
        actor=None,
        content=content(name="Samaritans (renamed)"),
        now=NOW,
        service_id=published.service_id,
    )
    organization = db.get_one(HubOrganization, published.service.organization_id)
    proposed_only = hub.propose(
        db, actor=None, content=content(name="Not yet"), now=NOW, organization_id=organization.id
    )
    db.commit()

    assert get_json(client, f"/help/hsds/services/{published.service_id}")["name"] == "Samaritans"
    listed = get_json(client, "/help/hsds/services")
    assert [s["name"] for s in listed["contents"]] == ["Samaritans"]
    missing = get_json(client, f"/help/hsds/services/{proposed_only.service_id}", status=404)
    assert missing == {"message": "There is no published service with this id."}
    package = client.get("/help/hsds/data-package.json").get_json()
    assert [s["name"] for s in package["services"]] == ["Samaritans"]


def test_a_retired_or_unknown_service_is_not_found(client: FlaskClient, db: Session) -> None:
    navigator, reviewer = make_user(db, Role.NAVIGATOR), make_user(db, Role.NAVIGATOR)
    published = publish_service(db, content())
    retirement = hub.propose_retirement(
        db, actor=navigator, service_id=published.service_id, note="Closed.", now=NOW
    )
    hub.publish(db, actor=reviewer, version_id=retirement.id, now=NOW)
    db.commit()

    for service_id in (published.service_id, hub.new_id(), "not-an-id", "x" * 500):
        answer = get_json(client, f"/help/hsds/services/{service_id}", status=404)
        assert "message" in answer
    assert get_json(client, "/help/hsds/services")["total_items"] == 0


def test_the_data_package_downloads_every_published_service(
    client: FlaskClient, db: Session, schemas: Schemas
) -> None:
    first, second = publish_service(db, content()), publish_service(db, office_hours())

    response = client.get("/help/hsds/data-package.json")

    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    package = json.loads(response.get_data(as_text=True))
    schemas.package(package)
    assert package["hsds_version"] == "3.0"
    assert [s["id"] for s in package["services"]] == sorted([first.service_id, second.service_id])
    for service in package["services"]:
        schemas.service(service)
        assert service == get_json(client, f"/help/hsds/services/{service['id']}")
    codes = {term["code"] for term in package["taxonomy_terms"]}
    used = {
        a["taxonomy_term"]["code"]
        for s in package["services"]
        for item in [s, *s["phones"], *s["service_areas"], *s["languages"]]
        for a in item.get("attributes", [])
    }
    assert used <= codes


def test_the_about_answer_names_the_hsds_version(client: FlaskClient) -> None:
    about = get_json(client, "/help/hsds/")
    assert about["version"] == "3.0"
    assert about["services_url"].endswith("/help/hsds/services")


def test_the_vendored_schemas_are_the_reference_ones_unchanged() -> None:
    folder = shared_schemas()
    for name in SCHEMA_FILES:
        assert (VENDORED / name).read_bytes() == (folder / name).read_bytes(), name
    assert (VENDORED / "LICENSE").read_bytes() == (SHARED / "LICENSE").read_bytes()


def test_the_hubs_taxonomy_is_an_hsds_taxonomy(client: FlaskClient, schemas: Schemas) -> None:
    package = get_json(client, "/help/hsds/data-package.json")
    [listed] = package["taxonomies"]
    found = get_json(client, f"/help/hsds/taxonomies/{listed['id']}")
    schemas.check(found, {"$ref": "taxonomy.json"})
    assert found == listed
    assert found["name"] == "Heart & Soul resource hub"
    for term in package["taxonomy_terms"]:
        assert term["taxonomy_id"] == found["id"]
    get_json(client, f"/help/hsds/taxonomies/{hub.new_id()}", status=404)


def test_the_list_narrows_to_an_organisation_or_a_term_of_the_taxonomy(
    client: FlaskClient, db: Session, schemas: Schemas
) -> None:
    crisis, crew = publish_service(db, content()), publish_service(db, office_hours())
    package = get_json(client, "/help/hsds/data-package.json")
    term = {t["code"]: t["id"] for t in package["taxonomy_terms"]}

    def names(query: str) -> list[str]:
        page = get_json(client, f"/help/hsds/services?{query}")
        schemas.page_of(page, "compiled/service_list.json")
        assert page["total_items"] == len(page["contents"])
        return [service["name"] for service in page["contents"]]

    assert names(f"organization_id={crew.service.organization_id}") == ["Backstage Counselling"]
    assert names(f"organization_id={crisis.service.organization_id}") == ["Samaritans"]
    assert names(f"taxonomy_term_id={term['topic:industry']}") == ["Backstage Counselling"]
    assert names(f"taxonomy_term_id={term['audience:crew']}") == ["Backstage Counselling"]
    assert names(f"taxonomy_term_id={term['crisis-line']}") == ["Samaritans"]
    assert names(f"taxonomy_term_id={term['free']}") == ["Samaritans"]
    assert names(f"taxonomy_term_id={term['in-person']}") == ["Backstage Counselling"]
    assert names(f"taxonomy_term_id={term['time-zone']}") == []
    assert names(f"taxonomy_term_id={hub.new_id()}") == []
    assert names(f"organization_id={hub.new_id()}") == []
    both = f"organization_id={crew.service.organization_id}&taxonomy_term_id={term['free']}"
    assert names(both) == []
