"""Partner grants: grants, their tranches and reporting dates, and their ledger accounts.

Revision ID: 0003_grants
Revises: 0002_ledger
Create Date: 2026-11-24

Reviewed: amounts are BIGINT minor units with CHECK amount > 0; a tranche is paid with a
reference or not at all (CHECK); each tranche payment and each grant account is unique; the
account and transaction kind CHECK constraints gain the grant kinds (the tables are rebuilt
on SQLite, keeping their other constraints); funds that already exist get their
paid-to-partners account, at zero. Downgrade drops the grant tables, and fails rather than
lose ledger rows once any grant money has been posted.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0003_grants"
down_revision = "0002_ledger"
branch_labels = None
depends_on = None

OLD_ACCOUNT_KINDS = (
    "budget_source",
    "fund",
    "wallet",
    "wallet_hold",
    "payable_to_providers",
    "paid_to_providers",
)
NEW_ACCOUNT_KINDS = (*OLD_ACCOUNT_KINDS, "grant", "paid_to_partners")
OLD_TRANSACTION_KINDS = (
    "budget_increase",
    "budget_decrease",
    "allowance",
    "gift_hold",
    "gift_claim",
    "gift_release",
    "redemption_hold",
    "redemption_approval",
    "redemption_release",
    "provider_payment",
    "plan_year_close",
    "reversal",
)
NEW_TRANSACTION_KINDS = (
    *OLD_TRANSACTION_KINDS,
    "grant_approval",
    "tranche_payment",
    "grant_release",
)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def _replace_kinds(table: str, constraint: str, values: tuple[str, ...]) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f(f"ck_{table}_{constraint}"), type_="check")
        batch_op.create_check_constraint(constraint, _one_of("kind", values))


def upgrade() -> None:
    _replace_kinds("accounts", "account_kind", NEW_ACCOUNT_KINDS)
    _replace_kinds("ledger_transactions", "transaction_kind", NEW_TRANSACTION_KINDS)
    op.create_table(
        "grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fund_id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column(
            "category",
            sa.Enum(
                "services",
                "resource_hub",
                "festival_wellness",
                "songwriter_events",
                "therapy_access",
                name="grant_category",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "submitted",
                "approved",
                "active",
                "closed",
                "rejected",
                "cancelled",
                name="grant_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("submitted_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_grants_amount_positive")),
        sa.CheckConstraint("length(purpose) > 0", name=op.f("ck_grants_purpose_not_empty")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_grants_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_grants_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_grants_decided_by_id_users")
        ),
        sa.ForeignKeyConstraint(["fund_id"], ["funds.id"], name=op.f("fk_grants_fund_id_funds")),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_grants_partner_id_partners")
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_id"], ["users.id"], name=op.f("fk_grants_submitted_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grants")),
        sa.UniqueConstraint("account_id", name=op.f("uq_grants_account_id")),
    )
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grants_fund_id"), ["fund_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_grants_partner_id"), ["partner_id"], unique=False)
        batch_op.create_index("ix_grants_status_fund_id", ["status", "fund_id"], unique=False)

    op.create_table(
        "reporting_requirements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "length(title) > 0", name=op.f("ck_reporting_requirements_title_not_empty")
        ),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["grants.id"], name=op.f("fk_reporting_requirements_grant_id_grants")
        ),
        sa.ForeignKeyConstraint(
            ["received_by_id"],
            ["users.id"],
            name=op.f("fk_reporting_requirements_received_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reporting_requirements")),
        sa.UniqueConstraint(
            "grant_id",
            "title",
            "due_date",
            name=op.f("uq_reporting_requirements_grant_id_title_due_date"),
        ),
    )
    with op.batch_alter_table("reporting_requirements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reporting_requirements_grant_id"), ["grant_id"], unique=False
        )
        batch_op.create_index(
            "ix_reporting_requirements_received_at_due_date",
            ["received_at", "due_date"],
            unique=False,
        )

    op.create_table(
        "tranches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.Column("payment_reference", sa.String(length=100), nullable=True),
        sa.Column("paid_by_id", sa.Integer(), nullable=True),
        sa.Column("transaction_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "(paid_on IS NULL) = (payment_reference IS NULL)",
            name=op.f("ck_tranches_paid_with_reference"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_tranches_amount_positive")),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["grants.id"], name=op.f("fk_tranches_grant_id_grants")
        ),
        sa.ForeignKeyConstraint(
            ["paid_by_id"], ["users.id"], name=op.f("fk_tranches_paid_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_tranches_transaction_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tranches")),
        sa.UniqueConstraint("transaction_id", name=op.f("uq_tranches_transaction_id")),
    )
    with op.batch_alter_table("tranches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tranches_grant_id"), ["grant_id"], unique=False)
        batch_op.create_index("ix_tranches_paid_on_due_date", ["paid_on", "due_date"], unique=False)
    open_paid_to_partners_accounts()


def open_paid_to_partners_accounts() -> None:
    """Give every fund that already exists its paid-to-partners account, at zero."""
    funds = sa.table("funds", sa.column("id", sa.Integer), sa.column("currency", sa.String))
    accounts = sa.table(
        "accounts",
        sa.column("kind", sa.String),
        sa.column("currency", sa.String),
        sa.column("fund_id", sa.Integer),
        sa.column("balance", sa.BigInteger),
    )
    existing = op.get_bind().execute(sa.select(funds.c.id, funds.c.currency)).all()
    rows = [
        {"kind": "paid_to_partners", "currency": currency, "fund_id": fund_id, "balance": 0}
        for fund_id, currency in existing
    ]
    if rows:
        op.bulk_insert(accounts, rows)


def downgrade() -> None:
    with op.batch_alter_table("tranches", schema=None) as batch_op:
        batch_op.drop_index("ix_tranches_paid_on_due_date")
        batch_op.drop_index(batch_op.f("ix_tranches_grant_id"))

    op.drop_table("tranches")
    with op.batch_alter_table("reporting_requirements", schema=None) as batch_op:
        batch_op.drop_index("ix_reporting_requirements_received_at_due_date")
        batch_op.drop_index(batch_op.f("ix_reporting_requirements_grant_id"))

    op.drop_table("reporting_requirements")
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.drop_index("ix_grants_status_fund_id")
        batch_op.drop_index(batch_op.f("ix_grants_partner_id"))
        batch_op.drop_index(batch_op.f("ix_grants_fund_id"))

    op.drop_table("grants")
    accounts = sa.table("accounts", sa.column("kind", sa.String))
    op.execute(accounts.delete().where(accounts.c.kind == "paid_to_partners"))
    _replace_kinds("ledger_transactions", "transaction_kind", OLD_TRANSACTION_KINDS)
    _replace_kinds("accounts", "account_kind", OLD_ACCOUNT_KINDS)
