"""The outbox: messages written with the operation that causes them, sent by the worker.

Revision ID: 0008_outbox
Revises: 0007_session_version
Create Date: 2026-11-28

Reviewed: a new table, ``outbox_messages``; no existing row is changed. Giving a gift writes
one row in the same transaction as its postings, and the worker sends it: ``event_id`` is
unique (the key every delivery of a message is known by), ``payload`` holds the claim link's
token until the message is sent, dropped or given up on, and a CHECK constraint refuses a
row that keeps it longer. The index on ``(state, next_attempt_at)`` serves the worker's
question "what is due now". Gifts given before this migration were emailed when given and
have no row. Downgrade drops the table, and with it any message not yet sent.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008_outbox"
down_revision = "0007_session_version"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "sent",
                "failed",
                "dropped",
                name="outbox_state",
                native_enum=False,
                create_constraint=True,
                length=7,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_outbox_messages_attempts_not_negative")),
        sa.CheckConstraint(
            "state = 'pending' OR payload IS NULL", name=op.f("ck_outbox_messages_payload_cleared")
        ),
        sa.CheckConstraint(
            "(state = 'sent') = (sent_at IS NOT NULL)",
            name=op.f("ck_outbox_messages_sent_when_sent"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
        sa.UniqueConstraint("event_id", name=op.f("uq_outbox_messages_event_id")),
    )
    with op.batch_alter_table("outbox_messages") as batch:
        batch.create_index(
            "ix_outbox_messages_state_next_attempt_at", ["state", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_index("ix_outbox_messages_state_next_attempt_at")
    op.drop_table("outbox_messages")
