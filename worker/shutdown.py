"""A worker's shutdown that keeps the job: finish it within JOB_SHUTDOWN_GRACE_S, else hand
it back at once (released, and re-queued for the next worker) instead of after a lease.

Celery's warm shutdown (SIGTERM to the main process) stops taking tasks and waits for the
running ones; a pool process, though, dies on SIGTERM, which systemd and other init systems
send to the whole process group. So a pool process ignores SIGTERM until it runs a job, and
then takes it as a notice: it notes the deadline and the running job checks `due()` between
frames and stages. The main process passes the notice on to its pool processes when only it
was signalled.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

_deadline: float | None = None


class ShuttingDown(Exception):
    """The worker is stopping and the grace period is over: hand the job back."""


def ignore_in_pool_process() -> None:
    """At a pool process's start: ignore SIGTERM (billiard keeps an ignored signal ignored,
    where it would install its own exit handler over anything else)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def install_in_pool_process(grace_s: float) -> None:
    """Before a job (in the pool process's main thread): SIGTERM starts the grace period
    instead of killing the process."""
    if threading.current_thread() is not threading.main_thread():
        return  # a thread pool (the webhooks worker): Celery's own shutdown is enough

    def notice(*_: Any) -> None:
        global _deadline
        if _deadline is None:
            _deadline = time.monotonic() + grace_s
            log.warning("shutdown notice: a running job has %.0f s to finish", grace_s)

    signal.signal(signal.SIGTERM, notice)


def due() -> bool:
    """Whether a shutdown's grace period has run out (always False without a notice)."""
    return _deadline is not None and time.monotonic() >= _deadline


def check() -> None:
    """Raise `ShuttingDown` once the grace period is over."""
    if due():
        raise ShuttingDown()


def notify_pool_processes(pids: list[int]) -> None:
    """From the main process: pass a shutdown notice on to the pool processes."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
