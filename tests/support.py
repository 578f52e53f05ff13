"""Helpers shared by tests: service requirements, forms with their CSRF token, signing in."""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

STRICT = os.environ.get("GRANTS_TEST_REQUIRE_SERVICES") == "1"
"""Set by CI: a test that would skip for a missing component fails instead."""

PASSWORD = "correct horse battery"


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


def form_fields(client: FlaskClient, url: str, action: str | None = None) -> dict[str, str]:
    """The fields, as a browser would send them untouched, of the form on the page at ``url``
    that posts to ``action`` (by default, the form posting back to ``url``): CSRF token and
    idempotency key included."""
    response = client.get(url)
    assert response.status_code == 200, f"{url} answered {response.status_code}"
    reader = _FormReader()
    reader.feed(response.get_data(as_text=True))
    wanted = {action} if action is not None else {"", url}
    forms = [fields for target, fields in reader.forms if target in wanted]
    forms = [fields for fields in forms if "csrf_token" in fields]
    assert forms, f"no form posting to {action} on {url}"
    return forms[0]


def submit(
    client: FlaskClient, url: str, changes: dict[str, str], *, action: str | None = None
) -> TestResponse:
    """Fill the form shown at ``url`` with ``changes`` and post it where it posts."""
    fields = form_fields(client, url, action)
    return client.post(action or url, data={**fields, **changes})
