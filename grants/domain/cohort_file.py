"""Reading a cohort's CSV: the file's text, its header and every row checked, each problem
with its row number as a spreadsheet shows it (the header is row 1).

The file has a header row and one row per ambassador: name, email, programme (its code),
country (US or GB) and cohort status (upcoming, current or alumni). Columns may come in
any order; headers are read in any case, with ``_`` or ``-`` for a space.

Spreadsheet formulas in cells: a cell that starts with ``=``, or with ``+``, ``-`` or ``@``
followed anywhere by ``(``, ``!`` or ``|`` (``@SUM(A1)``, ``-2+3+cmd|' /C calc'!A0``), is
refused with its row: it is a formula, not the value a person meant, and taking it as text
would only store what the spreadsheet failed to work out. Any other cell starting with
``+``, ``-`` or ``@`` is text: names such as "-Dash" or "@Sia" are real, and the service
never hands a name back unguarded (every page escapes it; every CSV it writes passes it
through :func:`grants.csv_cells.safe_cell`).

A file the service cannot read as CSV is refused whole with a message that says why: not
UTF-8 (saved in another encoding, or not a CSV at all), no header, a line longer than
:data:`LINE_MAX`, more than :data:`ROWS_MAX` rows or :data:`FILE_MAX` bytes. A byte order
mark at the start (Excel's "CSV UTF-8") is accepted.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain.accounts import clean_display_name, normalise_email
from grants.domain.errors import InvalidInput
from grants.models import CohortStatus, Country, Programme

FILE_MAX = 1_000_000
"""The largest file read, in bytes: about 10,000 rows."""

ROWS_MAX = 10_000
"""The most ambassadors one file may hold."""

LINE_MAX = 2_000
"""The longest line read, in characters: no row of five short cells comes near it."""

COLUMNS = ("name", "email", "programme", "country", "cohort status")
"""The header's columns, as the README and the upload page name them."""

SAMPLE_HEADER = "name,email,programme,country,cohort status"
ALIASES = {"program": "programme", "status": "cohort status", "full name": "name"}
"""Other names read for a column."""

FORMULA_START = "="
TEXT_SIGNS = ("+", "-", "@")
FORMULA_MARKS = ("(", "!", "|")
"""A cell starting with :data:`FORMULA_START`, or with one of :data:`TEXT_SIGNS` and
holding one of these, is a formula (see the module doc)."""
SAVE_AS_UTF8 = (
    "This file is not in UTF-8. In your spreadsheet, choose Save As (or Download) and "
    "“CSV UTF-8”, then upload that file."
)


@dataclass(frozen=True)
class RowError:
    """One problem in one row; ``row`` as a spreadsheet numbers it (the header is row 1)."""

    row: int
    column: str
    message: str


@dataclass(frozen=True)
class CohortRow:
    """One ambassador as the file gives them, checked."""

    row: int
    name: str
    email: str
    programme: str
    country: Country
    cohort_status: CohortStatus


# --- reading the file ------------------------------------------------------------------------


