"""Sessions that can be ended on the server; the audit trail found by object.

Revision ID: 0007_session_version
Revises: 0006_payment_reference_index
Create Date: 2026-11-27

Reviewed: ``users.session_version`` is stored in each session at sign-in and compared on
every request; signing out, setting a password and deactivation move it on, ending every
session of that user. Existing users start at 1, and sessions made before this migration
carry no version, so everyone signs in once more after the upgrade. The index on
``audit_events (object_type, object_id)`` serves the four-eyes check, which reads who
drafted, edited and submitted a grant from its audit events, and the grant page's history;
without it both read every event. Downgrade drops the index and the column.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0007_session_version"
down_revision = "0006_payment_reference_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("session_version", sa.Integer(), server_default="1", nullable=False)
        )
    with op.batch_alter_table("audit_events") as batch:
        batch.create_index("ix_audit_events_object", ["object_type", "object_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_index("ix_audit_events_object")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_version")
