"""Gifts a wallet received read from an index, and cohorts counted from one.

Revision ID: 0013_gift_cohort_indexes
Revises: 0012_users_by_name
Create Date: 2026-11-30

Reviewed: two indexes, no row changed. ``gifts (recipient_wallet_id, settled_at, id)`` reads
the gifts claimed into one wallet, newest first, a page at a time: without it a recipient's
wallet read every gift of the programme. ``ambassadors (programme_id, country)`` lets the
managers' dashboard count each programme's ambassadors per country from the index alone.
Building them holds each table against writes while it is built (well under a second for a
programme of ten thousand ambassadors). Downgrade drops both.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0013_gift_cohort_indexes"
down_revision = "0012_users_by_name"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_gifts_recipient_wallet_id_settled_at_id",
        "gifts",
        ["recipient_wallet_id", "settled_at", "id"],
    )
    op.create_index(
        "ix_ambassadors_programme_id_country", "ambassadors", ["programme_id", "country"]
    )


def downgrade() -> None:
    op.drop_index("ix_ambassadors_programme_id_country", table_name="ambassadors")
    op.drop_index("ix_gifts_recipient_wallet_id_settled_at_id", table_name="gifts")
