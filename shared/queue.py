"""The Celery configuration and task names, shared by the worker and the gateway.

The gateway enqueues by name (`send_task`) with the job id only, after committing the row;
it never imports the worker's code.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

import redis
from celery import Celery

from shared.config import Settings, settings

PROCESS_JOB = "dance.process_job"
DELIVER_WEBHOOK = "dance.deliver_webhook"
COMPARE_JOBS = "dance.compare_jobs"
PROCESS_SEGMENT = "dance.process_segment"
# Kombu's Redis transport keeps delivered, unacknowledged messages here (its defaults).
CAPACITY_COMMAND = "dance_capacity"  # each worker's remote-control answer (worker.capacity)
UNACKED_KEY = "unacked"
UNACKED_INDEX_KEY = "unacked_index"


def make_celery(name: str, config: Settings = settings) -> Celery:
    """A Celery app with settings right for long CPU-bound tasks (docs/operations.md)."""
    app = Celery(name, broker=config.broker_url)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        # long tasks: take one at a time, acknowledge only when done
        task_acks_late=True,
        task_reject_on_worker_lost=True,  # a killed child requeues; Postgres caps attempts
        worker_prefetch_multiplier=1,
        task_soft_time_limit=config.JOB_SOFT_TIME_LIMIT_S,
        task_time_limit=config.job_time_limit_s,
        broker_transport_options=_transport_options(config),
        broker_connection_retry_on_startup=True,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_max_tasks_per_child=config.WORKER_MAX_TASKS_PER_CHILD,
        task_default_queue=config.CELERY_QUEUE,
        task_routes={
            PROCESS_JOB: {"queue": config.CELERY_QUEUE},
            DELIVER_WEBHOOK: {"queue": config.WEBHOOK_QUEUE},
            COMPARE_JOBS: {"queue": config.CELERY_QUEUE},
            PROCESS_SEGMENT: {"queue": config.CELERY_QUEUE},
        },
        worker_hijack_root_logger=False,
        enable_utc=True,
    )
    return app


def _transport_options(config: Settings) -> dict:
    if config.broker_url.startswith("filesystem://"):  # the local mode's serverless broker
        folder = config.CELERY_FILESYSTEM_BROKER_DIR
        # every folder under the broker's own, none in the working directory
        return {
            "data_folder_in": folder,
            "data_folder_out": folder,
            "control_folder": f"{folder}/control",
        }
    # Redis redelivers unacked messages after this: keep it above the hard time limit.
    return {"visibility_timeout": config.broker_visibility_timeout_s}


@lru_cache(maxsize=1)
def _client() -> Celery:
    return make_celery("dance-api")


def enqueue_job(job_id: uuid.UUID | str, *, continue_attempt: int | None = None) -> None:
    """Queue the processing of a committed job row (or the continuation of an attempt)."""
    kwargs = {} if continue_attempt is None else {"attempt": continue_attempt}
    _client().send_task(PROCESS_JOB, args=[str(job_id)], kwargs=kwargs, queue=settings.CELERY_QUEUE)


def enqueue_segment(job_id: uuid.UUID | str, attempt: int, index: int) -> None:
    """Queue one segment of a split job's attempt for any video worker (`worker.split_jobs`)."""
    _client().send_task(
        PROCESS_SEGMENT,
        args=[str(job_id)],
        kwargs={"attempt": attempt, "index": index},
        queue=settings.CELERY_QUEUE,
    )


def enqueue_comparison(comparison_id: uuid.UUID | str) -> None:
    """Queue a committed comparison row; it runs on the video workers (it needs the
    analysis libraries, which the gateway does not have)."""
    _client().send_task(COMPARE_JOBS, args=[str(comparison_id)], queue=settings.CELERY_QUEUE)


def ask_workers(command: str, timeout_s: float) -> list[dict]:
    """Broadcast a remote-control `command` to every worker; the replies that came within
    `timeout_s` (one `{node: answer}` each)."""
    return list(_client().control.broadcast(command, reply=True, timeout=timeout_s) or [])


def capacity_answers(queue: str, timeout_s: float) -> list[dict[str, Any]] | None:
    """The `CAPACITY_COMMAND` answers (`worker.capacity`) of the workers consuming `queue`;
    None when nobody can tell: only a Redis broker broadcasts (not the local mode's file
    broker), or no such worker answered within `timeout_s`."""
    if not settings.broker_url.startswith(("redis://", "rediss://")):
        return None
    answers = [
        answer
        for reply in ask_workers(CAPACITY_COMMAND, timeout_s)
        for answer in reply.values()
        if isinstance(answer, dict) and queue in answer.get("queues", [])
    ]
    return answers or None


def worker_models(queue: str, timeout_s: float) -> set[str] | None:
    """The pose models the workers of `queue` can run; None when nobody can tell (then the
    worker decides)."""
    answers = capacity_answers(queue, timeout_s)
    if answers is None:
        return None
    return {model for answer in answers for model in answer.get("models") or ["full"]}


@dataclass(frozen=True)
class QueuedMessages:
    """The job messages a Redis broker holds: waiting in the queue, and delivered to a worker
    but not yet acknowledged (with the delivery time: a long-unacknowledged message of a job
    that never started belongs to a dead worker)."""

    waiting: frozenset[str]
    delivered_at: dict[str, float]


def queued_messages(url: str, queue: str) -> QueuedMessages:
    """Read the job ids of every `dance.process_job` message in a Redis broker's `queue` list
    and in Kombu's unacknowledged-message hash (one round trip each)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30)
    try:
        waiting = {
            job for raw in cast(list[bytes], client.lrange(queue, 0, -1)) if (job := _job_of(raw))
        }
        unacked = cast(dict[bytes, bytes], client.hgetall(UNACKED_KEY))
        index = cast(
            list[tuple[bytes, float]], client.zrange(UNACKED_INDEX_KEY, 0, -1, withscores=True)
        )
        times = dict(index)
    finally:
        client.close()
    delivered = {}
    for tag, raw in unacked.items():
        message = json.loads(raw)[0]
        if job_id := _job_of(json.dumps(message)):
            delivered[job_id] = float(times.get(tag, 0.0))
    return QueuedMessages(frozenset(waiting), delivered)


def _job_of(raw: bytes | str) -> str | None:
    """The job id of a serialized Celery message of `dance.process_job`, else None."""
    try:
        message = json.loads(raw)
        if message.get("headers", {}).get("task") != PROCESS_JOB:
            return None
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        return str(args[0])
    except (ValueError, KeyError, TypeError, IndexError):
        return None
