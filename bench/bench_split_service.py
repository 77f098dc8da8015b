"""A long video through the service with one video worker, then with two: job wall time.

    python bench/bench_split_service.py [--video PATH] [--seconds 60] [--size 1920x1080]

The service as real processes (`bench/service_stack.py`: uvicorn, Celery workers, the
machine's Postgres and Redis, moto's S3 server), defaults SPLIT_MIN_SECONDS=60 and
SEGMENT_SECONDS=30. The clip is `bench_split.py`'s: the shared street video scaled to
--size, looped to --seconds at 30 fps, a keyframe every second.

1. One video worker (the baseline): no other worker is idle, so the job runs whole.
2. A second worker joins: the next job of the same clip is split and both workers run it.

Each time is from the upload's answer (202) to the status `succeeded` (polled every 0.2 s),
so it includes the download of the input, the analysis step, the stitch and the uploads.
Prints both, the speedup, `metrics.segments`, and the cores the machine has.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_pipeline import DEFAULT_VIDEO, scaled_clip  # noqa: E402
from bench.service_stack import bench_stack  # noqa: E402
from cli.local_stack import tenant_command  # noqa: E402


def wait_ready(services, name: str, timeout_s: float = 120) -> None:
    """A worker serves its metrics once it is ready to take tasks."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{services.metrics_ports[name]}/metrics", timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise TimeoutError(f"{name} did not start")


def run_job(http: httpx.Client, clip: Path) -> tuple[float, dict]:
    with open(clip, "rb") as fh:
        answer = http.post("/api/jobs", files={"video": ("clip.mp4", fh, "video/mp4")})
    answer.raise_for_status()
    job_id, started = answer.json()["job_id"], time.perf_counter()
    while (status := http.get(f"/api/status/{job_id}").json())["status"] not in (
        "succeeded",
        "failed",
    ):
        time.sleep(0.2)
    if status["status"] != "succeeded":
        raise RuntimeError(f"job failed: {status['error']}")
    return time.perf_counter() - started, status


def details(status: dict) -> str:
    metrics = status["metrics"]
    started, finished = (datetime.fromisoformat(status[k]) for k in ("started_at", "finished_at"))
    span = (finished - started).total_seconds()
    return (
        f"segments {metrics.get('segments', 1)}, pipeline {metrics['processing_time_s']:.1f} s "
        f"(analysis {metrics['analysis_time_s']:.1f} s), claim to done {span:.1f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--size", default="1920x1080")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    with bench_stack("split") as (services, tmp):
        loops = max(1, round(args.seconds * 30 / 205))
        clip = scaled_clip(args.video, tmp / "clip.mp4", width, height, 205, loops, 30)
        services.start_api()
        services.start_worker("worker1")
        services.start_webhook_worker()
        services.wait_api(60)
        wait_ready(services, "worker1")
        key = tenant_command(services.env, "create", "bench")["api_key"]
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=services.api_url, timeout=300, headers=headers) as http:
            print(
                f"machine: {os.cpu_count()} cores; clip {width}x{height}, {205 * loops} frames "
                f"({205 * loops / 30:.0f} s at 30 fps), {clip.stat().st_size / 1e6:.0f} MB"
            )
            alone, status = run_job(http, clip)
            print(f"1 worker (baseline):  {alone:6.1f} s  {details(status)}")
            services.start_worker("worker2")
            wait_ready(services, "worker2")
            pair, status = run_job(http, clip)
            print(f"2 workers:            {pair:6.1f} s  {details(status)}")
            print(f"speedup {alone / pair:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
