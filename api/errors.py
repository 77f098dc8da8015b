"""Every error the API answers is JSON `{"code", "message"}` (+ `details` when useful).

Routes raise `APIError(status, code, message)`; the handlers installed by
`install_error_handlers` turn it, Starlette's HTTP errors (unknown route, 405), request
validation errors and unexpected exceptions into that shape. Codes are stable and
machine-readable; messages are for humans and may change.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.security_headers import add_security_headers
from shared.storage_errors import is_transient_storage_error

log = logging.getLogger(__name__)

# psycopg errors meaning "the server cannot be reached or is going away"
_DB_UNAVAILABLE = frozenset(
    {"OperationalError", "InterfaceError", "AdminShutdown", "CannotConnectNow", "ConnectionTimeout"}
)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    503: "service_unavailable",
}


class ErrorBody(BaseModel):
    """The body of every error response."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"code": "job_not_found", "message": "no job 0b4c…"}]}
    )

    code: str = Field(description="Stable machine-readable error code.")
    message: str = Field(description="Human-readable explanation; wording may change.")
    details: Any | None = Field(default=None, description="Extra data, e.g. validation errors.")


class APIError(Exception):
    """An error answered as JSON with HTTP `status`, a stable `code` and a `message`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: Any | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})  # more top-level members (e.g. readiness checks)


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    details: Any | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = jsonable_encoder(details)
    if extra:
        body.update(jsonable_encoder(dict(extra)))
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def validation_details(errors: Any) -> list[dict[str, Any]]:
    """Pydantic errors reduced to JSON-safe `{loc, msg, type}` (no echo of the input)."""
    return [
        {
            "loc": list(error.get("loc", ())),
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in errors
    ]


def from_validation_error(exc: ValidationError, code: str, message: str) -> APIError:
    """An `APIError` 422 for a pydantic error raised while validating a request part."""
    return APIError(422, code, message, details=validation_details(exc.errors()))


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, APIError)
    return error_response(
        exc.status,
        exc.code,
        exc.message,
        details=exc.details,
        headers=exc.headers,
        extra=exc.extra,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = _HTTP_CODES.get(status, f"http_{status}")
    if status == 404:
        message = f"no route {request.method} {request.url.path}"
    elif status == 405:
        message = f"method {request.method} not allowed on {request.url.path}"
    else:
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return error_response(status, code, message, headers=exc.headers)


async def _request_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = validation_details(exc.errors())
    first = details[0] if details else None
    message = "invalid request"
    if first:
        where = ".".join(str(part) for part in first["loc"])
        message = f"invalid request: {where}: {first['msg']}"
    return error_response(422, "validation_error", message, details=details)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if exc.connection_invalidated or type(exc.orig).__name__ in _DB_UNAVAILABLE:
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return error_response(
            503,
            "database_unavailable",
            "the database is unavailable; try again shortly",
            headers={"Retry-After": "5"},
        )
    return await _unexpected_error(request, exc)


async def _storage_error(request: Request, exc: Exception) -> JSONResponse:
    if is_transient_storage_error(exc):
        log.warning("storage unavailable on %s %s: %s", request.method, request.url.path, exc)
        return error_response(
            503,
            "storage_unavailable",
            "storage is unavailable; try again shortly",
            headers={"Retry-After": "5"},
        )
    return await _unexpected_error(request, exc)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    response = error_response(500, "internal_error", "internal server error")
    # Starlette answers this outside the middleware stack: add the usual headers here.
    add_security_headers(response.headers, scheme=request.url.scheme, path=request.url.path)
    return response


def install_error_handlers(app: FastAPI) -> None:
    """Make every error response of `app` JSON with a code and a message."""
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(BotoCoreError, _storage_error)
    app.add_exception_handler(ClientError, _storage_error)
    app.add_exception_handler(Exception, _unexpected_error)


# Documented error responses, for the `responses=` of routes.
def error_responses(
    *statuses: int, described: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of these error statuses; `described` words some of them for
    one route."""
    descriptions = {
        400: "Bad request (e.g. `empty_file`, `malformed_multipart`, `upload_not_found`).",
        401: "No valid API key (`unauthorized`); see `WWW-Authenticate`.",
        403: "`/metrics` in production without `METRICS_TOKEN` (`metrics_disabled`).",
        404: "Unknown job, or another tenant's (`job_not_found`).",
        408: "The client stopped sending its body (`upload_timeout`).",
        409: "Conflict (`job_not_finished`, `job_failed`, `job_exists`).",
        410: "The job was deleted (`job_deleted`) or its files expired (`job_expired`).",
        413: "File larger than `MAX_UPLOAD_MB` (`file_too_large`).",
        415: "Not a video container (`not_a_video`) or not multipart/JSON.",
        422: "Validation error (`validation_error`, `invalid_options`, `invalid_webhook_url`, "
        "`webhook_url_not_allowed`, `idempotency_key_reused`, `missing_file`).",
        429: "Over the tenant's rate limit (`rate_limited`) or jobs in flight "
        "(`too_many_jobs`); see `Retry-After`.",
        503: "A dependency is unavailable (`not_ready`, `storage_unavailable`) or too many "
        "uploads at once (`too_many_uploads`); see `Retry-After`.",
    }
    descriptions |= dict(described or {})
    return {
        status: {"model": ErrorBody, "description": descriptions.get(status, "Error.")}
        for status in statuses
    }
