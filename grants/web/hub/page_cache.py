"""The public hub's pages kept in memory, for visitors who are not signed in.

Rendering a country's page (its crisis lines, a page of other services, each in the
visitor's language) is nearly all a hub request costs, and a crowd at a festival asks for
the same few pages again and again. So each process keeps the pages it rendered, under
everything a page is made from:

- the hub's edition (:func:`grants.domain.hub_directory.edition`): publishing a version,
  renaming an organisation by import or writing a country's emergency number raises it, and
  nothing rendered before is served again, by any process;
- the minute: whether a service is open now, and which crisis lines are past their check,
  change with the clock, so a page is never served in a later minute than it was made in;
- the page's language, the address with its query string, and whatever else its view
  reads from the request (the country the chooser offers first).

A page is kept and served only to visitors who are not signed in and have no message
waiting to be shown (a page for someone signed in carries their name, and is never kept),
and only for an address of at most :data:`ADDRESS_MAX` characters.
Each process holds at most ``HUB_PAGE_CACHE_BYTES`` of pages (0 keeps none) and drops the
least recently used first (a page counts its body and its key); a new edition or minute
empties it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

from flask import current_app, request, session
from flask.sansio.app import App
from flask_login import current_user

from grants import clock
from grants.domain import hub_directory as directory
from grants.extensions import db
from grants.i18n import chosen_language

EXTENSION = "hub_pages"
"""Where an application keeps its :class:`PageStore` (``app.extensions``)."""

Page = tuple[bytes, int]
"""A rendered page: its body (UTF-8) and its status."""
ADDRESS_MAX = 1024
"""A page whose address (path and query string) is longer is not kept: only wrong input is
that long, and the address is part of the key the store holds besides the page."""


Moment = tuple[datetime, int]
"""The minute a page was made in and the hub's edition then: later minutes sort later, and
within a minute, later editions."""


class PageStore:
    """Rendered pages of one minute and edition, by key, up to ``max_bytes`` of them (each
    page's body and the text of its key)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._pages: OrderedDict[tuple[str, ...], tuple[Page, int]] = OrderedDict()
        self._held = 0
        self._moment: Moment | None = None
        self._lock = threading.Lock()

    @property
    def held(self) -> int:
        """Bytes of pages and keys held now."""
        return self._held

    def _at(self, moment: Moment) -> bool:
        """Whether ``moment`` is the store's: a later one empties the store and becomes its
        moment; an earlier one (a request that read the edition just before a change, or a
        clock a little behind) is neither served nor kept."""
        if self._moment is None or moment > self._moment:
            self._pages.clear()
            self._held = 0
            self._moment = moment
        return moment == self._moment

    def get(self, moment: Moment, key: tuple[str, ...]) -> Page | None:
        """The page kept under ``key`` at ``moment``, if any."""
        with self._lock:
            if not self._at(moment):
                return None
            found = self._pages.get(key)
            if found is None:
                return None
            self._pages.move_to_end(key)
            return found[0]

    def put(self, moment: Moment, key: tuple[str, ...], page: Page) -> None:
        """Keep ``page`` under ``key`` at ``moment``, dropping the least recently used pages
        to stay within the limit (a page larger than the limit is not kept)."""
        size = len(page[0]) + sum(len(part) for part in key)
        if size > self.max_bytes:
            return
        with self._lock:
            if not self._at(moment) or key in self._pages:
                return
            while self._held + size > self.max_bytes:
                _, (_, dropped) = self._pages.popitem(last=False)
                self._held -= dropped
            self._pages[key] = (page, size)
            self._held += size


def install(app: App) -> None:
    """Give ``app`` its store of pages, sized by ``HUB_PAGE_CACHE_BYTES``."""
    app.extensions[EXTENSION] = PageStore(int(app.config["HUB_PAGE_CACHE_BYTES"]))


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def kept_page(render: Callable[[], tuple[str, int]], *made_from: str) -> Page:
    """The page ``render`` makes for this request, from the store when it holds one made
    this minute, in this edition and language, for this address and ``made_from`` (what
    else the view read from the request). Rendered afresh, and never kept, for someone
    signed in or with a message waiting, or for an address longer than :data:`ADDRESS_MAX`."""
    store: PageStore | None = current_app.extensions.get(EXTENSION)
    if (
        store is None
        or store.max_bytes <= 0
        or len(request.full_path) > ADDRESS_MAX
        or current_user.is_authenticated
        or "_flashes" in session
    ):
        body, status = render()
        return body.encode(), status
    moment = (_minute(clock.now()), directory.edition(db.session()))
    key = (chosen_language(), request.full_path, *made_from)
    page = store.get(moment, key)
    if page is None:
        body, status = render()
        page = (body.encode(), status)
        store.put(moment, key, page)
    return page
