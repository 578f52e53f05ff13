"""Links that reset a password or confirm a new email address, and each person's time zone.

Revision ID: 0014_account_tokens
Revises: 0013_gift_cohort_indexes
Create Date: 2026-11-28

Reviewed: one new table and one new nullable column; no row changed. ``account_tokens``
holds only a SHA-256 hash of each link's token (unique), its purpose, the new address of an
email change (present exactly for that purpose, lower case), and when it was made, expires
and was used; its rows go with their user (``ON DELETE CASCADE``), and one index serves
"this person's links of this purpose". ``users.time_zone`` is an IANA name or NULL (NULL:
from the country, then the locale). Downgrade drops both, and with them any link not yet
used, which is what a downgrade should do to bearer secrets. The column is dropped with
``ALTER TABLE ... DROP COLUMN`` on both engines (SQLite 3.35 and later), not by copying
``users`` into a new table, which SQLite refuses while other tables' rows point at it.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0014_account_tokens"
down_revision = "0013_gift_cohort_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "purpose",
            sa.Enum(
                "password_reset",
                "email_change",
                name="token_purpose",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("new_email", sa.String(length=254), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(purpose = 'email_change') = (new_email IS NOT NULL)",
            name=op.f("ck_account_tokens_new_email_for_email_change"),
        ),
        sa.CheckConstraint(
            "expires_at > created_at", name=op.f("ck_account_tokens_expires_after_created")
        ),
        sa.CheckConstraint(
            "new_email = lower(new_email)", name=op.f("ck_account_tokens_new_email_lower_case")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_account_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_account_tokens_token_hash")),
    )
    op.create_index("ix_account_tokens_user_id_purpose", "account_tokens", ["user_id", "purpose"])
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_index("ix_account_tokens_user_id_purpose", table_name="account_tokens")
    op.drop_table("account_tokens")
    op.drop_column("users", "time_zone")
