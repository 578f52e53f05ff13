"""Partner nonprofits: created, edited and deactivated by managers; never deleted."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from stdnum.exceptions import ValidationError
from stdnum.us import ein

from grants.domain import audit
from grants.domain.accounts import normalise_email
from grants.domain.checks import MANAGERS, clean_text, require_role
from grants.domain.errors import Conflict, InvalidInput, NotFound
from grants.domain.idempotency import Receipt, idempotent
from grants.models import Country, Partner, User

UK_CHARITY_NUMBER = re.compile(r"\d{6,7}(-\d{1,2})?|SC0\d{5}|NIC\d{6}")
"""England and Wales (with an optional subsidiary suffix), Scotland, Northern Ireland.

python-stdnum has no module for UK charity numbers, so their format is checked here."""


@dataclass(frozen=True)
class PartnerDetails:
    """What a manager types about a partner, before it is checked."""

    legal_name: str
    display_name: str
    country: str
    registration_number: str
    contact_name: str = ""
    contact_email: str = ""
    website_url: str = ""
    notes: str = ""


def registration_number(raw: str, country: Country) -> str:
    """A US EIN as ``12-3456789``, checked by python-stdnum (format, and a prefix the IRS
    assigns), or a UK charity number, checked by format."""
    text = raw.strip().upper().replace(" ", "")
    if not text:
        raise InvalidInput("Enter the registration number.", field="registration_number")
    if country is Country.US:
        try:
            return ein.format(ein.validate(text))
        except ValidationError:
            raise InvalidInput(
                "A US employer identification number has nine digits, such as 12-3456789.",
                field="registration_number",
            ) from None
    if UK_CHARITY_NUMBER.fullmatch(text) is None:
        raise InvalidInput(
            "A UK charity number looks like 1234567, SC012345 or NIC100002.",
            field="registration_number",
        )
    return text


def website_url(raw: str) -> str:
    """An ``http`` or ``https`` address with a host, or the empty string."""
    text = raw.strip()
    if not text:
        return ""
    parts = urlsplit(text)
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname or len(text) > 500:
        raise InvalidInput(
            "Enter a website address starting with https:// or http://.", field="website_url"
        )
    return text


def clean_details(details: PartnerDetails) -> dict[str, object]:
    """The columns of a partner from ``details``, each checked."""
    try:
        country = Country(details.country.strip().upper())
    except ValueError:
        raise InvalidInput(
            "Choose the United States or the United Kingdom.", field="country"
        ) from None
    contact_email = details.contact_email.strip()
    return {
        "legal_name": clean_text(
            details.legal_name, field="legal_name", label="the legal name", required=True, limit=200
        ),
        "display_name": clean_text(
            details.display_name,
            field="display_name",
            label="the display name",
            required=True,
            limit=120,
        ),
        "country": country,
        "registration_number": registration_number(details.registration_number, country),
        "contact_name": clean_text(
            details.contact_name,
            field="contact_name",
            label="the contact's name",
            required=False,
            limit=120,
        ),
        "contact_email": normalise_email(contact_email) if contact_email else "",
        "website_url": website_url(details.website_url),
        "notes": clean_text(
            details.notes, field="notes", label="the notes", required=False, limit=5000
        ),
    }


def _refuse_duplicate_name(session: Session, display_name: str, partner_id: int | None) -> None:
    taken = session.scalar(
        select(Partner.id).where(
            func.lower(Partner.display_name) == display_name.lower(),
            Partner.id != (partner_id or 0),
        )
    )
    if taken is not None:
        raise Conflict(f"There is already a partner called {display_name}.")


def create_partner(session: Session, *, key: str, actor: User, details: PartnerDetails) -> Receipt:
    """Add a partner nonprofit."""
    require_role(actor, *MANAGERS, doing="add partners")
    columns = clean_details(details)

    def perform() -> Receipt:
        _refuse_duplicate_name(session, str(columns["display_name"]), None)
        partner = Partner(**columns)
        try:
            with session.begin_nested():
                session.add(partner)
        except IntegrityError:
            raise Conflict(
                f"There is already a partner called {columns['display_name']}."
            ) from None
        audit.record(
            session,
            actor_id=actor.id,
            action="partner.create",
            object_type="partner",
            object_id=partner.id,
            after=_snapshot(partner),
        )
        return Receipt("partner.create", object_id=partner.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="partner.create",
        request=asdict(details),
        perform=perform,
    )


def update_partner(
    session: Session, *, key: str, actor: User, partner_id: int, details: PartnerDetails
) -> Receipt:
    """Change a partner's details; saving the same details twice changes nothing."""
    require_role(actor, *MANAGERS, doing="edit partners")
    columns = clean_details(details)

    def perform() -> Receipt:
        partner = _partner(session, partner_id)
        before = _snapshot(partner)
        _refuse_duplicate_name(session, str(columns["display_name"]), partner.id)
        for name, value in columns.items():
            setattr(partner, name, value)
        after = _snapshot(partner)
        if after != before:
            session.flush()
            audit.record(
                session,
                actor_id=actor.id,
                action="partner.update",
                object_type="partner",
                object_id=partner.id,
                before={k: v for k, v in before.items() if after[k] != v},
                after={k: v for k, v in after.items() if before[k] != v},
            )
        return Receipt("partner.update", object_id=partner.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="partner.update",
        request={"partner": partner_id, **asdict(details)},
        perform=perform,
    )


def set_partner_active(
    session: Session, *, key: str, actor: User, partner_id: int, active: bool
) -> Receipt:
    """Deactivate a partner (no new grants) or bring it back; partners are never deleted."""
    require_role(actor, *MANAGERS, doing="deactivate partners")

    def perform() -> Receipt:
        partner = _partner(session, partner_id)
        if partner.active != active:
            partner.active = active
            session.flush()
            audit.record(
                session,
                actor_id=actor.id,
                action="partner.activate" if active else "partner.deactivate",
                object_type="partner",
                object_id=partner.id,
                before={"active": not active},
                after={"active": active},
            )
        return Receipt("partner.activate" if active else "partner.deactivate", object_id=partner_id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="partner.activate" if active else "partner.deactivate",
        request={"partner": partner_id},
        perform=perform,
    )


def _partner(session: Session, partner_id: int) -> Partner:
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise NotFound("There is no such partner.")
    return partner


def _snapshot(partner: Partner) -> dict[str, object]:
    return {
        "legal_name": partner.legal_name,
        "display_name": partner.display_name,
        "country": partner.country.value,
        "registration_number": partner.registration_number,
        "contact_name": partner.contact_name,
        "contact_email": partner.contact_email,
        "website_url": partner.website_url,
        "notes": partner.notes,
        "active": partner.active,
    }
