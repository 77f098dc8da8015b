"""Many clients submitting and polling for a few minutes against the service as real processes
(uvicorn, Celery workers, the machine's Postgres and Redis, moto's S3 server).

    python bench/bench_load.py [--clients 8] [--seconds 120] [--workers 1]

Each client submits a short clip, polls its status every 0.5 s until it ends, and starts
over, until --seconds have passed; then every accepted job is waited for. Prints jobs
accepted, finished, lost (accepted but never finished: must be 0), processed more than once
(must be 0), submit and status latency p50/p99, and the status latency of an idle service
measured first in the same run (the baseline) with the ratio under load.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.service_stack import bench_stack  # noqa: E402
from cli.local_stack import tenant_command  # noqa: E402
from pipeline.video.samples import make_clip  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Client(threading.Thread):
    def __init__(self, api: str, key: str, clip: Path, until: float, record: dict):
        super().__init__(daemon=True)
        self.http = httpx.Client(
            base_url=api, timeout=60, headers={"Authorization": f"Bearer {key}"}
        )
        self.clip, self.until, self.record = clip.read_bytes(), until, record

    def run(self) -> None:
        while time.monotonic() < self.until:
            started = time.perf_counter()
            answer = self.http.post(
                "/api/jobs",
                files={"video": ("clip.mp4", self.clip)},
                headers={"Idempotency-Key": secrets.token_hex(8)},
            )
            self.record["submit"].append(time.perf_counter() - started)
            if answer.status_code != 202:
                self.record["refused"].append(answer.status_code)
                time.sleep(1)
                continue
            job_id = answer.json()["job_id"]
            self.record["accepted"].append(job_id)
            while True:
                time.sleep(0.5)
                started = time.perf_counter()
                status = self.http.get(f"/api/status/{job_id}")
                self.record["status"].append(time.perf_counter() - started)
                if status.status_code == 200 and status.json()["status"] in ("succeeded", "failed"):
                    break


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    with bench_stack("load") as (services, tmp):
        env = services.env
        services.start_api()
        for n in range(args.workers):
            services.start_worker(f"worker{n}")
        services.start_webhook_worker()
        services.wait_api(60)
        key = tenant_command(env, "create", "load")["api_key"]
        clip = Path(make_clip(tmp / "clip.mp4", width=320, height=240, frames=15, fps=15))
        http = httpx.Client(
            base_url=services.api_url, timeout=60, headers={"Authorization": f"Bearer {key}"}
        )
        baseline = []
        for _ in range(50):
            started = time.perf_counter()
            http.get("/api/jobs?limit=1")
            baseline.append(time.perf_counter() - started)

        record: dict[str, list] = {"submit": [], "status": [], "accepted": [], "refused": []}
        until = time.monotonic() + args.seconds
        clients = [Client(services.api_url, key, clip, until, record) for _ in range(args.clients)]
        began = time.monotonic()
        for client in clients:
            client.start()
        for client in clients:
            client.join()
        load_s = time.monotonic() - began

        finished, deadline = {}, time.monotonic() + 300
        for job_id in record["accepted"]:
            while time.monotonic() < deadline:
                status = http.get(f"/api/status/{job_id}").json()
                if status["status"] in ("succeeded", "failed"):
                    finished[job_id] = status
                    break
                time.sleep(0.5)
        logs = "".join(services.log(f"worker{n}") for n in range(args.workers))
        twice = [
            job_id
            for job_id in record["accepted"]
            if logs.count(f"job {job_id}: attempt") > 1
            or finished.get(job_id, {}).get("attempts", 1) > 1
        ]
        accepted = len(record["accepted"])
        succeeded = sum(1 for s in finished.values() if s["status"] == "succeeded")
        idle_p50 = statistics.median(baseline)
        print(
            f"{args.clients} clients, {load_s:.0f} s, {args.workers} video worker(s); "
            f"clip 320x240, 15 frames"
        )
        print(
            f"jobs accepted {accepted}, finished {len(finished)} "
            f"({succeeded} succeeded), lost {accepted - len(finished)}, "
            f"processed more than once {len(twice)}, refused {len(record['refused'])}"
        )
        print(f"throughput {len(finished) / load_s * 60:.0f} jobs/min")
        print(
            f"submit latency p50 {percentile(record['submit'], 0.5) * 1000:.0f} ms, "
            f"p99 {percentile(record['submit'], 0.99) * 1000:.0f} ms"
        )
        status_p50 = percentile(record["status"], 0.5)
        print(
            f"status latency p50 {status_p50 * 1000:.0f} ms, "
            f"p99 {percentile(record['status'], 0.99) * 1000:.0f} ms "
            f"({len(record['status'])} polls); idle baseline p50 {idle_p50 * 1000:.1f} ms, "
            f"ratio {status_p50 / idle_p50:.1f}x"
        )
        return 0 if accepted == len(finished) and not twice else 1


if __name__ == "__main__":
    sys.exit(main())
