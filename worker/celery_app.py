"""The worker's Celery app (contract: `celery -A worker.celery_app worker`).

A worker consumes the `video` queue: one long CPU job per pool process. Webhooks have a queue
of their own, consumed by a separate light worker so that a slow receiver never holds video
work: `celery -A worker.celery_app worker -Q webhooks --pool threads --concurrency 8`.

Shutdown (`worker.shutdown`): SIGTERM, to the main process or to the whole process group,
stops the worker taking jobs; the running job finishes within JOB_SHUTDOWN_GRACE_S or is
handed back at once.
"""

from __future__ import annotations

import threading

from celery.signals import (
    task_prerun,
    worker_process_init,
    worker_ready,
    worker_shutdown,
    worker_shutting_down,
)
from kombu import Queue

from shared.config import settings
from shared.db import configure_engine, dispose_engine_after_fork
from shared.queue import make_celery
from shared.storage import get_storage
from worker import shutdown

app = make_celery("worker")
app.conf.include = ["worker.tasks"]
app.conf.task_queues = (Queue(settings.CELERY_QUEUE),)  # `-Q webhooks` adds the other one
app.conf.task_create_missing_queues = True
app.conf.worker_concurrency = settings.CELERY_WORKER_CONCURRENCY

_stop_background = threading.Event()
_pool: list = []  # the consumer's pool, once the worker is ready


@worker_process_init.connect
def _pool_process_init(**_kwargs) -> None:
    """Children must not share the parent's database sockets or S3 clients, and take
    SIGTERM as a shutdown notice rather than dying on it."""
    dispose_engine_after_fork()
    configure_engine(application_name="dance-worker")
    get_storage.cache_clear()
    shutdown.ignore_in_pool_process()


@task_prerun.connect
def _shutdown_notice_during_jobs(**_kwargs) -> None:
    shutdown.install_in_pool_process(settings.JOB_SHUTDOWN_GRACE_S)


@worker_ready.connect
def _start_background_rounds(sender=None, **_kwargs) -> None:
    from worker.reconcile import start_reconciler
    from worker.retention import start_retention

    _pool[:] = [getattr(sender, "pool", None)]
    configure_engine(application_name="dance-worker-reconciler")
    start_reconciler(_stop_background)
    start_retention(_stop_background)


@worker_shutting_down.connect
def _pass_the_notice_on(**_kwargs) -> None:
    """Only the main process may have been signalled: tell the pool processes."""
    pool = _pool[0] if _pool else None
    info = pool.info if pool is not None else {}
    shutdown.notify_pool_processes(list(info.get("processes") or []))


@worker_shutdown.connect
def _stop(**_kwargs) -> None:
    _stop_background.set()
