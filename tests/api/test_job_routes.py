"""Reading a tenant's jobs: status, outputs, deletion, listing (`api/routes/jobs.py`,
`api/job_access.py`, `api/listing.py`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from shared.config import Settings
from shared.models import Job, utcnow
from shared.storage import Storage
from shared.storage_keys import export_key, input_key, output_keys
from tests.api.helpers import (
    ApiTenant,
    add_finished_job,
    add_job,
    api_client,
    bucket_keys,
    fake_video,
    jobs_in_db,
)
from tests.fixtures_s3 import s3_test_settings

pytestmark = [pytest.mark.anyio, pytest.mark.services]

# No job has this id (each test starts with an empty database). Fixed, not drawn at collection:
# every xdist worker must collect the same tests.
UNKNOWN_JOB_ID = "5b0e9b7c-3f2a-4d51-8c6e-2a9f0d4e7b13"

# --- status ---------------------------------------------------------------------------------


async def test_status_is_served_at_both_urls(client, db):
    submitted = await client.post("/api/jobs", files={"video": ("a.mp4", fake_video(2048))})
    job_id = submitted.json()["job_id"]

    by_status = await client.get(f"/api/status/{job_id}")
    by_job = await client.get(f"/api/jobs/{job_id}")

    assert by_status.status_code == by_job.status_code == 200
    assert by_status.json() == by_job.json()
    assert by_status.json()["job_id"] == job_id
    assert by_status.json()["status"] == "queued"


@pytest.mark.parametrize("job_id", [UNKNOWN_JOB_ID, "not-a-uuid", "1' OR '1'='1"])
@pytest.mark.parametrize("route", ["/api/status/{}", "/api/jobs/{}"])
async def test_status_of_an_unknown_or_malformed_id_is_404(client, route, job_id):
    response = await client.get(route.format(job_id))

    assert response.status_code == 404
    assert response.json()["code"] == "job_not_found"


async def test_status_of_a_succeeded_job_has_presigned_urls(tenant, client, db, storage):
    job = add_finished_job(db, storage, tenant)

    body = (await client.get(f"/api/status/{job.id}")).json()

    assert body["status"] == "succeeded"
    assert body["progress"] == 100
    assert body["metrics"] == {"total_frames": 10, "detection_rate": 1.0}
    assert httpx.get(body["result"]["video_url"]).content == b"annotated video"
    assert httpx.get(body["result"]["keypoints_url"]).content == b'{"frames": []}'
    assert httpx.get(body["result"]["analysis_url"]).content == b'{"angles": {}}'
    assert httpx.get(body["result"]["angles_url"]).content == b"frame,time_s\n"
    assert body["result"]["expires_at"]
    assert body["analysis"]["ranges_of_motion"] == {"right_knee": 80.0}
    assert body["links"]["analysis"].endswith(f"/api/jobs/{job.id}/analysis")
    [motion] = body["result"]["exports"]
    assert (motion["name"], motion["format"], motion["person"]) == ("motion.bvh", "bvh", 1)
    assert httpx.get(motion["url"]).content == b"HIERARCHY\n"
    assert motion["link"].endswith(f"/api/jobs/{job.id}/exports/motion.bvh")
    assert body["result"]["exports_note"] is None


async def test_status_of_a_failed_job_has_its_error(tenant, client, db, storage):
    job = add_finished_job(db, storage, tenant, status="failed")

    body = (await client.get(f"/api/status/{job.id}")).json()

    assert body["status"] == "failed"
    assert body["error"] == {"code": "not_a_video", "message": "the file is not a video"}
    assert body["result"] is None


# --- outputs --------------------------------------------------------------------------------


@pytest.fixture
def public_storage(s3_settings: Settings) -> Storage:
    """The test bucket, with presigned URLs signed for another host name of the same server."""
    port = urlsplit(s3_settings.S3_ENDPOINT_URL).port
    config = s3_test_settings(
        s3_settings.S3_ENDPOINT_URL,
        s3_settings.S3_BUCKET,
        S3_PUBLIC_ENDPOINT_URL=f"http://localhost:{port}",
    )
    return Storage(config)


@pytest.mark.parametrize(
    ("route", "content", "download_name"),
    [
        ("/api/jobs/{}/video", b"annotated video", "dance_annotated.mp4"),
        ("/api/jobs/{}/keypoints", b'{"frames": []}', "dance_keypoints.json"),
        ("/api/jobs/{}/summary", b"{}", "dance_summary.json"),
        ("/api/jobs/{}/analysis", b'{"angles": {}}', "dance_analysis.json"),
        ("/api/jobs/{}/angles", b"frame,time_s\n", "dance_angles.csv"),
        ("/api/download/{}", b"annotated video", "dance_annotated.mp4"),
        ("/api/jobs/{}/exports/motion.bvh", b"HIERARCHY\n", "dance_motion.bvh"),
    ],
)
async def test_outputs_redirect_to_presigned_urls_on_the_public_endpoint(
    tenant, db, public_storage, api_settings, route, content, download_name
):
    job = add_finished_job(db, public_storage, tenant)
    config = public_storage.settings.model_copy(update={"CELERY_QUEUE": api_settings.CELERY_QUEUE})
    async with api_client(config, public_storage, headers=tenant.headers) as client:
        response = await client.get(route.format(job.id))

    assert response.status_code == 302
    location = response.headers["location"]
    assert urlsplit(location).netloc == urlsplit(config.s3_public_endpoint_url).netloc
    assert urlsplit(location).hostname == "localhost"
    query = parse_qs(urlsplit(location).query)
    assert int(query["X-Amz-Expires"][0]) == config.PRESIGNED_URL_EXPIRY_S
    assert download_name in query["response-content-disposition"][0]
    assert httpx.get(location).content == content


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("markers.trc", 404, "output_not_found"),  # not asked for
        ("motion.bvh.", 404, "output_not_found"),
        ("%00", 404, "output_not_found"),
        ("keypoints.json", 404, "output_not_found"),  # not a motion file
        ("..%2Fkeypoints.json", 404, "not_found"),  # no route: a slash is no name
        ("a" * 101, 422, "validation_error"),
    ],
)
async def test_a_motion_file_the_job_does_not_have_is_refused(
    tenant, client, db, storage, name, status, code
):
    job = add_finished_job(db, storage, tenant)

    response = await client.get(f"/api/jobs/{job.id}/exports/{name}")

    assert response.status_code == status
    assert response.json()["code"] == code
    assert "location" not in response.headers


@pytest.mark.parametrize("status", ["queued", "processing"])
@pytest.mark.parametrize("output", ["video", "keypoints", "summary", "exports/motion.bvh"])
async def test_outputs_of_an_unfinished_job_are_409(tenant, client, db, status, output):
    job = add_job(db, tenant, status=status)

    response = await client.get(f"/api/jobs/{job.id}/{output}")

    assert response.status_code == 409
    assert response.json()["code"] == "job_not_finished"
    assert response.headers["retry-after"]


async def test_outputs_of_a_failed_job_are_409_job_failed(tenant, client, db, storage):
    job = add_finished_job(db, storage, tenant, status="failed")

    response = await client.get(f"/api/jobs/{job.id}/video")
    legacy = await client.get(f"/api/download/{job.id}")

    assert response.status_code == legacy.status_code == 409
    assert response.json()["code"] == legacy.json()["code"] == "job_failed"
    assert response.json()["details"]["error"]["code"] == "not_a_video"


async def test_outputs_of_a_deleted_job_are_410(tenant, client, db, storage):
    job = add_finished_job(db, storage, tenant)
    assert (await client.delete(f"/api/jobs/{job.id}")).status_code == 200

    response = await client.get(f"/api/jobs/{job.id}/keypoints")

    assert response.status_code == 410
    assert response.json()["code"] == "job_deleted"


@pytest.mark.parametrize("job_id", [UNKNOWN_JOB_ID, "garbage"])
@pytest.mark.parametrize(
    "route", ["/api/jobs/{}/video", "/api/jobs/{}/keypoints", "/api/download/{}"]
)
async def test_outputs_of_an_unknown_job_are_404(client, route, job_id):
    response = await client.get(route.format(job_id))

    assert response.status_code == 404
    assert response.json()["code"] == "job_not_found"


# --- deleting -------------------------------------------------------------------------------


async def test_delete_removes_the_objects_and_marks_the_job_deleted(tenant, client, db, storage):
    job = add_finished_job(db, storage, tenant)
    other = add_finished_job(db, storage, tenant)

    response = await client.delete(f"/api/jobs/{job.id}")

    assert response.status_code == 200
    assert response.json()["job_id"] == str(job.id)
    assert response.json()["status"] == "deleted"
    assert response.json()["result"] is None
    assert not [key for key in bucket_keys(storage) if str(job.id) in key]
    kept = [key for key in bucket_keys(storage) if str(other.id) in key]
    assert len(kept) == 7  # the input, the five outputs and a motion file
    rows = {row.id: row for row in jobs_in_db(db)}
    assert rows[job.id].status == "deleted" and rows[job.id].deleted_at is not None
    assert rows[other.id].status == "succeeded"

    again = await client.delete(f"/api/jobs/{job.id}")
    assert again.status_code == 200
    assert again.json()["status"] == "deleted"
    status = await client.get(f"/api/status/{job.id}")
    assert status.json()["status"] == "deleted"


async def test_delete_of_a_queued_job_marks_it_deleted(client, db, storage):
    submitted = await client.post("/api/jobs", files={"video": ("a.mp4", fake_video(2048))})
    job_id = submitted.json()["job_id"]

    response = await client.delete(f"/api/jobs/{job_id}")

    assert response.json()["status"] == "deleted"
    assert bucket_keys(storage) == []


async def test_legacy_cleanup_answers_the_deleted_keys(tenant, client, db, storage):
    job = add_finished_job(db, storage, tenant)
    keys = sorted(
        [
            input_key(job.id, "dance.mp4"),
            *output_keys(job.id).values(),
            export_key(job.id, "motion.bvh"),
        ]
    )

    response = await client.delete(f"/api/cleanup/{job.id}")
    again = await client.delete(f"/api/cleanup/{job.id}")

    assert response.status_code == 200
    assert response.json() == {"job_id": str(job.id), "deleted_files": keys, "count": 7}
    assert again.status_code == 200
    assert again.json() == {"job_id": str(job.id), "deleted_files": [], "count": 0}
    assert jobs_in_db(db)[0].status == "deleted"


@pytest.mark.parametrize("route", ["/api/jobs/{}", "/api/cleanup/{}"])
@pytest.mark.parametrize("job_id", [UNKNOWN_JOB_ID, "zzz"])
async def test_delete_of_an_unknown_job_is_404(client, route, job_id):
    response = await client.delete(route.format(job_id))

    assert response.status_code == 404
    assert response.json()["code"] == "job_not_found"


# --- listing --------------------------------------------------------------------------------


def add_jobs_over_time(db: Any, tenant: ApiTenant, statuses: list[str]) -> list[Job]:
    """Jobs created one minute apart, oldest first."""
    start = utcnow() - timedelta(hours=1)
    return [
        add_job(db, tenant, status=status, created_at=start + timedelta(minutes=i))
        for i, status in enumerate(statuses)
    ]


async def test_list_is_newest_first_and_pages_with_next(tenant, client, db):
    jobs = add_jobs_over_time(db, tenant, ["queued", "processing", "succeeded", "failed", "queued"])

    seen: list[str] = []
    url: str | None = "/api/jobs?limit=2"
    pages = 0
    while url:
        response = await client.get(url)
        assert response.status_code == 200
        page = response.json()
        assert len(page["items"]) <= 2
        seen += [item["job_id"] for item in page["items"]]
        url, pages = page["next"], pages + 1

    assert seen == [str(job.id) for job in reversed(jobs)]
    assert pages == 3


async def test_list_default_page_size_is_20(tenant, client, db):
    add_jobs_over_time(db, tenant, ["queued"] * 21)

    page = (await client.get("/api/jobs")).json()

    assert len(page["items"]) == 20
    assert page["next"] is not None


async def test_list_filters_by_status(tenant, client, db):
    jobs = add_jobs_over_time(db, tenant, ["queued", "failed", "queued", "succeeded"])

    page = (await client.get("/api/jobs?status=queued")).json()

    assert [item["job_id"] for item in page["items"]] == [str(jobs[2].id), str(jobs[0].id)]
    assert page["next"] is None


async def test_list_hides_deleted_jobs_unless_asked(tenant, client, db):
    jobs = add_jobs_over_time(db, tenant, ["queued", "deleted", "failed"])

    default = (await client.get("/api/jobs")).json()
    included = (await client.get("/api/jobs?include_deleted=true")).json()
    only = (await client.get("/api/jobs?status=deleted")).json()

    assert [item["job_id"] for item in default["items"]] == [str(jobs[2].id), str(jobs[0].id)]
    assert len(included["items"]) == 3
    assert [item["job_id"] for item in only["items"]] == [str(jobs[1].id)]


async def test_list_next_keeps_the_filter(tenant, client, db):
    add_jobs_over_time(db, tenant, ["failed", "queued", "failed", "failed"])

    first = (await client.get("/api/jobs?status=failed&limit=2")).json()
    second = (await client.get(first["next"])).json()

    assert "status=failed" in first["next"]
    assert len(second["items"]) == 1 and second["items"][0]["status"] == "failed"
    assert second["next"] is None


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("limit=0", "validation_error"),
        ("limit=101", "validation_error"),
        ("status=running", "validation_error"),
        ("cursor=bm90LWEtY3Vyc29y", "invalid_cursor"),
    ],
)
async def test_list_refuses_bad_parameters(client, db, query, code):
    response = await client.get(f"/api/jobs?{query}")

    assert response.status_code == 422
    assert response.json()["code"] == code
