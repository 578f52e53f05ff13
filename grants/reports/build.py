"""From parameters to a report: figures, fingerprint, cache key, then the PDF from the cache
or freshly rendered. The web views, the background job and the command line all come here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from babel.numbers import format_decimal
from flask import current_app
from jinja2 import Environment
from sqlalchemy.orm import Session

from grants.domain.dates import format_day, format_moment, zone_name
from grants.domain.money import DEFAULT_LOCALE, format_money, minor_digits
from grants.models import Fund, FundKind
from grants.models.funds import default_fund_time_zone
from grants.reports import charts
from grants.reports.cache import ReportCache, cache_key, report_cache
from grants.reports.csv import report_csv
from grants.reports.fingerprint import ledger_fingerprint, short
from grants.reports.jobs import Job, enqueue_report
from grants.reports.pdf import ATTACHMENT_NAME, Progress, render_pdf
from grants.reports.queries import (
    Privacy,
    ReportData,
    ReportParameters,
    collect,
    scope_funds,
)
from grants.reports.tables import FUND_KINDS, Column, Kind, Table, report_tables

WITHHELD = "—"
"""How the PDF shows a money figure withheld for privacy."""

LAYOUT_SHARE = 85
"""The share of a render's progress given to laying out pages."""

SEGMENT_ROWS = 25
"""Rows of the per-ambassador table printed as one table, a page's worth: one long table
takes WeasyPrint more than linear time to lay out, a table per page does not, and each page
still starts with the header."""

FIRST_SEGMENT_ROWS = 22
"""Rows under the section's heading on its first page."""

ROWS_PER_PAGE = 25
"""Table rows on a landscape A4 page, for estimating progress."""


class RenderCounter:
    """How many reports this process rendered (the cache is proven by it not moving)."""

    count = 0


@dataclass(frozen=True)
class PreparedReport:
    """A report's figures and identity, before any rendering."""

    data: ReportData
    fingerprint: str
    key: str
    fund_name: str | None
    time_zone: str = "UTC"
    """The zone the PDF states its times in, once on its cover: the fund's, or for a
    currency's report the default of a fund in that currency. It follows from the
    parameters alone, so a cached PDF is right for whoever asks for it again."""

    @property
    def locale(self) -> str:
        """The locale the PDF writes its dates in: en_GB for a report in pounds, else en_US
        (a function of the parameters, like :attr:`time_zone`)."""
        return "en_GB" if self.parameters.currency == "GBP" else DEFAULT_LOCALE

    @property
    def parameters(self) -> ReportParameters:
        return self.data.parameters

    @property
    def title(self) -> str:
        parameters = self.parameters
        return f"Allocation report {parameters.currency} {parameters.period_in(self.locale)}"

    @property
    def file_name(self) -> str:
        parameters = self.parameters
        return (
            f"allocation-{parameters.currency}-{parameters.period.replace(' ', '')}"
            f"-{parameters.privacy.value}-{self.fingerprint[:8]}.pdf"
        )

    @property
    def estimated_pages(self) -> int:
        return 2 + len(report_tables(self.data)) + self.data.detail_rows // ROWS_PER_PAGE

    def csv(self) -> str:
        """The whole report as CSV: the export, and the PDF's attachment."""
        return report_csv(self.data, self.fingerprint, locale=self.locale, time_zone=self.time_zone)


def prepare(session: Session, parameters: ReportParameters) -> PreparedReport:
    """Compute the figures and the fingerprint of the report ``parameters`` describe."""
    data = collect(session, parameters)
    fund_ids = [fund.id for fund in scope_funds(session, parameters)]
    fingerprint = ledger_fingerprint(session, position=data.position, fund_ids=fund_ids)
    fund_name = None
    time_zone = default_fund_time_zone(parameters.currency)
    if parameters.fund_id is not None:
        fund = session.get(Fund, parameters.fund_id)
        if fund is not None:
            fund_name, time_zone = fund.name, fund.time_zone
    key = cache_key(parameters.canonical(), fingerprint, data.digest())
    return PreparedReport(
        data=data, fingerprint=fingerprint, key=key, fund_name=fund_name, time_zone=time_zone
    )


def _shown(value: Any, kind: Kind, currency: str, *, symbol: bool, locale: str) -> str:
    if value is None:
        return WITHHELD if kind in (Kind.MONEY, Kind.COUNT) else ""
    if kind is Kind.MONEY and isinstance(value, int):
        return format_money(value, currency) if symbol else figure(value, currency)
    if isinstance(value, date):
        return format_day(value, locale)
    return str(value)


def figure(minor: int, currency: str) -> str:
    """``minor`` as a figure of a table whose heading names the currency: ``1,234.50``."""
    digits = minor_digits(currency)
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(Decimal(minor).scaleb(-digits), format=pattern, locale="en_US")


def segmented(lines: list[Any]) -> list[list[Any]]:
    """``lines`` cut into a page's worth each (:data:`SEGMENT_ROWS`, fewer on the first)."""
    segments = [lines[:FIRST_SEGMENT_ROWS]]
    for start in range(FIRST_SEGMENT_ROWS, len(lines), SEGMENT_ROWS):
        segments.append(lines[start : start + SEGMENT_ROWS])
    return segments


@dataclass(frozen=True)
class Line:
    """A line of a printed table: a row of values, or the caption of a group of rows."""

    values: tuple[str, ...]
    caption: str = ""


@dataclass(frozen=True)
class PrintedTable:
    """A table as the PDF and the preview print it: every value formatted, the group column
    (if any) printed as captions above its rows."""

    name: str
    title: str
    note: str
    columns: tuple[Column, ...]
    lines: list[Line]
    totals: tuple[str, ...] | None
    totals_label: str
    totals_span: int

    @property
    def has_rows(self) -> bool:
        return any(not line.caption for line in self.lines)


