"""Headers every answer carries, a request id and a log line per request, and CORS whose
refusals are JSON like every other error."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response
from api.prometheus import REQUEST_SECONDS
from api.security_headers import add_security_headers
from shared.logs import bind, unbind

access = logging.getLogger("api.access")
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class SecurityHeadersMiddleware:
    """Adds `api.security_headers` to every answer. Pure ASGI, so streamed answers pass
    through untouched."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                add_security_headers(
                    MutableHeaders(scope=message),
                    scheme=scope.get("scheme", "http"),
                    path=scope["path"],
                )
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RequestContextMiddleware:
    """Gives each request an id (its `X-Request-ID` when that is sane, else a new one), puts
    it on every log line of the request and echoes it in the answer, times the request for
    `dance_http_request_duration_seconds`, and logs one line per request."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = Headers(scope=scope).get("x-request-id", "")
        request_id = sent if _REQUEST_ID_RE.match(sent) else uuid.uuid4().hex
        token = bind(request_id=request_id)
        started, status = time.perf_counter(), 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUEST_SECONDS.labels(scope["method"], route, str(status)).observe(seconds)
            access.info(
                "%s %s %d %.0f ms",
                scope["method"],
                scope["path"],
                status,
                seconds * 1000,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(seconds * 1000, 1),
                },
            )
            unbind(token)


class JSONCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, except that a refused preflight answers JSON `{code, message}`."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        refused = bytes(response.body).decode("utf-8", "replace")
        headers = {
            k: v
            for k, v in response.headers.items()
            if k.lower() not in ("content-type", "content-length")
        }
        return error_response(
            response.status_code,
            "cors_preflight_refused",
            f"{refused}; allowed origins are set by CORS_ORIGINS",
            headers=headers,
        )
