"""Status `retrying` (a job waiting out a storage or database outage) with its reason, next
try and the start of its outage; `enqueued_at` (when its task message was sent); `lease_token`
(which claim holds the lease).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
OLD_STATUSES = "'queued', 'processing', 'succeeded', 'failed', 'deleted', 'expired'"
NEW_STATUSES = OLD_STATUSES + ", 'retrying'"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("retry_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("next_retry_at", TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("retrying_since", TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("enqueued_at", TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("lease_token", sa.String(32), nullable=True))
        batch.drop_constraint(op.f("ck_jobs_status"), type_="check")
        batch.create_check_constraint(op.f("ck_jobs_status"), f"status IN ({NEW_STATUSES})")


def downgrade() -> None:
    op.execute("UPDATE jobs SET status = 'queued' WHERE status = 'retrying'")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint(op.f("ck_jobs_status"), type_="check")
        batch.create_check_constraint(op.f("ck_jobs_status"), f"status IN ({OLD_STATUSES})")
        batch.drop_column("lease_token")
        batch.drop_column("enqueued_at")
        batch.drop_column("retrying_since")
        batch.drop_column("next_retry_at")
        batch.drop_column("retry_reason")