def formatted_table(
    table: Table, currency: str, *, symbol: bool = True, locale: str = DEFAULT_LOCALE
) -> PrintedTable:
    """``table`` with every value as the PDF (``symbol`` off: the heading names the
    currency) or the preview shows it, dates in ``locale``."""
    group = table.group_index

    def shown(values: tuple[Any, ...]) -> tuple[str, ...]:
        return tuple(
            _shown(value, column.kind, currency, symbol=symbol, locale=locale)
            for index, (value, column) in enumerate(zip(values, table.columns, strict=True))
            if index != group
        )

    lines: list[Line] = []
    caption = None
    for values in table.rows:
        if group is not None and values[group] != caption:
            caption = values[group]
            lines.append(Line(values=(), caption=str(caption)))
        lines.append(Line(values=shown(values)))
    totals = shown(table.totals) if table.totals is not None else None
    span = table.totals_span - (1 if group is not None and group < table.totals_span else 0)
    return PrintedTable(
        name=table.name,
        title=table.title,
        note=table.note,
        columns=tuple(column for index, column in enumerate(table.columns) if index != group),
        lines=lines,
        totals=totals,
        totals_label=table.totals_label,
        totals_span=max(span, 1),
    )


@dataclass(frozen=True)
class CoverLine:
    """One fund on the cover: what finance reads first."""

    fund: str
    kind: str
    budget: str
    committed: str
    paid: str
    remaining: str
    liability: str


def cover_lines(data: ReportData) -> list[CoverLine]:
    """Per fund, budget, committed, paid and remaining, and a therapy fund's outstanding
    liability (credit in wallets and sessions approved but not paid); a figure withheld at
    the programme level shows as a dash."""
    currency = data.parameters.currency

    def shown(minor: int | None) -> str:
        return WITHHELD if minor is None else format_money(minor, currency)

    return [
        CoverLine(
            fund=fund.name,
            kind=FUND_KINDS[fund.kind],
            budget=shown(fund.budget),
            committed=shown(fund.allocated),
            paid=shown(fund.paid),
            remaining=shown(fund.remaining),
            liability=shown(fund.outstanding) if fund.kind is FundKind.THERAPY else "",
        )
        for fund in data.funds
    ]


def report_html(prepared: PreparedReport, *, generated_at: datetime, env: Environment) -> str:
    """The report's HTML, every value formatted and escaped by the template."""
    data = prepared.data
    currency = data.parameters.currency
    zone, locale = prepared.time_zone, prepared.locale
    return env.get_template("reports/report.html").render(
        time_zone=zone_name(zone),
        when=lambda moment: format_moment(moment, zone, locale),
        title=prepared.title,
        period=data.parameters.period_in(locale),
        parameters=data.parameters,
        fund_name=prepared.fund_name,
        position=data.position,
        position_time=data.position_time,
        generated_at=generated_at,
        fingerprint=prepared.fingerprint,
        fingerprint_short=short(prepared.fingerprint),
        attachment_name=ATTACHMENT_NAME,
        programme_level=data.parameters.privacy is Privacy.PROGRAMME,
        cover=cover_lines(data),
        tables=[
            formatted_table(table, currency, symbol=False, locale=locale)
            for table in report_tables(data)
        ],
        fund_chart=charts.fund_chart(data),
        therapy_chart=charts.therapy_chart(data),
        segmented=segmented,
    )


def render(
    prepared: PreparedReport, *, generated_at: datetime, progress: Progress | None = None
) -> bytes:
    """Render the PDF of ``prepared`` (no cache involved). ``progress`` receives a percentage."""
    RenderCounter.count += 1
    html = report_html(prepared, generated_at=generated_at, env=current_app.jinja_env)
    pages = max(prepared.estimated_pages, 1)

    def laid_out(page: int) -> None:
        if progress:
            progress(10 + min(LAYOUT_SHARE, LAYOUT_SHARE * page // pages))

    if progress:
        progress(10)
    pdf = render_pdf(html, prepared.csv(), title=prepared.title, progress=laid_out)
    if progress:
        progress(99)
    return pdf


def report_pdf(
    prepared: PreparedReport,
    *,
    generated_at: datetime,
    cache: ReportCache,
    progress: Progress | None = None,
) -> tuple[bytes, bool]:
    """The PDF of ``prepared`` and whether it came from the cache; a fresh one is stored."""
    cached = cache.get(prepared.key)
    if cached is not None:
        return cached, True
    pdf = render(prepared, generated_at=generated_at, progress=progress)
    cache.put(prepared.key, pdf, file_name=prepared.file_name)
    return pdf, False


@dataclass(frozen=True)
class PdfRequest:
    """What asking for a PDF gave: the PDF itself, or the background job making it."""

    prepared: PreparedReport
    pdf: bytes | None
    job: Job | None
    cached: bool = False


def request_pdf(
    session: Session, parameters: ReportParameters, *, now: datetime, background_rows: int
) -> PdfRequest:
    """The PDF of ``parameters``: from the cache; rendered now when the report has at most
    ``background_rows`` table rows; otherwise queued for the worker (joining the job of the
    same report if one is queued or running)."""
    prepared = prepare(session, parameters)
    session.rollback()
    cache = report_cache()
    cached = cache.get(prepared.key)
    if cached is not None:
        return PdfRequest(prepared, cached, None, cached=True)
    if prepared.data.detail_rows > background_rows:
        job = enqueue_report(Job(key=prepared.key, parameters=parameters.canonical()))
        return PdfRequest(prepared, None, job)
    pdf, cached_now = report_pdf(prepared, generated_at=now.replace(microsecond=0), cache=cache)
    return PdfRequest(prepared, pdf, None, cached=cached_now)
