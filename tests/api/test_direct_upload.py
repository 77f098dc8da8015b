"""Direct-to-storage uploads: a presigned POST, then a job from the upload
(`api/routes/uploads.py`, `api/submission.py`)."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.models import utcnow
from shared.queue import PROCESS_JOB
from shared.storage import MiB
from tests.api.helpers import (
    api_client,
    assert_nothing_stored,
    bucket_keys,
    fake_video,
    jobs_in_db,
    object_bytes,
)

pytestmark = [pytest.mark.anyio, pytest.mark.services]


async def ticket(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    answer = await client.post("/api/uploads", json=body or {"filename": "a.mp4"})
    assert answer.status_code == 201, answer.text
    return answer.json()


def upload(t: dict[str, Any], content: bytes, name: str = "a.mp4") -> None:
    """What a client does with the ticket: POST the form straight to storage."""
    answer = httpx.post(t["url"], data=t["fields"], files={"file": (name, content)})
    assert answer.status_code in (200, 201, 204), answer.text


async def test_presigned_post_upload_then_job_creation(
    client, db, storage, broker, api_settings, tenant
):
    t = await ticket(client, filename="routine.mp4", content_type="video/mp4")
    upload_id = t["upload_id"]
    assert t["method"] == "POST"
    assert t["key"] == f"uploads/{tenant.id}/{upload_id}/source.mp4"
    assert t["max_bytes"] == api_settings.MAX_UPLOAD_MB * MiB
    assert t["fields"]["key"] == t["key"]
    assert "put_url" not in t  # a presigned PUT cannot cap the size
    video = fake_video(6000)
    upload(t, video, "routine.mp4")

    created = await client.post(
        "/api/jobs",
        json={
            "upload_id": upload_id,
            "webhook_url": "https://93.184.215.14/h",
            "options": {"min_tracking_confidence": 0.25},
        },
    )

    assert created.status_code == 202, created.text
    assert created.json()["job_id"] == upload_id
    assert created.headers["location"] == f"/api/status/{upload_id}"
    [job] = jobs_in_db(db)
    assert str(job.id) == upload_id
    assert job.input_key.startswith(f"inputs/{upload_id}/source-")  # the job's own copy
    assert job.input_key.endswith(".mp4")
    assert object_bytes(storage, job.input_key) == video
    assert bucket_keys(storage) == [job.input_key]  # the upload itself is spent
    assert job.input_size_bytes == len(video)
    assert job.input_content_type == "video/mp4"
    assert job.webhook_url == "https://93.184.215.14/h"
    assert job.options["min_tracking_confidence"] == 0.25
    assert broker.messages() == [{"task": PROCESS_JOB, "args": [upload_id], "kwargs": {}}]

    again = await client.post("/api/jobs", json={"upload_id": upload_id})
    assert again.status_code == 409
    assert again.json()["code"] == "job_exists"


async def test_writing_to_the_upload_again_after_the_job_changes_nothing(client, db, storage):
    t = await ticket(client)
    first = fake_video(5000)
    upload(t, first)
    created = await client.post("/api/jobs", json={"upload_id": t["upload_id"]})
    assert created.status_code == 202

    upload(t, fake_video(9000))  # the presigned form is still valid: the client swaps the file

    [job] = jobs_in_db(db)
    assert object_bytes(storage, job.input_key) == first
    again = await client.post("/api/jobs", json={"upload_id": t["upload_id"]})
    assert again.status_code == 409  # and it cannot become a second job either
    assert object_bytes(storage, job.input_key) == first
    assert len(jobs_in_db(db)) == 1
    assert bucket_keys(storage) == [job.input_key]  # the unused second file is gone


async def test_a_matroska_upload_keeps_its_extension_and_type(client, db, storage):
    t = await ticket(client, filename="clip.mkv")
    upload(t, b"\x1a\x45\xdf\xa3" + bytes(4000), "clip.mkv")

    created = await client.post("/api/jobs", json={"upload_id": t["upload_id"]})

    assert created.status_code == 202, created.text
    [job] = jobs_in_db(db)
    assert job.input_key.endswith(".mkv")
    assert job.input_content_type == "video/x-matroska"


async def test_a_job_for_an_upload_that_never_happened_is_refused(client, db, broker):
    t = await ticket(client)

    response = await client.post("/api/jobs", json={"upload_id": t["upload_id"]})

    assert response.status_code == 400
    assert response.json()["code"] == "upload_not_found"
    assert jobs_in_db(db) == []
    assert broker.messages() == []


async def test_another_tenants_upload_cannot_be_taken(
    db, storage, broker, api_settings, tenant, other_tenant
):
    async with api_client(api_settings, storage, headers=tenant.headers) as alpha:
        t = await ticket(alpha)
        upload(t, fake_video(4000))
    async with api_client(api_settings, storage, headers=other_tenant.headers) as beta:
        response = await beta.post("/api/jobs", json={"upload_id": t["upload_id"]})

    assert response.status_code == 400
    assert response.json()["code"] == "upload_not_found"
    assert jobs_in_db(db) == []
    assert bucket_keys(storage) == [t["key"]]  # still there for its owner


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"plain text, not a video" * 10, 415, "not_a_video"),
        (fake_video(MiB + 1), 413, "file_too_large"),
    ],
    ids=["not_a_video", "file_too_large"],  # random bytes in an id differ between xdist workers
)
async def test_a_refused_direct_upload_is_deleted(
    db, storage, broker, api_settings, tenant, content, status, code
):
    config = api_settings.model_copy(update={"MAX_UPLOAD_MB": 1})
    async with api_client(config, storage, headers=tenant.headers) as client:
        t = await ticket(client)
        storage.client.put_object(Bucket=storage.bucket, Key=t["key"], Body=content)

        response = await client.post("/api/jobs", json={"upload_id": t["upload_id"]})

    assert response.status_code == status
    assert response.json()["code"] == code
    assert_nothing_stored(db, storage, broker)


async def test_an_empty_direct_upload_is_refused_and_deleted(client, db, storage, broker):
    t = await ticket(client)
    storage.client.put_object(Bucket=storage.bucket, Key=t["key"], Body=b"")

    response = await client.post("/api/jobs", json={"upload_id": t["upload_id"]})

    assert response.status_code == 400
    assert response.json()["code"] == "empty_file"
    assert_nothing_stored(db, storage, broker)


async def test_an_idempotent_replay_of_a_job_from_an_upload(client, db, storage):
    t = await ticket(client)
    upload(t, fake_video(3000))
    body = {"upload_id": t["upload_id"]}
    headers = {"Idempotency-Key": "from-upload"}

    first = await client.post("/api/jobs", json=body, headers=headers)
    again = await client.post("/api/jobs", json=body, headers=headers)
    other = await client.post("/api/jobs", json={"upload_id": str(uuid.uuid4())}, headers=headers)

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["job_id"] == first.json()["job_id"]
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"upload_id": "nope"}, "validation_error"),
        ({}, "validation_error"),
        ({"upload_id": str(uuid.uuid4()), "extra": 1}, "validation_error"),
        ({"upload_id": str(uuid.uuid4()), "options": {"x": 1}}, "invalid_options"),
        ({"upload_id": str(uuid.uuid4()), "options": [1]}, "invalid_options"),
        ({"upload_id": str(uuid.uuid4()), "webhook_url": "gopher://x"}, "invalid_webhook_url"),
    ],
)
async def test_an_invalid_json_job_request_is_refused(client, db, body, code):
    response = await client.post("/api/jobs", json=body)

    assert response.status_code == 422
    assert response.json()["code"] == code
    assert jobs_in_db(db) == []


async def test_a_json_body_that_does_not_parse_is_refused(client):
    response = await client.post(
        "/api/jobs", content=b"{not json", headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_json"


@pytest.mark.parametrize(
    "body",
    [{"content_type": "text/plain"}, {"filename": "a.mp4", "size": 3}, {"filename": 5}, [1]],
)
async def test_an_invalid_upload_request_is_refused(client, body):
    response = await client.post("/api/uploads", json=body)

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_the_presigned_post_caps_the_size_and_expires(client, api_settings):
    t = await ticket(client)

    policy = json.loads(base64.b64decode(t["fields"]["policy"]))
    assert ["content-length-range", 1, api_settings.MAX_UPLOAD_MB * MiB] in policy["conditions"]
    expires_at = datetime.fromisoformat(t["expires_at"].replace("Z", "+00:00"))
    expected = utcnow() + timedelta(seconds=api_settings.PRESIGNED_URL_EXPIRY_S)
    assert abs((expires_at - expected).total_seconds()) < 60
