"""Steps a person takes in the browser, shared by the browser tests."""

from __future__ import annotations

from typing import Any

from tests.support import PASSWORD


def sign_in(page: Any, base_url: str, email: str, password: str = PASSWORD) -> None:
    """Sign in through the real form and wait for the page it leads to."""
    page.goto(f"{base_url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
