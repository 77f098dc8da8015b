"""Live job status as Server-Sent Events: `GET /api/jobs/{id}/events`.

Each change of the job (status, progress; its `updated_at`) is sent as an event `status`
whose data is the job status object and whose id is the change's time in milliseconds. The
stream ends after a finished status (succeeded, failed, deleted, expired), or after
EVENTS_MAX_STREAM_S, when the client reconnects sending `Last-Event-ID`: only newer changes
are sent then, and a finished job with nothing newer answers 204 (which tells EventSource
clients to stop reconnecting). Keep-alive comments every EVENTS_PING_S.

Same key and tenant rules as every /api route: another tenant's job is a 404. Browsers'
EventSource cannot send an Authorization header: read the stream with `fetch` instead (the
web page does), or poll `GET /api/status/{id}`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import Response
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from api.auth import Caller, CallerDep
from api.deps import SettingsDep, StorageDep
from api.errors import APIError, error_responses
from api.job_access import find_job, job_not_found, parse_job_id, present
from api.rate_limit import enforce_rate_limit
from shared.config import Settings
from shared.db import session_scope
from shared.models import Job
from shared.states import TERMINAL
from shared.storage import Storage

router = APIRouter(prefix="/api", tags=["jobs"], dependencies=[Depends(enforce_rate_limit)])

RETRY_MS = 2000  # how long an EventSource client waits before it reconnects


class EventStreams:
    """The cap on open streams of one API process (MAX_EVENT_STREAMS); each polls the
    database. A stream counts from its first event to its end (a response that never
    started counts for nothing). Used from the event loop only."""

    def __init__(self, limit: int):
        self.limit, self.open = limit, 0

    def check(self) -> None:
        if self.open >= self.limit:
            raise APIError(
                503,
                "too_many_streams",
                f"{self.limit} event streams are open; poll GET /api/status/{{id}} instead",
                headers={"Retry-After": "10"},
            )


@router.get(
    "/jobs/{job_id}/events",
    summary="Follow a job live (Server-Sent Events)",
    description="`text/event-stream` of `status` events (data: the job status object, id: "
    "the change's time in ms) until the job ends. Reconnect with `Last-Event-ID` to get only "
    "newer changes; 204 when the job ended and nothing is newer. Keep-alive comments every "
    "`EVENTS_PING_S`.",
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "The event stream."},
        204: {"description": "The job ended and the client has its last status."},
        **error_responses(401, 404, 429, 503),
    },
)
async def job_events(
    job_id: str,
    request: Request,
    caller: CallerDep,
    settings: SettingsDep,
    storage: StorageDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=32)] = None,
) -> Response:
    job_uuid = parse_job_id(job_id)
    job = await run_in_threadpool(_load, caller, job_uuid)
    if job is None:
        raise job_not_found(job_id)
    seen = _event_id(last_event_id)
    if job.status in TERMINAL and seen is not None and _version(job) <= seen:
        return Response(status_code=204)
    streams: EventStreams = request.app.state.event_streams
    streams.check()
    return EventSourceResponse(
        _stream(job, caller, settings, storage, seen, streams),
        ping=settings.EVENTS_PING_S,
        send_timeout=30,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _stream(
    job: Job,
    caller: Caller,
    settings: Settings,
    storage: Storage,
    seen: int | None,
    streams: EventStreams,
) -> AsyncIterator[ServerSentEvent]:
    streams.open += 1
    try:
        deadline = time.monotonic() + settings.EVENTS_MAX_STREAM_S
        current: Job | None = job
        while current is not None:
            version = _version(current)
            if seen is None or version > seen:
                status = present(current, storage, settings)
                yield ServerSentEvent(
                    data=status.model_dump_json(),
                    event="status",
                    id=str(version),
                    retry=RETRY_MS,
                )
                seen = version
            if current.status in TERMINAL or time.monotonic() >= deadline:
                return
            await anyio.sleep(settings.EVENTS_POLL_INTERVAL_S)
            current = await run_in_threadpool(_load, caller, current.id)
    finally:
        streams.open -= 1


def _load(caller: Caller, job_id: uuid.UUID) -> Job | None:
    with session_scope() as session:
        job = find_job(session, caller, job_id)
        if job is not None:
            session.expunge(job)
        return job


def _version(job: Job) -> int:
    return int(job.updated_at.timestamp() * 1000)


def _event_id(raw: str | None) -> int | None:
    """The `Last-Event-ID` a client sends back: one of our ids, else ignored."""
    try:
        return int(raw) if raw else None
    except ValueError:
        return None
