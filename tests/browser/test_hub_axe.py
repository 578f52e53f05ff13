"""The hub's public pages in every language it speaks: no serious or critical accessibility
violation by axe-core, and nothing wider than a 390 px phone screen.

axe-core is the engine the other browser tests use, vendored under
``tests/browser/vendor/axe-core/`` and given to each page as an init script (the app's CSP
rightly refuses a ``<script>`` added to the page). Each page is checked at 390 px wide, the
width of a common phone, where the document must not scroll sideways.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain.hub import HUB_LANGUAGES
from grants.models import Facet, HubService, HubServiceFacet
from grants.seed.hub import seed_hub
from tests.browser.test_accessibility import AXE, blocking_violations
from tests.support import require

NOW = datetime(2026, 11, 28, 9, tzinfo=UTC)
PHONE = {"width": 390, "height": 844}


def hub_pages(db: Session) -> list[str]:
    """The chooser, a country's page, a filtered one, and a service's page."""
    service_id = db.scalar(
        select(HubService.id)
        .join(HubServiceFacet, HubServiceFacet.service_id == HubService.id)
        .where(
            HubService.published_version_id.is_not(None),
            HubServiceFacet.facet == Facet.COUNTRY,
            HubServiceFacet.value == "GB",
        )
        .order_by(HubService.id)
        .limit(1)
    )
    assert service_id is not None, "the seed publishes services for GB"
    return [
        "/help/",
        "/help/GB",
        "/help/GB?topic=crisis&channel=call&free=1&q=music",
        "/help/BR",
        f"/help/services/{service_id}",
    ]


@pytest.mark.parametrize("language", HUB_LANGUAGES)
def test_hub_pages_have_no_serious_violation_and_fit_a_phone(
    language: str, app: Flask, db: Session, live_server: str, contexts: Any
) -> None:
    require(AXE.is_file(), f"axe-core is missing at {AXE}")
    seed_hub(db, now=NOW)
    db.commit()
    page = contexts().new_page()
    page.add_init_script(path=str(AXE))
    page.set_viewport_size(PHONE)
    problems: dict[str, list[str]] = {}
    for path in hub_pages(db):
        joiner = "&" if "?" in path else "?"
        response = page.goto(f"{live_server}{path}{joiner}lang={language}")
        assert response is not None
        assert response.status == 200, (path, response.status)
        assert page.locator("html").get_attribute("lang") == language.replace("_", "-")
        found = blocking_violations(page)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            wide = page.evaluate(
                """(limit) => [...document.querySelectorAll('body *')]
                    .filter((element) => element.getBoundingClientRect().right > limit)
                    .slice(0, 5)
                    .map((element) => element.outerHTML.slice(0, 120))""",
                PHONE["width"],
            )
            found.append(f"scrolls sideways: {width} px wide; widest: {wide}")
        if found:
            problems[path] = found
    assert not problems, problems

    page.evaluate(
        "() => { const wide = document.createElement('p'); wide.style.width = '600px';"
        " wide.textContent = 'wide'; document.body.append(wide); }"
    )
    assert page.evaluate("document.documentElement.scrollWidth") > PHONE["width"], (
        "the measure sees a page wider than the phone"
    )
