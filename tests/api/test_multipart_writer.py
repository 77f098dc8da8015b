"""The gateway's streaming writer to S3 (`api/multipart_writer.py`), on the moto server."""

from __future__ import annotations

import os

import pytest

from api.multipart_writer import MultipartWriter
from shared.storage import MiB
from shared.storage_keys import output_keys

JOB = "3f1c2a9e-0b7d-4e5f-9a61-2c8d7e4b5a10"


def test_multipart_writer_uploads_parts_with_bounded_memory(storage, tmp_path):
    data = os.urandom(12 * MiB + 123)
    key = output_keys(JOB)["video"]
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
    key = output_keys(JOB)["video"]
    writer = MultipartWriter(storage, key, "video/mp4", part_size=5 * MiB)
    writer.write(b"\0" * size)

    assert writer.complete() == size
    assert writer.upload_id is None
    assert storage.head(key) == size
    assert "-" not in storage.client.head_object(Bucket=storage.bucket, Key=key)["ETag"]


def test_multipart_writer_abort_leaves_nothing_behind(storage):
    key = output_keys(JOB)["video"]
    writer = MultipartWriter(storage, key, part_size=5 * MiB)
    writer.write(os.urandom(6 * MiB))
    assert writer.upload_id is not None

    writer.abort()

    assert storage.head(key) is None
    assert not storage.client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads")


def test_multipart_writer_context_manager_aborts_on_error(storage):
    key = output_keys(JOB)["video"]
    with pytest.raises(RuntimeError), MultipartWriter(storage, key, part_size=5 * MiB) as writer:
        writer.write(os.urandom(6 * MiB))
        raise RuntimeError("encoder crashed")

    assert storage.head(key) is None
    assert not storage.client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads")


def test_multipart_writer_refuses_parts_below_5_mib(storage):
    with pytest.raises(ValueError):
        MultipartWriter(storage, "k", part_size=5 * MiB - 1)
