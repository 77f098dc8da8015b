"""Analysis and comparisons through the service as users run it: uvicorn, a Celery worker and
the webhooks worker as real processes, real Postgres, Redis and moto's S3 server, over real
HTTP; comparisons' webhooks received by a real HTTP receiver."""

from __future__ import annotations

import csv
import io
import os
import secrets
import time

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from cli.local_stack import tenant_command
from shared.webhooks.events import webhook_id_for
from tests.clips import make_clip, probe
from tests.e2e.test_jobs import delivery_attempts
from tests.stacks import submit, tenant_client, wait_for_end

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.timeout(400)]


@pytest.fixture(scope="module")
def other_api(stack):
    other = tenant_command(stack.env, "create", f"other-{secrets.token_hex(3)}")
    with tenant_client(stack.api_url, other["api_key"]) as client:
        yield client


@pytest.fixture(scope="module")
def beat_clip(tmp_path_factory):
    """Four seconds of the astronaut with a click track at 120 BPM."""
    return make_clip(
        tmp_path_factory.mktemp("clips") / "beat.mp4",
        frames=60,
        fps=15,
        audio=True,
        beat_bpm=120,
    )


@pytest.fixture(scope="module")
def analysed(api, beat_clip):
    answer = submit(api, beat_clip, options='{"angle_labels": true}')
    assert answer.status_code == 202, answer.text
    status, _ = wait_for_end(api, answer.json()["job_id"], timeout_s=240)
    assert status["status"] == "succeeded", status
    return status


