"""The partner portal: funding rounds, applications, reviews, progress reports, documents.

Revision ID: 0024_partner_portal
Revises: 0023_helpdesk
Create Date: 2026-11-28

Reviewed: ``user_roles.role`` gains ``partner`` (PostgreSQL drops and adds the CHECK; SQLite
rebuilds the table with every row kept, as 0020 did). New tables: ``funding_rounds`` with its
``round_questions``, ``round_criteria`` and ``round_reviewers``; ``applications`` (one per
partner and round; a CHECK ties ``grant_id`` to the awarded state) with
``application_answers``, ``budget_lines``, ``proposed_tranches`` and ``proposed_reports``;
``reviews`` (one per application and reviewer; scored only without a conflict) with
``review_scores`` (1 to 5); ``report_versions`` with ``report_reach`` and
``report_spending``; ``documents`` (belonging to exactly one application or report version,
with the SHA-256 of the stored file). Children of an application, a round, a review or a
report version go with it (``ON DELETE CASCADE``). ``invitations`` gains ``partner_id``;
``reporting_requirements`` gains ``state`` (``due`` for every existing row), ``accepted_at``
and ``accepted_by_id``; ``tranches`` gains ``release_after_id``, the report that must be
accepted first (``NULL`` for every existing tranche, so nothing already scheduled changes).
Downgrade removes the partner role's rows first, then the tables and columns.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0024_partner_portal"
down_revision = "0023_helpdesk"
branch_labels = None
depends_on = None

ROLES = ("admin", "manager", "finance", "ambassador", "recipient", "navigator")
WITH_PARTNER = (*ROLES, "partner")


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
    _role_check(WITH_PARTNER)
    op.create_table(
        "funding_rounds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fund_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("max_amount", sa.BigInteger(), nullable=False),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("eligibility", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "closes_at > opens_at", name=op.f("ck_funding_rounds_closes_after_opening")
        ),
        sa.CheckConstraint("length(title) > 0", name=op.f("ck_funding_rounds_title_not_empty")),
        sa.CheckConstraint("max_amount > 0", name=op.f("ck_funding_rounds_max_amount_positive")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_funding_rounds_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["fund_id"], ["funds.id"], name=op.f("fk_funding_rounds_fund_id_funds")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funding_rounds")),
    )
    with op.batch_alter_table("funding_rounds", schema=None) as batch_op:
        batch_op.create_index("ix_funding_rounds_closes_at", ["closes_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_funding_rounds_fund_id"), ["fund_id"], unique=False)

    op.create_table(
        "applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "draft",
                "submitted",
                "awarded",
                "declined",
                "withdrawn",
                name="application_state",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
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
            nullable=True,
        ),
        sa.Column("amount_asked", sa.BigInteger(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_by_id", sa.Integer(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=False),
        sa.Column("amount_awarded", sa.BigInteger(), nullable=True),
        sa.Column("grant_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "(state = 'awarded') = (grant_id IS NOT NULL)",
            name=op.f("ck_applications_grant_exactly_when_awarded"),
        ),
        sa.CheckConstraint(
            "amount_asked >= 0", name=op.f("ck_applications_amount_asked_not_negative")
        ),
        sa.CheckConstraint(
            "amount_awarded IS NULL OR amount_awarded > 0",
            name=op.f("ck_applications_amount_awarded_positive"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_applications_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_applications_decided_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["grants.id"], name=op.f("fk_applications_grant_id_grants")
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_applications_partner_id_partners")
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["funding_rounds.id"],
            name=op.f("fk_applications_round_id_funding_rounds"),
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_id"], ["users.id"], name=op.f("fk_applications_submitted_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
        sa.UniqueConstraint("grant_id", name=op.f("uq_applications_grant_id")),
        sa.UniqueConstraint("round_id", "partner_id", name="uq_applications_round_id_partner_id"),
    )
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_applications_partner_id_state", ["partner_id", "state"], unique=False
        )
        batch_op.create_index("ix_applications_round_id_state", ["round_id", "state"], unique=False)

    op.create_table(
        "round_criteria",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.CheckConstraint("length(title) > 0", name=op.f("ck_round_criteria_title_not_empty")),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["funding_rounds.id"],
            name=op.f("fk_round_criteria_round_id_funding_rounds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_round_criteria")),
        sa.UniqueConstraint("round_id", "position", name="uq_round_criteria_round_id_position"),
    )
    op.create_table(
        "round_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("prompt", sa.String(length=500), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "text",
                "number",
                "amount",
                "choice",
                "file",
                name="question_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.CheckConstraint("length(prompt) > 0", name=op.f("ck_round_questions_prompt_not_empty")),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["funding_rounds.id"],
            name=op.f("fk_round_questions_round_id_funding_rounds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_round_questions")),
        sa.UniqueConstraint("round_id", "position", name="uq_round_questions_round_id_position"),
    )
    op.create_table(
        "round_reviewers",
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["funding_rounds.id"],
            name=op.f("fk_round_reviewers_round_id_funding_rounds"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_round_reviewers_user_id_users")
        ),
        sa.PrimaryKeyConstraint("round_id", "user_id", name=op.f("pk_round_reviewers")),
    )
    with op.batch_alter_table("round_reviewers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_round_reviewers_user_id"), ["user_id"], unique=False)

    op.create_table(
        "budget_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_budget_lines_amount_positive")),
        sa.CheckConstraint("length(label) > 0", name=op.f("ck_budget_lines_label_not_empty")),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_budget_lines_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budget_lines")),
    )
    with op.batch_alter_table("budget_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_budget_lines_application_id"), ["application_id"], unique=False
        )

    op.create_table(
        "proposed_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.CheckConstraint("length(title) > 0", name=op.f("ck_proposed_reports_title_not_empty")),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_proposed_reports_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposed_reports")),
    )
    with op.batch_alter_table("proposed_reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_proposed_reports_application_id"), ["application_id"], unique=False
        )

    op.create_table(
        "proposed_tranches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_proposed_tranches_amount_positive")),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_proposed_tranches_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposed_tranches")),
    )
    with op.batch_alter_table("proposed_tranches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_proposed_tranches_application_id"), ["application_id"], unique=False
        )

    op.create_table(
        "report_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("requirement_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("narrative", sa.Text(), nullable=False),
        sa.Column("sessions_held", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_by_id", sa.Integer(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "decision",
            sa.Enum(
                "accepted",
                "changes_requested",
                name="report_decision",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column("decision_comment", sa.Text(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "decision IS NULL OR submitted_at IS NOT NULL",
            name=op.f("ck_report_versions_decided_only_when_submitted"),
        ),
        sa.CheckConstraint("number > 0", name=op.f("ck_report_versions_number_positive")),
        sa.CheckConstraint(
            "sessions_held >= 0", name=op.f("ck_report_versions_sessions_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_report_versions_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_report_versions_decided_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["requirement_id"],
            ["reporting_requirements.id"],
            name=op.f("fk_report_versions_requirement_id_reporting_requirements"),
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_id"], ["users.id"], name=op.f("fk_report_versions_submitted_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_versions")),
        sa.UniqueConstraint(
            "requirement_id", "number", name="uq_report_versions_requirement_id_number"
        ),
    )
    with op.batch_alter_table("report_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_report_versions_requirement_id"), ["requirement_id"], unique=False
        )

    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("conflicted", sa.Boolean(), nullable=True),
        sa.Column("conflict_note", sa.Text(), nullable=False),
        sa.Column("declared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "submitted_at IS NULL OR conflicted = false",
            name=op.f("ck_reviews_scored_only_without_conflict"),
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_reviews_application_id_applications"),
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"], ["users.id"], name=op.f("fk_reviews_reviewer_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint(
            "application_id", "reviewer_id", name="uq_reviews_application_id_reviewer_id"
        ),
    )
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reviews_application_id"), ["application_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_reviews_reviewer_id"), ["reviewer_id"], unique=False)

    op.create_table(
        "documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=True),
        sa.Column("report_version_id", sa.Integer(), nullable=True),
        sa.Column("stored_name", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(application_id IS NULL) <> (report_version_id IS NULL)",
            name=op.f("ck_documents_belongs_to_one"),
        ),
        sa.CheckConstraint("length(filename) > 0", name=op.f("ck_documents_filename_not_empty")),
        sa.CheckConstraint("length(sha256) = 64", name=op.f("ck_documents_sha256_hex")),
        sa.CheckConstraint("size > 0", name=op.f("ck_documents_size_positive")),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_documents_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_documents_partner_id_partners")
        ),
        sa.ForeignKeyConstraint(
            ["report_version_id"],
            ["report_versions.id"],
            name=op.f("fk_documents_report_version_id_report_versions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"], ["users.id"], name=op.f("fk_documents_uploaded_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
        sa.UniqueConstraint("stored_name", name=op.f("uq_documents_stored_name")),
    )
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_documents_application_id"), ["application_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_documents_partner_id"), ["partner_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_documents_report_version_id"), ["report_version_id"], unique=False
        )

    op.create_table(
        "report_reach",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.CheckConstraint("people >= 0", name=op.f("ck_report_reach_people_not_negative")),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["report_versions.id"],
            name=op.f("fk_report_reach_version_id_report_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_id", "country", name=op.f("pk_report_reach")),
    )
    op.create_table(
        "report_spending",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_report_spending_amount_not_negative")),
        sa.CheckConstraint("length(label) > 0", name=op.f("ck_report_spending_label_not_empty")),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["report_versions.id"],
            name=op.f("fk_report_spending_version_id_report_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_spending")),
    )
    with op.batch_alter_table("report_spending", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_report_spending_version_id"), ["version_id"], unique=False
        )

    op.create_table(
        "review_scores",
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("criterion_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name=op.f("ck_review_scores_score_on_scale")),
        sa.ForeignKeyConstraint(
            ["criterion_id"],
            ["round_criteria.id"],
            name=op.f("fk_review_scores_criterion_id_round_criteria"),
        ),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["reviews.id"],
            name=op.f("fk_review_scores_review_id_reviews"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("review_id", "criterion_id", name=op.f("pk_review_scores")),
    )
    op.create_table(
        "application_answers",
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=True),
        sa.Column("document_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_application_answers_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_application_answers_document_id_documents"),
        ),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["round_questions.id"],
            name=op.f("fk_application_answers_question_id_round_questions"),
        ),
        sa.PrimaryKeyConstraint(
            "application_id", "question_id", name=op.f("pk_application_answers")
        ),
    )
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("partner_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_invitations_partner_id_partners"), "partners", ["partner_id"], ["id"]
        )

    with op.batch_alter_table("reporting_requirements", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "state",
                sa.Enum(
                    "due",
                    "submitted",
                    "changes_requested",
                    "accepted",
                    name="report_state",
                    native_enum=False,
                    create_constraint=True,
                ),
                server_default="due",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("accepted_by_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_reporting_requirements_accepted_by_id_users"),
            "users",
            ["accepted_by_id"],
            ["id"],
        )

    with op.batch_alter_table("tranches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("release_after_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_tranches_release_after_id_reporting_requirements"),
            "reporting_requirements",
            ["release_after_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("tranches", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_tranches_release_after_id_reporting_requirements"), type_="foreignkey"
        )
        batch_op.drop_column("release_after_id")

    with op.batch_alter_table("reporting_requirements", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_reporting_requirements_accepted_by_id_users"), type_="foreignkey"
        )
        batch_op.drop_column("accepted_by_id")
        batch_op.drop_column("accepted_at")
        batch_op.drop_constraint(op.f("ck_reporting_requirements_report_state"), type_="check")
        batch_op.drop_column("state")

    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_invitations_partner_id_partners"), type_="foreignkey"
        )
        batch_op.drop_column("partner_id")

    op.drop_table("application_answers")
    op.drop_table("review_scores")
    with op.batch_alter_table("report_spending", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_spending_version_id"))

    op.drop_table("report_spending")
    op.drop_table("report_reach")
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_documents_report_version_id"))
        batch_op.drop_index(batch_op.f("ix_documents_partner_id"))
        batch_op.drop_index(batch_op.f("ix_documents_application_id"))

    op.drop_table("documents")
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reviews_reviewer_id"))
        batch_op.drop_index(batch_op.f("ix_reviews_application_id"))

    op.drop_table("reviews")
    with op.batch_alter_table("report_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_versions_requirement_id"))

    op.drop_table("report_versions")
    with op.batch_alter_table("proposed_tranches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proposed_tranches_application_id"))

    op.drop_table("proposed_tranches")
    with op.batch_alter_table("proposed_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proposed_reports_application_id"))

    op.drop_table("proposed_reports")
    with op.batch_alter_table("budget_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_budget_lines_application_id"))

    op.drop_table("budget_lines")
    with op.batch_alter_table("round_reviewers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_round_reviewers_user_id"))

    op.drop_table("round_reviewers")
    op.drop_table("round_questions")
    op.drop_table("round_criteria")
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_index("ix_applications_round_id_state")
        batch_op.drop_index("ix_applications_partner_id_state")

    op.drop_table("applications")
    with op.batch_alter_table("funding_rounds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_funding_rounds_fund_id"))
        batch_op.drop_index("ix_funding_rounds_closes_at")

    op.drop_table("funding_rounds")
    op.execute("DELETE FROM user_roles WHERE role = 'partner'")
    _role_check(ROLES)
