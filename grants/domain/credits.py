"""Therapy credit: budgets, allowances, gifts, claims, redemptions, payouts, plan-year close.

Every operation takes an idempotency key and the acting user, checks the actor's role and
their right to the object, flushes, and never commits. Amounts are :class:`Money`.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from argon2 import PasswordHasher
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session, aliased

from grants.domain import audit
from grants.domain.accounts import (
    PasswordRules,
    clean_display_name,
    create_user,
    find_user_by_email,
    normalise_email,
)
from grants.domain.checks import (
    MANAGERS,
    clean_payment_reference,
    clean_text,
    require_role,
    same_currency,
)
from grants.domain.errors import (
    InsufficientFunds,
    InvalidInput,
    InvalidState,
    NotAllowed,
    NotFound,
)
from grants.domain.idempotency import Receipt, idempotent
from grants.domain.ledger import (
    AccountRef,
    Leg,
    fund_account,
    lock_accounts,
    open_wallet,
    post,
)
from grants.domain.money import Money
from grants.domain.statements import Prepared
from grants.models import (
    Account,
    AccountKind,
    Ambassador,
    CohortStatus,
    Country,
    Fund,
    FundKind,
    Gift,
    GiftState,
    Programme,
    Redemption,
    RedemptionState,
    Relation,
    Role,
    TransactionKind,
    User,
    Wallet,
    WalletKind,
)

COUNTRY_CURRENCY = {Country.US: "USD", Country.GB: "GBP"}
"""The currency of the therapy credit of ambassadors in each country."""

DEFAULT_GIFT_VALIDITY = timedelta(days=30)


@dataclass(frozen=True)
class FundTerms:
    """What a credit operation checks of a therapy fund: its currency and its plan year."""

    id: int
    name: str
    kind: FundKind
    currency: str
    plan_year_start: date
    plan_year_end: date
    closed_at: datetime | None


@dataclass(frozen=True)
class CreditWallet:
    """A wallet as a credit operation needs it: owner, kind, its two accounts and its fund's
    terms, read as one row rather than as four loaded models."""

    id: int
    user_id: int
    kind: WalletKind
    fund: FundTerms
    account: AccountRef
    hold_account: AccountRef


CREDIT_WALLET = (
    select(
        Wallet.user_id,
        Wallet.kind,
        Wallet.account_id,
        Wallet.hold_account_id,
        Fund.id,
        Fund.name,
        Fund.kind,
        Fund.currency,
        Fund.plan_year_start,
        Fund.plan_year_end,
        Fund.closed_at,
    )
    .join(Fund, Fund.id == Wallet.fund_id)
    .where(Wallet.id == bindparam("wallet_id"))
)
"""Built once: building a query costs more than running it."""
_REDEMPTION_FIELDS = (
    "wallet_id",
    "amount",
    "currency",
    "provider_name",
    "session_date",
    "state",
    "reason",
    "requested_at",
)
NEW_REDEMPTION = Prepared(
    insert(Redemption)
    .values({name: bindparam(name) for name in _REDEMPTION_FIELDS})
    .returning(Redemption.id)
)


# --- shared checks -------------------------------------------------------------------------


def _therapy_fund(session: Session, fund_id: int) -> Fund:
    fund = session.get(Fund, fund_id)
    if fund is None or fund.kind is not FundKind.THERAPY:
        raise NotFound("There is no such therapy fund.")
    return fund


def _open_fund(session: Session, fund_id: int) -> Fund:
    fund = _therapy_fund(session, fund_id)
    if fund.closed_at is not None:
        raise InvalidState(f"The plan year of {fund.name} is closed.")
    return fund


def _own_wallet(session: Session, actor: User, wallet_id: int) -> CreditWallet:
    """The actor's wallet in a therapy fund whose plan year is not closed; anyone else's
    wallet is reported as not found."""
    row = session.connection().execute(CREDIT_WALLET, {"wallet_id": wallet_id}).first()
    if row is None or row.user_id != actor.id:
        raise NotFound("There is no such wallet.")
    user_id, kind, account_id, hold_account_id, *terms = row
    fund = FundTerms(*terms)
    if fund.kind is not FundKind.THERAPY:
        raise NotFound("There is no such wallet.")
    if fund.closed_at is not None:
        raise InvalidState(f"The plan year of {fund.name} is closed.")
    return CreditWallet(
        id=wallet_id,
        user_id=user_id,
        kind=kind,
        fund=fund,
        account=AccountRef(account_id, AccountKind.WALLET, fund.currency),
        hold_account=AccountRef(hold_account_id, AccountKind.WALLET_HOLD, fund.currency),
    )


def credit_usable(*, plan_year_start: date, plan_year_end: date, closed: bool, on: date) -> bool:
    """Whether a fund's credit can be given or spent on the day ``on``: its plan year has
    begun and not ended, and has not been closed. Screens ask this too, to offer the forms."""
    return not closed and plan_year_start <= on <= plan_year_end


def _plan_year_over(fund: Fund | FundTerms, now: datetime) -> bool:
    return fund.closed_at is not None or now.astimezone(UTC).date() > fund.plan_year_end


def plan_year_deadline(fund: Fund | FundTerms) -> datetime:
    """The first instant after the fund's plan year (midnight UTC after its last day)."""
    return datetime.combine(fund.plan_year_end + timedelta(days=1), time(0), tzinfo=UTC)


