"""Gifts of therapy credit: giving to a bandmate or crew member, claiming by link, revoking,
sending a new link, expiring and the periodic sweep of gifts past their deadline.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from grants.domain import audit, outbox
from grants.domain.accounts import (
    PasswordRules,
    clean_display_name,
    create_user,
    find_user_by_email,
    normalise_email,
)
from grants.domain.checks import (
    Amount,
    amount_request,
    clean_text,
    read_amount,
    require_role,
    same_currency,
)
from grants.domain.errors import (
    InvalidInput,
    InvalidState,
    NotAllowed,
    NotFound,
)
from grants.domain.funds import credit_usable, plan_year_deadline, plan_year_over
from grants.domain.idempotency import Receipt, idempotent
from grants.domain.ledger import (
    Leg,
    fund_account,
    open_wallet,
    post,
)
from grants.domain.money import DEFAULT_LOCALE
from grants.domain.wallets import check_credit_wallet, credit_wallet_row, row_currency
from grants.models import (
    AccountKind,
    Gift,
    GiftState,
    Relation,
    Role,
    TransactionKind,
    User,
    WalletKind,
)

DEFAULT_GIFT_VALIDITY = timedelta(days=30)


def hash_token(token: str) -> str:
    """The stored form of a claim token."""
    return hashlib.sha256(token.encode()).hexdigest()


def give_gift(
    session: Session,
    *,
    key: str,
    actor: User,
    wallet_id: int,
    amount: Amount,
    recipient_name: str,
    recipient_email: str,
    relation: Relation,
    message: str = "",
    now: datetime,
    validity: timedelta = DEFAULT_GIFT_VALIDITY,
    locale: str = DEFAULT_LOCALE,
) -> Receipt:
    """Hold ``amount`` of the ambassador's available credit for a bandmate or crew member.

    ``amount`` may be the text the giver typed, read in ``locale`` and the wallet's currency.

    The receipt carries the claim token, once: only its hash is stored, and a retried
    request gets the receipt without it. The email that gives the recipient their link is
    recorded in the outbox in the same transaction (:mod:`grants.domain.outbox`), holding
    the token until the worker has sent it.
    """
    require_role(actor, Role.AMBASSADOR, doing="give credit")
    name = clean_display_name(recipient_name)
    email = normalise_email(recipient_email)
    note = clean_text(message, field="message", label="a message", required=False)
    try:
        relation = Relation(relation)
    except ValueError:
        raise InvalidInput("Choose bandmate, crew or other.", field="relation") from None
    if email == actor.email:
        raise InvalidInput("You cannot give credit to yourself.", field="recipient_email")
    row = credit_wallet_row(session, wallet_id)
    amount = read_amount(amount, row_currency(row), locale=locale)

    def perform() -> Receipt:
        wallet = check_credit_wallet(actor, wallet_id, row)
        if wallet.kind is not WalletKind.AMBASSADOR:
            raise NotAllowed("Credit you were given cannot be given on.")
        fund = wallet.fund
        today = now.astimezone(UTC).date()
        if not credit_usable(
            plan_year_start=fund.plan_year_start,
            plan_year_end=fund.plan_year_end,
            closed=fund.closed_at is not None,
            on=today,
        ):
            when = "has not begun" if today < fund.plan_year_start else "has ended"
            raise InvalidState(f"The plan year of {fund.name} {when}.")
        minor = same_currency(amount, fund.currency, locale=locale)
        token = secrets.token_urlsafe(32)
        gift = Gift(
            **pending_gift(
                fund_id=fund.id,
                giver_wallet_id=wallet.id,
                amount=minor,
                currency=fund.currency,
                created_at=now,
                expires_at=gift_expiry(now, plan_year_deadline(fund), validity),
                recipient_name=name,
                recipient_email=email,
                relation=relation,
                message=note,
                token=token,
            )
        )
        transaction_id = post(
            session,
            kind=TransactionKind.GIFT_HOLD,
            legs=[Leg(wallet.account, -minor), Leg(wallet.hold_account, minor)],
            actor_id=actor.id,
        )
        session.add(gift)
        session.flush()
        audit.record(
            session,
            actor_id=actor.id,
            action="gift.give",
            object_type="gift",
            object_id=gift.id,
            after=given_audit(minor, fund.currency, transaction_id),
        )
        outbox.record(
            session, kind=outbox.CLAIM_LINK, payload={"gift": gift.id, "token": token}, now=now
        )
        return Receipt(
            "gift.give", object_id=gift.id, transaction_id=transaction_id, claim_token=token
        )

    request = give_request(wallet_id, amount, name, email, relation, note)
    return idempotent(
        session, key=key, actor_id=actor.id, operation="gift.give", request=request, perform=perform
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


def claimability(gift: Gift, now: datetime) -> InvalidState | None:
    """Why ``gift`` cannot be claimed now, or ``None`` if it can."""
    if gift.state is GiftState.CLAIMED:
        return InvalidState("This gift has already been claimed.")
    if gift.state is GiftState.REVOKED:
        return InvalidState("The person who sent this gift has withdrawn it.")
    if gift.state is GiftState.EXPIRED or gift.expires_at <= now:
        return InvalidState("This claim link has expired.")
    return None


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
        _settle_gift(
            session, gift, GiftState.CLAIMED, now, extra={"recipient_wallet_id": wallet.id}
        )
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


def revoke_gift(session: Session, *, key: str, actor: User, gift_id: int, now: datetime) -> Receipt:
    """The giver takes back a gift nobody has claimed; the credit returns to them."""

    def perform() -> Receipt:
        gift = session.get(Gift, gift_id)
        if gift is None or gift.giver_wallet.user_id != actor.id:
            raise NotFound("There is no such gift.")
        return release_gift(session, gift, GiftState.REVOKED, now, actor_id=actor.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="gift.revoke",
        request=gift_request(gift_id),
        perform=perform,
    )


def resend_claim_link(
    session: Session, *, key: str, actor: User, gift_id: int, now: datetime
) -> Receipt:
    """The giver has a pending gift's recipient emailed a new claim link (the first went
    astray, say): the gift gets a new token, the old link stops working, and the email is
    recorded in the outbox; an email of the old link not yet sent is then not sent.

    Like :func:`give_gift`, the receipt carries the new token once.
    """

    def perform() -> Receipt:
        gift = session.get(Gift, gift_id)
        if gift is None or gift.giver_wallet.user_id != actor.id:
            raise NotFound("There is no such gift.")
        token = secrets.token_urlsafe(32)
        renewed = session.execute(
            update(Gift)
            .where(Gift.id == gift.id, Gift.state == GiftState.PENDING, Gift.expires_at > now)
            .values(token_hash=hash_token(token))
            .execution_options(synchronize_session=False)
        )
        session.refresh(gift)
        if renewed.rowcount != 1:  # type: ignore[attr-defined]
            raise claimability(gift, now) or InvalidState("This gift can no longer be changed.")
        audit.record(
            session,
            actor_id=actor.id,
            action="gift.resend",
            object_type="gift",
            object_id=gift.id,
            before=pending_before(),
            after={"state": "pending", "link": "new"},
        )
        outbox.record(
            session, kind=outbox.CLAIM_LINK, payload={"gift": gift.id, "token": token}, now=now
        )
        return Receipt("gift.resend", object_id=gift.id, claim_token=token)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="gift.resend",
        request=gift_request(gift_id),
        perform=perform,
    )


def expire_gift(session: Session, *, key: str, gift_id: int, now: datetime) -> Receipt:
    """Expire a pending gift past its deadline; the credit returns to the giver or the fund."""

    def perform() -> Receipt:
        gift = session.get(Gift, gift_id)
        if gift is None:
            raise NotFound("There is no such gift.")
        if gift.state is GiftState.PENDING and gift.expires_at > now:
            raise InvalidState("This gift has not reached its deadline.")
        return release_gift(session, gift, GiftState.EXPIRED, now, actor_id=None)

    return idempotent(
        session,
        key=key,
        actor_id=None,
        operation="gift.expire",
        request=gift_request(gift_id),
        perform=perform,
    )


def sweep(session: Session, *, now: datetime) -> int:
    """Expire every pending gift past its deadline; returns how many it expired.

    Safe to run at any time and as often as wanted: a gift is expired once, keyed by its id.
    """
    due = session.scalars(
        select(Gift.id)
        .where(Gift.state == GiftState.PENDING, Gift.expires_at <= now)
        .order_by(Gift.id)
    ).all()
    expired = 0
    for gift_id in due:
        try:
            expire_gift(session, key=f"sweep:gift:{gift_id}", gift_id=gift_id, now=now)
        except InvalidState:
            continue
        expired += 1
    return expired


def _settle_gift(
    session: Session,
    gift: Gift,
    state: GiftState,
    now: datetime,
    extra: dict[str, object] | None = None,
) -> None:
    """Move a gift out of ``pending`` with one guarded update, or raise why it cannot."""
    guard = [Gift.id == gift.id, Gift.state == GiftState.PENDING]
    if state is GiftState.CLAIMED:
        guard.append(Gift.expires_at > now)
    changed = session.execute(
        update(Gift)
        .where(*guard)
        .values(state=state, settled_at=now, **(extra or {}))
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(gift)
        raise claimability(gift, now) or InvalidState("This gift can no longer be changed.")
    session.refresh(gift)


def release_gift(
    session: Session, gift: Gift, state: GiftState, now: datetime, *, actor_id: int | None
) -> Receipt:
    _settle_gift(session, gift, state, now)
    wallet = gift.giver_wallet
    fund = wallet.fund
    back_to_fund = plan_year_over(fund, now)
    destination = (
        fund_account(session, fund.id, AccountKind.FUND) if back_to_fund else wallet.account
    )
    transaction_id = post(
        session,
        kind=TransactionKind.GIFT_RELEASE,
        legs=[Leg(wallet.hold_account, -gift.amount), Leg(destination, gift.amount)],
        actor_id=actor_id,
    )
    operation = release_operation(state)
    audit.record(
        session,
        actor_id=actor_id,
        action=operation,
        object_type="gift",
        object_id=gift.id,
        before=pending_before(),
        after=released_audit(state, back_to_fund, transaction_id),
    )
    return Receipt(operation, object_id=gift.id, transaction_id=transaction_id)


def gift_expiry(now: datetime, deadline: datetime, validity: timedelta) -> datetime:
    """When a gift given at ``now`` stops being claimable: ``validity`` later, or at the
    plan year's ``deadline`` if that comes first."""
    return min(now + validity, deadline)


