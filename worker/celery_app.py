"""The worker's Celery app (contract: `celery -A worker.celery_app worker`).

A worker consumes the `video` queue: one long CPU job per pool process. Webhooks have a queue
of their own, consumed by a separate light worker so that a slow receiver never holds video
work: `celery -A worker.celery_app worker -Q webhooks --pool threads --concurrency 8`.

Shutdown (`worker.shutdown`): SIGTERM, to the main process or to the whole process group,
stops the worker taking jobs; the running job finishes within JOB_SHUTDOWN_GRACE_S or is
handed back at once.
"""

from __future__ import annotations

from worker import prometheus_dir

prometheus_dir.choose()  # first: prometheus_client fixes its mode when it is imported

import contextvars
import os
import threading

from celery.signals import (
    setup_logging,
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
    worker_shutting_down,
)
from kombu import Queue

from shared import logs
from shared.config import settings
from shared.db import configure_engine, dispose_engine_after_fork
from shared.queue import make_celery
from shared.storage import get_storage
from worker import capacity, shutdown  # noqa: F401 (capacity: the `dance_capacity` command)

app = make_celery("worker")
app.conf.include = ["worker.tasks"]
app.conf.task_queues = (Queue(settings.CELERY_QUEUE),)  # `-Q webhooks` adds the other one
app.conf.task_create_missing_queues = True
app.conf.worker_concurrency = settings.CELERY_WORKER_CONCURRENCY

_stop_background = threading.Event()
_pool: list = []  # the consumer's pool, once the worker is ready
_task_logs: dict[str, contextvars.Token] = {}  # task id -> its log context


@setup_logging.connect
def _logging(**_kwargs) -> None:
    """Celery leaves its logging to us: the project's one configuration, at LOG_LEVEL
    (Celery's own `--loglevel` is not used)."""
    logs.configure_logging("worker", level=settings.LOG_LEVEL)


@worker_init.connect
def _compile_the_numba_functions(sender=None, **_kwargs) -> None:
    """librosa's beat tracker and the comparison's alignment are compiled by numba on their
    first call (seconds from numba's cache, ~30 s without): do it once in the main process,
    before the pool forks, so no job pays for it. Only where videos are analysed: not in the
    webhook worker (`-Q`)."""
    if sender is None or settings.CELERY_QUEUE not in sender.app.amqp.queues.consume_from:
        return
    from pipeline.numba_cache import main as compile_numba_functions

    compile_numba_functions()


@worker_process_init.connect
def _pool_process_init(**_kwargs) -> None:
    """Children must not share the parent's database sockets or S3 clients, and take
    SIGTERM as a shutdown notice rather than dying on it."""
    dispose_engine_after_fork()
    configure_engine(application_name="dance-worker")
    get_storage.cache_clear()
    shutdown.ignore_in_pool_process()


@task_prerun.connect
def _before_task(task_id=None, args=None, kwargs=None, **_kwargs) -> None:
    """Every line logged while a task runs (Celery's own included) names its job: the first
    argument of each task; `attempt` too when the task continues one (a new attempt's number
    is bound by `worker.jobs` once it is claimed)."""
    fields = {"job_id": args[0]} if args else {}
    if (kwargs or {}).get("attempt"):
        fields["attempt"] = kwargs["attempt"]
    _task_logs[task_id] = logs.bind(**fields)
    shutdown.install_in_pool_process(settings.JOB_SHUTDOWN_GRACE_S)


@task_postrun.connect
def _after_task(task_id=None, **_kwargs) -> None:
    if (token := _task_logs.pop(task_id, None)) is not None:
        logs.unbind(token)


@worker_ready.connect
def _start_background_rounds(sender=None, **_kwargs) -> None:
    from worker.reconcile import start_reconciler
    from worker.retention import start_retention

    _pool[:] = [getattr(sender, "pool", None)]
    if settings.WORKER_METRICS_PORT:
        from worker import prometheus

        prometheus.serve(settings.WORKER_METRICS_PORT)
    configure_engine(application_name="dance-worker-reconciler")
    start_reconciler(_stop_background)
    start_retention(_stop_background)


@worker_shutting_down.connect
def _pass_the_notice_on(**_kwargs) -> None:
    """Only the main process may have been signalled: tell the pool processes."""
    pool = _pool[0] if _pool else None
    info = pool.info if pool is not None else {}
    shutdown.notify_pool_processes(list(info.get("processes") or []))


@worker_process_shutdown.connect
def _pool_process_gone(pid=None, **_kwargs) -> None:
    from worker import prometheus

    prometheus.forget_process(pid or os.getpid())


@worker_shutdown.connect
def _stop(**_kwargs) -> None:
    _stop_background.set()
