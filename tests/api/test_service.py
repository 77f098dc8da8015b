"""The service around the routes: health and readiness, errors as JSON, the docs, CORS,
metrics, and what the gateway imports."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import ClientDisconnect

from api.errors import APIError
from api.main import create_app
from api.upload import VideoFormReader
from shared import db as shared_db
from shared.models import WebhookDelivery, utcnow
from shared.queue import enqueue_job as real_enqueue_job
from shared.storage import MiB, Storage
from shared.storage_keys import input_key
from tests.api.helpers import (
    Broker,
    add_job,
    api_client,
    bucket_keys,
    closed_port,
    fake_video,
    in_chunks,
    multipart,
    unfinished_multipart_uploads,
)
from tests.fixtures_s3 import s3_test_settings

pytestmark = [pytest.mark.anyio, pytest.mark.services]

# --- health ---------------------------------------------------------------------------------


async def test_health_answers_without_dependencies(storage, api_settings):
    broken = api_settings.model_copy(update={"REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0"})
    async with api_client(broken, storage) as client:
        response = await client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_every_dependency_answers(client):
    response = await client.get("/ready")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"postgres": "ok", "redis": "ok", "s3": "ok"},
    }


async def test_not_ready_names_a_redis_that_is_down(db, storage, api_settings):
    broken = api_settings.model_copy(update={"REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0"})
    async with api_client(broken, storage) as client:
        response = await client.get("/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "not_ready"
    assert body["message"] == "not ready: redis"
    assert body["checks"]["postgres"] == "ok" and body["checks"]["s3"] == "ok"
    assert body["checks"]["redis"] != "ok"


async def test_not_ready_names_an_s3_that_is_down(db, api_settings):
    down = s3_test_settings(f"http://127.0.0.1:{closed_port()}", "nowhere")
    async with api_client(api_settings, Storage(down)) as client:
        response = await client.get("/ready")

    assert response.status_code == 503
    assert response.json()["message"] == "not ready: s3"
    assert response.json()["checks"]["redis"] == "ok"


@pytest.fixture
def database_down(db: Any) -> Iterator[None]:
    """`shared.db` pointed at a port where no Postgres listens (the `db` fixture restores it)."""
    shared_db.configure_engine(f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/x")
    yield


async def test_not_ready_names_a_database_that_is_down(database_down, storage, api_settings):
    async with api_client(api_settings, storage) as client:
        response = await client.get("/ready")

    assert response.status_code == 503
    assert response.json()["message"] == "not ready: postgres"
    assert response.json()["checks"]["s3"] == "ok"


async def test_a_submission_while_the_database_is_down_is_503_and_leaves_no_object(
    database_down, storage, broker, api_settings
):
    headers = {"Authorization": "Bearer dak_any-key-the-database-cannot-check"}
    async with api_client(api_settings, storage, headers=headers) as client:
        response = await client.post("/api/jobs", files={"video": ("a.mp4", fake_video(4096))})

    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    assert bucket_keys(storage) == []
    assert broker.messages() == []


async def test_a_client_disconnect_mid_upload_leaves_nothing_in_the_bucket(storage):
    boundary = "gone"
    body = multipart([("video", "a.mp4", None, fake_video(12 * MiB))], boundary)

    async def disconnects_after_10_mib() -> AsyncIterator[bytes]:
        async for chunk in in_chunks(body[: 10 * MiB]):
            yield chunk
        raise ClientDisconnect()

    reader = VideoFormReader(
        storage,
        key_for=lambda name: input_key(uuid.uuid4(), name),
        max_bytes=64 * MiB,
        field_parsers={},
        idle_timeout_s=30,
    )
    with pytest.raises(APIError) as refused:
        await reader.read(disconnects_after_10_mib(), boundary.encode())

    assert refused.value.code == "upload_interrupted"
    assert bucket_keys(storage) == []
    assert unfinished_multipart_uploads(storage) == []


# --- errors, docs, CORS ---------------------------------------------------------------------


async def test_an_unknown_route_is_a_json_404(client):
    response = await client.get("/api/nothing-here")

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "no route GET /api/nothing-here"}


async def test_a_wrong_method_is_a_json_405(client):
    response = await client.put("/api/jobs")

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert "POST" in response.headers["allow"]


async def test_a_validation_error_is_json_with_details(client):
    response = await client.get("/api/jobs?limit=many")

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert "limit" in body["message"]
    assert body["details"][0]["loc"] == ["query", "limit"]


async def test_an_unexpected_error_is_a_json_500_without_internals(db, storage, api_settings):
    app = create_app(api_settings)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    async with api_client(api_settings, storage, app=app, raise_app_exceptions=False) as client:
        response = await client.get("/boom")

    assert response.status_code == 500
    assert response.json() == {"code": "internal_error", "message": "internal server error"}


async def test_the_openapi_document_describes_the_contract(client):
    schema = (await client.get("/openapi.json")).json()
    docs = await client.get("/docs")

    assert docs.status_code == 200
    submit = schema["paths"]["/api/jobs"]["post"]
    assert submit["summary"]
    multipart_body = submit["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert multipart_body["required"] == ["video"]
    assert "application/json" in submit["requestBody"]["content"]
    assert "202" in submit["responses"] and "413" in submit["responses"]
    assert schema["components"]["schemas"]["JobStatusPublic"]["examples"]
    for path in (
        "/api/status/{job_id}",
        "/api/jobs/{job_id}/video",
        "/api/jobs/{job_id}/keypoints",
        "/api/uploads",
        "/health",
        "/ready",
        "/api/analyze",
        "/api/download/{job_id}",
        "/api/cleanup/{job_id}",
    ):
        assert path in schema["paths"]


async def test_cors_is_enabled_only_for_configured_origins(db, storage, api_settings):
    config = api_settings.model_copy(update={"CORS_ORIGINS": ["https://app.example.com"]})
    preflight = {
        "Origin": "https://app.example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "idempotency-key",
    }
    async with api_client(config, storage) as client:
        allowed = await client.options("/api/jobs", headers=preflight)
        other = await client.options(
            "/api/jobs", headers=preflight | {"Origin": "https://evil.example.com"}
        )
    async with api_client(api_settings, storage) as client:
        disabled = await client.get("/health", headers={"Origin": "https://app.example.com"})

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "access-control-allow-origin" not in other.headers
    assert "access-control-allow-origin" not in disabled.headers


def test_the_api_imports_no_video_library_and_no_worker_code():
    # A fresh interpreter: this test process may have imported them for other tests.
    check = (
        "import sys, api.main\n"
        "banned = {'mediapipe', 'av', 'cv2', 'worker'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & banned))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", check],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --- metrics --------------------------------------------------------------------------------


def prometheus(text: str) -> dict[str, float]:
    """`name{labels}` -> value, from the Prometheus text format."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


