"""The account rules in the domain, at their boundaries."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.domain.accounts import (
    PasswordRules,
    check_password_strength,
    clean_display_name,
    create_user,
    normalise_email,
)
from grants.domain.errors import Conflict, InvalidInput, WeakPassword
from grants.models import Role, User
from grants.security import password_hasher, password_rules

RULES = PasswordRules(min_length=12)


def strength(password: str) -> None:
    check_password_strength(
        password, email="sam@example.org", display_name="Sam Stone", rules=RULES
    )


def test_password_length_boundary() -> None:
    with pytest.raises(WeakPassword, match="at least 12"):
        strength("kx7-qv2-mz9")  # 11 characters
    strength("kx7-qv2-mz9p")  # 12 characters
    strength("k" * 1020 + "x7qv")  # 1024 characters
    with pytest.raises(WeakPassword, match="at most 1024"):
        strength("k" * 1021 + "x7qv")


@pytest.mark.parametrize(
    "password",
    ["Password1234", "QWERTYUIOP12", "aaaaaaaaaaaaaa", "abababababab12", "sam@example.org"],
)
def test_guessable_passwords_are_refused(password: str) -> None:
    with pytest.raises(WeakPassword):
        strength(password)


def test_a_password_equal_to_the_name_is_refused() -> None:
    with pytest.raises(WeakPassword, match="your email address or your name"):
        check_password_strength(
            "Samantha Stoneworth",
            email="sam@example.org",
            display_name="Samantha Stoneworth",
            rules=RULES,
        )


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [("  Sam@Example.ORG ", "sam@example.org"), ("o'brien@example.co.uk", "o'brien@example.co.uk")],
)
def test_emails_are_normalised(raw: str, normalised: str) -> None:
    assert normalise_email(raw) == normalised


@pytest.mark.parametrize(
    "raw", ["", "   ", "no-at-sign", "two@@example.org", "a@b", "x" * 250 + "@example.org"]
)
def test_malformed_emails_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalise_email(raw)
    assert caught.value.field == "email"


def test_display_name_boundaries() -> None:
    assert clean_display_name("  Sam \t Stone ") == "Sam Stone"
    assert clean_display_name("S" * 120) == "S" * 120
    with pytest.raises(InvalidInput, match="at most 120"):
        clean_display_name("S" * 121)
    with pytest.raises(InvalidInput, match="Enter a name"):
        clean_display_name(" \n ")
    with pytest.raises(InvalidInput, match="control characters"):
        clean_display_name("Sam\x00Stone")


def test_create_user_needs_a_role_and_writes_nothing_on_refusal(db: Session) -> None:
    with pytest.raises(InvalidInput, match="at least one role"):
        create_user(
            db,
            email="sam@example.org",
            display_name="Sam",
            password="kx7-qv2-mz9p",
            roles=[],
            hasher=password_hasher(),
            rules=password_rules(),
        )
    assert db.scalar(select(func.count()).select_from(User)) == 0


def test_create_user_refuses_an_email_taken_in_another_case(db: Session) -> None:
    arguments = {
        "display_name": "Sam",
        "password": None,
        "roles": [Role.RECIPIENT],
        "hasher": password_hasher(),
        "rules": password_rules(),
    }
    create_user(db, email="sam@example.org", **arguments)  # type: ignore[arg-type]
    with pytest.raises(Conflict):
        create_user(db, email="SAM@example.org", **arguments)  # type: ignore[arg-type]
    assert db.scalar(select(func.count()).select_from(User)) == 1
