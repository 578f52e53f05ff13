"""Reports: running totals of the ledger per account and kind, payments per wallet, their
watermarks, and two indexes the reports read by.

Revision ID: 0005_reports
Revises: 0004_support_lines
Create Date: 2026-11-25

Reviewed: the three tables are derived data, rebuilt from the ledger by the worker's fold
(empty totals with no watermark row mean "nothing folded yet", which reports handle); no
existing row is changed. The indexes are on ``ledger_transactions.created_at`` (a cutoff
time to a ledger position) and ``redemptions.paid_at`` (payments after a watermark).
Downgrade drops both indexes and the three tables.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0005_reports"
down_revision = "0004_support_lines"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_account_flows",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("postings", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_report_account_flows_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("account_id", "kind", name=op.f("pk_report_account_flows")),
    )
    op.create_table(
        "report_wallet_paid",
        sa.Column("wallet_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("redemptions", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["wallet_id"], ["wallets.id"], name=op.f("fk_report_wallet_paid_wallet_id_wallets")
        ),
        sa.PrimaryKeyConstraint("wallet_id", name=op.f("pk_report_wallet_paid")),
    )
    op.create_table(
        "report_flow_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("paid_through", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_flow_marks")),
    )
    with op.batch_alter_table("ledger_transactions") as batch:
        batch.create_index("ix_ledger_transactions_created_at", ["created_at"], unique=False)
    with op.batch_alter_table("redemptions") as batch:
        batch.create_index("ix_redemptions_paid_at", ["paid_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("redemptions") as batch:
        batch.drop_index("ix_redemptions_paid_at")
    with op.batch_alter_table("ledger_transactions") as batch:
        batch.drop_index("ix_ledger_transactions_created_at")
    op.drop_table("report_flow_marks")
    op.drop_table("report_wallet_paid")
    op.drop_table("report_account_flows")
