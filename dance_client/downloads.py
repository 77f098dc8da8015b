"""Fetching one output through its presigned URL: streamed to a `.part` file beside the
target, resumed with a `Range` request where a cut transfer (or an earlier run) stopped,
checked against the object's size, then renamed into place."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import httpx

from dance_client.errors import DownloadError
from dance_client.transport import RetryPolicy

_CONTENT_RANGE = re.compile(r"bytes (?:\d+-\d+|\*)/(\d+)")


async def fetch_to_file(
    http: httpx.AsyncClient,
    url: str,
    path: Path,
    *,
    part: Path,
    policy: RetryPolicy,
    fresh_url: Callable[[], Awaitable[str]],
) -> Path:
    """`path`, holding the whole object at `url`. A URL that storage refuses (403: it
    expired) is replaced once by `fresh_url()`; transfer errors resume after a backoff."""
    refreshed = False
    for attempt in range(policy.attempts):
        have = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            async with http.stream("GET", url, headers=headers) as response:
                if response.status_code == 403 and not refreshed:
                    url, refreshed = await fresh_url(), True
                    continue
                if response.status_code == 416 and have:
                    if _total(response) == have:  # the part file was already whole
                        part.replace(path)
                        return path
                    part.unlink()
                    continue
                if response.status_code not in (200, 206):
                    await response.aread()
                    raise DownloadError(
                        f"{path.name}: storage answered {response.status_code}: "
                        f"{response.text[:300]}"
                    )
                if response.status_code == 200:
                    have, total = 0, _length(response)
                else:
                    total = _total(response)
                with part.open("ab" if have else "wb") as out:
                    # as received: a chunk size would hold back bytes a cut then loses
                    async for chunk in response.aiter_raw():
                        out.write(chunk)
        except httpx.TransportError:
            await anyio.sleep(policy.delay(attempt))
            continue
        size = part.stat().st_size
        if total is not None and size != total:
            raise DownloadError(f"{path.name}: {size} bytes written, storage said {total}")
        part.replace(path)
        return path
    raise DownloadError(f"{path.name}: not fetched whole after {policy.attempts} tries")


def _length(response: httpx.Response) -> int | None:
    raw = response.headers.get("content-length")
    return int(raw) if raw and raw.isdigit() else None


def _total(response: httpx.Response) -> int | None:
    match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", ""))
    return int(match.group(1)) if match else None
