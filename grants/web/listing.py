"""What a list screen reads from its request: the search, the sort column from a whitelist,
and the page number (``grants.domain.paging`` reads the page itself)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Request
from sqlalchemy import Select

from grants.domain.paging import MAX_PAGE


@dataclass(frozen=True)
class Sort:
    """The column a list is sorted by, chosen from a whitelist, and the direction."""

    key: str
    descending: bool

    def toggled(self, key: str) -> str:
        """The ``sort`` parameter of a link to sort by ``key``: reversed if already so."""
        if key == self.key:
            return key if self.descending else f"-{key}"
        return key


def requested_sort(request: Request, columns: Mapping[str, Any], default: str) -> Sort:
    """The ``sort`` parameter if it names a whitelisted column (``-`` prefix: descending),
    else ``default``."""
    raw = request.args.get("sort", default)
    descending = raw.startswith("-")
    key = raw.removeprefix("-")
    if key not in columns:
        return Sort(default.removeprefix("-"), default.startswith("-"))
    return Sort(key, descending)


def requested_page(request: Request) -> int:
    """The ``page`` parameter as a page number from 1; anything else means page 1."""
    number = whole_number(request.args.get("page", "1"), digits=len(str(MAX_PAGE)))
    return number if number is not None and 0 < number <= MAX_PAGE else 1


def whole_number(raw: str, digits: int = 9) -> int | None:
    """``raw`` as a whole number if it is at most ``digits`` ASCII digits, else ``None``:
    ``str.isdigit`` also accepts digits ``int`` refuses (``²``), and a longer number would
    not fit a database integer (PostgreSQL's ``integer`` stops at 2,147,483,647)."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > digits:
        return None
    return int(raw)


def record_id(value: object) -> int:
    """A record's id as a form sends it, for a field's ``coerce``: anything but a plain
    number that fits a database integer is refused (``ValueError``: an invalid choice)."""
    number = whole_number(str(value))
    if number is None:
        raise ValueError("not a record id")
    return number


def order_by(
    query: Select[Any], sort: Sort, columns: Mapping[str, Any], tiebreak: Any
) -> Select[Any]:
    """``query`` ordered by the sort column, then by ``tiebreak`` so pages never overlap."""
    column = columns[sort.key]
    return query.order_by(column.desc() if sort.descending else column.asc(), tiebreak)


def like_pattern(text: str) -> str:
    """A case-insensitive ``LIKE`` pattern matching ``text`` anywhere, wildcards escaped."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"
