"""Index redemptions by payment reference.

Revision ID: 0006_payment_reference_index
Revises: 0005_reports
Create Date: 2026-11-25

Reviewed: a payout batch is found by its payment reference (the check that a reference is
unused, the batch's CSV, the list of batches); without the index each of these reads every
redemption. No data changes. Downgrade drops the index.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0006_payment_reference_index"
down_revision = "0005_reports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("redemptions") as batch:
        batch.create_index("ix_redemptions_payment_reference", ["payment_reference"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("redemptions") as batch:
        batch.drop_index("ix_redemptions_payment_reference")
