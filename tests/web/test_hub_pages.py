"""The hub's public pages under ``/help``: the emergency number first, then crisis lines,
then other services narrowed by the filters; a service's own page; wrong input answered
with a message and a 4xx; and never a sign-in page.

Numbers used here are real ones (999 and 112 in the UK, 116 123 for Samaritans, 988 in
the US, 741741 for Crisis Text Line); services made up for a test have no phone and link
to ``example.org``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from grants import clock
from grants.domain import hub, hub_directory
from grants.domain.hub import Opening, ServiceContent
from grants.domain.hub_contacts import read_phone
from grants.domain.hub_directory import is_open, months_ago
from grants.extensions import db as database
from grants.models import Country, HubCountry, HubOrganization, Role
from tests.factories import make_ambassador, make_user
from tests.support import PASSWORD, sign_in

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
TODAY = datetime.now(UTC).date()


def organisation(db: Session, name: str) -> HubOrganization:
    found = HubOrganization(id=hub.new_id(), name=name, created_at=NOW)
    db.add(found)
    db.flush()
    return found


def service(db: Session, name: str, **fields: object) -> str:
    """A published service of a new organisation called ``name``; its id."""
    content: dict[str, object] = {
        "name": name,
        "checked_on": TODAY - timedelta(days=30),
        "descriptions": {"en": f"{name} helps."},
        "countries": ("GB",),
        "languages": ("en",),
        "topics": ("anxiety-depression",),
        "time_zone": "Europe/London",
        "url": "https://example.org/" + re.sub(r"\W+", "-", name.lower()),
    }
    content.update(fields)
    version = hub.propose(
        db,
        actor=None,
        content=ServiceContent(**content),  # type: ignore[arg-type]
        now=NOW,
        organization_id=organisation(db, name).id,
    )
    hub.publish(db, actor=None, version_id=version.id, now=NOW)
    return version.service_id


def samaritans(db: Session, **fields: object) -> str:
    return service(
        db,
        "Samaritans",
        crisis_line=True,
        phones=(read_phone("116 123", "GB"),),
        topics=("crisis",),
        open_all_hours=True,
        url="https://www.samaritans.org/",
        **fields,
    )


@pytest.fixture
def uk(db: Session) -> dict[str, str]:
    """The UK's emergency number, Samaritans, and three other services."""
    db.add(
        HubCountry(
            code="GB",
            emergency_number="999",
            other_emergency_numbers=["112"],
            source_url="https://www.gov.uk/",
            checked_on=TODAY,
        )
    )
    ids = {
        "samaritans": samaritans(db),
        "grief": service(db, "Grief space", topics=("grief",), free=False, fees_description="£5"),
        "crew": service(db, "Crew corner", audiences=("crew",), languages=("en", "es")),
        "mind": service(
            db,
            "Mind the band",
            email="help@example.org",
            descriptions={"en": "Talk.", "de": "Reden."},
        ),
        "world": service(db, "Worldwide chat", countries=("*",), chat_url="https://example.org/c"),
    }
    db.commit()
    return ids


def body(client: FlaskClient, url: str, status: int = 200, **headers: str) -> str:
    response = client.get(url, headers=headers)
    text = response.get_data(as_text=True)
    assert response.status_code == status, (url, response.status_code, text[:500])
    return text


def listed(page: str) -> list[str]:
    """The services' names on a country page, in order."""
    return re.findall(r'class="hub-name"><a href="[^"]+">([^<]+)</a>', page)


# --- the country page -----------------------------------------------------------------------


def test_the_emergency_number_comes_first_then_crisis_lines_then_other_services(
    client: FlaskClient, uk: dict[str, str]
) -> None:
    page = body(client, "/help/GB")
    emergency = page.index('href="tel:999"')
    assert emergency < page.index("Samaritans") < page.index("Crew corner")
    assert page.index('id="hub-emergency-heading"') < page.index('id="hub-crisis-heading"')
    assert 'href="tel:112"' in page
    assert 'href="tel:116123"' in page
    assert listed(page) == [
        "Samaritans",
        "Crew corner",
        "Grief space",
        "Mind the band",
        "Worldwide chat",
    ]
    assert "4 services found" in page


