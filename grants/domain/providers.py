"""The directory of therapy providers: proposed by anyone who books a session or by finance,
verified by finance, suspended when they must no longer be paid.

A session may be requested with a proposed provider; it is approved and paid only once the
provider is verified, and not while a change of their bank details waits for a second member
of finance (:func:`payment_blocker`). Bank details are handled in
:mod:`grants.domain.provider_bank`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass
from datetime import datetime

import pycountry
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from grants.domain import audit
from grants.domain.accounts import normalise_email
from grants.domain.checks import clean_text, require_role
from grants.domain.errors import InvalidInput, InvalidState, NotFound
from grants.domain.idempotency import Receipt, idempotent
from grants.models import Provider, ProviderKind, ProviderStatus, Role, User

PROPOSERS = (Role.AMBASSADOR, Role.RECIPIENT, Role.FINANCE)
"""Who may propose a provider: anyone who books a session, and finance."""
SEARCH_LIMIT = 20
"""The most providers one search shows; a longer list means a narrower search."""


@dataclass(frozen=True)
class ProviderDetails:
    """What someone types about a provider, before it is checked."""

    kind: str
    name: str
    country: str
    practice: str = ""
    licence_type: str = ""
    licence_number: str = ""
    licence_issuer: str = ""
    address: str = ""
    city: str = ""
    region: str = ""
    postcode: str = ""
    email: str = ""


def fold(text: str) -> str:
    """``text`` as search compares it: accents removed, lower case, spaces made single."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.casefold().split())


def country_code(raw: str) -> str:
    """An ISO 3166 alpha-2 country code, checked against the standard's list."""
    code = raw.strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise InvalidInput("Choose the country the provider practises in.", field="country")
    return code


def clean_provider(details: ProviderDetails) -> dict[str, object]:
    """The columns of a provider from ``details``, each checked."""
    try:
        kind = ProviderKind(details.kind.strip())
    except ValueError:
        raise InvalidInput("Choose a therapist or a practice.", field="kind") from None

    def text(value: str, field: str, label: str, limit: int, required: bool = False) -> str:
        return clean_text(value, field=field, label=label, required=required, limit=limit)

    name = text(details.name, "name", "the provider's name", 140, required=True)
    practice = text(details.practice, "practice", "the practice", 140)
    city = text(details.city, "city", "the city", 100)
    email = details.email.strip()
    return {
        "kind": kind,
        "name": name,
        "practice": practice,
        "licence_type": text(details.licence_type, "licence_type", "the licence type", 100),
        "licence_number": text(details.licence_number, "licence_number", "the licence number", 60),
        "licence_issuer": text(details.licence_issuer, "licence_issuer", "who issued it", 100),
        "country": country_code(details.country),
        "address": text(details.address, "address", "the address", 300),
        "city": city,
        "region": text(details.region, "region", "the state or region", 100),
        "postcode": text(details.postcode, "postcode", "the postcode", 20),
        "email": normalise_email(email) if email else "",
        "search_name": fold(f"{name} {practice}")[:300],
        "search_city": fold(city)[:100],
    }


def _snapshot(provider: Provider) -> dict[str, object]:
    """What the audit trail keeps of a provider: everything but the bank details token."""
    return {
        "kind": provider.kind.value,
        "name": provider.name,
        "practice": provider.practice,
        "licence_type": provider.licence_type,
        "licence_number": provider.licence_number,
        "licence_issuer": provider.licence_issuer,
        "country": provider.country,
        "city": provider.city,
        "email": provider.email,
        "status": provider.status.value,
        "bank": provider.bank_summary,
    }


def propose_provider(
    session: Session, *, key: str, actor: User, details: ProviderDetails, now: datetime
) -> Receipt:
    """Add a provider to the directory as proposed; the receipt's ``object_id`` is its id.

    A person booking a session gives what they know; finance verifies it later
    (:func:`verify_provider`).
    """
    require_role(actor, *PROPOSERS, doing="propose a provider")
    columns = clean_provider(details)

    def perform() -> Receipt:
        provider = Provider(
            **columns,
            status=ProviderStatus.PROPOSED,
            proposed_by_id=actor.id,
            proposed_at=now,
            updated_at=now,
        )
        session.add(provider)
        session.flush()
        audit.record(
            session,
            actor_id=actor.id,
            action="provider.propose",
            object_type="provider",
            object_id=provider.id,
            after=_snapshot(provider),
        )
        return Receipt("provider.propose", object_id=provider.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="provider.propose",
        request={"details": asdict(details)},
        perform=perform,
    )


