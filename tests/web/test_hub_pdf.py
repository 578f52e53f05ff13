"""A country's poster: one A4 page with its emergency number, each of its crisis lines'
numbers, and a QR code that a phone reads as the hub's address for that country."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pdfplumber
import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale, gettext
from pypdf import PdfReader
from sqlalchemy.orm import Session

from grants.domain import hub
from grants.domain.hub import ServiceContent
from grants.domain.hub_contacts import read_phone
from grants.models import HubCountry, HubOrganization
from grants.web.hub import country_pdf
from tests.support import require

NOW = datetime(2026, 11, 28, 9, tzinfo=UTC)
PUBLIC_URL = "https://hub.example.org"


def publish(db: Session, organisation: str, **fields: object) -> str:
    """Publish a service as the seed does; its id."""
    found = HubOrganization(id=hub.new_id(), name=organisation, created_at=NOW)
    db.add(found)
    db.flush()
    values: dict[str, object] = {
        "name": organisation,
        "checked_on": date(2026, 11, 1),
        "descriptions": {"en": f"{organisation} listens."},
        "crisis_line": True,
        "countries": ("GB",),
        "topics": ("crisis",),
        "time_zone": "Europe/London",
        "open_all_hours": True,
    }
    values.update(fields)
    version = hub.propose(
        db, actor=None, content=ServiceContent(**values), now=NOW, organization_id=found.id
    )
    hub.publish(db, actor=None, version_id=version.id, now=NOW)
    return version.service_id


@pytest.fixture
def app(make_app) -> Flask:  # type: ignore[no-untyped-def]
    application: Flask = make_app(PUBLIC_URL=PUBLIC_URL, TRUSTED_HOSTS=["localhost"])
    return application


@pytest.fixture
def great_britain(db: Session) -> None:
    db.add(
        HubCountry(
            code="GB",
            emergency_number="999",
            other_emergency_numbers=["112"],
            source_url="https://www.gov.uk/",
            checked_on=date(2026, 10, 20),
        )
    )
    publish(
        db,
        "Samaritans",
        phones=(read_phone("116 123", "GB"),),
        descriptions={
            "en": "Someone to talk to, day or night, whatever you are going through.",
            "es": "Alguien con quien hablar, de día o de noche.",
        },
    )
    publish(
        db,
        "Shout",
        phones=(read_phone("85258", "GB", kind="text"),),
        sms_keyword="SHOUT",
    )
    publish(
        db,
        "Papyrus HOPELINE247",
        phones=(read_phone("0800 068 4141", "GB"),),
        open_all_hours=False,
        hours_notes={"en": "Every day, 9 am to midnight."},
    )
    publish(
        db,
        "A line for Ireland",
        phones=(read_phone("1800 247 247", "IE"),),
        countries=("IE",),
    )
    publish(
        db,
        "A therapist finder",
        crisis_line=False,
        url="https://therapists.example.org/",
        topics=("finding-a-therapist",),
    )
    db.commit()


def text_of(pdf: bytes) -> str:
    with pdfplumber.open(io.BytesIO(pdf)) as document:
        return "\n".join(page.extract_text() or "" for page in document.pages)


def test_the_poster_is_one_page_with_the_emergency_number_and_each_crisis_line(
    client: FlaskClient, great_britain: None
) -> None:
    response = client.get("/help/GB/poster.pdf?lang=en")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert 'filename="help-GB-en.pdf"' in response.headers["Content-Disposition"]
    pdf = response.get_data()
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
    text = text_of(pdf)
    assert "Help in United Kingdom" in text
    assert "999" in text
    assert "112" in text
    assert f"Call {read_phone('116 123', 'GB').shown}" in text
    assert "Text SHOUT to 85258" in text
    assert "Call 0800 068 4141" in text
    assert "Every day, 9 am to midnight." in text
    assert "Open 24 hours, every day" in text
    assert "hub.example.org/help/GB" in text
    assert "1800 247 247" not in text, "another country's line"
    assert "therapist finder" not in text, "not a crisis line"


def test_the_poster_html_carries_the_qr_code_of_the_absolute_address(
    app: Flask, great_britain: None, db: Session
) -> None:
    with app.test_request_context("/help/GB/poster.pdf?lang=es"):
        poster = country_pdf.poster_of(db, "GB", "es")
        assert poster is not None
        html = country_pdf.poster_html(poster, "es", lines=len(poster.lines), descriptions=True)
    assert '<html lang="es">' in html
    assert "Reino Unido" in html, "the country's name in the poster's language"
    assert "Alguien con quien hablar" in html
    assert re.search(r'<svg viewBox="0 0 \d+ \d+" class="segno">', html)
    assert country_pdf.hub_address("GB") == f"{PUBLIC_URL}/help/GB"
    expected = country_pdf.qr_svg(f"{PUBLIC_URL}/help/GB")
    assert str(expected) in html


def test_the_qr_code_on_the_printed_page_reads_as_the_hub_address(
    client: FlaskClient, great_britain: None, tmp_path: Path
) -> None:
    """The page as a printer would make it, read back by a barcode reader."""
    require(
        shutil.which("pdftoppm") is not None, "pdftoppm is missing (apt-get install poppler-utils)"
    )
    try:
        import zxingcpp
        from PIL import Image
    except ImportError:
        require(False, "zxing-cpp is not installed (pip install -e '.[test]')")
    pdf = client.get("/help/GB/poster.pdf").get_data()
    (tmp_path / "poster.pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "100", "-singlefile", "poster.pdf", "poster"],
        cwd=tmp_path,
        check=True,
    )
    with Image.open(tmp_path / "poster.png") as image:
        found = zxingcpp.read_barcodes(image)
    assert [code.text for code in found] == [f"{PUBLIC_URL}/help/GB"]


def test_many_crisis_lines_still_fit_on_one_page(client: FlaskClient, db: Session) -> None:
    db.add(
        HubCountry(
            code="GB",
            emergency_number="999",
            source_url="https://www.gov.uk/",
            checked_on=date(2026, 10, 20),
        )
    )
    for number in range(14):
        publish(
            db,
            f"Line {number:02d}",
            phones=(read_phone("116 123", "GB"),),
            descriptions={"en": "A long description of what this line offers. " * 8},
        )
    db.commit()
    pdf = client.get("/help/GB/poster.pdf?lang=en").get_data()
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
    text = text_of(pdf)
    assert "Line 00" in text
    assert "more crisis lines are on the hub" in text
    assert "hub.example.org/help/GB" in text


def test_a_poster_follows_the_page_language(
    app: Flask, client: FlaskClient, great_britain: None
) -> None:
    pdf = client.get("/help/GB/poster.pdf?lang=fr").get_data()
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
    text = text_of(pdf)
    assert "Royaume-Uni" in text
    with app.test_request_context(), force_locale("fr"):
        always_open = gettext("Open 24 hours, every day")
    assert always_open != "Open 24 hours, every day", "the French catalogue has it"
    assert always_open.replace("\xa0", " ") in text.replace("\xa0", " ")
    assert "Open 24 hours" not in text


@pytest.mark.parametrize("country", ["XX", "FR", "gb<script>", "..", "G%00B"])
def test_no_poster_for_an_unknown_country_or_one_the_hub_has_nothing_for(
    client: FlaskClient, great_britain: None, country: str
) -> None:
    response = client.get(f"/help/{country}/poster.pdf")
    assert response.status_code in (400, 404)


def test_a_name_in_japanese_is_drawn_in_a_font_that_has_it(
    client: FlaskClient, db: Session
) -> None:
    """DejaVu, WeasyPrint's usual font here, has no Japanese: the poster must fall back to a
    font that does (fonts-ipafont-gothic), never print empty boxes."""
    found = subprocess.run(
        ["fc-list", ":lang=ja", "family"], capture_output=True, text=True, check=False
    )
    require(bool(found.stdout.strip()), "no Japanese font (apt-get install fonts-ipafont-gothic)")
    db.add(
        HubCountry(
            code="JP",
            emergency_number="119",
            source_url="https://www.fdma.go.jp/",
            checked_on=date(2026, 10, 20),
        )
    )
    publish(
        db,
        "Yorisoi Hotline (よりそいホットライン)",
        phones=(read_phone("0120-279-338", "JP"),),
        countries=("JP",),
        time_zone="Asia/Tokyo",
    )
    db.commit()
    pdf = client.get("/help/JP/poster.pdf?lang=en").get_data()
    with pdfplumber.open(io.BytesIO(pdf)) as document:
        chars = document.pages[0].chars
    japanese = [char for char in chars if char["text"] in "よりそいホットライン"]
    assert "よりそいホットライン" in "".join(char["text"] for char in japanese)
    assert not [char["fontname"] for char in japanese if "DejaVu" in char["fontname"]]
