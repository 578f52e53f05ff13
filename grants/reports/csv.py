"""The report's tables as CSV: one file per table, and the whole report in one file (the
same bytes the PDF carries as its attachment).

Amounts are plain decimals in major units (``1234.50``) with the currency in its own column,
dates ISO 8601, a figure withheld for privacy (money, or the head count of a group withheld
to protect a smaller one) is an empty cell, a count under five is ``<5``. Text passes
through the payout export's cell guard, so no cell starts a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date
from typing import Any

from grants.domain.money import plain_amount
from grants.domain.payouts import safe_cell
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


def _write(writer: Any, table: Table, currency: str, prefix: Sequence[str]) -> None:
    writer.writerow([*prefix, *(column.key for column in table.columns), "currency"])
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
        writer.writerow([*prefix, *cells, currency])


def table_csv(data: ReportData, table: Table) -> str:
    """One table as CSV, its totals row last."""
    buffer = io.StringIO()
    _write(csv.writer(buffer, lineterminator="\r\n"), table, data.parameters.currency, ())
    return buffer.getvalue()


def report_csv(data: ReportData, fingerprint: str) -> str:
    """Every table of the report in one CSV: a header block naming the report, then each
    table under a header row, its first column naming the table."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    parameters = data.parameters
    writer.writerow(["report", "allocation"])
    writer.writerow(["currency", parameters.currency])
    writer.writerow(["period", parameters.period])
    writer.writerow(["cutoff", parameters.cutoff.isoformat() if parameters.cutoff else "latest"])
    writer.writerow(["ledger_position", str(data.position)])
    writer.writerow(["ledger_fingerprint", fingerprint])
    writer.writerow(["privacy", parameters.privacy.value])
    for table in report_tables(data):
        writer.writerow([])
        _write(writer, table, parameters.currency, (table.name,))
    return buffer.getvalue()
