"""The service around the routes: health and readiness, errors as JSON, the docs, CORS,
metrics, and what the gateway imports."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.requests import ClientDisconnect

from api.errors import APIError
from api.main import create_app
from api.multipart_reader import VideoFormReader
from shared import db as shared_db
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
        "/api/comparisons",
        "/api/comparisons/{comparison_id}",
        "/api/comparisons/{comparison_id}/report",
        "/api/comparisons/{comparison_id}/video",
    ):
        assert path in schema["paths"]
    compare = schema["paths"]["/api/comparisons"]["post"]
    body = compare["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {
        "reference_job_id",
        "attempt_job_id",
        "mirror",
        "video",
        "webhook_url",
    }
    assert {"202", "404", "409", "410", "422"} <= set(compare["responses"])
    assert schema["components"]["schemas"]["ComparisonPublic"]["examples"]
    video = schema["paths"]["/api/comparisons/{comparison_id}/video"]["get"]
    assert {"302", "404", "409", "410"} <= set(video["responses"])


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
        "banned = {'mediapipe', 'av', 'cv2', 'worker', 'pipeline'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & banned))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", check],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],  # the checkout: `api` is the gateway
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --- metrics --------------------------------------------------------------------------------


def scrape(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of a Prometheus text exposition, parsed by prometheus_client's parser:
    (name, sorted labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def only_grew(before: dict, after: dict) -> list[str]:
    """The counter and histogram samples that went down (or disappeared) between scrapes."""
    growing = ("_total", "_count", "_sum", "_bucket")
    return [
        f"{name}{dict(labels)}: {value} -> {after.get((name, labels))}"
        for (name, labels), value in before.items()
        if name.endswith(growing) and after.get((name, labels), -1) < value
    ]


async def test_metrics_expose_submissions_request_latency_jobs_and_queue_depth(
    tenant, client: httpx.AsyncClient, db: Any, broker: Broker
) -> None:
    add_job(db, tenant, status="processing")
    add_job(db, tenant, status="failed", error_code="not_a_video")
    before = scrape((await client.get("/metrics")).text)
    video, keyed = fake_video(4096), {"Idempotency-Key": "k"}
    submitted = await client.post("/api/jobs", files={"video": ("a.mp4", fake_video(4096))})
    first = await client.post("/api/jobs", files={"video": ("a.mp4", video)}, headers=keyed)
    replayed = await client.post(  # an idempotent replay is not a new submission
        "/api/jobs", files={"video": ("a.mp4", video)}, headers=keyed
    )

    answer = await client.get("/metrics")

    assert [r.status_code for r in (submitted, first, replayed)] == [202, 202, 202]
    assert replayed.json()["job_id"] == first.json()["job_id"]
    assert answer.headers["content-type"].startswith("text/plain")
    after = scrape(answer.text)
    assert (
        after[("dance_jobs_submitted_total", ())] == before[("dance_jobs_submitted_total", ())] + 2
    )
    assert after[("dance_jobs", (("status", "queued"),))] == 2
    assert after[("dance_jobs", (("status", "processing"),))] == 1
    assert after[("dance_jobs", (("status", "retrying"),))] == 0
    assert ("dance_jobs", (("status", "failed"),)) not in after  # counted as they finish
    assert after[("dance_queue_depth", (("queue", broker.queue),))] == 2
    posts = (
        "dance_http_request_duration_seconds_count",
        (("method", "POST"), ("route", "/api/jobs"), ("status", "202")),
    )
    assert after[posts] - before.get(posts, 0) == 3
    assert not only_grew(before, after)
    assert "1.23457e+06" not in answer.text  # exact numbers, not %g


async def test_request_ids_are_taken_or_made_and_echoed(client: httpx.AsyncClient) -> None:
    given = await client.get("/api/jobs", headers={"X-Request-ID": "trace-42.a:b"})
    made = await client.get("/api/jobs")
    unsafe = await client.get("/api/jobs", headers={"X-Request-ID": "bad id/" * 10})

    assert given.headers["x-request-id"] == "trace-42.a:b"
    assert len(made.headers["x-request-id"]) == 32
    assert len(unsafe.headers["x-request-id"]) == 32  # replaced, not echoed
