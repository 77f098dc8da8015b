"""The Python client (`dance_client`) against the service as users run it: the session's
uvicorn, video worker and webhooks worker, Postgres, Redis and moto's S3 server. Failures
between the client and the gateway are injected for real by `tests.http_proxy`."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
import uuid

import httpx
import pytest

from dance_client import (
    AsyncClient,
    AuthenticationError,
    Client,
    ComparisonStatus,
    JobFailed,
    RetryPolicy,
    WebhookVerificationError,
    event_data,
    verify_webhook,
)
from dance_client.errors import APIError, NotFound, RateLimited
from dance_client.models import OUTPUT_FILES
from tests.clips import make_clip, probe
from tests.http_proxy import HttpProxy

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.timeout(300)]

QUICK = RetryPolicy(attempts=4, base_delay_s=0.2, max_delay_s=1.0, max_rate_limited_s=30)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("client") / "dance.mp4", frames=30, fps=15)


@pytest.fixture
def proxy(stack):
    proxy = HttpProxy(stack.api_port)
    yield proxy
    proxy.close()


@pytest.fixture
def client(stack, tenant):
    with Client(stack.api_url, tenant["api_key"], retry=QUICK) as client:
        yield client


def through(proxy: HttpProxy, tenant: dict, **options) -> Client:
    return Client(proxy.url, tenant["api_key"], **{"retry": QUICK, **options})


def named_copy(clip, tmp_path, stem: str) -> str:
    """The clip under a name of its own, to find its jobs in the tenant's list."""
    path = tmp_path / f"{stem}-{uuid.uuid4().hex[:8]}.mp4"
    shutil.copyfile(clip, path)
    return str(path)


def jobs_named(client: Client, filename: str) -> list[str]:
    return [
        job.id
        for job in client.jobs(include_deleted=True)
        if job.status.input and job.status.input.filename == filename
    ]


def test_submit_wait_and_download_give_what_the_presigned_urls_serve(client, clip, tmp_path):
    sent: list[tuple[int, int | None]] = []
    seen: list[tuple[str, int]] = []
    job = client.submit(clip, on_upload=lambda done, total: sent.append((done, total)))
    assert job.status.status == "queued"
    status = job.wait(timeout=120, on_progress=lambda s: seen.append((s.status, s.progress)))

    size = os.path.getsize(clip)
    assert sent[-1] == (size, size)
    assert [done for done, _ in sent] == sorted(done for done, _ in sent)
    assert status.status == "succeeded" and status.progress == 100
    progress = [value for _, value in seen]
    assert progress == sorted(progress), seen  # progress only rises
    assert seen[-1] == ("succeeded", 100)

    paths = job.download(tmp_path / "out")
    motion = {"motion.bvh", "markers.trc", "world_landmarks.csv"}
    assert {path.name for path in paths.values()} == set(OUTPUT_FILES.values()) | motion
    fresh = client.get(job.id).status.result
    assert fresh is not None and {item.name for item in fresh.exports} == motion
    urls = {name: getattr(fresh, field) for field, name in OUTPUT_FILES.items()}
    urls |= {item.name: item.url for item in fresh.exports}
    for name, url in urls.items():
        served = httpx.get(url, timeout=30)
        assert served.status_code == 200
        assert (tmp_path / "out" / name).read_bytes() == served.content, name
    assert not list((tmp_path / "out").glob(".*.part"))


def test_a_job_makes_the_motion_files_it_asks_for(client, clip, tmp_path):
    job = client.submit(clip, exports=["csv"], smoothing="none")
    assert job.status.options["exports"] == ["csv"]
    assert job.status.options["smoothing"] == "none"
    result = job.wait(timeout=120).result
    assert result is not None and [item.name for item in result.exports] == ["world_landmarks.csv"]
    paths = job.download(tmp_path / "out")
    assert paths["world_landmarks.csv"].read_text().startswith("frame,time_s,person,landmark")
    with pytest.raises(APIError) as refused:
        client.submit(clip, exports=["fbx"])
    assert refused.value.code == "invalid_options"


def test_a_large_file_goes_straight_to_storage(stack, tenant, proxy, clip, tmp_path):
    video = named_copy(clip, tmp_path, "large")
    sent = []
    with through(proxy, tenant, direct_upload_bytes=1024) as client:
        job = client.submit(video, on_upload=lambda done, total: sent.append(done))
        assert proxy.seen("POST", "/api/uploads") == 1
        assert proxy.seen("POST", "/api/jobs") == 1  # the job from the upload, JSON
        status = job.wait(timeout=120)
        assert status.status == "succeeded"
        assert status.input.size_bytes == os.path.getsize(video) == sent[-1]
        paths = job.download(tmp_path / "out")
    assert paths["video"].stat().st_size > 0


