"""Headers every answer carries, and CORS whose refusals are JSON like every other error."""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response
from api.security_headers import add_security_headers


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
