"""Streaming `multipart/form-data` reader that sends the video part straight to S3.

`UploadFile`/`request.form()` spool the whole body to disk before the route runs, so a size
check there comes too late. Here the body is read chunk by chunk from `request.stream()`,
parsed with python-multipart's `MultipartParser`, and the file part goes into a
`MultipartWriter` (one 8 MiB part in memory at most) as it arrives:

- bytes are counted as they come; past the limit the S3 upload is aborted (413); a pause
  longer than the idle timeout is answered 408 and aborts it too;
- the file's SHA-256 is computed on the way (the idempotency fingerprint); with
  `store=False` the file is only hashed, nothing is stored (a replayed request);
- the first bytes are sniffed before anything is stored: not a video container, 415;
- small text fields are capped and validated as soon as each one ends;
- the object is completed only once the whole body was parsed and every field is valid,
  so a request refused for any reason leaves nothing behind in the bucket.

boto3 calls block, so the writer runs in worker threads, never on the event loop.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, cast

import anyio
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from api.body_stream import with_idle_timeout
from api.errors import APIError
from api.multipart_writer import MultipartWriter
from shared.media_types import SNIFF_BYTES, sniff_container
from shared.storage import MiB, Storage

log = logging.getLogger(__name__)

WRITE_BATCH_BYTES = 1 * MiB  # hand file data to the writer thread in batches of this size
FIELD_MAX_BYTES = 16 * 1024  # any text field
MAX_PARTS = 16
# Room for boundaries, part headers and the text fields on top of the file itself, when
# comparing a Content-Length (or the bytes received) with the file size limit.
BODY_OVERHEAD_BYTES = MAX_PARTS * FIELD_MAX_BYTES + 64 * 1024

CONTAINER_CONTENT_TYPES = {
    "mp4": "video/mp4",
    "avi": "video/x-msvideo",
    "matroska": "video/x-matroska",
    "ogg": "video/ogg",
    "flv": "video/x-flv",
    "mpeg": "video/mpeg",
    "mpegts": "video/mp2t",
}
_VIDEO_MIME_RE = re.compile(r"^video/[a-z0-9][a-z0-9.+-]{0,100}$")


def max_file_bytes(max_upload_mb: int) -> int:
    return max_upload_mb * MiB


def too_large(limit: int) -> APIError:
    return APIError(
        413,
        "file_too_large",
        f"the video is larger than the limit of {limit // MiB} MiB",
        details={"max_bytes": limit},
    )


def not_a_video() -> APIError:
    return APIError(
        415,
        "not_a_video",
        "the file is not a video container this service can read "
        "(MP4/MOV, WebM/MKV, AVI, MPEG, MPEG-TS, FLV, Ogg)",
    )


def empty_file() -> APIError:
    return APIError(400, "empty_file", "the video file is empty")


def clean_filename(raw: str | None) -> str | None:
    """A client's file name reduced to a display-safe base name (<= 255 chars), or None."""
    if not raw:
        return None
    name = PurePosixPath(PureWindowsPath(raw).name).name  # drop any directory, / or \
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    name = name.strip().strip(".")
    if not name:
        return None
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        name = f"{stem[: 254 - len(ext)]}.{ext}" if dot and 0 < len(ext) <= 16 else name[:255]
    return name


def video_content_type(declared: str | None, container: str) -> str:
    """The declared Content-Type when it is a plausible `video/*`, else the container's."""
    if declared:
        base = declared.split(";", 1)[0].strip().lower()
        if _VIDEO_MIME_RE.match(base):
            return base
    return CONTAINER_CONTENT_TYPES.get(container, "application/octet-stream")


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


@dataclass
class ReceivedVideo:
    """The stored video part."""

    key: str
    filename: str | None
    content_type: str
    container: str
    size: int
    sha256: str


@dataclass
class ReceivedForm:
    video: ReceivedVideo
    fields: dict[str, Any] = field(default_factory=dict)  # validated values, by field name


@dataclass
class _FilePart:
    filename: str | None
    declared_type: str | None


@dataclass
class _FieldPart:
    name: str
    data: bytearray = field(default_factory=bytearray)