def pending_gift(
    *,
    fund_id: int,
    giver_wallet_id: int,
    amount: int,
    currency: str,
    recipient_name: str,
    recipient_email: str,
    relation: Relation,
    message: str,
    token: str,
    created_at: datetime,
    expires_at: datetime,
) -> dict[str, object]:
    """The fields of a gift just given: pending, claimable by whoever holds ``token`` (only
    its hash is kept)."""
    return {
        "fund_id": fund_id,
        "giver_wallet_id": giver_wallet_id,
        "amount": amount,
        "currency": currency,
        "recipient_name": recipient_name,
        "recipient_email": recipient_email,
        "relation": relation,
        "message": message,
        "token_hash": hash_token(token),
        "state": GiftState.PENDING,
        "expires_at": expires_at,
        "created_at": created_at,
    }


def give_request(
    wallet_id: int, amount: Amount, name: str, email: str, relation: Relation, message: str
) -> dict[str, object]:
    """What makes two gifts the same request."""
    return {
        "wallet": wallet_id,
        **amount_request(amount),
        "name": name,
        "email": email,
        "relation": relation.value,
        "message": message,
    }


def given_audit(minor: int, currency: str, transaction_id: int) -> dict[str, object]:
    """The audit ``after`` of a gift of ``minor`` units of ``currency`` just given."""
    return {
        "state": "pending",
        "amount": minor,
        "currency": currency,
        "transaction": transaction_id,
    }


