"""A live server on loopback and Debian's Chromium driven by Playwright.

Each test gets the application on its own database (as every other test does), served by a
threaded WSGI server on an ephemeral port, and a fresh browser. A failing test leaves a
screenshot of every page it had open under ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.support import require

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
"""Flags that let Chromium run as root, offline, without reaching out to the network."""
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test item, so fixtures can tell a failed test."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The application served on 127.0.0.1 at an ephemeral port; its base URL, which is
    also the public address links in emails start with."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base_url = f"http://127.0.0.1:{server.server_port}"
    app.config["PUBLIC_URL"] = base_url
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base_url
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, for the whole run."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "the playwright package is not installed (pip install -e '.[test]')")
    require(
        shutil.which(CHROMIUM) is not None,
        f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)",
    )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def contexts(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A factory of fresh browser contexts (separate cookies: separate people); on failure,
    a screenshot of every page they had open."""
    opened: list[Any] = []

    def new_context() -> Any:
        context = browser.new_context()
        context.set_default_timeout(10_000)
        opened.append(context)
        return context

    yield new_context

    failed = getattr(request.node, "report_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        for number, context in enumerate(opened):
            for page_number, page in enumerate(context.pages):
                page.screenshot(path=ARTIFACTS / f"{name}-{number}-{page_number}.png")
    for context in opened:
        context.close()
