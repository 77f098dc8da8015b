"""`dance-analyzer local`: the whole service on this machine (SQLite, moto's S3 in-process,
Kombu's filesystem broker), one video sent through it with the Python client, as a user of
the service would."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

EXIT_FAILURE = 1


def run(args: argparse.Namespace) -> int:
    from cli.local_stack import demo_api_key, embedded_stack
    from dance_client import Client, JobFailed
    from pipeline.video.samples import make_clip

    # SIGTERM (e.g. from a process manager) unwinds like Ctrl-C, so the API and worker
    # processes started below are stopped too instead of being left running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    home = Path(args.home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    video = (
        Path(args.video)
        if args.video
        else Path(
            make_clip(
                home / "sample.mp4",
                width=640,
                height=480,
                frames=60,
                fps=15,
                audio=True,
                beat_bpm=120,
            )
        )
    )
    print(f"starting the API and a worker (state and logs in {home}) ...")
    with embedded_stack(home, api_port=args.port) as stack:
        api = stack.api_url
        key = demo_api_key(stack.env)
        print(f"API: {api}  (docs: {api}/docs)")
        print(f"web page: {api}/  (sign in with the key below)")
        print(f"API key of the tenant 'demo': {key}")
        print(f"  e.g. curl -H 'Authorization: Bearer {key}' {api}/api/jobs")
        print(f"  or: DANCE_ANALYZER_URL={api} DANCE_ANALYZER_API_KEY={key} dance-analyzer jobs")
        with Client(api, key, timeout=300) as client:
            job = client.submit(video)
            print(f"submitted {video} -> {api}/api/status/{job.id}")
            try:
                job.wait(timeout=600, on_progress=_print_progress)
            except JobFailed:
                pass
            status = job.status if job.status.finished else job.refresh()
            print(
                json.dumps(
                    status.model_dump(
                        mode="json", include={"job_id", "status", "error", "metrics", "analysis"}
                    ),
                    indent=2,
                )
            )
            if status.status != "succeeded":
                print(f"see the worker log: {home / 'logs' / 'worker.log'}", file=sys.stderr)
                return EXIT_FAILURE
            out = home / "results" / job.id
            job.download(out)
        print(f"downloaded the results through their presigned URLs into {out}")
        if args.serve:
            print("serving; press Ctrl-C to stop")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    return 0


def _print_progress(status) -> None:
    print(f"  {status.status:10s} {status.progress:3d}%", flush=True)