@pytest.fixture(scope="module")
def rows(pg_url):
    engine = create_engine(pg_url)
    yield lambda: Session(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def attempt(api, tmp_path_factory):
    """Another performance of the same moves to the same music: filmed larger, for longer."""
    clip = make_clip(
        tmp_path_factory.mktemp("clips") / "attempt.mp4",
        width=640,
        height=480,
        frames=75,
        fps=15,
        audio=True,
        beat_bpm=120,
    )
    return finished_job(api, clip)


@pytest.fixture(scope="module")
def nobody(api, tmp_path_factory):
    """A job that succeeded with no dancer in it: nothing to compare."""
    clip = make_clip(
        tmp_path_factory.mktemp("clips") / "nobody.mp4",
        person=None,
        frames=30,
        fps=15,
        audio=True,
        beat_bpm=120,
    )
    return finished_job(api, clip)


def finished_job(api, clip) -> dict:
    answer = submit(api, clip)
    assert answer.status_code == 202, answer.text
    status, _ = wait_for_end(api, answer.json()["job_id"], timeout_s=240)
    assert status["status"] == "succeeded", status
    return status


def wait_for_comparison(client, comparison_id: str, timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        comparison = client.get(f"/api/comparisons/{comparison_id}").json()
        if comparison["status"] in ("succeeded", "failed"):
            return comparison
        time.sleep(0.2)
    raise AssertionError(f"comparison {comparison_id} did not end")


def test_a_job_carries_its_analysis_and_serves_angles_and_analysis_files(api, analysed):
    job_id = analysed["job_id"]
    assert analysed["options"]["angle_labels"] is True
    summary = analysed["analysis"]
    assert set(summary) >= {"movement_tempo_bpm", "music", "ranges_of_motion"}
    assert summary["music"]["available"] is True
    assert summary["music"]["tempo_bpm"] == pytest.approx(120, rel=0.02)
    assert "right_knee" in summary["ranges_of_motion"]

    angles_csv = httpx.get(analysed["result"]["angles_url"], timeout=30).text
    table = list(csv.reader(io.StringIO(angles_csv)))
    assert table[0][:4] == ["frame", "time_s", "right_ankle", "left_ankle"]
    assert len(table) == 1 + analysed["metrics"]["processed_frames"]
    shoulders = table[0].index("shoulders")
    assert any(row[shoulders] for row in table[1:])  # known in some frames

    analysis = httpx.get(analysed["result"]["analysis_url"], timeout=30).json()
    beats = analysis["music"]["beat_times"]
    assert len(beats) >= 3
    assert [b - a for a, b in zip(beats, beats[1:], strict=False)] == pytest.approx(
        [0.5] * (len(beats) - 1), abs=0.03
    )
    assert analysis["angles"]["summary"]["shoulders"]["valid_frames"] > 0
    assert analysis["movement"]["energy_per_second"][0]["t"] == 0

    for route in ("analysis", "angles"):
        redirect = api.get(f"/api/jobs/{job_id}/{route}")
        assert redirect.status_code == 302
        assert httpx.get(redirect.headers["location"], timeout=30).status_code == 200
    assert set(analysed["links"]) >= {"analysis", "angles"}


def test_two_jobs_compare_into_a_report_a_video_and_a_signed_webhook(
    tenant,
    api,
    analysed,
    attempt,
    webhook_receiver,
    rows,
    tmp_path,
):
    answer = api.post(
        "/api/comparisons",
        json={
            "reference_job_id": analysed["job_id"],
            "attempt_job_id": attempt["job_id"],
            "webhook_url": webhook_receiver.url,
        },
    )
    assert answer.status_code == 202, answer.text
    created = answer.json()
    assert (created["mirror"], created["video"]) == ("auto", True)
    assert created["webhook_url"] == webhook_receiver.url
    comparison_id = created["comparison_id"]

    comparison = wait_for_comparison(api, comparison_id)
    assert comparison["status"] == "succeeded", comparison
    summary = comparison["summary"]
    assert summary["schema_version"] == 2
    assert 0 < summary["score"] <= 100 and summary["similarity"] == summary["score"]
    assert set(summary["scores"]) == {"pose", "timing", "amplitude"}
    assert summary["scores"]["pose"] > 80  # the same moves, only filmed larger
    assert summary["mirror_decision"]["mode"] == "auto" and summary["mirror"] is False
    assert summary["music"]["aligned"] is True  # the same clicks: timing is on the music
    assert summary["timing"]["basis"] == "music"
    assert summary["judgements"]["counts"]
    assert "path" not in summary and "moments" not in summary

    # the report: the summary plus the long lists
    report = httpx.get(comparison["result"]["report_url"], timeout=30).json()
    assert report["schema_version"] == 2 and report["score"] == summary["score"]
    assert report["path"]["reference_time_s"] and report["moments"]
    # the video: H.264 side by side, with the reference's soundtrack
    (tmp_path / "comparison.mp4").write_bytes(
        httpx.get(comparison["result"]["video_url"], timeout=30).content
    )
    video = probe(tmp_path / "comparison.mp4")
    assert (video["codec"], video["audio_codec"]) == ("h264", "aac")
    assert (video["frames"], video["width"], video["height"]) == (
        summary["video"]["frames"],
        summary["video"]["width"],
        summary["video"]["height"],
    )
    for route in ("report", "video"):
        redirect = api.get(f"/api/comparisons/{comparison_id}/{route}")
        assert redirect.status_code == 302
        assert httpx.get(redirect.headers["location"], timeout=30).status_code == 200
    assert set(comparison["links"]) == {"self", "report", "video"}

    # the webhook: the status object, signed with the tenant's secret
    [hook] = webhook_receiver.wait_for(1, timeout=30)
    event = Webhook(tenant["webhook_secret"]).verify(hook.body, hook.headers)
    assert event["type"] == "comparison.succeeded"
    data = event["data"]
    assert data["comparison_id"] == comparison_id and data["status"] == "succeeded"
    assert data["summary"] == summary and data["mirror"] == "auto"
    assert httpx.get(data["result"]["video_url"], timeout=30).status_code == 200
    assert hook.headers["webhook-id"] == webhook_id_for(comparison_id, "comparison.succeeded")
    assert hook.headers["x-request-id"] == answer.headers["x-request-id"]
    assert delivery_attempts(rows, comparison_id, 1, column="comparison_id") == [(1, 200)]


def test_a_failed_comparison_sends_comparison_failed_again_with_the_same_id(
    tenant,
    api,
    analysed,
    nobody,
    webhook_receiver,
    rows,
):
    webhook_receiver.respond_with(500, 200)
    answer = api.post(
        "/api/comparisons",
        json={
            "reference_job_id": analysed["job_id"],
            "attempt_job_id": nobody["job_id"],
            "webhook_url": webhook_receiver.url,
        },
    )
    assert answer.status_code == 202, answer.text
    comparison_id = answer.json()["comparison_id"]

    comparison = wait_for_comparison(api, comparison_id)
    assert comparison["status"] == "failed"
    assert comparison["error"]["code"] == "too_little_pose"
    assert comparison["result"] is None
    assert api.get(f"/api/comparisons/{comparison_id}/video").json()["code"] == (
        "comparison_failed"
    )

    first, second = webhook_receiver.wait_for(2, timeout=60)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.headers["webhook-signature"] != second.headers["webhook-signature"]
    event = Webhook(tenant["webhook_secret"]).verify(second.body, second.headers)
    assert event["type"] == "comparison.failed"
    assert event["data"]["error"] == comparison["error"]
    assert delivery_attempts(rows, comparison_id, 2, column="comparison_id") == [
        (1, 500),
        (2, 200),
    ]


def test_a_job_compared_with_itself_scores_full_marks(api, analysed):
    job_id = analysed["job_id"]
    answer = api.post(
        "/api/comparisons",
        json={
            "reference_job_id": job_id,
            "attempt_job_id": job_id,
            "mirror": False,
            "video": False,
        },
    )
    assert answer.status_code == 202, answer.text
    created = answer.json()
    assert created["status"] == "queued"
    assert (created["mirror"], created["video"]) == (False, False)
    assert answer.headers["location"].endswith(f"/api/comparisons/{created['comparison_id']}")

    comparison = wait_for_comparison(api, created["comparison_id"])
    assert comparison["status"] == "succeeded", comparison
    summary = comparison["summary"]
    assert summary["score"] == summary["similarity"] == 100
    assert summary["scores"] == {"pose": 100, "timing": 100, "amplitude": 100}
    assert summary["mirror_decision"] == {"mode": "off", "mirrored": False}
    assert summary["segments"] and summary["worst_segments"] and summary["feedback"] == []
    assert "path" not in summary and "moments" not in summary
    # no video was asked for: none was made
    assert summary["video"] is None and comparison["result"]["video_url"] is None
    assert "video" not in comparison["links"]
    no_video = api.get(f"/api/comparisons/{created['comparison_id']}/video")
    assert (no_video.status_code, no_video.json()["code"]) == (404, "output_not_found")
    report = api.get(f"/api/comparisons/{created['comparison_id']}/report")
    assert report.status_code == 302
    full = httpx.get(report.headers["location"], timeout=30).json()
    path = full["path"]
    # the diagonal, give or take the grid's duplicates of one frame (30 Hz grid, 15 fps clip)
    offsets = [a - r for r, a in zip(path["reference_time_s"], path["attempt_time_s"], strict=True)]
    assert max(abs(offset) for offset in offsets) <= 1 / 15 + 1e-6


def test_comparisons_respect_tenants_and_job_states(api, other_api, analysed, tmp_path):
    job_id = analysed["job_id"]
    # another tenant can neither see this comparison nor compare this tenant's jobs
    mine = api.post("/api/comparisons", json={"reference_job_id": job_id, "attempt_job_id": job_id})
    comparison_id = mine.json()["comparison_id"]
    assert other_api.get(f"/api/comparisons/{comparison_id}").status_code == 404
    assert other_api.get(f"/api/comparisons/{comparison_id}/report").status_code == 404
    theirs = other_api.post(
        "/api/comparisons", json={"reference_job_id": job_id, "attempt_job_id": job_id}
    )
    assert (theirs.status_code, theirs.json()["code"]) == (404, "job_not_found")
    assert other_api.get(f"/api/jobs/{job_id}/analysis").status_code == 404

    # a job that failed cannot be compared
    fake = tmp_path / "broken.mp4"
    fake.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + os.urandom(20_000))
    failed_id = submit(api, fake).json()["job_id"]
    assert wait_for_end(api, failed_id)[0]["status"] == "failed"
    refused = api.post(
        "/api/comparisons", json={"reference_job_id": job_id, "attempt_job_id": failed_id}
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "job_not_succeeded")
    assert refused.json()["details"]["role"] == "attempt"
    assert api.get(f"/api/jobs/{failed_id}/analysis").status_code == 409
    # a deleted job: its files are gone
    assert api.delete(f"/api/jobs/{failed_id}").status_code == 200
    gone = api.post(
        "/api/comparisons", json={"reference_job_id": failed_id, "attempt_job_id": job_id}
    )
    assert (gone.status_code, gone.json()["code"]) == (410, "job_deleted")
    assert gone.json()["details"]["role"] == "reference"

    # malformed requests
    same = {"reference_job_id": job_id, "attempt_job_id": job_id}
    for body in (
        {},
        {"reference_job_id": "x", "attempt_job_id": job_id},
        {"extra": 1},
        same | {"mirror": "sometimes"},
        same | {"mirror": "on"},
    ):
        bad = api.post("/api/comparisons", json=body)
        assert (bad.status_code, bad.json()["code"]) == (422, "validation_error"), body
    # a webhook URL leading inside (the stack allows only 127.0.0.1, the tests' receivers)
    inside = api.post("/api/comparisons", json=same | {"webhook_url": "http://10.0.0.1/hook"})
    assert (inside.status_code, inside.json()["code"]) == (422, "webhook_url_not_allowed")
    assert api.get("/api/comparisons/not-a-uuid").status_code == 404
    broken = api.post(
        "/api/comparisons", content=b"{", headers={"content-type": "application/json"}
    )
    assert (broken.status_code, broken.json()["code"]) == (422, "invalid_json")
    assert api.post("/api/comparisons", content=b"{}").status_code == 415
