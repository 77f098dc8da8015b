"""A job's outputs in one column: `output_keys`, `{output name: storage key}` for the outputs
of `shared.outputs.JOB_OUTPUTS`, instead of a column per output (a new output needs no
migration). The five columns' values move into it, and back on downgrade.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# the outputs as they were when the columns went (the registry may grow after this)
NAMES = ("video", "keypoints", "summary", "analysis", "angles")


def _jobs() -> sa.TableClause:
    old = (sa.column(f"output_{name}_key", sa.String) for name in NAMES)
    return sa.table("jobs", sa.column("id"), *old, sa.column("output_keys", JSON))


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("output_keys", JSON, nullable=True))
    old = [f"output_{name}_key" for name in NAMES]
    jobs = _jobs()
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(jobs.c.id, *(jobs.c[c] for c in old)).where(jobs.c.output_video_key.isnot(None))
    ).all()
    for row in rows:
        keys = {name: row[i + 1] for i, name in enumerate(NAMES) if row[i + 1]}
        connection.execute(jobs.update().where(jobs.c.id == row[0]).values(output_keys=keys))
    with op.batch_alter_table("jobs") as batch:
        for column in old:
            batch.drop_column(column)


def downgrade() -> None:
    old = [f"output_{name}_key" for name in NAMES]
    with op.batch_alter_table("jobs") as batch:
        for column in old:
            batch.add_column(sa.Column(column, sa.String(1024), nullable=True))
    jobs = _jobs()
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(jobs.c.id, jobs.c.output_keys).where(jobs.c.output_keys.isnot(None))
    ).all()
    for job_id, keys in rows:
        values = {f"output_{name}_key": (keys or {}).get(name) for name in NAMES}
        connection.execute(jobs.update().where(jobs.c.id == job_id).values(**values))
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("output_keys")
