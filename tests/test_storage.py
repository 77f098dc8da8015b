"""Storage against a local moto S3 server (load with `-p tests.fixtures_s3`)."""

from __future__ import annotations

import io
import os
import socket
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    ReadTimeoutError,
    SSLError,
)
from s3transfer.exceptions import RetriesExceededError

from shared.storage import (
    MiB,
    MultipartWriter,
    Storage,
    input_key,
    is_transient_storage_error,
    job_prefixes,
    output_keys,
    presigned_post_policy,
)
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


# --- keys -----------------------------------------------------------------------------------


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
    assert keys.video == f"outputs/{JOB}/annotated.mp4"
    assert keys.keypoints == f"outputs/{JOB}/keypoints.json"
    assert keys.summary == f"outputs/{JOB}/summary.json"
    assert output_keys(JOB) == keys


def test_job_prefixes_end_with_a_slash():
    assert job_prefixes(JOB) == (f"inputs/{JOB}/", f"outputs/{JOB}/")


@pytest.mark.parametrize("job_id", ["", "../other", "a/b", "job.1", " job"])
def test_job_ids_that_could_escape_their_prefix_are_refused(job_id):
    with pytest.raises(ValueError):
        input_key(job_id, "x.mp4")


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
    key = output_keys(JOB).summary
    storage.upload_fileobj(io.BytesIO(b'{"ok":true}'), key, "application/json")
    assert storage.head(key) == len(b'{"ok":true}')


def test_head_gives_the_size_or_none(storage):
    key = output_keys(JOB).keypoints
    assert storage.head(key) is None
    storage.upload_fileobj(io.BytesIO(b"x" * 42), key, "application/json")
    assert storage.head(key) == 42


def test_delete_job_objects_removes_exactly_that_jobs_keys(storage):
    def put(key: str) -> None:
        storage.upload_fileobj(io.BytesIO(b"data"), key, "application/octet-stream")

    mine = [input_key("job1", "a.mp4"), *output_keys("job1").all()]
    others = [input_key("job10", "a.mp4"), output_keys("job10").video, "unrelated/job1/x"]
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


# --- multipart ------------------------------------------------------------------------------


def test_multipart_writer_uploads_parts_with_bounded_memory(storage, tmp_path):
    data = os.urandom(12 * MiB + 123)
    key = output_keys(JOB).video
    writer = MultipartWriter(storage, key, "video/mp4", part_size=5 * MiB)

    for start in range(0, len(data), 1_000_003):
        writer.write(data[start : start + 1_000_003])
        assert writer.buffered_bytes <= 5 * MiB

    assert writer.complete() == len(data)
    etag = storage.client.head_object(Bucket=storage.bucket, Key=key)["ETag"]
    assert etag.strip('"').endswith("-3")  # three parts: 5 MiB, 5 MiB, the rest
    storage.download_file(key, tmp_path / "out.mp4")
    assert (tmp_path / "out.mp4").read_bytes() == data


@pytest.mark.parametrize("size", [0, 1000, 5 * MiB])
def test_multipart_writer_uses_a_single_put_up_to_one_part(storage, size):
    key = output_keys(JOB).video
    writer = MultipartWriter(storage, key, "video/mp4", part_size=5 * MiB)
    writer.write(b"\0" * size)

    assert writer.complete() == size
    assert writer.upload_id is None
    assert storage.head(key) == size
    assert "-" not in storage.client.head_object(Bucket=storage.bucket, Key=key)["ETag"]


def test_multipart_writer_abort_leaves_nothing_behind(storage):
    key = output_keys(JOB).video
    writer = MultipartWriter(storage, key, part_size=5 * MiB)
    writer.write(os.urandom(6 * MiB))
    assert writer.upload_id is not None

    writer.abort()

    assert storage.head(key) is None
    assert not storage.client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads")


def test_multipart_writer_context_manager_aborts_on_error(storage):
    key = output_keys(JOB).video
    with pytest.raises(RuntimeError), MultipartWriter(storage, key, part_size=5 * MiB) as writer:
        writer.write(os.urandom(6 * MiB))
        raise RuntimeError("encoder crashed")

    assert storage.head(key) is None
    assert not storage.client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads")


def test_multipart_writer_refuses_parts_below_5_mib(storage):
    with pytest.raises(ValueError):
        MultipartWriter(storage, "k", part_size=5 * MiB - 1)


# --- presigned URLs -------------------------------------------------------------------------


@pytest.fixture
def public_storage(s3_settings):
    """Internal endpoint on 127.0.0.1, public endpoint on localhost: same server, other host."""
    port = urlsplit(s3_settings.S3_ENDPOINT_URL).port
    return Storage(
        s3_settings.model_copy(update={"S3_PUBLIC_ENDPOINT_URL": f"http://localhost:{port}"})
    )


def test_presigned_get_is_signed_for_the_public_host_and_downloads(public_storage):
    key = output_keys(JOB).video
    public_storage.upload_fileobj(io.BytesIO(b"annotated video"), key, "video/mp4")

    url, _ = public_storage.presigned_get(key, expires_s=600)

    parts = urlsplit(url)
    assert parts.hostname == "localhost"
    assert parts.path == f"/{public_storage.bucket}/{key}"
    assert "X-Amz-Signature=" in url
    assert _get(url).content == b"annotated video"


def test_presigned_get_returns_its_expiry(storage):
    before = datetime.now(timezone.utc)
    url, expires_at = storage.presigned_get(output_keys(JOB).video, expires_s=900)

    assert expires_at.tzinfo is not None and expires_at.utcoffset() == timedelta(0)
    assert before + timedelta(seconds=900) <= expires_at
    assert expires_at <= datetime.now(timezone.utc) + timedelta(seconds=900)
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["900"]


def test_presigned_get_with_download_name_sets_a_safe_content_disposition(storage):
    key = output_keys(JOB).video
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
    assert post["expires_at"] > datetime.now(timezone.utc)

    response = httpx.post(
        post["url"],
        data=post["fields"],
        files={"file": ("clip.mp4", b"small video", "video/mp4")},
        trust_env=False,
    )
    assert response.status_code in (200, 201, 204)
    assert public_storage.head(key) == len(b"small video")


def test_presigned_put_uploads(public_storage):
    key = input_key(JOB, "clip.mp4")
    url, expires_at = public_storage.presigned_put(key, expires_s=300)

    assert urlsplit(url).hostname == "localhost"
    assert expires_at > datetime.now(timezone.utc)
    assert httpx.put(url, content=b"put body", trust_env=False).status_code == 200
    assert public_storage.head(key) == len(b"put body")


# --- error classification -------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        _client_error(503, "SlowDown"),
        _client_error(500, "InternalError"),
        _client_error(400, "RequestTimeout"),
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
        TimeoutError(),
        RetriesExceededError(ReadTimeoutError(endpoint_url="http://127.0.0.1:1")),
    ],
)
def test_transient_storage_errors_are_retryable(error):
    assert is_transient_storage_error(error)


@pytest.mark.parametrize(
    "error",
    [
        _client_error(404, "NoSuchKey"),
        _client_error(403, "AccessDenied"),
        SSLError(endpoint_url="https://127.0.0.1:1", error="bad certificate"),
        ValueError("bad input"),
    ],
)
def test_permanent_storage_errors_are_not_retryable(error):
    assert not is_transient_storage_error(error)


def test_wrapped_transient_errors_are_found_in_the_chain():
    try:
        try:
            raise _client_error(503, "SlowDown")
        except ClientError as inner:
            raise RuntimeError("upload failed") from inner
    except RuntimeError as outer:
        assert is_transient_storage_error(outer)


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
