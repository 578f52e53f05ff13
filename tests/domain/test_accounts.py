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
    end_sessions,
    normalise_email,
    set_password,
    set_user_active,
)
from grants.domain.errors import Conflict, InvalidInput, InvalidState, NotAllowed, WeakPassword
from grants.models import AuditEvent, Role, User
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


def events(db: Session, user: User) -> list[str]:
    return list(
        db.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.object_type == "user", AuditEvent.object_id == user.id)
            .order_by(AuditEvent.seq)
        )
    )


def test_signing_out_and_a_new_password_move_the_session_version_on(db: Session) -> None:
    user = create_user(
        db,
        email="sam@example.org",
        display_name="Sam Stone",
        password="kx7-qv2-mz9p",
        roles=[Role.RECIPIENT],
        hasher=password_hasher(),
        rules=password_rules(),
    )
    db.flush()
    assert user.session_version == 1
    end_sessions(db, user)
    assert user.session_version == 2
    old_hash = user.password_hash
    set_password(
        db, user=user, password="a brand new passphrase", hasher=password_hasher(), rules=RULES
    )
    assert user.session_version == 3
    assert user.password_hash != old_hash
    assert password_hasher().verify(user.password_hash or "", "a brand new passphrase")
    assert events(db, user) == ["user.set_password"]
    db.commit()

    with pytest.raises(WeakPassword, match="your email address or your name"):
        set_password(
            db, user=user, password="sam@example.org", hasher=password_hasher(), rules=RULES
        )
    db.rollback()
    db.refresh(user)
    assert user.session_version == 3
    assert events(db, user) == ["user.set_password"]


def test_only_an_admin_deactivates_never_themselves_and_a_key_replays(db: Session) -> None:
    def person(email: str, role: Role) -> User:
        return create_user(
            db,
            email=email,
            display_name=email.split("@")[0],
            password=None,
            roles=[role],
            hasher=password_hasher(),
            rules=password_rules(),
        )

    admin, manager, sam = (
        person("ada@example.org", Role.ADMIN),
        person("mo@example.org", Role.MANAGER),
        person("sam@example.org", Role.RECIPIENT),
    )
    db.flush()
    with pytest.raises(NotAllowed, match="cannot deactivate users"):
        set_user_active(db, key="m-1", actor=manager, user_id=sam.id, active=False)
    with pytest.raises(NotAllowed, match="cannot deactivate your own account"):
        set_user_active(db, key="a-1", actor=admin, user_id=admin.id, active=False)
    assert admin.active

    first = set_user_active(db, key="a-2", actor=admin, user_id=sam.id, active=False)
    again = set_user_active(db, key="a-2", actor=admin, user_id=sam.id, active=False)
    assert again.replayed
    assert again.object_id == first.object_id == sam.id
    assert (sam.active, sam.session_version) == (False, 2)
    with pytest.raises(InvalidState, match="already deactivated"):
        set_user_active(db, key="a-3", actor=admin, user_id=sam.id, active=False)

    set_user_active(db, key="a-4", actor=admin, user_id=sam.id, active=True)
    assert (sam.active, sam.session_version) == (True, 2)
    assert events(db, sam) == ["user.deactivate", "user.reactivate"]