def test_a_country_without_a_checked_number_still_says_to_call_the_local_one(
    client: FlaskClient, uk: dict[str, str]
) -> None:
    page = body(client, "/help/FR")
    assert "Call the local emergency number" in page
    assert listed(page) == ["Worldwide chat"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("topic=grief", ["Grief space"]),
        ("audience=crew", ["Crew corner"]),
        ("language=es", ["Crew corner"]),
        ("channel=email", ["Mind the band"]),
        ("channel=chat", ["Worldwide chat"]),
        ("free=1&audience=anyone", ["Mind the band", "Worldwide chat"]),
        ("q=GRIEF", ["Grief space"]),
        ("q=mind+band", ["Mind the band"]),
        ("q=nothing+like+it", []),
        ("topic=grief&free=1", []),
    ],
)
def test_filters_narrow_the_other_services_and_crisis_lines_stay(
    client: FlaskClient, uk: dict[str, str], query: str, expected: list[str]
) -> None:
    page = body(client, f"/help/GB?{query}")
    assert listed(page) == ["Samaritans", *expected]
    assert page.index('href="tel:999"') < page.index("Samaritans")
    assert ("Does not match your filters" in page) == ("anyone" not in query)


def test_open_now_reads_hours_in_the_services_zone_across_midnight(
    client: FlaskClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    service(
        db,
        "Night owls",
        hours=(Opening("FR", "22:00", "02:00"),),
        time_zone="America/New_York",
        countries=("US",),
    )
    service(db, "Day desk", hours=(Opening("FR", "09:00", "17:00"),), countries=("US",))
    db.commit()
    # Saturday 28 Nov 2026, 01:30 in New York (06:30 UTC): Friday night's hours still run.
    monkeypatch.setattr(clock, "now", lambda: datetime(2026, 11, 28, 6, 30, tzinfo=UTC))
    assert listed(body(client, "/help/US?open=1")) == ["Night owls"]
    # 02:30 in New York: closed; the day desk opens only on Fridays.
    monkeypatch.setattr(clock, "now", lambda: datetime(2026, 11, 28, 7, 30, tzinfo=UTC))
    assert listed(body(client, "/help/US?open=1")) == []
    # Friday 10:00 in London (the day desk's zone) is 05:00 in New York.
    monkeypatch.setattr(clock, "now", lambda: datetime(2026, 11, 27, 10, tzinfo=UTC))
    page = body(client, "/help/US?open=1")
    assert listed(page) == ["Day desk"]
    assert listed(body(client, "/help/US")) == ["Day desk", "Night owls"]


def test_is_open_by_the_clock() -> None:
    night = [{"day": "SU", "opens": "20:00", "closes": "00:00"}]
    sunday_late = datetime(2026, 11, 29, 23, 59, tzinfo=UTC)
    assert is_open(False, night, "UTC", sunday_late) is True
    assert is_open(False, night, "UTC", sunday_late + timedelta(minutes=1)) is False
    assert is_open(False, [], "UTC", sunday_late) is None
    assert is_open(True, [], "UTC", sunday_late) is True
    assert months_ago(date(2027, 3, 31), 1) == date(2027, 2, 28)
    assert months_ago(date(2026, 11, 28), 12) == date(2025, 11, 28)


# --- a service's page -----------------------------------------------------------------------


def test_a_service_page_shows_how_to_reach_it_and_when_it_was_checked(
    client: FlaskClient, db: Session
) -> None:
    service_id = service(
        db,
        "Crisis Text Line",
        crisis_line=True,
        countries=("US",),
        phones=(read_phone("741741", "US", kind="text"),),
        sms_keyword="HOME",
        topics=("crisis",),
        languages=("en", "es"),
        hours=(Opening("MO", "09:00", "17:00"),),
        time_zone="America/New_York",
        url="https://www.crisistextline.org/",
        checked_on=date(2026, 11, 2),
    )
    db.commit()
    page = body(client, f"/help/services/{service_id}")
    assert "Text HOME to 741741" in page
    assert 'href="sms:741741?body=HOME"' in page
    assert 'href="https://www.crisistextline.org/"' in page
    assert "Monday" in page
    assert "America/New York" in page
    assert "Spanish" in page
    assert "Free" in page
    assert "Last checked on Nov 2, 2026" in page
    german = body(client, f"/help/services/{service_id}?lang=de")
    assert "Montag" in german
    assert "02.11.2026" in german
    assert "Spanisch" in german


def test_a_description_not_in_the_page_language_is_english_and_says_so(
    client: FlaskClient, uk: dict[str, str]
) -> None:
    french = body(client, f"/help/services/{uk['mind']}?lang=fr")
    assert '<p class="hub-description" lang="en">Talk.' in french
    assert re.search(r'Talk\. <span class="hub-small" lang="fr">[^<]+</span>', french)
    german = body(client, f"/help/services/{uk['mind']}?lang=de")
    assert '<p class="hub-description">Reden.' in german
    english = body(client, f"/help/services/{uk['mind']}?lang=en")
    assert '<p class="hub-description">Talk.</p>' in english


def test_a_crisis_line_not_checked_for_a_year_stays_with_a_warning(
    client: FlaskClient, db: Session
) -> None:
    old = samaritans(db, checked_on=months_ago(TODAY, 12))
    recent = service(
        db,
        "988 Suicide & Crisis Lifeline",
        crisis_line=True,
        countries=("US",),
        phones=(read_phone("988", "US"),),
        topics=("crisis",),
        checked_on=months_ago(TODAY, 11),
    )
    quiet = service(db, "Old quiet desk", checked_on=months_ago(TODAY, 30))
    db.commit()
    for url in (f"/help/services/{old}", "/help/GB"):
        page = body(client, url)
        assert 'class="hub-stale"' in page
        assert "may be out of date" in page
        assert "Samaritans" in page
        assert 'href="tel:116123"' in page
    for url in (f"/help/services/{recent}", f"/help/services/{quiet}", "/help/US"):
        assert 'class="hub-stale"' not in body(client, url)


def test_a_retired_or_unpublished_or_unknown_service_is_a_404_that_leads_back(
    client: FlaskClient, db: Session
) -> None:
    retired = samaritans(db)
    navigator, manager = make_user(db, Role.NAVIGATOR), make_user(db, Role.MANAGER)
    retirement = hub.propose_retirement(
        db, actor=navigator, service_id=retired, note="Closed", now=NOW
    )
    hub.publish(db, actor=manager, version_id=retirement.id, now=NOW)
    draft = hub.propose(
        db,
        actor=navigator,
        content=ServiceContent(
            name="Draft desk",
            checked_on=TODAY,
            descriptions={"en": "Soon."},
            countries=("GB",),
            topics=("grief",),
            url="https://example.org/draft",
        ),
        now=NOW,
        organization_id=organisation(db, "Draft desk").id,
    )
    db.commit()
    for service_id in (retired, draft.service_id, hub.new_id(), "nope", "x" * 500):
        page = body(client, f"/help/services/{service_id}", 404)
        assert 'href="/help/"' in page
        assert "Service not found" in page
    assert "Samaritans" not in body(client, "/help/GB")


# --- choosing a country ---------------------------------------------------------------------


def test_the_chooser_lists_countries_with_entries_first_in_the_page_language(
    client: FlaskClient, uk: dict[str, str]
) -> None:
    page = body(client, "/help/?lang=de")
    listed_group = page.split("<optgroup")[1]
    assert 'value="GB"' in listed_group
    assert "Vereinigtes Königreich" in listed_group
    assert 'value="FR"' not in listed_group
    assert "Frankreich" in page
    assert '<form class="hub-chooser" method="get" action="/help/">' in page
    assert 'name="lang" value="de"' in page
    response = client.get("/help/?country=gb&lang=de")
    assert (response.status_code, response.headers["Location"]) == (302, "/help/GB?lang=de")
    assert client.get("/help/gb").headers["Location"] == "/help/GB"


def test_the_country_is_preselected_from_the_ambassador_or_the_browser_region(
    app: Flask, db: Session, uk: dict[str, str]
) -> None:
    anonymous = app.test_client()
    page = body(anonymous, "/help/", **{"Accept-Language": "en-GB,en;q=0.8"})
    assert '<option value="GB" selected>' in page
    assert 'href="tel:999"' in page
    assert " selected>" not in body(anonymous, "/help/", **{"Accept-Language": "fr"})
    ambassador = make_ambassador(db, country=Country.US)
    db.commit()
    signed_in = sign_in(app, ambassador.user.email, PASSWORD)
    page = body(signed_in, "/help/", **{"Accept-Language": "en-GB"})
    assert '<option value="US" selected>' in page


# --- wrong input ----------------------------------------------------------------------------


def test_an_unknown_country_is_a_404_with_the_chooser(
    client: FlaskClient, uk: dict[str, str]
) -> None:
    for url in ("/help/ZZ", "/help/GBR", "/help/%3Cb%3E", "/help/GB/nothing/here"):
        page = body(client, url, 404)
        assert 'name="country"' in page
        assert "<b>" not in page
    assert "We do not know a country with the code “ZZ”" in body(client, "/help/ZZ", 404)
    page = body(client, "/help/?country=Atlantis", 400)
    assert 'name="country"' in page
    assert "Choose a country from the list" in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("q=" + "x" * 10_000, "A search has at most 200 characters"),
        ("topic=astrology", "That topic is not one of the choices"),
        ("channel=pigeon", "That way to reach a service is not one of the choices"),
        ("audience=aliens", "That audience is not one of the choices"),
        ("language=%3Cscript%3E", "That language is not one of the choices"),
        ("free=yes", "A tick box of the filters was sent with a wrong value"),
    ],
)
def test_wrong_filters_get_a_message_a_400_and_still_the_emergency_number(
    client: FlaskClient, uk: dict[str, str], query: str, message: str
) -> None:
    page = body(client, f"/help/GB?{query}", 400)
    assert message in page
    assert page.index('href="tel:999"') < page.index("Samaritans")
    assert "<script>" not in page
    assert len(page) < 60_000


