"""Each fund's time zone, in which its plan-year days are days.

Revision ID: 0018_fund_time_zone
Revises: 0017_cohort_imports
Create Date: 2026-11-28

Reviewed: one new column, ``funds.time_zone`` (an IANA name, at most 64 characters, not
null); no other table changes. Existing funds get the default by currency in this
migration: USD ``America/New_York``, GBP ``Europe/London``, any other currency ``UTC``
(none exists yet). From here a fund's plan year ends at midnight after its last day in that
zone rather than at midnight UTC, so a New York fund's plan year now ends five hours later
(four in summer) and a London fund's an hour earlier in summer; a gift's stored deadline is
not changed, and gifts given after the upgrade get the new deadline.

SQLite adds a NOT NULL column only with a default, and drops a default only by copying
``funds`` into a new table, which it refuses while wallets, accounts and grants point at
its rows: there the column keeps the default ``America/New_York``, which the application
never relies on (it writes every fund's zone). PostgreSQL adds the column, fills it, and
drops the default, so a fund written without a zone is refused. Downgrade drops the column
with ``ALTER TABLE ... DROP COLUMN`` on both engines (SQLite 3.35 and later), as 0014 does.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0018_fund_time_zone"
down_revision = "0017_cohort_imports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("funds") as batch_op:
        batch_op.add_column(
            sa.Column(
                "time_zone",
                sa.String(length=64),
                server_default="America/New_York",
                nullable=False,
            )
        )
    op.execute(
        "UPDATE funds SET time_zone = CASE currency"
        " WHEN 'USD' THEN 'America/New_York'"
        " WHEN 'GBP' THEN 'Europe/London'"
        " ELSE 'UTC' END"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("funds", "time_zone", server_default=None)


def downgrade() -> None:
    op.drop_column("funds", "time_zone")
