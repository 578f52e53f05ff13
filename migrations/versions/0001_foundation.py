"""Foundation: users and roles, programmes, ambassadors, partners and funds.

Revision ID: 0001_foundation
Revises:
Create Date: 2026-11-24

Reviewed: every constraint is named by the metadata's naming convention; enums are
VARCHAR columns with named CHECK constraints so the schema is the same on SQLite and
PostgreSQL; emails are held lower case by a CHECK so the unique constraint is
case-insensitive.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "funds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "grants", "therapy", name="fund_kind", native_enum=False, create_constraint=True
            ),
            nullable=False,
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("plan_year_start", sa.Date(), nullable=False),
        sa.Column("plan_year_end", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "length(currency) = 3 AND currency = upper(currency)",
            name=op.f("ck_funds_currency_code"),
        ),
        sa.CheckConstraint("length(name) > 0", name=op.f("ck_funds_name_not_empty")),
        sa.CheckConstraint(
            "plan_year_end > plan_year_start", name=op.f("ck_funds_plan_year_order")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funds")),
        sa.UniqueConstraint("name", name=op.f("uq_funds_name")),
    )
    op.create_table(
        "partners",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("legal_name", sa.String(length=200), nullable=False),
        sa.Column("display_name", sa.String(length=120), nullable=False),
        sa.Column(
            "country",
            sa.Enum("US", "GB", name="country", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("registration_number", sa.String(length=40), nullable=True),
        sa.Column("contact_name", sa.String(length=120), nullable=False),
        sa.Column("contact_email", sa.String(length=254), nullable=False),
        sa.Column("website_url", sa.String(length=500), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "length(display_name) > 0", name=op.f("ck_partners_display_name_not_empty")
        ),
        sa.CheckConstraint("length(legal_name) > 0", name=op.f("ck_partners_legal_name_not_empty")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partners")),
        sa.UniqueConstraint("display_name", name=op.f("uq_partners_display_name")),
    )
    op.create_table(
        "programmes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.CheckConstraint("code = upper(code)", name=op.f("ck_programmes_code_upper_case")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programmes")),
        sa.UniqueConstraint("code", name=op.f("uq_programmes_code")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("display_name", sa.String(length=120), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_users_email_lower_case")),
        sa.CheckConstraint(
            "length(display_name) > 0", name=op.f("ck_users_display_name_not_empty")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "ambassadors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column(
            "country",
            sa.Enum("US", "GB", name="country", native_enum=False, create_constraint=True),
            nullable=False,
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
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programmes.id"], name=op.f("fk_ambassadors_programme_id_programmes")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_ambassadors_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ambassadors")),
        sa.UniqueConstraint("user_id", name=op.f("uq_ambassadors_user_id")),
    )
    op.create_index(
        op.f("ix_ambassadors_programme_id"), "ambassadors", ["programme_id"], unique=False
    )
    op.create_table(
        "user_roles",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "admin",
                "manager",
                "finance",
                "ambassador",
                "recipient",
                name="role",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_roles_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "role", name=op.f("pk_user_roles")),
    )


def downgrade() -> None:
    op.drop_table("user_roles")
    op.drop_index(op.f("ix_ambassadors_programme_id"), table_name="ambassadors")
    op.drop_table("ambassadors")
    op.drop_table("users")
    op.drop_table("programmes")
    op.drop_table("partners")
    op.drop_table("funds")
