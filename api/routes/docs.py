"""`GET /docs`: Swagger UI from files this API serves itself (`api/static`), so the page
works offline and its Content-Security-Policy can forbid every other origin and inline
script."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  <link rel="stylesheet" href="/static/swagger-ui/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/static/swagger-ui/swagger-ui-bundle.js"></script>
  <script src="/static/docs.js"></script>
</body>
</html>
"""


def docs_router(title: str) -> APIRouter:
    """A router serving the docs page of an app titled `title`."""
    router = APIRouter(include_in_schema=False)
    page = _PAGE.format(title=title)

    @router.get("/docs", response_class=HTMLResponse)
    def docs() -> HTMLResponse:
        return HTMLResponse(page)

    return router
