"""The help desk: routes, requests, their threads and private links; navigators' partner.

Revision ID: 0023_helpdesk
Revises: 0022_hub_editions
Create Date: 2026-11-28

Reviewed: four new tables. ``helpdesk_routes`` says which partner answers a country and
language (``*`` for any), unique per pair. ``help_requests`` holds each request: what the
counts need (country, language, topic, what the person can pay, urgency, state, outcome and
times) and the personal columns (name, contact, city, text, account), all nullable, which a
CHECK requires empty once ``erased_at`` is set; another CHECK requires a way to reply until
then, and a third an outcome and a closing time exactly when closed. ``help_messages`` (the
thread) and ``help_links`` (SHA-256 of each private link's token) go with their request
(``ON DELETE CASCADE``). ``partners`` gains its help desk's ``time_zone`` (nullable) and
``working_days`` (``12345`` by default, never empty); ``users`` gains ``partner_id``, the
partner a navigator works for. Upgrade routes every country and language to Backline where
a partner of that name exists (the programme's help desk until now); nothing existing
changes. Downgrade drops the tables and columns.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0023_helpdesk"
down_revision = "0022_hub_editions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "helpdesk_routes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_helpdesk_routes_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_helpdesk_routes")),
        sa.UniqueConstraint("country", "language", name="uq_helpdesk_routes_country_language"),
    )
    op.create_table(
        "help_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column(
            "topic",
            sa.Enum(
                "crisis",
                "anxiety-depression",
                "substance-use",
                "grief",
                "eating",
                "lgbtq",
                "financial-hardship",
                "finding-a-therapist",
                "industry",
                name="help_topic",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "can_pay",
            sa.Enum(
                "nothing",
                "some",
                "insurance",
                name="help_can_pay",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "new",
                "assigned",
                "closed",
                name="help_state",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "outcome",
            sa.Enum(
                "connected",
                "referred",
                "no_reply",
                "out_of_scope",
                "withdrawn",
                name="help_outcome",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=120), nullable=True),
        sa.Column("contact_email", sa.String(length=254), nullable=True),
        sa.Column("contact_phone", sa.String(length=20), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("requester_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pickup_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("picked_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pickup_alerted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer_alerted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(state = 'closed') = (outcome IS NOT NULL AND closed_at IS NOT NULL)",
            name=op.f("ck_help_requests_closed_with_outcome"),
        ),
        sa.CheckConstraint(
            "erased_at IS NOT NULL OR contact_email IS NOT NULL OR contact_phone IS NOT NULL",
            name=op.f("ck_help_requests_a_way_to_reply"),
        ),
        sa.CheckConstraint(
            "erased_at IS NULL OR (name IS NULL AND contact_email IS NULL AND "
            "contact_phone IS NULL AND city IS NULL AND text IS NULL AND "
            "requester_id IS NULL)",
            name=op.f("ck_help_requests_erased_holds_nothing_personal"),
        ),
        sa.CheckConstraint("length(text) <= 4000", name=op.f("ck_help_requests_text_length")),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["users.id"], name=op.f("fk_help_requests_assignee_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_help_requests_partner_id_partners")
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["users.id"], name=op.f("fk_help_requests_requester_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_help_requests")),
        sa.UniqueConstraint("reference", name=op.f("uq_help_requests_reference")),
    )
    with op.batch_alter_table("help_requests", schema=None) as batch_op:
        batch_op.create_index("ix_help_requests_closed_at", ["closed_at"], unique=False)
        batch_op.create_index(
            "ix_help_requests_queue", ["partner_id", "state", "urgent", "created_at"], unique=False
        )
        batch_op.create_index("ix_help_requests_requester_id", ["requester_id"], unique=False)

    op.create_table(
        "help_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "link", "device", name="help_link_kind", native_enum=False, create_constraint=True
            ),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "expires_at > created_at", name=op.f("ck_help_links_expires_after_created")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["help_requests.id"],
            name=op.f("fk_help_links_request_id_help_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_help_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_help_links_token_hash")),
    )
    with op.batch_alter_table("help_links", schema=None) as batch_op:
        batch_op.create_index("ix_help_links_request_id", ["request_id"], unique=False)

    op.create_table(
        "help_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column(
            "author",
            sa.Enum(
                "requester",
                "navigator",
                name="help_author",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("navigator_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("services", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("length(body) <= 4000", name=op.f("ck_help_messages_body_length")),
        sa.ForeignKeyConstraint(
            ["navigator_id"], ["users.id"], name=op.f("fk_help_messages_navigator_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["help_requests.id"],
            name=op.f("fk_help_messages_request_id_help_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_help_messages")),
    )
    with op.batch_alter_table("help_messages", schema=None) as batch_op:
        batch_op.create_index("ix_help_messages_request_id_id", ["request_id", "id"], unique=False)

    with op.batch_alter_table("partners", schema=None) as batch_op:
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("working_days", sa.String(length=7), server_default="12345", nullable=False)
        )
        batch_op.create_check_constraint(
            op.f("ck_partners_works_some_day"), "length(working_days) > 0"
        )

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("partner_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_users_partner_id_partners"), "partners", ["partner_id"], ["id"]
        )

    op.execute(
        "INSERT INTO helpdesk_routes (country, language, partner_id) "
        "SELECT '*', '*', id FROM partners WHERE display_name = 'Backline'"
    )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_users_partner_id_partners"), type_="foreignkey")
        batch_op.drop_column("partner_id")

    with op.batch_alter_table("partners", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_partners_works_some_day"), type_="check")
        batch_op.drop_column("working_days")
        batch_op.drop_column("time_zone")

    with op.batch_alter_table("help_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_help_messages_request_id_id")

    op.drop_table("help_messages")
    with op.batch_alter_table("help_links", schema=None) as batch_op:
        batch_op.drop_index("ix_help_links_request_id")

    op.drop_table("help_links")
    with op.batch_alter_table("help_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_help_requests_requester_id")
        batch_op.drop_index("ix_help_requests_queue")
        batch_op.drop_index("ix_help_requests_closed_at")

    op.drop_table("help_requests")
    op.drop_table("helpdesk_routes")