def claim_request(token: str, new_recipient_name: str | None) -> dict[str, object]:
    """What makes two claims the same request: the link's token (by its hash) and the name
    a new recipient chose."""
    return {"token": hash_token(token) if token else "", "new_recipient": new_recipient_name}


def recipient_created_audit() -> dict[str, object]:
    """The audit ``after`` of the account a claim creates for a new recipient."""
    return {"roles": ["recipient"], "via": "gift claim"}


def pending_before() -> dict[str, object]:
    """The audit ``before`` of a gift leaving ``pending`` (claimed, revoked or expired)."""
    return {"state": "pending"}


def claimed_audit(wallet_id: int, transaction_id: int) -> dict[str, object]:
    """The audit ``after`` of a gift claimed into the recipient's wallet ``wallet_id``."""
    return {"state": "claimed", "wallet": wallet_id, "transaction": transaction_id}


def claim_receipt(gift_id: int, transaction_id: int, recipient_id: int) -> Receipt:
    """The receipt of a claim: it names the recipient, whom the caller signs in next."""
    return Receipt(
        "gift.claim", object_id=gift_id, transaction_id=transaction_id, user_id=recipient_id
    )


def gift_request(gift_id: int) -> dict[str, object]:
    """What makes two revocations, expiries or new links of a gift the same request."""
    return {"gift": gift_id}


def release_operation(state: GiftState) -> str:
    """The operation (and audit action) that takes a gift to ``state`` and releases its
    credit: revoked by the giver, or expired."""
    return f"gift.{'revoke' if state is GiftState.REVOKED else 'expire'}"


def released_audit(state: GiftState, back_to_fund: bool, transaction_id: int) -> dict[str, object]:
    """The audit ``after`` of a gift revoked or expired, its credit back with the giver or,
    after the plan year, the fund."""
    return {
        "state": state.value,
        "returned_to": "fund" if back_to_fund else "giver",
        "transaction": transaction_id,
    }