def locked_provider(session: Session, provider_id: int) -> Provider:
    """Provider ``provider_id``, its row locked for the rest of the transaction."""
    provider = session.scalar(
        select(Provider)
        .where(Provider.id == provider_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if provider is None:
        raise NotFound("There is no such provider.")
    return provider


def changed_by_version(provider: Provider, version: int | None) -> None:
    """Refuse a form saved over a change made since it was opened."""
    if version is not None and version != provider.version:
        raise InvalidState(
            "Someone changed this provider after you opened the form; "
            "look at their details again before saving."
        )


def update_provider(
    session: Session,
    *,
    actor: User,
    provider_id: int,
    details: ProviderDetails,
    version: int | None,
    now: datetime,
) -> Provider:
    """Correct a provider's details (finance). A verified provider stays verified: finance
    is who verifies, and the audit trail keeps what changed."""
    require_role(actor, Role.FINANCE, doing="edit providers")
    columns = clean_provider(details)
    provider = locked_provider(session, provider_id)
    changed_by_version(provider, version)
    before = _snapshot(provider)
    for name, value in columns.items():
        setattr(provider, name, value)
    provider.version += 1
    provider.updated_at = now
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="provider.update",
        object_type="provider",
        object_id=provider.id,
        before=before,
        after=_snapshot(provider),
    )
    return provider


def verify_provider(
    session: Session, *, actor: User, provider_id: int, version: int | None, now: datetime
) -> Provider:
    """Mark a proposed or suspended provider verified: finance has checked their licence and
    holds their bank details. Refused while a licence detail, the email or the bank details
    are missing, naming what is."""
    require_role(actor, Role.FINANCE, doing="verify providers")
    provider = locked_provider(session, provider_id)
    changed_by_version(provider, version)
    if provider.status is ProviderStatus.VERIFIED:
        raise InvalidState(f"{provider.label} is verified already.")
    missing = [
        label
        for label, value in (
            ("the licence type", provider.licence_type),
            ("the licence number", provider.licence_number),
            ("who issued the licence", provider.licence_issuer),
            ("an email address", provider.email),
            ("bank details", provider.bank_details or ""),
        )
        if not value
    ]
    if missing:
        raise InvalidInput(
            f"Before verifying {provider.label}, add {_listed(missing)}.", field="status"
        )
    _set_status(session, actor, provider, ProviderStatus.VERIFIED, now, verified=True)
    return provider


def suspend_provider(
    session: Session, *, actor: User, provider_id: int, reason: str, now: datetime
) -> Provider:
    """Stop a provider being chosen, approved or paid, with the reason kept (finance)."""
    require_role(actor, Role.FINANCE, doing="suspend providers")
    why = clean_text(reason, field="reason", label="why", required=True, limit=500)
    provider = locked_provider(session, provider_id)
    if provider.status is ProviderStatus.SUSPENDED:
        raise InvalidState(f"{provider.label} is suspended already.")
    provider.suspension_reason = why
    provider.suspended_at = now
    _set_status(session, actor, provider, ProviderStatus.SUSPENDED, now, verified=False)
    return provider


def _set_status(
    session: Session,
    actor: User,
    provider: Provider,
    status: ProviderStatus,
    now: datetime,
    *,
    verified: bool,
) -> None:
    before = _snapshot(provider)
    provider.status = status
    if verified:
        provider.verified_at = now
        provider.verified_by_id = actor.id
    provider.version += 1
    provider.updated_at = now
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action=f"provider.{'verify' if verified else 'suspend'}",
        object_type="provider",
        object_id=provider.id,
        before=before,
        after=_snapshot(provider),
    )


def _listed(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    return f"{', '.join(items[:-1])} and {items[-1]}"


def payment_blocker(provider: Provider | None) -> str | None:
    """Why a session with ``provider`` cannot be approved or paid now, or ``None``.

    A session requested before the directory existed has no provider and is paid as before.
    """
    if provider is None:
        return None
    if provider.status is ProviderStatus.PROPOSED:
        return f"{provider.label} is not verified yet; verify the provider first."
    if provider.status is ProviderStatus.SUSPENDED:
        return f"{provider.label} is suspended: {provider.suspension_reason}"
    if provider.payouts_held:
        return (
            f"{provider.label}'s bank details changed; another member of finance must confirm "
            "the change before they are paid."
        )
    return None


def bookable(session: Session, provider_id: int, actor: User) -> Provider:
    """Provider ``provider_id`` if ``actor`` may book a session with them: a verified one,
    or one they proposed themselves (another person's proposal names their therapist, which
    is theirs alone); never a suspended one."""
    provider = session.get(Provider, provider_id)
    if provider is None or (
        provider.status is ProviderStatus.PROPOSED and provider.proposed_by_id != actor.id
    ):
        raise InvalidInput("Choose a provider from the list, or propose one.", field="provider_id")
    if provider.status is ProviderStatus.SUSPENDED:
        raise InvalidInput(
            f"{provider.label} cannot take sessions paid by the programme; choose another.",
            field="provider_id",
        )
    return provider


def search_query(text: str, city: str, *, statuses: tuple[ProviderStatus, ...]) -> Select[Provider]:
    """Providers in ``statuses`` whose name or practice contains every word of ``text`` and
    whose city starts with ``city``, by name."""
    query = select(Provider).where(Provider.status.in_(statuses))
    for word in fold(text).split()[:6]:
        query = query.where(Provider.search_name.contains(word, autoescape=True))
    if folded_city := fold(city):
        query = query.where(Provider.search_city.startswith(folded_city, autoescape=True))
    return query.order_by(Provider.search_name, Provider.id)


def search_providers(
    session: Session,
    *,
    text: str = "",
    city: str = "",
    statuses: tuple[ProviderStatus, ...] = (ProviderStatus.VERIFIED,),
    limit: int = SEARCH_LIMIT,
) -> list[Provider]:
    """At most ``limit`` providers matching ``text`` and ``city`` (:func:`search_query`)."""
    return list(session.scalars(search_query(text, city, statuses=statuses).limit(limit)))


def providers_waiting(session: Session) -> int:
    """Providers finance has to act on: proposed, or with a bank change to confirm."""
    return int(
        session.scalar(
            select(func.count()).where(
                or_(Provider.status == ProviderStatus.PROPOSED, Provider.payouts_held)
            )
        )
        or 0
    )
