"""Paying therapists: approved redemptions paid in batches under one payment reference, and
the batch exported as CSV for the bank.

A batch is the set of redemptions paid under one payment reference; a reference names one
batch only, so the reference is enough to find the batch again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from grants.csv_cells import csv_text, safe_cell
from grants.domain import audit
from grants.domain.checks import clean_payment_reference, require_role
from grants.domain.errors import Conflict, InvalidInput, InvalidState, NotFound
from grants.domain.idempotency import Receipt, idempotent
from grants.domain.money import plain_amount
from grants.domain.paging import PER_PAGE, Page, paginate_rows
from grants.domain.redemptions import pay_redemption
from grants.models import (
    Ambassador,
    Programme,
    Redemption,
    RedemptionState,
    Role,
    User,
    Wallet,
    WalletKind,
)

BATCH_MAX = 500
"""The most redemptions one batch may pay."""

CSV_HEADER = (
    "provider_name",
    "amount",
    "currency",
    "session_date",
    "redemption_id",
    "payment_reference",
)
"""The columns of a payout export, in order."""


def batch_member_key(batch_key: str, redemption_id: int) -> str:
    """The idempotency key of paying one redemption of the batch with key ``batch_key``.

    Derived, so that a retried batch pays nothing twice, and hashed, so that it fits the
    key column whatever the length of ``batch_key``.
    """
    digest = hashlib.sha256(batch_key.encode()).hexdigest()[:40]
    return f"payout-batch:{digest}:{redemption_id}"


def pay_redemptions(
    session: Session,
    *,
    key: str,
    actor: User,
    redemption_ids: Iterable[int],
    payment_reference: str,
    now: datetime,
) -> Receipt:
    """Mark approved redemptions paid under one payment reference: all of them, or none.

    Each is paid by :func:`grants.domain.redemptions.pay_redemption` with a key derived from
    ``key`` and its id, inside the batch's own savepoint: one refusal (a redemption not
    approved, the actor's own, paid by someone else meanwhile) undoes the whole batch. An
    empty batch, one mixing currencies, and a reference already used for another batch are
    refused. The receipt's ``object_id`` is the number of redemptions paid.

    The batch's redemptions are locked first, in id order, before any account or the audit
    chain: two batches sharing a redemption queue for it instead of deadlocking, and the
    second finds it paid and pays nothing. Then the reference itself is locked, so that two
    batches of different redemptions given the same reference cannot both find it unused.
    """
    require_role(actor, Role.FINANCE, doing="pay providers")
    reference = clean_payment_reference(payment_reference)
    ids = sorted(set(redemption_ids))
    if not ids:
        raise InvalidInput(
            "Choose at least one approved redemption to pay.", field="redemption_ids"
        )
    if len(ids) > BATCH_MAX:
        raise InvalidInput(
            f"A batch pays at most {BATCH_MAX} redemptions; split it in two.",
            field="redemption_ids",
        )

    def perform() -> Receipt:
        redemptions = list(
            session.scalars(
                select(Redemption)
                .where(Redemption.id.in_(ids))
                .order_by(Redemption.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        )
        missing = sorted(set(ids) - {r.id for r in redemptions})
        if missing:
            raise NotFound(f"There is no redemption {_numbers(missing)}.")
        currencies = sorted({r.currency for r in redemptions})
        if len(currencies) > 1:
            raise InvalidInput(
                f"A batch is paid in one currency; this one mixes {' and '.join(currencies)}.",
                field="redemption_ids",
            )
        not_approved = [r for r in redemptions if r.state is not RedemptionState.APPROVED]
        if not_approved:
            described = ", ".join(f"{r.id} is {r.state.value}" for r in not_approved)
            raise InvalidState(
                f"Only approved redemptions can be paid: redemption {described}. Nothing was paid."
            )
        _hold_reference(session, reference)
        used = session.scalar(
            select(func.count())
            .select_from(Redemption)
            .where(Redemption.payment_reference == reference)
        )
        if used:
            raise Conflict(
                f"The payment reference {reference} was already used for another batch; "
                "give this batch its own reference."
            )
        for redemption in redemptions:
            pay_redemption(
                session,
                key=batch_member_key(key, redemption.id),
                actor=actor,
                redemption_id=redemption.id,
                payment_reference=reference,
                now=now,
            )
        total = sum(r.amount for r in redemptions)
        audit.record(
            session,
            actor_id=actor.id,
            action="redemption.pay_batch",
            object_type="payout_batch",
            object_id=None,
            after=batch_audit(reference, ids, total, currencies[0]),
        )
        return Receipt("redemption.pay_batch", object_id=len(ids))

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="redemption.pay_batch",
        request=batch_request(ids, reference),
        perform=perform,
    )


def batch_request(redemption_ids: list[int], reference: str) -> dict[str, object]:
    """What makes two payments of a batch the same request: its redemptions, in id order,
    and its reference."""
    return {"redemptions": redemption_ids, "reference": reference}


def batch_audit(
    reference: str, redemption_ids: list[int], total: int, currency: str
) -> dict[str, object]:
    """The audit ``after`` of a batch of redemptions paid under one reference."""
    return {
        "payment_reference": reference,
        "redemptions": redemption_ids,
        "amount": total,
        "currency": currency,
    }


def _hold_reference(session: Session, reference: str) -> None:
    """Hold ``reference`` until the transaction ends, for the check that it is unused.

    PostgreSQL takes a transaction-level advisory lock on the reference's hash; on SQLite
    every write transaction already holds the database's write lock from its start.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(func.hashtext(reference))))


