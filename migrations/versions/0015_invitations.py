"""Invitations to the programme, and the audit log read by action and by actor.

Revision ID: 0015_invitations
Revises: 0014_account_tokens
Create Date: 2026-11-28

Reviewed: one new table and two new indexes; no row changed. ``invitations`` holds only a
SHA-256 hash of each link's token (unique), the person invited (an inactive account made at
once), the roles and, for an ambassador, the programme, country and cohort status offered,
who invited them, and when it was made, expires, was accepted or withdrawn (never both). The
audit log's indexes ``(action, seq)`` and ``(actor_id, seq)`` serve the admin's filtered,
newest-first view without reading the whole chain. Building them holds ``audit_events``
against writes while it is built (seconds for a million events). Downgrade drops all three;
invitations not yet accepted go with the table.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0015_invitations"
down_revision = "0014_account_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("display_name", sa.String(length=120), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=True),
        sa.Column(
            "country",
            sa.Enum("US", "GB", name="country", native_enum=False, create_constraint=True),
            nullable=True,
        ),
        sa.Column(
            "cohort_status",
            sa.Enum(
                "upcoming",
                "current",
                "alumni",
                name="cohort_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column("invited_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "accepted_at IS NULL OR revoked_at IS NULL",
            name=op.f("ck_invitations_accepted_or_revoked_not_both"),
        ),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_invitations_email_lower_case")),
        sa.ForeignKeyConstraint(
            ["invited_by_id"], ["users.id"], name=op.f("fk_invitations_invited_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["programmes.id"],
            name=op.f("fk_invitations_programme_id_programmes"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_invitations_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
    )
    op.create_index("ix_invitations_user_id_created_at", "invitations", ["user_id", "created_at"])
    op.create_index("ix_audit_events_action_seq", "audit_events", ["action", "seq"])
    op.create_index("ix_audit_events_actor_id_seq", "audit_events", ["actor_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_actor_id_seq", table_name="audit_events")
    op.drop_index("ix_audit_events_action_seq", table_name="audit_events")
    op.drop_index("ix_invitations_user_id_created_at", table_name="invitations")
    op.drop_table("invitations")
