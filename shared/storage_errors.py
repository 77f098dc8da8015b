"""Which storage errors are worth retrying, and which mean "no such object"."""

from __future__ import annotations

import socket
from collections.abc import Iterator

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
    ResponseStreamingError,
    SSLError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

_TRANSIENT_ERROR_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequests",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
        "OperationAborted",
    }
)


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 10:
        seen.add(id(current))
        yield current
        # s3transfer's RetriesExceededError keeps the cause in `last_exception`
        current = (
            getattr(current, "last_exception", None) or current.__cause__ or current.__context__
        )


def is_transient_storage_error(exc: BaseException) -> bool:
    """True when retrying later may succeed: connection errors, timeouts, 5xx, throttling.

    Looks through the exception chain, since boto3's transfer manager wraps client errors
    (`S3UploadFailedError`). Missing keys, denied access and TLS failures are permanent.
    """
    for err in _exception_chain(exc):
        if isinstance(err, SSLError):
            return False
        if isinstance(
            err,
            (
                BotoConnectionError,
                EndpointConnectionError,
                ConnectionClosedError,
                ReadTimeoutError,
                ResponseStreamingError,
                ConnectionError,
                TimeoutError,
                socket.timeout,
            ),
        ):
            return True
        if isinstance(err, ClientError):
            code = str(err.response.get("Error", {}).get("Code", ""))
            status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            return code in _TRANSIENT_ERROR_CODES or status >= 500 or status in (408, 429)
    return False


def is_not_found(exc: ClientError) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status == 404 or code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound")


def _client_error_code(exc: BaseException) -> str | None:
    """The S3 error code of the first `ClientError` in the chain (wrapped ones included)."""
    for err in _exception_chain(exc):
        if isinstance(err, ClientError):
            return str(err.response.get("Error", {}).get("Code", ""))
    return None


def is_missing_object(exc: BaseException) -> bool:
    """True when storage says the object is not there (a HEAD or GET of a missing key)."""
    return _client_error_code(exc) in ("404", "NoSuchKey")


_ACCESS_DENIED = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled", "403"}
)


def storage_failure(exc: BaseException) -> tuple[str, str] | None:
    """A job's error code and message for a permanent storage refusal, or None when `exc`
    is no storage error: `storage_bucket_missing`, `storage_access_denied`,
    `storage_error`."""
    code = _client_error_code(exc)
    if code is None:
        return None
    if code == "NoSuchBucket":
        return "storage_bucket_missing", "the storage bucket does not exist"
    if code in _ACCESS_DENIED:
        return "storage_access_denied", f"storage refused access ({code})"
    return "storage_error", f"storage refused the request ({code or 'no code'})"
