"""The hub's editions: one row for each change to what the public sees.

Revision ID: 0022_hub_editions
Revises: 0021_hub_search
Create Date: 2026-11-28

Reviewed: one new table, ``hub_editions`` (an id and when the change was made), only ever
added to. Publishing a version of a service (a retirement included) and writing a country's
emergency number each add a row; the public pages kept in memory are served only while the
newest row is the one they were rendered under. Nothing existing changes; downgrade drops
the table.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0022_hub_editions"
down_revision = "0021_hub_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_editions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_editions")),
    )


def downgrade() -> None:
    op.drop_table("hub_editions")
