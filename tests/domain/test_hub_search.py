"""Searching the resource hub: words in any of its languages, accents and one typo forgiven,
exact words ranked above typos, the visitor's language preferred, nothing in the text read
as an operator. Every expected list is the same on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from grants.domain import hub
from grants.domain.hub import ServiceContent
from grants.domain.hub_search import (
    deletion_keys,
    fold,
    one_typo_apart,
    query_words,
    reindex_all,
    search_services,
)
from grants.models import Facet, HubOrganization, HubService, HubServiceFacet, Role
from tests.factories import make_user

NOW = datetime(2026, 11, 28, 9, tzinfo=UTC)

SAMARITANS = "00000000-0000-4000-8000-000000000001"
THERAPEUTES = "00000000-0000-4000-8000-000000000002"
ESPERANZA = "00000000-0000-4000-8000-000000000003"
MUSIKERHILFE = "00000000-0000-4000-8000-000000000004"
GRIEF_CIRCLE = "00000000-0000-4000-8000-000000000005"
THERAPIST_FINDER = "00000000-0000-4000-8000-000000000006"

CORPUS: dict[str, tuple[str, str, dict[str, str], tuple[str, ...], tuple[str, ...]]] = {
    SAMARITANS: (
        "Samaritans",
        "Samaritans",
        {
            "en": "Someone to talk to, day or night, about anything that upsets you.",
            "fr": "Une écoute, jour et nuit, pour tout ce qui vous pèse.",
        },
        ("crisis",),
        ("GB", "IE"),
    ),
    THERAPEUTES: (
        "Thérapeutes du spectacle",
        "Réseau Scène",
        {
            "en": "Find a therapy practice that knows touring life.",
            "fr": "Trouver un thérapeute qui connaît la vie des artistes en tournée.",
        },
        ("finding-a-therapist",),
        ("FR",),
    ),
    ESPERANZA: (
        "Línea de la Esperanza",
        "Fundación Música",
        {
            "en": "Emotional support for depression and anxiety.",
            "es": "Apoyo emocional para la depresión y la ansiedad.",
        },
        ("anxiety-depression",),
        ("ES", "MX"),
    ),
    MUSIKERHILFE: (
        "Musikerhilfe",
        "Musikerhilfe e.V.",
        {
            "en": "Counselling for depression, addiction and money worries for musicians.",
            "de": "Beratung bei Depression, Sucht und Geldsorgen für Musikerinnen und Musiker.",
        },
        ("anxiety-depression", "substance-use", "financial-hardship"),
        ("DE", "AT"),
    ),
    GRIEF_CIRCLE: (
        "Backstage Grief Circle",
        "Crew Care",
        {
            "en": "A group for crew who lost a colleague.",
            "pt_BR": "Um grupo para equipes que perderam um colega; apoio no luto.",
        },
        ("grief",),
        ("*",),
    ),
    THERAPIST_FINDER: (
        "Therapist Finder",
        "Music Minds",
        {"en": "A directory of counsellors who work with musicians."},
        ("finding-a-therapist",),
        ("GB",),
    ),
}
"""Six services in five languages: name, organisation, descriptions, topics, countries."""


def publish_corpus(db: Session) -> None:
    for service_id, (name, organisation, texts, topics, countries) in CORPUS.items():
        organisation_id = hub.new_id()
        db.add(HubOrganization(id=organisation_id, name=organisation, created_at=NOW))
        db.flush()
        version = hub.propose(
            db,
            actor=None,
            content=ServiceContent(
                name=name,
                checked_on=date(2026, 11, 1),
                descriptions=texts,
                topics=topics,
                countries=countries,
                url="https://example.org/",
            ),
            now=NOW,
            service_id=service_id,
            organization_id=organisation_id,
        )
        hub.publish(db, actor=None, version_id=version.id, now=NOW)


@pytest.fixture
def corpus(db: Session) -> Session:
    publish_corpus(db)
    return db


EXPECTED: list[tuple[str, str, list[str]]] = [
    ("samaritans", "en", [SAMARITANS]),
    ("Samaritans", "fr", [SAMARITANS]),
    ("samaritns", "en", [SAMARITANS]),
    ("samaritnas", "en", [SAMARITANS]),
    ("therapeute", "fr", [THERAPEUTES]),
    ("THÉRAPEUTE", "en", [THERAPEUTES]),
    ("thérapeutes", "de", [THERAPEUTES]),
    ("écoute", "fr", [SAMARITANS]),
    ("ecoute", "en", [SAMARITANS]),
    # Tied on the word, the names decide ("linea" before "musikerhilfe")...
    ("depression", "en", [ESPERANZA, MUSIKERHILFE]),
    # ... unless one of them has it in the visitor's language.
    ("depression", "de", [MUSIKERHILFE, ESPERANZA]),
    # "depresión" exactly in Spanish beats "depression", one letter more, in German.
    ("depresion", "es", [ESPERANZA, MUSIKERHILFE]),
    ("depresión", "en", [ESPERANZA, MUSIKERHILFE]),
    # In the name beats in the text.
    ("therapist", "en", [THERAPIST_FINDER, THERAPEUTES]),
    ("therapits", "en", [THERAPIST_FINDER, THERAPEUTES]),
    ("musiker", "de", [MUSIKERHILFE]),
    ("musikr", "de", [MUSIKERHILFE]),
    ("musicians", "en", [MUSIKERHILFE, THERAPIST_FINDER]),
    ("luto", "pt_BR", [GRIEF_CIRCLE]),
    ("grief", "en", [GRIEF_CIRCLE]),
    ("grupo luto", "en", [GRIEF_CIRCLE]),
    ("geldsorgen", "en", [MUSIKERHILFE]),
    ("strasse", "en", []),
    ("nothing here", "en", []),
    ("talk", "xx", [SAMARITANS]),
    # Two words found beat one; a word found anywhere is enough to be listed.
    ("samaritans grief", "en", [GRIEF_CIRCLE, SAMARITANS]),
    ("grief colleague", "en", [GRIEF_CIRCLE]),
    ("support depression", "en", [ESPERANZA, MUSIKERHILFE]),
]


@pytest.mark.parametrize(("query", "language", "expected"), EXPECTED)
def test_the_same_services_come_first_on_every_engine(
    corpus: Session, query: str, language: str, expected: list[str]
) -> None:
    assert search_services(corpus, query, language=language) == expected


BAD_INPUT: list[tuple[str, list[str]]] = [
    ('"', []),
    ('"samaritans', [SAMARITANS]),
    ("samaritans*", [SAMARITANS]),
    ("*", []),
    ("NEAR(grief samaritans)", [GRIEF_CIRCLE, SAMARITANS]),
    ("grief -samaritans", [GRIEF_CIRCLE, SAMARITANS]),
    ("-", []),
    ("OR", [SAMARITANS]),  # a word: "day or night"
    ("AND", [ESPERANZA, MUSIKERHILFE]),  # a word: "depression and anxiety"
    ("NOT", []),
    ("samaritans OR", [SAMARITANS]),
    ("((((grief", [GRIEF_CIRCLE]),
    ("grief))", [GRIEF_CIRCLE]),
    ("head: grief", [GRIEF_CIRCLE]),
    ("{head body}: luto", [GRIEF_CIRCLE]),
    ("^grief", [GRIEF_CIRCLE]),
    ("samaritans\x00", [SAMARITANS]),
    ("\x00", []),
    ("'; DROP TABLE hub_services; --", []),
    ("' | 'grief", [GRIEF_CIRCLE]),
    ("grief:*", [GRIEF_CIRCLE]),
    ("", []),
    ("   ", []),
    ("x" * 10_000, []),
    ("samaritans " * 1_000, [SAMARITANS]),
    ("é" * 10_000, []),
    ("\u202egrief\u200b", [GRIEF_CIRCLE]),
    ("<script>alert(1)</script>", []),
]


@pytest.mark.parametrize(("query", "expected"), BAD_INPUT)
def test_nothing_in_the_text_is_an_operator(
    corpus: Session, query: str, expected: list[str]
) -> None:
    assert search_services(corpus, query, language="en") == expected
    assert corpus.scalar(select(HubService.id).where(HubService.id == SAMARITANS)) is not None


def test_a_long_search_reads_only_its_first_words(corpus: Session) -> None:
    words = [f"word{n}" for n in range(20)]
    assert query_words(" ".join(words)) == words[:8]
    assert query_words("grief " * 300 + "samaritans") == ["grief", "gr"]
    assert search_services(corpus, "zz " * 5_000 + "samaritans", language="en") == []


def test_typos_are_one_letter_changed_added_removed_or_two_swapped() -> None:
    assert one_typo_apart("samaritans", "samaritns")
    assert one_typo_apart("depresion", "depression")
    assert one_typo_apart("grief", "greif")
    assert one_typo_apart("grief", "grieg")
    assert one_typo_apart("grief", "griefs")
    assert not one_typo_apart("grief", "grief")
    assert not one_typo_apart("grief", "gruef s")
    assert not one_typo_apart("grief", "brieg")
    assert not one_typo_apart("therapist", "therapy")
    assert "therapst" in deletion_keys("therapist")
    assert fold("Thérapeute STRASSE Straße Øresund Łódź") == (
        "therapeute strasse strasse oresund lodz"
    )


def test_a_short_word_must_be_exact(corpus: Session) -> None:
    """Four letters or fewer leave too many words one typo away."""
    assert search_services(corpus, "luto", language="en") == [GRIEF_CIRCLE]
    assert search_services(corpus, "lute", language="en") == []
    assert search_services(corpus, "grif", language="en") == []


def test_the_limit_and_the_filters_keep_to_what_they_say(corpus: Session) -> None:
    assert search_services(corpus, "depression", language="en", limit=1) == [ESPERANZA]
    assert search_services(corpus, "depression", language="en", limit=0) == [ESPERANZA]
    in_germany = select(HubServiceFacet.service_id).where(
        HubServiceFacet.facet == Facet.COUNTRY, HubServiceFacet.value == "DE"
    )
    assert search_services(corpus, "depression", language="en", within=in_germany) == [MUSIKERHILFE]


def test_a_retired_service_is_no_longer_found(corpus: Session) -> None:
    first, second = make_user(corpus, Role.NAVIGATOR), make_user(corpus, Role.NAVIGATOR)
    retirement = hub.propose_retirement(
        corpus, actor=first, service_id=SAMARITANS, note="Closed.", now=NOW
    )
    assert search_services(corpus, "samaritans", language="en") == [SAMARITANS]
    hub.publish(corpus, actor=second, version_id=retirement.id, now=NOW)
    assert search_services(corpus, "samaritans", language="en") == []
    assert search_services(corpus, "samaritns", language="en") == []


def test_a_new_version_replaces_the_words_of_the_old(corpus: Session) -> None:
    version = hub.propose(
        corpus,
        actor=None,
        content=ServiceContent(
            name="Backstage Loss Circle",
            checked_on=date(2026, 11, 20),
            descriptions={"en": "A group for crew mourning a colleague."},
            topics=("grief",),
            countries=("*",),
            url="https://example.org/",
        ),
        now=NOW,
        service_id=GRIEF_CIRCLE,
    )
    hub.publish(corpus, actor=None, version_id=version.id, now=NOW)
    assert search_services(corpus, "luto", language="pt_BR") == []
    assert search_services(corpus, "mourning", language="en") == [GRIEF_CIRCLE]
    assert search_services(corpus, "grief", language="en") == [GRIEF_CIRCLE]


def test_rebuilding_the_index_finds_the_same(corpus: Session) -> None:
    before = {query: search_services(corpus, query, language=lang) for query, lang, _ in EXPECTED}
    assert reindex_all(corpus) == len(CORPUS)
    rows = corpus.scalar(text("SELECT count(*) FROM hub_search_docs"))
    assert rows == sum(len(texts) for _, _, texts, _, _ in CORPUS.values())
    after = {query: search_services(corpus, query, language=lang) for query, lang, _ in EXPECTED}
    assert after == before
