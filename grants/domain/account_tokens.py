"""A person's own account: resetting a forgotten password, changing it, changing the email
address the account signs in with, and the profile (name, language, time zone).

A password reset and an email change are each confirmed by an emailed link
(:class:`grants.models.AccountToken`): a 256-bit random token whose SHA-256 alone is stored,
that works once and only until it expires, read against the ``now`` each operation is given.
Asking again replaces the links of that purpose not used yet.

Asking for a reset answers the same, after the same work, whether or not the address has an
account: a token is made and a message recorded in the outbox either way. Only an active
account's token is stored, and the worker sends the email only for a stored token that still
works (:func:`valid_token`), so an unknown address is sent nothing.

Every operation flushes and never commits, records an audit event, and ends sessions where
the change calls for it: a reset ends every session of the user, a password change every
session (the view starts a fresh one for the person who made it).
"""

from __future__ import annotations

import hashlib
import secrets
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grants.domain import audit, outbox
from grants.domain.accounts import (
    PASSWORD_MAX,
    PasswordRules,
    check_password_strength,
    clean_display_name,
    end_sessions,
    find_user_by_email,
    normalise_email,
    set_password,
)
from grants.domain.errors import Conflict, InvalidInput, InvalidState, NotFound
from grants.models import AccountToken, Ambassador, Country, TokenPurpose, User

PASSWORD_RESET_VALIDITY = timedelta(hours=1)
"""How long a password reset link works."""
EMAIL_CHANGE_VALIDITY = timedelta(hours=24)
"""How long the link that confirms a new email address works."""

KEPT_AFTER_EXPIRY = timedelta(days=7)
"""How long a link's row is kept once it has expired (used or not), before it is pruned."""

PASSWORD_RESET = "account.password_reset"  # noqa: S105 - a kind of message, not a secret
"""The email with a password reset link; payload ``token``."""
EMAIL_CHANGE = "account.email_change"
"""The email, to the new address, that confirms an email change; payload ``token``."""
EMAIL_CHANGED = "account.email_changed"
"""The notice, to the old address, that the email was changed; payload ``user``,
``old_email``, ``new_email``."""
PASSWORD_CHANGED = "account.password_changed"  # noqa: S105 - a kind of message
"""The notice that the password was changed or reset; payload ``user``, ``how``
(``changed`` or ``reset``)."""

LOCALES: dict[str, str] = {
    "en_US": "English (United States)",
    "en_GB": "English (United Kingdom)",
}
"""The languages and locales a person may choose, with their names as shown."""

COUNTRY_TIME_ZONES: dict[Country, str] = {
    Country.US: "America/New_York",
    Country.GB: "Europe/London",
}
"""An ambassador's time zone until they choose one, from the country they are in."""
LOCALE_TIME_ZONES: dict[str, str] = {"en_US": "America/New_York", "en_GB": "Europe/London"}
"""Anyone else's time zone until they choose one, from their locale."""

NOT_VALID = (
    "This link is not valid. Check that the address matches the link in your email exactly, "
    "or ask for a new one."
)
USED = "This link has been used already, and works only once. Ask for a new one if you need it."
EXPIRED = "This link has expired. Ask for a new one."


def hash_token(token: str) -> str:
    """The stored form of a link's token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh token for a link: 256 random bits."""
    return secrets.token_urlsafe(32)


@cache
def time_zones() -> frozenset[str]:
    """Every IANA time zone name this system knows."""
    return frozenset(zoneinfo.available_timezones())


def default_time_zone(session: Session, user: User) -> str:
    """The time zone that applies to ``user`` until they choose one: their country's if they
    are an ambassador, else their locale's."""
    country = session.scalar(select(Ambassador.country).where(Ambassador.user_id == user.id))
    if country is not None:
        return COUNTRY_TIME_ZONES[country]
    return LOCALE_TIME_ZONES.get(user.locale, LOCALE_TIME_ZONES["en_US"])


def time_zone_of(session: Session, user: User) -> str:
    """The time zone ``user`` sees times in: the one they chose, else their default."""
    return user.time_zone or default_time_zone(session, user)


