"""The hub at a festival with no signal: a country page once visited still shows its numbers
offline, saying when it was saved, while a visitor who is online always gets fresh ones.

The hub's service worker (``static/hub-sw.js``, served as ``/help/sw.js``) keeps the pages;
Chromium's offline emulation (``context.set_offline``) cuts the network of the page and of
its worker alike.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Error as PlaywrightError
from sqlalchemy import update
from sqlalchemy.orm import Session

from grants.domain.hub import new_edition
from grants.models import HubCountry
from grants.seed.hub import seed_hub

NOW = datetime(2026, 11, 28, 9, tzinfo=UTC)
SAVED = "[data-hub-saved]"
CALLS = ".hub-crisis .hub-call"


def wait_until_saved(page: Any) -> None:
    """Wait for the worker to control the page and to hold a saved copy of it. (Polled from
    here: Playwright's own polling evaluates strings, which the app's CSP refuses.)"""
    check = """async () => navigator.serviceWorker.controller !== null
        && Boolean(await (await caches.open('hub-v1')).match(location.href))"""
    deadline = time.monotonic() + 10
    while not page.evaluate(check):
        assert time.monotonic() < deadline, "the page was not saved for offline use"
        page.wait_for_timeout(100)


def test_a_country_page_once_visited_shows_its_crisis_numbers_offline(
    app: Flask, db: Session, live_server: str, contexts: Any
) -> None:
    seed_hub(db, now=NOW)
    db.commit()
    context = contexts()
    page = context.new_page()
    response = page.goto(f"{live_server}/help/GB?lang=en")
    assert response is not None
    assert response.status == 200
    assert response.headers["content-security-policy"].endswith("worker-src 'self'")
    online = page.locator(CALLS).all_inner_texts()
    assert len(online) >= 2, "the seed gives GB at least two crisis lines"
    assert page.locator(SAVED).is_hidden()
    wait_until_saved(page)

    context.set_offline(True)
    page.reload()
    assert page.locator(CALLS).all_inner_texts() == online
    assert "Call 999" in page.locator(".hub-emergency").inner_text()
    notice = page.locator(SAVED)
    assert notice.is_visible()
    assert "saved for offline use on" in notice.inner_text()
    saved_at = page.locator(f"{SAVED} time").get_attribute("datetime")
    assert saved_at is not None
    assert datetime.fromisoformat(saved_at.replace("Z", "+00:00")).year >= 2026
    assert page.locator(f"{SAVED} time").inner_text().strip(), "the date is written out"
    background = page.locator(".hub-emergency").evaluate(
        "(element) => getComputedStyle(element).backgroundColor"
    )
    assert background == "rgb(251, 233, 236)", "the hub's stylesheet was kept too"

    with pytest.raises(PlaywrightError, match="ERR_FAILED"):
        page.goto(f"{live_server}/help/FR?lang=en")
    context.set_offline(False)


def test_an_online_visitor_gets_fresh_numbers_not_the_saved_page(
    app: Flask, db: Session, live_server: str, contexts: Any
) -> None:
    seed_hub(db, now=NOW)
    db.commit()
    page = contexts().new_page()
    page.goto(f"{live_server}/help/GB?lang=en")
    wait_until_saved(page)
    page.reload()
    assert "Also:" not in page.locator(".hub-emergency").inner_text()

    db.execute(
        update(HubCountry).where(HubCountry.code == "GB").values(other_emergency_numbers=["112"])
    )
    new_edition(db, NOW)
    db.commit()
    page.reload()
    assert "112" in page.locator(".hub-emergency").inner_text()
    assert page.locator(SAVED).is_hidden()