def hash_token(token: str) -> str:
    """The stored form of a claim token."""
    return hashlib.sha256(token.encode()).hexdigest()


# --- budgets and allowances ----------------------------------------------------------------


def change_budget(
    session: Session, *, key: str, actor: User, fund_id: int, amount: Money, reason: str
) -> Receipt:
    """Raise (positive ``amount``) the fund's budget; see :func:`lower_budget` to lower it."""
    return _budget(
        session, key=key, actor=actor, fund_id=fund_id, amount=amount, reason=reason, lower=False
    )


def lower_budget(
    session: Session, *, key: str, actor: User, fund_id: int, amount: Money, reason: str
) -> Receipt:
    """Lower the fund's budget by ``amount``; never below what is already allocated."""
    return _budget(
        session, key=key, actor=actor, fund_id=fund_id, amount=amount, reason=reason, lower=True
    )


def _budget(
    session: Session,
    *,
    key: str,
    actor: User,
    fund_id: int,
    amount: Money,
    reason: str,
    lower: bool,
) -> Receipt:
    require_role(actor, *MANAGERS, doing="change a fund's budget")
    reason = clean_text(reason, field="reason", label="a reason", required=True)
    operation = "fund.budget_decrease" if lower else "fund.budget_increase"

    def perform() -> Receipt:
        fund = session.get(Fund, fund_id)
        if fund is None:
            raise NotFound("There is no such fund.")
        if fund.closed_at is not None:
            raise InvalidState(f"The plan year of {fund.name} is closed.")
        minor = same_currency(amount, fund.currency)
        source = fund_account(session, fund.id, AccountKind.BUDGET_SOURCE)
        pool = fund_account(session, fund.id, AccountKind.FUND)
        sign = -1 if lower else 1
        try:
            transaction_id = post(
                session,
                kind=TransactionKind.BUDGET_DECREASE if lower else TransactionKind.BUDGET_INCREASE,
                legs=[Leg(source, -sign * minor), Leg(pool, sign * minor)],
                actor_id=actor.id,
                memo=reason,
            )
        except InsufficientFunds as error:
            raise type(error)(
                "The budget cannot go below what is already allocated or committed."
            ) from None
        audit.record(
            session,
            actor_id=actor.id,
            action=operation,
            object_type="fund",
            object_id=fund.id,
            after={
                "amount": minor,
                "currency": fund.currency,
                "reason": reason,
                "transaction": transaction_id,
            },
        )
        return Receipt(operation, object_id=fund.id, transaction_id=transaction_id)

    request = {
        "fund": fund_id,
        "amount": amount.minor,
        "currency": amount.currency,
        "reason": reason,
    }
    return idempotent(
        session, key=key, actor_id=actor.id, operation=operation, request=request, perform=perform
    )


def allocate_allowance(
    session: Session, *, key: str, actor: User, fund_id: int, ambassador_id: int, amount: Money
) -> Receipt:
    """Move ``amount`` from a therapy fund into one ambassador's wallet."""
    require_role(actor, *MANAGERS, doing="allocate allowances")

    def perform() -> Receipt:
        fund = _open_fund(session, fund_id)
        minor = same_currency(amount, fund.currency)
        ambassador = session.get(Ambassador, ambassador_id)
        if ambassador is None:
            raise NotFound("There is no such ambassador.")
        _check_eligible(ambassador, fund)
        transaction_id = _allocate(session, fund, [ambassador], minor, actor)
        return Receipt("allowance.allocate", object_id=ambassador.id, transaction_id=transaction_id)

    request = {
        "fund": fund_id,
        "ambassador": ambassador_id,
        "amount": amount.minor,
        "currency": amount.currency,
    }
    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="allowance.allocate",
        request=request,
        perform=perform,
    )


