"""Payout batches as rows of their own, and indexes that read finance's queues in order.

Revision ID: 0011_payout_batches
Revises: 0010_report_store
Create Date: 2026-11-30

Reviewed: a new table, ``payout_batches``, one row per batch of redemptions paid under one
payment reference: the reference (unique: a batch takes its reference by inserting its row),
currency, number of redemptions, amount in minor units, when and by whom it was paid. CHECK
constraints keep the count and the amount positive; the index on ``(paid_at, id)`` reads the
list of batches latest first, a page at a time, instead of grouping every paid redemption.

The upgrade fills the table from the redemptions already paid, grouped by reference and
currency: their count, their sum and their latest ``paid_at`` (a batch's redemptions are all
paid at the same moment by ``pay_redemptions``). Who paid a batch is exact: the actor of the
``redemption.pay`` audit event of its first redemption (every member of a batch is paid by
the one person who paid the batch, and every payment writes that event). The upgrade stops,
changing nothing, if a reference was paid in two currencies or a batch has no payment event
(neither can happen through the application; the message names the references). The rows are
numbered in the order the batches were paid.

On ``redemptions``, ``(state, requested_at, id)`` and ``(state, decided_at, id)`` read the
requests to decide and the approved redemptions to pay in the queues' order, a page at a
time, instead of reading and sorting every redemption in the state. Either serves any query
on ``state`` alone, so ``ix_redemptions_state`` is dropped. Building them holds
``redemptions`` against writes while they are built (seconds for a hundred thousand rows).

Downgrade drops the indexes and the table (the old list of batches groups the redemptions
again; who paid each batch stays in the audit trail) and restores ``ix_redemptions_state``.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0011_payout_batches"
down_revision = "0010_report_store"
branch_labels = None
depends_on = None

PAID_BATCHES = """
    SELECT payment_reference, currency, count(*) AS redemptions, sum(amount) AS amount,
           max(paid_at) AS paid_at, min(id) AS first_id
    FROM redemptions
    WHERE state = 'paid' AND payment_reference IS NOT NULL
    GROUP BY payment_reference, currency
"""
"""The batches paid so far, from their redemptions."""
PAYER = """
    (SELECT event.actor_id FROM audit_events AS event
     WHERE event.object_type = 'redemption' AND event.object_id = batch.first_id
       AND event.action = 'redemption.pay'
     ORDER BY event.id LIMIT 1)
"""
"""Who paid ``batch``: the actor of its first redemption's payment event."""


def _refuse_unless_empty(query: str, problem: str) -> None:
    """Stop the upgrade if ``query`` finds references, naming the first few."""
    found = op.get_bind().execute(sa.text(query + " LIMIT 5")).scalars().all()
    if found:
        raise RuntimeError(
            f"Cannot record the payout batches already paid: {problem} "
            f"(payment reference {', '.join(found)}). Nothing was changed."
        )


def _refuse_what_cannot_be_a_batch() -> None:
    """Stop before changing anything if a paid reference cannot become one batch's row."""
    _refuse_unless_empty(
        "SELECT payment_reference FROM redemptions"
        " WHERE state = 'paid' AND payment_reference IS NOT NULL"
        " GROUP BY payment_reference HAVING count(DISTINCT currency) > 1",
        "a reference was paid in more than one currency",
    )
    _refuse_unless_empty(
        f"SELECT batch.payment_reference FROM ({PAID_BATCHES}) AS batch"
        f" WHERE batch.paid_at IS NULL OR {PAYER} IS NULL",
        "a paid redemption has no time of payment or no payment event in the audit trail",
    )


def _backfill() -> None:
    """One row for every batch already paid, in the order they were paid."""
    op.execute(
        sa.text(
            "INSERT INTO payout_batches"
            " (payment_reference, currency, redemptions, amount, paid_at, paid_by_id)"
            " SELECT batch.payment_reference, batch.currency, batch.redemptions, batch.amount,"
            f" batch.paid_at, {PAYER}"
            f" FROM ({PAID_BATCHES}) AS batch"
            " ORDER BY batch.paid_at, batch.payment_reference"
        )
    )


def upgrade() -> None:
    _refuse_what_cannot_be_a_batch()
    op.create_table(
        "payout_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payment_reference", sa.String(length=100), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("redemptions", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_by_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payout_batches_amount_positive")),
        sa.CheckConstraint("redemptions > 0", name=op.f("ck_payout_batches_redemptions_positive")),
        sa.ForeignKeyConstraint(
            ["paid_by_id"], ["users.id"], name=op.f("fk_payout_batches_paid_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_batches")),
        sa.UniqueConstraint("payment_reference", name=op.f("uq_payout_batches_payment_reference")),
    )
    with op.batch_alter_table("payout_batches") as batch:
        batch.create_index("ix_payout_batches_paid_at_id", ["paid_at", "id"], unique=False)
    _backfill()
    with op.batch_alter_table("redemptions") as batch:
        batch.create_index(
            "ix_redemptions_state_requested_at_id", ["state", "requested_at", "id"], unique=False
        )
        batch.create_index(
            "ix_redemptions_state_decided_at_id", ["state", "decided_at", "id"], unique=False
        )
        batch.drop_index("ix_redemptions_state")


def downgrade() -> None:
    with op.batch_alter_table("redemptions") as batch:
        batch.create_index("ix_redemptions_state", ["state"], unique=False)
        batch.drop_index("ix_redemptions_state_decided_at_id")
        batch.drop_index("ix_redemptions_state_requested_at_id")
    with op.batch_alter_table("payout_batches") as batch:
        batch.drop_index("ix_payout_batches_paid_at_id")
    op.drop_table("payout_batches")
