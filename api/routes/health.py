"""Liveness and readiness probes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlsplit

import anyio
import redis
from fastapi import APIRouter
from kombu import Connection
from sqlalchemy import text

from api.deps import SettingsDep, StorageDep
from api.errors import APIError, ErrorBody
from api.schemas import Health, Readiness
from shared.db import get_engine

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_S = 3.0


@router.get(
    "/health",
    response_model=Health,
    summary="Liveness",
    description="200 while the process serves requests; checks no dependency.",
)
async def health() -> Health:
    return Health()


def _ping_database() -> None:
    with get_engine().connect() as conn:
        conn.execute(text("SELECT 1"))


def _ping_broker(url: str, timeout_s: float) -> None:
    if urlsplit(url).scheme in ("redis", "rediss"):
        client = redis.Redis.from_url(
            url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s
        )
        try:
            client.ping()
        finally:
            client.close()
        return
    with Connection(url, connect_timeout=timeout_s) as conn:
        conn.ensure_connection(max_retries=1, timeout=timeout_s)


async def _run_check(check: Callable[[], None], timeout_s: float) -> str:
    """ "ok", "timeout" or "error: <exception type>"; the check runs in a worker thread."""
    with anyio.move_on_after(timeout_s):
        try:
            await anyio.to_thread.run_sync(check, abandon_on_cancel=True)
            return "ok"
        except Exception as exc:
            log.warning("readiness check failed: %s", exc)
            return f"error: {type(exc).__name__}"
    return "timeout"


@router.get(
    "/ready",
    response_model=Readiness,
    summary="Readiness",
    description="200 when the database, the broker and storage all answer within "
    f"{CHECK_TIMEOUT_S:g} s; 503 `not_ready` naming what is down otherwise.",
    responses={
        503: {
            "model": ErrorBody,
            "description": "A dependency is down (`not_ready`).",
            "content": {
                "application/json": {
                    "example": {
                        "code": "not_ready",
                        "message": "not ready: redis",
                        "checks": {"postgres": "ok", "redis": "error: ConnectionError", "s3": "ok"},
                    }
                }
            },
        }
    },
)
async def ready(settings: SettingsDep, storage: StorageDep) -> Readiness:
    broker_url = settings.broker_url
    database = "postgres" if get_engine().dialect.name == "postgresql" else "database"
    broker = "redis" if urlsplit(broker_url).scheme in ("redis", "rediss") else "broker"
    checks_to_run: dict[str, Callable[[], None]] = {
        database: _ping_database,
        broker: lambda: _ping_broker(broker_url, CHECK_TIMEOUT_S),
        "s3": storage.ping,
    }
    checks: dict[str, str] = {}

    async def run(name: str, check: Callable[[], None]) -> None:
        checks[name] = await _run_check(check, CHECK_TIMEOUT_S)

    async with anyio.create_task_group() as group:
        for name, check in checks_to_run.items():
            group.start_soon(run, name, check)
    checks = {name: checks[name] for name in checks_to_run}
    failed = [name for name, result in checks.items() if result != "ok"]
    if failed:
        raise APIError(
            503,
            "not_ready",
            f"not ready: {', '.join(failed)}",
            headers={"Retry-After": "5"},
            extra={"checks": checks},
        )
    return Readiness(checks=checks)