@dataclass(frozen=True)
class CohortPreview:
    """Who a bulk allocation would reach and what it would cost."""

    ambassador_ids: list[int]
    each: int
    currency: str

    @property
    def total(self) -> int:
        return self.each * len(self.ambassador_ids)

    @property
    def cohort(self) -> str:
        """A digest of exactly who the preview reaches, for the confirmation to carry."""
        members = ",".join(map(str, self.ambassador_ids))
        return hashlib.sha256(members.encode()).hexdigest()[:32]


def preview_cohort(
    session: Session, *, fund_id: int, amount: Money, programme: str | None, country: Country | None
) -> CohortPreview:
    """The current ambassadors of a programme and/or country whose currency is the fund's."""
    fund = _open_fund(session, fund_id)
    minor = same_currency(amount, fund.currency)
    countries = [c for c, currency in COUNTRY_CURRENCY.items() if currency == fund.currency]
    if country is not None:
        if country not in countries:
            raise InvalidInput(
                f"{country.label} ambassadors are not paid from a {fund.currency} fund.",
                field="country",
            )
        countries = [country]
    query = (
        select(Ambassador.id)
        .where(Ambassador.cohort_status == CohortStatus.CURRENT, Ambassador.country.in_(countries))
        .order_by(Ambassador.id)
    )
    if programme:
        query = query.join(Ambassador.programme).where(Programme.code == programme)
    return CohortPreview(list(session.scalars(query)), minor, fund.currency)


def allocate_cohort(
    session: Session,
    *,
    key: str,
    actor: User,
    fund_id: int,
    amount: Money,
    programme: str | None = None,
    country: Country | None = None,
    previewed: str | None = None,
) -> Receipt:
    """Give every current ambassador of a cohort ``amount``: all of them, or none.

    ``previewed`` is the :attr:`CohortPreview.cohort` the manager confirmed; if the cohort
    has changed since (someone joined or left), nothing is allocated.
    """
    require_role(actor, *MANAGERS, doing="allocate allowances")

    def perform() -> Receipt:
        preview = preview_cohort(
            session, fund_id=fund_id, amount=amount, programme=programme, country=country
        )
        if not preview.ambassador_ids:
            raise InvalidInput("No current ambassadors match that programme and country.")
        if previewed is not None and previewed != preview.cohort:
            raise InvalidState(
                f"The cohort has changed since the preview: it now has "
                f"{len(preview.ambassador_ids)} ambassadors. Nothing was allocated; check the "
                "new preview and confirm again."
            )
        fund = _open_fund(session, fund_id)
        ambassadors = list(
            session.scalars(select(Ambassador).where(Ambassador.id.in_(preview.ambassador_ids)))
        )
        transaction_id = _allocate(session, fund, ambassadors, preview.each, actor)
        return Receipt(
            "allowance.allocate_cohort", object_id=len(ambassadors), transaction_id=transaction_id
        )

    request = {
        "fund": fund_id,
        "amount": amount.minor,
        "currency": amount.currency,
        "programme": programme,
        "country": country.value if country else None,
        "previewed": previewed,
    }
    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="allowance.allocate_cohort",
        request=request,
        perform=perform,
    )


def currency_mismatch(country: Country, currency: str) -> str | None:
    """Why a fund in ``currency`` cannot pay an ambassador of ``country``, or ``None`` when
    it can (US ambassadors are paid in USD, UK ambassadors in GBP)."""
    if COUNTRY_CURRENCY[country] == currency:
        return None
    return f"{country.label} ambassadors are not paid from a {currency} fund."


def _check_eligible(ambassador: Ambassador, fund: Fund) -> None:
    mismatch = currency_mismatch(ambassador.country, fund.currency)
    if mismatch is not None:
        raise InvalidInput(mismatch, field="fund")
    if ambassador.cohort_status is CohortStatus.ALUMNI:
        raise InvalidInput("Alumni do not receive new allowances.", field="ambassador")