async def test_metrics_count_jobs_failures_latency_webhooks_and_queue_depth(
    tenant, client: httpx.AsyncClient, db: Any, broker: Broker
) -> None:
    now = utcnow()
    add_job(db, tenant)
    add_job(db, tenant, status="processing")
    for seconds in (2.0, 4.0, 6.0):
        add_job(
            db,
            tenant,
            status="succeeded",
            finished_at=now,
            processing_time_s=seconds,
            queue_wait_s=0.5,
        )
    failed = add_job(
        db, tenant, status="failed", finished_at=now, error_code="not_a_video", queue_wait_s=1.5
    )
    add_job(db, tenant, status="failed", finished_at=now - timedelta(hours=2), error_code="old")
    with db() as session:
        session.add_all(
            [
                WebhookDelivery(
                    job_id=failed.id,
                    event_type="job.failed",
                    webhook_id="msg_1",
                    attempt=1,
                    url="https://example.com",
                    status_code=500,
                    latency_ms=30.0,
                ),
                WebhookDelivery(
                    job_id=failed.id,
                    event_type="job.failed",
                    webhook_id="msg_1",
                    attempt=2,
                    url="https://example.com",
                    status_code=204,
                    latency_ms=10.0,
                ),
                WebhookDelivery(
                    job_id=failed.id,
                    event_type="job.failed",
                    webhook_id="msg_1",
                    attempt=3,
                    url="https://example.com",
                    error="timeout",
                ),
            ]
        )
    real_enqueue_job(uuid.uuid4())  # one message waiting in the (test) video queue

    answer = await client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    m = prometheus(answer.text)
    assert m['dance_jobs{status="queued"}'] == 1
    assert m['dance_jobs{status="processing"}'] == 1
    assert m['dance_jobs{status="succeeded"}'] == 3
    assert m['dance_jobs{status="failed"}'] == 2
    assert m['dance_jobs_finished_last_hour{status="failed"}'] == 1  # the old one is out
    assert m['dance_job_failures_last_hour{code="not_a_video"}'] == 1
    assert 'dance_job_failures_last_hour{code="old"}' not in m
    assert m['dance_job_processing_seconds{quantile="0.5"}'] == 4.0
    assert (m["dance_job_processing_seconds_sum"], m["dance_job_processing_seconds_count"]) == (
        12.0,
        3,
    )
    assert m["dance_job_queue_wait_seconds_count"] == 4
    assert m['dance_webhook_attempts_last_hour{result="5xx"}'] == 1
    assert m['dance_webhook_attempts_last_hour{result="2xx"}'] == 1
    assert m['dance_webhook_attempts_last_hour{result="error"}'] == 1
    assert m["dance_webhook_latency_ms_median"] == 20.0
    assert m[f'dance_queue_depth{{queue="{broker.queue}"}}'] == 1
