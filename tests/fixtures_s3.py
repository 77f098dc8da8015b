"""Pytest plugin: a local S3 (moto server), a fresh bucket per test, and a webhook receiver.

Load with `pytest_plugins = ["tests.fixtures_s3"]` or `pytest -p tests.fixtures_s3`.

Never use moto's `mock_aws` in the same process: it shares state with the server and
wipes it. Every endpoint here must be a loopback address.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from moto.server import ThreadedMotoServer
from pydantic import SecretStr

from shared.config import Settings
from shared.config import settings as base_settings
from shared.storage import Storage

TEST_WEBHOOK_SECRET = "whsec_dGVzdC1zZWNyZXQtZm9yLXdlYmhvb2stdGVzdHM="


def require_loopback(url: str) -> str:
    """Return `url` if its host is a loopback address; refuse anything else."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return url
    try:
        if ipaddress.ip_address(host).is_loopback:
            return url
    except ValueError:
        pass
    raise RuntimeError(f"refusing a non-loopback endpoint in tests: {url!r}")


# --- S3 -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 for the session; yields its base URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def s3_test_settings(endpoint_url: str, bucket: str, **overrides: object) -> Settings:
    """A copy of the settings pointed at a loopback S3 with test credentials (a copy is not
    validated: pass secrets as `SecretStr`)."""
    values: dict[str, object] = {
        "ENVIRONMENT": "test",
        "S3_ENDPOINT_URL": endpoint_url,
        "S3_PUBLIC_ENDPOINT_URL": None,
        "S3_BUCKET": bucket,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": SecretStr("testing"),
        "AWS_REGION": "us-east-1",
        "WEBHOOK_SECRET": SecretStr(TEST_WEBHOOK_SECRET),
    }
    values.update(overrides)
    copy = base_settings.model_copy(update=values)
    require_loopback(copy.S3_ENDPOINT_URL)
    require_loopback(copy.s3_public_endpoint_url)
    return copy


@pytest.fixture(scope="session")
def _s3_admin(moto_server: str) -> Any:
    """One raw client for creating and removing the test buckets."""
    settings = s3_test_settings(moto_server, "unused")
    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.S3_ENDPOINT_URL,
        aws_access_key_id=settings.AWS_ACCESS_KEY_ID,
        aws_secret_access_key=settings.AWS_SECRET_ACCESS_KEY.get_secret_value(),
        region_name=settings.AWS_REGION,
    )


def new_bucket(moto_server: str, prefix: str) -> tuple[Any, str]:
    """A bucket of its own on the session's S3 server (`<prefix>-<random>`), and a client."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    client = boto3.client(
        "s3",
        endpoint_url=require_loopback(moto_server),
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=name)
    return client, name


def _empty_and_delete_bucket(client: Any, bucket: str) -> None:
    uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    for upload in uploads:
        client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if objects:
            client.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
    client.delete_bucket(Bucket=bucket)


@pytest.fixture
def s3_settings(moto_server: str, _s3_admin: Any) -> Iterator[Settings]:
    """Settings for a fresh, empty bucket of its own (emptied and deleted afterwards)."""
    settings = s3_test_settings(moto_server, f"test-{uuid.uuid4().hex[:16]}")
    _s3_admin.create_bucket(Bucket=settings.S3_BUCKET)
    yield settings
    _empty_and_delete_bucket(_s3_admin, settings.S3_BUCKET)


@pytest.fixture
def storage(s3_settings: Settings) -> Storage:
    """A `Storage` on the test's own bucket."""
    return Storage(s3_settings)
