"""The HTTP gateway: `uvicorn api.main:app`.

It validates requests, streams uploads to S3, records jobs in Postgres and queues them by
task name; it never decodes video (no MediaPipe, PyAV or OpenCV here).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.errors import install_error_handlers
from api.routes import health, jobs, legacy, metrics, uploads
from shared.config import Settings, settings
from shared.db import configure_engine

APPLICATION_NAME = "dance-api"

DESCRIPTION = """\
Send a short dance video; get it back with a pose skeleton drawn on it (33 BlazePose
landmarks), the landmarks as data (`keypoints.json`) and movement metrics.

Processing is asynchronous: `POST /api/jobs` answers **202** at once with a job; poll
`GET /api/status/{job_id}` or pass a `webhook_url` to be called when it ends. Outputs are
served as short-lived presigned storage URLs.

Every error is JSON `{"code": "...", "message": "..."}` with a stable `code`.
"""

TAGS = [
    {"name": "jobs", "description": "Submit videos and follow, download, list, delete jobs."},
    {"name": "uploads", "description": "Upload large videos straight to storage."},
    {"name": "health", "description": "Probes for orchestrators."},
    {"name": "legacy", "description": "Routes of the first version, kept for old clients."},
]


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    # Name this process's connections in pg_stat_activity (engine built from settings).
    configure_engine(application_name=APPLICATION_NAME)
    yield


def create_app(config: Settings | None = None) -> FastAPI:
    """Build the application (routes, JSON error handlers, CORS when configured)."""
    config = config or settings
    app = FastAPI(
        title="Dance movement analysis API",
        version="1.0.0",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    if config.CORS_ORIGINS:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=config.CORS_ORIGINS,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Content-Type", "Idempotency-Key", "Authorization"],
            expose_headers=["Location", "Idempotent-Replayed", "Retry-After"],
            max_age=600,
        )
    app.include_router(jobs.router)
    app.include_router(uploads.router)
    app.include_router(legacy.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    return app


app = create_app()