def _allocate(
    session: Session, fund: Fund, ambassadors: list[Ambassador], each: int, actor: User
) -> int:
    pool = fund_account(session, fund.id, AccountKind.FUND)
    wallets = [open_wallet(session, fund, a.user, WalletKind.AMBASSADOR) for a in ambassadors]
    legs = [Leg(pool, -each * len(wallets))] + [Leg(w.account, each) for w in wallets]
    try:
        transaction_id = post(session, kind=TransactionKind.ALLOWANCE, legs=legs, actor_id=actor.id)
    except InsufficientFunds:
        raise InsufficientFunds(
            "The fund's remaining budget cannot cover this allocation; nothing was allocated."
        ) from None
    for wallet in wallets:
        audit.record(
            session,
            actor_id=actor.id,
            action="allowance.allocate",
            object_type="wallet",
            object_id=wallet.id,
            after={"amount": each, "currency": fund.currency, "transaction": transaction_id},
        )
    return transaction_id


# --- gifts ---------------------------------------------------------------------------------


def give_gift(
    session: Session,
    *,
    key: str,
    actor: User,
    wallet_id: int,
    amount: Money,
    recipient_name: str,
    recipient_email: str,
    relation: Relation,
    message: str = "",
    now: datetime,
    validity: timedelta = DEFAULT_GIFT_VALIDITY,
) -> Receipt:
    """Hold ``amount`` of the ambassador's available credit for a bandmate or crew member.

    The receipt carries the claim token, once: only its hash is stored, and a retried
    request gets the receipt without it.
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

    def perform() -> Receipt:
        wallet = _own_wallet(session, actor, wallet_id)
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
        minor = same_currency(amount, fund.currency)
        token = secrets.token_urlsafe(32)
        gift = Gift(
            fund_id=fund.id,
            giver_wallet_id=wallet.id,
            amount=minor,
            currency=fund.currency,
            recipient_name=name,
            recipient_email=email,
            relation=relation,
            message=note,
            token_hash=hash_token(token),
            state=GiftState.PENDING,
            expires_at=min(now + validity, plan_year_deadline(fund)),
            created_at=now,
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
            after={
                "state": "pending",
                "amount": minor,
                "currency": fund.currency,
                "transaction": transaction_id,
            },
        )
        return Receipt(
            "gift.give", object_id=gift.id, transaction_id=transaction_id, claim_token=token
        )

    request = {
        "wallet": wallet_id,
        "amount": amount.minor,
        "currency": amount.currency,
        "name": name,
        "email": email,
        "relation": relation.value,
        "message": note,
    }
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
    token_digest = hash_token(token) if token else ""

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
                after={"roles": ["recipient"], "via": "gift claim"},
            )
        audit.record(
            session,
            actor_id=recipient.id,
            action="gift.claim",
            object_type="gift",
            object_id=gift.id,
            before={"state": "pending"},
            after={"state": "claimed", "wallet": wallet.id, "transaction": transaction_id},
        )
        return Receipt("gift.claim", object_id=gift.id, transaction_id=transaction_id)

    request = {
        "token": token_digest,
        "new_recipient": new_recipient.display_name if new_recipient else None,
    }
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
        return _release_gift(session, gift, GiftState.REVOKED, now, actor_id=actor.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="gift.revoke",
        request={"gift": gift_id},
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
        return _release_gift(session, gift, GiftState.EXPIRED, now, actor_id=None)

    return idempotent(
        session,
        key=key,
        actor_id=None,
        operation="gift.expire",
        request={"gift": gift_id},
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


def _release_gift(
    session: Session, gift: Gift, state: GiftState, now: datetime, *, actor_id: int | None
) -> Receipt:
    _settle_gift(session, gift, state, now)
    wallet = gift.giver_wallet
    fund = wallet.fund
    back_to_fund = _plan_year_over(fund, now)
    destination = (
        fund_account(session, fund.id, AccountKind.FUND) if back_to_fund else wallet.account
    )
    transaction_id = post(
        session,
        kind=TransactionKind.GIFT_RELEASE,
        legs=[Leg(wallet.hold_account, -gift.amount), Leg(destination, gift.amount)],
        actor_id=actor_id,
    )
    operation = f"gift.{'revoke' if state is GiftState.REVOKED else 'expire'}"
    audit.record(
        session,
        actor_id=actor_id,
        action=operation,
        object_type="gift",
        object_id=gift.id,
        before={"state": "pending"},
        after={
            "state": state.value,
            "returned_to": "fund" if back_to_fund else "giver",
            "transaction": transaction_id,
        },
    )
    return Receipt(operation, object_id=gift.id, transaction_id=transaction_id)


# --- redemptions ---------------------------------------------------------------------------


def request_redemption(
    session: Session,
    *,
    key: str,
    actor: User,
    wallet_id: int,
    amount: Money,
    provider_name: str,
    session_date: date,
    today: date,
) -> Receipt:
    """Hold credit for one therapy session until finance decides."""
    require_role(actor, Role.AMBASSADOR, Role.RECIPIENT, doing="redeem credit")
    provider = clean_text(
        provider_name, field="provider_name", label="the provider's name", required=True, limit=200
    )
    if session_date > today:
        raise InvalidInput("The session date cannot be in the future.", field="session_date")

    def perform() -> Receipt:
        wallet = _own_wallet(session, actor, wallet_id)
        fund = wallet.fund
        if not fund.plan_year_start <= session_date <= fund.plan_year_end:
            raise InvalidInput(
                "The session must fall within the plan year, "
                f"{fund.plan_year_start} to {fund.plan_year_end}.",
                field="session_date",
            )
        minor = same_currency(amount, fund.currency)
        transaction_id = post(
            session,
            kind=TransactionKind.REDEMPTION_HOLD,
            legs=[Leg(wallet.account, -minor), Leg(wallet.hold_account, minor)],
            actor_id=actor.id,
        )
        redemption_id: int = NEW_REDEMPTION.run(
            session,
            {
                "wallet_id": wallet.id,
                "amount": minor,
                "currency": fund.currency,
                "provider_name": provider,
                "session_date": session_date,
                "state": RedemptionState.REQUESTED.value,
                "reason": "",
                "requested_at": datetime.now(UTC),
            },
        ).fetchone()[0]
        audit.record(
            session,
            actor_id=actor.id,
            action="redemption.request",
            object_type="redemption",
            object_id=redemption_id,
            after={
                "state": "requested",
                "amount": minor,
                "currency": fund.currency,
                "transaction": transaction_id,
            },
        )
        return Receipt("redemption.request", object_id=redemption_id, transaction_id=transaction_id)

    request = {
        "wallet": wallet_id,
        "amount": amount.minor,
        "currency": amount.currency,
        "provider": provider,
        "session_date": session_date.isoformat(),
    }
    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="redemption.request",
        request=request,
        perform=perform,
    )


def _decidable(session: Session, actor: User, redemption_id: int) -> Redemption:
    """A redemption finance may decide: not the actor's own."""
    require_role(actor, Role.FINANCE, doing="decide redemptions")
    redemption = session.get(Redemption, redemption_id)
    if redemption is None:
        raise NotFound("There is no such redemption.")
    if redemption.wallet.user_id == actor.id:
        raise NotAllowed("You cannot decide on your own redemption; ask another member of finance.")
    return redemption


