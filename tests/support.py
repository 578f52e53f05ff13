"""Helpers shared by tests: service requirements, forms with their CSRF token, signing in."""

from __future__ import annotations

import os
import re

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
