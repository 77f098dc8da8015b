"""The gateway's metrics, with prometheus_client, in a registry of their own.

What each API process counts itself: jobs it accepted (`dance_jobs_submitted_total`) and the
latency of its requests by route (`dance_http_request_duration_seconds`). Prometheus scrapes
every API replica and sums. What is the same for every replica is read at scrape time:
`dance_jobs{status}` for the unfinished statuses (queued, retrying, processing: a range of
the index `ix_jobs_status_created_at`, so its cost follows the jobs in flight, not the
table) and `dance_queue_depth{queue}` (Redis list lengths). Finished jobs are counted as
they finish, by the workers, each of which serves its own metrics (`worker/prometheus.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from urllib.parse import urlsplit

import redis
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from shared.config import settings
from shared.db import session_scope
from shared.models import Job
from shared.states import TERMINAL, JobStatus

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry()
UNFINISHED = [status for status in JobStatus if status not in TERMINAL]

SUBMITTED = Counter(
    "dance_jobs_submitted",
    "Jobs accepted by this API process (idempotent replays not counted).",
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "dance_http_request_duration_seconds",
    "Time to answer a request, by method, route template and status code.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)


class StateCollector(Collector):
    """Gauges of the current state, read when scraped."""

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(
            "dance_jobs", "Unfinished jobs by current status.", labels=["status"]
        )
        try:
            with session_scope() as session:
                counts = dict(
                    session.execute(
                        select(Job.status, func.count())
                        .where(Job.status.in_([s.value for s in UNFINISHED]))
                        .group_by(Job.status)
                    ).all()
                )
            for status in UNFINISHED:
                jobs.add_metric([status.value], counts.get(status.value, 0))
            yield jobs
        except Exception as exc:  # the database is down: leave the gauge out
            log.warning("metrics: jobs by status not read: %s", exc)
        depth = GaugeMetricFamily(
            "dance_queue_depth", "Messages waiting in the broker queue.", labels=["queue"]
        )
        url = settings.broker_url
        if urlsplit(url).scheme not in ("redis", "rediss"):
            return
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            for queue in (settings.CELERY_QUEUE, settings.WEBHOOK_QUEUE):
                depth.add_metric([queue], int(client.llen(queue)))  # type: ignore[arg-type]
            yield depth
        except redis.RedisError as exc:
            log.warning("metrics: broker unreachable: %s", exc)
        finally:
            client.close()


REGISTRY.register(StateCollector())
