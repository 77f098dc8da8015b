"""Following a job to its end: its Server-Sent Events, and polling `/api/status` with
backoff once the stream breaks or is refused."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx
from pydantic import ValidationError

from dance_client.errors import ServiceUnavailable
from dance_client.events import read_events
from dance_client.models import JobStatus
from dance_client.transport import RetryPolicy, send

log = logging.getLogger(__name__)

POLL_MIN_S, POLL_MAX_S = 0.5, 5.0  # polling after the event stream broke: backoff bounds

ProgressCallback = Callable[[JobStatus], Any]


class Follower:
    """Follows jobs over `http` (the API's client); `get_status(job_id)` reads a status."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        policy: RetryPolicy,
        get_status: Callable[[str], Awaitable[JobStatus]],
    ):
        self.http, self.policy, self.get_status = http, policy, get_status

    async def follow(self, job_id: str, report: Reporter) -> JobStatus:
        """The stream until the job ends; reconnects (`Last-Event-ID`) when the server ends
        a long stream, and polls instead once the stream breaks or is refused."""
        event_id: str | None = None
        while True:
            try:
                status, event_id = await self._stream(job_id, event_id, report)
            except (httpx.TransportError, ServiceUnavailable, ValidationError) as broken:
                log.info("job %s: event stream broke (%r); polling", job_id, broken)
                return await self._poll(job_id, report)
            if status is not None and status.finished:
                return status
            await anyio.sleep(POLL_MIN_S)  # ended without news: do not spin on reconnects

    async def _stream(
        self, job_id: str, event_id: str | None, report: Reporter
    ) -> tuple[JobStatus | None, str | None]:
        headers = {"Accept": "text/event-stream"}
        if event_id:
            headers["Last-Event-ID"] = event_id
        once = RetryPolicy(attempts=1, max_rate_limited_s=self.policy.max_rate_limited_s)
        response = await send(
            self.http,
            "GET",
            f"/api/jobs/{job_id}/events",
            once,
            idempotent=True,
            stream=True,
            headers=headers,
            timeout=httpx.Timeout(self.http.timeout.connect, read=None),
        )
        try:
            if response.status_code == 204:  # ended, and we had its last status
                ended = await self.get_status(job_id)
                await report(ended)
                return ended, event_id
            status: JobStatus | None = None
            async for event in read_events(response.aiter_lines()):
                if event.event != "status":
                    continue
                status = JobStatus.model_validate_json(event.data)
                event_id = event.id or event_id
                await report(status)
                if status.finished:
                    return status, event_id
            return status, event_id
        finally:
            await response.aclose()

    async def _poll(self, job_id: str, report: Reporter) -> JobStatus:
        delay = POLL_MIN_S
        while True:
            status = await self.get_status(job_id)
            changed = await report(status)
            if status.finished:
                return status
            delay = POLL_MIN_S if changed else min(POLL_MAX_S, delay * 1.5)
            await anyio.sleep(delay)


class Reporter:
    """Calls `on_progress` when the status or the progress changed since the last call."""

    def __init__(self, on_progress: ProgressCallback | None):
        self.on_progress = on_progress
        self.last: JobStatus | None = None

    async def __call__(self, status: JobStatus) -> bool:
        previous, self.last = self.last, status
        if previous is not None and (previous.status, previous.progress) == (
            status.status,
            status.progress,
        ):
            return False
        if self.on_progress is not None:
            result = self.on_progress(status)
            if inspect.isawaitable(result):
                await result
        return True