def _move_redemption(
    session: Session,
    redemption: Redemption,
    from_state: RedemptionState,
    to_state: RedemptionState,
    **values: object,
) -> None:
    """Change a redemption's state with one guarded update, or raise why it cannot."""
    changed = session.execute(
        update(Redemption)
        .where(Redemption.id == redemption.id, Redemption.state == from_state)
        .values(state=to_state, **values)
        .execution_options(synchronize_session=False)
    )
    session.refresh(redemption)
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidState(f"This redemption is {redemption.state.value}, not {from_state.value}.")


def approve_redemption(
    session: Session, *, key: str, actor: User, redemption_id: int, now: datetime
) -> Receipt:
    """Approve the payout: the held credit becomes payable to the provider."""

    def perform() -> Receipt:
        redemption = _decidable(session, actor, redemption_id)
        _move_redemption(
            session,
            redemption,
            RedemptionState.REQUESTED,
            RedemptionState.APPROVED,
            decided_at=now,
            decided_by_id=actor.id,
        )
        wallet = redemption.wallet
        payable = fund_account(session, wallet.fund_id, AccountKind.PAYABLE_TO_PROVIDERS)
        transaction_id = post(
            session,
            kind=TransactionKind.REDEMPTION_APPROVAL,
            legs=[Leg(wallet.hold_account, -redemption.amount), Leg(payable, redemption.amount)],
            actor_id=actor.id,
        )
        _audit_redemption(session, actor, redemption, "approve", "requested", transaction_id)
        return Receipt("redemption.approve", object_id=redemption.id, transaction_id=transaction_id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="redemption.approve",
        request={"redemption": redemption_id},
        perform=perform,
    )


