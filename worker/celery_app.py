"""The worker's Celery app (contract: `celery -A worker.celery_app worker`).

Consumes both queues by default: `video` (one long CPU job per child) and `webhooks`
(retries of webhook deliveries). Operators may split them with `-Q`.
"""

from __future__ import annotations

import threading

from celery.signals import worker_process_init, worker_ready, worker_shutdown
from kombu import Queue

from shared.config import settings
from shared.db import configure_engine, dispose_engine_after_fork
from shared.queue import make_celery
from shared.storage import get_storage

app = make_celery("worker")
app.conf.include = ["worker.tasks"]
app.conf.task_queues = (Queue(settings.CELERY_QUEUE), Queue(settings.WEBHOOK_QUEUE))
app.conf.worker_concurrency = settings.CELERY_WORKER_CONCURRENCY

_stop_background = threading.Event()


@worker_process_init.connect
def _fresh_connections_after_fork(**_kwargs) -> None:
    """Children must not share the parent's database sockets or S3 clients."""
    dispose_engine_after_fork()
    configure_engine(application_name="dance-worker")
    get_storage.cache_clear()


@worker_ready.connect
def _start_background_rounds(**_kwargs) -> None:
    from worker.reconcile import start_reconciler
    from worker.retention import start_retention

    configure_engine(application_name="dance-worker-reconciler")
    start_reconciler(_stop_background)
    start_retention(_stop_background)


@worker_shutdown.connect
def _stop(**_kwargs) -> None:
    _stop_background.set()