def decode(data: bytes) -> str:
    """The file's text: UTF-8, with or without a byte order mark; anything else refused."""
    if not data.strip():
        raise InvalidInput("This file is empty. Choose the CSV file of the cohort.", field="file")
    if len(data) > FILE_MAX:
        raise InvalidInput(
            f"This file is larger than {FILE_MAX // 1_000_000} MB; split the cohort into "
            "several files.",
            field="file",
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InvalidInput(SAVE_AS_UTF8, field="file")
    if data.startswith(b"PK\x03\x04") or b"\x00" in data:
        raise InvalidInput(
            "This is not a CSV file (it looks like a spreadsheet workbook). "
            + SAVE_AS_UTF8.split(". ", 1)[1],
            field="file",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(SAVE_AS_UTF8, field="file") from None
    return text.removeprefix("\ufeff")


def parse(data: bytes) -> tuple[dict[str, int], list[tuple[int, list[str]]]]:
    """The header (each column's position) and the rows (with their row numbers, blank rows
    left out) of a CSV file; :class:`InvalidInput` for a file that cannot be read."""
    text = decode(data)
    for number, line in enumerate(text.splitlines(), start=1):
        if len(line) > LINE_MAX:
            raise InvalidInput(
                f"Line {number} is longer than {LINE_MAX:,} characters: this does not look "
                "like a list of ambassadors. Check that you chose the right file.",
                field="file",
            )
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[tuple[int, list[str]]] = []
    number = 0
    try:
        for number, cells in enumerate(reader, start=1):
            if any(cell.strip() for cell in cells):
                records.append((number, cells))
            if len(records) > ROWS_MAX + 1:
                raise InvalidInput(
                    f"This file has more than {ROWS_MAX:,} rows; split the cohort into "
                    "several files.",
                    field="file",
                )
    except csv.Error:
        raise InvalidInput(
            f"Row {number + 1} cannot be read as CSV: a quotation mark in it is not closed, "
            "or text follows a closing one. Correct it, or save the file again as CSV UTF-8.",
            field="file",
        ) from None
    if not records:
        raise InvalidInput("This file is empty. Choose the CSV file of the cohort.", field="file")
    header = _header(records[0][1])
    return header, records[1:]


def _header(cells: list[str]) -> dict[str, int]:
    names = [_column_name(cell) for cell in cells]
    if len(cells) == 1 and ";" in cells[0]:
        raise InvalidInput(
            "This file separates its columns with semicolons. Save it as “CSV UTF-8 (comma "
            "delimited)” and upload it again.",
            field="file",
        )
    missing = [name for name in COLUMNS if name not in names]
    if missing:
        found = ", ".join(cell.strip() for cell in cells if cell.strip())[:200]
        raise InvalidInput(
            f"The first row must be the header: {SAMPLE_HEADER}. This file's first row is "
            f"“{found}”, without {listed(missing)}.",
            field="file",
        )
    unknown = [
        cell.strip()
        for cell, name in zip(cells, names, strict=True)
        if name and name not in COLUMNS
    ]
    if unknown:
        raise InvalidInput(
            f"The header has columns this import does not know: {listed(unknown)[:200]}. "
            f"Keep only {SAMPLE_HEADER}.",
            field="file",
        )
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if repeated:
        raise InvalidInput(f"The header names {listed(repeated)} twice.", field="file")
    return {name: names.index(name) for name in COLUMNS}


def _column_name(cell: str) -> str:
    name = " ".join(cell.replace("_", " ").replace("-", " ").split()).lower()
    return ALIASES.get(name, name)


def listed(names: Sequence[str]) -> str:
    quoted = [f"“{name}”" for name in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


# --- checking the rows -----------------------------------------------------------------------


def is_formula(cell: str) -> bool:
    """Whether ``cell`` is a spreadsheet formula rather than a value (see the module doc)."""
    text = cell.strip()
    if text.startswith(FORMULA_START):
        return True
    return text.startswith(TEXT_SIGNS) and any(mark in text for mark in FORMULA_MARKS)


def check(
    session: Session, header: dict[str, int], records: Iterable[tuple[int, list[str]]]
) -> tuple[list[CohortRow], list[RowError]]:
    """Every row checked: the good ones, and every error of the others (a row with any error
    is left out of the first list). An email address in an earlier row is an error."""
    programmes = sorted(session.scalars(select(Programme.code).where(Programme.active.is_(True))))
    good: list[CohortRow] = []
    errors: list[RowError] = []
    first_seen: dict[str, int] = {}
    for number, cells in records:
        checked = _check_row(number, _cells(header, cells), programmes)
        if isinstance(checked, CohortRow) and checked.email in first_seen:
            checked = [
                RowError(
                    number,
                    "email",
                    f"{checked.email} is also in row {first_seen[checked.email]}: list each "
                    "person once.",
                )
            ]
        if isinstance(checked, CohortRow):
            first_seen[checked.email] = number
            good.append(checked)
        else:
            errors.extend(checked)
    return good, errors


def _cells(header: dict[str, int], cells: list[str]) -> dict[str, str] | None:
    """A row's cells by column, or ``None`` for a row with more cells than the header."""
    if any(cell.strip() for cell in cells[len(header) :]):
        return None
    return {
        column: cells[position] if position < len(cells) else ""
        for column, position in header.items()
    }


def _check_row(
    number: int, values: dict[str, str] | None, programmes: list[str]
) -> CohortRow | list[RowError]:
    if values is None:
        return [RowError(number, "", "This row has more cells than the header has columns.")]
    formulas = [
        RowError(
            number,
            column,
            f"“{value.strip()[:60]}” is a spreadsheet formula, not a {column}: type the "
            f"{column} itself.",
        )
        for column, value in values.items()
        if is_formula(value)
    ]
    if formulas:
        return formulas
    errors: list[RowError] = []
    name = _checked(errors, number, "name", clean_display_name, values["name"])
    email = _checked(errors, number, "email", _email, values["email"])
    code = values["programme"].strip().upper()
    if not code:
        errors.append(RowError(number, "programme", "Enter the programme's code."))
    elif code not in programmes:
        errors.append(
            RowError(
                number,
                "programme",
                f"There is no open programme “{values['programme'].strip()[:40]}”: use "
                f"{listed(programmes) if programmes else 'an open programme'}.",
            )
        )
    country = _choice(errors, number, "country", values["country"], Country, "US or GB")
    status = _choice(
        errors,
        number,
        "cohort status",
        values["cohort status"],
        CohortStatus,
        "upcoming, current or alumni",
    )
    if errors or name is None or email is None or country is None or status is None:
        return errors
    return CohortRow(number, name, email, code, Country(country), CohortStatus(status))


def _checked(
    errors: list[RowError], row: int, column: str, read: Callable[[str], str], raw: str
) -> str | None:
    try:
        return read(raw)
    except InvalidInput as error:
        errors.append(RowError(row, column, error.message))
        return None


def _email(raw: str) -> str:
    try:
        return normalise_email(raw)
    except InvalidInput as error:
        shown = raw.strip()[:80]
        if not shown:
            raise
        reason = error.message.removeprefix("That is not a valid email address: ")
        raise InvalidInput(f"“{shown}” is not a valid email address: {reason}") from None


def _choice(
    errors: list[RowError],
    row: int,
    column: str,
    raw: str,
    kind: type[StrEnum],
    allowed: str,
) -> str | None:
    text = raw.strip()
    wanted = text.upper() if kind is Country else text.lower()
    if wanted in {member.value for member in kind}:
        return wanted
    if not text:
        errors.append(RowError(row, column, f"Enter the {column}: {allowed}."))
    elif kind is Country and wanted == "UK":
        errors.append(RowError(row, column, "Write the United Kingdom as GB."))
    else:
        errors.append(RowError(row, column, f"“{text[:40]}” is not a {column}: use {allowed}."))
    return None
