"""At the programme level a report names nobody and shows no count under five; the finance
level names ambassadors but never a provider or a session date."""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import urlencode

from flask.testing import FlaskClient

from grants.reports.pdf import ATTACHMENT_NAME
from tests.reports.dataset import Books
from tests.reports.support import attachments, page_with, pages_text, report_query
from tests.reports.test_reconciliation import download_pdf

COUNT_COLUMNS = ("people", "gifts", "claims")


def test_programme_level_names_nobody_and_hides_small_counts(
    books: Books, finance: FlaskClient
) -> None:
    pdf = download_pdf(finance, privacy="programme")
    text = "\n".join(pages_text(pdf))
    for person in books.ambassadors:
        assert person.display_name not in text
    assert "Bo Drummer" not in text
    assert "Therapy credit by person" not in text
    assert "Programme (aggregates only" in text

    therapy = page_with(pdf, "Therapy credit by programme and country")
    radar = next(line for line in therapy.splitlines() if line.startswith("RADAR"))
    assert "<5" in radar
    assert "$" not in radar, "a cell under five people shows no amount"
    glow = next(line for line in therapy.splitlines() if line.startswith("GLOW"))
    assert glow.split()[2:] == ["—"] * 11, "the smallest group shown is withheld with RADAR"
    withheld = next(line for line in therapy.splitlines() if line.startswith("Withheld groups"))
    assert withheld.split()[3:5] == ["9", "3,700.00"], "the withheld groups, added up"
    total = next(line for line in therapy.splitlines() if line.startswith("Total"))
    assert "3,700.00" in total, "the totals include the withheld groups through their row"

    exported = finance.get(
        f"/finance/reports/csv?{urlencode(report_query(privacy='programme', table='all'))}"
    )
    assert attachments(pdf)[ATTACHMENT_NAME] == [exported.data]
    body = exported.get_data(as_text=True)
    for person in books.ambassadors:
        assert person.display_name not in body
    therapy_rows = [row for row in csv.reader(io.StringIO(body)) if row and row[0] == "therapy"]
    header = therapy_rows[0]
    for row in therapy_rows[1:]:
        for name in COUNT_COLUMNS:
            cell = row[header.index(name)]
            assert cell in ("<5", "") or int(cell) >= 5, f"{name} shows {cell}"
    assert not any(re.fullmatch(r"[0-4]", cell) for row in therapy_rows[1:] for cell in row[3:4])


def test_finance_level_names_ambassadors_but_no_provider(
    books: Books, finance: FlaskClient
) -> None:
    pdf = download_pdf(finance)
    text = "\n".join(pages_text(pdf))
    for person in books.ambassadors:
        assert person.display_name in text
    assert "Dr Lee" not in text
    assert "Nashville" not in text
    csv_text = attachments(pdf)[ATTACHMENT_NAME][0].decode()
    assert "Dr Lee" not in csv_text
    assert "Finance (full detail)" in text
