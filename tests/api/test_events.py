"""`GET /api/jobs/{id}/events`: the job status as Server-Sent Events (`api/routes/events.py`),
in-process against the real Postgres and S3 server; the live stream over real HTTP is in
tests/e2e/test_events.py."""

from __future__ import annotations

import json

import anyio
import httpx
import pytest
from sqlalchemy import update

from shared.models import Job, utcnow
from tests.api.helpers import add_finished_job, add_job, api_client

pytestmark = [pytest.mark.anyio, pytest.mark.services]


def parse_events(body: str) -> list[dict]:
    """The events of an event-stream body: {"event", "id", "data"} each; comments dropped."""
    events = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        fields: dict = {}
        for line in block.splitlines():
            if line.startswith(":") or ":" not in line:
                continue
            name, value = line.split(":", 1)
            fields[name] = value[1:] if value.startswith(" ") else value
        if "data" in fields:
            fields["data"] = json.loads(fields["data"])
            events.append(fields)
    return events


async def test_a_finished_job_sends_its_status_once_and_ends(client, db, storage, tenant):
    job = add_finished_job(db, storage, tenant)

    response = await client.get(f"/api/jobs/{job.id}/events")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-store"
    [event] = parse_events(response.text)
    assert event["event"] == "status"
    assert event["data"]["status"] == "succeeded" and event["data"]["progress"] == 100
    assert httpx.get(event["data"]["result"]["video_url"]).content == b"annotated video"
    assert "retry: 2000" in response.text

    # EventSource reconnects with the last id: nothing newer, so 204 (stop reconnecting)
    again = await client.get(f"/api/jobs/{job.id}/events", headers={"Last-Event-ID": event["id"]})
    assert again.status_code == 204
    older = await client.get(f"/api/jobs/{job.id}/events", headers={"Last-Event-ID": "1"})
    assert [e["data"]["status"] for e in parse_events(older.text)] == ["succeeded"]


async def test_a_running_job_streams_each_change_in_order(db, storage, tenant, api_settings):
    job = add_job(db, tenant, status="processing", progress=10, started_at=utcnow())
    config = api_settings.model_copy(
        update={"EVENTS_POLL_INTERVAL_S": 0.05, "EVENTS_MAX_STREAM_S": 30.0}
    )

    async def worker() -> None:  # what a worker writes while the client listens
        for progress, status in ((40, "processing"), (70, "processing"), (100, "succeeded")):
            await anyio.sleep(0.3)
            with db() as session:
                session.execute(
                    update(Job)
                    .where(Job.id == job.id)
                    .values(progress=progress, status=status, updated_at=utcnow())
                )

    async with api_client(config, storage, headers=tenant.headers) as client:
        async with anyio.create_task_group() as group:
            group.start_soon(worker)
            response = await client.get(f"/api/jobs/{job.id}/events", timeout=20)

    events = parse_events(response.text)
    assert [e["data"]["progress"] for e in events] == [10, 40, 70, 100]
    assert events[-1]["data"]["status"] == "succeeded"
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


async def test_a_stream_ends_after_its_longest_duration_and_resumes(
    db, storage, tenant, api_settings
):
    job = add_job(db, tenant, status="queued")
    config = api_settings.model_copy(
        update={"EVENTS_POLL_INTERVAL_S": 0.05, "EVENTS_MAX_STREAM_S": 0.3}
    )
    async with api_client(config, storage, headers=tenant.headers) as client:
        first = await client.get(f"/api/jobs/{job.id}/events")
        [event] = parse_events(first.text)
        resumed = await client.get(
            f"/api/jobs/{job.id}/events", headers={"Last-Event-ID": event["id"]}
        )
    assert event["data"]["status"] == "queued"
    assert resumed.status_code == 200 and parse_events(resumed.text) == []  # nothing newer


async def test_events_keep_to_the_callers_jobs(
    client, db, storage, tenant, other_tenant, api_settings
):
    theirs = add_finished_job(db, storage, other_tenant)
    assert (await client.get(f"/api/jobs/{theirs.id}/events")).status_code == 404
    assert (await client.get("/api/jobs/not-a-uuid/events")).status_code == 404
    async with api_client(api_settings, storage) as anonymous:
        response = await anonymous.get(f"/api/jobs/{theirs.id}/events")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


async def test_beyond_the_stream_cap_the_answer_is_503(db, storage, tenant, api_settings):
    from api.main import create_app

    job = add_job(db, tenant, status="queued")
    app = create_app(api_settings.model_copy(update={"MAX_EVENT_STREAMS": 1}))
    app.state.event_streams.open = 1  # one stream already open
    async with api_client(api_settings, storage, headers=tenant.headers, app=app) as client:
        response = await client.get(f"/api/jobs/{job.id}/events")
    assert response.status_code == 503
    assert response.json()["code"] == "too_many_streams"
    assert response.headers["retry-after"] == "10"


async def test_a_malformed_last_event_id_is_ignored(client, db, storage, tenant):
    job = add_finished_job(db, storage, tenant)
    response = await client.get(f"/api/jobs/{job.id}/events", headers={"Last-Event-ID": "x"})
    assert [e["data"]["status"] for e in parse_events(response.text)] == ["succeeded"]
