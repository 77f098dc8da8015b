"""Request bodies read with a deadline between chunks: a client that stops sending is
answered 408 instead of holding a connection, a buffer and an upload slot forever."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio

from api.errors import APIError


def upload_timeout(idle_timeout_s: float) -> APIError:
    """408 `upload_timeout`: the client stopped sending its body."""
    return APIError(
        408,
        "upload_timeout",
        f"no data received for {idle_timeout_s:g} s; the upload was dropped",
        headers={"Connection": "close"},
    )


async def with_idle_timeout(
    chunks: AsyncIterator[bytes], idle_timeout_s: float
) -> AsyncIterator[bytes]:
    """Yield the chunks; raise `upload_timeout` when the next one takes over `idle_timeout_s`."""
    iterator = chunks.__aiter__()
    while True:
        with anyio.move_on_after(idle_timeout_s) as waiting:
            try:
                chunk = await iterator.__anext__()
            except StopAsyncIteration:
                return
        if waiting.cancelled_caught:
            raise upload_timeout(idle_timeout_s)
        yield chunk