def test_nul_bytes_and_markup_never_break_a_page(client: FlaskClient, uk: dict[str, str]) -> None:
    page = body(client, "/help/GB?q=%00", 400)
    assert 'href="tel:999"' in page
    assert 'href="/help/"' in page
    assert 'href="/help/"' in body(client, "/help/?country=%00", 400)
    assert len(body(client, "/help/?country=" + "x" * 10_000, 400)) < 60_000
    assert len(body(client, "/help/GB?x=" + "x" * 10_000)) < 60_000
    for url in (
        "/help/GB?lang=%3Cscript%3Ealert(1)%3C/script%3E",
        "/help/?lang=%3Cscript%3E",
        f"/help/services/{uk['mind']}?lang=%22%3E%3Cscript%3E",
        "/help/GB?q=%22+OR+1%3D1+--+NEAR+*+(",
        "/help/GB?page=-1&page=x",
        "/help/GB?page=99999999999999",
        "/help/GB?page=%C2%B2",
    ):
        response = client.get(url)
        text = response.get_data(as_text=True)
        assert response.status_code < 500, url
        assert "<script>" not in text, url


# --- for everyone, always -------------------------------------------------------------------


def test_no_page_under_help_asks_anyone_to_sign_in(
    app: Flask, db: Session, uk: dict[str, str]
) -> None:
    ambassador = make_ambassador(db)
    db.commit()
    urls = [
        "/help",
        "/help/",
        "/help/?country=GB",
        "/help/GB",
        "/help/GB?topic=grief&free=1&open=1",
        "/help/ZZ",
        f"/help/services/{uk['samaritans']}",
        f"/help/services/{hub.new_id()}",
        "/help/anything/else",
    ]
    for client in (app.test_client(), sign_in(app, ambassador.user.email, PASSWORD)):
        for url in urls:
            response = client.get(url)
            location = response.headers.get("Location", "")
            assert "/login" not in location, url
            assert response.status_code < 500, url
            assert 'action="/login"' not in response.get_data(as_text=True), url


