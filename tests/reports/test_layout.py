"""Nothing leaves the page: with 60-character partner, fund and ambassador names and amounts
of 9,999,999.99, at both privacy levels, every character of the report lies inside its
page's margins (the footer inside the page), and no two words overlap. The cover says what
finance needs first, and status words are the words people use."""

from __future__ import annotations

import io
import re
from datetime import date

import pdfplumber
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from grants.domain import claims
from grants.domain import grants as awards
from grants.domain.grants import GrantDraft, Instalment
from grants.domain.money import Money
from grants.models import Country, FundKind, Partner, Role
from grants.security import password_hasher, password_rules
from tests.factories import fund_wallet, make_ambassador, make_user
from tests.reports.dataset import NOW, YEAR, Books
from tests.reports.test_reconciliation import download_pdf
from tests.support import sign_in

MM = 72 / 25.4
MARGINS = {"top": 16 * MM, "right": 12 * MM, "bottom": 18 * MM, "left": 12 * MM}
"""The report's page margins (static/reports/report.css), in points."""

LARGEST = 999_999_999
"""9,999,999.99 in cents."""


def long_name(start: str) -> str:
    """A name of exactly 60 characters, in words, as a real long name would be."""
    name = f"{start} Foundation for the Wellbeing of Touring Musicians and Crews"
    return (name + " International Trust")[:60].rstrip().ljust(60, "s")


