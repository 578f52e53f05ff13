"""Lists a page at a time: the page a pager shows, and how one page of a query is read.

Every list pages the same way. Page numbers count from 1 and a number out of range means
the first page; a number past the last page shows the last page; a page costs two
queries, its count and its rows, however long it is. The web layer only reads the page
number from the request; the domain's lists and the screens' own queries both come here.

A summary that shows only the first few rows of a list and a link to the rest reads them
through a :class:`Recent` statement, built once, into a :class:`Latest`: one query, one row
more than it shows, and no count. Lists of columns (not of models) are read through
SQLAlchemy Core (:func:`core_rows`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Row, Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")
U = TypeVar("U")
AnyRows = Select[*tuple[Any, ...]]
"""A query of any columns."""

PER_PAGE = 25
"""Rows on a page of a list that sets no size of its own."""
MAX_PAGE = 10_000
"""The highest page number a list reads; a higher one means the first page."""


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, with what a pager needs."""

    items: Sequence[T]
    number: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return page_count(self.total, self.per_page)

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages

    def map(self, convert: Callable[[T], U]) -> Page[U]:
        """The same page with each item converted (a row into what a screen shows)."""
        return Page(
            items=[convert(item) for item in self.items],
            number=self.number,
            per_page=self.per_page,
            total=self.total,
        )


@dataclass(frozen=True)
class Latest(Generic[T]):
    """The first rows of a list, and whether it has more."""

    items: Sequence[T]
    more: bool

    def map(self, convert: Callable[[T], U]) -> Latest[U]:
        """The same rows, each converted."""
        return Latest(items=[convert(item) for item in self.items], more=self.more)


class Recent:
    """The first ``count`` rows of a query of columns, and whether more follow: the
    statement, with its ``LIMIT count + 1``, is built once."""

    def __init__(self, query: AnyRows, count: int) -> None:
        self.count = count
        self.statement = query.limit(count + 1)

    def read(self, session: Session, parameters: dict[str, Any] | None = None) -> Latest[Any]:
        """The rows, every column of each, in the query's order (read through Core)."""
        found = core_rows(session, self.statement, parameters)
        return Latest(items=found[: self.count], more=len(found) > self.count)


def core_rows(
    session: Session, query: AnyRows, parameters: dict[str, Any] | None = None
) -> Sequence[Row[Any]]:
    """The rows of ``query``, a query of columns, on the connection of the session's
    transaction: SQLAlchemy Core's execution without the ORM's, which costs about three
    times as much Python for the same statement. Pending changes are flushed first, as
    ``Session.execute`` would."""
    session.flush()
    return session.connection().execute(query, parameters or {}).all()


def page_count(total: int, per_page: int) -> int:
    """How many pages ``total`` rows fill, ``per_page`` to a page; an empty list has one."""
    return max(1, -(-total // per_page))


def page_number(number: int) -> int:
    """``number`` if it is a page number a list reads (1 to ``MAX_PAGE``), else 1."""
    return number if 1 <= number <= MAX_PAGE else 1


def paginate(
    session: Session,
    query: AnyRows,
    number: int,
    per_page: int = PER_PAGE,
    parameters: dict[str, Any] | None = None,
) -> Page[Any]:
    """The ``number``-th page of the first column of ``query`` (its entities, for a query of
    one model), in ``query``'s order; ``parameters`` fill its bound parameters."""
    total, number, offset = _locate(session, query, number, per_page, parameters)
    items = session.scalars(query.limit(per_page).offset(offset), parameters).all()
    return Page(items=items, number=number, per_page=per_page, total=total)


def paginate_rows(
    session: Session,
    query: AnyRows,
    number: int,
    per_page: int = PER_PAGE,
    parameters: dict[str, Any] | None = None,
    *,
    counted: AnyRows | None = None,
) -> Page[Any]:
    """The ``number``-th page of ``query``'s rows, every column of each, in ``query``'s
    order; ``Page.map`` turns the rows into what the caller returns. ``counted``, a query
    of one count, counts the rows instead of wrapping ``query`` in a count (for a query
    whose joins only add columns)."""
    total, number, offset = _locate(session, query, number, per_page, parameters, counted)
    items = core_rows(session, query.limit(per_page).offset(offset), parameters)
    return Page(items=items, number=number, per_page=per_page, total=total)


def _locate(
    session: Session,
    query: AnyRows,
    number: int,
    per_page: int,
    parameters: dict[str, Any] | None,
    counted: AnyRows | None = None,
) -> tuple[int, int, int]:
    """How many rows ``query`` has (``counted`` counts them if given), the page number
    shown and the offset of its first row."""
    if counted is None:
        counted = select(func.count()).select_from(query.order_by(None).subquery())
    total = core_rows(session, counted, parameters)[0][0] or 0
    number = min(page_number(number), page_count(total, per_page))
    return total, number, (number - 1) * per_page