def test_a_submit_whose_answer_was_lost_is_sent_again_and_makes_one_job(
    tenant, proxy, clip, tmp_path
):
    video = named_copy(clip, tmp_path, "lost-answer")
    proxy.drop_response("POST", "/api/jobs")  # the service stores the job; the answer is lost
    with through(proxy, tenant) as client:
        job = client.submit(video)
        assert proxy.seen("POST", "/api/jobs") == 2
        assert jobs_named(client, os.path.basename(video)) == [job.id]
        again = client.submit(video, idempotency_key="same-key-" + job.id)
        replay = client.submit(video, idempotency_key="same-key-" + job.id)
        assert again.id == replay.id != job.id
        job.wait(timeout=120)
        again.wait(timeout=120)


def test_a_stream_cut_mid_job_is_followed_to_the_end_by_polling(tenant, proxy, clip):
    proxy.cut_after("GET", "/api/jobs/", 1200)  # the events' headers and about one event
    seen = []
    with through(proxy, tenant) as client:
        job = client.submit(clip)
        status = job.wait(timeout=120, on_progress=lambda s: seen.append(s.progress))
    assert status.status == "succeeded"
    assert proxy.seen("GET", f"/api/jobs/{job.id}/events") == 1
    assert proxy.seen("GET", f"/api/status/{job.id}") >= 2  # the first look, then polls
    assert seen == sorted(seen) and seen[-1] == 100


def test_a_429_storm_is_waited_out_as_retry_after_says(stack, tenant, proxy, client, clip):
    job = client.submit(clip)
    proxy.answer(
        "GET",
        f"/api/status/{job.id}",
        429,
        headers={"Retry-After": "1", "content-type": "application/json"},
        body=b'{"code": "rate_limited", "message": "slow down"}',
        times=3,
    )
    with through(proxy, tenant) as patient:
        started = time.monotonic()
        assert patient.get(job.id).id == job.id
        assert time.monotonic() - started >= 2.9
    assert proxy.seen("GET", f"/api/status/{job.id}") == 4

    proxy.answer("GET", f"/api/status/{job.id}", 429, headers={"Retry-After": "60"})
    with through(proxy, tenant, retry=RetryPolicy(max_rate_limited_s=5)) as impatient:
        with pytest.raises(RateLimited) as refused:
            impatient.get(job.id)
    assert refused.value.retry_after_s == 60
    job.wait(timeout=120)


def test_503_is_retried_and_other_4xx_are_not(tenant, proxy, client, clip):
    job = client.submit(clip)
    proxy.answer("GET", f"/api/status/{job.id}", 503, headers={"Retry-After": "0"}, times=2)
    proxy.answer(
        "DELETE",
        "/api/jobs/",
        400,
        headers={"content-type": "application/json"},
        body=b'{"code": "bad_request", "message": "injected"}',
    )
    with through(proxy, tenant) as proxied:
        assert proxied.get(job.id).id == job.id
        assert proxy.seen("GET", f"/api/status/{job.id}") == 3
        with pytest.raises(APIError) as refused:
            proxied.delete(job.id)
    assert (refused.value.status, refused.value.code) == (400, "bad_request")
    assert proxy.seen("DELETE", "/api/jobs/") == 1
    job.wait(timeout=120)


def test_a_wrong_key_raises_the_api_error_with_its_request_id(stack):
    with Client(stack.api_url, "dak_wrong", retry=QUICK) as client:
        with pytest.raises(AuthenticationError) as refused:
            client.get(str(uuid.uuid4()))
    error = refused.value
    assert error.status == 401 and error.code and error.message
    assert error.request_id


def test_an_unknown_job_is_not_found(client):
    with pytest.raises(NotFound) as missing:
        client.get(str(uuid.uuid4()))
    assert missing.value.code == "job_not_found"


def test_a_failed_job_raises_with_its_code(client, tmp_path):
    fake = tmp_path / "broken.mp4"  # looks like MP4 to the gateway, is not one
    fake.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + os.urandom(50_000))
    job = client.submit(fake)
    with pytest.raises(JobFailed) as failed:
        job.wait(timeout=120)
    assert failed.value.code == "corrupt_video"
    assert failed.value.job.status == "failed"
    with pytest.raises(JobFailed):
        job.download(tmp_path / "out")


