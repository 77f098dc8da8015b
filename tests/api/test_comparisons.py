"""Comparisons through the gateway (`api/routes/comparisons.py`): what a request may ask, the
errors it gets, the row and the queued task it leaves, and the status object, report and
video of comparisons in each state. The worker's side is `tests/e2e/test_analysis.py`."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from shared.models import Comparison, utcnow
from shared.outputs import COMPARISON_REPORT, COMPARISON_VIDEO
from shared.states import mark_expired
from shared.storage import Storage
from shared.storage_keys import comparison_output_key
from tests.api.helpers import ApiTenant, add_finished_job, add_job, api_client

pytestmark = [pytest.mark.anyio, pytest.mark.services]

UNKNOWN_ID = "5b0e9b7c-3f2a-4d51-8c6e-2a9f0d4e7b13"


def body(reference: Any, attempt: Any | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "reference_job_id": str(reference.id),
        "attempt_job_id": str((attempt or reference).id),
        **fields,
    }


def comparisons_in_db(db: Any) -> list[Comparison]:
    with db() as session:
        rows = session.query(Comparison).all()
        session.expunge_all()
    return rows


def add_comparison(
    db: Any, storage: Storage, tenant: ApiTenant, *, status: str = "succeeded", **fields: Any
) -> Comparison:
    """A comparison row as a worker leaves it (its files in the bucket when succeeded)."""
    job = add_finished_job(db, storage, tenant)
    comparison_id = uuid.uuid4()
    values: dict[str, Any] = {
        "id": comparison_id,
        "tenant_id": tenant.id,
        "reference_job_id": job.id,
        "attempt_job_id": job.id,
        "mirror_mode": "auto",
        "video": True,
        "status": status,
        "attempts": 1,
    }
    if status == "succeeded":
        report, video = (
            comparison_output_key(comparison_id, COMPARISON_REPORT),
            comparison_output_key(comparison_id, COMPARISON_VIDEO),
        )
        storage.client.put_object(Bucket=storage.bucket, Key=report, Body=b'{"score": 91.5}')
        storage.client.put_object(Bucket=storage.bucket, Key=video, Body=b"side by side")
        values |= {
            "summary": {"schema_version": 2, "score": 91.5, "video": {"frames": 30}},
            "report_key": report,
            "video_key": video,
            "finished_at": utcnow(),
        }
    if status == "failed":
        values |= {"error_code": "too_little_pose", "error_message": "no pose"}
    values |= fields
    with db() as session:
        session.add(Comparison(**values))
    return _get(db, comparison_id)


def _get(db: Any, comparison_id: uuid.UUID) -> Comparison:
    with db() as session:
        row = session.get_one(Comparison, comparison_id)
        session.expunge(row)
    return row


# --- asking for a comparison ------------------------------------------------------------------


async def test_a_job_compared_with_itself_is_queued_with_the_defaults(
    tenant, client, db, storage, broker
):
    job = add_finished_job(db, storage, tenant)

    response = await client.post("/api/comparisons", json=body(job))

    assert response.status_code == 202, response.text
    created = response.json()
    assert created["status"] == "queued"
    assert (created["mirror"], created["video"], created["webhook_url"]) == ("auto", True, None)
    assert created["result"] is None and created["summary"] is None
    assert created["links"] == {"self": f"/api/comparisons/{created['comparison_id']}"}
    assert response.headers["location"].endswith(f"/api/comparisons/{created['comparison_id']}")
    [row] = comparisons_in_db(db)
    assert (str(row.id), row.mirror_mode, row.video) == (created["comparison_id"], "auto", True)
    assert row.reference_job_id == row.attempt_job_id == job.id
    assert row.request_id == response.headers["x-request-id"]
    assert broker.messages() == [
        {"task": "dance.compare_jobs", "args": [created["comparison_id"]], "kwargs": {}}
    ]


@pytest.mark.parametrize(
    ("mirror", "stored"), [(True, "on"), (False, "off"), ("auto", "auto")], ids=str
)
async def test_mirror_is_true_false_or_auto(tenant, client, db, storage, broker, mirror, stored):
    reference, attempt = (
        add_finished_job(db, storage, tenant),
        add_finished_job(db, storage, tenant),
    )

    response = await client.post(
        "/api/comparisons", json=body(reference, attempt, mirror=mirror, video=False)
    )

    assert response.status_code == 202, response.text
    assert (response.json()["mirror"], response.json()["video"]) == (mirror, False)
    [row] = comparisons_in_db(db)
    assert (row.mirror_mode, row.video) == (stored, False)
    shown = await client.get(f"/api/comparisons/{row.id}")
    assert shown.json()["mirror"] == mirror


@pytest.mark.parametrize(
    "fields",
    [
        {"mirror": "on"},
        {"mirror": "true"},
        {"mirror": 1},
        {"mirror": None},
        {"mirror": "AUTO"},
        {"video": "maybe"},
        {"extra": 1},
    ],
    ids=str,
)
async def test_other_values_are_422_validation_error(tenant, client, db, storage, broker, fields):
    job = add_finished_job(db, storage, tenant)

    response = await client.post("/api/comparisons", json=body(job, **fields))

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert comparisons_in_db(db) == [] and broker.messages() == []


async def test_unknown_jobs_and_other_tenants_jobs_are_404(
    tenant, other_tenant, client, db, storage, broker
):
    mine = add_finished_job(db, storage, tenant)
    theirs = add_finished_job(db, storage, other_tenant)

    unknown = await client.post(
        "/api/comparisons", json={"reference_job_id": UNKNOWN_ID, "attempt_job_id": str(mine.id)}
    )
    other = await client.post("/api/comparisons", json=body(mine, theirs))

    assert (unknown.status_code, unknown.json()["code"]) == (404, "job_not_found")
    assert unknown.json()["details"] == {"role": "reference"}
    assert (other.status_code, other.json()["code"]) == (404, "job_not_found")
    assert other.json()["details"] == {"role": "attempt"}
    assert comparisons_in_db(db) == [] and broker.messages() == []


async def test_deleted_and_expired_jobs_are_410_and_unfinished_ones_409(
    tenant, client, db, storage, broker
):
    good = add_finished_job(db, storage, tenant)
    deleted = add_finished_job(db, storage, tenant)
    assert (await client.delete(f"/api/jobs/{deleted.id}")).status_code == 200
    expired = add_finished_job(db, storage, tenant)
    with db() as session:
        assert mark_expired(session, expired.id) is not None
    failed = add_finished_job(db, storage, tenant, status="failed")
    queued = add_job(db, tenant)

    answers = {
        name: await client.post("/api/comparisons", json=body(good, job))
        for name, job in (
            ("deleted", deleted),
            ("expired", expired),
            ("failed", failed),
            ("queued", queued),
        )
    }
    as_reference = await client.post("/api/comparisons", json=body(deleted, good))

    codes = {name: (a.status_code, a.json()["code"]) for name, a in answers.items()}
    assert codes == {
        "deleted": (410, "job_deleted"),
        "expired": (410, "job_expired"),
        "failed": (409, "job_not_succeeded"),
        "queued": (409, "job_not_succeeded"),
    }
    assert answers["failed"].json()["details"] == {"role": "attempt", "status": "failed"}
    assert answers["deleted"].json()["details"] == {"role": "attempt"}
    assert (as_reference.status_code, as_reference.json()["details"]) == (
        410,
        {"role": "reference"},
    )
    assert comparisons_in_db(db) == [] and broker.messages() == []


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://10.1.2.3/hook", "webhook_url_not_allowed"),
        ("http://127.0.0.1:9/hook", "webhook_url_not_allowed"),
        ("http://[::ffff:192.168.0.1]/hook", "webhook_url_not_allowed"),
        ("http://169.254.169.254/latest/meta-data", "webhook_url_not_allowed"),
        ("ftp://example.com/hook", "invalid_webhook_url"),
        ("http://user:secret@example.com/", "invalid_webhook_url"),
        (123, "invalid_webhook_url"),
    ],
    ids=str,
)
async def test_a_webhook_url_is_checked_as_a_jobs_is(
    tenant, client, db, storage, broker, url, code
):
    job = add_finished_job(db, storage, tenant)

    response = await client.post("/api/comparisons", json=body(job, webhook_url=url))

    assert (response.status_code, response.json()["code"]) == (422, code)
    assert comparisons_in_db(db) == [] and broker.messages() == []


async def test_an_allowed_webhook_url_is_kept_and_shown(tenant, db, storage, broker, api_settings):
    job = add_finished_job(db, storage, tenant)
    config = api_settings.model_copy(update={"WEBHOOK_ALLOWED_HOSTS": ["127.0.0.1"]})
    async with api_client(config, storage, headers=tenant.headers) as client:
        response = await client.post(
            "/api/comparisons", json=body(job, webhook_url=" http://127.0.0.1:9/hook ")
        )

    assert response.status_code == 202, response.text
    assert response.json()["webhook_url"] == "http://127.0.0.1:9/hook"
    [row] = comparisons_in_db(db)
    assert row.webhook_url == "http://127.0.0.1:9/hook"


# --- reading a comparison -----------------------------------------------------------------------


async def test_a_succeeded_comparison_has_its_summary_report_and_video(tenant, client, db, storage):
    comparison = add_comparison(db, storage, tenant)

    status = (await client.get(f"/api/comparisons/{comparison.id}")).json()

    assert status["status"] == "succeeded"
    assert status["summary"] == {"schema_version": 2, "score": 91.5, "video": {"frames": 30}}
    base = f"/api/comparisons/{comparison.id}"
    assert status["links"] == {"self": base, "report": f"{base}/report", "video": f"{base}/video"}
    result = status["result"]
    assert httpx.get(result["report_url"]).json() == {"score": 91.5}
    assert httpx.get(result["video_url"]).content == b"side by side"
    assert result["expires_at"]
    for route, content, name in (
        ("report", b'{"score": 91.5}', "comparison.json"),
        ("video", b"side by side", "comparison.mp4"),
    ):
        redirect = await client.get(f"{base}/{route}")
        assert redirect.status_code == 302
        location = redirect.headers["location"]
        assert name in parse_qs(urlsplit(location).query)["response-content-disposition"][0]
        assert httpx.get(location).content == content


async def test_a_comparison_without_a_video_has_no_video_url_and_its_video_is_404(
    tenant, client, db, storage
):
    comparison = add_comparison(db, storage, tenant, video=False, video_key=None)

    status = (await client.get(f"/api/comparisons/{comparison.id}")).json()
    video = await client.get(f"/api/comparisons/{comparison.id}/video")

    assert status["video"] is False
    assert status["result"]["video_url"] is None and status["result"]["report_url"]
    assert "video" not in status["links"]
    assert (video.status_code, video.json()["code"]) == (404, "output_not_found")
    assert (await client.get(f"/api/comparisons/{comparison.id}/report")).status_code == 302


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("queued", "comparison_not_finished"),
        ("processing", "comparison_not_finished"),
        ("failed", "comparison_failed"),
    ],
)
@pytest.mark.parametrize("route", ["report", "video"])
async def test_the_files_of_an_unfinished_or_failed_comparison_are_409(
    tenant, client, db, storage, status, code, route
):
    comparison = add_comparison(db, storage, tenant, status=status)

    response = await client.get(f"/api/comparisons/{comparison.id}/{route}")
    shown = (await client.get(f"/api/comparisons/{comparison.id}")).json()

    assert (response.status_code, response.json()["code"]) == (409, code)
    assert shown["result"] is None
    if status == "failed":
        assert shown["error"] == {"code": "too_little_pose", "message": "no pose"}


@pytest.mark.parametrize("route", ["report", "video"])
async def test_the_files_of_a_comparison_past_retention_are_410(tenant, client, db, storage, route):
    comparison = add_comparison(
        db,
        storage,
        tenant,
        report_key=None,
        video_key=None,
        finished_at=utcnow() - timedelta(days=40),
    )

    response = await client.get(f"/api/comparisons/{comparison.id}/{route}")
    shown = (await client.get(f"/api/comparisons/{comparison.id}")).json()

    assert (response.status_code, response.json()["code"]) == (410, "comparison_expired")
    assert shown["result"] is None and shown["summary"]["score"] == 91.5


@pytest.mark.parametrize("route", ["", "/report", "/video"])
async def test_another_tenants_comparison_is_404(
    tenant, other_tenant, db, storage, api_settings, route
):
    comparison = add_comparison(db, storage, tenant)
    async with api_client(api_settings, storage, headers=other_tenant.headers) as other:
        response = await other.get(f"/api/comparisons/{comparison.id}{route}")
        malformed = await other.get(f"/api/comparisons/not-a-uuid{route}")

    assert (response.status_code, response.json()["code"]) == (404, "comparison_not_found")
    assert (malformed.status_code, malformed.json()["code"]) == (404, "comparison_not_found")
