"""Comparisons as requests of their own: the mirror mode (`auto`, `on`, `off`, in place of the
boolean `mirror`), the side-by-side video (asked for, and its key), a webhook URL and the
request id; webhook deliveries of a comparison's events (`comparison_id`, beside `job_id`:
exactly one of them is set).

Rows from before: `mirror` true becomes `on`, false `off` (what they asked for); they asked for
no video. Downgrading turns `on` back into true and `auto` or `off` into false, and drops the
deliveries of comparisons (the old schema cannot hold them).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ONE_SUBJECT = (
    "(job_id IS NULL AND comparison_id IS NOT NULL) "
    "OR (job_id IS NOT NULL AND comparison_id IS NULL)"
)


def upgrade() -> None:
    with op.batch_alter_table("comparisons") as batch:
        batch.add_column(sa.Column("mirror_mode", sa.String(8), nullable=True))
        batch.add_column(sa.Column("video", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("webhook_url", sa.String(2048), nullable=True))
        batch.add_column(sa.Column("request_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("video_key", sa.String(1024), nullable=True))
    op.execute(
        "UPDATE comparisons SET mirror_mode = CASE WHEN mirror THEN 'on' ELSE 'off' END, "
        "video = false"
    )
    with op.batch_alter_table("comparisons") as batch:
        batch.alter_column("mirror_mode", existing_type=sa.String(8), nullable=False)
        batch.alter_column("video", existing_type=sa.Boolean(), nullable=False)
        batch.drop_column("mirror")
        batch.create_check_constraint(
            op.f("ck_comparisons_mirror_mode"), "mirror_mode IN ('auto', 'on', 'off')"
        )

    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("comparison_id", sa.Uuid(), nullable=True))
        batch.alter_column("job_id", existing_type=sa.Uuid(), nullable=True)
        batch.create_foreign_key(
            op.f("fk_webhook_deliveries_comparison_id_comparisons"),
            "comparisons",
            ["comparison_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_check_constraint(op.f("ck_webhook_deliveries_one_subject"), ONE_SUBJECT)
    op.create_index(
        op.f("ix_webhook_deliveries_comparison_id"), "webhook_deliveries", ["comparison_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_webhook_deliveries_comparison_id"), table_name="webhook_deliveries")
    op.execute("DELETE FROM webhook_deliveries WHERE job_id IS NULL")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_constraint(op.f("ck_webhook_deliveries_one_subject"), type_="check")
        batch.drop_constraint(
            op.f("fk_webhook_deliveries_comparison_id_comparisons"), type_="foreignkey"
        )
        batch.drop_column("comparison_id")
        batch.alter_column("job_id", existing_type=sa.Uuid(), nullable=False)

    with op.batch_alter_table("comparisons") as batch:
        batch.add_column(sa.Column("mirror", sa.Boolean(), nullable=True))
    op.execute("UPDATE comparisons SET mirror = (mirror_mode = 'on')")
    with op.batch_alter_table("comparisons") as batch:
        batch.alter_column("mirror", existing_type=sa.Boolean(), nullable=False)
        batch.drop_constraint(op.f("ck_comparisons_mirror_mode"), type_="check")
        batch.drop_column("video_key")
        batch.drop_column("request_id")
        batch.drop_column("webhook_url")
        batch.drop_column("video")
        batch.drop_column("mirror_mode")
