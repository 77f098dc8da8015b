"""Submitting a video through the gateway: the streamed multipart upload, what is refused
with which code (and leaves nothing behind), idempotency (`api/submission.py`,
`api/job_admission.py`, `api/multipart_reader.py`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import anyio
import httpx
import pytest

from api import job_params
from api import submission as api_submission
from shared import queue as shared_queue
from shared.config import settings
from shared.models import Job, utcnow
from shared.queue import PROCESS_JOB
from shared.queue import enqueue_job as real_enqueue_job
from shared.storage import MiB
from shared.storage_keys import input_key
from tests.api.helpers import (
    TrackedBody,
    api_client,
    assert_nothing_stored,
    bucket_keys,
    closed_port,
    fake_video,
    in_chunks,
    jobs_in_db,
    multipart,
    object_bytes,
    unfinished_multipart_uploads,
)

pytestmark = [pytest.mark.anyio, pytest.mark.services]

# --- submitting a video ---------------------------------------------------------------------


async def test_submit_stores_the_video_records_the_job_and_queues_it(
    client, db, storage, broker, api_settings
):
    video = fake_video(300 * 1024)
    response = await client.post(
        "/api/jobs",
        files={"video": ("My Dance.MP4", video, "video/mp4")},
        data={
            "webhook_url": "https://93.184.215.14/hooks?x=1",
            "options": '{"min_detection_confidence": 0.7}',
        },
    )

    assert response.status_code == 202, response.text
    body = response.json()
    job_id = body["job_id"]
    assert response.headers["location"] == f"/api/status/{job_id}"
    assert body["status"] == "queued"
    assert body["progress"] == 0
    assert body["result"] is None and body["error"] is None
    assert body["options"] == {
        "angle_labels": False,
        "exports": ["bvh", "trc", "csv"],
        "max_people": 1,
        "min_detection_confidence": 0.7,
        "min_tracking_confidence": api_settings.MIN_TRACKING_CONFIDENCE,
        "model": "full",
        "smoothing": "light",
    }

    [job] = jobs_in_db(db)
    assert str(job.id) == job_id
    assert job.status == "queued"
    assert job.input_key == f"inputs/{job_id}/source.mp4"
    assert job.input_filename == "My Dance.MP4"
    assert job.input_size_bytes == len(video)
    assert job.input_content_type == "video/mp4"
    assert job.webhook_url == "https://93.184.215.14/hooks?x=1"
    assert job.options == body["options"]
    assert job.idempotency_key is None

    assert bucket_keys(storage) == [job.input_key]
    assert object_bytes(storage, job.input_key) == video
    assert broker.messages() == [{"task": PROCESS_JOB, "args": [job_id], "kwargs": {}}]


async def test_a_12_mib_video_reaches_s3_intact_as_a_multipart_upload(client, db, storage):
    video = fake_video(12 * MiB + 123)

    response = await client.post("/api/jobs", files={"video": ("big.mp4", video, "video/mp4")})

    assert response.status_code == 202, response.text
    key = input_key(response.json()["job_id"], "big.mp4")
    assert object_bytes(storage, key) == video
    etag = storage.client.head_object(Bucket=storage.bucket, Key=key)["ETag"]
    assert etag.strip('"').endswith("-2")  # two 8 MiB parts: streamed, not one big PUT
    assert unfinished_multipart_uploads(storage) == []


async def test_a_chunked_upload_without_content_length_is_accepted(client, db, storage):
    video = fake_video(3 * MiB)
    boundary = "b0und4ry"
    body = multipart([("video", "c.webm", "video/webm", video)], boundary)

    response = await client.post(
        "/api/jobs",
        content=in_chunks(body, 100_000),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )

    assert response.status_code == 202, response.text
    [job] = jobs_in_db(db)
    assert job.input_key.endswith("/source.webm")
    assert job.input_content_type == "video/webm"
    assert object_bytes(storage, job.input_key) == video


async def test_options_default_to_the_settings(client, db, api_settings):
    response = await client.post("/api/jobs", files={"video": ("a.mp4", fake_video(4096))})

    assert response.status_code == 202
    [job] = jobs_in_db(db)
    assert job.options == {
        "angle_labels": False,
        "exports": ["bvh", "trc", "csv"],
        "max_people": 1,
        "min_detection_confidence": api_settings.MIN_DETECTION_CONFIDENCE,
        "min_tracking_confidence": api_settings.MIN_TRACKING_CONFIDENCE,
        "model": "full",
        "smoothing": "light",
    }
    assert job.webhook_url is None


@pytest.mark.parametrize(
    ("asked", "stored"),
    [
        (["csv", "bvh", "csv"], ["bvh", "csv"]),  # in one order, each once
        (["trc"], ["trc"]),
        ([], []),  # none
    ],
)
async def test_the_motion_exports_a_job_asks_for_are_kept_in_order(client, db, asked, stored):
    response = await client.post(
        "/api/jobs",
        files={"video": ("a.mp4", fake_video(4096))},
        data={"options": json.dumps({"exports": asked})},
    )

    assert response.status_code == 202, response.text
    assert response.json()["options"]["exports"] == stored
    [job] = jobs_in_db(db)
    assert job.options["exports"] == stored


async def test_an_unknown_export_format_is_named_in_the_error(client, db, storage, broker):
    response = await client.post(
        "/api/jobs",
        files={"video": ("a.mp4", fake_video(2048))},
        data={"options": '{"exports": ["bvh", "fbx"]}'},
    )

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_options"
    assert "exports" in json.dumps(body) and "'bvh', 'trc' or 'csv'" in json.dumps(body)
    assert_nothing_stored(db, storage, broker)


async def test_location_is_absolute_when_a_public_url_is_set(tenant, db, storage, api_settings):
    config = api_settings.model_copy(update={"API_PUBLIC_URL": "https://dance.example.com/"})
    async with api_client(config, storage, headers=tenant.headers) as client:
        response = await client.post("/api/jobs", files={"video": ("a.mp4", fake_video(2048))})

    job_id = response.json()["job_id"]
    assert response.headers["location"] == f"https://dance.example.com/api/status/{job_id}"
    assert response.json()["links"]["self"] == f"https://dance.example.com/api/jobs/{job_id}"


async def test_the_legacy_analyze_route_submits_like_post_jobs(client, db, storage, broker):
    video = fake_video(5000)

    response = await client.post("/api/analyze", files={"video": ("old.mov", video)})

    assert response.status_code == 202
    job_id = response.json()["job_id"]
    assert response.headers["location"] == f"/api/status/{job_id}"
    assert object_bytes(storage, f"inputs/{job_id}/source.mov") == video
    assert broker.messages() == [{"task": PROCESS_JOB, "args": [job_id], "kwargs": {}}]


async def test_the_filename_is_reduced_to_a_safe_base_name(client, db, storage):
    boundary = "names"
    body = multipart(
        [("video", "..\\..\\C:\\temp\\x/../evil\x07.mp4", None, fake_video(2048))], boundary
    )

    response = await client.post(
        "/api/jobs",
        content=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )

    assert response.status_code == 202
    [job] = jobs_in_db(db)
    assert job.input_filename == "evil.mp4"
    assert bucket_keys(storage) == [f"inputs/{job.id}/source.mp4"]


async def test_the_job_row_is_committed_before_the_task_is_sent(client, db, monkeypatch):
    seen_by_another_session: list[str | None] = []

    def enqueue_and_look(job_id: uuid.UUID) -> None:
        with db() as session:  # a new connection: sees only committed rows
            job = session.get(Job, job_id)
            seen_by_another_session.append(job.status if job else None)
        real_enqueue_job(job_id)

    monkeypatch.setattr(api_submission, "enqueue_job", enqueue_and_look)

    response = await client.post("/api/jobs", files={"video": ("a.mp4", fake_video(2048))})

    assert response.status_code == 202
    assert seen_by_another_session == ["queued"]


async def test_a_failed_enqueue_still_answers_202_and_keeps_the_job_queued(
    client, db, storage, monkeypatch
):
    monkeypatch.setattr(settings, "REDIS_URL", f"redis://127.0.0.1:{closed_port()}/0")
    shared_queue._client.cache_clear()

    response = await client.post("/api/jobs", files={"video": ("a.mp4", fake_video(2048))})

    assert response.status_code == 202
    [job] = jobs_in_db(db)
    assert job.status == "queued"  # the reconciler re-enqueues it later
    assert bucket_keys(storage) == [job.input_key]


# --- refusing uploads -----------------------------------------------------------------------


async def test_a_declared_size_over_the_limit_is_refused_before_reading(
    tenant, db, storage, broker, api_settings
):
    config = api_settings.model_copy(update={"MAX_UPLOAD_MB": 1})
    boundary = "early"
    body = TrackedBody(
        multipart([("video", "big.mp4", "video/mp4", fake_video(2 * MiB))], boundary)
    )
    async with api_client(config, storage, headers=tenant.headers) as client:
        response = await client.post(
            "/api/jobs",
            content=body,
            headers={
                "content-type": f"multipart/form-data; boundary={boundary}",
                "content-length": str(len(body.data)),
            },
        )

    assert body.read == 0
    assert response.status_code == 413
    assert response.json()["code"] == "file_too_large"
    assert response.json()["details"] == {"max_bytes": MiB}
    assert_nothing_stored(db, storage, broker)


async def test_a_streamed_file_over_the_limit_aborts_the_s3_upload_it_started(
    tenant, db, storage, broker, api_settings
):
    # 9 MiB limit, 10 MiB sent without Content-Length: one 8 MiB part is already in S3
    # when the limit is crossed, and the multipart upload must be aborted.
    config = api_settings.model_copy(update={"MAX_UPLOAD_MB": 9})
    boundary = "xyzzy"
    body = multipart([("video", "big.mp4", "video/mp4", fake_video(10 * MiB))], boundary)
    async with api_client(config, storage, headers=tenant.headers) as client:
        response = await client.post(
            "/api/jobs",
            content=in_chunks(body),
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )

    assert response.status_code == 413
    assert response.json()["code"] == "file_too_large"
    assert_nothing_stored(db, storage, broker)


async def test_a_file_of_exactly_the_limit_is_accepted(tenant, db, storage, api_settings):
    config = api_settings.model_copy(update={"MAX_UPLOAD_MB": 1})
    async with api_client(config, storage, headers=tenant.headers) as client:
        response = await client.post("/api/jobs", files={"video": ("a.mp4", fake_video(MiB))})

    assert response.status_code == 202
    assert jobs_in_db(db)[0].input_size_bytes == MiB


async def test_a_text_file_is_refused_as_not_a_video(client, db, storage, broker):
    response = await client.post(
        "/api/jobs", files={"video": ("notes.mp4", b"just some text\n" * 1000, "video/mp4")}
    )

    assert response.status_code == 415
    assert response.json()["code"] == "not_a_video"
    assert_nothing_stored(db, storage, broker)


async def test_an_empty_file_is_refused(client, db, storage, broker):
    response = await client.post("/api/jobs", files={"video": ("empty.mp4", b"", "video/mp4")})

    assert response.status_code == 400
    assert response.json()["code"] == "empty_file"
    assert_nothing_stored(db, storage, broker)


async def test_a_form_without_the_video_field_is_refused(client, db, storage, broker):
    response = await client.post(
        "/api/jobs",
        files={"file": ("a.mp4", fake_video(2048))},
        data={"webhook_url": "https://example.com/h"},
    )

    assert response.status_code == 422
    assert response.json()["code"] == "missing_file"
    assert_nothing_stored(db, storage, broker)


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("video/mp4", fake_video(2048)),
        ("text/plain", b"hello"),
        (None, b""),
    ],
    ids=["raw-video", "text", "empty"],  # random bytes in an id differ between xdist workers
)
async def test_a_body_that_is_neither_multipart_nor_json_is_refused(
    client, db, storage, broker, content_type, content
):
    headers = {"content-type": content_type} if content_type else {}

    response = await client.post("/api/jobs", content=content, headers=headers)

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert_nothing_stored(db, storage, broker)


async def test_a_truncated_multipart_body_is_refused(client, db, storage, broker):
    boundary = "cut"
    body = multipart([("video", "a.mp4", None, fake_video(200_000))], boundary)

    response = await client.post(
        "/api/jobs",
        content=body[:-40],
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )

    assert response.status_code == 400
    assert response.json()["code"] == "malformed_multipart"
    assert_nothing_stored(db, storage, broker)


async def test_two_video_parts_are_refused(client, db, storage, broker):
    boundary = "two"
    body = multipart(
        [("video", "a.mp4", None, fake_video(2048)), ("video", "b.mp4", None, fake_video(2048))],
        boundary,
    )

    response = await client.post(
        "/api/jobs",
        content=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )

    assert response.status_code == 400
    assert response.json()["code"] == "multiple_files"
    assert_nothing_stored(db, storage, broker)


@pytest.mark.parametrize(
    "options",
    [
        "not json",
        "[0.5]",
        '{"min_detection_confidence": 1.5}',
        '{"min_tracking_confidence": -0.1}',
        '{"min_detection_confidence": "high"}',
        '{"model": "ultra"}',
        '{"model": "Heavy"}',
        '{"smoothing": "extreme"}',
        '{"smoothing": true}',
        '{"max_people": 0}',
        '{"max_people": 9}',
        '{"max_people": 2.5}',
        '{"max_people": "all"}',
        '{"exports": ["fbx"]}',
        '{"exports": "bvh"}',
        '{"exports": ["bvh", null]}',
        '{"exports": ["bvh", "trc", "csv", "bvh"]}',
    ],
)
async def test_invalid_options_are_refused(client, db, storage, broker, options):
    response = await client.post(
        "/api/jobs", files={"video": ("a.mp4", fake_video(2048))}, data={"options": options}
    )

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_options"
    assert_nothing_stored(db, storage, broker)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "example.com/hook",
        "/relative/hook",
        "http://",
        "https://exa mple.com/",
        "http://example.com:99999/",
        "https://example.com/" + "a" * 2048,
        "http://user:secret@example.com/",
        "http://user@example.com/",
        "http://@example.com/",
    ],
)
async def test_invalid_webhook_urls_are_refused(client, db, storage, broker, url):
    response = await client.post(
        "/api/jobs", files={"video": ("a.mp4", fake_video(2048))}, data={"webhook_url": url}
    )

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_webhook_url"
    assert_nothing_stored(db, storage, broker)


async def test_a_field_after_the_file_is_validated_before_the_object_is_kept(
    client, db, storage, broker
):
    # The 9 MiB video is already partly in S3 when the invalid options arrive.
    boundary = "late"
    body = multipart(
        [("video", "a.mp4", "video/mp4", fake_video(9 * MiB)), ("options", None, None, b"{")],
        boundary,
    )

    split = body.index(b'Content-Disposition: form-data; name="options"')

    async def file_then_options() -> AsyncIterator[bytes]:
        async for chunk in in_chunks(body[:split]):  # the whole file part, its end is known
            yield chunk
        yield body[split:]

    response = await client.post(
        "/api/jobs",
        content=file_then_options(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_options"
    assert_nothing_stored(db, storage, broker)


async def test_an_oversized_text_field_is_refused(client, db, storage, broker):
    response = await client.post(
        "/api/jobs",
        files={"video": ("a.mp4", fake_video(2048))},
        data={"comment": "x" * 100_000},
    )

    assert response.status_code == 413
    assert response.json()["code"] == "field_too_large"
    assert_nothing_stored(db, storage, broker)


# --- idempotency ----------------------------------------------------------------------------


async def test_an_idempotency_key_answers_the_same_job_without_storing_again(
    client, db, storage, broker
):
    headers = {"Idempotency-Key": "order-42"}
    video = fake_video(4096)
    first = await client.post(
        "/api/jobs", files={"video": ("a.mp4", video)}, data={"options": "{}"}, headers=headers
    )
    boundary = "again"
    repeat = TrackedBody(
        multipart([("video", "a.mp4", None, video), ("options", None, None, b"{}")], boundary)
    )
    again = await client.post(
        "/api/jobs",
        content=repeat,
        headers=headers | {"content-type": f"multipart/form-data; boundary={boundary}"},
    )

    assert first.status_code == 202
    assert again.status_code == 202
    assert again.json()["job_id"] == first.json()["job_id"]
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert repeat.read == len(repeat.data)  # read to compare it with the first ...
    [job] = jobs_in_db(db)
    assert job.idempotency_key == "order-42"
    assert bucket_keys(storage) == [job.input_key]  # ... but not stored again
    assert unfinished_multipart_uploads(storage) == []
    assert len(broker.messages()) == 1


@pytest.mark.parametrize(
    "second",
    [
        {"files": {"video": ("a.mp4", fake_video(4096))}},  # another file
        {"data": {"options": '{"min_detection_confidence": 0.9}'}},
        {"data": {"webhook_url": "https://93.184.215.14/other"}},
    ],
)
async def test_an_idempotency_key_reused_for_another_request_is_refused(
    client, db, storage, broker, second
):
    video = fake_video(4096)
    headers = {"Idempotency-Key": "order-43"}
    first = await client.post("/api/jobs", files={"video": ("a.mp4", video)}, headers=headers)
    request = {"files": {"video": ("a.mp4", video)}} | second

    again = await client.post("/api/jobs", headers=headers, **request)

    assert first.status_code == 202
    assert again.status_code == 422
    assert again.json()["code"] == "idempotency_key_reused"
    assert first.json()["job_id"] in again.json()["message"]
    [job] = jobs_in_db(db)
    assert bucket_keys(storage) == [job.input_key]
    assert len(broker.messages()) == 1


async def test_an_idempotency_key_is_remembered_for_24_hours(client, db):
    headers = {"Idempotency-Key": "daily"}
    first = await client.post(
        "/api/jobs", files={"video": ("a.mp4", fake_video(2048))}, headers=headers
    )
    with db() as session:  # the first submission was a day and a minute ago
        job = session.get(Job, uuid.UUID(first.json()["job_id"]))
        job.created_at = utcnow() - timedelta(hours=24, minutes=1)

    again = await client.post(
        "/api/jobs", files={"video": ("b.mp4", fake_video(2048))}, headers=headers
    )

    assert again.status_code == 202
    assert "idempotent-replayed" not in again.headers
    assert again.json()["job_id"] != first.json()["job_id"]
    keys = {str(job.id): job.idempotency_key for job in jobs_in_db(db)}
    assert keys == {first.json()["job_id"]: None, again.json()["job_id"]: "daily"}


async def test_concurrent_requests_with_one_idempotency_key_make_one_job(
    client, db, storage, broker
):
    video = fake_video(3 * MiB)

    async def submit() -> httpx.Response:
        return await client.post(
            "/api/jobs",
            files={"video": ("a.mp4", video)},
            headers={"Idempotency-Key": "same"},
        )

    results: list[httpx.Response] = []

    async def submit_into_results() -> None:
        results.append(await submit())

    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(submit_into_results)

    assert [r.status_code for r in results] == [202, 202, 202]
    assert len({r.json()["job_id"] for r in results}) == 1
    [job] = jobs_in_db(db)
    assert bucket_keys(storage) == [job.input_key]  # the losers' copies were deleted
    assert len(broker.messages()) == 1


async def test_different_idempotency_keys_make_different_jobs(client, db):
    for key in ("k1", "k2"):
        response = await client.post(
            "/api/jobs",
            files={"video": ("a.mp4", fake_video(2048))},
            headers={"Idempotency-Key": key},
        )
        assert response.status_code == 202
    assert len(jobs_in_db(db)) == 2


async def test_an_overlong_idempotency_key_is_refused(client, db, storage, broker):
    response = await client.post(
        "/api/jobs",
        files={"video": ("a.mp4", fake_video(2048))},
        headers={"Idempotency-Key": "k" * 256},
    )

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_idempotency_key"
    assert_nothing_stored(db, storage, broker)


@pytest.mark.parametrize(
    ("workers_have", "status"),
    [
        ({"full"}, 422),  # no worker has it: refused at once, nothing stored
        ({"full", "heavy"}, 202),
        (None, 202),  # no worker answered (file broker, broker down): the worker decides
    ],
)
async def test_a_model_no_worker_has_is_refused_at_submit(
    client, db, storage, broker, monkeypatch, workers_have, status
):
    monkeypatch.setattr(job_params, "_models_seen", (-job_params.MODELS_CACHE_S, None))
    monkeypatch.setattr(job_params, "worker_models", lambda queue, timeout_s: workers_have)
    response = await client.post(
        "/api/jobs",
        files={"video": ("a.mp4", fake_video(2048))},
        data={"options": '{"model": "heavy"}'},
    )

    assert response.status_code == status, response.text
    if status == 422:
        body = response.json()
        assert body["code"] == "model_unavailable"
        assert "dance-analyzer models install heavy" in body["message"]
        assert_nothing_stored(db, storage, broker)
    else:
        [job] = jobs_in_db(db)
        assert job.options["model"] == "heavy"
