"""Accounts: creating users, checking passwords, signing in, ending sessions, deactivating."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Table, bindparam, exists, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grants import clock
from grants.domain import audit
from grants.domain.checks import require_role
from grants.domain.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    InvalidState,
    NotAllowed,
    NotFound,
    WeakPassword,
)
from grants.domain.idempotency import Receipt, idempotent
from grants.domain.statements import Prepared
from grants.models import DEFAULT_DAILY_EMAIL_TIME, Invitation, Role, User, UserRole

DISPLAY_NAME_MAX = 120
EMAIL_MAX = 254
PASSWORD_MAX = 1024
"""Longer passwords are refused so that hashing cannot be used to exhaust the server."""

COMMON_PASSWORDS = frozenset(
    {
        "password1234",
        "password12345",
        "password123456",
        "123456789012",
        "1234567890123",
        "qwertyuiop12",
        "qwertyuiopas",
        "iloveyou1234",
        "letmein12345",
        "welcome12345",
        "administrator",
        "changeme1234",
        "passwordpassword",
        "aaaaaaaaaaaa",
        "abcdefghijkl",
        "abc123abc123",
    }
)
"""A short list of passwords refused outright; length and variety checks catch the rest."""


@dataclass(frozen=True)
class PasswordRules:
    """The password policy a deployment enforces."""

    min_length: int = 12


def normalise_email(raw: str) -> str:
    """Return ``raw`` as a canonical lower-case address, or raise :class:`InvalidInput`."""
    candidate = raw.strip()
    if not candidate:
        raise InvalidInput("Enter an email address.", field="email")
    if len(candidate) > EMAIL_MAX:
        raise InvalidInput(f"An email address has at most {EMAIL_MAX} characters.", field="email")
    try:
        validated = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as error:
        raise InvalidInput(f"That is not a valid email address: {error}", field="email") from None
    return validated.normalized.lower()


def clean_display_name(raw: str) -> str:
    """Return a trimmed display name, refusing an empty, overlong or unprintable one."""
    name = " ".join(raw.split())
    if not name:
        raise InvalidInput("Enter a name.", field="display_name")
    if len(name) > DISPLAY_NAME_MAX:
        raise InvalidInput(
            f"A name has at most {DISPLAY_NAME_MAX} characters.", field="display_name"
        )
    if any(unicodedata.category(character).startswith("C") for character in name):
        raise InvalidInput("A name cannot contain control characters.", field="display_name")
    return name


def check_password_strength(
    password: str, *, email: str, display_name: str, rules: PasswordRules
) -> None:
    """Raise :class:`WeakPassword` unless ``password`` meets the policy."""
    if len(password) < rules.min_length:
        raise WeakPassword(f"Choose a password of at least {rules.min_length} characters.")
    if len(password) > PASSWORD_MAX:
        raise WeakPassword(f"A password has at most {PASSWORD_MAX} characters.")
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(lowered)) < 5:
        raise WeakPassword("That password is too easy to guess; choose a less common one.")
    local_part = email.split("@", 1)[0].lower()
    personal = {
        email.lower(),
        local_part,
        display_name.lower(),
        display_name.lower().replace(" ", ""),
    }
    if lowered in personal:
        raise WeakPassword("A password cannot be your email address or your name.")


def find_user_by_email(session: Session, email: str) -> User | None:
    """The user with ``email`` (any case), or ``None``."""
    return session.scalar(select(User).where(User.email == email.strip().lower()))


_USER_ID_BY_EMAIL = select(User.id).where(User.email == bindparam("email"))


def find_user_id_by_email(session: Session, email: str) -> int | None:
    """The id of the user with ``email`` (any case), or ``None``: :func:`find_user_by_email`
    without loading the user and their roles."""
    found: int | None = (
        session.connection().execute(_USER_ID_BY_EMAIL, {"email": email.strip().lower()}).scalar()
    )
    return found


def create_user(
    session: Session,
    *,
    email: str,
    display_name: str,
    password: str | None,
    roles: Iterable[Role],
    hasher: PasswordHasher,
    rules: PasswordRules,
    locale: str = "en_US",
) -> User:
    """Create a user holding ``roles``; ``password=None`` leaves them unable to sign in yet.

    Raises :class:`InvalidInput` (or :class:`WeakPassword`) for bad input and
    :class:`Conflict` when the email is taken, writing nothing in either case.
    """
    new = new_user(
        email=email,
        display_name=display_name,
        password=password,
        roles=roles,
        hasher=hasher,
        rules=rules,
    )
    if find_user_by_email(session, new.email) is not None:
        raise Conflict(f"A user with the email {new.email} already exists.")

    user = User(
        email=new.email,
        display_name=new.display_name,
        password_hash=new.password_hash,
        locale=locale,
    )
    for role in new.roles:
        user.grant_role(role)
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError:
        raise Conflict(f"A user with the email {new.email} already exists.") from None
    return user


@dataclass(frozen=True)
class NewUser:
    """A user about to be created, checked: clean email and name, roles, password hashed."""

    email: str
    display_name: str
    password_hash: str | None
    roles: list[Role]


def new_user(
    *,
    email: str,
    display_name: str,
    password: str | None,
    roles: Iterable[Role],
    hasher: PasswordHasher,
    rules: PasswordRules,
) -> NewUser:
    """Check what :func:`create_user` is given and hash the password: :class:`InvalidInput`
    (or :class:`WeakPassword`) for bad input."""
    address = normalise_email(email)
    name = clean_display_name(display_name)
    wanted = list(dict.fromkeys(Role(role) for role in roles))
    if not wanted:
        raise InvalidInput("Give the user at least one role.", field="roles")
    password_hash = None
    if password is not None:
        check_password_strength(password, email=address, display_name=name, rules=rules)
        password_hash = hasher.hash(password)
    return NewUser(address, name, password_hash, wanted)


_users: Table = User.__table__  # type: ignore[assignment]


def _user_statement(dialect: Any) -> Prepared:
    insert_into = postgresql.insert if dialect is postgresql else sqlite.insert
    fields = (
        "email",
        "display_name",
        "password_hash",
        "active",
        "locale",
        "created_at",
        "session_version",
        "daily_email_time",
    )
    return Prepared(
        insert_into(_users)
        .values({name: bindparam(name) for name in fields})
        .on_conflict_do_nothing(index_elements=[_users.c.email])
        .returning(_users.c.id)
    )


_NEW_USERS = {"postgresql": _user_statement(postgresql), "sqlite": _user_statement(sqlite)}
"""Per dialect: write a user unless their email is taken."""
_NEW_ROLE = Prepared(insert(UserRole).values(user_id=bindparam("user_id"), role=bindparam("role")))


def insert_user(session: Session, new: NewUser, *, locale: str) -> int:
    """Write ``new`` (from :func:`new_user`) and its roles, returning its id, without loading
    it: :func:`create_user` for an operation that only needs the id (a claim by a new
    recipient). :class:`Conflict` when the email is taken, writing nothing: the insert
    ignores a duplicate email (on PostgreSQL it waits for a concurrent one to commit or roll
    back), so no savepoint is needed to survive one.
    """
    written = (
        _NEW_USERS[session.get_bind().dialect.name]
        .run(
            session,
            {
                "email": new.email,
                "display_name": new.display_name,
                "password_hash": new.password_hash,
                "active": True,
                "locale": locale,
                "created_at": clock.now(),
                "session_version": 1,
                "daily_email_time": DEFAULT_DAILY_EMAIL_TIME,
            },
        )
        .fetchone()
    )
    if written is None:
        raise Conflict(f"A user with the email {new.email} already exists.")
    user_id: int = written[0]
    _NEW_ROLE.run_many(session, [{"user_id": user_id, "role": role.value} for role in new.roles])
    return user_id


class _DummyHash:
    """A hash to verify against when no account matches, so both failures take as long."""

    def __init__(self) -> None:
        self._hashes: dict[tuple[int, int, int], str] = {}

    def for_hasher(self, hasher: PasswordHasher) -> str:
        key = (hasher.time_cost, hasher.memory_cost, hasher.parallelism)
        if key not in self._hashes:
            self._hashes[key] = hasher.hash("no account has this password")
        return self._hashes[key]


_dummy_hash = _DummyHash()


def authenticate(session: Session, *, email: str, password: str, hasher: PasswordHasher) -> User:
    """Return the active user with these credentials, or raise :class:`AuthenticationFailed`.

    An unknown email, a wrong password, a deactivated account and an account without a
    password all give the same error after the same amount of work. A hash made with older
    parameters is replaced by one made with the current ones.
    """
    user = None
    if len(email) <= EMAIL_MAX and len(password) <= PASSWORD_MAX:
        user = session.scalar(select(User).where(User.email == func.lower(email.strip())))
    stored = user.password_hash if user is not None and user.password_hash else None
    try:
        hasher.verify(stored or _dummy_hash.for_hasher(hasher), password)
    except (VerificationError, InvalidHashError):
        raise AuthenticationFailed from None
    if user is None or stored is None or not user.active:
        raise AuthenticationFailed
    if hasher.check_needs_rehash(stored):
        user.password_hash = hasher.hash(password)
    user.last_login_at = clock.now()
    session.flush()
    return user


# --- sessions, passwords and deactivation --------------------------------------------------


def end_sessions(session: Session, user: User) -> None:
    """End every session of ``user``, on every device.

    Each session carries the session version its user had at sign-in, and a session whose
    version is no longer the user's is signed out; moving the version on here is atomic,
    so two sign-outs at once both take effect.
    """
    session.execute(
        update(User)
        .where(User.id == user.id)
        .values(session_version=User.session_version + 1)
        .execution_options(synchronize_session=False)
    )
    session.refresh(user, ["session_version"])


def sign_out(session: Session, user: User) -> None:
    """``user`` signs out: every session of theirs ends, on every device, and the audit
    trail says so."""
    _end_sessions_recorded(session, user, "user.sign_out")


def set_password(
    session: Session, *, user: User, password: str, hasher: PasswordHasher, rules: PasswordRules
) -> None:
    """Give ``user`` a new password, chosen by themselves, and end all their sessions.

    A stolen session must not outlive the password change meant to shut its thief out, so
    every session of the user ends, the one that changed it included: a view that keeps
    the person signed in starts a fresh session for them after committing. Raises
    :class:`WeakPassword` for a password the policy refuses, writing nothing.
    """
    check_password_strength(password, email=user.email, display_name=user.display_name, rules=rules)
    user.password_hash = hasher.hash(password)
    session.flush()
    _end_sessions_recorded(session, user, "user.set_password")


def _end_sessions_recorded(session: Session, user: User, action: str) -> None:
    """End every session of ``user`` for what they did (``action``), in the audit trail."""
    end_sessions(session, user)
    audit.record(
        session,
        actor_id=user.id,
        action=action,
        object_type="user",
        object_id=user.id,
        after={"sessions_ended": True},
    )


_ACTIVE_ADMINS = (
    select(User.id)
    .join(UserRole, UserRole.user_id == User.id)
    .where(UserRole.role == Role.ADMIN, User.active.is_(True))
)


def awaits_acceptance(session: Session, user_id: int) -> bool:
    """Whether ``user_id`` was invited and has not accepted yet: their account is made
    but not theirs until they choose a password by the invitation's link."""
    return bool(
        session.scalar(
            select(exists().where(Invitation.user_id == user_id, Invitation.accepted_at.is_(None)))
        )
    )


