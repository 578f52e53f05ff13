"""The resource hub: organisations, services in versions with their texts per language and
their facets, each country's emergency number; and the navigator role that curates them.

Revision ID: 0020_resource_hub
Revises: 0019_daily_email_time
Create Date: 2026-11-28

Reviewed: six new tables, nothing else changes shape. ``hub_services`` and
``hub_service_versions`` point at each other (a service's published version; a version's
service): SQLite takes the service's foreign key in its CREATE TABLE before the versions
table exists, PostgreSQL gets it with ALTER TABLE once both exist. The CHECK constraint on
``user_roles.role`` gains ``navigator``: PostgreSQL drops and adds it; SQLite cannot alter a
CHECK constraint, so ``user_roles`` (which no table points at) is copied into a new table
with the new constraint, every row kept. Downgrade removes every navigator role first, then
puts the old constraint back the same way, and drops the six tables.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0020_resource_hub"
down_revision = "0019_daily_email_time"
branch_labels = None
depends_on = None

ROLES = ("admin", "manager", "finance", "ambassador", "recipient")
WITH_NAVIGATOR = (*ROLES, "navigator")


def _role_check(roles: tuple[str, ...]) -> None:
    """Make ``user_roles.role`` accept exactly ``roles``."""
    allowed = ", ".join(f"'{role}'" for role in roles)
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f("ck_user_roles_role"), "user_roles", type_="check")
        op.create_check_constraint(op.f("ck_user_roles_role"), "user_roles", f"role IN ({allowed})")
        return
    op.execute(
        "CREATE TABLE user_roles_new ("
        " user_id INTEGER NOT NULL,"
        " role VARCHAR(10) NOT NULL,"
        " CONSTRAINT pk_user_roles PRIMARY KEY (user_id, role),"
        " CONSTRAINT fk_user_roles_user_id_users FOREIGN KEY(user_id) REFERENCES users (id)"
        " ON DELETE CASCADE,"
        f" CONSTRAINT ck_user_roles_role CHECK (role IN ({allowed})))"
    )
    op.execute("INSERT INTO user_roles_new (user_id, role) SELECT user_id, role FROM user_roles")
    op.execute("DROP TABLE user_roles")
    op.execute("ALTER TABLE user_roles_new RENAME TO user_roles")


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    _role_check(WITH_NAVIGATOR)
    op.create_table(
        "hub_countries",
        sa.Column("code", sa.String(length=2), nullable=False),
        sa.Column("emergency_number", sa.String(length=20), nullable=False),
        sa.Column("other_emergency_numbers", sa.JSON(), nullable=False),
        sa.Column("source_url", sa.String(length=500), nullable=False),
        sa.Column("checked_on", sa.Date(), nullable=False),
        sa.CheckConstraint(
            "length(emergency_number) > 0", name=op.f("ck_hub_countries_has_a_number")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_hub_countries")),
    )
    op.create_table(
        "hub_organizations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("website", sa.String(length=500), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("length(name) > 0", name=op.f("ck_hub_organizations_name_not_empty")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_organizations")),
    )
    op.create_table(
        "hub_services",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("published_version_id", sa.Integer(), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["hub_organizations.id"],
            name=op.f("fk_hub_services_organization_id_hub_organizations"),
        ),
        *(
            []
            if postgresql
            else [
                sa.ForeignKeyConstraint(
                    ["published_version_id"],
                    ["hub_service_versions.id"],
                    name="fk_hub_services_published",
                )
            ]
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_services")),
    )
    with op.batch_alter_table("hub_services", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hub_services_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "hub_service_facets",
        sa.Column(
            "facet",
            sa.Enum(
                "country",
                "topic",
                "channel",
                "language",
                "audience",
                "cost",
                name="hub_facet",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("service_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["hub_services.id"],
            name=op.f("fk_hub_service_facets_service_id_hub_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("facet", "value", "service_id", name=op.f("pk_hub_service_facets")),
    )
    with op.batch_alter_table("hub_service_facets", schema=None) as batch_op:
        batch_op.create_index("ix_hub_service_facets_service_id", ["service_id"], unique=False)

    op.create_table(
        "hub_service_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.String(length=36), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "proposed",
                "published",
                "superseded",
                "withdrawn",
                name="hub_version_state",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("retires", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("crisis_line", sa.Boolean(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("chat_url", sa.String(length=500), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("sms_keyword", sa.String(length=60), nullable=False),
        sa.Column("in_person", sa.Boolean(), nullable=False),
        sa.Column("phones", sa.JSON(), nullable=False),
        sa.Column("countries", sa.JSON(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("audiences", sa.JSON(), nullable=False),
        sa.Column("free", sa.Boolean(), nullable=False),
        sa.Column("fees_description", sa.String(length=500), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("open_all_hours", sa.Boolean(), nullable=False),
        sa.Column("hours", sa.JSON(), nullable=False),
        sa.Column("checked_on", sa.Date(), nullable=False),
        sa.Column("source_url", sa.String(length=500), nullable=False),
        sa.Column("change_note", sa.String(length=500), nullable=False),
        sa.Column("proposed_by_id", sa.Integer(), nullable=True),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.String(length=500), nullable=False),
        sa.CheckConstraint("length(name) > 0", name=op.f("ck_hub_service_versions_name_not_empty")),
        sa.CheckConstraint("number > 0", name=op.f("ck_hub_service_versions_number_positive")),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
            name=op.f("fk_hub_service_versions_decided_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["proposed_by_id"],
            ["users.id"],
            name=op.f("fk_hub_service_versions_proposed_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["hub_services.id"],
            name=op.f("fk_hub_service_versions_service_id_hub_services"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_service_versions")),
        sa.UniqueConstraint("service_id", "number", name="uq_hub_service_versions_service_number"),
    )
    with op.batch_alter_table("hub_service_versions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_hub_service_versions_state_proposed_at", ["state", "proposed_at"], unique=False
        )

    op.create_table(
        "hub_service_texts",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("hours_note", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["hub_service_versions.id"],
            name=op.f("fk_hub_service_texts_version_id_hub_service_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_id", "language", name=op.f("pk_hub_service_texts")),
    )
    if postgresql:
        op.create_foreign_key(
            "fk_hub_services_published",
            "hub_services",
            "hub_service_versions",
            ["published_version_id"],
            ["id"],
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("fk_hub_services_published", "hub_services", type_="foreignkey")
    op.drop_table("hub_service_texts")
    op.drop_index("ix_hub_service_versions_state_proposed_at", table_name="hub_service_versions")
    op.drop_table("hub_service_versions")
    op.drop_index("ix_hub_service_facets_service_id", table_name="hub_service_facets")
    op.drop_table("hub_service_facets")
    op.drop_index("ix_hub_services_organization_id", table_name="hub_services")
    op.drop_table("hub_services")
    op.drop_table("hub_organizations")
    op.drop_table("hub_countries")
    op.execute("DELETE FROM user_roles WHERE role = 'navigator'")
    _role_check(ROLES)
