"""The finance report screens: who may reach them, the preview, the CSV of each table, bad
input refused with nothing made, and the command line."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy.orm import Session

from grants.models import Role
from grants.reports.build import RenderCounter
from tests.factories import make_user
from tests.reports.dataset import YEAR, Books, Texts
from tests.reports.support import attachments, pages_text, report_query
from tests.reports.test_cache import stored
from tests.support import form_fields, sign_in


def made(app: Flask) -> list[str]:
    """Every made report and job record: their keys."""
    return stored(app)


def test_only_finance_reaches_reports(app: Flask, db: Session, books: Books) -> None:
    manager = make_user(db, Role.MANAGER)
    admin = make_user(db, Role.ADMIN)
    db.commit()
    query = urlencode(report_query())
    urls = [
        "/finance/reports",
        f"/finance/reports?{query}",
        f"/finance/reports/csv?{query}",
        f"/finance/reports/jobs/{'0' * 64}",
    ]
    anonymous = app.test_client()
    for url in urls:
        assert anonymous.get(url).status_code == 302
    for person in (manager, admin, books.glow[0].user):
        client = sign_in(app, person.email)
        for url in urls:
            assert client.get(url).status_code == 403, (person.email, url)
        assert client.post("/finance/reports/pdf", data=report_query()).status_code in (400, 403)
    assert made(app) == []


def test_the_preview_shows_the_figures_and_links_each_csv(
    books: Books, finance: FlaskClient
) -> None:
    page = finance.get("/finance/reports")
    assert page.status_code == 200
    assert f'value="{YEAR}"' in page.get_data(as_text=True)

    page = finance.get(f"/finance/reports?{urlencode(report_query())}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for figure in ("$150,000.00", "$35,000.00", "$3,600.00", "Ambassador GLOW 1", "Backline"):
        assert figure in html
    assert "Download the PDF" in html
    fields = form_fields(
        finance, f"/finance/reports?{urlencode(report_query())}", "/finance/reports/pdf"
    )
    assert fields["key"]
    assert fields["currency"] == "USD"

    for table in ("funds", "grants", "therapy", "ambassadors"):
        assert f"table={table}" in html
        response = finance.get(f"/finance/reports/csv?{urlencode(report_query(table=table))}")
        assert response.status_code == 200
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
        assert rows[-1][0] == "Total"
        assert rows[0][-1] == "currency"
    funds = finance.get(f"/finance/reports/csv?{urlencode(report_query(table='funds'))}")
    assert "Total,,,,150000.00,38600.00,20250.00,18350.00,111400.00,USD" in funds.get_data(
        as_text=True
    )
    assert (
        finance.get(f"/finance/reports/csv?{urlencode(report_query(table='x'))}").status_code == 404
    )
    programme = finance.get(
        f"/finance/reports/csv?{urlencode(report_query(privacy='programme', table='ambassadors'))}"
    )
    assert programme.status_code == 404, "no per-ambassador table at the programme level"


def test_a_cell_starting_a_formula_is_made_inert(app: Flask, db: Session) -> None:
    books = Books(db, texts=Texts(purpose='=HYPERLINK("http://example.org")')).build()
    client = sign_in(app, books.finance.email)
    response = client.get(f"/finance/reports/csv?{urlencode(report_query(table='grants'))}")
    assert "'=HYPERLINK" in response.get_data(as_text=True)


@pytest.fixture
def finance_only(app: Flask, db: Session) -> FlaskClient:
    person = make_user(db, Role.FINANCE)
    db.commit()
    return sign_in(app, person.email)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"currency": "", "year": "2026"}, "Choose a currency or a fund."),
        ({"currency": "USD"}, "Give a plan year or both dates of a range."),
        ({"currency": "USD", "year": "1999"}, "Number must be between 2000 and 2100."),
        ({"currency": "USD", "year": "abc"}, "Not a valid integer value."),
        ({"currency": "USD", "start": "2026-05-01", "end": "2026-01-01"}, "The range ends before"),
        (
            {"currency": "USD", "year": "2026", "start": "2026-01-01", "end": "2026-02-01"},
            "not both",
        ),
        ({"currency": "USD", "year": "2026", "cutoff": "2999-01-01T00:00"}, "in the future"),
        (
            {"currency": "USD", "year": "2026", "cutoff": "2026-03-08T02:30"},
            "Mar 8, 2026, 2:30\u202fAM does not happen in America/New York",
        ),
        (
            {"currency": "USD", "year": "2026", "cutoff": "2026-11-01T01:30"},
            "Nov 1, 2026, 1:30\u202fAM happens twice in America/New York",
        ),
        ({"currency": "USD", "year": "2026", "privacy": "everyone"}, "Not a valid choice"),
        ({"currency": "USD", "year": "2026", "fund": "999"}, "There is no such fund."),
        ({"currency": "USD", "year": "2026", "fund": "9" * 20}, "could not coerce"),
        ({"currency": "EUROS", "year": "2026"}, "Choose a currency or a fund."),
    ],
)
def test_bad_input_is_refused_and_nothing_is_made(
    app: Flask, finance_only: FlaskClient, query: dict[str, str], message: str
) -> None:
    before = RenderCounter.count
    page = finance_only.get(f"/finance/reports?{urlencode(query)}")
    assert 400 <= page.status_code < 500
    assert message in page.get_data(as_text=True)
    csv_response = finance_only.get(f"/finance/reports/csv?{urlencode({**query, 'table': 'all'})}")
    assert 400 <= csv_response.status_code < 500
    fields = form_fields(
        finance_only, "/finance/reports?currency=USD&year=2026", "/finance/reports/pdf"
    )
    posted = finance_only.post(
        "/finance/reports/pdf",
        data={"csrf_token": fields["csrf_token"], "key": fields["key"], **query},
    )
    assert 400 <= posted.status_code < 500
    assert message in posted.get_data(as_text=True)
    assert RenderCounter.count == before
    assert made(app) == []


def test_asking_for_a_pdf_without_a_token_is_refused(
    app: Flask, books: Books, finance: FlaskClient
) -> None:
    response = finance.post("/finance/reports/pdf", data=report_query())
    assert response.status_code in (400, 422)
    assert made(app) == []
    assert finance.get(f"/finance/reports/jobs/{'a' * 64}").status_code == 404
    assert finance.get("/finance/reports/jobs/not-a-key").status_code == 404
    assert finance.post(f"/finance/reports/jobs/{'a' * 64}/retry").status_code == 400, "CSRF"


def test_the_command_makes_the_same_report(
    app: Flask, books: Books, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    target = tmp_path / "report.pdf"
    table = tmp_path / "report.csv"
    result = runner.invoke(
        args=[
            "grants",
            "report",
            "--currency",
            "USD",
            "--year",
            str(YEAR),
            "--privacy",
            "programme",
            "-o",
            str(target),
            "--csv",
            str(table),
        ]
    )
    assert result.exit_code == 0, result.output
    assert "rendered" in result.output
    pdf = target.read_bytes()
    assert attachments(pdf)["allocation-report.csv"] == [table.read_bytes()]
    text = "\n".join(pages_text(pdf))
    assert "Programme (aggregates only" in text
    assert "Ambassador GLOW 1" not in text

    again = runner.invoke(
        args=[
            "grants",
            "report",
            "--currency",
            "USD",
            "--year",
            str(YEAR),
            "--privacy",
            "programme",
            "-o",
            str(target),
        ]
    )
    assert again.exit_code == 0, again.output
    assert "from the cache" in again.output
    assert target.read_bytes() == pdf

    refused = runner.invoke(args=["grants", "report", "--currency", "USD", "-o", str(target)])
    assert refused.exit_code == 2
    assert "Give a plan year" in refused.output


def test_a_ranges_days_are_written_in_the_viewers_locale_and_in_the_pdfs(
    app: Flask, db: Session, books: Books, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    """A range that is no calendar year is written as its reader writes days, on the preview
    (the viewer's locale) and on the PDF's cover (the report's); the CSV keeps ISO 8601."""
    query = urlencode(report_query(year="", start=f"{YEAR}-03-01", end=f"{YEAR}-06-30"))
    american = sign_in(app, books.finance.email).get(f"/finance/reports?{query}")
    assert f"Allocation report USD Mar 1, {YEAR} to Jun 30, {YEAR}" in american.get_data(
        as_text=True
    )
    books.finance.locale = "en_GB"
    db.commit()
    british = sign_in(app, books.finance.email).get(f"/finance/reports?{query}")
    page = british.get_data(as_text=True)
    assert f"Allocation report USD 1 Mar {YEAR} to 30 Jun {YEAR}" in page
    assert f"{YEAR}-03-01 to" not in page

    target, table = tmp_path / "report.pdf", tmp_path / "report.csv"
    made = runner.invoke(
        args=[
            "grants",
            "report",
            "--currency",
            "USD",
            "--from",
            f"{YEAR}-03-01",
            "--to",
            f"{YEAR}-06-30",
            "-o",
            str(target),
            "--csv",
            str(table),
        ]
    )
    assert made.exit_code == 0, made.output
    cover = pages_text(target.read_bytes())[0]
    assert f"Mar 1, {YEAR} to Jun 30, {YEAR}" in cover
    assert f"period,{YEAR}-03-01 to {YEAR}-06-30" in table.read_text()
    assert f'period_written,"Mar 1, {YEAR} to Jun 30, {YEAR}"' in table.read_text()


def test_the_command_reads_a_cutoff_in_the_report_s_time_zone_unless_it_has_an_offset(
    app: Flask, books: Books, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    target = tmp_path / "report.pdf"
    base = ["grants", "report", "--currency", "USD", "--year", str(YEAR), "-o", str(target)]

    table = tmp_path / "report.csv"
    local = runner.invoke(args=[*base, "--cutoff", "2026-07-01T12:00", "--csv", str(table)])
    assert local.exit_code == 0, local.output
    header = table.read_text()
    assert "cutoff,2026-07-01T16:00:00+00:00" in header
    assert 'cutoff_written,"Jul 1, 2026, 12:00\u202fPM EDT (America/New York time)"' in header
    assert "Cutoff: Jul 1, 2026, 12:00\u202fPM EDT (America/New York time)." in local.output
    utc = runner.invoke(args=[*base, "--cutoff", "2026-07-01T16:00Z"])
    assert utc.exit_code == 0, utc.output
    assert "Cutoff: Jul 1, 2026, 12:00\u202fPM EDT (America/New York time)." in utc.output
    assert "from the cache" in utc.output, "the same moment, so the same report"

    skipped = runner.invoke(args=[*base, "--cutoff", "2026-03-08T02:30"])
    assert skipped.exit_code == 2
    assert "does not happen in America/New York" in skipped.output
    garbled = runner.invoke(args=[*base, "--cutoff", "yesterday"])
    assert garbled.exit_code == 2
    assert "'yesterday' is not a date and time such as 2026-12-31T17:00" in garbled.output