def keep_an_active_admin(session: Session, *, losing: int) -> None:
    """Refuse with :class:`NotAllowed` if the user ``losing`` (about to be deactivated, or
    to lose the admin role) is the last active admin, so that someone can always sign in
    to administer the programme.

    Every active admin's row is locked first, in one order, so two admins deactivating each
    other at once take turns: the second then counts afresh (a new statement sees what the
    first committed) and is refused. Call it before locking any user row; SQLite's write
    transactions already run one at a time.
    """
    locked = session.scalars(_ACTIVE_ADMINS.order_by(User.id).with_for_update(of=User)).all()
    if losing not in locked:
        return
    others = session.scalar(
        select(func.count()).select_from(_ACTIVE_ADMINS.where(User.id != losing).subquery())
    )
    if not others:
        raise NotAllowed(
            "This is the last active admin: make someone else an admin first, so that "
            "someone can still look after accounts."
        )


def set_user_active(
    session: Session, *, key: str, actor: User, user_id: int, active: bool
) -> Receipt:
    """An admin deactivates a user (who can no longer sign in, and whose sessions end at
    once) or reactivates one (who signs in afresh: sessions from before stay ended).

    An admin cannot deactivate themselves, so an admin is always left to undo it.
    """
    verb = "reactivate" if active else "deactivate"
    require_role(actor, Role.ADMIN, doing=f"{verb} users")

    def perform() -> Receipt:
        if not active and user_id == actor.id:
            raise NotAllowed("You cannot deactivate your own account; another admin can.")
        if not active:
            keep_an_active_admin(session, losing=user_id)
        user = session.scalar(
            select(User)
            .where(User.id == user_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if user is None:
            raise NotFound("There is no such user.")
        if user.active == active:
            state = "active" if active else "deactivated"
            raise InvalidState(f"{user.display_name} is already {state}.")
        if active and user.password_hash is None and awaits_acceptance(session, user.id):
            raise InvalidState(
                f"{user.display_name} has not accepted their invitation yet: send them a new "
                "one instead."
            )
        values: dict[str, object] = {"active": active}
        if not active:
            values["session_version"] = User.session_version + 1
        changed = session.execute(
            update(User)
            .where(User.id == user.id, User.active == (not active))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            raise InvalidState(f"{user.display_name} was changed by someone else just now.")
        session.refresh(user)
        audit.record(
            session,
            actor_id=actor.id,
            action=f"user.{verb}",
            object_type="user",
            object_id=user.id,
            before={"active": not active},
            after={"active": active},
        )
        return Receipt(f"user.{verb}", object_id=user.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation=f"user.{verb}",
        request={"user": user_id},
        perform=perform,
    )
