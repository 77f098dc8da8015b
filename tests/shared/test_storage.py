"""Storage against a local moto S3 server (`shared/storage.py`)."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
)

from shared.storage import (
    ABORT_UPLOADS_RULE,
    EXPIRE_UPLOADS_RULE,
    MiB,
    Storage,
    presigned_post_policy,
)
from shared.storage_errors import is_transient_storage_error
from shared.storage_keys import input_key, output_keys
from tests.fixtures_s3 import require_loopback, s3_test_settings

JOB = "3f1c2a9e-0b7d-4e5f-9a61-2c8d7e4b5a10"


def _get(url: str) -> httpx.Response:
    return httpx.get(url, trust_env=False, timeout=30)


def _client_error(status: int, code: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutObject",
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- clients --------------------------------------------------------------------------------


# Forked in a process of its own, as Celery's prefork pool forks its children from a main
# process that runs little else: forking pytest's own process would copy locks held by its
# other threads (moto's server, xdist's channel), and a child can hang on one of those.
FORK_CHECK = """
import faulthandler, os, sys
from shared import storage as storage_module
from shared.config import Settings
from shared.storage import Storage

settings = Settings()
first, second = Storage(settings), Storage(settings.model_copy())
assert first.client is not second.client  # each its own connection pool
first.ping()
second.ping()
parent_session = storage_module._boto3_session()
pid = os.fork()
if pid == 0:  # the child: a session of its own, and clients that work
    faulthandler.dump_traceback_later(30, exit=True)  # a hang shows where, then ends
    code = 1
    try:
        Storage(settings).ping()
        code = 0 if storage_module._boto3_session() is not parent_session else 2
    finally:
        os._exit(code)
_, status = os.waitpid(pid, 0)
assert storage_module._boto3_session() is parent_session
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_storages_share_the_process_session_and_a_forked_child_makes_its_own(s3_settings):
    env = {
        **os.environ,
        "S3_ENDPOINT_URL": s3_settings.S3_ENDPOINT_URL,
        "S3_BUCKET": s3_settings.S3_BUCKET,
        "AWS_ACCESS_KEY_ID": s3_settings.AWS_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": s3_settings.AWS_SECRET_ACCESS_KEY.get_secret_value(),
        "AWS_REGION": s3_settings.AWS_REGION,
    }
    result = subprocess.run(
        [sys.executable, "-c", FORK_CHECK], env=env, capture_output=True, text=True, timeout=90
    )
    assert result.returncode == 0, result.stderr


# --- objects --------------------------------------------------------------------------------


def test_ensure_bucket_is_idempotent(storage):
    assert storage.ensure_bucket() is False
    storage.ping()


def test_upload_then_download_round_trips_the_bytes(storage, tmp_path):
    source = tmp_path / "in.mp4"
    source.write_bytes(os.urandom(300_000))
    key = input_key(JOB, "in.mp4")

    assert storage.upload_file(source, key, "video/mp4") == 300_000
    storage.download_file(key, tmp_path / "out.mp4")

    assert (tmp_path / "out.mp4").read_bytes() == source.read_bytes()
    assert storage.client.head_object(Bucket=storage.bucket, Key=key)["ContentType"] == "video/mp4"


def test_upload_fileobj_stores_the_stream(storage):
    key = output_keys(JOB)["summary"]
    storage.upload_fileobj(io.BytesIO(b'{"ok":true}'), key, "application/json")
    assert storage.head(key) == len(b'{"ok":true}')


def test_head_gives_the_size_or_none(storage):
    key = output_keys(JOB)["keypoints"]
    assert storage.head(key) is None
    storage.upload_fileobj(io.BytesIO(b"x" * 42), key, "application/json")
    assert storage.head(key) == 42


def test_delete_job_objects_removes_exactly_that_jobs_keys(storage):
    def put(key: str) -> None:
        storage.upload_fileobj(io.BytesIO(b"data"), key, "application/octet-stream")

    mine = [input_key("job1", "a.mp4"), *output_keys("job1").values()]
    others = [input_key("job10", "a.mp4"), output_keys("job10")["video"], "unrelated/job1/x"]
    for key in mine + others:
        put(key)

    assert storage.delete_job_objects("job1") == sorted(mine)
    assert all(storage.head(key) is None for key in mine)
    assert all(storage.head(key) == 4 for key in others)
    assert storage.delete_job_objects("job1") == []


