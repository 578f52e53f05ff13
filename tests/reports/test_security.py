"""Hostile text in partner names, grant purposes, gift messages and people's names is
printed as text: nothing is fetched (a loopback server counts requests and sees none),
nothing is attached but the CSV, and no markup from the data reaches the PDF."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from grants.reports.pdf import ATTACHMENT_NAME, STATIC_ROOT, RefusedURL, StaticOnlyFetcher
from grants.reports.pdf import render_pdf as render_raw
from tests.reports.dataset import Books, Texts
from tests.reports.support import attachments, pages_text
from tests.reports.test_reconciliation import download_pdf
from tests.support import sign_in


def squash(text: str) -> str:
    """``text`` without whitespace: table cells wrap long words across lines."""
    return re.sub(r"\s+", "", text)


class Recorder(BaseHTTPRequestHandler):
    """Answers every request with a tiny stylesheet-or-image and records its path."""

    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.end_headers()
        self.wfile.write(b"body { background: red }")

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def loopback() -> Iterator[tuple[str, list[str]]]:
    """A server on 127.0.0.1 and the list of paths it was asked for."""
    seen: list[str] = []
    handler = type("Handler", (Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def hostile(base: str) -> Texts:
    return Texts(
        partner=f'<img src="{base}/partner.png"><link rel="attachment" href="file:///etc/passwd">',
        purpose=(
            '<img src="file:///etc/passwd"> <script>alert(1)</script> '
            f'<link rel="stylesheet" href="{base}/purpose.css"> '
            'url(http://169.254.169.254/latest/meta-data/) <style>@import "'
            f'{base}/import.css";</style>'
        ),
        message=(
            f'<img src="http://169.254.169.254/latest/"><link rel="attachment" href="{base}/m">'
        ),
        ambassador=f'<img src="{base}/person.png"> Amb',
    )


def test_hostile_text_is_printed_not_fetched(
    db: Session, app: Flask, loopback: tuple[str, list[str]]
) -> None:
    base, seen = loopback
    books = Books(db, texts=hostile(base)).build()
    client = sign_in(app, books.finance.email)
    pdf = download_pdf(client)

    assert seen == [], "the report fetched something"
    assert list(attachments(pdf)) == [ATTACHMENT_NAME]
    assert b"root:x:0:0" not in pdf
    text = squash("".join(pages_text(pdf)))
    for shown in (
        "<script>alert(1)</script>",
        '<img src="file:///etc/passwd">',
        "url(http://169.254.169.254/latest/meta-data/)",
        f'<img src="{base}/person.png"> Amb GLOW 1',
        f'<img src="{base}/partner.png"><link rel="attachment" href="file:///etc/passwd">',
        f'<style>@import "{base}/import.css";</style>',
    ):
        assert squash(shown) in text, shown
    csv_text = attachments(pdf)[ATTACHMENT_NAME][0].decode()
    assert '<link rel=""attachment"" href=""file:///etc/passwd"">' in csv_text

    page = client.get(
        f"/finance/reports?currency=USD&year={books.therapy_fund.plan_year_start.year}"
    )
    html = page.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_fetcher_serves_only_data_and_static_files(
    loopback: tuple[str, list[str]], tmp_path: Path
) -> None:
    base, seen = loopback
    fetcher = StaticOnlyFetcher()
    stylesheet = STATIC_ROOT / "reports" / "report.css"
    assert fetcher.fetch(stylesheet.as_uri()).read().startswith(b"/*")
    assert fetcher.fetch("data:text/plain,hello").read() == b"hello"
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    escape = (STATIC_ROOT / ".." / ".." / "pyproject.toml").as_uri()
    for url in (
        "file:///etc/passwd",
        outside.as_uri(),
        escape,
        f"{base}/x.css",
        "http://169.254.169.254/latest/meta-data/",
        "https://example.org/",
        "ftp://127.0.0.1/x",
        "file://otherhost/etc/passwd",
    ):
        with pytest.raises(RefusedURL):
            fetcher.fetch(url)
    assert seen == []
    assert len(fetcher.refused) == 8


def test_markup_that_reaches_weasyprint_still_fetches_nothing(
    loopback: tuple[str, list[str]],
) -> None:
    """Even if markup slipped past the template, the fetcher stops every request."""
    base, seen = loopback
    fetcher = StaticOnlyFetcher()
    html = (
        f'<html><head><link rel="stylesheet" href="{base}/a.css">'
        '<link rel="attachment" href="file:///etc/passwd">'
        f'<link rel="attachment" href="{base}/leak.txt"></head>'
        f'<body><p style="background: url({base}/bg.png)">x</p>'
        '<img src="file:///etc/passwd"><img src="http://169.254.169.254/latest/">'
        f'<img src="{base}/i.png"></body></html>'
    )
    pdf = render_raw(html, "a,b\r\n", title="test", fetcher=fetcher)
    assert seen == []
    assert list(attachments(pdf)) == [ATTACHMENT_NAME]
    assert b"root:x:0:0" not in pdf
    assert "file:///etc/passwd" in fetcher.refused
    assert any(url.startswith(base) for url in fetcher.refused)
