"""The S3 bucket: one client per process, object operations, presigned URLs.

Where objects live is `shared.storage_keys`; which errors are transient is
`shared.storage_errors`. `Storage` holds two boto3 clients built once, from the process's one
boto3 session (clients are thread-safe; sessions and resources are not): the internal one
talks to `S3_ENDPOINT_URL`, the presign one only signs URLs for `S3_PUBLIC_ENDPOINT_URL`.
SigV4 signs the Host header, so a URL signed for the internal host cannot be rewritten to the
public one; signing makes no network call. All calls block: from async code run them in a
thread pool.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path, PureWindowsPath
from typing import Any, BinaryIO

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from shared.config import Settings
from shared.storage_errors import is_not_found
from shared.storage_keys import UPLOADS_PREFIX, job_prefixes

MiB = 1024 * 1024
MIN_PART_SIZE = 5 * MiB  # S3 refuses smaller parts, except the last one
DEFAULT_PART_SIZE = 8 * MiB
MAX_PRESIGN_EXPIRY_S = 7 * 24 * 3600  # SigV4 limit

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 60.0
MAX_ATTEMPTS = 5
PROBE_TIMEOUT_S = 3.0

LIFECYCLE_DAYS = 1
ABORT_UPLOADS_RULE = "dance-abort-incomplete-multipart-uploads"
EXPIRE_UPLOADS_RULE = "dance-expire-unused-uploads"

_DOWNLOAD_NAME_UNSAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")


def _expiry(expires_s: int) -> tuple[int, datetime]:
    """Validate an expiry; the returned instant is taken before signing, so never too late."""
    expires_s = int(expires_s)
    if not 1 <= expires_s <= MAX_PRESIGN_EXPIRY_S:
        raise ValueError(f"expires_s must be within 1..{MAX_PRESIGN_EXPIRY_S}, got {expires_s}")
    return expires_s, datetime.now(UTC) + timedelta(seconds=expires_s)


def _content_disposition(download_name: str) -> str:
    name = PureWindowsPath(download_name).name
    safe = _DOWNLOAD_NAME_UNSAFE_RE.sub("_", name).strip("._") or "download"
    return f'attachment; filename="{safe}"'


_SESSION_LOCK = threading.Lock()  # boto3 sessions are not thread-safe; their clients are


@lru_cache(maxsize=1)
def _boto3_session() -> boto3.session.Session:
    """One boto3 session per process: it loads S3's service model once (0.15 s of CPU), and
    every client is made from it with its own credentials and endpoint."""
    return boto3.session.Session()


def _forget_session_in_child() -> None:
    """A forked child makes its own session: a parent thread may have held the lock."""
    global _SESSION_LOCK
    _SESSION_LOCK = threading.Lock()
    _boto3_session.cache_clear()


os.register_at_fork(after_in_child=_forget_session_in_child)


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
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"mode": "standard", "max_attempts": max_attempts},
            connect_timeout=connect_timeout_s,
            read_timeout=read_timeout_s,
        )
        self._config = config
        self.client = self._new_client(settings.S3_ENDPOINT_URL, config)
        self.presign_client = self._new_client(settings.s3_public_endpoint_url, config)
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
            if not is_not_found(exc):
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

    def ensure_lifecycle_rules(self) -> None:
        """Have the bucket abort multipart uploads left unfinished (e.g. by a killed gateway)
        and expire direct uploads no job took, both after `LIFECYCLE_DAYS`. Rules of other
        ids are kept."""
        try:
            current = self.client.get_bucket_lifecycle_configuration(Bucket=self.bucket)["Rules"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
                raise
            current = []
        ours = {
            ABORT_UPLOADS_RULE: {
                "ID": ABORT_UPLOADS_RULE,
                "Status": "Enabled",
                "Filter": {"Prefix": ""},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": LIFECYCLE_DAYS},
            },
            EXPIRE_UPLOADS_RULE: {
                "ID": EXPIRE_UPLOADS_RULE,
                "Status": "Enabled",
                "Filter": {"Prefix": UPLOADS_PREFIX},
                "Expiration": {"Days": LIFECYCLE_DAYS},
            },
        }
        rules = [rule for rule in current if rule.get("ID") not in ours] + list(ours.values())
        self.client.put_bucket_lifecycle_configuration(
            Bucket=self.bucket, LifecycleConfiguration={"Rules": rules}
        )

    def ping(self) -> None:
        """Raise unless the bucket answers (one quick attempt, for readiness checks)."""
        self._probe_client().head_bucket(Bucket=self.bucket)

    def _probe_client(self) -> Any:
        """A client for readiness probes: one attempt, short timeouts (built on first use)."""
        with self._probe_lock:
            if self._probe is None:
                self._probe = self._new_client(
                    self.settings.S3_ENDPOINT_URL,
                    self._config.merge(
                        Config(
                            retries={"mode": "standard", "total_max_attempts": 1},
                            connect_timeout=PROBE_TIMEOUT_S,
                            read_timeout=PROBE_TIMEOUT_S,
                        )
                    ),
                )
            return self._probe

    def _new_client(self, endpoint_url: str, config: Config) -> Any:
        """An S3 client with this storage's credentials, from the process's boto3 session."""
        with _SESSION_LOCK:
            return _boto3_session().client(
                "s3",
                endpoint_url=endpoint_url,
                aws_access_key_id=self.settings.AWS_ACCESS_KEY_ID,
                aws_secret_access_key=self.settings.AWS_SECRET_ACCESS_KEY.get_secret_value(),
                region_name=self.settings.AWS_REGION,
                config=config,
            )

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
            if is_not_found(exc):
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

    def copy(self, source_key: str, key: str) -> None:
        """Copy an object within the bucket, server side (one request, objects <= 5 GiB)."""
        self.client.copy_object(
            Bucket=self.bucket,
            Key=key,
            CopySource={"Bucket": self.bucket, "Key": source_key},
            MetadataDirective="COPY",
        )

    def objects_under(self, prefix: str) -> Iterator[tuple[str, datetime]]:
        """Key and last-modified time of every object under `prefix`."""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield item["Key"], item["LastModified"]

    def delete_job_objects(self, job_id: str | uuid.UUID) -> list[str]:
        """Delete every object under the job's prefixes; returns the deleted keys, sorted."""
        keys = [key for prefix in job_prefixes(job_id) for key, _ in self.objects_under(prefix)]
        self.delete_keys(keys, what=f"job {job_id}")
        return sorted(keys)

    def delete_keys(self, keys: list[str], *, what: str = "objects") -> None:
        """Delete these objects (missing ones are fine); raise if storage refuses any."""
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
                    f"could not delete {len(errors)} object(s) of {what}, "
                    f"first {first.get('Key')}: {first.get('Code')} {first.get('Message')}"
                )

    def abort_stale_multipart_uploads(
        self, older_than_s: float, *, seen: dict[str, float] | None = None
    ) -> int:
        """Abort multipart uploads that got no part for `older_than_s` (their uploader, e.g.
        a killed gateway, is gone: S3 would keep the parts forever); returns how many.

        `seen`, kept by the caller across repeated rounds: when each upload first looked stale
        (monotonic time). An upload is then aborted only once it has looked stale for
        `older_than_s` by this process's clock too, so a storage whose `Initiated` is wrong
        (moto reports a fixed old date; a skewed clock) never loses a live upload.
        """
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
        now, candidates, aborted = time.monotonic(), set(), 0
        paginator = self.client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.bucket):
            for upload in page.get("Uploads", []):
                if upload["Initiated"] >= cutoff:
                    continue
                key, upload_id = upload["Key"], upload["UploadId"]
                parts = self.client.list_parts(Bucket=self.bucket, Key=key, UploadId=upload_id).get(
                    "Parts", []
                )
                if any(part["LastModified"] >= cutoff for part in parts):
                    continue
                candidates.add(upload_id)
                if seen is not None and now - seen.setdefault(upload_id, now) < older_than_s:
                    continue
                try:
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=key, UploadId=upload_id
                    )
                    aborted += 1
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                        raise
        if seen is not None:
            for upload_id in set(seen) - candidates:
                del seen[upload_id]  # finished, aborted, or alive again
        return aborted

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