def test_ping_fails_for_a_missing_bucket(s3_settings):
    storage = Storage(s3_settings.model_copy(update={"S3_BUCKET": "no-such-bucket-here"}))
    with pytest.raises(ClientError):
        storage.ping()


def test_ping_fails_fast_and_transient_when_s3_is_down(s3_settings):
    down = f"http://127.0.0.1:{_closed_port()}"
    storage = Storage(s3_settings.model_copy(update={"S3_ENDPOINT_URL": down}))
    with pytest.raises(EndpointConnectionError) as caught:
        storage.ping()
    assert is_transient_storage_error(caught.value)


# --- presigned URLs -------------------------------------------------------------------------


@pytest.fixture
def public_storage(s3_settings):
    """Internal endpoint on 127.0.0.1, public endpoint on localhost: same server, other host."""
    port = urlsplit(s3_settings.S3_ENDPOINT_URL).port
    return Storage(
        s3_settings.model_copy(update={"S3_PUBLIC_ENDPOINT_URL": f"http://localhost:{port}"})
    )


def test_presigned_get_is_signed_for_the_public_host_and_downloads(public_storage):
    key = output_keys(JOB)["video"]
    public_storage.upload_fileobj(io.BytesIO(b"annotated video"), key, "video/mp4")

    url, _ = public_storage.presigned_get(key, expires_s=600)

    parts = urlsplit(url)
    assert parts.hostname == "localhost"
    assert parts.path == f"/{public_storage.bucket}/{key}"
    assert "X-Amz-Signature=" in url
    assert _get(url).content == b"annotated video"


def test_presigned_get_returns_its_expiry(storage):
    before = datetime.now(UTC)
    url, expires_at = storage.presigned_get(output_keys(JOB)["video"], expires_s=900)

    assert expires_at.tzinfo is not None and expires_at.utcoffset() == timedelta(0)
    assert before + timedelta(seconds=900) <= expires_at
    assert expires_at <= datetime.now(UTC) + timedelta(seconds=900)
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["900"]


def test_presigned_get_with_download_name_sets_a_safe_content_disposition(storage):
    key = output_keys(JOB)["video"]
    storage.upload_fileobj(io.BytesIO(b"v"), key, "video/mp4")

    url, _ = storage.presigned_get(key, expires_s=60, download_name='my "dance".mp4')

    disposition = _get(url).headers["content-disposition"]
    assert disposition == 'attachment; filename="my_dance_.mp4"'


@pytest.mark.parametrize("expires_s", [0, 7 * 24 * 3600 + 1])
def test_presigned_expiry_must_fit_sigv4(storage, expires_s):
    with pytest.raises(ValueError):
        storage.presigned_get("k", expires_s=expires_s)


def test_presigned_post_uploads_and_caps_the_size_in_its_policy(public_storage):
    key = input_key(JOB, "clip.mp4")
    post = public_storage.presigned_post(
        key, max_bytes=10 * MiB, expires_s=300, content_type="video/mp4"
    )

    assert urlsplit(post["url"]).hostname == "localhost"
    policy = presigned_post_policy(post["fields"])
    assert ["content-length-range", 1, 10 * MiB] in policy["conditions"]
    assert post["expires_at"] > datetime.now(UTC)

    response = httpx.post(
        post["url"],
        data=post["fields"],
        files={"file": ("clip.mp4", b"small video", "video/mp4")},
        trust_env=False,
    )
    assert response.status_code in (200, 201, 204)
    assert public_storage.head(key) == len(b"small video")


# --- fixtures -------------------------------------------------------------------------------


def test_test_settings_refuse_non_loopback_endpoints():
    assert require_loopback("http://localhost:9000")
    with pytest.raises(RuntimeError):
        s3_test_settings("http://minio.example.com:9000", "test-bucket")
    with pytest.raises(RuntimeError):
        s3_test_settings("http://10.0.0.5:9000", "test-bucket")


def test_each_test_gets_its_own_empty_bucket(storage):
    assert storage.bucket.startswith("test-")
    assert storage.client.list_objects_v2(Bucket=storage.bucket)["KeyCount"] == 0


