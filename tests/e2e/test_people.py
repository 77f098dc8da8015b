"""Several dancers through the service as users run it: a job with `max_people` on a clip of
two dancers, through uvicorn, a Celery worker, Postgres, Redis and moto's S3 server, over real
HTTP; then the job compared with itself (the comparison reads the main dancer)."""

from __future__ import annotations

import httpx
import pytest

from pipeline.video.samples import DUO
from tests.clips import make_clip
from tests.e2e.test_analysis import wait_for_comparison
from tests.stacks import submit, wait_for_end

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.timeout(400)]


@pytest.fixture(scope="module")
def duo_job(api, tmp_path_factory):
    clip = make_clip(
        tmp_path_factory.mktemp("clips") / "duo.mp4",
        person=DUO,
        width=640,
        height=240,
        frames=45,
        fps=15,
        audio=True,
        beat_bpm=120,
    )
    answer = submit(api, clip, options='{"max_people": 3}')
    assert answer.status_code == 202, answer.text
    assert answer.json()["options"]["max_people"] == 3
    status, _ = wait_for_end(api, answer.json()["job_id"], timeout_s=240)
    assert status["status"] == "succeeded", status
    return status


def test_the_status_carries_metrics_and_analysis_per_dancer(duo_job):
    metrics, analysis = duo_job["metrics"], duo_job["analysis"]
    assert metrics["people_found"] == 2
    assert [person["id"] for person in metrics["people"]] == [1, 2]
    assert all(person["detection_rate"] >= 0.9 for person in metrics["people"])
    assert metrics["main_person_id"] in (1, 2)
    assert [person["id"] for person in analysis["people"]] == [1, 2]
    for person in analysis["people"]:
        assert person["music"]["tempo_bpm"] == pytest.approx(120, rel=0.02)
        assert person["ranges_of_motion"]


def test_the_outputs_describe_each_dancer(duo_job):
    keypoints = httpx.get(duo_job["result"]["keypoints_url"], timeout=30).json()
    assert keypoints["schema_version"] == 4
    assert {p["id"] for frame in keypoints["frames"] for p in frame["people"]} == {1, 2}
    analysis = httpx.get(duo_job["result"]["analysis_url"], timeout=30).json()
    assert analysis["schema_version"] == 2
    assert [person["id"] for person in analysis["people"]] == [1, 2]
    angles = httpx.get(duo_job["result"]["angles_url"], timeout=30).text
    assert angles.startswith("person,frame,time_s,")


def test_a_job_of_several_dancers_compares_by_its_main_dancer(api, duo_job):
    job_id = duo_job["job_id"]
    answer = api.post(
        "/api/comparisons", json={"reference_job_id": job_id, "attempt_job_id": job_id}
    )
    assert answer.status_code == 202, answer.text
    comparison = wait_for_comparison(api, answer.json()["comparison_id"])
    assert comparison["status"] == "succeeded", comparison
    assert comparison["summary"]["similarity"] >= 99