def _numbers(ids: Sequence[int]) -> str:
    return ", ".join(str(i) for i in ids)


# --- the queues ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueLine:
    """A redemption in one of finance's queues, with who redeemed it: their name, their
    programme if they are an ambassador, and whether the credit was a gift to them."""

    id: int
    requested_at: datetime
    decided_at: datetime | None
    redeemer: str
    programme: str | None
    wallet_kind: WalletKind
    provider_name: str
    session_date: date
    amount: int
    currency: str

    @classmethod
    def of(cls, row: Any) -> QueueLine:
        return cls(**row._mapping)


_QUEUED = (
    select(
        Redemption.id,
        Redemption.requested_at,
        Redemption.decided_at,
        User.display_name.label("redeemer"),
        Programme.code.label("programme"),
        Wallet.kind.label("wallet_kind"),
        Redemption.provider_name,
        Redemption.session_date,
        Redemption.amount,
        Redemption.currency,
    )
    .join(Wallet, Wallet.id == Redemption.wallet_id)
    .join(User, User.id == Wallet.user_id)
    .outerjoin(Ambassador, Ambassador.user_id == Wallet.user_id)
    .outerjoin(Programme, Programme.id == Ambassador.programme_id)
    .where(Redemption.state == bindparam("state"))
)
QUEUES = {
    RedemptionState.REQUESTED: _QUEUED.order_by(Redemption.requested_at, Redemption.id),
    RedemptionState.APPROVED: _QUEUED.order_by(Redemption.decided_at, Redemption.id),
}
"""Finance's two queues, oldest first: requests to decide (by request) and approved
redemptions to pay (by approval); statements built once."""
_QUEUE_LENGTH = select(func.count(Redemption.id)).where(Redemption.state == bindparam("state"))


def redemption_queue(
    session: Session,
    *,
    actor: User,
    state: RedemptionState,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page[QueueLine]:
    """A page of the redemptions in ``state`` (requested or approved), oldest first. Finance
    only: these are health details."""
    require_role(actor, Role.FINANCE, doing="see provider payments")
    return paginate_rows(
        session, QUEUES[state], page, per_page, {"state": state}, counted=_QUEUE_LENGTH
    ).map(QueueLine.of)


# --- what finance pays, and the export -------------------------------------------------------


@dataclass(frozen=True)
class PayoutLine:
    """One provider payment: a redemption approved for payout, or paid in a batch."""

    redemption_id: int
    provider_name: str
    amount: int
    currency: str
    session_date: date
    payment_reference: str | None


def payout_lines(
    session: Session, *, actor: User, payment_reference: str | None = None
) -> list[PayoutLine]:
    """The redemptions paid under ``payment_reference``, or, without one, those approved and
    waiting to be paid; oldest first. Finance only: these are health details."""
    require_role(actor, Role.FINANCE, doing="see provider payments")
    query = select(
        Redemption.id,
        Redemption.provider_name,
        Redemption.amount,
        Redemption.currency,
        Redemption.session_date,
        Redemption.payment_reference,
    )
    if payment_reference is None:
        query = query.where(Redemption.state == RedemptionState.APPROVED).order_by(
            Redemption.decided_at, Redemption.id
        )
    else:
        reference = clean_payment_reference(payment_reference)
        query = query.where(
            Redemption.state == RedemptionState.PAID, Redemption.payment_reference == reference
        ).order_by(Redemption.id)
    lines = [PayoutLine(*row) for row in session.execute(query)]
    if payment_reference is not None and not lines:
        raise NotFound("No redemptions were paid under that reference.")
    return lines


def payout_csv(lines: Iterable[PayoutLine]) -> str:
    """The CSV a bank or accounts team pays providers from: amounts in major units as plain
    decimals (``80.00``), dates in ISO 8601, and no cell that a spreadsheet would run."""
    rows = (
        (
            safe_cell(line.provider_name),
            plain_amount(line.amount, line.currency),
            safe_cell(line.currency),
            line.session_date.isoformat(),
            str(line.redemption_id),
            safe_cell(line.payment_reference or ""),
        )
        for line in lines
    )
    return csv_text([CSV_HEADER, *rows])


@dataclass(frozen=True)
class PayoutBatch:
    """A batch as finance finds it again: its reference, currency, size, total and date."""

    payment_reference: str
    currency: str
    redemptions: int
    total: int
    paid_at: datetime


def payout_batches(
    session: Session, *, actor: User, page: int = 1, per_page: int = PER_PAGE
) -> Page[PayoutBatch]:
    """Batches paid so far, latest first, a page at a time."""
    require_role(actor, Role.FINANCE, doing="see provider payments")
    paid_at = func.max(Redemption.paid_at)
    grouped = (
        select(
            Redemption.payment_reference,
            Redemption.currency,
            func.count(Redemption.id),
            func.sum(Redemption.amount),
            paid_at,
        )
        .where(Redemption.state == RedemptionState.PAID, Redemption.payment_reference.is_not(None))
        .group_by(Redemption.payment_reference, Redemption.currency)
        .order_by(paid_at.desc(), Redemption.payment_reference)
    )
    return paginate_rows(session, grouped, page, per_page).map(_batch)


def _batch(row: Any) -> PayoutBatch:
    """A batch from a row of the grouped query: reference, currency, count, sum, date."""
    reference, currency, count, amount, when = row
    assert reference is not None
    assert when is not None
    return PayoutBatch(reference, currency, count, int(amount), when)
