"""Gifts of therapy credit: giving to a bandmate or crew member, revoking, sending a new
claim link, expiring and the periodic sweep of gifts past their deadline, and the steps a
gift's claim (:mod:`grants.domain.claims`) shares with them."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from grants.domain import audit, notifications, outbox
from grants.domain.accounts import clean_display_name, normalise_email
from grants.domain.checks import (
    Amount,
    amount_request,
    clean_text,
    read_amount,
    require_role,
    same_currency,
)
from grants.domain.errors import InvalidInput, InvalidState, NotAllowed, NotFound
from grants.domain.funds import credit_usable, fund_today, plan_year_deadline, plan_year_over
from grants.domain.idempotency import Receipt, idempotent
from grants.domain.ledger import Leg, fund_account, post
from grants.domain.money import DEFAULT_LOCALE
from grants.domain.statements import Prepared
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
        today = fund_today(fund, now)
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
        fields = pending_gift(
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
        transaction_id = post(
            session,
            kind=TransactionKind.GIFT_HOLD,
            legs=[Leg(wallet.account, -minor), Leg(wallet.hold_account, minor)],
            actor_id=actor.id,
        )
        gift_id: int = _NEW_GIFT.run(session, fields).fetchone()[0]
        audit.record(
            session,
            actor_id=actor.id,
            action="gift.give",
            object_type="gift",
            object_id=gift_id,
            after=given_audit(minor, fund.currency, transaction_id),
        )
        outbox.record(
            session,
            kind=outbox.CLAIM_LINK,
            payload={"gift": gift_id, "token": token},
            now=now,
            to=email,
        )
        return Receipt(
            "gift.give", object_id=gift_id, transaction_id=transaction_id, claim_token=token
        )

    request = give_request(wallet_id, amount, name, email, relation, note)
    return idempotent(
        session, key=key, actor_id=actor.id, operation="gift.give", request=request, perform=perform
    )


class GiftStatus(Protocol):
    """What deciding whether a gift can be claimed reads of it: a :class:`Gift`, or a row."""

    @property
    def state(self) -> GiftState: ...

    @property
    def expires_at(self) -> datetime: ...


def claimability(gift: GiftStatus, now: datetime) -> InvalidState | None:
    """Why ``gift`` cannot be claimed now, or ``None`` if it can."""
    if gift.state is GiftState.CLAIMED:
        return InvalidState("This gift has already been claimed.")
    if gift.state is GiftState.REVOKED:
        return InvalidState("The person who sent this gift has withdrawn it.")
    if gift.state is GiftState.EXPIRED or gift.expires_at <= now:
        return InvalidState("This claim link has expired.")
    return None


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
            session,
            kind=outbox.CLAIM_LINK,
            payload={"gift": gift.id, "token": token},
            now=now,
            to=gift.recipient_email,
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


def settle_gift(
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


_gifts: Table = Gift.__table__  # type: ignore[assignment]
_CLAIM = Prepared(
    update(_gifts)
    .where(
        _gifts.c.id == bindparam("gift_id"),
        _gifts.c.state == GiftState.PENDING.value,
        _gifts.c.expires_at > bindparam("now"),
    )
    .values(
        state=GiftState.CLAIMED.value,
        settled_at=bindparam("settled_at"),
        recipient_wallet_id=bindparam("wallet_id"),
    )
)


_NEW_GIFT = Prepared(
    insert(_gifts)
    .values(
        {
            name: bindparam(name)
            for name in (
                "fund_id",
                "giver_wallet_id",
                "amount",
                "currency",
                "recipient_name",
                "recipient_email",
                "relation",
                "message",
                "token_hash",
                "state",
                "expires_at",
                "created_at",
            )
        }
    )
    .returning(_gifts.c.id)
)
"""Built once: a gift just given, with the fields :func:`pending_gift` gives it."""


def mark_claimed(session: Session, gift_id: int, wallet_id: int, now: datetime) -> bool:
    """:func:`settle_gift` for a claim into the wallet ``wallet_id``, by a statement built
    once and without reading the gift back: the same guarded update, still pending and
    before its deadline. False when it changed nothing (the caller reads why). A gift the
    session already holds is expired, so that reading it again in this transaction shows
    the claim."""
    changed = _CLAIM.run(
        session, {"gift_id": gift_id, "now": now, "settled_at": now, "wallet_id": wallet_id}
    )
    held = session.identity_map.get(session.identity_key(Gift, gift_id))
    if held is not None:
        session.expire(held)
    return bool(changed.rowcount == 1)


def release_gift(
    session: Session, gift: Gift, state: GiftState, now: datetime, *, actor_id: int | None
) -> Receipt:
    settle_gift(session, gift, state, now)
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
    if state is GiftState.EXPIRED:
        notifications.gift_expired(
            session, gift=gift, giver_id=wallet.user_id, back_to_fund=back_to_fund
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


def pending_before() -> dict[str, object]:
    """The audit ``before`` of a gift leaving ``pending`` (claimed, revoked or expired)."""
    return {"state": "pending"}


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
