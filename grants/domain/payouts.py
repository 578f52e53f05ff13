"""Paying therapists: approved redemptions paid in batches under one payment reference, and
the batch exported as CSV for the bank.

A batch is the set of redemptions paid under one payment reference; a reference names one
batch only, so the reference is enough to find the batch again. Each batch is a row of its
own (:class:`~grants.models.PayoutBatch`), written with its payments: the list of batches
reads a page of those rows, however many redemptions have been paid.
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
from grants.database import insert_for
from grants.domain import audit
from grants.domain.checks import clean_payment_reference, require_role
from grants.domain.errors import Conflict, InvalidInput, InvalidState, NotFound
from grants.domain.idempotency import Receipt, idempotent
from grants.domain.money import plain_amount
from grants.domain.paging import PER_PAGE, Page, paginate_rows
from grants.domain.providers import payment_blocker
from grants.domain.reconciliation import FILE_ID, lower_function
from grants.domain.redemptions import pay_redemption
from grants.models import (
    Account,
    AccountKind,
    Ambassador,
    PayoutBatch,
    Programme,
    Provider,
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
    refused. The batch's row (:class:`~grants.models.PayoutBatch`) is written with the
    payments. The receipt's ``object_id`` is the number of redemptions paid.

    The batch's redemptions are locked first, in id order, before any account or the audit
    chain: two batches sharing a redemption queue for it instead of deadlocking, and the
    second finds it paid and pays nothing. Then the batch takes its reference by inserting
    its row (:func:`_take_reference`), so that two batches of different redemptions given
    the same reference cannot both find it unused.
    """
    require_role(actor, Role.FINANCE, doing="pay providers")
    reference = clean_payment_reference(payment_reference)
    if FILE_ID.fullmatch(reference):
        raise InvalidInput(
            f"{reference} looks like the programme's own name for a batch in its bank files; "
            "give the reference your bank gave the payment.",
            field="payment_reference",
        )
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
        _refuse_blocked_providers(session, redemptions)
        total = sum(r.amount for r in redemptions)
        if _reference_used(session, reference):
            raise Conflict(
                f"The payment reference {reference} was already used for another batch "
                "(perhaps in other capitals); give this batch its own reference."
            )
        batch_id = _take_reference(
            session, paid_batch(reference, currencies[0], len(ids), total, now, actor.id)
        )
        if batch_id is None:
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
        audit.record(
            session,
            actor_id=actor.id,
            action="redemption.pay_batch",
            object_type="payout_batch",
            object_id=batch_id,
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


def _refuse_blocked_providers(session: Session, redemptions: list[Redemption]) -> None:
    """Refuse a batch paying a provider who may not be paid now (suspended since approval,
    or with a bank change to confirm), naming the first; nothing is paid."""
    provider_ids = sorted({r.provider_id for r in redemptions if r.provider_id is not None})
    if not provider_ids:
        return
    for provider in session.scalars(
        select(Provider)
        .where(Provider.id.in_(provider_ids))
        .order_by(Provider.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ):
        if (blocked := payment_blocker(provider)) is not None:
            raise InvalidState(f"{blocked} Nothing was paid.")


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


def paid_batch(
    reference: str, currency: str, redemptions: int, total: int, paid_at: datetime, paid_by: int
) -> dict[str, object]:
    """The row of a batch of ``redemptions`` redemptions paid under ``reference``, ``total``
    minor units of ``currency`` in all, by the user ``paid_by`` at ``paid_at``."""
    return {
        "payment_reference": reference,
        "currency": currency,
        "redemptions": redemptions,
        "amount": total,
        "paid_at": paid_at,
        "paid_by_id": paid_by,
    }


def _take_reference(session: Session, batch: dict[str, object]) -> int | None:
    """Insert the row of ``batch`` unless its payment reference names a batch already;
    returns the new row's id, or ``None`` when the reference was taken.

    The reference is unique, and the insert does nothing on a conflict: on PostgreSQL an
    insert of a reference that a running transaction has just inserted waits until that
    transaction ends, then finds the reference taken if it committed, or inserts its own
    row if it rolled back; on SQLite every write transaction holds the database's write
    lock from its start. So of two batches given the same new reference, exactly one pays.
    """
    taken: int | None = session.scalar(
        insert_for(session, PayoutBatch)
        .values(batch)
        .on_conflict_do_nothing(index_elements=[PayoutBatch.payment_reference])
        .returning(PayoutBatch.id)
    )
    return taken


def _reference_used(session: Session, reference: str) -> bool:
    """Whether a batch already has ``reference`` in any capitals: statements are matched to
    batches whatever the case, so two batches must not differ only in it. (Two new batches
    given such references at once are told apart only by the unique index, which sees case.)"""
    lower = lower_function(session)
    found = session.scalar(
        select(PayoutBatch.id).where(lower(PayoutBatch.payment_reference) == reference.lower())
    )
    return found is not None


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


@dataclass(frozen=True, slots=True)
class BatchLine:
    """A batch as finance finds it again: its reference, currency, size, total and date."""

    payment_reference: str
    currency: str
    redemptions: int
    total: int
    paid_at: datetime

    @classmethod
    def of(cls, row: Any) -> BatchLine:
        return cls(**row._mapping)


BATCHES = select(
    PayoutBatch.payment_reference,
    PayoutBatch.currency,
    PayoutBatch.redemptions,
    PayoutBatch.amount.label("total"),
    PayoutBatch.paid_at,
).order_by(PayoutBatch.paid_at.desc(), PayoutBatch.id.desc())
"""The batches paid, latest first: the index on ``(paid_at, id)`` read backwards."""
_BATCH_COUNT = select(func.count(PayoutBatch.id))


def payout_batches(
    session: Session, *, actor: User, page: int = 1, per_page: int = PER_PAGE
) -> Page[BatchLine]:
    """Batches paid so far, latest first, a page at a time."""
    require_role(actor, Role.FINANCE, doing="see provider payments")
    return paginate_rows(session, BATCHES, page, per_page, counted=_BATCH_COUNT).map(BatchLine.of)


def verify_batches(session: Session) -> list[str]:
    """Every payout batch whose row disagrees with the redemptions paid under its reference,
    every reference paid without a batch's row, and every currency whose batches do not add
    up to what the ledger paid providers, as sentences; an empty list means they agree.

    A batch's row holds the number, the sum and the latest payment time of its redemptions,
    in their one currency; every provider payment belongs to a batch, so the batches of a
    currency add up to the balances of its funds' "paid to providers" accounts.
    """
    paid = session.execute(
        select(
            Redemption.payment_reference,
            Redemption.currency,
            func.count(Redemption.id),
            func.sum(Redemption.amount),
            func.max(Redemption.paid_at),
        )
        .where(Redemption.state == RedemptionState.PAID)
        .group_by(Redemption.payment_reference, Redemption.currency)
        .order_by(Redemption.payment_reference, Redemption.currency)
    ).all()
    rows = {
        row.payment_reference: (row.currency, row.redemptions, row.amount, row.paid_at)
        for row in session.execute(
            select(
                PayoutBatch.payment_reference,
                PayoutBatch.currency,
                PayoutBatch.redemptions,
                PayoutBatch.amount,
                PayoutBatch.paid_at,
            )
        )
    }
    problems: list[str] = []
    for reference, currency, count, total, paid_at in paid:
        found = (currency, count, int(total), paid_at)
        if reference is None:
            problems.append(f"{count} paid redemption(s) in {currency} have no payment reference")
        elif reference not in rows:
            problems.append(f"payment reference {reference}: {_told(found)}, and no batch's row")
        elif (row := rows.pop(reference)) != found:
            problems.append(
                f"payout batch {reference}: its row says {_told(row)}; "
                f"its redemptions are {_told(found)}"
            )
    problems += [f"payout batch {reference}: no redemption was paid under it" for reference in rows]
    in_batches = dict(
        session.execute(
            select(PayoutBatch.currency, func.sum(PayoutBatch.amount)).group_by(
                PayoutBatch.currency
            )
        ).all()
    )
    paid_out = session.execute(
        select(Account.currency, func.sum(Account.balance))
        .where(Account.kind == AccountKind.PAID_TO_PROVIDERS)
        .group_by(Account.currency)
        .order_by(Account.currency)
    ).all()
    for currency, paid_sum in paid_out:
        batched, balance = int(in_batches.pop(currency, 0)), int(paid_sum)
        if batched != balance:
            problems.append(
                f"{currency}: the ledger paid providers {balance}, its batches hold {batched}"
            )
    problems += [
        f"{currency}: batches hold {total}, the ledger paid nothing"
        for currency, total in in_batches.items()
    ]
    return problems


def _told(batch: tuple[str, int, int, datetime | None]) -> str:
    """A batch's currency, count, sum and time of payment, in a sentence."""
    currency, count, total, paid_at = batch
    when = paid_at.isoformat() if paid_at else "at no recorded time"
    return f"{count} redemption(s), {total} {currency} in minor units, paid {when}"