# --- copies, listings, lifecycle ------------------------------------------------------------


def test_copy_makes_an_independent_object(storage):
    storage.client.put_object(
        Bucket=storage.bucket, Key="uploads/t/u/source.mp4", Body=b"first", ContentType="video/mp4"
    )

    storage.copy("uploads/t/u/source.mp4", f"inputs/{JOB}/source-1.mp4")
    storage.client.put_object(Bucket=storage.bucket, Key="uploads/t/u/source.mp4", Body=b"later")

    copy = storage.client.get_object(Bucket=storage.bucket, Key=f"inputs/{JOB}/source-1.mp4")
    assert copy["Body"].read() == b"first"
    assert copy["ContentType"] == "video/mp4"


def test_objects_under_a_prefix_and_deleting_keys(storage):
    for key in ("uploads/a/1", "uploads/a/2", "uploads-not/3"):
        storage.client.put_object(Bucket=storage.bucket, Key=key, Body=b"x")

    found = dict(storage.objects_under("uploads/"))
    storage.delete_keys(["uploads/a/1", "uploads/missing"])

    assert sorted(found) == ["uploads/a/1", "uploads/a/2"]
    assert all(modified.tzinfo is not None for modified in found.values())
    assert [key for key, _ in storage.objects_under("uploads")] == ["uploads-not/3", "uploads/a/2"]


def test_lifecycle_rules_are_set_once_and_keep_other_rules(storage):
    other = {
        "ID": "operators-own",
        "Status": "Enabled",
        "Filter": {"Prefix": "logs/"},
        "Expiration": {"Days": 90},
    }
    storage.client.put_bucket_lifecycle_configuration(
        Bucket=storage.bucket, LifecycleConfiguration={"Rules": [other]}
    )

    storage.ensure_lifecycle_rules()
    storage.ensure_lifecycle_rules()

    rules = storage.client.get_bucket_lifecycle_configuration(Bucket=storage.bucket)["Rules"]
    by_id = {rule["ID"]: rule for rule in rules}
    assert sorted(by_id) == sorted([ABORT_UPLOADS_RULE, EXPIRE_UPLOADS_RULE, "operators-own"])
    assert by_id[ABORT_UPLOADS_RULE]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 1
    assert by_id[EXPIRE_UPLOADS_RULE]["Filter"]["Prefix"] == "uploads/"
    assert by_id[EXPIRE_UPLOADS_RULE]["Expiration"]["Days"] == 1


def test_abandoned_multipart_uploads_are_aborted_and_live_ones_kept(storage):
    abandoned = storage.client.create_multipart_upload(Bucket=storage.bucket, Key="inputs/a/x")
    storage.client.upload_part(
        Bucket=storage.bucket,
        Key="inputs/a/x",
        PartNumber=1,
        UploadId=abandoned["UploadId"],
        Body=b"x" * 100,
    )
    time.sleep(3)  # S3 reports whole seconds
    live = storage.client.create_multipart_upload(Bucket=storage.bucket, Key="inputs/b/y")
    # (moto reports a fixed, old `Initiated`: the live upload shows its life by a new part)
    storage.client.upload_part(
        Bucket=storage.bucket,
        Key="inputs/b/y",
        PartNumber=1,
        UploadId=live["UploadId"],
        Body=b"y" * 100,
    )

    assert storage.abort_stale_multipart_uploads(older_than_s=2) == 1

    left = storage.client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", [])
    assert [u["UploadId"] for u in left] == [live["UploadId"]]


def test_repeated_rounds_abort_only_what_looked_stale_for_the_whole_period(storage):
    # moto dates every upload 2010: by its `Initiated` alone, a new one looks abandoned
    upload = storage.client.create_multipart_upload(Bucket=storage.bucket, Key="inputs/c/z")
    seen: dict[str, float] = {}

    assert storage.abort_stale_multipart_uploads(older_than_s=1, seen=seen) == 0
    assert list(seen) == [upload["UploadId"]]
    time.sleep(1.1)
    assert storage.abort_stale_multipart_uploads(older_than_s=1, seen=seen) == 1
    assert storage.client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", []) == []
    assert storage.abort_stale_multipart_uploads(older_than_s=1, seen=seen) == 0
    assert seen == {}
