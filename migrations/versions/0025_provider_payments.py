"""Paying providers: the provider directory, invoices, payer accounts, bank statements.

Revision ID: 0025_provider_payments
Revises: 0024_partner_portal
Create Date: 2026-11-28

Reviewed: new tables ``providers`` (bank details only as an encrypted token, with a masked
summary), ``statement_imports`` (one per file, its SHA-256 unique) and ``statement_lines``
(each with its outcome and, when it settled one, the payout batch or tranche it names).
``redemptions`` gains ``provider_id`` (``NULL`` for every existing session: they keep their
provider's name) and ``invoice_waiver`` (empty). ``documents`` may now belong to a
redemption (the provider's invoice): ``partner_id`` becomes nullable and the CHECK that a
document belongs to exactly one thing is replaced, with a second CHECK that only an invoice
has no partner; every existing document belongs to a partner, so both hold. ``funds`` gains
``invoice_required`` (true), the payer's name and encrypted account and the ACH company
details (empty). ``payout_batches`` and ``tranches`` gain ``settled_at`` (``NULL``: nothing is
settled until a statement says so). Downgrade deletes invoice rows first (their files stay
under ``uploads/``), then removes the tables and columns.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0025_provider_payments"
down_revision = "0024_partner_portal"
branch_labels = None
depends_on = None

BELONGS_TO_ONE = (
    "(application_id IS NOT NULL AND report_version_id IS NULL AND redemption_id IS NULL)"
    " OR (application_id IS NULL AND report_version_id IS NOT NULL AND redemption_id IS NULL)"
    " OR (application_id IS NULL AND report_version_id IS NULL AND redemption_id IS NOT NULL)"
)


def upgrade() -> None:
    op.create_table(
        "providers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "person",
                "practice",
                name="provider_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=140), nullable=False),
        sa.Column("practice", sa.String(length=140), nullable=False),
        sa.Column("licence_type", sa.String(length=100), nullable=False),
        sa.Column("licence_number", sa.String(length=60), nullable=False),
        sa.Column("licence_issuer", sa.String(length=100), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("city", sa.String(length=100), nullable=False),
        sa.Column("region", sa.String(length=100), nullable=False),
        sa.Column("postcode", sa.String(length=20), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("search_name", sa.String(length=300), nullable=False),
        sa.Column("search_city", sa.String(length=100), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "proposed",
                "verified",
                "suspended",
                name="provider_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("proposed_by_id", sa.Integer(), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verified_by_id", sa.Integer(), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("suspension_reason", sa.Text(), nullable=False),
        sa.Column("bank_details", sa.Text(), nullable=True),
        sa.Column("bank_summary", sa.String(length=120), nullable=False),
        sa.Column("bank_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("bank_changed_by_id", sa.Integer(), nullable=True),
        sa.Column("payouts_held", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(status <> 'verified') OR (verified_at IS NOT NULL AND verified_by_id IS NOT NULL)",
            name=op.f("ck_providers_verified_by_someone"),
        ),
        sa.CheckConstraint("length(country) = 2", name=op.f("ck_providers_country_alpha2")),
        sa.CheckConstraint("length(name) > 0", name=op.f("ck_providers_name_not_empty")),
        sa.ForeignKeyConstraint(
            ["bank_changed_by_id"], ["users.id"], name=op.f("fk_providers_bank_changed_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["proposed_by_id"], ["users.id"], name=op.f("fk_providers_proposed_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["verified_by_id"], ["users.id"], name=op.f("fk_providers_verified_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_providers")),
    )
    with op.batch_alter_table("providers", schema=None) as batch_op:
        batch_op.create_index("ix_providers_search_city", ["search_city"], unique=False)
        batch_op.create_index(
            "ix_providers_status_search_name", ["status", "search_name"], unique=False
        )

    op.create_table(
        "statement_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("statement_id", sa.String(length=100), nullable=False),
        sa.Column("account", sa.String(length=60), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("settled", sa.Integer(), nullable=False),
        sa.Column("imported_by_id", sa.Integer(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["imported_by_id"], ["users.id"], name=op.f("fk_statement_imports_imported_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement_imports")),
        sa.UniqueConstraint("digest", name=op.f("uq_statement_imports_digest")),
    )
    op.create_table(
        "statement_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("line_number", sa.Integer(), nullable=False),
        sa.Column("booked_on", sa.Date(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("direction", sa.String(length=6), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reference", sa.String(length=140), nullable=False),
        sa.Column("bank_reference", sa.String(length=140), nullable=False),
        sa.Column("description", sa.String(length=280), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "settled_batch",
                "settled_tranche",
                "already_settled",
                "amount_differs",
                "unmatched",
                "not_a_payment",
                name="line_outcome",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("payout_batch_id", sa.Integer(), nullable=True),
        sa.Column("tranche_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "(outcome <> 'settled_batch' OR payout_batch_id IS NOT NULL)"
            " AND (outcome <> 'settled_tranche' OR tranche_id IS NOT NULL)",
            name=op.f("ck_statement_lines_settled_names_what"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_statement_lines_amount_positive")),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["statement_imports.id"],
            name=op.f("fk_statement_lines_import_id_statement_imports"),
        ),
        sa.ForeignKeyConstraint(
            ["payout_batch_id"],
            ["payout_batches.id"],
            name=op.f("fk_statement_lines_payout_batch_id_payout_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["tranche_id"], ["tranches.id"], name=op.f("fk_statement_lines_tranche_id_tranches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement_lines")),
        sa.UniqueConstraint("import_id", "line_number", name=op.f("uq_statement_lines_import_id")),
    )
    with op.batch_alter_table("statement_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_statement_lines_import_id"), ["import_id"], unique=False
        )
        batch_op.create_index(
            "ix_statement_lines_outcome_booked_on", ["outcome", "booked_on"], unique=False
        )

    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("redemption_id", sa.Integer(), nullable=True))
        batch_op.alter_column("partner_id", existing_type=sa.INTEGER(), nullable=True)
        batch_op.create_index(
            batch_op.f("ix_documents_redemption_id"), ["redemption_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_documents_redemption_id_redemptions"),
            "redemptions",
            ["redemption_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.drop_constraint(batch_op.f("ck_documents_belongs_to_one"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_documents_belongs_to_one"), BELONGS_TO_ONE)
        batch_op.create_check_constraint(
            batch_op.f("ck_documents_partner_owned"),
            "(partner_id IS NULL) = (redemption_id IS NOT NULL)",
        )

    with op.batch_alter_table("funds", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("invoice_required", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("payer_name", sa.String(length=140), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("payer_account", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("payer_summary", sa.String(length=120), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("ach_company_id", sa.String(length=10), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("ach_bank_name", sa.String(length=23), server_default="", nullable=False)
        )

    with op.batch_alter_table("payout_batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("invoice_waiver", sa.Text(), server_default="", nullable=False)
        )
        batch_op.create_index(
            batch_op.f("ix_redemptions_provider_id"), ["provider_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_redemptions_provider_id_providers"), "providers", ["provider_id"], ["id"]
        )

    with op.batch_alter_table("tranches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tranches", schema=None) as batch_op:
        batch_op.drop_column("settled_at")

    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_redemptions_provider_id_providers"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_redemptions_provider_id"))
        batch_op.drop_column("invoice_waiver")
        batch_op.drop_column("provider_id")

    with op.batch_alter_table("payout_batches", schema=None) as batch_op:
        batch_op.drop_column("settled_at")

    with op.batch_alter_table("funds", schema=None) as batch_op:
        batch_op.drop_column("ach_bank_name")
        batch_op.drop_column("ach_company_id")
        batch_op.drop_column("payer_summary")
        batch_op.drop_column("payer_account")
        batch_op.drop_column("payer_name")
        batch_op.drop_column("invoice_required")

    op.execute("DELETE FROM documents WHERE redemption_id IS NOT NULL")
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_documents_partner_owned"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_documents_belongs_to_one"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_documents_belongs_to_one"),
            "(application_id IS NULL) <> (report_version_id IS NULL)",
        )
        batch_op.drop_constraint(
            batch_op.f("fk_documents_redemption_id_redemptions"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_documents_redemption_id"))
        batch_op.alter_column("partner_id", existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column("redemption_id")

    with op.batch_alter_table("statement_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_statement_lines_outcome_booked_on")
        batch_op.drop_index(batch_op.f("ix_statement_lines_import_id"))

    op.drop_table("statement_lines")
    op.drop_table("statement_imports")
    with op.batch_alter_table("providers", schema=None) as batch_op:
        batch_op.drop_index("ix_providers_status_search_name")
        batch_op.drop_index("ix_providers_search_city")

    op.drop_table("providers")
