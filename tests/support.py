"""Helpers shared by tests: service requirements, forms with their CSRF token, signing in,
and counting the SQL statements a step sends."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session, scoped_session
from werkzeug.test import TestResponse

from grants.extensions import db as database
from grants.tasks import huey_of

STRICT = os.environ.get("GRANTS_TEST_REQUIRE_SERVICES") == "1"
"""Set by CI: a test that would skip for a missing component fails instead."""

PASSWORD = "correct horse battery"
WORKER_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""The signals a Huey consumer takes over, and :func:`worker` gives back."""


def require(condition: bool, reason: str) -> None:
    """Skip the test with ``reason`` unless ``condition`` holds; in CI, fail instead."""
    if condition:
        return
    if STRICT:
        pytest.fail(f"required component missing: {reason}")
    pytest.skip(reason)


CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client: FlaskClient, url: str) -> str:
    """The CSRF token of the form on the page at ``url``."""
    response = client.get(url)
    match = CSRF_FIELD.search(response.get_data(as_text=True))
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def post_form(
    client: FlaskClient, url: str, data: dict[str, str], *, form_url: str | None = None
) -> TestResponse:
    """Post ``data`` to ``url`` with the CSRF token of the form shown at ``form_url``."""
    token = csrf_token(client, form_url or url)
    return client.post(url, data={**data, "csrf_token": token})


def login(client: FlaskClient, email: str, password: str = PASSWORD) -> TestResponse:
    """Sign in through the real form."""
    return post_form(client, "/login", {"email": email, "password": password})


def sign_in(app: Flask, email: str, password: str = PASSWORD) -> FlaskClient:
    """A new client of ``app``, signed in as ``email`` through the real form."""
    client = app.test_client()
    response = login(client, email, password)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@contextmanager
def counting_statements(source: Flask | Session | scoped_session[Session]) -> Iterator[list[str]]:
    """The SQL statements sent while the block runs, in order, on the engine of ``source``
    (an application, or a session and whatever it is bound to)."""
    engine: Engine | Connection
    if isinstance(source, Flask):
        with source.app_context():
            engine = database.engine
    else:
        engine = source.get_bind()
    statements: list[str] = []

    def record(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


class _FormReader(HTMLParser):
    """Collects the named inputs, selects and text areas of each form on a page."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append((attributes.get("action", ""), {}))
        elif not self.forms:
            return
        elif tag in {"input", "textarea"} and "name" in attributes:
            if attributes.get("type") in {"checkbox", "radio"} and "checked" not in attributes:
                return
            self.forms[-1][1][attributes["name"]] = attributes.get("value", "")
        elif tag == "select":
            self._select = attributes.get("name")
        elif tag == "option" and self._select:
            fields = self.forms[-1][1]
            if "selected" in attributes or self._select not in fields:
                fields[self._select] = attributes.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def forms_on(client: FlaskClient, url: str) -> list[tuple[str, dict[str, str]]]:
    """The forms on the page at ``url``: where each posts, and its fields as a browser would
    send them untouched."""
    response = client.get(url)
    assert response.status_code == 200, f"{url} answered {response.status_code}"
    reader = _FormReader()
    reader.feed(response.get_data(as_text=True))
    return reader.forms


def form_fields(client: FlaskClient, url: str, action: str | None = None) -> dict[str, str]:
    """The fields, as a browser would send them untouched, of the form on the page at ``url``
    that posts to ``action`` (by default, the form posting back to ``url``): CSRF token and
    idempotency key included."""
    wanted = {action} if action is not None else {"", url}
    forms = [fields for target, fields in forms_on(client, url) if target in wanted]
    forms = [fields for fields in forms if "csrf_token" in fields]
    assert forms, f"no form posting to {action} on {url}"
    return forms[0]


def submit(
    client: FlaskClient, url: str, changes: dict[str, str], *, action: str | None = None
) -> TestResponse:
    """Fill the form shown at ``url`` with ``changes`` and post it where it posts."""
    fields = form_fields(client, url, action)
    return client.post(action or url, data={**fields, **changes})


@contextmanager
def worker(app: Flask, *, periodic: bool = False) -> Iterator[None]:
    """A Huey consumer of ``app``'s queue in this process, with one worker thread (and the
    periodic tasks if ``periodic``), stopped gracefully on leaving; the signal handlers it
    took over are given back."""
    saved: dict[int, Any] = {number: signal.getsignal(number) for number in WORKER_SIGNALS}
    consumer = huey_of(app).create_consumer(
        workers=1, periodic=periodic, initial_delay=0.01, max_delay=0.05, backoff=1.0
    )
    consumer.start()
    try:
        yield
    finally:
        consumer.stop(graceful=True)
        for number, handler in saved.items():
            signal.signal(number, handler)
