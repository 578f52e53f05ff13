"""A provider's bank details: given and changed by finance, stored encrypted, seen in full
only by a deliberate, audited reveal.

Changing the account a provider is paid into is how payment-redirection fraud works (an
email "from the practice" with new details). So a change of details a provider already had
holds their payouts (:attr:`~grants.models.Provider.payouts_held`), tells the provider at the
email address held before the change, and waits for another member of finance to confirm it
(:func:`confirm_bank_details`). Details given for the first time hold nothing: verifying the
provider is that check.
"""

from __future__ import annotations

from datetime import datetime

from cryptography.fernet import MultiFernet
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.data_key import decrypt, encrypt, rotate_token
from grants.domain import audit, outbox
from grants.domain.checks import require_role
from grants.domain.errors import InvalidState, NotAllowed
from grants.domain.providers import changed_by_version, locked_provider
from grants.models import Fund, Provider, Role, User
from grants.payments.bank_details import BankDetails

BANK_DETAILS_CHANGED = "provider.bank_details_changed"
"""The email telling a provider their bank details changed; payload ``provider``,
``summary``, ``changed_at``."""


def set_bank_details(
    session: Session,
    *,
    actor: User,
    provider_id: int,
    details: BankDetails,
    keys: MultiFernet,
    version: int | None,
    now: datetime,
) -> Provider:
    """Store ``details`` (checked already, by :mod:`grants.payments.bank_details`) as the
    account provider ``provider_id`` is paid into. Finance only.

    A change of details the provider already had holds their payouts until another member
    of finance confirms, and emails the provider at the address held before the change.
    """
    require_role(actor, Role.FINANCE, doing="give bank details")
    provider = locked_provider(session, provider_id)
    changed_by_version(provider, version)
    had = provider.bank_details is not None
    before = provider.bank_summary
    told = provider.email
    provider.bank_details = encrypt(keys, details.to_json())
    provider.bank_summary = details.masked()
    provider.bank_changed_at = now
    provider.bank_changed_by_id = actor.id
    provider.payouts_held = had
    provider.version += 1
    provider.updated_at = now
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="provider.bank_details_change" if had else "provider.bank_details_give",
        object_type="provider",
        object_id=provider.id,
        before={"bank": before} if had else None,
        after={"bank": provider.bank_summary, "payouts_held": provider.payouts_held},
    )
    if had and told:
        outbox.record(
            session,
            kind=BANK_DETAILS_CHANGED,
            payload={
                "provider": provider.id,
                "summary": provider.bank_summary,
                "changed_at": now.isoformat(),
                "to": told,
            },
            now=now,
            to=told,
        )
    return provider


def confirm_bank_details(
    session: Session, *, actor: User, provider_id: int, version: int | None, now: datetime
) -> Provider:
    """Release the hold a change of bank details put on a provider's payouts. Only a member
    of finance other than the one who made the change may: four eyes on where money goes."""
    require_role(actor, Role.FINANCE, doing="confirm bank details")
    provider = locked_provider(session, provider_id)
    changed_by_version(provider, version)
    if not provider.payouts_held:
        raise InvalidState(f"{provider.label}'s payouts are not held.")
    if provider.bank_changed_by_id == actor.id:
        raise NotAllowed(
            "You changed these bank details; another member of finance must confirm them."
        )
    provider.payouts_held = False
    provider.version += 1
    provider.updated_at = now
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="provider.bank_details_confirm",
        object_type="provider",
        object_id=provider.id,
        after={"bank": provider.bank_summary, "payouts_held": False},
    )
    return provider


def reveal_bank_details(
    session: Session, *, actor: User, provider_id: int, keys: MultiFernet
) -> BankDetails:
    """The provider's bank details in full, for finance, with the reveal written to the
    audit trail (the caller commits it, so the trail keeps every look)."""
    require_role(actor, Role.FINANCE, doing="see bank details")
    provider = session.get(Provider, provider_id)
    if provider is None or provider.bank_details is None:
        raise InvalidState("There are no bank details to show.")
    details = read_bank_details(provider, keys)
    audit.record(
        session,
        actor_id=actor.id,
        action="provider.bank_details_reveal",
        object_type="provider",
        object_id=provider.id,
        after={"bank": provider.bank_summary},
    )
    return details


def read_bank_details(provider: Provider, keys: MultiFernet) -> BankDetails:
    """The provider's bank details decrypted, for building a payment file."""
    if provider.bank_details is None:
        raise InvalidState(f"There are no bank details for {provider.label}.")
    return BankDetails.from_json(decrypt(keys, provider.bank_details))


def rotate_tokens(session: Session, *, keys: MultiFernet) -> int:
    """Encrypt every stored bank-details token (providers' and funds' own accounts) again
    with the newest key, locking each row; returns how many were rewritten. Run after a new
    key is put first (``flask grants rotate-data-key``); the old keys can be dropped once
    it has run."""
    rewritten = 0
    for provider in session.scalars(
        select(Provider).where(Provider.bank_details.is_not(None)).with_for_update()
    ):
        assert provider.bank_details is not None
        provider.bank_details = rotate_token(keys, provider.bank_details)
        rewritten += 1
    for fund in session.scalars(
        select(Fund).where(Fund.payer_account.is_not(None)).with_for_update()
    ):
        assert fund.payer_account is not None
        fund.payer_account = rotate_token(keys, fund.payer_account)
        rewritten += 1
    session.flush()
    return rewritten
