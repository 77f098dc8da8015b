"""What a submission asks for, validated: options, webhook URL, Idempotency-Key.

Shared by the multipart and the JSON forms of `POST /api/jobs`. The webhook URL is checked
for syntax here and for where it leads (SSRF, `shared.webhooks.urls`) by `check_webhook_target`,
which resolves the host and so runs in a worker thread.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api.errors import APIError, from_validation_error
from api.json_body import loads_bounded
from shared.config import Settings
from shared.job_options import JobOptions
from shared.queue import worker_models
from shared.webhooks.urls import NOT_ALLOWED, WebhookURLError, check_webhook_url, parse_webhook_url

IDEMPOTENCY_KEY_MAX_CHARS = 255
RESOLVE_TIMEOUT_S = 5.0
MODELS_PROBE_TIMEOUT_S = 1.0
MODELS_CACHE_S = 30.0  # how long the workers' answer about their pose models is trusted
_models_seen: tuple[float, set[str] | None] = (-MODELS_CACHE_S, None)


def parse_options(raw: str | dict[str, Any] | None) -> JobOptions:
    """The `options` (JSON text or an object); 422 `invalid_options` otherwise."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return JobOptions()
    if isinstance(raw, str):
        raw = loads_bounded(raw, code="invalid_options", what="options")
    if not isinstance(raw, dict):
        raise APIError(422, "invalid_options", "options must be a JSON object")
    try:
        return JobOptions.model_validate(raw)
    except ValidationError as exc:
        raise from_validation_error(exc, "invalid_options", "invalid options") from None


def parse_webhook_field(raw: str | None) -> str | None:
    """The webhook URL's syntax: absolute http(s), no user info, <= 2048 chars; 422
    `invalid_webhook_url`. Surrounding whitespace is ignored; blank means none."""
    if raw is None or not raw.strip():
        return None
    url = raw.strip()
    try:
        parse_webhook_url(url)
    except WebhookURLError as exc:
        raise APIError(422, exc.code, exc.message) from None
    return url


async def check_webhook_target(url: str | None, settings: Settings) -> None:
    """Refuse (422 `webhook_url_not_allowed`) a webhook URL that leads inside: any resolved
    address private, loopback, link-local, ... unless WEBHOOK_ALLOWED_HOSTS exempts it; also
    the API's own public host. The worker checks again before every delivery."""
    if url is None:
        return
    own_host = urlsplit(settings.API_PUBLIC_URL or "").hostname
    if own_host and urlsplit(url).hostname == own_host.lower():
        raise APIError(422, NOT_ALLOWED, "webhook_url points at this API itself")
    try:
        await run_in_threadpool(
            check_webhook_url, url, settings.webhook_host_policy, timeout_s=RESOLVE_TIMEOUT_S
        )
    except WebhookURLError as exc:
        raise APIError(422, exc.code, exc.message) from None


async def check_model(options: JobOptions, settings: Settings) -> None:
    """Refuse (422 `model_unavailable`) a pose model that no video worker has, as the
    workers say (asked at most every MODELS_CACHE_S); Full ships with every worker. When no
    worker answers, the job goes on and its worker decides."""
    global _models_seen
    if options.model in (None, "full"):
        return
    at, models = _models_seen
    if time.monotonic() - at > MODELS_CACHE_S:
        try:
            models = await run_in_threadpool(
                worker_models, settings.CELERY_QUEUE, MODELS_PROBE_TIMEOUT_S
            )
        except Exception:
            models = None  # the broker is down: enqueueing will say so
        _models_seen = (time.monotonic(), models)
    if models is not None and options.model not in models:
        raise APIError(
            422,
            "model_unavailable",
            f"no worker has the {options.model} pose model; an operator installs it with "
            f"`dance-analyzer models install {options.model}` on the workers",
        )


def parse_idempotency_key(raw: str | None) -> str | None:
    """The `Idempotency-Key` header: 1..255 visible ASCII characters, or None."""
    if raw is None:
        return None
    if not 1 <= len(raw) <= IDEMPOTENCY_KEY_MAX_CHARS or not all(
        0x21 <= ord(ch) <= 0x7E for ch in raw
    ):
        raise APIError(
            422,
            "invalid_idempotency_key",
            f"Idempotency-Key must be 1..{IDEMPOTENCY_KEY_MAX_CHARS} visible ASCII characters",
        )
    return raw


def fingerprint(*, source: str, webhook_url: str | None, options: JobOptions) -> str:
    """What a submission asked for, as one hash: its input (`sha256:<digest>` of the file or
    `upload:<id>`), webhook URL and explicit options. A replay must ask the same."""
    asked = {
        "source": source,
        "webhook_url": webhook_url,
        "options": options.model_dump(exclude_none=True),
    }
    return hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()
