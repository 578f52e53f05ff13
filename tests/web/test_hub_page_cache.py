"""The public hub's pages kept in memory (:mod:`grants.web.hub.page_cache`): served again
only in the same edition, minute, language and address, never kept for or served to
someone signed in, and held within their byte limit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from grants import clock
from grants.domain.hub import Opening
from grants.domain.hub_hsds import export_package
from grants.domain.hub_hsds_import import import_package
from grants.models import HubServiceText
from grants.web.hub.page_cache import ADDRESS_MAX, EXTENSION, PageStore
from tests.factories import make_ambassador
from tests.support import PASSWORD, sign_in
from tests.web.test_hub_pages import body, listed, service, uk

__all__ = ["uk"]

FRIDAY_NOON = datetime(2026, 11, 27, 12, tzinfo=UTC)


@pytest.fixture
def at_noon(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "now", lambda: FRIDAY_NOON)


def store(app: Flask) -> PageStore:
    found: PageStore = app.extensions[EXTENSION]
    return found


def test_a_kept_page_is_served_until_something_is_published(
    app: Flask, client: FlaskClient, db: Session, uk: dict[str, str], at_noon: None
) -> None:
    first = client.get("/help/GB")
    assert store(app).held == len(first.data) + len("en") + len("/help/GB?"), "page and key"
    # A write that adds no edition (none of the hub's own operations makes one) does not
    # reach the page.
    db.execute(update(HubServiceText).values(description="Changed behind the hub's back."))
    db.commit()
    again = client.get("/help/GB")
    assert again.data == first.data
    assert "Changed behind" not in again.get_data(as_text=True)
    # Publishing starts a new edition: the next visitor sees it.
    service(db, "Tour bus helpline")
    db.commit()
    page = body(client, "/help/GB")
    assert "Tour bus helpline" in listed(page)
    assert "Changed behind the hub&#39;s back." in page


def test_an_organisation_renamed_by_an_import_is_on_the_next_page(
    client: FlaskClient, db: Session, uk: dict[str, str], at_noon: None
) -> None:
    address = f"/help/services/{uk['crew']}"
    assert "Crew corner crew" not in body(client, address)
    package = export_package(db)
    for found in package["services"]:
        if found["id"] == uk["crew"]:
            found["organization"]["name"] = "Crew corner crew"
    receipt = import_package(db, package, now=FRIDAY_NOON)
    db.commit()
    assert receipt.organizations_updated == 1
    assert receipt.proposed == [], "nothing of the service itself changed"
    assert "Crew corner crew" in body(client, address)


def test_a_page_is_made_again_when_the_minute_turns(
    client: FlaskClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    service(db, "Day desk", hours=(Opening("FR", "09:00", "17:00"),), time_zone="UTC")
    db.commit()

    def at(hour: int, minute: int, second: int) -> str:
        moment = datetime(2026, 11, 27, hour, minute, second, tzinfo=UTC)
        monkeypatch.setattr(clock, "now", lambda: moment)
        return body(client, "/help/GB")

    assert "Open now" in at(16, 59, 0)
    assert "Open now" in at(16, 59, 59)
    assert "Closed now" in at(17, 0, 0)
    assert listed(at(17, 0, 30)) == ["Day desk"]
    assert listed(body(client, "/help/GB?open=1")) == []


def test_a_page_for_someone_signed_in_is_neither_kept_nor_served_to_another(
    app: Flask, db: Session, uk: dict[str, str], at_noon: None
) -> None:
    ambassador = make_ambassador(db)
    db.commit()
    name = ambassador.user.display_name
    member = sign_in(app, ambassador.user.email, PASSWORD)
    visitor = app.test_client()

    assert name in member.get("/help/GB").get_data(as_text=True)
    assert store(app).held == 0
    page = body(visitor, "/help/GB")
    assert name not in page
    assert store(app).held > 0
    assert name in member.get("/help/GB").get_data(as_text=True)
    assert name not in body(visitor, "/help/GB")


def test_each_language_and_address_has_its_own_page(
    client: FlaskClient, uk: dict[str, str], at_noon: None
) -> None:
    spanish = body(client, "/help/GB", **{"Accept-Language": "es"})
    french = body(client, "/help/GB", **{"Accept-Language": "fr-FR"})
    assert '<html lang="es"' in spanish
    assert '<html lang="fr"' in french
    assert '<html lang="es"' in body(client, "/help/GB", **{"Accept-Language": "es"})
    assert listed(body(client, "/help/GB?topic=grief")) == ["Samaritans", "Grief space"]
    answer = client.get("/help/GB")
    assert {"Accept-Language", "Cookie"} <= set(answer.vary)


def test_a_message_waiting_for_a_visitor_is_shown_and_not_kept(
    app: Flask, client: FlaskClient, uk: dict[str, str], at_noon: None
) -> None:
    kept = body(app.test_client(), "/help/GB")
    held = store(app).held
    with client.session_transaction() as session:
        session["_flashes"] = [("info", "You have been signed out.")]
    assert "You have been signed out." in body(client, "/help/GB")
    assert "You have been signed out." not in kept
    assert store(app).held == held
    assert "You have been signed out." not in body(app.test_client(), "/help/GB")


def test_a_page_of_an_address_too_long_is_not_kept(
    app: Flask, client: FlaskClient, uk: dict[str, str], at_noon: None
) -> None:
    long = "/help/GB?q=" + "a" * ADDRESS_MAX
    answer = client.get(long)
    assert answer.status_code == 400
    assert "at most 200 characters" in answer.get_data(as_text=True)
    assert store(app).held == 0
    client.get("/help/GB?q=" + "a" * (ADDRESS_MAX - 20))
    assert store(app).held > 0


def test_no_page_is_kept_when_the_limit_is_zero(make_app, at_noon: None) -> None:  # type: ignore[no-untyped-def]
    app = make_app(HUB_PAGE_CACHE_BYTES=0)
    first = app.test_client().get("/help/")
    assert first.status_code == 200
    assert store(app).held == 0


def test_the_store_drops_the_least_recently_used_page_to_stay_within_its_limit() -> None:
    pages = PageStore(max_bytes=11)
    now = (FRIDAY_NOON, 7)
    pages.put(now, ("a",), (b"aaa", 200))
    pages.put(now, ("b",), (b"bbb", 200))
    assert pages.held == 8, "a page counts its body and its key"
    assert pages.get(now, ("a",)) == (b"aaa", 200)
    pages.put(now, ("c",), (b"ccc", 404))
    assert pages.get(now, ("b",)) is None
    assert pages.get(now, ("a",)) == (b"aaa", 200)
    assert pages.get(now, ("c",)) == (b"ccc", 404)
    pages.put(now, ("huge",), (b"x" * 9, 200))
    assert pages.get(now, ("huge",)) is None
    assert pages.held == 8
    pages.put(now, ("e",), (b"y" * 10, 200))
    assert pages.held == 11
    assert pages.get(now, ("a",)) is None


def test_a_later_edition_or_minute_empties_the_store_and_an_earlier_one_is_not_served() -> None:
    pages = PageStore(max_bytes=100)
    now = (FRIDAY_NOON, 7)
    pages.put(now, ("a",), (b"seven", 200))
    assert pages.get((FRIDAY_NOON, 8), ("a",)) is None
    assert pages.held == 0
    pages.put((FRIDAY_NOON, 8), ("a",), (b"eight", 200))
    # A request that read edition 7 just before the change is neither served nor kept.
    assert pages.get(now, ("a",)) is None
    pages.put(now, ("a",), (b"seven", 200))
    assert pages.get((FRIDAY_NOON, 8), ("a",)) == (b"eight", 200)
    # The next minute starts afresh, whatever the edition (a database restored to an
    # earlier one included).
    next_minute = (FRIDAY_NOON.replace(minute=1), 3)
    assert pages.get(next_minute, ("a",)) is None
    assert pages.held == 0