def test_a_page_shown_to_someone_signed_in_is_kept_by_no_cache(
    app: Flask, db: Session, uk: dict[str, str]
) -> None:
    ambassador = make_ambassador(db)
    db.commit()
    visitor = app.test_client().get("/help/GB")
    assert "no-store" not in visitor.headers.get("Cache-Control", ""), "kept for offline use"
    signed_in = sign_in(app, ambassador.user.email, PASSWORD).get("/help/GB")
    assert signed_in.status_code == 200
    assert signed_in.headers["Cache-Control"] == "private, no-store"


def test_a_country_page_with_many_services_stays_under_60_kb(
    client: FlaskClient, db: Session, app: Flask
) -> None:
    samaritans(db)
    for number in range(40):
        service(
            db,
            f"Support desk {number:02}",
            descriptions={"en": "A long description of what this desk offers. " * 8},
            hours=tuple(Opening(day, "09:00", "17:00") for day in hub.DAYS[:5]),
        )
    db.commit()
    page = client.get("/help/GB").get_data()
    styles = 0
    for href in re.findall(rb'<link rel="stylesheet" href="([^"]+)"', page):
        response = client.get(href.decode())
        styles += len(response.get_data())
        response.close()
    assert styles > 0
    assert len(page) + styles < 60_000
    assert len(listed(page.decode())) == 21
    assert "Page 1 of 2" in page.decode()
    second = body(client, "/help/GB?page=2")
    assert listed(second)[0] == "Samaritans"
    assert len(listed(second)) == 21


