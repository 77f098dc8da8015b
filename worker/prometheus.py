"""Worker metrics: each worker serves its own on WORKER_METRICS_PORT (`/metrics`), and
Prometheus scrapes every worker (a pod annotation, or a ServiceMonitor).

Why per worker: job outcomes and durations are counted where the jobs run, as real counters
and histograms that only grow, with no query over the job table at scrape time. A worker's
pool processes write to prometheus_client's multiprocess files (`PROMETHEUS_MULTIPROC_DIR`:
one fresh directory per worker, chosen by `worker.prometheus_dir.prepare()` when the worker
starts, before this module is imported) and the main process adds them up when scraped.
Imported anywhere else (tests, the CLI), the metrics are plain in-process ones.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    multiprocess,
    start_http_server,
)

FINISHED = Counter(
    "dance_jobs_finished",
    "Jobs this worker ended, by status and error code (empty when succeeded).",
    ["status", "code"],
)
DURATION = Histogram(
    "dance_job_duration_seconds",
    "Processing time of the jobs that succeeded (claim to outputs stored).",
    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800),
)
QUEUE_WAIT = Histogram(
    "dance_job_queue_wait_seconds",
    "Time from submission to a worker's first claim.",
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
FRAMES_PER_SECOND = Histogram(
    "dance_job_frames_per_second",
    "Pipeline throughput of the jobs that succeeded.",
    buckets=(1, 5, 10, 15, 20, 30, 40, 50, 60, 80, 100, 150),
)
WEBHOOK_ATTEMPTS = Counter(
    "dance_webhook_attempts",
    "Webhook delivery attempts, by outcome (delivered, retry, give_up).",
    ["result"],
)
DEPENDENCY_WAITS = Counter(
    "dance_dependency_waits",
    "Times a job waited out a storage or database outage, by dependency.",
    ["dependency"],
)

SEGMENTS = Counter(
    "dance_segments",
    "Segments of split jobs this worker ended, by result (done, failed, released, cancelled; "
    "skipped: taken already).",
    ["result"],
)


def serve(port: int) -> None:
    """Serve this worker's metrics, its pool processes' included, on `port` (a thread)."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    start_http_server(port, registry=registry)


def forget_process(pid: int) -> None:
    """A pool process ended: drop its live gauges (counters and histograms stay)."""
    multiprocess.mark_process_dead(pid)
