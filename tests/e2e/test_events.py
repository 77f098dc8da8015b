"""Following a job live over real HTTP: `GET /api/jobs/{id}/events` from uvicorn while a
Celery worker processes the job (real Postgres, Redis and S3 server)."""

from __future__ import annotations

import httpx
import pytest

from tests.api.test_events import parse_events
from tests.clips import make_clip
from tests.stacks import submit

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.timeout(300)]


def test_the_events_follow_a_job_from_queued_to_succeeded(api, tmp_path):
    clip = make_clip(tmp_path / "dance.mp4", frames=90, fps=15)
    job_id = submit(api, clip).json()["job_id"]

    body = ""
    with api.stream("GET", f"/api/jobs/{job_id}/events", timeout=120) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():  # the server ends the stream when the job ends
            body += line + "\n"
    events = parse_events(body)

    statuses = [e["data"]["status"] for e in events]
    progress = [e["data"]["progress"] for e in events]
    assert statuses[-1] == "succeeded" and progress[-1] == 100
    assert "processing" in statuses
    assert len(set(progress)) >= 3  # it moved while the client listened
    assert progress == sorted(progress)
    assert events[-1]["data"]["result"]["video_url"]

    # a client that reconnects with the last id is told there is nothing more
    last = events[-1]["id"]
    assert api.get(f"/api/jobs/{job_id}/events", headers={"Last-Event-ID": last}).status_code == 204
    assert httpx.get(events[-1]["data"]["result"]["keypoints_url"], timeout=30).status_code == 200
