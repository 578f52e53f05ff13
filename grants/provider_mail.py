"""The email telling a therapy provider that the bank details they are paid into were
changed, rendered by the outbox worker (:data:`grants.outbox.RENDERERS`).

It goes to the address the provider had before the change (the payload's ``to``): whoever
asked for the change may control a new one. It shows only the masked account, holds no
link, and tells the provider to contact finance if they did not ask for it; finance holds
their payouts until a second member confirms the change
(:mod:`grants.domain.provider_bank`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from grants.domain.account_tokens import COUNTRY_TIME_ZONES
from grants.domain.dates import format_deadline
from grants.domain.provider_bank import BANK_DETAILS_CHANGED
from grants.mail import Email, render_email
from grants.models import Country, Provider

SUBJECT = "Your bank details with Heart & Soul Funding were changed"
ZONE_LOCALES = {Country.US: "en_US", Country.GB: "en_GB"}
"""How the time of the change is written for a provider in each country the programme runs
in; anywhere else it is told in UTC, in the en_GB form (``1 Jun 2026, 12:00 UTC``)."""


def changed_when(moment: datetime, country: str) -> str:
    """When the change was made, in the provider's country's time where the programme runs,
    else in UTC, the zone named."""
    try:
        known = Country(country)
    except ValueError:
        return format_deadline(moment, "UTC", "en_GB")
    return format_deadline(moment, COUNTRY_TIME_ZONES[known], ZONE_LOCALES[known])


def bank_details_changed(session: Session, payload: dict[str, Any], now: datetime) -> Email | None:
    """The notice to the provider's former address; nothing if the provider is gone."""
    provider = session.get(Provider, int(payload["provider"]))
    if provider is None:
        return None
    changed_at = datetime.fromisoformat(str(payload["changed_at"]))
    email = render_email(
        str(payload["to"]),
        SUBJECT,
        "provider_bank_changed",
        name=provider.label,
        summary=str(payload["summary"]),
        changed=changed_when(changed_at, provider.country),
    )
    return dataclasses.replace(email, what="bank details change notice")


RENDERERS: dict[str, Callable[[Session, dict[str, Any], datetime], Email | None]] = {
    BANK_DETAILS_CHANGED: bank_details_changed
}
"""The kind of message this module renders, for :data:`grants.outbox.RENDERERS`."""
