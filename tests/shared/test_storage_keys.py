"""Object keys: where each job's and each upload's files live (`shared/storage_keys.py`)."""

from __future__ import annotations

import uuid

import pytest

from shared.outputs import COMPARISON_REPORT, COMPARISON_VIDEO
from shared.storage_keys import (
    comparison_output_key,
    export_key,
    input_key,
    job_prefixes,
    output_keys,
    upload_key,
    upload_prefix,
)

JOB = "3f1c2a9e-0b7d-4e5f-9a61-2c8d7e4b5a10"


@pytest.mark.parametrize(
    ("filename", "key"),
    [
        ("Dance.MOV", f"inputs/{JOB}/source.mov"),
        ("clip.mp4", f"inputs/{JOB}/source.mp4"),
        ("C:\\Users\\me\\clip.WebM", f"inputs/{JOB}/source.webm"),
        ("../../etc/passwd", f"inputs/{JOB}/source"),
        ("no_extension", f"inputs/{JOB}/source"),
        ("odd.m p4", f"inputs/{JOB}/source"),
        (None, f"inputs/{JOB}/source"),
    ],
)
def test_input_key_keeps_only_a_safe_lowercase_extension(filename, key):
    assert input_key(JOB, filename) == key


def test_output_keys_are_deterministic_per_job():
    keys = output_keys(JOB)
    assert keys["video"] == f"outputs/{JOB}/annotated.mp4"
    assert keys["keypoints"] == f"outputs/{JOB}/keypoints.json"
    assert keys["summary"] == f"outputs/{JOB}/summary.json"
    assert output_keys(JOB) == keys


def test_job_prefixes_end_with_a_slash():
    assert job_prefixes(JOB) == (f"inputs/{JOB}/", f"outputs/{JOB}/")


@pytest.mark.parametrize("job_id", ["", "../other", "a/b", "job.1", " job"])
def test_job_ids_that_could_escape_their_prefix_are_refused(job_id):
    with pytest.raises(ValueError):
        input_key(job_id, "x.mp4")


def test_a_tagged_input_key_stays_under_the_jobs_prefix():
    assert input_key(JOB, "a.MOV", tag="1f2e") == f"inputs/{JOB}/source-1f2e.mov"
    with pytest.raises(ValueError):
        input_key(JOB, "a.mp4", tag="../x")


def test_upload_keys_live_under_their_tenant():
    tenant, upload = uuid.uuid4(), uuid.uuid4()
    assert upload_prefix(tenant, upload) == f"uploads/{tenant}/{upload}/"
    assert upload_key(tenant, upload, "Clip.MP4") == f"uploads/{tenant}/{upload}/source.mp4"
    with pytest.raises(ValueError):
        upload_key("../other", upload)


@pytest.mark.parametrize("name", ["motion.bvh", "markers_person12.trc", "world_landmarks.csv"])
def test_a_motion_file_lives_beside_the_jobs_outputs(name):
    assert export_key("j1", name) == f"outputs/j1/{name}"


@pytest.mark.parametrize(
    "name", ["../keypoints.json", "motion.mp4", "Motion.bvh", "a/b.csv", ".bvh", "x" * 70 + ".csv"]
)
def test_anything_else_is_no_motion_file(name):
    with pytest.raises(ValueError):
        export_key("j1", name)


def test_a_comparisons_report_and_video_live_under_its_own_prefix():
    assert comparison_output_key(JOB, COMPARISON_REPORT) == f"comparisons/{JOB}/comparison.json"
    assert comparison_output_key(JOB, COMPARISON_VIDEO) == f"comparisons/{JOB}/comparison.mp4"
    with pytest.raises(ValueError):
        comparison_output_key("../outputs", COMPARISON_VIDEO)
