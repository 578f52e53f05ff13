"""The one pager every list uses: page numbers read the same way everywhere, a page past the
last shows the last, an empty list has one page, and rows turn into what a screen shows."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from grants.domain.paging import MAX_PAGE, Recent, paginate, paginate_rows
from grants.models import User
from tests.factories import make_user

NAMES = select(User.display_name).where(User.display_name.like("Paged %"))


def people(db: Session, count: int) -> list[str]:
    """``count`` people named in the order the queries sort them."""
    names = [f"Paged {number:02}" for number in range(count)]
    for name in names:
        make_user(db, name=name, password=None)
    return names


def test_a_page_holds_its_share_of_the_list_in_order(db: Session) -> None:
    names = people(db, 7)
    query = NAMES.order_by(User.display_name)
    middle = paginate(db, query, 2, per_page=3)
    assert list(middle.items) == names[3:6]
    assert (middle.number, middle.pages, middle.total) == (2, 3, 7)
    assert middle.has_previous
    assert middle.has_next
    last = paginate(db, query, 3, per_page=3)
    assert list(last.items) == names[6:]
    assert last.has_previous
    assert not last.has_next


@pytest.mark.parametrize(("asked", "shown"), [(99, 3), (0, 1), (-4, 1), (MAX_PAGE + 1, 1)])
def test_a_page_past_the_last_shows_the_last_and_a_number_out_of_range_the_first(
    db: Session, asked: int, shown: int
) -> None:
    names = people(db, 7)
    page = paginate(db, NAMES.order_by(User.display_name), asked, per_page=3)
    assert page.number == shown
    assert list(page.items) == names[(shown - 1) * 3 : shown * 3]


def test_an_empty_list_has_one_page_and_no_neighbours(db: Session) -> None:
    page = paginate(db, NAMES.order_by(User.display_name), 5, per_page=3)
    assert (list(page.items), page.number, page.pages, page.total) == ([], 1, 1, 0)
    assert not page.has_previous
    assert not page.has_next


def test_a_page_of_rows_keeps_every_column_and_converts_without_moving(db: Session) -> None:
    names = people(db, 5)
    query = (
        select(User.display_name, User.email)
        .where(User.display_name.like("Paged %"))
        .order_by(User.display_name.desc())
    )
    page = paginate_rows(db, query, 2, per_page=2).map(lambda row: f"{row[0]} <{row[1]}>")
    emails = {u.display_name: u.email for u in db.scalars(select(User))}
    assert list(page.items) == [f"{name} <{emails[name]}>" for name in names[2:0:-1]]
    assert (page.number, page.per_page, page.total, page.pages) == (2, 2, 5, 3)


@pytest.mark.parametrize(("count", "more"), [(0, False), (3, False), (4, True), (9, True)])
def test_the_latest_rows_say_whether_more_follow_without_counting(
    db: Session, count: int, more: bool
) -> None:
    """A summary of three rows links to the rest only when a fourth exists: exactly three
    rows is no "more"."""
    names = people(db, count)
    query = NAMES.order_by(User.display_name)
    first = Recent(query, 3).read(db).map(lambda row: row[0])
    assert (list(first.items), first.more) == (names[:3], more)


def test_the_latest_rows_fill_bound_parameters_and_convert(db: Session) -> None:
    names = people(db, 5)
    query = (
        select(User.display_name, User.email)
        .where(User.display_name.like(bindparam("pattern")))
        .order_by(User.display_name.desc())
    )
    found = Recent(query, 2).read(db, {"pattern": "Paged %"}).map(lambda row: row[0])
    assert (list(found.items), found.more) == ([names[4], names[3]], True)
