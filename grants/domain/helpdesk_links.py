"""The help desk's private links: how a requester gets back to their request without an
account.

A private link (shown on the confirmation page, or in an email from the desk) works once, on
the device that opens it (:func:`open_link`): opening it uses it up and gives that device a
token of its own, kept in a cookie, that lets it back in (:func:`request_for_device`). Every
token holds 256 random bits and is stored only as its SHA-256. Every email the desk sends
the requester carries a new link, so another device gets in through the next email; a
requester who was signed in when they asked reaches the request from their account too
(:func:`request_of_account`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from grants.domain import audit
from grants.domain.errors import NotFound
from grants.models import HelpLink, HelpRequest, LinkKind

LINK_LIFETIME = timedelta(days=30)
"""How long a private link (on the confirmation page or in an email) can be opened."""
DEVICE_LIFETIME = timedelta(days=365)
"""How long a device that opened a link stays let in."""
REFERENCE = re.compile(r"HD-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}")
"""A request's reference: ``HD-`` and two groups of four letters of Crockford's base 32."""


def hash_token(token: str) -> str:
    """The stored form of a private link's or a device's token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_link(session: Session, request_id: int, kind: LinkKind, *, now: datetime) -> str:
    """A fresh private link (or device token) for request ``request_id``; returns its token,
    which is stored only as its hash."""
    token = secrets.token_urlsafe(32)
    lifetime = DEVICE_LIFETIME if kind is LinkKind.DEVICE else LINK_LIFETIME
    session.add(
        HelpLink(
            request_id=request_id,
            kind=kind,
            token_hash=hash_token(token),
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    session.flush()
    return token


@dataclass(frozen=True)
class Opened:
    """A private link used up: the request's reference and the token its device now holds."""

    reference: str
    device_token: str


def link_works(session: Session, token: str, *, now: datetime) -> str | None:
    """The reference of the request whose private link ``token`` is, if it can still be
    opened (unused and unexpired); else ``None``. Reads only."""
    return session.scalar(
        select(HelpRequest.reference)
        .join(HelpLink, HelpLink.request_id == HelpRequest.id)
        .where(
            HelpLink.token_hash == hash_token(token),
            HelpLink.kind == LinkKind.LINK,
            HelpLink.used_at.is_(None),
            HelpLink.expires_at > now,
            HelpRequest.erased_at.is_(None),
        )
    )


def open_link(session: Session, token: str, *, now: datetime) -> Opened:
    """Use up private link ``token`` (once: a guarded update) and let this device in with a
    token of its own. :class:`NotFound` for a link that is unknown, used, expired, or whose
    request was erased."""
    reference = link_works(session, token, now=now)
    used = session.execute(
        update(HelpLink)
        .where(
            HelpLink.token_hash == hash_token(token),
            HelpLink.kind == LinkKind.LINK,
            HelpLink.used_at.is_(None),
            HelpLink.expires_at > now,
        )
        .values(used_at=now)
        .returning(HelpLink.request_id)
    ).scalar_one_or_none()
    if reference is None or used is None:
        raise NotFound(
            "This link does not open a request any more: it has been used on another device, "
            "has expired, or the request was erased."
        )
    device = new_link(session, used, LinkKind.DEVICE, now=now)
    audit.record(
        session,
        actor_id=None,
        action="help_request.link_opened",
        object_type="help_request",
        object_id=used,
        after={"reference": reference},
    )
    return Opened(reference, device)


def request_for_device(
    session: Session, reference: str, device_token: str, *, now: datetime
) -> HelpRequest | None:
    """Request ``reference`` if ``device_token`` lets this device in; else ``None``."""
    if not device_token or not REFERENCE.fullmatch(reference):
        return None
    return session.scalar(
        select(HelpRequest)
        .join(HelpLink, HelpLink.request_id == HelpRequest.id)
        .where(
            HelpRequest.reference == reference,
            HelpRequest.erased_at.is_(None),
            HelpLink.token_hash == hash_token(device_token),
            HelpLink.kind == LinkKind.DEVICE,
            HelpLink.expires_at > now,
        )
    )


def request_of_account(session: Session, reference: str, user_id: int) -> HelpRequest | None:
    """Request ``reference`` if the signed-in ``user_id`` made it; else ``None``."""
    if not REFERENCE.fullmatch(reference):
        return None
    return session.scalar(
        select(HelpRequest).where(
            HelpRequest.reference == reference,
            HelpRequest.requester_id == user_id,
            HelpRequest.erased_at.is_(None),
        )
    )


def requests_of_account(session: Session, user_id: int) -> list[HelpRequest]:
    """The requests ``user_id`` made while signed in, newest first."""
    return list(
        session.scalars(
            select(HelpRequest)
            .where(HelpRequest.requester_id == user_id, HelpRequest.erased_at.is_(None))
            .order_by(HelpRequest.created_at.desc(), HelpRequest.id.desc())
        )
    )
