"""S3 storage for job inputs and outputs: deterministic keys, one client, presigned URLs.

Keys are a pure function of the job id, so a redelivered task overwrites instead of
duplicating:

    inputs/<job_id>/source<.ext>
    outputs/<job_id>/annotated.mp4 | keypoints.json | summary.json

`Storage` holds two boto3 clients built once (boto3 clients are thread-safe; sessions
and resources are not): the internal one talks to `S3_ENDPOINT_URL`, the presign one
only signs URLs for `S3_PUBLIC_ENDPOINT_URL`. SigV4 signs the Host header, so a URL
signed for the internal host cannot be rewritten to the public one; signing makes no
network call. All calls block: from async code run them in a thread pool.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path, PureWindowsPath
from typing import Any, BinaryIO

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
    ResponseStreamingError,
    SSLError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from shared.config import Settings

MiB = 1024 * 1024
MIN_PART_SIZE = 5 * MiB  # S3 refuses smaller parts, except the last one
DEFAULT_PART_SIZE = 8 * MiB
MAX_PARTS = 10_000
MAX_PRESIGN_EXPIRY_S = 7 * 24 * 3600  # SigV4 limit

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 60.0
MAX_ATTEMPTS = 5
PROBE_TIMEOUT_S = 3.0

_JOB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
_EXTENSION_RE = re.compile(r"^\.[a-z0-9]{1,10}$")
_DOWNLOAD_NAME_UNSAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")

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


# --- keys -----------------------------------------------------------------------------------


def _job_segment(job_id: str | uuid.UUID) -> str:
    value = str(job_id)
    if not _JOB_ID_RE.match(value):
        raise ValueError(f"job id not usable in a storage key: {value!r}")
    return value


def safe_extension(filename: str | None) -> str:
    """The lowercase extension of a client's file name ('.mp4'), or '' when it has no safe one."""
    if not filename:
        return ""
    name = PureWindowsPath(filename).name  # splits on both '/' and '\\'
    suffix = Path(name).suffix.lower()
    return suffix if _EXTENSION_RE.match(suffix) else ""


def input_key(job_id: str | uuid.UUID, filename: str | None = None) -> str:
    """`inputs/<job_id>/source<.ext>`; the client's file name only contributes its extension."""
    return f"inputs/{_job_segment(job_id)}/source{safe_extension(filename)}"


@dataclass(frozen=True)
class OutputKeys:
    video: str
    keypoints: str
    summary: str

    def all(self) -> tuple[str, str, str]:
        return (self.video, self.keypoints, self.summary)


def output_keys(job_id: str | uuid.UUID) -> OutputKeys:
    """The keys of a job's three outputs under `outputs/<job_id>/`."""
    prefix = f"outputs/{_job_segment(job_id)}/"
    return OutputKeys(
        video=prefix + "annotated.mp4",
        keypoints=prefix + "keypoints.json",
        summary=prefix + "summary.json",
    )


def job_prefixes(job_id: str | uuid.UUID) -> tuple[str, str]:
    """Every prefix holding a job's objects; the trailing '/' keeps `job1` away from `job10`."""
    segment = _job_segment(job_id)
    return (f"inputs/{segment}/", f"outputs/{segment}/")


# --- errors ---------------------------------------------------------------------------------


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


def _is_not_found(exc: ClientError) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status == 404 or code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound")


# --- storage --------------------------------------------------------------------------------


def _expiry(expires_s: int) -> tuple[int, datetime]:
    """Validate an expiry; the returned instant is taken before signing, so never too late."""
    expires_s = int(expires_s)
    if not 1 <= expires_s <= MAX_PRESIGN_EXPIRY_S:
        raise ValueError(f"expires_s must be within 1..{MAX_PRESIGN_EXPIRY_S}, got {expires_s}")
    return expires_s, datetime.now(timezone.utc) + timedelta(seconds=expires_s)


def _content_disposition(download_name: str) -> str:
    name = PureWindowsPath(download_name).name
    safe = _DOWNLOAD_NAME_UNSAFE_RE.sub("_", name).strip("._") or "download"
    return f'attachment; filename="{safe}"'


