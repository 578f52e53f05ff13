"""The hub's edition: a number that goes up with each change to what the public sees.

Revision ID: 0022_hub_editions
Revises: 0021_hub_search
Create Date: 2026-11-28

Reviewed: one new table, ``hub_editions``, holding one row (``id`` 1, checked), its
``number`` and when it last changed. Publishing a version (a retirement included), renaming
an organisation by import, and writing a country's emergency number each add one to the
number, in the same transaction; the public pages kept in memory are served only while the
number they were rendered under is current. Updating one row in place (rather than adding a
row per change) makes concurrent changes wait for each other, so a higher number is never
committed before a lower one. Upgrade writes the row with number 0; nothing existing
changes. Downgrade drops the table.
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0022_hub_editions"
down_revision = "0021_hub_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    editions = op.create_table(
        "hub_editions",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_hub_editions_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_editions")),
    )
    op.bulk_insert(editions, [{"id": 1, "number": 0, "changed_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_table("hub_editions")
