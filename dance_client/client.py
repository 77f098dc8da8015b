"""`Client`: the same methods as `AsyncClient`, for code without an event loop.

```python
from dance_client import Client

with Client("http://127.0.0.1:8000", api_key) as client:      # or DANCE_ANALYZER_URL / _API_KEY
    job = client.submit("routine.mp4")
    job.wait(on_progress=lambda status: print(status.status, status.progress))
    print(job.download("results/"))                          # {"video": Path(...), ...}
```

Each call runs the asynchronous client on an event loop of the client's own, in a daemon
thread; callbacks (`on_progress`, `on_upload`) are called from that thread. A `Client` may be
used from several threads at once.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncGenerator, Coroutine, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

from dance_client.async_client import AsyncClient, AsyncJob, JobRef, ProgressCallback
from dance_client.models import ComparisonStatus, JobStatus
from dance_client.uploads import UploadCallback, VideoSource

T = TypeVar("T")


class Job:
    """A job of the service: its last known `status`, and what can be done with it."""

    def __init__(self, client: Client, status: JobStatus):
        self.client, self.status = client, status

    @property
    def id(self) -> str:
        return self.status.job_id

    def refresh(self) -> JobStatus:
        self.status = self.client.get(self.id).status
        return self.status

    def wait(
        self, timeout: float | None = None, on_progress: ProgressCallback | None = None
    ) -> JobStatus:
        self.status = self.client.wait(self.id, timeout=timeout, on_progress=on_progress)
        return self.status

    def download(self, directory: str | os.PathLike[str]) -> dict[str, Path]:
        return self.client.download(self.id, directory)

    def delete(self) -> JobStatus:
        self.status = self.client.delete(self.id)
        return self.status

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.status.status} {self.status.progress}%>"


class Client:
    """See `AsyncClient` for the arguments; every method blocks until it is done."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, **options: Any):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="dance-client", daemon=True
        )
        self._thread.start()
        self._async: AsyncClient = self._run(_make(base_url, api_key, options))

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result()
        except BaseException:  # KeyboardInterrupt included: stop the request too
            future.cancel()
            raise

    @property
    def base_url(self) -> str:
        return self._async.base_url

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._run(self._async.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(
        self, video: VideoSource, *, on_upload: UploadCallback | None = None, **fields: Any
    ) -> Job:
        """See `AsyncClient.submit`."""
        submitted = self._run(self._async.submit(video, on_upload=on_upload, **fields))
        return Job(self, submitted.status)

    def get(self, job_id: JobRef) -> Job:
        return Job(self, self._run(self._async.get(job_id)).status)

    def jobs(self, **filters: Any) -> Iterator[Job]:
        """Every job of the tenant, newest first (pages are fetched as the loop reaches
        them)."""
        pages: AsyncGenerator[AsyncJob, None] = self._async.jobs(**filters)
        try:
            while True:
                try:
                    item = self._run(_next(pages))
                except StopAsyncIteration:
                    return
                yield Job(self, item.status)
        finally:
            self._run(pages.aclose())

    def delete(self, job_id: JobRef) -> JobStatus:
        return self._run(self._async.delete(job_id))

    def wait(
        self,
        job_id: JobRef,
        *,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> JobStatus:
        """See `AsyncClient.wait`."""
        return self._run(self._async.wait(job_id, timeout=timeout, on_progress=on_progress))

    def download(self, job_id: JobRef, directory: str | os.PathLike[str]) -> dict[str, Path]:
        return self._run(self._async.download(job_id, directory))

    def compare(
        self,
        reference: JobRef,
        attempt: JobRef,
        *,
        mirror: bool | Literal["auto"] = "auto",
        video: bool = True,
        webhook_url: str | None = None,
    ) -> ComparisonStatus:
        """See `AsyncClient.compare`."""
        return self._run(
            self._async.compare(
                reference, attempt, mirror=mirror, video=video, webhook_url=webhook_url
            )
        )

    def get_comparison(self, comparison_id: str) -> ComparisonStatus:
        return self._run(self._async.get_comparison(comparison_id))

    def wait_comparison(
        self, comparison_id: str, *, timeout: float | None = None
    ) -> ComparisonStatus:
        """See `AsyncClient.wait_comparison`."""
        return self._run(self._async.wait_comparison(comparison_id, timeout=timeout))

    def download_comparison(
        self, comparison_id: str, directory: str | os.PathLike[str]
    ) -> dict[str, Path]:
        """See `AsyncClient.download_comparison`."""
        return self._run(self._async.download_comparison(comparison_id, directory))


async def _next(pages: AsyncGenerator[AsyncJob, None]) -> AsyncJob:
    return await anext(pages)


async def _make(base_url: str | None, api_key: str | None, options: dict[str, Any]) -> AsyncClient:
    """The asynchronous client, made on the loop that will run it."""
    return AsyncClient(base_url, api_key, **options)
