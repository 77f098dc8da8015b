"""Which storage errors are retried (`shared/storage_errors.py`)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError, SSLError
from s3transfer.exceptions import RetriesExceededError

from shared.storage_errors import is_missing_object, is_transient_storage_error, storage_failure


def _client_error(status: int, code: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutObject",
    )


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


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (_client_error(404, "NoSuchBucket"), "storage_bucket_missing"),
        (_client_error(403, "AccessDenied"), "storage_access_denied"),
        (_client_error(403, "InvalidAccessKeyId"), "storage_access_denied"),
        (_client_error(400, "InvalidRequest"), "storage_error"),
    ],
)
def test_permanent_storage_refusals_have_storage_codes(error, code):
    wrapped = RuntimeError("upload failed")
    wrapped.__cause__ = error
    assert storage_failure(error)[0] == storage_failure(wrapped)[0] == code


def test_other_errors_are_no_storage_failures():
    assert storage_failure(ValueError("bad")) is None


def test_a_missing_key_is_told_apart_from_a_missing_bucket():
    assert is_missing_object(_client_error(404, "NoSuchKey"))
    assert is_missing_object(_client_error(404, "404"))  # a HEAD has no body, no code
    assert not is_missing_object(_client_error(404, "NoSuchBucket"))
