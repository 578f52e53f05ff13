"""Claiming a gift: the link's token finds it, and its credit moves into the wallet of the
recipient, signed in or new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import Row, bindparam, select
from sqlalchemy.orm import Session

from grants.domain import audit, notifications
from grants.domain.accounts import (
    PasswordRules,
    find_user_id_by_email,
    insert_user,
    new_user,
)
from grants.domain.errors import InvalidInput, InvalidState, NotAllowed, NotFound
from grants.domain.gifts import claimability, hash_token, mark_claimed, pending_before
from grants.domain.idempotency import Receipt, idempotent
from grants.domain.ledger import AccountRef, Leg, open_new_wallet, post, wallet_ref
from grants.domain.money import format_money
from grants.models import (
    AccountKind,
    Fund,
    Gift,
    GiftState,
    Role,
    TransactionKind,
    User,
    Wallet,
    WalletKind,
)


def find_gift_by_token(session: Session, token: str, *, lock: bool = False) -> Gift:
    """The gift a claim link names, or :class:`NotFound`.

    With ``lock``, the gift's row is locked and read afresh: a concurrent claim of the same
    link waits here until the first one's transaction ends, then sees how it ended (on
    SQLite, whose write transactions begin IMMEDIATE, the claims are already one at a time).
    """
    if not token or len(token) > 200:
        raise NotFound("This claim link is not valid.")
    query = select(Gift).where(Gift.token_hash == hash_token(token))
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    gift = session.scalar(query)
    if gift is None:
        raise NotFound("This claim link is not valid.")
    return gift


CLAIMABLE_GIFT = (
    select(
        Gift.id.label("id"),
        Gift.amount.label("amount"),
        Gift.recipient_email.label("recipient_email"),
        Gift.recipient_name.label("recipient_name"),
        Gift.state.label("state"),
        Gift.expires_at.label("expires_at"),
        Wallet.user_id.label("giver_id"),
        Wallet.hold_account_id.label("hold_account_id"),
        Fund.id.label("fund_id"),
        Fund.currency.label("currency"),
        User.locale.label("giver_locale"),
    )
    .join(Wallet, Wallet.id == Gift.giver_wallet_id)
    .join(Fund, Fund.id == Wallet.fund_id)
    .join(User, User.id == Wallet.user_id)
    .where(Gift.token_hash == bindparam("token_hash"))
    .with_for_update(of=Gift)
)
"""Built once: what a claim reads of the gift a link names, with its giver's wallet, fund
and locale, the gift's row locked (``FOR UPDATE OF gifts`` on PostgreSQL)."""


GiftRow = Row[*tuple[Any, ...]]
"""A row of :data:`CLAIMABLE_GIFT`."""


def locked_gift(session: Session, token: str) -> GiftRow:
    """:func:`find_gift_by_token` with ``lock``, as one row of :data:`CLAIMABLE_GIFT`
    rather than the gift and its giver's wallet, fund and user loaded one by one."""
    if not token or len(token) > 200:
        raise NotFound("This claim link is not valid.")
    gift = session.connection().execute(CLAIMABLE_GIFT, {"token_hash": hash_token(token)}).first()
    if gift is None:
        raise NotFound("This claim link is not valid.")
    return gift


def claimed_by(gift: Gift, user_id: int | None) -> datetime | None:
    """When ``gift`` was claimed into a wallet of the user ``user_id``; ``None`` if it is not
    claimed, or was claimed by someone else."""
    if user_id is None or gift.state is not GiftState.CLAIMED:
        return None
    wallet = gift.recipient_wallet
    if wallet is None or wallet.user_id != user_id:
        return None
    return gift.settled_at


@dataclass(frozen=True)
class NewRecipient:
    """The name and password of a recipient who has no account yet."""

    display_name: str
    password: str


