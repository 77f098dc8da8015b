"""Analysis outputs of a job (`analysis.json`, `angles.csv` and a short summary) and
comparisons of an attempt with a reference.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("output_analysis_key", sa.String(1024), nullable=True))
        batch.add_column(sa.Column("output_angles_key", sa.String(1024), nullable=True))
        batch.add_column(sa.Column("analysis", JSON, nullable=True))
    op.create_table(
        "comparisons",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("reference_job_id", sa.Uuid(), nullable=False),
        sa.Column("attempt_job_id", sa.Uuid(), nullable=False),
        sa.Column("mirror", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("summary", JSON, nullable=True),
        sa.Column("report_key", sa.String(1024), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'processing', 'succeeded', 'failed')",
            name=op.f("ck_comparisons_status"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_comparisons_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["reference_job_id"],
            ["jobs.id"],
            name=op.f("fk_comparisons_reference_job_id_jobs"),
        ),
        sa.ForeignKeyConstraint(
            ["attempt_job_id"], ["jobs.id"], name=op.f("fk_comparisons_attempt_job_id_jobs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comparisons")),
    )
    op.create_index(
        "ix_comparisons_tenant_id_created_at", "comparisons", ["tenant_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_comparisons_tenant_id_created_at", table_name="comparisons")
    op.drop_table("comparisons")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("analysis")
        batch.drop_column("output_angles_key")
        batch.drop_column("output_analysis_key")
