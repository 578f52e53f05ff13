"""The time of day each person's daily email goes.

Revision ID: 0019_daily_email_time
Revises: 0018_fund_time_zone
Create Date: 2026-11-28

Reviewed: one new column, ``users.daily_email_time`` (a time of day, not null, default
08:00), read in each person's own time zone. Every existing person gets 08:00, the hour the
daily emails went at before, so nobody's email moves. The default stays on the column on
both engines: a person written without a time gets 08:00. Downgrade drops the column with
``ALTER TABLE ... DROP COLUMN`` on both engines (SQLite 3.35 and later), as 0014 does.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0019_daily_email_time"
down_revision = "0018_fund_time_zone"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(
            sa.Column("daily_email_time", sa.Time(), server_default="08:00:00", nullable=False)
        )


def downgrade() -> None:
    op.drop_column("users", "daily_email_time")
