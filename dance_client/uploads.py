"""What `submit` accepts as a video (a path, bytes, or a binary file object), read in chunks
with a progress callback, and rewound when a request is sent again."""

from __future__ import annotations

import io
import mimetypes
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

UploadCallback = Callable[[int, "int | None"], Any]  # (bytes sent, total bytes or None)

VideoSource = str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes]


class Upload:
    """One video to send: its name, size (None when it cannot be known), content type, and
    fresh readers over it (`reader()`), each counting what it hands out."""

    def __init__(self, video: VideoSource, filename: str | None = None):
        self._opened: IO[bytes] | None = None
        self._file: IO[bytes]
        if isinstance(video, str | os.PathLike):
            path = Path(video)
            self._opened = self._file = path.open("rb")
            default_name = path.name
        elif isinstance(video, bytes | bytearray | memoryview):
            self._file = io.BytesIO(bytes(video))
            default_name = "video.mp4"
        elif hasattr(video, "read"):
            if isinstance(video, io.TextIOBase):
                raise TypeError("open the video in binary mode ('rb')")
            self._file = video
            default_name = os.path.basename(str(getattr(video, "name", "") or "")) or "video.mp4"
        else:
            raise TypeError(
                f"a video is a path, bytes or a binary file, not {type(video).__name__}"
            )
        self.name = filename or default_name
        self._start = self._tell()
        self.size = self._measure()
        guessed, _ = mimetypes.guess_type(self.name)
        self.content_type = guessed if guessed and guessed.startswith("video/") else "video/mp4"

    @property
    def rewindable(self) -> bool:
        """A second request can send the file again from its start."""
        return self._start is not None

    def reader(self, on_progress: UploadCallback | None = None) -> _CountingReader:
        """A reader from the file's start (rewound if an earlier request read some)."""
        if self._start is not None:
            self._file.seek(self._start)
        return _CountingReader(self._file, self.size, on_progress, self._start)

    def close(self) -> None:
        if self._opened is not None:
            self._opened.close()

    def __enter__(self) -> Upload:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _tell(self) -> int | None:
        try:
            return self._file.tell() if self._file.seekable() else None
        except (OSError, AttributeError, ValueError):
            return None

    def _measure(self) -> int | None:
        if self._start is None:
            return None
        end = self._file.seek(0, os.SEEK_END)
        self._file.seek(self._start)
        return end - self._start


class _CountingReader:
    """A file-like object over the upload that reports each chunk read. httpx reads it for a
    multipart body, and measures it with `tell`/`seek` for the Content-Length."""

    def __init__(self, file: IO[bytes], size: int | None, on_progress, start: int | None):
        self._file, self._size, self._on_progress = file, size, on_progress
        self._start = start or 0
        self.sent = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._file.read(size)
        if chunk:
            self.sent += len(chunk)
            if self._on_progress is not None:
                self._on_progress(self.sent, self._size)
        return chunk

    def tell(self) -> int:
        return self.sent

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Only what httpx does to measure the body: to the end and back to where it was."""
        if self._size is None:
            raise io.UnsupportedOperation("the size of this stream is unknown")
        if whence == os.SEEK_END and offset == 0:
            return self._size
        if whence == os.SEEK_SET and offset == self.sent:
            return self.sent
        raise io.UnsupportedOperation("the upload is read once, from its start")
