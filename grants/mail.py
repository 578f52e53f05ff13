"""Email: the claim link a gift's recipient receives, and every other message the outbox
delivers (:class:`Email`, rendered from ``templates/email/`` by :func:`render_email`).

Nothing here is sent from a request: giving a gift records a message in the outbox
(:mod:`grants.domain.outbox`) and the background worker renders and sends it
(:mod:`grants.outbox`), with no request at hand, so links are built from ``PUBLIC_URL``.

Two ways out, chosen by configuration. The embedded default (no ``MAIL_SERVER``) writes
each email as a file under ``instance/outbox/`` and logs the claim link, so a gift can be
claimed on a machine that sends no mail. With ``MAIL_SERVER`` set, email goes through that
SMTP server (``MAIL_PORT``, ``MAIL_USERNAME``, ``MAIL_PASSWORD``, ``MAIL_USE_TLS``,
``MAIL_DEFAULT_SENDER``; each from a ``GRANTS_MAIL_*`` variable too).

An email that delivers an outbox event carries a Message-ID made from the event's id, and in
the outbox folder it is the one file named after the event: delivered twice (after a worker
was killed at the wrong moment), it is still one message to its recipient.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path

from flask import Flask, current_app
from flask_mailman import EmailMessage, EmailMultiAlternatives
from sqlalchemy.orm import Session

from grants.domain.dates import format_deadline
from grants.domain.gifts import claimability, hash_token
from grants.domain.money import DEFAULT_LOCALE, format_money
from grants.domain.support import panel_for_gift
from grants.extensions import mail
from grants.models import Gift, SupportLine

OUTBOX = "outbox"
"""The folder, in the instance folder, that the embedded default writes emails into."""

logger = logging.getLogger(__name__)


class MailNotSent(Exception):
    """An email could not be handed to the outbox or the SMTP server."""


def init_app(app: Flask) -> None:
    """Choose the way out (SMTP when ``MAIL_SERVER`` is set, else the outbox folder) and bind
    Flask-Mailman. An explicit ``MAIL_BACKEND`` is respected."""
    config = app.config
    if not config.get("MAIL_BACKEND"):
        config["MAIL_BACKEND"] = "smtp" if config.get("MAIL_SERVER") else "file"
    if not config.get("MAIL_FILE_PATH"):
        config["MAIL_FILE_PATH"] = str(Path(app.instance_path) / OUTBOX)
    mail.init_app(app)
    if outbox_in_use(app):
        logger.setLevel(logging.INFO)
        app.logger.debug("Emails are written to %s", config["MAIL_FILE_PATH"])


def outbox_in_use(app: Flask) -> bool:
    """Whether emails go to files in the outbox folder rather than to a mail server."""
    return bool(app.config.get("MAIL_BACKEND") == "file")


@dataclass(frozen=True)
class Email:
    """One email to one person, rendered and ready to send: its plain text always, and an
    HTML version of the same text when there is one (sent together, as alternatives)."""

    to: str
    subject: str
    text: str
    html: str | None = None
    what: str = "email"
    """What it is, for the log: "the claim email", "the password reset email"."""
    link: tuple[str, str] | None = None
    """What its one link is called and the link, such as ``("Claim link", url)``: logged
    when emails go to the outbox folder, the way out of a machine that sends no mail. Only
    for a link meant for the person the email goes to."""
    confidential: bool = False
    """Whom it goes to is nobody else's to know (a help desk requester): the log and the
    error kept with an undelivered message name neither the address nor the server's words,
    which often repeat it."""


@dataclass(frozen=True)
class ClaimEmail:
    """What a gift's recipient is told: who gave what, until when, and the link to claim it."""

    to: str
    recipient_name: str
    giver_name: str
    amount: str
    """Already formatted, such as ``$80.00``."""
    expires_at: datetime
    claim_url: str
    message: str = ""
    support_lines: Sequence[SupportLine] = field(default_factory=tuple)
    time_zone: str = "UTC"
    """Where the deadline is told in: the giver's fund's time zone."""
    locale: str = DEFAULT_LOCALE
    """How the deadline is written: the giver's locale."""

    @property
    def claim_by(self) -> str:
        """The deadline as the email states it: ``27 Dec 2026, 16:39 GMT (Europe/London
        time)``."""
        return format_deadline(self.expires_at, self.time_zone, self.locale)

    @property
    def subject(self) -> str:
        return f"{self.giver_name} has given you therapy credit"

    @property
    def body(self) -> str:
        lines = [
            f"Hello {self.recipient_name},",
            "",
            f"{self.giver_name} has given you {self.amount} of therapy credit from "
            "Heart & Soul Funding, to spend on sessions with a therapist of your choice.",
        ]
        if self.message:
            lines += [
                "",
                f"{self.giver_name} wrote:",
                "",
                *(f"  {row}" for row in self.message.splitlines()),
            ]
        lines += [
            "",
            f"Claim it by {self.claim_by} at this address:",
            "",
            self.claim_url,
            "",
            "The link is meant for you alone and works once. If you were not expecting this "
            "email, you can ignore it and the credit goes back to the person who sent it.",
        ]
        if self.support_lines:
            lines += ["", "If you need to talk to someone now:"]
            for line in self.support_lines:
                ways = [way for way in (line.phone, line.text_message, line.website_url) if way]
                lines.append(f"  {line.name}: {', '.join(ways)}")
        lines += ["", "Heart & Soul Funding"]
        return "\n".join(lines) + "\n"

    def as_email(self) -> Email:
        """The email to send, its link logged where emails go to the outbox folder."""
        return Email(
            to=self.to,
            subject=self.subject,
            text=self.body,
            what="claim email",
            link=("Claim link", self.claim_url),
        )


