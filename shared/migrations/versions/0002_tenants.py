"""Tenants and API keys; every job belongs to a tenant; status `expired`.

Jobs created before this revision go to a tenant named `default` (the tenant that requests
without a key act as when AUTH_REQUIRED=false), whose webhooks keep being signed with the
`WEBHOOK_SECRET` setting, as they were. Idempotency keys become unique per tenant.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
DEFAULT_TENANT = "default"
OLD_STATUSES = "'queued', 'processing', 'succeeded', 'failed', 'deleted'"
NEW_STATUSES = OLD_STATUSES + ", 'expired'"


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("webhook_secret", sa.String(128), nullable=True),
        sa.Column("previous_webhook_secret", sa.String(128), nullable=True),
        sa.Column("previous_secret_expires_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("name", name=op.f("uq_tenants_name")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("last_used_at", TIMESTAMP, nullable=True),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_api_keys_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(op.f("ix_api_keys_tenant_id"), "api_keys", ["tenant_id"])

    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("tenant_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("expired_at", TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("idempotency_fingerprint", sa.String(64), nullable=True))

    _give_existing_jobs_the_default_tenant()

    with op.batch_alter_table("jobs") as batch:
        batch.alter_column("tenant_id", existing_type=sa.Uuid(), nullable=False)
        batch.create_foreign_key(
            op.f("fk_jobs_tenant_id_tenants"), "tenants", ["tenant_id"], ["id"]
        )
        batch.drop_constraint(op.f("uq_jobs_idempotency_key"), type_="unique")
        batch.create_unique_constraint(
            "uq_jobs_tenant_id_idempotency_key", ["tenant_id", "idempotency_key"]
        )
        batch.drop_index(op.f("ix_jobs_client_id"))
        batch.drop_column("client_id")
        batch.drop_index(op.f("ix_jobs_created_at_id"))
        batch.create_index("ix_jobs_tenant_id_created_at_id", ["tenant_id", "created_at", "id"])
        batch.create_index("ix_jobs_tenant_id_status", ["tenant_id", "status"])
        batch.create_index("ix_jobs_status_finished_at", ["status", "finished_at"])
        batch.drop_constraint(op.f("ck_jobs_status"), type_="check")
        batch.create_check_constraint(op.f("ck_jobs_status"), f"status IN ({NEW_STATUSES})")


def _give_existing_jobs_the_default_tenant() -> None:
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM jobs")).scalar_one() == 0:
        return
    tenants = sa.table(
        "tenants",
        sa.column("id", sa.Uuid()),
        sa.column("name", sa.String()),
        sa.column("created_at", TIMESTAMP),
    )
    tenant_id = uuid.uuid4()
    bind.execute(
        sa.insert(tenants).values(id=tenant_id, name=DEFAULT_TENANT, created_at=datetime.now(UTC))
    )
    jobs = sa.table("jobs", sa.column("tenant_id", sa.Uuid()))
    bind.execute(sa.update(jobs).values(tenant_id=tenant_id))


def downgrade() -> None:
    op.execute("UPDATE jobs SET status = 'deleted' WHERE status = 'expired'")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint(op.f("ck_jobs_status"), type_="check")
        batch.create_check_constraint(op.f("ck_jobs_status"), f"status IN ({OLD_STATUSES})")
        batch.drop_index("ix_jobs_status_finished_at")
        batch.drop_index("ix_jobs_tenant_id_status")
        batch.drop_index("ix_jobs_tenant_id_created_at_id")
        batch.create_index(op.f("ix_jobs_created_at_id"), ["created_at", "id"])
        batch.add_column(sa.Column("client_id", sa.String(255), nullable=True))
        batch.create_index(op.f("ix_jobs_client_id"), ["client_id"])
        batch.drop_constraint("uq_jobs_tenant_id_idempotency_key", type_="unique")
        # keys were unique per tenant only: keep the newest job's, forget the others'
        batch.drop_constraint(op.f("fk_jobs_tenant_id_tenants"), type_="foreignkey")
        batch.drop_column("idempotency_fingerprint")
        batch.drop_column("expired_at")
        batch.drop_column("tenant_id")
    op.execute(
        "UPDATE jobs SET idempotency_key = NULL WHERE idempotency_key IS NOT NULL AND id NOT IN "
        "(SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY idempotency_key "
        "ORDER BY created_at DESC) AS n FROM jobs WHERE idempotency_key IS NOT NULL) AS ranked "
        "WHERE n = 1)"
    )
    with op.batch_alter_table("jobs") as batch:
        batch.create_unique_constraint(op.f("uq_jobs_idempotency_key"), ["idempotency_key"])
    op.drop_index(op.f("ix_api_keys_tenant_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("tenants")
