"""The HTTP gateway: `uvicorn api.main:app`.

It validates requests, streams uploads to S3, records jobs in Postgres and queues them by
task name; it never decodes video (no MediaPipe, PyAV or OpenCV here).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.errors import install_error_handlers
from api.middleware import JSONCORSMiddleware, RequestContextMiddleware, SecurityHeadersMiddleware
from api.routes import comparisons, docs, events, health, jobs, legacy, metrics, page, uploads
from api.submission import UploadSlots
from shared.config import Settings, settings
from shared.db import configure_engine
from shared.logs import configure_logging

APPLICATION_NAME = "dance-api"
TITLE = "Dance movement analysis API"

DESCRIPTION = """\
Send a short dance video; get it back with a pose skeleton drawn on it (33 BlazePose
landmarks), the landmarks as data (`keypoints.json`), movement metrics, and an analysis:
joint and segment angles (`angles.csv`), movement tempo and the music's beats
(`analysis.json`), and the motion in 3D for animation and biomechanics tools (`motion.bvh`
for Blender, `markers.trc` for OpenSim, `world_landmarks.csv`). `POST /api/comparisons`
scores an attempt against a reference (pose, timing, amplitude, feedback in words) and
makes a video of the two side by side and in step (`comparison.mp4`).

Processing is asynchronous: `POST /api/jobs` (and `POST /api/comparisons`) answers **202** at
once; poll `GET /api/status/{job_id}` (`GET /api/comparisons/{comparison_id}`) or pass a
`webhook_url` to be called when it ends (`job.succeeded`, `job.failed`,
`comparison.succeeded`, `comparison.failed`). Outputs are served as short-lived presigned
storage URLs.

Every `/api` route needs an API key of a tenant (`dance-analyzer tenants create NAME`), sent
as `Authorization: Bearer <key>` or `X-API-Key: <key>`; a tenant sees only its own jobs.

Every error is JSON `{"code": "...", "message": "..."}` with a stable `code`.
"""

TAGS = [
    {"name": "jobs", "description": "Submit videos and follow, download, list, delete jobs."},
    {"name": "uploads", "description": "Upload large videos straight to storage."},
    {
        "name": "comparisons",
        "description": "Score an attempt against a reference performance; the report and "
        "the side-by-side video.",
    },
    {"name": "health", "description": "Probes for orchestrators."},
    {"name": "legacy", "description": "Routes of the first version, kept for old clients."},
]


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    # Name this process's connections in pg_stat_activity (engine built from settings).
    configure_engine(application_name=APPLICATION_NAME)
    yield


def create_app(config: Settings | None = None) -> FastAPI:
    """Build the application: routes, JSON error handlers, security headers, CORS when
    configured, the docs page and its static files."""
    config = config or settings
    app = FastAPI(
        title=TITLE,
        version="1.0.0",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        docs_url=None,  # served from our own files by api.routes.docs
        redoc_url=None,
    )
    app.state.upload_slots = UploadSlots(config.MAX_CONCURRENT_UPLOADS)
    app.state.event_streams = events.EventStreams(config.MAX_EVENT_STREAMS)
    install_error_handlers(app)
    if config.CORS_ORIGINS:
        app.add_middleware(
            JSONCORSMiddleware,
            allow_origins=config.CORS_ORIGINS,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Content-Type", "Idempotency-Key", "Authorization", "X-API-Key"],
            expose_headers=["Location", "Idempotent-Replayed", "Retry-After"],
            max_age=600,
        )
    app.include_router(jobs.router)
    app.include_router(events.router)
    app.include_router(uploads.router)
    app.include_router(comparisons.router)
    app.include_router(legacy.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(docs.docs_router(TITLE))
    app.include_router(page.page_router(config))
    app.mount("/static", StaticFiles(directory=docs.STATIC_DIR), name="static")
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware)  # outermost: the id and timing cover all
    return app


configure_logging("api", level=settings.LOG_LEVEL)  # before uvicorn logs its start
app = create_app()