def reject_redemption(
    session: Session, *, key: str, actor: User, redemption_id: int, reason: str, now: datetime
) -> Receipt:
    """Refuse the payout with a reason the redeemer will see; the credit is released."""
    reason = clean_text(reason, field="reason", label="a reason", required=True)

    def perform() -> Receipt:
        redemption = _decidable(session, actor, redemption_id)
        _move_redemption(
            session,
            redemption,
            RedemptionState.REQUESTED,
            RedemptionState.REJECTED,
            decided_at=now,
            decided_by_id=actor.id,
            reason=reason,
        )
        return _release_redemption(session, actor, redemption, "reject", now)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="redemption.reject",
        request={"redemption": redemption_id, "reason": reason},
        perform=perform,
    )


def cancel_redemption(
    session: Session, *, key: str, actor: User, redemption_id: int, now: datetime
) -> Receipt:
    """The redeemer withdraws a request finance has not decided yet."""

    def perform() -> Receipt:
        redemption = session.get(Redemption, redemption_id)
        if redemption is None or redemption.wallet.user_id != actor.id:
            raise NotFound("There is no such redemption.")
        _move_redemption(
            session,
            redemption,
            RedemptionState.REQUESTED,
            RedemptionState.CANCELLED,
            decided_at=now,
        )
        return _release_redemption(session, actor, redemption, "cancel", now)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="redemption.cancel",
        request={"redemption": redemption_id},
        perform=perform,
    )


def pay_redemption(
    session: Session,
    *,
    key: str,
    actor: User,
    redemption_id: int,
    payment_reference: str,
    now: datetime,
) -> Receipt:
    """Record that the provider was paid for an approved redemption."""
    reference = clean_payment_reference(payment_reference)

    def perform() -> Receipt:
        redemption = _decidable(session, actor, redemption_id)
        if redemption.state is RedemptionState.PAID:
            raise InvalidState(
                f"This redemption was already paid, reference {redemption.payment_reference}."
            )
        _move_redemption(
            session,
            redemption,
            RedemptionState.APPROVED,
            RedemptionState.PAID,
            paid_at=now,
            payment_reference=reference,
        )
        fund_id = redemption.wallet.fund_id
        transaction_id = post(
            session,
            kind=TransactionKind.PROVIDER_PAYMENT,
            legs=[
                Leg(
                    fund_account(session, fund_id, AccountKind.PAYABLE_TO_PROVIDERS),
                    -redemption.amount,
                ),
                Leg(
                    fund_account(session, fund_id, AccountKind.PAID_TO_PROVIDERS), redemption.amount
                ),
            ],
            actor_id=actor.id,
            memo=reference,
        )
        _audit_redemption(session, actor, redemption, "pay", "approved", transaction_id)
        return Receipt("redemption.pay", object_id=redemption.id, transaction_id=transaction_id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="redemption.pay",
        request={"redemption": redemption_id, "reference": reference},
        perform=perform,
    )


def _release_redemption(
    session: Session, actor: User, redemption: Redemption, verb: str, now: datetime
) -> Receipt:
    wallet = redemption.wallet
    back_to_fund = _plan_year_over(wallet.fund, now)
    destination = (
        fund_account(session, wallet.fund_id, AccountKind.FUND) if back_to_fund else wallet.account
    )
    transaction_id = post(
        session,
        kind=TransactionKind.REDEMPTION_RELEASE,
        legs=[Leg(wallet.hold_account, -redemption.amount), Leg(destination, redemption.amount)],
        actor_id=actor.id,
    )
    _audit_redemption(session, actor, redemption, verb, "requested", transaction_id)
    return Receipt(f"redemption.{verb}", object_id=redemption.id, transaction_id=transaction_id)


def _audit_redemption(
    session: Session,
    actor: User,
    redemption: Redemption,
    verb: str,
    before: str,
    transaction_id: int,
) -> None:
    audit.record(
        session,
        actor_id=actor.id,
        action=f"redemption.{verb}",
        object_type="redemption",
        object_id=redemption.id,
        before={"state": before},
        after={"state": redemption.state.value, "transaction": transaction_id},
    )


