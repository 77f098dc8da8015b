"""Reading a job's Server-Sent Events (`GET /api/jobs/{id}/events`): the `text/event-stream`
format of the HTML standard, reduced to what the gateway sends (`event`, `data`, `id`,
`retry`, keep-alive comments)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass
class Event:
    event: str = "message"
    data: str = ""
    id: str | None = None


async def read_events(lines: AsyncIterator[str]) -> AsyncIterator[Event]:
    """The events of a stream of lines; a blank line ends each event."""
    event, data = Event(), list[str]()
    async for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                event.data = "\n".join(data)
                yield event
            event, data = Event(id=event.id), list[str]()
            continue
        if line.startswith(":"):
            continue  # a comment: keep-alive
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event.event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            event.id = value