class Storage:
    """The project's S3 bucket. Build one per process (see `get_storage`) and share it."""

    def __init__(
        self,
        settings: Settings,
        *,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        read_timeout_s: float = READ_TIMEOUT_S,
        max_attempts: int = MAX_ATTEMPTS,
    ):
        self.settings = settings
        self.bucket = settings.S3_BUCKET
        session = boto3.session.Session(
            aws_access_key_id=settings.AWS_ACCESS_KEY_ID,
            aws_secret_access_key=settings.AWS_SECRET_ACCESS_KEY,
            region_name=settings.AWS_REGION,
        )
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"mode": "standard", "max_attempts": max_attempts},
            connect_timeout=connect_timeout_s,
            read_timeout=read_timeout_s,
        )
        self.client = session.client("s3", endpoint_url=settings.S3_ENDPOINT_URL, config=config)
        self.presign_client = session.client(
            "s3", endpoint_url=settings.s3_public_endpoint_url, config=config
        )
        self._session = session
        self._config = config
        self._probe: Any = None
        self._probe_lock = threading.Lock()
        self._transfer_config = TransferConfig(
            multipart_threshold=DEFAULT_PART_SIZE,
            multipart_chunksize=DEFAULT_PART_SIZE,
            max_concurrency=4,
        )

    # --- bucket ---

    def ensure_bucket(self) -> bool:
        """Create the bucket unless it exists; True when it was created."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return False
        except ClientError as exc:
            if not _is_not_found(exc):
                raise
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.settings.AWS_REGION != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.settings.AWS_REGION}
        try:
            self.client.create_bucket(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in (
                "BucketAlreadyOwnedByYou",
                "BucketAlreadyExists",
            ):
                return False
            raise
        return True

    def ping(self) -> None:
        """Raise unless the bucket answers (one quick attempt, for readiness checks)."""
        self._probe_client().head_bucket(Bucket=self.bucket)

    def _probe_client(self) -> Any:
        """A client for readiness probes: one attempt, short timeouts (built on first use)."""
        with self._probe_lock:
            if self._probe is None:
                self._probe = self._session.client(
                    "s3",
                    endpoint_url=self.settings.S3_ENDPOINT_URL,
                    config=self._config.merge(
                        Config(
                            retries={"mode": "standard", "total_max_attempts": 1},
                            connect_timeout=PROBE_TIMEOUT_S,
                            read_timeout=PROBE_TIMEOUT_S,
                        )
                    ),
                )
            return self._probe

    # --- objects ---

    def upload_file(self, path: str | Path, key: str, content_type: str) -> int:
        """Upload a local file (multipart above 8 MiB); returns its size in bytes."""
        size = Path(path).stat().st_size
        self.client.upload_file(
            str(path),
            self.bucket,
            key,
            ExtraArgs={"ContentType": content_type},
            Config=self._transfer_config,
        )
        return size

    def upload_fileobj(self, fileobj: BinaryIO, key: str, content_type: str) -> None:
        """Upload from a readable binary file object, in bounded chunks."""
        self.client.upload_fileobj(
            fileobj,
            self.bucket,
            key,
            ExtraArgs={"ContentType": content_type},
            Config=self._transfer_config,
        )

    def download_file(self, key: str, path: str | Path) -> None:
        """Download to `path` (written to a temporary name, then renamed)."""
        self.client.download_file(self.bucket, key, str(path), Config=self._transfer_config)

    def head(self, key: str) -> int | None:
        """The object's size in bytes, or None when it does not exist."""
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _is_not_found(exc):
                return None
            raise
        return int(response["ContentLength"])

    def find_first(self, prefix: str) -> tuple[str, int, str | None] | None:
        """Key, size and content type of the first object under `prefix`, or None."""
        listing = self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=10)
        keys = sorted(item["Key"] for item in listing.get("Contents", []))
        if not keys:
            return None
        head = self.client.head_object(Bucket=self.bucket, Key=keys[0])
        return keys[0], int(head["ContentLength"]), head.get("ContentType")

    def read_head(self, key: str, size: int) -> bytes:
        """The first `size` bytes of an object (a ranged GET), e.g. to sniff its type."""
        response = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{size - 1}")
        with response["Body"] as body:
            return body.read(size)

    def delete_job_objects(self, job_id: str | uuid.UUID) -> list[str]:
        """Delete every object under the job's prefixes; returns the deleted keys, sorted."""
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for prefix in job_prefixes(job_id):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys.extend(item["Key"] for item in page.get("Contents", []))
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
            batch = keys[start : start + 1000]
            response = self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise RuntimeError(
                    f"could not delete {len(errors)} object(s) of job {job_id}, "
                    f"first {first.get('Key')}: {first.get('Code')} {first.get('Message')}"
                )
        return sorted(keys)

    # --- presigned URLs (signed for the public endpoint) ---

    def presigned_get(
        self, key: str, *, expires_s: int, download_name: str | None = None
    ) -> tuple[str, datetime]:
        """A GET URL for clients and the instant it expires (aware, UTC)."""
        expires_s, expires_at = _expiry(expires_s)
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if download_name:
            params["ResponseContentDisposition"] = _content_disposition(download_name)
        url = self.presign_client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expires_s
        )
        return url, expires_at

    def presigned_put(self, key: str, *, expires_s: int) -> tuple[str, datetime]:
        """A PUT URL and its expiry. It cannot cap the size: prefer `presigned_post`."""
        expires_s, expires_at = _expiry(expires_s)
        url = self.presign_client.generate_presigned_url(
            "put_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_s
        )
        return url, expires_at

    def presigned_post(
        self,
        key: str,
        *,
        max_bytes: int,
        expires_s: int,
        content_type: str | None = None,
        min_bytes: int = 1,
    ) -> dict[str, Any]:
        """A browser-style POST upload: `{url, fields, expires_at}`; S3 enforces the size range.

        The client sends `fields` as form fields, then the file as the last field `file`.
        """
        if not 0 <= min_bytes <= max_bytes:
            raise ValueError("need 0 <= min_bytes <= max_bytes")
        expires_s, expires_at = _expiry(expires_s)
        fields: dict[str, str] = {}
        conditions: list[Any] = [["content-length-range", min_bytes, max_bytes]]
        if content_type:
            fields["Content-Type"] = content_type
            conditions.append({"Content-Type": content_type})
        post = self.presign_client.generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Fields=fields,
            Conditions=conditions,
            ExpiresIn=expires_s,
        )
        return {"url": post["url"], "fields": post["fields"], "expires_at": expires_at}


