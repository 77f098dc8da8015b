"""`GET /metrics`: the gateway's metrics (`api.prometheus`) in the Prometheus text format."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from api.deps import SettingsDep
from api.errors import APIError, error_responses
from api.prometheus import REGISTRY


def require_metrics_token(request: Request, settings: SettingsDep) -> None:
    """With METRICS_TOKEN set, only `Authorization: Bearer <METRICS_TOKEN>` may scrape; without
    it, /metrics is open in development and test, refused (403) in production."""
    if settings.METRICS_TOKEN is None:
        if settings.ENVIRONMENT == "production":
            raise APIError(
                403, "metrics_disabled", "set METRICS_TOKEN to serve /metrics in production"
            )
        return
    expected = f"Bearer {settings.METRICS_TOKEN.get_secret_value()}".encode()
    sent = request.headers.get("authorization", "").encode()
    if not hmac.compare_digest(sent, expected):
        raise APIError(
            401,
            "unauthorized",
            "send `Authorization: Bearer <METRICS_TOKEN>`",
            headers={"WWW-Authenticate": "Bearer"},
        )


router = APIRouter(tags=["health"], dependencies=[Depends(require_metrics_token)])


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    summary="Metrics (Prometheus text format)",
    description="This API process's counters and request latencies; unfinished jobs by "
    "status and queue depths. Job outcomes and durations are served by each worker "
    "(`WORKER_METRICS_PORT`). Needs `Authorization: Bearer <METRICS_TOKEN>` when that "
    "setting is set.",
    responses=error_responses(401, 403),
)
async def metrics() -> Response:
    body = await run_in_threadpool(generate_latest, REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