@dataclass(frozen=True)
class MailEvent:
    """The outbox event an email delivers; its id names the email on every delivery."""

    event_id: str
    created_at: datetime

    def message_id(self, sender: str) -> str:
        """The Message-ID header: the event id at the sender's domain."""
        domain = parseaddr(sender)[1].rpartition("@")[2] or "heartandsoul.invalid"
        return f"<{self.event_id}@{domain}>"

    @property
    def file_name(self) -> str:
        """The email's file in the outbox folder: in order of the events, one per event."""
        return f"{self.created_at:%Y%m%d-%H%M%S-%f}-{self.event_id}.log"


def public_url(endpoint: str, **values: str) -> str:
    """The absolute address of ``endpoint`` under the configured ``PUBLIC_URL``, built without
    a request (the worker has none) and never from a request's Host header."""
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return str(current_app.config["PUBLIC_URL"]).rstrip("/") + path


def absolute_url(path: str) -> str:
    """``path``, a path of the app such as ``/wallet/``, under the configured ``PUBLIC_URL``."""
    return str(current_app.config["PUBLIC_URL"]).rstrip("/") + "/" + path.lstrip("/")


def claim_url(token: str) -> str:
    """The absolute address of the claim page for ``token``."""
    return public_url("claim.claim", token=token)


def claim_email(session: Session, gift_id: int, token: str, *, now: datetime) -> ClaimEmail | None:
    """The claim email of gift ``gift_id`` with link ``token``, or ``None`` when there is
    nothing left to send: the gift is gone, claimed, revoked or expired, or has a newer link.

    Its support lines are copies, so the email can be sent after the transaction that read
    it has ended."""
    gift = session.get(Gift, gift_id)
    if gift is None or gift.token_hash != hash_token(token) or claimability(gift, now):
        return None
    giver = gift.giver_wallet.user
    lines = [
        SupportLine(
            name=line.name,
            phone=line.phone,
            text_message=line.text_message,
            website_url=line.website_url,
        )
        for line in panel_for_gift(session, gift).lines
    ]
    return ClaimEmail(
        to=gift.recipient_email,
        recipient_name=gift.recipient_name,
        giver_name=giver.display_name,
        amount=format_money(gift.amount, gift.currency, giver.locale),
        expires_at=gift.expires_at,
        claim_url=claim_url(token),
        message=gift.message,
        support_lines=tuple(lines),
        time_zone=gift.giver_wallet.fund.time_zone,
        locale=giver.locale,
    )


def render_email(to: str, subject: str, template: str, **context: object) -> Email:
    """The email made from ``templates/email/<template>.txt`` and ``.html``, each given
    ``context`` and the ``subject`` and nothing else: no request, no signed-in user (the
    worker that renders has neither), so links in ``context`` must be absolute
    (:func:`public_url`)."""
    templates = current_app.jinja_env
    text = templates.get_template(f"email/{template}.txt").render(subject=subject, **context)
    html = templates.get_template(f"email/{template}.html").render(subject=subject, **context)
    return Email(to=to, subject=subject, text=text, html=html)


def send_email(email: Email, *, event: MailEvent | None = None) -> None:
    """Send ``email``, or raise :class:`MailNotSent` (after logging why).

    With ``event``, the email carries the event's Message-ID and, in the outbox folder,
    replaces any earlier delivery of the same event. With the outbox in use, its link is
    logged as well, for whoever runs the embedded setup.
    """
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.text,
        from_email=sender,
        to=[email.to],
        headers={"Message-ID": event.message_id(sender)} if event else None,
    )
    if email.html is not None:
        message.attach_alternative(email.html, "text/html")
    try:
        if event is not None and outbox_in_use(current_app):
            sent = _write_to_outbox(message, event.file_name)
        else:
            sent = message.send()
    except Exception as error:
        if email.confidential:
            logger.error("A %s could not be sent: %s", email.what, type(error).__name__)
            raise MailNotSent(f"the mail server refused it ({type(error).__name__})") from None
        logger.exception("The %s to %s could not be sent", email.what, email.to)
        raise MailNotSent(str(error)) from error
    if not sent:
        logger.error("The %s to %s was not accepted for delivery", email.what, _to(email))
        raise MailNotSent("the message was not accepted")
    if email.link is not None and outbox_in_use(current_app):
        name, link = email.link
        logger.info("%s for %s (written to the outbox): %s", name, email.to, link)


def _to(email: Email) -> str:
    return "a help desk requester" if email.confidential else email.to


def send_claim_email(email: ClaimEmail, *, event: MailEvent | None = None) -> None:
    """Send the claim link, or raise :class:`MailNotSent` (after logging why)."""
    send_email(email.as_email(), event=event)


def _write_to_outbox(message: EmailMessage, name: str) -> int:
    """Write ``message`` as the outbox folder's file ``name``, whole or not at all, in the
    format of Flask-Mailman's file backend; an earlier file of that name is replaced."""
    folder = Path(current_app.config["MAIL_FILE_PATH"])
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{name}.part"
    temporary.write_bytes(message.message().as_bytes() + b"\n" + b"-" * 79 + b"\n")
    os.replace(temporary, folder / name)
    return 1
