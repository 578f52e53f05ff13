"""Support lines: the crisis and support lines of the "get support now" panel.

Revision ID: 0004_support_lines
Revises: 0003_grants
Create Date: 2026-11-25

Reviewed: a line has a name and at least one way to reach it (CHECK); the country is a
VARCHAR with a named CHECK like every other enum. The data step adds well-known public
lines for the US and the UK, so a new deployment shows a panel before anyone edits it;
it writes them only into the table it has just created. Downgrade drops the table.
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0004_support_lines"
down_revision = "0003_grants"
branch_labels = None
depends_on = None

LINES = (
    (
        "US",
        10,
        "988 Suicide & Crisis Lifeline",
        "988",
        "Text 988",
        "https://988lifeline.org",
        "Free and confidential, 24/7, for anyone in emotional distress or a suicidal crisis.",
    ),
    (
        "US",
        20,
        "Crisis Text Line",
        "",
        "Text HOME to 741741",
        "https://www.crisistextline.org",
        "Free, 24/7 support by text from a trained crisis counselor.",
    ),
    (
        "US",
        30,
        "MusiCares",
        "1-877-303-6962",
        "",
        "https://www.musicares.org",
        "Help for music people with health, mental-health and personal needs.",
    ),
    (
        "GB",
        10,
        "Samaritans",
        "116 123",
        "",
        "https://www.samaritans.org",
        "Free, day or night, for anyone who is struggling to cope.",
    ),
    (
        "GB",
        20,
        "Shout",
        "",
        "Text SHOUT to 85258",
        "https://giveusashout.org",
        "Free, confidential 24/7 text support for anyone in crisis.",
    ),
    (
        "GB",
        30,
        "Music Minds Matter",
        "0808 802 8008",
        "",
        "https://www.musicmindsmatter.org.uk",
        "The music community's 24/7 mental-health support line.",
    ),
)
"""The lines as this migration first wrote them; later edits are the admins'."""


def upgrade() -> None:
    support_lines = op.create_table(
        "support_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "country",
            sa.Enum("US", "GB", name="country", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("text_message", sa.String(length=120), nullable=False),
        sa.Column("website_url", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "length(phone) > 0 OR length(text_message) > 0 OR length(website_url) > 0",
            name=op.f("ck_support_lines_has_a_way_to_reach"),
        ),
        sa.CheckConstraint("length(name) > 0", name=op.f("ck_support_lines_name_not_empty")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_lines")),
    )
    with op.batch_alter_table("support_lines", schema=None) as batch_op:
        batch_op.create_index(
            "ix_support_lines_country_sort_order", ["country", "sort_order"], unique=False
        )
    now = datetime.now(UTC)
    op.bulk_insert(
        support_lines,
        [
            {
                "country": country,
                "sort_order": sort_order,
                "name": name,
                "phone": phone,
                "text_message": text_message,
                "website_url": website_url,
                "description": description,
                "active": True,
                "created_at": now,
            }
            for country, sort_order, name, phone, text_message, website_url, description in LINES
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("support_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_support_lines_country_sort_order")
    op.drop_table("support_lines")