@pytest.fixture
def wide(db: Session) -> Books:
    """Long names everywhere and the largest seven-figure amounts."""
    books = Books(db)
    books.manager = make_user(db, Role.MANAGER, name="Mara Manager")
    books.approver = make_user(db, Role.MANAGER, name="Abe Approver")
    books.finance = make_user(db, Role.FINANCE, name="Fin Ance")
    grants_fund = books.open(long_name("Partner grants")[:50], FundKind.GRANTS, 40 * LARGEST)
    therapy = books.open(long_name("Therapy")[:50], FundKind.THERAPY, 40 * LARGEST)
    books.grants_fund, books.therapy_fund = grants_fund, therapy
    for number in range(3):
        partner = Partner(
            legal_name=long_name(f"Partner {number}"),
            display_name=long_name(f"Partner {number}"),
            country=Country.US,
        )
        db.add(partner)
        db.flush()
        receipt = awards.create_grant(
            db,
            key=books.key(),
            actor=books.manager,
            draft=GrantDraft(
                fund_id=grants_fund.id,
                partner_id=partner.id,
                purpose=long_name("Purpose") * 2,
                category="festival_wellness",
                amount=Money(LARGEST, "USD"),
                tranches=[Instalment(date(YEAR, 6, 1), Money(LARGEST, "USD"))],
            ),
        )
        assert receipt.object_id is not None
        awards.submit_grant(
            db, key=books.key(), actor=books.manager, grant_id=receipt.object_id, now=NOW
        )
        awards.approve_grant(
            db, key=books.key(), actor=books.approver, grant_id=receipt.object_id, now=NOW
        )
    wallets = []
    for programme, count in (("GLOW", 6), ("RADAR", 2), ("EQUAL", 30)):
        for number in range(count):
            ambassador = make_ambassador(
                db,
                programme=programme,
                country=Country.US,
                name=long_name(f"{programme} {number}"),
            )
            wallets.append(fund_wallet(db, therapy, ambassador, LARGEST, books.manager))
    books.glow = wallets[:6]
    token = books.gift(wallets[0], LARGEST // 2)
    claims.claim_gift(
        db,
        key=books.key(),
        token=token,
        claimant=None,
        new_recipient=claims.NewRecipient(long_name("Bandmate"), "drums all night long"),
        hasher=password_hasher(),
        rules=password_rules(),
        now=NOW,
    )
    books.redeem(wallets[1], LARGEST, "pay")
    books.redeem(wallets[2], LARGEST, "approve")
    db.commit()
    return books


def check_page_layout(pdf: bytes) -> int:
    """Assert that every character lies inside its page's margins (the running footer,
    which is printed in the bottom margin, inside the page) and that no two words on a page
    overlap; return the number of pages."""
    with pdfplumber.open(io.BytesIO(pdf)) as document:
        for number, page in enumerate(document.pages, start=1):
            width, height = float(page.width), float(page.height)
            for char in page.chars:
                where = f"page {number}: {char['text']!r} at ({char['x0']:.0f}, {char['top']:.0f})"
                assert char["x0"] >= MARGINS["left"] - 0.5, where
                assert char["x1"] <= width - MARGINS["right"] + 0.5, where
                assert char["top"] >= MARGINS["top"] - 0.5, where
                in_footer = char["top"] > height - MARGINS["bottom"]
                assert char["bottom"] <= (height if in_footer else height - MARGINS["bottom"] + 0.5)
            words = page.extract_words(use_text_flow=False, keep_blank_chars=False)
            for index, first in enumerate(words):
                for second in words[index + 1 :]:
                    across = min(first["x1"], second["x1"]) - max(first["x0"], second["x0"])
                    down = min(first["bottom"], second["bottom"]) - max(first["top"], second["top"])
                    assert across <= 0.5 or down <= 0.5, (
                        f"page {number}: {first['text']!r} overlaps {second['text']!r}"
                    )
        return len(document.pages)


@pytest.mark.parametrize("privacy", ["finance", "programme"])
def test_every_table_fits_its_pages(wide: Books, app: Flask, privacy: str) -> None:
    client = sign_in(app, wide.finance.email)
    pdf = download_pdf(client, privacy=privacy)
    pages = check_page_layout(pdf)
    with pdfplumber.open(io.BytesIO(pdf)) as document:
        text = "\n".join(page.extract_text() or "" for page in document.pages)
        first = document.pages[0]
        assert first.width < first.height, "the cover is a portrait page"
        assert all(page.width > page.height for page in document.pages[1:])
    assert "9,999,999.99" in text
    assert "29,999,999.97" in text, "totals of several such amounts print whole"
    assert "399,999,999.60" in text
    assert pages >= 3


def test_the_cover_leads_with_the_funds_and_status_words_read_as_words(
    books: Books, finance: FlaskClient
) -> None:
    pdf = download_pdf(finance)
    with pdfplumber.open(io.BytesIO(pdf)) as document:
        cover = document.pages[0].extract_text() or ""
        rest = "\n".join(page.extract_text() or "" for page in document.pages[1:])
    summary = cover.index("The funds at the cutoff")
    assert summary < cover.index("Currency"), "the figures come before the parameters"
    therapy = next(line for line in cover.splitlines() if line.startswith(f"Therapy US {YEAR}"))
    # Budget, committed, paid, remaining, and the therapy outstanding liability.
    assert therapy.split()[-5:] == [
        "$50,000.00",
        "$3,600.00",
        "$250.00",
        "$46,400.00",
        "$3,350.00",
    ]
    grants = next(line for line in cover.splitlines() if line.startswith(f"Partner grants {YEAR}"))
    assert grants.split()[-4:] == ["$100,000.00", "$35,000.00", "$20,000.00", "$65,000.00"]
    assert "Active" in rest
    assert "Approved" in rest
    assert "Services Active" in rest
    assert "Services Approved" in rest
    assert f"(USD) Grants Jan 1, {YEAR} Dec 31, {YEAR}" in rest, "a USD report's days, en_US"
    assert f"(USD) Therapy Jan 1, {YEAR} Dec 31, {YEAR}" in rest
    assert "Times in this report are in America/New York time." in cover
    assert not re.search(r"\b(active|approved|closed|cancelled) [\d$]", rest), "a status code"
    # The cover, the funds and grants, therapy (both tables), then the help desk, whose
    # section follows on the fourth page because the third is full.
    assert check_page_layout(pdf) == 4, "no section starts a page of its own for a short table"