# --- plan-year close -----------------------------------------------------------------------


def close_plan_year(
    session: Session, *, key: str, actor: User, fund_id: int, now: datetime
) -> Receipt:
    """Settle a therapy fund after its plan year: every unspent credit and open hold goes back
    to the fund, in one ledger transaction; pending gifts and undecided redemptions expire.

    Approved redemptions stay payable: finance still pays them.
    """
    require_role(actor, Role.FINANCE, Role.ADMIN, doing="close a plan year")

    def perform() -> Receipt:
        fund = _open_fund(session, fund_id)
        if now.astimezone(UTC).date() <= fund.plan_year_end:
            raise InvalidState(f"The plan year of {fund.name} runs until {fund.plan_year_end}.")
        closed = session.execute(
            update(Fund)
            .where(Fund.id == fund.id, Fund.closed_at.is_(None))
            .values(closed_at=now)
            .execution_options(synchronize_session=False)
        )
        if closed.rowcount != 1:  # type: ignore[attr-defined]
            raise InvalidState(f"The plan year of {fund.name} is already closed.")
        pending_gifts = (
            session.execute(
                update(Gift)
                .where(Gift.fund_id == fund.id, Gift.state == GiftState.PENDING)
                .values(state=GiftState.EXPIRED, settled_at=now)
                .returning(Gift.id)
                .execution_options(synchronize_session=False)
            )
            .scalars()
            .all()
        )
        wallet_ids = select(Wallet.id).where(Wallet.fund_id == fund.id).scalar_subquery()
        open_redemptions = (
            session.execute(
                update(Redemption)
                .where(
                    Redemption.wallet_id.in_(wallet_ids),
                    Redemption.state == RedemptionState.REQUESTED,
                )
                .values(state=RedemptionState.EXPIRED, decided_at=now)
                .returning(Redemption.id)
                .execution_options(synchronize_session=False)
            )
            .scalars()
            .all()
        )
        pool = fund_account(session, fund.id, AccountKind.FUND)
        credit_accounts = session.scalars(
            select(Account.id).where(
                Account.fund_id == fund.id,
                Account.kind.in_([AccountKind.WALLET, AccountKind.WALLET_HOLD]),
            )
        ).all()
        locked = lock_accounts(session, [pool.id, *credit_accounts])
        unspent = [
            locked[account_id] for account_id in credit_accounts if locked[account_id].balance
        ]
        transaction_id = None
        if unspent:
            legs = [Leg(account, -account.balance) for account in unspent]
            legs.append(Leg(pool, sum(account.balance for account in unspent)))
            transaction_id = post(
                session,
                kind=TransactionKind.PLAN_YEAR_CLOSE,
                legs=legs,
                actor_id=actor.id,
                memo="Plan-year close",
            )
        session.expire_all()
        audit.record(
            session,
            actor_id=actor.id,
            action="fund.close_plan_year",
            object_type="fund",
            object_id=fund_id,
            after={
                "expired_gifts": list(pending_gifts),
                "expired_redemptions": list(open_redemptions),
                "transaction": transaction_id,
            },
        )
        return Receipt("fund.close_plan_year", object_id=fund_id, transaction_id=transaction_id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="fund.close_plan_year",
        request={"fund": fund_id},
        perform=perform,
    )


# --- balances ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WalletBalances:
    """A wallet's credit in minor units: available to spend, held, and the two together."""

    currency: str
    available: int
    held: int

    @property
    def posted(self) -> int:
        return self.available + self.held


_available, _held = aliased(Account), aliased(Account)
WALLET_BALANCES = (
    select(_available.currency, _available.balance, _held.balance)
    .select_from(Wallet)
    .join(_available, _available.id == Wallet.account_id)
    .join(_held, _held.id == Wallet.hold_account_id)
    .where(Wallet.id == bindparam("wallet_id"))
)
"""One indexed row per wallet: built once, since building a query costs more than running it."""


def wallet_balances(session: Session, wallet_id: int) -> WalletBalances:
    """Read a wallet's two stored balances: constant time, whatever the size of the ledger."""
    row = session.execute(WALLET_BALANCES, {"wallet_id": wallet_id}).one_or_none()
    if row is None:
        raise NotFound("There is no such wallet.")
    currency, available_balance, held_balance = row
    return WalletBalances(currency=currency, available=available_balance, held=held_balance)
