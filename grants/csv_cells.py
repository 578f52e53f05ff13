"""CSV as the service writes it: CRLF line ends, and no text cell that a spreadsheet would run.

Every CSV the service hands out (the payout export for the bank, the allocation report's
tables) is written by :func:`csv_text`, beside :func:`safe_cell`, the guard each export
passes text typed by people through (names, references) before writing it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""Leading characters that make a spreadsheet read a cell as a formula."""


def safe_cell(value: str) -> str:
    """``value`` made inert for spreadsheets: a leading ``'`` when it would start a formula."""
    return f"'{value}" if value.startswith(FORMULA_TRIGGERS) else value


def csv_text(rows: Iterable[Sequence[str]]) -> str:
    """``rows`` as CSV text, each line ending in CRLF; cells are written as given, so text
    from people passes through :func:`safe_cell` first."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()
