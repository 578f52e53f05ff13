"""What people are told: notifications in the app, each person's email settings, and whom
each outbox message is for.

Revision ID: 0016_notifications
Revises: 0015_invitations
Create Date: 2026-11-28

Reviewed: two new tables; no row changed. ``notifications`` holds what each person is told
(title, body and a path of the app, never a provider, session date or finance's reason),
unique per person, kind and event so that each event tells each person once, with an index
``(user_id, read_at, id)`` for the unread count read on every signed-in page and the list,
newest first. ``notification_preferences`` holds one row per person and kind they changed
(``immediately``, ``daily`` or ``off``); without a row, straight away.
``notification_digests`` holds one row per person and day of theirs that a daily email went
out, and the moment it covered up to, where the next one starts. Downgrade drops both: the app's
list and the settings go, and nothing else depends on them (an email already recorded in
the outbox for a notification that is gone is dropped, not sent). ``outbox_messages`` gains
a nullable ``recipient``: the address a message goes to, shown to admins beside a message
the worker gave up on; rows written before have none. Downgrade drops it.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0016_notifications"
down_revision = "0015_invitations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notification_preferences",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column(
            "delivery",
            sa.Enum(
                "immediately",
                "daily",
                "off",
                name="notification_delivery",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notification_preferences_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", "kind", name=op.f("pk_notification_preferences")),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("event_key", sa.String(length=80), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("user_id", "kind", "event_key", name="uq_notifications_event"),
    )
    op.create_index(
        "ix_notifications_user_id_read_at_id", "notifications", ["user_id", "read_at", "id"]
    )
    op.create_table(
        "notification_digests",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("sent_through", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notification_digests_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", "day", name=op.f("pk_notification_digests")),
    )
    with op.batch_alter_table("outbox_messages") as batch_op:
        batch_op.add_column(sa.Column("recipient", sa.String(length=254), nullable=True))


def downgrade() -> None:
    op.drop_column("outbox_messages", "recipient")
    op.drop_table("notification_digests")
    op.drop_index("ix_notifications_user_id_read_at_id", table_name="notifications")
    op.drop_table("notifications")
    op.drop_table("notification_preferences")
