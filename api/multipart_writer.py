"""Stream a request body of unknown length to one S3 object (the gateway's uploads)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.storage import DEFAULT_PART_SIZE, MIN_PART_SIZE, Storage

MAX_S3_PARTS = 10_000  # S3's limit of parts per multipart upload


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
        if part_number > MAX_S3_PARTS:
            raise ValueError(f"more than {MAX_S3_PARTS} parts: use a larger part_size")
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
