"""The headers every answer carries (`SecurityHeadersMiddleware` adds them; the handler of
unexpected errors, which answers outside the middleware stack, adds them itself)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders

# HTML (the docs page) may load only this origin's own scripts, styles and images.
HTML_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Anything else (JSON, redirects) is data, never a document: it may load nothing at all.
DATA_CSP = "default-src 'none'; frame-ancestors 'none'"


def add_security_headers(headers: MutableHeaders, *, scheme: str, path: str) -> None:
    """`nosniff`, no referrer, no framing, a Content-Security-Policy (restrictive for HTML,
    deny-all for data), HSTS on https, and `Cache-Control: no-store` on `/api/*` (answers
    hold presigned URLs and per-tenant data). Headers already set are kept."""
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Frame-Options", "DENY")
    is_html = headers.get("content-type", "").startswith("text/html")
    headers.setdefault("Content-Security-Policy", HTML_CSP if is_html else DATA_CSP)
    if scheme == "https":
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if path.startswith("/api/"):
        headers.setdefault("Cache-Control", "no-store")
