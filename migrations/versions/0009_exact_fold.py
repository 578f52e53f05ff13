"""The reports' running totals fold exactly what has committed, with no settling time.

Revision ID: 0009_exact_fold
Revises: 0008_outbox
Create Date: 2026-11-29

Reviewed: ``ledger_transactions.written_by_xid`` records the PostgreSQL transaction that
wrote each row (its 64-bit id, a server default on PostgreSQL only; NULL on SQLite, where
the single writer commits in id order). It is added without a default and the default set
afterwards, so existing rows keep NULL: they are ordered by id, as SQLite's are. The fold
takes every transaction whose writer ended before the oldest one still running, which the
new index on the column finds. ``redemptions.paid_in_totals`` says a payment is counted in
``report_wallet_paid``; existing rows start false, and an index on ``(paid_in_totals,
state, paid_at)`` finds the paid ones not yet counted; on PostgreSQL, statistics of the
first two columns together keep the planner from counting unpaid redemptions among them.
``report_flow_marks.paid_through`` (a time) gives way to ``below_xid``.

The old fold may have left out a transaction that committed more than five minutes after
taking its id, so the totals are emptied with their marks: the first fold after the upgrade
recounts the whole ledger and every payment (reports read the ledger directly until then).
The upgrade holds ``ledger_transactions`` and ``redemptions`` locked while it builds the two
indexes, one scan of each table; adding a nullable column, or one with a constant default,
rewrites no row (on PostgreSQL with 200,000 transactions, the upgrade took two seconds).
Downgrade empties the totals again (the old fold recounts them from the epoch) and drops
what this added.

The two big tables are altered in place (``ALTER TABLE ... ADD``/``DROP COLUMN``, which
SQLite has had since 3.35), not copied as batch mode would: SQLite cannot drop and rebuild
``ledger_transactions`` while ``postings`` rows refer to it with foreign keys enforced.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009_exact_fold"
down_revision = "0008_outbox"
branch_labels = None
depends_on = None

CURRENT_XID = "(pg_current_xact_id()::text::bigint)"
"""The writing transaction's id, as the model's server default renders it on PostgreSQL."""


def _empty_totals() -> None:
    for table in ("report_account_flows", "report_wallet_paid", "report_flow_marks"):
        op.execute(sa.text(f"DELETE FROM {table}"))


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.add_column("ledger_transactions", sa.Column("written_by_xid", sa.BigInteger()))
    op.create_index(
        "ix_ledger_transactions_written_by_xid", "ledger_transactions", ["written_by_xid"]
    )
    if postgres:
        op.alter_column(
            "ledger_transactions", "written_by_xid", server_default=sa.text(CURRENT_XID)
        )
    op.add_column(
        "redemptions",
        sa.Column("paid_in_totals", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.create_index(
        "ix_redemptions_paid_in_totals_state_paid_at",
        "redemptions",
        ["paid_in_totals", "state", "paid_at"],
    )
    if postgres:
        op.execute(
            "CREATE STATISTICS st_redemptions_paid_in_totals_state (mcv)"
            " ON paid_in_totals, state FROM redemptions"
        )
    _empty_totals()
    with op.batch_alter_table("report_flow_marks") as batch:
        batch.drop_column("paid_through")
        batch.add_column(sa.Column("below_xid", sa.BigInteger(), nullable=False))


def downgrade() -> None:
    _empty_totals()
    with op.batch_alter_table("report_flow_marks") as batch:
        batch.drop_column("below_xid")
        batch.add_column(sa.Column("paid_through", sa.DateTime(timezone=True), nullable=False))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP STATISTICS st_redemptions_paid_in_totals_state")
    op.drop_index("ix_redemptions_paid_in_totals_state_paid_at", "redemptions")
    op.drop_column("redemptions", "paid_in_totals")
    op.drop_index("ix_ledger_transactions_written_by_xid", "ledger_transactions")
    op.drop_column("ledger_transactions", "written_by_xid")