# --- reading a link -----------------------------------------------------------------------


def valid_token(
    session: Session, token: str, purpose: TokenPurpose, *, now: datetime, lock: bool = False
) -> AccountToken:
    """The stored link ``token`` names, if it still works at ``now``: :class:`NotFound` for
    a token never issued (or replaced, or whose user is deactivated), :class:`InvalidState`
    for one used already or expired. ``lock`` takes the row for update, for an operation
    about to use it."""
    if not token or len(token) > 100:
        raise NotFound(NOT_VALID)
    query = select(AccountToken).where(
        AccountToken.token_hash == hash_token(token), AccountToken.purpose == purpose
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    found = session.scalar(query)
    user = session.get(User, found.user_id) if found is not None else None
    if found is None or user is None or not user.active:
        raise NotFound(NOT_VALID)
    if found.used_at is not None:
        raise InvalidState(USED)
    if now >= found.expires_at:
        raise InvalidState(EXPIRED)
    return found


def _replace_unused(session: Session, user_id: int, purpose: TokenPurpose) -> None:
    """Remove ``user_id``'s links of ``purpose`` not used yet: a new one replaces them."""
    session.execute(
        delete(AccountToken)
        .where(
            AccountToken.user_id == user_id,
            AccountToken.purpose == purpose,
            AccountToken.used_at.is_(None),
        )
        .execution_options(synchronize_session=False)
    )


def _cancel_links(session: Session, user_id: int) -> None:
    """Remove every link of ``user_id``'s not used yet, of any purpose: after a new password,
    a link sent before (a reset, or an email change asked for by whoever knew the old
    password) must not work."""
    for purpose in TokenPurpose:
        _replace_unused(session, user_id, purpose)


def _store(
    session: Session,
    user_id: int,
    purpose: TokenPurpose,
    token: str,
    *,
    now: datetime,
    validity: timedelta,
    new_email: str | None = None,
) -> AccountToken:
    """Store a new link of ``purpose`` for ``user_id`` (see :func:`_replace_unused`)."""
    issued = AccountToken(
        user_id=user_id,
        purpose=purpose,
        token_hash=hash_token(token),
        new_email=new_email,
        created_at=now,
        expires_at=now + validity,
    )
    session.add(issued)
    session.flush()
    return issued


def _use(session: Session, found: AccountToken, *, now: datetime) -> None:
    """Mark ``found`` used, unless another request used it first (:class:`InvalidState`)."""
    used = session.execute(
        update(AccountToken)
        .where(AccountToken.id == found.id, AccountToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(used, "rowcount", 0) != 1:
        raise InvalidState(USED)
    session.refresh(found, ["used_at"])


# --- password reset -----------------------------------------------------------------------


_RESETTABLE = select(User.id).where(
    User.email == bindparam("email"), User.active.is_(True), User.password_hash.is_not(None)
)
"""The account whose password a reset link may set: active, with a password already."""


def request_password_reset(session: Session, *, email: str, now: datetime) -> None:
    """Someone asks for a link to reset the password of the account with ``email``.

    Nothing tells the asker whether an account exists, not even the time the answer takes:
    either way one statement finds the account, a token is made, the account's unused links
    are replaced, an audit event is recorded and a message is put in the outbox. Only the
    token of an active account with a password is stored, so the worker sends nothing for
    any other address (:func:`valid_token` finds no link): a deactivated account gets no
    link, and a person invited who has not accepted yet uses their invitation. Where no
    account is found, a lookup of the token stands in for storing it, and the audit event
    says that no account has the address (without the address).
    :class:`InvalidInput` for something that is not an email address at all.
    """
    address = normalise_email(email)
    token = new_token()
    user_id: int | None = session.execute(_RESETTABLE, {"email": address}).scalar()
    _replace_unused(session, user_id or 0, TokenPurpose.PASSWORD_RESET)
    if user_id is not None:
        expires_at = now + PASSWORD_RESET_VALIDITY
        session.execute(
            insert(AccountToken).values(
                user_id=user_id,
                purpose=TokenPurpose.PASSWORD_RESET,
                token_hash=hash_token(token),
                created_at=now,
                expires_at=expires_at,
            )
        )
        after: dict[str, object] = {"expires_at": expires_at.isoformat()}
    else:
        session.execute(select(AccountToken.id).where(AccountToken.token_hash == hash_token(token)))
        after = {"account": False}
    audit.record(
        session,
        actor_id=None,
        action="user.request_password_reset",
        object_type="user",
        object_id=user_id,
        after=after,
    )
    outbox.record(
        session,
        kind=PASSWORD_RESET,
        payload={"token": token},
        now=now,
        to=address if user_id is not None else None,
    )


def reset_password(
    session: Session,
    *,
    token: str,
    password: str,
    hasher: PasswordHasher,
    rules: PasswordRules,
    now: datetime,
) -> User:
    """Set a new password through a reset link, which then stops working, as does any other
    link of the user's not used yet; every session of the user ends, on every device, and
    they are told by email.

    :class:`NotFound` or :class:`InvalidState` for a link that does not work (see
    :func:`valid_token`), :class:`WeakPassword` for a password the policy refuses; either
    way nothing is written."""
    found = valid_token(session, token, TokenPurpose.PASSWORD_RESET, now=now, lock=True)
    user = session.get_one(User, found.user_id)
    check_password_strength(password, email=user.email, display_name=user.display_name, rules=rules)
    _use(session, found, now=now)
    _cancel_links(session, user.id)
    user.password_hash = hasher.hash(password)
    session.flush()
    end_sessions(session, user)
    outbox.record(
        session,
        kind=PASSWORD_CHANGED,
        payload={"user": user.id, "how": "reset"},
        now=now,
        to=user.email,
    )
    audit.record(
        session,
        actor_id=user.id,
        action="user.reset_password",
        object_type="user",
        object_id=user.id,
        after={"sessions_ended": True},
    )
    return user


# --- signed in: password, email, profile --------------------------------------------------


def _check_current_password(user: User, password: str, hasher: PasswordHasher) -> None:
    """:class:`InvalidInput` on ``current_password`` unless ``password`` is ``user``'s."""
    wrong = InvalidInput("That is not your current password.", field="current_password")
    if not user.password_hash or len(password) > PASSWORD_MAX:
        raise wrong
    try:
        hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        raise wrong from None


def change_password(
    session: Session,
    *,
    user: User,
    current: str,
    new: str,
    hasher: PasswordHasher,
    rules: PasswordRules,
    now: datetime,
) -> None:
    """``user`` changes their password, giving their current one: every session of theirs
    ends (the view starts a fresh one for the person who changed it), every link of theirs
    not used yet stops working, and they are told by email. :class:`InvalidInput` for a
    wrong current password, :class:`WeakPassword` for a new one the policy refuses; either
    way nothing is written."""
    _check_current_password(user, current, hasher)
    check_password_strength(new, email=user.email, display_name=user.display_name, rules=rules)
    _cancel_links(session, user.id)
    set_password(session, user=user, password=new, hasher=hasher, rules=rules)
    outbox.record(
        session,
        kind=PASSWORD_CHANGED,
        payload={"user": user.id, "how": "changed"},
        now=now,
        to=user.email,
    )


def request_email_change(
    session: Session,
    *,
    user: User,
    new_email: str,
    password: str,
    hasher: PasswordHasher,
    now: datetime,
) -> AccountToken:
    """``user`` asks to sign in with ``new_email`` instead, giving their password: a link to
    confirm it is sent to the new address (replacing any earlier one), and nothing changes
    until it is followed. :class:`InvalidInput` for a wrong password, an address that is not
    one, the current one, or one another account uses; nothing is written then."""
    _check_current_password(user, password, hasher)
    try:
        address = normalise_email(new_email)
    except InvalidInput as error:
        raise InvalidInput(error.message, field="new_email") from None
    if address == user.email:
        raise InvalidInput("That is already your email address.", field="new_email")
    if find_user_by_email(session, address) is not None:
        raise InvalidInput(
            "That address is used by another account; choose another one.", field="new_email"
        )
    token = new_token()
    _replace_unused(session, user.id, TokenPurpose.EMAIL_CHANGE)
    issued = _store(
        session, user.id, TokenPurpose.EMAIL_CHANGE, token, now=now,
        validity=EMAIL_CHANGE_VALIDITY, new_email=address,
    )  # fmt: skip
    outbox.record(session, kind=EMAIL_CHANGE, payload={"token": token}, now=now, to=address)
    audit.record(
        session,
        actor_id=user.id,
        action="user.request_email_change",
        object_type="user",
        object_id=user.id,
        after={"new_email": address, "expires_at": issued.expires_at.isoformat()},
    )
    return issued


@dataclass(frozen=True)
class EmailChanged:
    """An email change confirmed: whose, and the addresses before and after."""

    user_id: int
    old_email: str
    new_email: str


def confirm_email_change(session: Session, *, token: str, now: datetime) -> EmailChanged:
    """Follow the link sent to a new address: the account signs in with it from now on, the
    link stops working, and so does any reset link sent to the old address; the old address
    is told.

    :class:`NotFound` or :class:`InvalidState` for a link that does not work (see
    :func:`valid_token`), :class:`Conflict` when another account has taken the address
    since; nothing is written then."""
    found = valid_token(session, token, TokenPurpose.EMAIL_CHANGE, now=now, lock=True)
    user = session.get_one(User, found.user_id)
    new_email = found.new_email
    assert new_email is not None
    taken = Conflict(
        f"The address {new_email} is now used by another account, so it cannot be changed "
        f"to. Your account still signs in with {user.email}."
    )
    if find_user_by_email(session, new_email) is not None:
        raise taken
    old_email = user.email
    _use(session, found, now=now)
    _replace_unused(session, user.id, TokenPurpose.PASSWORD_RESET)
    try:
        with session.begin_nested():
            user.email = new_email
            session.flush()
    except IntegrityError:
        raise taken from None
    outbox.record(
        session,
        kind=EMAIL_CHANGED,
        payload={"user": user.id, "old_email": old_email, "new_email": new_email},
        now=now,
        to=old_email,
    )
    audit.record(
        session,
        actor_id=user.id,
        action="user.change_email",
        object_type="user",
        object_id=user.id,
        before={"email": old_email},
        after={"email": new_email},
    )
    return EmailChanged(user.id, old_email, new_email)


def update_profile(
    session: Session, *, user: User, display_name: str, locale: str, time_zone: str | None
) -> bool:
    """``user`` changes their name, language and locale, and time zone (``None``: the one
    that follows from their country or locale, :func:`default_time_zone`); returns whether
    anything changed. :class:`InvalidInput` for a bad value, writing nothing."""
    name = clean_display_name(display_name)
    if locale not in LOCALES:
        raise InvalidInput("Choose one of the languages listed.", field="locale")
    if time_zone is not None and time_zone not in time_zones():
        raise InvalidInput("Choose one of the time zones listed.", field="time_zone")
    before = {"display_name": user.display_name, "locale": user.locale, "time_zone": user.time_zone}
    wanted = {"display_name": name, "locale": locale, "time_zone": time_zone}
    changed = {field: value for field, value in wanted.items() if before[field] != value}
    if not changed:
        return False
    user.display_name, user.locale, user.time_zone = name, locale, time_zone
    session.flush()
    audit.record(
        session,
        actor_id=user.id,
        action="user.update_profile",
        object_type="user",
        object_id=user.id,
        before={field: before[field] for field in changed},
        after=changed,
    )
    return True


def prune_links(session: Session, *, now: datetime) -> int:
    """Delete the links that expired more than :data:`KEPT_AFTER_EXPIRY` before ``now``, used
    or not; returns how many. A link that old is answered as one never issued."""
    pruned = session.execute(
        delete(AccountToken)
        .where(AccountToken.expires_at < now - KEPT_AFTER_EXPIRY)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(pruned, "rowcount", 0) or 0)
