"""`GET /`: the web page for people (`api/static/app/`): sign in with an API key, upload a
video, follow it live, watch the result, see and delete earlier jobs. Plain files served by
the gateway; no build step, no CDN.

Its Content-Security-Policy allows this origin's own scripts and styles, and the storage's
public origin for the videos it plays and the files it reads (presigned URLs)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from shared.config import Settings

APP_DIR = Path(__file__).resolve().parent.parent / "static" / "app"


def page_csp(settings: Settings) -> str:
    parts = urlsplit(settings.s3_public_endpoint_url)
    storage = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        f"media-src 'self' {storage}; connect-src 'self' {storage}; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def page_router(settings: Settings) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    html = (APP_DIR / "index.html").read_text(encoding="utf-8")
    csp = page_csp(settings)

    @router.get("/", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        return HTMLResponse(
            html, headers={"Content-Security-Policy": csp, "Cache-Control": "no-cache"}
        )

    return router
