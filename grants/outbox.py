"""Delivering the outbox: the worker's side of :mod:`grants.domain.outbox`.

:func:`wake` is what an entry point calls right after it commits: if the committed
transaction recorded messages, it queues :func:`deliver` on the worker. The worker also runs
:func:`deliver` every minute and when it starts, for retries that have come due and for
anything a wake missed (a queue that was down, a worker that was killed).

:func:`deliver` takes due messages one at a time, each in the three steps that
:mod:`grants.domain.outbox` describes: take it under a lease and commit, render and send with
no transaction open, then mark it sent, or due again later with a longer wait, or failed
after ``OUTBOX_MAX_ATTEMPTS``. Why a message then reaches its recipient once, even when a
worker is killed while sending it, is told there too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy.orm import Session

from grants import account_mail, clock, helpdesk_mail, invitation_mail, provider_mail
from grants.domain import notifications, outbox
from grants.domain.outbox import Claimed
from grants.extensions import db
from grants.mail import (
    Email,
    MailEvent,
    MailNotSent,
    absolute_url,
    claim_email,
    public_url,
    render_email,
    send_email,
)
from grants.models import OutboxState

logger = logging.getLogger(__name__)

BATCH = 100
"""Messages one call of :func:`deliver` sends at most; the next call takes the rest."""


class Unsendable(Exception):
    """A message that cannot be rendered (an unknown kind, a payload that does not fit)."""


@dataclass(frozen=True)
class Delivery:
    """What one call of :func:`deliver` did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    dropped: int = 0


Send = Callable[[], None]
"""A rendered message, ready to go out; raises :class:`MailNotSent` if it cannot."""


def wake(session: Session) -> bool:
    """After ``session`` committed: queue a delivery if what it committed recorded messages.
    Returns whether it did.

    Never raises: the commit cannot be undone, and a delivery the queue did not take is made
    by the worker's next periodic pass.
    """
    if not outbox.committed_since_wake(session):
        return False
    try:
        current_app.extensions["outbox_task"]()
    except Exception:
        logger.exception("The worker could not be woken; its next pass delivers the outbox")
    return True


def deliver(
    app: Flask, *, now: Callable[[], datetime] | None = None, limit: int = BATCH
) -> Delivery:
    """Deliver the messages that are due, at most ``limit`` of them; ``now`` is the clock to
    read, :func:`grants.clock.now` unless a test gives its own."""
    now = now or clock.now
    config = app.config
    lease = timedelta(seconds=int(config["OUTBOX_LEASE_SECONDS"]))
    first_wait = timedelta(seconds=int(config["OUTBOX_RETRY_SECONDS"]))
    max_attempts = max(1, int(config["OUTBOX_MAX_ATTEMPTS"]))
    counts = {"sent": 0, "retrying": 0, "failed": 0, "dropped": 0}
    with app.app_context():
        session = db.session()
        try:
            for _ in range(limit):
                claimed = outbox.claim_next(session, now=now(), lease=lease)
                session.commit()
                if claimed is None:
                    break
                outcome = _deliver_one(session, claimed, now, first_wait, max_attempts)
                session.commit()
                counts[outcome] += 1
        finally:
            db.session.remove()
    return Delivery(**counts)


def _deliver_one(
    session: Session,
    claimed: Claimed,
    now: Callable[[], datetime],
    first_wait: timedelta,
    max_attempts: int,
) -> str:
    """Render and send one message taken under a lease; mark how it went (uncommitted)."""
    if claimed.attempts > max_attempts:
        error = "a worker stopped during each attempt"
        outbox.give_up(session, claimed.id, now=now(), error=error)
        _log_given_up(claimed, error)
        return "failed"
    try:
        send, problem = _render(session, claimed, now()), None
    except Unsendable as error:
        send, problem = None, str(error)
    session.rollback()
    if problem is not None:
        outbox.give_up(session, claimed.id, now=now(), error=problem)
        _log_given_up(claimed, problem)
        return "failed"
    if send is None:
        outbox.drop(session, claimed.id, now=now())
        return "dropped"
    try:
        send()
    except MailNotSent as error:
        state = outbox.retry_later(
            session,
            claimed,
            now=now(),
            error=str(error) or type(error).__name__,
            first_wait=first_wait,
            max_attempts=max_attempts,
        )
        if state is OutboxState.FAILED:
            _log_given_up(claimed, str(error))
            return "failed"
        return "retrying"
    outbox.mark_sent(session, claimed.id, now=now())
    return "sent"


Renderer = Callable[[Session, dict[str, Any], datetime], Email | None]
"""How a message of one kind is rendered from its payload, reading what it needs now: the
email, or ``None`` when nothing is left to send (what it was about has changed). A payload
without what the kind needs raises ``KeyError``, ``TypeError`` or ``ValueError``."""


def _claim_link(session: Session, payload: dict[str, Any], now: datetime) -> Email | None:
    """A gift's claim email; nothing once the gift is no longer claimable by that link."""
    email = claim_email(session, int(payload["gift"]), str(payload["token"]), now=now)
    return None if email is None else email.as_email()


def _notification(session: Session, payload: dict[str, Any], now: datetime) -> Email | None:
    """A notification's email; nothing once its person no longer wants it."""
    found = notifications.notification_email(session, int(payload["notification"]))
    if found is None:
        return None
    email = render_email(
        found.to,
        found.title,
        "notification",
        name=found.name,
        body=found.body,
        link=absolute_url(found.link),
        settings=public_url("notifications.settings"),
    )
    return replace(email, what="notification email")


def _digest(session: Session, payload: dict[str, Any], now: datetime) -> Email | None:
    """A person's daily email; nothing if what it would list is gone or no longer daily."""
    found = notifications.digest_email(
        session,
        int(payload["user"]),
        since=datetime.fromisoformat(str(payload["since"])),
        until=datetime.fromisoformat(str(payload["until"])),
    )
    if found is None:
        return None
    count = len(found.items)
    email = render_email(
        found.to,
        f"{count} update{'s' if count != 1 else ''} from Heart & Soul Funding",
        "digest",
        name=found.name,
        items=[(title, body, absolute_url(link)) for title, body, link in found.items],
        settings=public_url("notifications.settings"),
    )
    return replace(email, what="daily email")


RENDERERS: dict[str, Renderer] = {
    outbox.CLAIM_LINK: _claim_link,
    notifications.EMAIL: _notification,
    notifications.DIGEST: _digest,
    **account_mail.RENDERERS,
    **invitation_mail.RENDERERS,
    **helpdesk_mail.RENDERERS,
    **provider_mail.RENDERERS,
}
"""Every kind of message the outbox delivers, and how each is rendered."""


def _render(session: Session, claimed: Claimed, now: datetime) -> Send | None:
    """What sending ``claimed`` takes, read now, or ``None`` when nothing is left to send."""
    renderer = RENDERERS.get(claimed.kind)
    if renderer is None:
        raise Unsendable(f"no way to send a message of kind {claimed.kind!r}")
    try:
        email = renderer(session, claimed.payload, now)
    except (KeyError, TypeError, ValueError):
        raise Unsendable(f"the payload of a {claimed.kind} message is incomplete") from None
    if email is None:
        return None
    event = MailEvent(claimed.event_id, claimed.created_at)
    return lambda: send_email(email, event=event)


def _log_given_up(claimed: Claimed, error: str) -> None:
    logger.error(
        "Gave up on outbox message %s (%s) after %d attempts: %s",
        claimed.event_id,
        claimed.kind,
        claimed.attempts,
        error,
    )
