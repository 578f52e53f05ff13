"""The emails about a person's own account, rendered by the outbox worker
(:data:`grants.outbox.RENDERERS`): a password reset link, the link that confirms a new email
address, and the notices that the password or the email address was changed.

They are security messages: nobody can turn them off. Every link is absolute, built from
``PUBLIC_URL`` (:func:`grants.mail.public_url`), never from a request. A link's email is
rendered only while its link still works, so a replaced, used or expired link, or one made
for an address with no account, is never sent.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from grants.domain import account_tokens
from grants.domain.account_tokens import time_zone_of, valid_token
from grants.domain.dates import format_deadline
from grants.domain.errors import DomainError
from grants.mail import Email, public_url, render_email
from grants.models import TokenPurpose, User


def local_time(moment: datetime, time_zone: str, locale: str) -> str:
    """``moment`` as a person in ``time_zone`` reads it in ``locale``, with the zone named:
    ``28 Nov 2026, 14:05 GMT (Europe/London time)``."""
    return format_deadline(moment, time_zone, locale)


def password_reset(session: Session, payload: dict[str, Any], now: datetime) -> Email | None:
    """The reset link, to the account's address; nothing unless the link still works."""
    token = str(payload["token"])
    try:
        found = valid_token(session, token, TokenPurpose.PASSWORD_RESET, now=now)
    except DomainError:
        return None
    user = session.get_one(User, found.user_id)
    link = public_url("account.reset_password", token=token)
    email = render_email(
        user.email,
        "Reset your Heart & Soul Funding password",
        "password_reset",
        name=user.display_name,
        link=link,
        expires=local_time(found.expires_at, time_zone_of(session, user), user.locale),
        forgot_url=public_url("account.forgot_password"),
    )
    return dataclasses.replace(email, what="password reset email", link=("Reset link", link))


def email_change(session: Session, payload: dict[str, Any], now: datetime) -> Email | None:
    """The confirmation link, to the new address; nothing unless the link still works."""
    token = str(payload["token"])
    try:
        found = valid_token(session, token, TokenPurpose.EMAIL_CHANGE, now=now)
    except DomainError:
        return None
    user = session.get_one(User, found.user_id)
    assert found.new_email is not None
    link = public_url("account.confirm_email", token=token)
    email = render_email(
        found.new_email,
        "Confirm your new email address",
        "email_change",
        name=user.display_name,
        link=link,
        old_email=user.email,
        new_email=found.new_email,
        expires=local_time(found.expires_at, time_zone_of(session, user), user.locale),
    )
    return dataclasses.replace(email, what="email change confirmation", link=("Confirm link", link))


def email_changed(session: Session, payload: dict[str, Any], now: datetime) -> Email:
    """The notice, to the old address, that the account now signs in with another. It holds
    no link that acts on the account: whoever changed the address may be reading the mail."""
    user = session.get(User, int(payload["user"]))
    return render_email(
        str(payload["old_email"]),
        "The email address of your account was changed",
        "email_changed",
        name=user.display_name if user is not None else "",
        old_email=str(payload["old_email"]),
        new_email=str(payload["new_email"]),
        sign_in_url=public_url("auth.login"),
    )


def password_changed(session: Session, payload: dict[str, Any], now: datetime) -> Email | None:
    """The notice that the password was changed (or reset), to the account's address now."""
    user = session.get(User, int(payload["user"]))
    if user is None:
        return None
    how = str(payload["how"])
    if how not in {"changed", "reset"}:
        raise ValueError(how)
    return render_email(
        user.email,
        "Your password was changed" if how == "changed" else "Your password was reset",
        "password_changed",
        name=user.display_name,
        how=how,
        forgot_url=public_url("account.forgot_password"),
    )


RENDERERS = {
    account_tokens.PASSWORD_RESET: password_reset,
    account_tokens.EMAIL_CHANGE: email_change,
    account_tokens.EMAIL_CHANGED: email_changed,
    account_tokens.PASSWORD_CHANGED: password_changed,
}
"""How each kind of account email is rendered, for :data:`grants.outbox.RENDERERS`."""
