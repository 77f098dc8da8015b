"""The service as real processes for the service benchmarks: a database of its own on the
machine's Postgres, Redis (database 13, queues of its own), moto's S3 server, and
`ServiceProcesses` (uvicorn, Celery workers) on top; all removed afterwards."""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer
from sqlalchemy import create_engine, text

from cli.local_stack import ServiceProcesses, migrate

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/13"


@contextmanager
def bench_stack(name: str, **settings: str) -> Iterator[tuple[ServiceProcesses, Path]]:
    """A migrated, empty stack (no process started yet) and a scratch folder; `settings` on
    top of the environment."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto logs every request
    database = f"dance_{name}_{secrets.token_hex(4)}"
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    s3 = f"http://127.0.0.1:{moto.get_host_and_port()[1]}"
    suffix = secrets.token_hex(4)
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "DATABASE_URL": f"{PG_SERVER}/{database}",
        "REDIS_URL": REDIS_URL,
        "CELERY_QUEUE": f"{name}-{suffix}",
        "WEBHOOK_QUEUE": f"{name}-webhooks-{suffix}",
        "S3_ENDPOINT_URL": s3,
        "S3_BUCKET": name,
        "AWS_ACCESS_KEY_ID": name,
        "AWS_SECRET_ACCESS_KEY": name,
        "WEBHOOK_SECRET": "whsec_" + "bG9hZC10ZXN0LXNlY3JldC1mb3ItYmVuY2g=",
        "RATE_LIMIT_PER_MINUTE": "0",
        "MAX_JOBS_IN_FLIGHT": "1000",
        "RECONCILE_INTERVAL_S": "5",
        "RECONCILE_QUEUED_AFTER_S": "30",
        **settings,
    }
    env.pop("CELERY_BROKER_URL", None)
    tmp = Path(tempfile.mkdtemp(prefix=f"dance-{name}-"))
    services = ServiceProcesses(env, tmp / "logs")
    try:
        boto3.client(
            "s3",
            endpoint_url=s3,
            aws_access_key_id=name,
            aws_secret_access_key=name,
            region_name="us-east-1",
        ).create_bucket(Bucket=name)
        migrate(env)
        yield services, tmp
    finally:
        services.stop()
        moto.stop()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()
