"""JSON from clients, bounded: a size cap while reading, a nesting cap before parsing.

Python's `json` recurses per nesting level, so `[[[[...` a thousand deep ends in a
`RecursionError` (a 500) and costs stack; every JSON the API reads (request bodies, the
`options` form field) goes through `loads_bounded`, which refuses deep nesting with a 422
first. Routes read their body with `read_json_body` instead of FastAPI's body parameters,
which buffer a body of any size.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import ClientDisconnect, Request

from api.body_stream import with_idle_timeout
from api.errors import APIError

JSON_BODY_MAX_BYTES = 64 * 1024
JSON_MAX_DEPTH = 16


def nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON text (strings are skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def loads_bounded(text: str | bytes, *, code: str, what: str = "the body") -> Any:
    """Parse JSON text, refusing (422 `code`) invalid JSON and nesting deeper than
    `JSON_MAX_DEPTH`."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise APIError(422, code, f"{what} is not UTF-8 text") from None
    if nesting_depth(text) > JSON_MAX_DEPTH:
        raise APIError(422, code, f"{what} nests deeper than {JSON_MAX_DEPTH} levels")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise APIError(422, code, f"{what} is not valid JSON: {exc}") from None


async def read_json_body(request: Request, *, idle_timeout_s: float) -> Any:
    """The request's JSON body: at most `JSON_BODY_MAX_BYTES` (413), no pause longer than
    `idle_timeout_s` (408), nesting bounded (422 `invalid_json`)."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise APIError(415, "unsupported_media_type", "send application/json")
    body = bytearray()
    try:
        async for chunk in with_idle_timeout(request.stream(), idle_timeout_s):
            body += chunk
            if len(body) > JSON_BODY_MAX_BYTES:
                raise APIError(
                    413,
                    "body_too_large",
                    f"JSON body larger than {JSON_BODY_MAX_BYTES} bytes",
                    headers={"Connection": "close"},
                )
    except ClientDisconnect:
        raise APIError(400, "upload_interrupted", "the client disconnected") from None
    return loads_bounded(bytes(body), code="invalid_json")
