"""How many video worker processes are idle now: a split job only pays for its cuts when
other workers take part (`worker.split_jobs`); and which pose models the workers have (the
gateway refuses a job whose model none has: `shared.queue.worker_models`).

Each worker answers the remote-control command `dance_capacity` (registered here, imported
by `worker.celery_app`) with its queues, its pool size, how many tasks it runs and the pose
models it can run (read once: installing one means restarting the worker). A job asks
every worker at once and waits `PROBE_TIMEOUT_S` for the answers; the idle pool processes of
the workers consuming the video queue, less the messages already waiting there, are the
helpers it can count on. Only with a Redis broker: the local mode's file broker has no
broadcast, and its one worker has no one to share with.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, cast

import redis
from celery.worker import state as worker_state
from celery.worker.control import inspect_command

from pipeline.pose.models import installed as installed_models
from shared.config import settings
from shared.queue import CAPACITY_COMMAND, capacity_answers

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 0.5


@inspect_command(name=CAPACITY_COMMAND)
def dance_capacity(state: Any, **_kwargs: Any) -> dict[str, Any]:
    """This worker's queues, pool processes and running tasks."""
    consumer = state.consumer
    queues = [queue.name for queue in consumer.task_consumer.queues]
    pool = getattr(consumer.pool, "num_processes", None) or consumer.app.conf.worker_concurrency
    return {
        "queues": queues,
        "concurrency": int(pool),
        "active": len(worker_state.active_requests),
        "models": _models(),
    }


@functools.cache
def _models() -> list[str]:
    return installed_models()


def idle_video_slots() -> int:
    """Pool processes of video workers running nothing, less the video messages waiting for
    one (0 when it cannot be told: no broadcast, or the broker did not answer)."""
    try:
        answers = capacity_answers(settings.CELERY_QUEUE, PROBE_TIMEOUT_S)
        if answers is None:
            return 0
        waiting = _waiting_messages(settings.broker_url, settings.CELERY_QUEUE)
    except Exception as exc:  # the broker is down: do not split
        log.warning("could not count idle workers: %s", exc)
        return 0
    idle = sum(max(0, int(answer["concurrency"]) - int(answer["active"])) for answer in answers)
    return max(0, idle - waiting)


def _waiting_messages(url: str, queue: str) -> int:
    client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    try:
        return int(cast(int, client.llen(queue)))
    finally:
        client.close()
