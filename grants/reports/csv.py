"""The report's tables as CSV: one file per table, and the whole report in one file (the
same bytes the PDF carries as its attachment).

Amounts are plain decimals in major units (``1234.50``) with the currency in its own column,
dates ISO 8601, a figure withheld for privacy (money, or the head count of a group withheld
to protect a smaller one) is an empty cell, a count under five is ``<5``. Text passes
through the service's CSV cell guard (:mod:`grants.csv_cells`), so no cell starts a formula.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

from grants.csv_cells import csv_text, safe_cell
from grants.domain.dates import format_deadline
from grants.domain.money import plain_amount
from grants.reports.queries import ReportData
from grants.reports.tables import Kind, Table, report_tables


def _cell(value: Any, kind: Kind, currency: str) -> str:
    if value is None:
        return ""
    if kind is Kind.MONEY and isinstance(value, int):
        return plain_amount(value, currency)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    return safe_cell(str(value))


def _rows(table: Table, currency: str, prefix: Sequence[str]) -> Iterator[list[str]]:
    """``table`` as CSV rows under its header row, each row starting with ``prefix``."""
    yield [*prefix, *(column.key for column in table.columns), "currency"]
    lines = list(table.rows)
    if table.totals is not None:
        lines.append(table.totals)
    for number, row in enumerate(lines):
        cells = [
            _cell(value, column.kind, currency)
            for value, column in zip(row, table.columns, strict=True)
        ]
        if table.totals is not None and number == len(lines) - 1:
            cells[0] = table.totals_label
        yield [*prefix, *cells, currency]


def table_csv(data: ReportData, table: Table) -> str:
    """One table as CSV, its totals row last."""
    return csv_text(_rows(table, data.parameters.currency, ()))


def report_csv(data: ReportData, fingerprint: str, *, locale: str, time_zone: str) -> str:
    """Every table of the report in one CSV: a header block naming the report, then each
    table under a header row, its first column naming the table.

    The header block gives the period and the cutoff twice: in ISO 8601 for a program to
    read, and as the PDF writes them (in ``locale``, the cutoff in ``time_zone``, named)."""
    parameters = data.parameters
    cutoff = parameters.cutoff
    rows: list[Sequence[str]] = [
        ["report", "allocation"],
        ["currency", parameters.currency],
        ["period", parameters.period],
        ["cutoff", cutoff.isoformat() if cutoff else "latest"],
        ["ledger_position", str(data.position)],
        ["ledger_fingerprint", fingerprint],
        ["privacy", parameters.privacy.value],
        ["period_written", parameters.period_in(locale)],
        [
            "cutoff_written",
            format_deadline(cutoff, time_zone, locale) if cutoff else "latest",
        ],
    ]
    for table in report_tables(data):
        rows.append([])
        rows.extend(_rows(table, parameters.currency, (table.name,)))
    return csv_text(rows)
