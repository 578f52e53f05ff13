"""Email: the claim link a gift's recipient receives.

Two ways out, chosen by configuration. The embedded default (no ``MAIL_SERVER``) writes
each email as a file under ``instance/outbox/`` and logs the claim link, so a gift can be
claimed on a machine that sends no mail. With ``MAIL_SERVER`` set, email goes through that
SMTP server (``MAIL_PORT``, ``MAIL_USERNAME``, ``MAIL_PASSWORD``, ``MAIL_USE_TLS``,
``MAIL_DEFAULT_SENDER``; each from a ``GRANTS_MAIL_*`` variable too).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from flask import Flask, current_app
from flask_mailman import EmailMessage

from grants.extensions import mail
from grants.models import SupportLine

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
            f"Claim it by {self.expires_at:%d %B %Y, %H:%M} UTC at this address:",
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


def send_claim_email(email: ClaimEmail) -> None:
    """Send the claim link, or raise :class:`MailNotSent` (after logging why).

    With the outbox in use, the link is logged as well, for whoever runs the embedded setup.
    """
    message = EmailMessage(
        subject=email.subject,
        body=email.body,
        from_email=current_app.config["MAIL_DEFAULT_SENDER"],
        to=[email.to],
    )
    try:
        sent = message.send()
    except Exception as error:
        logger.exception("The claim email to %s could not be sent", email.to)
        raise MailNotSent(str(error)) from error
    if not sent:
        logger.error("The claim email to %s was not accepted for delivery", email.to)
        raise MailNotSent("the message was not accepted")
    if outbox_in_use(current_app):
        logger.info("Claim link for %s (written to the outbox): %s", email.to, email.claim_url)