def test_every_page_links_to_the_hub_in_its_footer(app: Flask, db: Session) -> None:
    ambassador = make_ambassador(db)
    db.commit()
    for client, url in (
        (app.test_client(), "/login"),
        (app.test_client(), "/help/GB"),
        (sign_in(app, ambassador.user.email, PASSWORD), "/wallet/"),
    ):
        page = body(client, url)
        footer = page.split('<footer class="site-footer">')[1]
        assert 'href="/help/"' in footer
    wallet = body(sign_in(app, ambassador.user.email, PASSWORD), "/wallet/")
    assert 'href="/help/US">More support, in every country' in wallet
    assert '<a class="brand" href="/help/">' in body(app.test_client(), "/help/")


def test_the_search_box_finds_words_in_any_language_accents_and_a_typo_forgiven(
    client: FlaskClient, uk: dict[str, str]
) -> None:
    assert listed(body(client, "/help/GB?q=reden")) == ["Samaritans", "Mind the band"]
    assert listed(body(client, "/help/GB?q=GRIEF+spce")) == ["Samaritans", "Grief space"]
    assert listed(body(client, "/help/GB?q=cr%C3%A9w&topic=grief")) == ["Samaritans"]
    assert listed(body(client, "/help/GB?q=%22crew%22+NEAR+*+-(")) == ["Samaritans", "Crew corner"]


def test_a_failure_on_a_country_page_still_says_where_to_call(
    make_app: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    app: Flask = make_app(PROPAGATE_EXCEPTIONS=False)  # type: ignore[operator]
    with app.app_context():
        database.session.add(
            HubCountry(
                code="GB",
                emergency_number="999",
                source_url="https://www.gov.uk/",
                checked_on=TODAY,
            )
        )
        database.session.commit()

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the listing broke")

    monkeypatch.setattr(hub_directory, "country_page", broken)
    page = body(app.test_client(), "/help/GB", 500)
    assert 'href="tel:999"' in page
    assert 'href="/help/"' in page
    assert "the listing broke" not in page


def test_a_language_without_locale_data_is_still_named(client: FlaskClient, db: Session) -> None:
    helpline = service(db, "Hope for Wellness", languages=("en", "cr", "oj"))
    database.session.commit()
    english = client.get(f"/help/services/{helpline}").get_data(as_text=True)
    assert "Cree" in english
    assert "Ojibwa" in english
    spanish = client.get("/help/GB?lang=es").get_data(as_text=True)
    assert ">cree<" in spanish or "cree</option>" in spanish
