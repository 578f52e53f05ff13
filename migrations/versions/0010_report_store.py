"""Made reports and report job records in the database, where every host sees them.

Revision ID: 0010_report_store
Revises: 0009_exact_fold
Create Date: 2026-11-30

Reviewed: two new tables; no existing row is changed. ``report_files`` holds each made PDF
under its cache key (the primary key: a second maker of the same report inserts nothing),
with the name it downloads as and when it was made; the index on ``created_at`` serves the
worker's hourly pruning of old ones. ``report_jobs`` holds each background report job under
the cache key it was asked for: its parameters (JSON), state, percent (0 to 100, a CHECK
constraint), the key and file name of the report made, its error and when it last moved.
Both used to be files under ``instance/reports/`` on one host; those files are no longer
read, and may be deleted: a report asked for again is made again. With ``GRANTS_REDIS_URL``
set, reports and job records live in Redis and these tables stay empty. Downgrade drops
both tables, and with them every made report and job record (a report is made again when
asked for; a job being made is lost, and asking again queues it afresh).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0010_report_store"
down_revision = "0009_exact_fold"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_files",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_report_files")),
    )
    with op.batch_alter_table("report_files") as batch:
        batch.create_index("ix_report_files_created_at", ["created_at"], unique=False)
    op.create_table(
        "report_jobs",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "queued",
                "running",
                "done",
                "failed",
                name="report_job_state",
                native_enum=False,
                create_constraint=True,
                length=7,
            ),
            nullable=False,
        ),
        sa.Column("percent", sa.Integer(), nullable=False),
        sa.Column("result_key", sa.String(length=64), nullable=True),
        sa.Column("file_name", sa.String(length=200), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "percent BETWEEN 0 AND 100", name=op.f("ck_report_jobs_percent_in_range")
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_report_jobs")),
    )


def downgrade() -> None:
    op.drop_table("report_jobs")
    with op.batch_alter_table("report_files") as batch:
        batch.drop_index("ix_report_files_created_at")
    op.drop_table("report_files")
