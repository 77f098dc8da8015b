"""The retention purge (`worker/retention.py`) on the real Postgres and the moto S3 server."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from shared.models import Comparison, Job, utcnow
from shared.outputs import COMPARISON_REPORT, COMPARISON_VIDEO
from shared.storage_keys import (
    comparison_output_key,
    export_key,
    input_key,
    output_keys,
    upload_key,
)
from shared.tenants import default_tenant
from worker.retention import (
    purge_expired_jobs,
    purge_old_comparison_reports,
    purge_unused_uploads,
)

pytestmark = pytest.mark.services


def finished_job(db, storage, *, days_ago: float, status: str = "succeeded") -> uuid.UUID:
    """A finished job with its input, outputs and motion files in the bucket."""
    job_id = uuid.uuid4()
    motion = [export_key(job_id, name) for name in ("motion.bvh", "world_landmarks.csv")]
    for key in (input_key(job_id, "a.mp4"), *output_keys(job_id).values(), *motion):
        storage.client.put_object(Bucket=storage.bucket, Key=key, Body=b"x")
    with db() as session:
        session.add(
            Job(
                id=job_id,
                tenant_id=default_tenant(session).id,
                status=status,
                input_key=input_key(job_id, "a.mp4"),
                options={},
                finished_at=utcnow() - timedelta(days=days_ago),
            )
        )
    return job_id


def keys_of(storage, job_id) -> list[str]:
    return [
        key
        for prefix in (f"inputs/{job_id}/", f"outputs/{job_id}/")
        for key, _ in storage.objects_under(prefix)
    ]


def test_jobs_past_retention_lose_their_files_and_are_marked_expired(db, storage, s3_settings):
    config = s3_settings.model_copy(update={"RETENTION_DAYS": 30})
    old = finished_job(db, storage, days_ago=40)
    old_failure = finished_job(db, storage, days_ago=31, status="failed")
    recent = finished_job(db, storage, days_ago=29)

    assert purge_expired_jobs(storage, config) == 2
    assert purge_expired_jobs(storage, config) == 0  # nothing left to do

    with db() as session:
        rows = {job_id: session.get(Job, job_id) for job_id in (old, old_failure, recent)}
    assert [rows[old].status, rows[old_failure].status, rows[recent].status] == [
        "expired",
        "expired",
        "succeeded",
    ]
    assert rows[old].expired_at is not None
    assert keys_of(storage, old) == [] and keys_of(storage, old_failure) == []
    assert len(keys_of(storage, recent)) == 8  # input, five outputs, two motion files


def test_retention_days_zero_keeps_everything(db, storage, s3_settings):
    config = s3_settings.model_copy(update={"RETENTION_DAYS": 0})
    job_id = finished_job(db, storage, days_ago=4000)

    assert purge_expired_jobs(storage, config) == 0
    assert len(keys_of(storage, job_id)) == 8


def test_unused_uploads_are_removed_once_old_enough(storage):
    key = upload_key(uuid.uuid4(), uuid.uuid4(), "a.mp4")
    storage.client.put_object(Bucket=storage.bucket, Key=key, Body=b"x")
    storage.client.put_object(Bucket=storage.bucket, Key="inputs/keep/source.mp4", Body=b"x")

    assert purge_unused_uploads(storage) == 0  # uploaded just now: a job may still take it
    assert purge_unused_uploads(storage, older_than=timedelta(0)) == 1

    assert [k for k, _ in storage.objects_under("")] == ["inputs/keep/source.mp4"]


def test_comparison_reports_and_videos_past_retention_are_deleted_and_their_summary_kept(
    db, storage, s3_settings
):
    config = s3_settings.model_copy(update={"RETENTION_DAYS": 30})
    job = finished_job(db, storage, days_ago=1)
    ids = {}
    for name, days_ago, with_video in (
        ("old", 40, True),
        ("old without video", 35, False),
        ("recent", 5, True),
    ):
        ids[name] = uuid.uuid4()
        key, video = (
            comparison_output_key(ids[name], COMPARISON_REPORT),
            comparison_output_key(ids[name], COMPARISON_VIDEO),
        )
        storage.client.put_object(Bucket=storage.bucket, Key=key, Body=b"{}")
        if with_video:
            storage.client.put_object(Bucket=storage.bucket, Key=video, Body=b"mp4")
        with db() as session:
            session.add(
                Comparison(
                    id=ids[name],
                    tenant_id=default_tenant(session).id,
                    reference_job_id=job,
                    attempt_job_id=job,
                    mirror_mode="off",
                    video=with_video,
                    status="succeeded",
                    attempts=1,
                    summary={"similarity": 90.0},
                    report_key=key,
                    video_key=video if with_video else None,
                    finished_at=utcnow() - timedelta(days=days_ago),
                )
            )

    assert purge_old_comparison_reports(storage, config) == 2
    assert purge_old_comparison_reports(storage, config) == 0

    with db() as session:
        for name in ("old", "old without video"):
            old = session.get_one(Comparison, ids[name])
            assert (old.report_key, old.video_key) == (None, None)
            assert old.summary == {"similarity": 90.0}
        recent = session.get_one(Comparison, ids["recent"])
        report = comparison_output_key(ids["recent"], COMPARISON_REPORT)
        video = comparison_output_key(ids["recent"], COMPARISON_VIDEO)
        assert (recent.report_key, recent.video_key) == (report, video)
    remaining = sorted(key for key, _ in storage.objects_under("comparisons/"))
    assert remaining == [
        comparison_output_key(ids["recent"], COMPARISON_REPORT),
        comparison_output_key(ids["recent"], COMPARISON_VIDEO),
    ]
