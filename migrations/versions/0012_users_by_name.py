"""People listed by name read in that order, a page at a time.

Revision ID: 0012_users_by_name
Revises: 0011_payout_batches
Create Date: 2026-11-30

Reviewed: one index on ``users``, ``(display_name, id)``: the admin's list of people, sorted
by name, reads its page from the index instead of sorting every user on each request. No row
changes. Building it holds ``users`` against writes for as long as it takes (well under a
second for ten thousand people). Downgrade drops the index.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0012_users_by_name"
down_revision = "0011_payout_batches"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_users_display_name_id", "users", ["display_name", "id"])


def downgrade() -> None:
    op.drop_index("ix_users_display_name_id", table_name="users")