def test_the_webhook_verifies_with_the_tenants_secret(tenant, client, clip, webhook_receiver):
    job = client.submit(clip, webhook_url=webhook_receiver.url)
    job.wait(timeout=120)
    [hook] = webhook_receiver.wait_for(1, timeout=30)
    event = verify_webhook(hook.body, hook.headers, tenant["webhook_secret"])
    assert event["type"] == "job.succeeded" and event["data"]["job_id"] == job.id
    with pytest.raises(WebhookVerificationError):
        verify_webhook(hook.body + b" ", hook.headers, tenant["webhook_secret"])


def test_compare_waits_downloads_the_report_and_video_and_calls_the_webhook(
    tenant, client, clip, webhook_receiver, tmp_path
):
    job = client.submit(clip)
    job.wait(timeout=120)
    comparison = client.compare(job, job.id, webhook_url=webhook_receiver.url)
    assert (comparison.status, comparison.mirror, comparison.video) == ("queued", "auto", True)
    assert comparison.webhook_url == webhook_receiver.url

    done = client.wait_comparison(comparison.comparison_id, timeout=120)
    assert done.status == "succeeded" and done.summary is not None
    assert done.summary["schema_version"] == 2 and done.summary["score"] == 100
    paths = client.download_comparison(done.comparison_id, tmp_path / "cmp")
    assert {key: path.name for key, path in paths.items()} == {
        "report": "comparison.json",
        "video": "comparison.mp4",
    }
    report = json.loads(paths["report"].read_text())
    assert report["score"] == done.summary["score"] and report["path"]["reference_time_s"]
    assert done.result is not None and done.result.video_url is not None
    assert paths["video"].read_bytes() == httpx.get(done.result.video_url, timeout=30).content
    assert probe(paths["video"])["codec"] == "h264"
    assert not list((tmp_path / "cmp").glob(".*.part"))

    [hook] = webhook_receiver.wait_for(1, timeout=30)
    event = verify_webhook(hook.body, hook.headers, tenant["webhook_secret"])
    assert event["type"] == "comparison.succeeded"
    data = event_data(event)
    assert isinstance(data, ComparisonStatus)
    assert (data.comparison_id, data.summary) == (done.comparison_id, done.summary)


def test_a_comparison_without_video_downloads_its_report_only(client, clip, tmp_path):
    job = client.submit(clip)
    job.wait(timeout=120)
    comparison = client.compare(job, job, mirror=True, video=False)
    assert (comparison.mirror, comparison.video) == (True, False)
    done = client.wait_comparison(comparison.comparison_id, timeout=120)
    assert done.summary is not None and done.summary["mirror_decision"]["mode"] == "on"
    assert done.result is not None and done.result.video_url is None
    paths = client.download_comparison(done.comparison_id, tmp_path)
    assert list(paths) == ["report"] and not (tmp_path / "comparison.mp4").exists()


def test_jobs_iterates_over_every_page(client, clip):
    made = {client.submit(clip).id for _ in range(3)}
    listed = [job.id for job in client.jobs(page_size=1)]
    assert made <= set(listed) and len(listed) == len(set(listed))
    for job_id in made:
        client.wait(job_id, timeout=120)
        assert client.delete(job_id).status == "deleted"


def test_the_async_client_does_the_same(stack, tenant, clip, tmp_path):
    async def run() -> None:
        async with AsyncClient(stack.api_url, tenant["api_key"], retry=QUICK) as client:
            jobs = [await client.submit(clip, max_people=1) for _ in range(2)]
            done = await asyncio.gather(*(job.wait(timeout=120) for job in jobs))
            assert [status.status for status in done] == ["succeeded", "succeeded"]
            paths = await jobs[0].download(tmp_path / "async")
            assert paths["keypoints"].stat().st_size > 0
            listed = [job.id async for job in client.jobs(page_size=2)]
            assert {job.id for job in jobs} <= set(listed)
            comparison = await client.compare(jobs[0], jobs[1], mirror=False)
            done = await client.wait_comparison(comparison.comparison_id, timeout=120)
            assert done.status == "succeeded" and done.mirror is False
            files = await client.download_comparison(done.comparison_id, tmp_path / "cmp")
            assert sorted(files) == ["report", "video"]
            assert json.loads(files["report"].read_text())["schema_version"] == 2

    asyncio.run(run())


def test_configuration_comes_from_the_environment(stack, tenant, monkeypatch):
    monkeypatch.setenv("DANCE_ANALYZER_URL", stack.api_url)
    monkeypatch.setenv("DANCE_ANALYZER_API_KEY", tenant["api_key"])
    with Client() as client:
        assert client.base_url == stack.api_url
        with pytest.raises(NotFound):
            client.get(str(uuid.uuid4()))
