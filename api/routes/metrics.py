"""`GET /metrics`: service metrics in the Prometheus text format, computed at scrape time
from the job table, the webhook deliveries and the broker's queue lengths."""

from __future__ import annotations

import hmac
import logging
import statistics
from datetime import timedelta
from urllib.parse import urlsplit

import redis
from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.deps import SettingsDep
from api.errors import APIError, error_responses
from shared.config import Settings
from shared.db import session_scope
from shared.models import Job, WebhookDelivery, utcnow
from shared.states import JobStatus

log = logging.getLogger(__name__)


def require_metrics_token(request: Request, settings: SettingsDep) -> None:
    """With METRICS_TOKEN set, only `Authorization: Bearer <METRICS_TOKEN>` may scrape; without
    it, /metrics is open in development and test, refused (403) in production."""
    if settings.METRICS_TOKEN is None:
        if settings.ENVIRONMENT == "production":
            raise APIError(
                403, "metrics_disabled", "set METRICS_TOKEN to serve /metrics in production"
            )
        return
    expected = f"Bearer {settings.METRICS_TOKEN.get_secret_value()}".encode()
    sent = request.headers.get("authorization", "").encode()
    if not hmac.compare_digest(sent, expected):
        raise APIError(
            401,
            "unauthorized",
            "send `Authorization: Bearer <METRICS_TOKEN>`",
            headers={"WWW-Authenticate": "Bearer"},
        )


router = APIRouter(tags=["health"], dependencies=[Depends(require_metrics_token)])

WINDOW = timedelta(hours=1)
MAX_SAMPLES = 10_000  # recent jobs read for the latency quantiles
QUANTILES = (0.5, 0.95, 0.99)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    summary="Metrics (Prometheus text format)",
    description="Jobs by status; over the last hour: finished jobs, failures by code, "
    "processing and queue-wait time quantiles, webhook attempts; broker queue depths. "
    "Needs `Authorization: Bearer <METRICS_TOKEN>` when that setting is set.",
    responses=error_responses(401, 403),
)
async def metrics(settings: SettingsDep) -> PlainTextResponse:
    text = await run_in_threadpool(render_metrics, settings)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")


def render_metrics(settings: Settings) -> str:
    lines: list[str] = []
    with session_scope() as session:
        _job_metrics(session, lines)
        _webhook_metrics(session, lines)
    _queue_metrics(settings, lines)
    return "\n".join(lines) + "\n"


def _metric(
    lines: list[str],
    name: str,
    kind: str,
    help_text: str,
    samples: list[tuple[dict[str, str], float]],
) -> None:
    lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        lines.append(f"{name}{{{label_text}}} {value:g}" if label_text else f"{name} {value:g}")


def _job_metrics(session: Session, lines: list[str]) -> None:
    counts = dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
    _metric(
        lines,
        "dance_jobs",
        "gauge",
        "Jobs by current status.",
        [({"status": s.value}, counts.get(s.value, 0)) for s in JobStatus],
    )

    since = utcnow() - WINDOW
    recent = session.execute(
        select(Job.status, Job.error_code, Job.processing_time_s, Job.queue_wait_s)
        .where(Job.finished_at >= since)
        .order_by(Job.finished_at.desc())
        .limit(MAX_SAMPLES)
    ).all()
    finished: dict[str, int] = {}
    failures: dict[str, int] = {}
    for status, code, _, _ in recent:
        finished[status] = finished.get(status, 0) + 1
        if status == JobStatus.failed.value:
            failures[code or "unknown"] = failures.get(code or "unknown", 0) + 1
    _metric(
        lines,
        "dance_jobs_finished_last_hour",
        "gauge",
        "Jobs that ended in the last hour, by status.",
        [
            ({"status": s}, finished.get(s, 0))
            for s in (JobStatus.succeeded.value, JobStatus.failed.value)
        ],
    )
    _metric(
        lines,
        "dance_job_failures_last_hour",
        "gauge",
        "Jobs that failed in the last hour, by error code.",
        [({"code": code}, n) for code, n in sorted(failures.items())],
    )
    _summary(
        lines,
        "dance_job_processing_seconds",
        "Processing time of the jobs that succeeded in the last hour.",
        [row[2] for row in recent if row[0] == JobStatus.succeeded.value and row[2]],
    )
    _summary(
        lines,
        "dance_job_queue_wait_seconds",
        "Time from submission to a worker's first claim, jobs ended in the last hour.",
        [row[3] for row in recent if row[3] is not None],
    )


def _summary(lines: list[str], name: str, help_text: str, values: list[float]) -> None:
    samples: list[tuple[dict[str, str], float]] = []
    if values:
        ordered = sorted(values)
        for q in QUANTILES:
            samples.append(
                ({"quantile": f"{q:g}"}, ordered[min(len(ordered) - 1, int(q * len(ordered)))])
            )
    _metric(lines, name, "summary", help_text, samples)
    lines.append(f"{name}_sum {sum(values):g}")
    lines.append(f"{name}_count {len(values)}")


def _webhook_metrics(session: Session, lines: list[str]) -> None:
    since = utcnow() - WINDOW
    rows = session.execute(
        select(WebhookDelivery.status_code, WebhookDelivery.latency_ms)
        .where(WebhookDelivery.created_at >= since)
        .limit(MAX_SAMPLES)
    ).all()
    results: dict[str, int] = {}
    for code, _ in rows:
        result = "error" if code is None else "2xx" if 200 <= code < 300 else f"{code // 100}xx"
        results[result] = results.get(result, 0) + 1
    _metric(
        lines,
        "dance_webhook_attempts_last_hour",
        "gauge",
        "Webhook delivery attempts in the last hour, by answer class (error: no answer).",
        [({"result": r}, n) for r, n in sorted(results.items())],
    )
    latencies = [latency for code, latency in rows if code is not None and latency is not None]
    _metric(
        lines,
        "dance_webhook_latency_ms_median",
        "gauge",
        "Median latency of answered webhook attempts in the last hour.",
        [({}, statistics.median(latencies))] if latencies else [],
    )


def _queue_metrics(settings: Settings, lines: list[str]) -> None:
    """Messages waiting in each queue; Redis brokers only (a Celery queue is a Redis list)."""
    url = settings.broker_url
    if urlsplit(url).scheme not in ("redis", "rediss"):
        return
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        depths = [
            ({"queue": q}, client.llen(q)) for q in (settings.CELERY_QUEUE, settings.WEBHOOK_QUEUE)
        ]
    except redis.RedisError as exc:
        log.warning("metrics: broker unreachable: %s", exc)
        return
    finally:
        client.close()
    _metric(lines, "dance_queue_depth", "gauge", "Messages waiting in the broker queue.", depths)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
