"""The hub speaks five languages, and no catalogue falls behind its pages.

The messages are extracted afresh with ``pybabel extract`` and ``babel.cfg`` (the hub's public
templates and the Python that marks strings), as a translator would: every one must have a
translation in every shipped catalogue, no entry may be fuzzy or obsolete, and each compiled
``messages.mo`` must say what its ``messages.po`` says. Then the pages themselves: the
language comes from ``?lang=``, then the signed-in person's profile, then ``Accept-Language``.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from grants.domain.hub import HUB_LANGUAGES
from grants.i18n import LANGUAGE_NAMES, TRANSLATIONS
from grants.models import Role
from tests.factories import make_user
from tests.support import sign_in

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = [language for language in HUB_LANGUAGES if language != "en"]
"""The catalogues: English is the messages themselves."""
KEYWORDS = ["lazy_gettext", "lazy_ngettext:1,2", "lazy_pgettext:1c,2"]
"""Added to pybabel's own keywords (``_``, ``gettext``, ``ngettext``, ``pgettext`` …), as
``babel.cfg`` says."""


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """The messages ``pybabel extract`` finds today, from the project's root."""
    template = tmp_path_factory.mktemp("extract") / "messages.pot"
    keywords = [argument for keyword in KEYWORDS for argument in ("-k", keyword)]
    command = [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg"]
    command += ["-c", "TRANSLATORS:", *keywords, "--no-location", "-o", str(template), "."]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    with template.open("rb") as file:
        return read_po(file)


def po_path(language: str) -> Path:
    return TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"


def catalogue(language: str) -> Catalog:
    with po_path(language).open("rb") as file:
        return read_po(file, locale=language)


def key(message: Message) -> tuple[str | None, str]:
    """A message's context and singular msgid."""
    msgid = message.id if isinstance(message.id, str) else message.id[0]
    return message.context, msgid


def translated(message: Message) -> bool:
    strings = [message.string] if isinstance(message.string, str) else list(message.string)
    return all(string.strip() for string in strings)


def test_the_extraction_finds_the_hubs_messages_and_not_the_staff_screens(
    extracted: Catalog,
) -> None:
    msgids = {key(message)[1] for message in extracted if message.id}
    assert "Skip to content" in msgids
    assert "Language" in msgids
    sources = {path for message in extracted for path, _ in message.locations}
    assert not any("curation" in path for path in sources)


@pytest.mark.parametrize("language", SHIPPED)
def test_every_extracted_message_is_translated(extracted: Catalog, language: str) -> None:
    shipped = {key(message): message for message in catalogue(language) if message.id}
    wanting = [
        key(message)
        for message in extracted
        if message.id and not (key(message) in shipped and translated(shipped[key(message)]))
    ]
    assert wanting == [], f"{po_path(language)} has no translation for {wanting}"


@pytest.mark.parametrize("language", SHIPPED)
def test_every_catalogue_entry_is_still_extracted(extracted: Catalog, language: str) -> None:
    """An entry no page or module asks for any more is obsolete even when not yet marked
    ``#~``: ``pybabel update --ignore-obsolete`` drops it."""
    wanted = {key(message) for message in extracted if message.id}
    stale = [key(message) for message in catalogue(language) if message.id]
    assert [entry for entry in stale if entry not in wanted] == []


@pytest.mark.parametrize("language", SHIPPED)
def test_no_entry_is_fuzzy_or_obsolete(language: str) -> None:
    shipped = catalogue(language)
    assert not shipped.fuzzy, f"{po_path(language)}: the header is marked fuzzy"
    assert [key(message) for message in shipped if message.fuzzy] == []
    assert list(shipped.obsolete) == []
    assert not any(line.startswith("#~") for line in po_path(language).read_text().splitlines())


@pytest.mark.parametrize("language", SHIPPED)
def test_translations_keep_their_placeholders(language: str) -> None:
    shipped = catalogue(language)
    assert str(shipped.locale) == language
    problems = [(key(message), errors) for message, errors in shipped.check()]
    assert problems == []


@pytest.mark.parametrize("language", SHIPPED)
def test_the_compiled_catalogue_says_what_the_po_says(language: str) -> None:
    """Compared as messages, not bytes, so that any compiler of the same ``.po`` passes. A
    plural form left empty compiles to the English one, as ``pybabel compile`` writes it."""

    def as_compiled(message: Message) -> object:
        if isinstance(message.id, str):
            return message.string
        return tuple(
            string or message.id[min(index, 1)] for index, string in enumerate(message.string)
        )

    def pairs(messages: Catalog) -> dict[tuple[str | None, str], object]:
        return {
            key(message): as_compiled(message)
            for message in messages
            if message.id and message.string and not message.fuzzy
        }

    with po_path(language).with_suffix(".mo").open("rb") as file:
        compiled = read_mo(file)
    assert pairs(compiled) == pairs(catalogue(language)), f"run pybabel compile for {language}"


def test_the_catalogues_ship_with_the_package() -> None:
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "translations/**/*" in package_data["package-data"]["grants"]
    assert {path.parent.parent.name for path in TRANSLATIONS.glob("*/LC_MESSAGES/*.mo")} == set(
        SHIPPED
    )


class Page(HTMLParser):
    """A page's ``<html lang>``, its text, its alternates and its language links."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.lang = ""
        self.texts: set[str] = set()
        self.alternates: dict[str, str] = {}
        self.links: list[dict[str, str]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "html":
            self.lang = found.get("lang", "")
        elif tag == "link" and found.get("rel") == "alternate" and "hreflang" in found:
            self.alternates[found["hreflang"]] = found.get("href", "")
        elif tag == "a" and "hreflang" in found:
            self.links.append(found)

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.texts.add(" ".join(data.split()))


def page(client: FlaskClient, url: str, **headers: str) -> Page:
    response = client.get(url, headers=headers, follow_redirects=True)
    assert response.status_code == 200, url
    return Page(response.get_data(as_text=True))


def plain_translations(language: str) -> dict[str, str]:
    """The catalogue's messages that a page shows as they are (no placeholder, no plural)."""
    return {
        message.id: message.string
        for message in catalogue(language)
        if isinstance(message.id, str) and message.id and "%" not in message.id
    }


def test_lang_es_on_help_speaks_spanish(client: FlaskClient) -> None:
    english = page(client, "/help")
    spanish = page(client, "/help?lang=es")
    assert english.lang == "en"
    assert spanish.lang == "es"
    assert "Saltar al contenido" in spanish.texts
    shown = {
        msgid: string
        for msgid, string in plain_translations("es").items()
        if " ".join(msgid.split()) in english.texts
    }
    assert len(shown) >= 3, shown
    assert [msgid for msgid, string in shown.items() if string not in spanish.texts] == []


@pytest.mark.parametrize("asked", ["xx", "klingon", '"><script>alert(1)</script>', "pt-PT"])
def test_an_unknown_lang_falls_back_to_english(client: FlaskClient, asked: str) -> None:
    response = client.get("/help", query_string={"lang": asked}, follow_redirects=True)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    shown = Page(html)
    assert shown.lang == "en"
    assert "Skip to content" in shown.texts
    assert "<script>alert(1)" not in html


@pytest.mark.parametrize(
    ("header", "lang", "skip_link"),
    [
        ("de", "de", "Zum Inhalt springen"),
        ("fr-CA,fr;q=0.9,en;q=0.5", "fr", "Aller au contenu"),
        ("pt-BR,pt;q=0.8", "pt-BR", "Pular para o conteúdo"),
        ("pt", "pt-BR", "Pular para o conteúdo"),
        ("ja", "en", "Skip to content"),
    ],
)
def test_the_browser_language_is_used_without_lang(
    client: FlaskClient, header: str, lang: str, skip_link: str
) -> None:
    shown = page(client, "/help", **{"Accept-Language": header})
    assert shown.lang == lang
    assert skip_link in shown.texts


def test_lang_names_brazilian_portuguese_either_way(client: FlaskClient) -> None:
    for asked in ("pt_BR", "pt-BR", "pt-br"):
        assert page(client, f"/help?lang={asked}").lang == "pt-BR"


def test_the_profile_comes_before_the_browser_and_lang_before_both(app: Flask, db: Session) -> None:
    make_user(db, Role.NAVIGATOR, email="nav@example.org", locale="en_GB")
    db.commit()
    client = sign_in(app, "nav@example.org")
    english = page(client, "/help", **{"Accept-Language": "fr"})
    assert english.lang == "en"
    assert "Skip to content" in english.texts
    spanish = page(client, "/help?lang=es", **{"Accept-Language": "fr"})
    assert spanish.lang == "es"
    assert "Saltar al contenido" in spanish.texts


def test_the_staff_screens_stay_english(app: Flask, db: Session) -> None:
    make_user(db, Role.NAVIGATOR, email="nav@example.org")
    db.commit()
    client = sign_in(app, "nav@example.org")
    shown = page(client, "/hub/?lang=es", **{"Accept-Language": "de"})
    assert shown.lang == "en"
    assert "Skip to content" in shown.texts


def test_the_switcher_names_each_language_in_itself(client: FlaskClient) -> None:
    shown = page(client, "/help?keep=1&lang=fr")
    links = {link["hreflang"]: link for link in shown.links if "lang=" in link["href"]}
    assert {tag: link["lang"] for tag, link in links.items()} == {
        tag.replace("_", "-"): tag.replace("_", "-") for tag in HUB_LANGUAGES
    }
    for language, name in LANGUAGE_NAMES.items():
        link = links[language.replace("_", "-")]
        assert name in shown.texts
        assert link["href"].endswith(f"?keep=1&lang={language}"), link
        assert ("aria-current" in link) == (language == "fr")


def test_every_hub_page_has_its_alternates(app: Flask, client: FlaskClient) -> None:
    """Each public hub page without parameters in its path names itself in every language
    and an ``x-default`` without ``?lang=``."""
    pages = sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("hub.") and "GET" in (rule.methods or ()) and not rule.arguments
    )
    assert "/help" in pages or "/help/" in pages
    for path in pages:
        response = client.get(path, query_string={"lang": "de"})
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        shown = Page(response.get_data(as_text=True))
        assert shown.lang == "de", path
        assert shown.alternates == {
            **{
                tag.replace("_", "-"): f"http://localhost{path}?lang={tag}" for tag in HUB_LANGUAGES
            },
            "x-default": f"http://localhost{path}",
        }, path