class VideoFormReader:
    """Reads one multipart body: one file field (`file_field`) plus small text fields.

    `field_parsers` maps a text field's name to a function validating its value (raising
    `APIError`); fields not listed are read (capped) and ignored. `key_for(filename)` names
    the S3 object. Use once: `form = await reader.read(request.stream(), boundary)`.
    """

    def __init__(
        self,
        storage: Storage,
        *,
        key_for: Callable[[str | None], str],
        max_bytes: int,
        field_parsers: Mapping[str, Callable[[str], Any]],
        idle_timeout_s: float,
        store: bool = True,
        file_field: str = "video",
    ):
        self._storage = storage
        self._idle_timeout_s = idle_timeout_s
        self._store = store
        self._digest = hashlib.sha256()
        self._key_for = key_for
        self._max_bytes = max_bytes
        self._max_body_bytes = max_bytes + BODY_OVERHEAD_BYTES
        self._field_parsers = field_parsers
        self._file_field = file_field

        self._fields: dict[str, Any] = {}
        self._part: _FilePart | _FieldPart | None = None
        self._headers: dict[bytes, bytes] = {}
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._part_count = 0
        self._ended = False

        self._file: _FilePart | None = None
        self._file_ended = False
        self._file_size = 0
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._container: str | None = None
        self._writer: MultipartWriter | _HashOnly | None = None

    async def read(self, chunks: AsyncIterator[bytes], boundary: bytes) -> ReceivedForm:
        """Parse the body, store the video, return it with the validated fields.

        Raises `APIError` (nothing is left in storage then) for every refusal.
        """
        try:
            parser = MultipartParser(boundary, callbacks=cast(Any, self._callbacks()))
            received = 0
            async for chunk in with_idle_timeout(chunks, self._idle_timeout_s):
                if not chunk:
                    continue
                received += len(chunk)
                if received > self._max_body_bytes:
                    raise too_large(self._max_bytes)
                try:
                    parser.write(chunk)
                except MultipartParseError as exc:
                    raise APIError(
                        400, "malformed_multipart", f"malformed multipart body: {exc}"
                    ) from None
                await self._flush()
                if self._ended:
                    break  # anything after the closing boundary is an epilogue: ignore it
            parser.finalize()
            if not self._ended:
                raise APIError(
                    400,
                    "malformed_multipart",
                    "the multipart body ended before its closing boundary",
                )
            if self._file is None:
                raise APIError(
                    422,
                    "missing_file",
                    f"send the video as the multipart file field `{self._file_field}`",
                )
            await self._flush()
            assert self._writer is not None and self._container is not None
            size = await anyio.to_thread.run_sync(self._writer.complete)
        except ClientDisconnect:
            await self._abort()
            raise APIError(
                400, "upload_interrupted", "the client disconnected before the upload finished"
            ) from None
        except BaseException:
            await self._abort()
            raise
        video = ReceivedVideo(
            key=self._writer.key,
            filename=self._file.filename,
            content_type=self._writer.content_type,
            container=self._container,
            size=size,
            sha256=self._digest.hexdigest(),
        )
        return ReceivedForm(video=video, fields=self._fields)

    # --- sending the file ---

    async def _flush(self) -> None:
        """Sniff the file once enough of it arrived, then pass buffered bytes to the writer."""
        if self._file is None:
            return
        if self._writer is None:
            if self._file_ended and self._file_size == 0:
                raise empty_file()
            if self._pending_size < SNIFF_BYTES and not self._file_ended:
                return
            head = b"".join(self._pending)
            self._pending = [head]
            container = sniff_container(head[:SNIFF_BYTES])
            if container is None:
                raise not_a_video()
            self._container = container
            key = self._key_for(self._file.filename)
            content_type = video_content_type(self._file.declared_type, container)
            self._writer = (
                MultipartWriter(self._storage, key, content_type=content_type)
                if self._store
                else _HashOnly(key, content_type)
            )
        if self._pending and (self._pending_size >= WRITE_BATCH_BYTES or self._file_ended):
            data = b"".join(self._pending)
            self._pending, self._pending_size = [], 0
            await anyio.to_thread.run_sync(self._write, data)

    def _write(self, data: bytes) -> None:
        """In a worker thread: hash the bytes and hand them to the writer."""
        assert self._writer is not None
        self._digest.update(data)
        self._writer.write(data)

    async def _abort(self) -> None:
        """Drop buffered bytes and any uploaded parts; never raises, survives cancellation."""
        self._pending, self._pending_size = [], 0
        writer, self._writer = self._writer, None
        if writer is None:
            return
        with anyio.CancelScope(shield=True):
            try:
                await anyio.to_thread.run_sync(writer.abort)
            except Exception:
                log.warning("could not abort the upload of %s", writer.key, exc_info=True)

    # --- parser callbacks (synchronous, called from `parser.write`) ---

    def _callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self._on_part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
            "on_end": self._on_end,
        }

    def _on_part_begin(self) -> None:
        self._part_count += 1
        if self._part_count > MAX_PARTS:
            raise APIError(400, "malformed_multipart", f"more than {MAX_PARTS} form parts")
        self._part = None
        self._headers = {}

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        name = bytes(self._header_name).strip().lower()
        self._headers[name] = bytes(self._header_value).strip()
        self._header_name, self._header_value = bytearray(), bytearray()

    def _on_headers_finished(self) -> None:
        disposition, params = parse_options_header(self._headers.get(b"content-disposition"))
        if disposition != b"form-data" or b"name" not in params:
            raise APIError(
                400, "malformed_multipart", "a form part lacks `Content-Disposition: form-data`"
            )
        name = _decode(params[b"name"])
        if name != self._file_field:
            self._part = _FieldPart(name)
            return
        if self._file is not None:
            raise APIError(400, "multiple_files", f"send exactly one `{self._file_field}` file")
        filename = params.get(b"filename")
        declared = self._headers.get(b"content-type")
        self._file = _FilePart(
            filename=clean_filename(_decode(filename)) if filename else None,
            declared_type=declared.decode("latin-1") if declared else None,
        )
        self._part = self._file

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        size = end - start
        if isinstance(part, _FilePart):
            self._file_size += size
            if self._file_size > self._max_bytes:
                raise too_large(self._max_bytes)
            self._pending.append(bytes(data[start:end]))
            self._pending_size += size
        elif isinstance(part, _FieldPart):
            if len(part.data) + size > FIELD_MAX_BYTES:
                raise APIError(
                    413,
                    "field_too_large",
                    f"form field `{part.name}` is larger than {FIELD_MAX_BYTES} bytes",
                )
            part.data += data[start:end]

    def _on_part_end(self) -> None:
        part, self._part = self._part, None
        if isinstance(part, _FilePart):
            self._file_ended = True
        elif isinstance(part, _FieldPart) and part.name in self._field_parsers:
            if part.name in self._fields:
                raise APIError(422, "duplicate_field", f"form field `{part.name}` sent twice")
            try:
                value = bytes(part.data).decode("utf-8")
            except UnicodeDecodeError:
                raise APIError(
                    422, "validation_error", f"form field `{part.name}` is not UTF-8 text"
                ) from None
            self._fields[part.name] = self._field_parsers[part.name](value)

    def _on_end(self) -> None:
        self._ended = True


class _HashOnly:
    """Stands in for the S3 writer when nothing is to be stored: counts the bytes."""

    def __init__(self, key: str, content_type: str):
        self.key, self.content_type, self._size = key, content_type, 0

    def write(self, data: bytes) -> None:
        self._size += len(data)

    def complete(self) -> int:
        return self._size

    def abort(self) -> None:
        pass


def multipart_boundary(content_type: str) -> bytes | None:
    """The boundary of a `multipart/form-data` Content-Type, or None if it is not one."""
    media_type, params = parse_options_header(content_type)
    if media_type != b"multipart/form-data":
        return None
    boundary = params.get(b"boundary")
    if not boundary:
        raise APIError(400, "malformed_multipart", "multipart/form-data without a boundary")
    return boundary