def presigned_post_policy(fields: dict[str, str]) -> dict[str, Any]:
    """Decode the policy document of a presigned POST (for logs and tests)."""
    return json.loads(base64.b64decode(fields["policy"]))


@lru_cache(maxsize=1)
def get_storage() -> Storage:
    """The process-wide `Storage` for the global settings, built on first use.

    Call it after fork (not at import time in a Celery parent); `get_storage.cache_clear()`
    forgets it.
    """
    from shared.config import settings

    return Storage(settings)


# --- streaming multipart upload -------------------------------------------------------------


class MultipartWriter:
    """Stream bytes of unknown length to one S3 object with at most one part in memory.

    `write()` buffers up to `part_size` and uploads each full part; `complete()` sends the
    rest and returns the total size. An object no larger than one part is sent with a
    single PUT. A failed `write` or `complete` aborts the upload before re-raising. Use as
    a context manager to complete on success and abort on error.
    """

    def __init__(
        self,
        storage: Storage,
        key: str,
        content_type: str = "application/octet-stream",
        part_size: int = DEFAULT_PART_SIZE,
    ):
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes")
        self._client = storage.client
        self.bucket = storage.bucket
        self.key = key
        self.content_type = content_type
        self.part_size = part_size
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._total = 0
        self._finished = False

    @property
    def bytes_written(self) -> int:
        return self._total

    @property
    def buffered_bytes(self) -> int:
        return len(self._buffer)

    @property
    def upload_id(self) -> str | None:
        return self._upload_id

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._finished:
            raise ValueError("write to a finished MultipartWriter")
        view = memoryview(data).cast("B")
        size = len(view)
        try:
            while view:
                if len(self._buffer) >= self.part_size:
                    # Only upload a full part once more data exists, so that an object of
                    # exactly one part still goes out as a single PUT.
                    self._upload_buffered_part()
                take = min(self.part_size - len(self._buffer), len(view))
                self._buffer += view[:take]
                view = view[take:]
                self._total += take
        except BaseException:
            self._abort_quietly()
            raise
        return size

    def _upload_buffered_part(self) -> None:
        if self._upload_id is None:
            response = self._client.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, ContentType=self.content_type
            )
            self._upload_id = response["UploadId"]
        part_number = len(self._parts) + 1
        if part_number > MAX_PARTS:
            raise ValueError(f"more than {MAX_PARTS} parts: use a larger part_size")
        body, self._buffer = bytes(self._buffer), bytearray()  # keep one copy while sending
        response = self._client.upload_part(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self._upload_id,
            PartNumber=part_number,
            Body=body,
        )
        self._parts.append({"PartNumber": part_number, "ETag": response["ETag"]})

    def complete(self) -> int:
        """Finish the object; returns its size. Aborts the upload if finishing fails."""
        if self._finished:
            raise ValueError("MultipartWriter already finished")
        try:
            if self._upload_id is None:
                self._client.put_object(
                    Bucket=self.bucket,
                    Key=self.key,
                    Body=bytes(self._buffer),
                    ContentType=self.content_type,
                )
            else:
                if self._buffer:
                    self._upload_buffered_part()
                self._client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=self.key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
        except BaseException:
            self._abort_quietly()
            raise
        self._finished = True
        self._buffer = bytearray()
        return self._total

    def abort(self) -> None:
        """Drop the buffered bytes and any uploaded parts (S3 keeps them until aborted)."""
        self._finished = True
        self._buffer = bytearray()
        upload_id, self._upload_id = self._upload_id, None
        if upload_id is None:
            return
        try:
            self._client.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=upload_id
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise
        except BotoCoreError:
            pass  # best effort; a bucket lifecycle rule should expire stale uploads

    def _abort_quietly(self) -> None:
        try:
            self.abort()
        except Exception:  # the original error matters more than the cleanup's
            pass

    def __enter__(self) -> MultipartWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if self._finished:
            return
        if exc_type is None:
            self.complete()
        else:
            self.abort()


__all__ = [
    "DEFAULT_PART_SIZE",
    "MIN_PART_SIZE",
    "MultipartWriter",
    "OutputKeys",
    "Storage",
    "get_storage",
    "input_key",
    "is_transient_storage_error",
    "job_prefixes",
    "output_keys",
    "presigned_post_policy",
    "safe_extension",
]
