"""`AsyncClient`: the service's API for asyncio (or trio) code. `dance_client.Client` has the
same methods for plain code.

```python
async with AsyncClient("http://127.0.0.1:8000", api_key) as client:
    job = await client.submit("routine.mp4", max_people=2)
    await job.wait(on_progress=lambda s: print(s.status, s.progress))
    paths = await job.download("results/")
```
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import AsyncGenerator, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import anyio
import httpx

from dance_client.downloads import fetch_to_file
from dance_client.errors import (
    ComparisonFailed,
    ComparisonNotFinished,
    DanceAnalyzerError,
    JobFailed,
    JobNotFinished,
    WaitTimeout,
)
from dance_client.follow import POLL_MAX_S, POLL_MIN_S, Follower, ProgressCallback, Reporter
from dance_client.models import (
    COMPARISON_FILES,
    OUTPUT_FILES,
    ComparisonStatus,
    JobList,
    JobResult,
    JobStatus,
    UploadTicket,
)
from dance_client.transport import RetryPolicy, send
from dance_client.uploads import Upload, UploadCallback, VideoSource

log = logging.getLogger(__name__)

URL_ENV, KEY_ENV = "DANCE_ANALYZER_URL", "DANCE_ANALYZER_API_KEY"
DIRECT_UPLOAD_BYTES = 64 * 1024 * 1024  # larger files go straight to storage
USER_AGENT = "dance-analyzer-client/0.1"

JobRef = str | JobStatus | Any  # a job id, a status, or a job handle (`.id`)


class AsyncJob:
    """A job of the service: its last known `status`, and what can be done with it."""

    def __init__(self, client: AsyncClient, status: JobStatus):
        self.client, self.status = client, status

    @property
    def id(self) -> str:
        return self.status.job_id

    async def refresh(self) -> JobStatus:
        self.status = (await self.client.get(self.id)).status
        return self.status

    async def wait(
        self, timeout: float | None = None, on_progress: ProgressCallback | None = None
    ) -> JobStatus:
        self.status = await self.client.wait(self.id, timeout=timeout, on_progress=on_progress)
        return self.status

    async def download(self, directory: str | os.PathLike[str]) -> dict[str, Path]:
        return await self.client.download(self.id, directory)

    async def delete(self) -> JobStatus:
        self.status = await self.client.delete(self.id)
        return self.status

    def __repr__(self) -> str:
        return f"<AsyncJob {self.id} {self.status.status} {self.status.progress}%>"


class AsyncClient:
    """The API of one service for one tenant (its API key).

    `base_url` and `api_key` default to `DANCE_ANALYZER_URL` and `DANCE_ANALYZER_API_KEY`.
    Requests are retried after connection errors and 502/503/504 and wait out 429s
    (`retry`); other errors raise at once (`dance_client.errors`)."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        direct_upload_bytes: int = DIRECT_UPLOAD_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.base_url = (base_url or os.environ.get(URL_ENV) or "").rstrip("/")
        if not self.base_url:
            raise DanceAnalyzerError(f"no service URL: pass base_url or set {URL_ENV}")
        key = api_key if api_key is not None else os.environ.get(KEY_ENV)
        headers = {"User-Agent": USER_AGENT}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self.retry = retry or RetryPolicy()
        self.direct_upload_bytes = direct_upload_bytes
        self._api = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )
        # presigned storage URLs carry their own signature: never the API key
        self._storage = httpx.AsyncClient(headers={"User-Agent": USER_AGENT}, timeout=timeout)

    async def aclose(self) -> None:
        await self._api.aclose()
        await self._storage.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- jobs -------------------------------------------------------------------------------

    async def submit(
        self,
        video: VideoSource,
        *,
        filename: str | None = None,
        webhook_url: str | None = None,
        max_people: int | None = None,
        min_detection_confidence: float | None = None,
        min_tracking_confidence: float | None = None,
        angle_labels: bool | None = None,
        exports: Sequence[str] | None = None,
        model: str | None = None,
        smoothing: str | None = None,
        idempotency_key: str | None = None,
        on_upload: UploadCallback | None = None,
    ) -> AsyncJob:
        """Send a video (a path, bytes or a binary file object) and return its job at once.

        Files up to `direct_upload_bytes` are streamed through the gateway; larger ones go
        straight to storage with a presigned form, then become a job. An `Idempotency-Key`
        (a new one unless given) goes with every try, so a retried submit makes one job.
        `on_upload(sent, total)` follows the bytes sent. `exports`: the motion files to make
        (any of "bvh", "trc", "csv"; default all, `[]` none). `model`: the pose model, "lite",
        "full" (the server's default) or "heavy". `smoothing`: "none", "light" (the server's
        default) or "strong"."""
        options = {
            name: value
            for name, value in (
                ("max_people", max_people),
                ("min_detection_confidence", min_detection_confidence),
                ("min_tracking_confidence", min_tracking_confidence),
                ("angle_labels", angle_labels),
                ("exports", None if exports is None else list(exports)),
                ("model", model),
                ("smoothing", smoothing),
            )
            if value is not None
        }
        key = idempotency_key or uuid.uuid4().hex
        with Upload(video, filename) as upload:
            direct = upload.size is not None and upload.size > self.direct_upload_bytes
            if direct:
                upload_id = await self._upload_direct(upload, on_upload)
                body: dict[str, Any] = {"upload_id": upload_id, "options": options or None}
                if webhook_url:
                    body["webhook_url"] = webhook_url
                response = await self._send(
                    "POST", "/api/jobs", json=body, headers={"Idempotency-Key": key}
                )
            else:
                form = {"options": _json(options)} if options else {}
                if webhook_url:
                    form["webhook_url"] = webhook_url

                def build() -> dict[str, Any]:
                    reader = upload.reader(on_upload)
                    return {
                        "data": form,
                        "files": {"video": (upload.name, reader, upload.content_type)},
                        "headers": {"Idempotency-Key": key},
                    }

                response = await send(
                    self._api,
                    "POST",
                    "/api/jobs",
                    self.retry,
                    idempotent=upload.rewindable,
                    build=build,
                )
        return AsyncJob(self, JobStatus.model_validate(response.json()))

    async def _upload_direct(self, upload: Upload, on_upload: UploadCallback | None) -> str:
        answer = await self._send(
            "POST",
            "/api/uploads",
            json={"filename": upload.name, "content_type": upload.content_type},
        )
        ticket = UploadTicket.model_validate(answer.json())

        def build() -> dict[str, Any]:
            reader = upload.reader(on_upload)
            return {"data": ticket.fields, "files": {"file": (upload.name, reader)}}

        await send(self._storage, "POST", ticket.url, self.retry, idempotent=True, build=build)
        return ticket.upload_id

    async def get(self, job_id: JobRef) -> AsyncJob:
        return AsyncJob(self, await self._status(_job_id(job_id)))

    async def jobs(
        self, *, status: str | None = None, include_deleted: bool = False, page_size: int = 100
    ) -> AsyncGenerator[AsyncJob, None]:
        """Every job of the tenant, newest first, page after page."""
        params: dict[str, Any] | None = {"limit": page_size}
        if status and params is not None:
            params["status"] = status
        if include_deleted and params is not None:
            params["include_deleted"] = "true"
        url: str | None = "/api/jobs"
        while url:
            page = JobList.model_validate((await self._send("GET", url, params=params)).json())
            for item in page.items:
                yield AsyncJob(self, item)
            url, params = _same_service(page.next), None

    async def delete(self, job_id: JobRef) -> JobStatus:
        """Delete the job's input and outputs (deleting twice is fine)."""
        response = await self._send("DELETE", f"/api/jobs/{_job_id(job_id)}")
        return JobStatus.model_validate(response.json())

    async def wait(
        self,
        job_id: JobRef,
        *,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> JobStatus:
        """Follow the job until it ends: its Server-Sent Events, or polling `/api/status`
        with backoff once the stream breaks. `on_progress(status)` is called on every change
        of status or progress. Returns the succeeded status; raises `JobFailed` (failed,
        deleted, expired) or `WaitTimeout`."""
        ident = _job_id(job_id)
        report = Reporter(on_progress)
        try:
            with anyio.fail_after(timeout) if timeout is not None else nullcontext():
                status = await self._status(ident)
                await report(status)
                if not status.finished:
                    status = await Follower(self._api, self.retry, self._status).follow(
                        ident, report
                    )
        except TimeoutError:
            last = report.last or await self._status(ident)
            raise WaitTimeout(last, timeout or 0) from None
        if status.status != "succeeded":
            raise JobFailed(status)
        return status

    async def download(self, job_id: JobRef, directory: str | os.PathLike[str]) -> dict[str, Path]:
        """Every output of a succeeded job into `directory`: `{"video": .../annotated.mp4,
        "keypoints": ..., ...}`, and its motion files by name (`{"motion.bvh": ...}`). Each is
        streamed to disk, checked against its size, and resumed where it stopped if the
        transfer (or an earlier call) was cut."""
        ident = _job_id(job_id)
        status = await self._status(ident)
        if status.status != "succeeded" or status.result is None:
            if status.finished:
                raise JobFailed(status)
            raise JobNotFinished(f"job {ident} is {status.status}: wait for it first")
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        result = status.result
        files = [
            (field.removesuffix("_url"), name, getattr(result, field))
            for field, name in OUTPUT_FILES.items()
            if getattr(result, field) is not None
        ] + [(item.name, item.name, item.url) for item in result.exports]
        paths: dict[str, Path] = {}
        for key, name, url in files:

            async def fresh_url(key: str = key) -> str:
                return _output_url((await self._status(ident)).result, key)

            path = target / name
            await fetch_to_file(
                self._storage,
                url,
                path,
                part=target / f".{name}.{ident}.part",
                policy=self.retry,
                fresh_url=fresh_url,
            )
            paths[key] = path
        return paths

    # --- comparisons ------------------------------------------------------------------------

    async def compare(
        self,
        reference: JobRef,
        attempt: JobRef,
        *,
        mirror: bool | Literal["auto"] = "auto",
        video: bool = True,
        webhook_url: str | None = None,
    ) -> ComparisonStatus:
        """Score an attempt against a reference (two succeeded jobs, or one job with itself);
        see `wait_comparison`. `mirror`: True for a dancer who faced the reference, False,
        or "auto" (try both, keep the better match); `video`: also make comparison.mp4 (the
        two side by side); `webhook_url`: called with `comparison.succeeded` or
        `comparison.failed` when it ends."""
        body: dict[str, Any] = {
            "reference_job_id": _job_id(reference),
            "attempt_job_id": _job_id(attempt),
            "mirror": mirror,
            "video": video,
        }
        if webhook_url:
            body["webhook_url"] = webhook_url
        response = await self._send("POST", "/api/comparisons", json=body, idempotent=False)
        return ComparisonStatus.model_validate(response.json())

    async def get_comparison(self, comparison_id: str) -> ComparisonStatus:
        response = await self._send("GET", f"/api/comparisons/{comparison_id}")
        return ComparisonStatus.model_validate(response.json())

    async def wait_comparison(
        self, comparison_id: str, *, timeout: float | None = None
    ) -> ComparisonStatus:
        """Poll the comparison (with backoff) until it ends; raises `ComparisonFailed`."""
        delay = POLL_MIN_S
        with anyio.fail_after(timeout) if timeout is not None else nullcontext():
            while not (comparison := await self.get_comparison(comparison_id)).finished:
                await anyio.sleep(delay)
                delay = min(POLL_MAX_S, delay * 1.5)
        if comparison.status != "succeeded":
            raise ComparisonFailed(comparison)
        return comparison

    async def download_comparison(
        self, comparison_id: str, directory: str | os.PathLike[str]
    ) -> dict[str, Path]:
        """A succeeded comparison's files into `directory`: `{"report": .../comparison.json,
        "video": .../comparison.mp4}` (no "video" when it has none), streamed and resumed as
        `download` does."""
        comparison = await self.get_comparison(comparison_id)
        if comparison.status != "succeeded" or comparison.result is None:
            if comparison.finished:
                raise ComparisonFailed(comparison)
            raise ComparisonNotFinished(
                f"comparison {comparison_id} is {comparison.status}: wait for it first"
            )
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        paths: dict[str, Path] = {}
        for field, name in COMPARISON_FILES.items():
            url = getattr(comparison.result, field)
            if url is None:
                continue

            async def fresh_url(field: str = field) -> str:
                result = (await self.get_comparison(comparison_id)).result
                return (getattr(result, field) if result else None) or ""

            path = target / name
            await fetch_to_file(
                self._storage,
                url,
                path,
                part=target / f".{name}.{comparison_id}.part",
                policy=self.retry,
                fresh_url=fresh_url,
            )
            paths[field.removesuffix("_url")] = path
        return paths

    # --- requests ---------------------------------------------------------------------------

    async def _status(self, job_id: str) -> JobStatus:
        response = await self._send("GET", f"/api/status/{job_id}")
        return JobStatus.model_validate(response.json())

    async def _send(
        self, method: str, url: str, *, idempotent: bool = True, **kwargs: Any
    ) -> httpx.Response:
        return await send(self._api, method, url, self.retry, idempotent=idempotent, **kwargs)


def _job_id(job: JobRef) -> str:
    if isinstance(job, str):
        return job
    if isinstance(job, JobStatus):
        return job.job_id
    return str(job.id)


def _output_url(result: JobResult | None, key: str) -> str:
    """A fresh presigned URL of one output: `video` ... (a `JobResult` field without `_url`)
    or a motion file's name; "" if the result has none."""
    if result is None:
        return ""
    if f"{key}_url" in OUTPUT_FILES:
        return getattr(result, f"{key}_url") or ""
    return next((item.url for item in result.exports if item.name == key), "")


def _same_service(next_url: str | None) -> str | None:
    """The next page's path and query: followed on this client's own base URL, so the API key
    never goes to another host whatever the server puts in `next`."""
    if not next_url:
        return None
    parts = urlsplit(next_url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))