def claim_gift(
    session: Session,
    *,
    key: str,
    token: str,
    claimant: User | None,
    new_recipient: NewRecipient | None,
    hasher: PasswordHasher,
    rules: PasswordRules,
    now: datetime,
) -> Receipt:
    """Move a pending gift's credit into its recipient's wallet.

    The recipient is the account with the gift's email: an existing one must be the signed-in
    ``claimant``; otherwise one is created from ``new_recipient``. Of a claim, a revoke and an
    expiry, exactly one succeeds: the state changes only while it is still pending and before
    its deadline. The gift is locked before anything else, so of two claims of one link the
    second waits for the first and is told the gift was already claimed, rather than
    racing it to create the recipient's account.
    """

    def perform() -> Receipt:
        gift = locked_gift(session, token)
        refusal = claimability(gift, now)
        if refusal is not None:
            raise refusal
        if claimant is not None and claimant.id == gift.giver_id:
            raise NotAllowed("You cannot claim a gift you sent.")
        recipient_id = find_user_id_by_email(session, gift.recipient_email)
        created = recipient_id is None
        if recipient_id is not None:
            if claimant is None or claimant.id != recipient_id:
                raise NotAllowed(f"Sign in as {gift.recipient_email} to claim this gift.")
            session.get_one(User, recipient_id).grant_role(Role.RECIPIENT)
        else:
            if claimant is not None:
                raise NotAllowed("This gift was sent to another email address.")
            if new_recipient is None:
                raise InvalidInput("Choose your name and a password to claim this gift.")
            recipient = new_user(
                email=gift.recipient_email,
                display_name=new_recipient.display_name,
                password=new_recipient.password,
                roles=[Role.RECIPIENT],
                hasher=hasher,
                rules=rules,
            )
            recipient_id = insert_user(session, recipient, locale=gift.giver_locale)
        wallet = (open_new_wallet if created else wallet_ref)(
            session,
            fund_id=gift.fund_id,
            currency=gift.currency,
            user_id=recipient_id,
            kind=WalletKind.RECIPIENT,
        )
        if not mark_claimed(session, gift.id, wallet.id, now):
            raise claimability(locked_gift(session, token), now) or InvalidState(
                "This gift can no longer be changed."
            )
        held = AccountRef(gift.hold_account_id, AccountKind.WALLET_HOLD, gift.currency)
        transaction_id = post(
            session,
            kind=TransactionKind.GIFT_CLAIM,
            legs=[Leg(held, -gift.amount), Leg(wallet.account, gift.amount)],
            actor_id=recipient_id,
        )
        notifications.gift_claimed(
            session,
            gift_id=gift.id,
            giver_id=gift.giver_id,
            recipient_name=gift.recipient_name,
            amount=format_money(gift.amount, gift.currency, gift.giver_locale),
        )
        events = [
            audit.Event(
                recipient_id,
                "gift.claim",
                "gift",
                gift.id,
                before=pending_before(),
                after=claimed_audit(wallet.id, transaction_id),
            )
        ]
        if created:
            events.insert(
                0,
                audit.Event(
                    recipient_id,
                    "user.create",
                    "user",
                    recipient_id,
                    after=recipient_created_audit(),
                ),
            )
        audit.record_all(session, events)
        return claim_receipt(gift.id, transaction_id, recipient_id)

    request = claim_request(token, new_recipient.display_name if new_recipient else None)
    actor_id = claimant.id if claimant is not None else None
    return idempotent(
        session,
        key=key,
        actor_id=actor_id,
        operation="gift.claim",
        request=request,
        perform=perform,
    )


def claim_request(token: str, new_recipient_name: str | None) -> dict[str, object]:
    """What makes two claims the same request: the link's token (by its hash) and the name
    a new recipient chose."""
    return {"token": hash_token(token) if token else "", "new_recipient": new_recipient_name}


def recipient_created_audit() -> dict[str, object]:
    """The audit ``after`` of the account a claim creates for a new recipient."""
    return {"roles": ["recipient"], "via": "gift claim"}


def claimed_audit(wallet_id: int, transaction_id: int) -> dict[str, object]:
    """The audit ``after`` of a gift claimed into the recipient's wallet ``wallet_id``."""
    return {"state": "claimed", "wallet": wallet_id, "transaction": transaction_id}


def claim_receipt(gift_id: int, transaction_id: int, recipient_id: int) -> Receipt:
    """The receipt of a claim: it names the recipient, whom the caller signs in next."""
    return Receipt(
        "gift.claim", object_id=gift_id, transaction_id=transaction_id, user_id=recipient_id
    )
