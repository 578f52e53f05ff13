"""Cohort imports: a manager's or an admin's CSV of ambassadors, held for its confirmation.

Revision ID: 0017_cohort_imports
Revises: 0016_notifications
Create Date: 2026-11-28

Reviewed: one new table; no row changed. ``cohort_uploads`` holds a file one person
uploaded, named by its SHA-256 (``digest``) and unique per uploader and digest, so that a
preview's confirmation names the file by its digest and no one confirms another's. The
bytes (``data``, the names and addresses of a cohort) are kept until the file is imported,
then cleared, leaving ``imported_at`` and the counts the result page shows (``outcome``);
``expires_at`` is indexed for the deletion of expired rows when anyone next uploads.
Downgrade drops the table: files waiting for confirmation are lost (they are uploaded
again), and the accounts and invitations an import made stay, as any invitation does; the
idempotency records of imports stay too, so a file imported before the downgrade is still
not imported twice.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0017_cohort_imports"
down_revision = "0016_notifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cohort_uploads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_cohort_uploads_actor_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cohort_uploads")),
        sa.UniqueConstraint("actor_id", "digest", name=op.f("uq_cohort_uploads_actor_id")),
    )
    op.create_index(
        op.f("ix_cohort_uploads_expires_at"), "cohort_uploads", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_cohort_uploads_expires_at"), table_name="cohort_uploads")
    op.drop_table("cohort_uploads")
