"""Analysis and comparisons through the service as users run it: uvicorn and a Celery worker
as real processes, real Postgres, Redis and moto's S3 server, over real HTTP."""

from __future__ import annotations

import csv
import io
import os
import secrets
import time

import httpx
import pytest

from tests.clips import make_clip
from tests.stacks import submit, tenant_client, wait_for_end
from worker.local_stack import tenant_command

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


def test_a_job_compared_with_itself_scores_full_marks(api, analysed):
    job_id = analysed["job_id"]
    answer = api.post(
        "/api/comparisons", json={"reference_job_id": job_id, "attempt_job_id": job_id}
    )
    assert answer.status_code == 202, answer.text
    created = answer.json()
    assert created["status"] == "queued"
    assert answer.headers["location"].endswith(f"/api/comparisons/{created['comparison_id']}")

    comparison = wait_for_comparison(api, created["comparison_id"])
    assert comparison["status"] == "succeeded", comparison
    summary = comparison["summary"]
    assert summary["similarity"] >= 99
    assert summary["segments"] and summary["worst_segments"]
    assert "path" not in summary
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

    # malformed requests
    for body in ({}, {"reference_job_id": "x", "attempt_job_id": job_id}, {"extra": 1}):
        bad = api.post("/api/comparisons", json=body)
        assert (bad.status_code, bad.json()["code"]) == (422, "validation_error"), body
    assert api.get("/api/comparisons/not-a-uuid").status_code == 404
    broken = api.post(
        "/api/comparisons", content=b"{", headers={"content-type": "application/json"}
    )
    assert (broken.status_code, broken.json()["code"]) == (422, "invalid_json")
    assert api.post("/api/comparisons", content=b"{}").status_code == 415
