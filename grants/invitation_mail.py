"""The invitation email, rendered by the outbox worker (:data:`grants.outbox.RENDERERS`): who
invited the person, to do what, and the link where they choose their password.

A security message: nobody can turn it off. Its link is absolute, built from ``PUBLIC_URL``
(:func:`grants.mail.public_url`), never from a request. It is rendered only while its link
still works, so a link replaced by a newer invitation, withdrawn, used or expired is never
sent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from grants.account_mail import local_time
from grants.domain.account_tokens import time_zone_of
from grants.domain.gifts import hash_token
from grants.domain.invitations import INVITATION_EMAIL
from grants.mail import Email, public_url, render_email
from grants.models import Invitation, Partner, Role

ROLE_DUTIES = {
    Role.ADMIN: "look after people's accounts, programmes and support lines",
    Role.MANAGER: "manage funds, grants and partners, and give ambassadors their allowances",
    Role.FINANCE: "pay grants and approve therapy payments",
    Role.AMBASSADOR: "give therapy credit to bandmates and crew, and use it yourself",
    Role.RECIPIENT: "use the therapy credit you are given",
    Role.NAVIGATOR: "keep the resource hub's crisis lines and services right",
    Role.PARTNER: "apply to funding rounds and report on your organisation's grants",
}
"""What each role lets a person do, in the words of the invitation."""


def invitation(session: Session, payload: dict[str, Any], now: datetime) -> Email | None:
    """The invitation, to the invited address; nothing unless its link still works."""
    token = str(payload["token"])
    found = session.get(Invitation, int(payload["invitation"]))
    if found is None or found.token_hash != hash_token(token) or not found.is_pending(now):
        return None
    link = public_url("invitations.accept", token=token)
    roles = [Role(role) for role in found.roles]
    programme = found.programme if Role.AMBASSADOR in roles else None
    partner = (
        session.get(Partner, found.partner_id)
        if Role.PARTNER in roles and found.partner_id is not None
        else None
    )
    email = render_email(
        found.email,
        f"{found.invited_by.display_name} has invited you to Heart & Soul Funding",
        "invitation",
        name=found.display_name,
        address=found.email,
        inviter=found.invited_by.display_name,
        duties=[ROLE_DUTIES[role] for role in roles],
        programme=programme,
        country=found.country.label if found.country else None,
        partner=partner.display_name if partner else None,
        link=link,
        expires=local_time(found.expires_at, time_zone_of(session, found.user), found.user.locale),
        login_url=public_url("auth.login"),
    )
    return dataclasses.replace(email, what="invitation email", link=("Invitation link", link))


RENDERERS: dict[str, Callable[[Session, dict[str, Any], datetime], Email | None]] = {
    INVITATION_EMAIL: invitation
}
"""The kind of message this module renders, for :data:`grants.outbox.RENDERERS`."""
