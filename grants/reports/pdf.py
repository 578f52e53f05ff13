"""The report as PDF/A-3b, rendered by WeasyPrint from ``templates/reports/report.html``.

Everything WeasyPrint could fetch goes through :class:`StaticOnlyFetcher`: ``data:`` URLs
and files under the package's own static folder, nothing else, no redirects. The same
fetcher serves the HTML, every stylesheet and the attachment. The report's text is escaped
by Jinja and never placed in ``style``, ``<link>`` or ``url()``; presentational hints stay
off. The only attachment is the report's CSV.
"""

from __future__ import annotations

import logging
import mimetypes
import re
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from weasyprint import CSS, HTML, Attachment
from weasyprint.urls import URLFetcher, URLFetcherResponse

STATIC_ROOT = Path(__file__).resolve().parent.parent / "static"
"""The package's static folder: the only files a report may read."""

STYLESHEET = STATIC_ROOT / "reports" / "report.css"

PDF_VARIANT = "pdf/a-3b"
ATTACHMENT_NAME = "allocation-report.csv"

ICC_LEAK = r"unclosed file .*sRGB2014\.icc"
"""WeasyPrint opens its sRGB profile for PDF/A and never closes the file; that one warning
is silenced while writing, every other warning still counts."""

Progress = Callable[[int], None]
"""Called with the number of pages laid out so far."""


class RefusedURL(ValueError):
    """A URL the report fetcher does not serve."""


class StaticOnlyFetcher(URLFetcher):  # type: ignore[misc]
    """Serves ``data:`` URLs and files under :data:`STATIC_ROOT`; refuses everything else
    (``http``, ``https``, ``ftp``, other files) and follows no redirect.

    ``refused`` lists what was asked for and refused, so callers and tests can see it.
    """

    def __init__(self, root: Path = STATIC_ROOT) -> None:
        super().__init__(timeout=5, allowed_protocols=("data", "file"), allow_redirects=False)
        self.root = root.resolve()
        self.refused: list[str] = []

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> URLFetcherResponse:
        scheme = url.split(":", 1)[0].lower()
        if scheme == "data":
            response: URLFetcherResponse = super().fetch(url, headers)
            return response
        if scheme == "file":
            parts = urlsplit(url)
            path = Path(unquote(parts.path)).resolve()
            if not parts.netloc and path.is_relative_to(self.root) and path.is_file():
                content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                return URLFetcherResponse(
                    path.as_uri(), path.read_bytes(), {"Content-Type": content_type}
                )
        self.refused.append(url)
        raise RefusedURL(f"A report fetches nothing from {url[:200]}")


_PAGE = re.compile(r"Creating layout - Page (\d+)")


class _PageCounter(logging.Handler):
    """Turns WeasyPrint's progress messages of the current thread into page counts."""

    def __init__(self, progress: Progress) -> None:
        super().__init__(logging.INFO)
        self.progress = progress
        self.thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread:
            return
        match = _PAGE.search(record.getMessage())
        if match:
            self.progress(int(match.group(1)))


def render_pdf(
    html: str,
    csv_text: str,
    *,
    title: str,
    progress: Progress | None = None,
    fetcher: StaticOnlyFetcher | None = None,
) -> bytes:
    """The PDF/A-3b of ``html`` with ``csv_text`` attached as the report's data."""
    fetcher = fetcher or StaticOnlyFetcher()
    stylesheet = CSS(filename=str(STYLESHEET), url_fetcher=fetcher)
    attachment = Attachment(
        string=csv_text.encode(),
        name=ATTACHMENT_NAME,
        description=f"The tables of {title}",
        relationship="Data",
        url_fetcher=fetcher,
    )
    document = HTML(string=html, base_url=STATIC_ROOT.as_uri() + "/", url_fetcher=fetcher)
    logger = logging.getLogger("weasyprint.progress")
    handler = _PageCounter(progress) if progress else None
    previous_level = logger.level
    if handler:
        logger.addHandler(handler)
        if not logger.isEnabledFor(logging.INFO):
            logger.setLevel(logging.INFO)
    try:
        options: dict[str, Any] = {
            "stylesheets": [stylesheet],
            "attachments": [attachment],
            "pdf_variant": PDF_VARIANT,
            "presentational_hints": False,
        }
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=ResourceWarning, message=ICC_LEAK)
            pdf: bytes = document.write_pdf(**options)
    finally:
        if handler:
            logger.removeHandler(handler)
            logger.setLevel(previous_level)
    return pdf
