"""Claiming a gift: the link's token finds it, and its credit moves into the wallet of the
recipient, signed in or new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain import audit
from grants.domain.accounts import PasswordRules, create_user, find_user_by_email
from grants.domain.errors import InvalidInput, NotAllowed, NotFound
from grants.domain.gifts import claimability, hash_token, pending_before, settle_gift
from grants.domain.idempotency import Receipt, idempotent
from grants.domain.ledger import Leg, open_wallet, post
from grants.models import Gift, GiftState, Role, TransactionKind, User, WalletKind


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
        gift = find_gift_by_token(session, token, lock=True)
        refusal = claimability(gift, now)
        if refusal is not None:
            raise refusal
        giver_wallet = gift.giver_wallet
        if claimant is not None and claimant.id == giver_wallet.user_id:
            raise NotAllowed("You cannot claim a gift you sent.")
        recipient = find_user_by_email(session, gift.recipient_email)
        created = recipient is None
        if recipient is not None:
            if claimant is None or claimant.id != recipient.id:
                raise NotAllowed(f"Sign in as {gift.recipient_email} to claim this gift.")
            recipient.grant_role(Role.RECIPIENT)
        else:
            if claimant is not None:
                raise NotAllowed("This gift was sent to another email address.")
            if new_recipient is None:
                raise InvalidInput("Choose your name and a password to claim this gift.")
            recipient = create_user(
                session,
                email=gift.recipient_email,
                display_name=new_recipient.display_name,
                password=new_recipient.password,
                roles=[Role.RECIPIENT],
                hasher=hasher,
                rules=rules,
                locale=giver_wallet.user.locale,
            )
        wallet = open_wallet(session, gift.giver_wallet.fund, recipient, WalletKind.RECIPIENT)
        settle_gift(session, gift, GiftState.CLAIMED, now, extra={"recipient_wallet_id": wallet.id})
        transaction_id = post(
            session,
            kind=TransactionKind.GIFT_CLAIM,
            legs=[Leg(giver_wallet.hold_account, -gift.amount), Leg(wallet.account, gift.amount)],
            actor_id=recipient.id,
        )
        if created:
            audit.record(
                session,
                actor_id=recipient.id,
                action="user.create",
                object_type="user",
                object_id=recipient.id,
                after=recipient_created_audit(),
            )
        audit.record(
            session,
            actor_id=recipient.id,
            action="gift.claim",
            object_type="gift",
            object_id=gift.id,
            before=pending_before(),
            after=claimed_audit(wallet.id, transaction_id),
        )
        return claim_receipt(gift.id, transaction_id, recipient.id)

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
