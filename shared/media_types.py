"""Recognise video containers from their first bytes, without any video library.

The gateway uses this to refuse obvious non-videos (415) before queueing; the pipeline uses
it to tell "not a video at all" from "a video container that is broken".
"""

from __future__ import annotations

SNIFF_BYTES = 512  # what every reader hands `sniff_container`: all its signatures fit (TS: 189)

# ISO BMFF (MP4, MOV, 3GP) top-level boxes that can open a file.
_ISO_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"}

VIDEO_EXTENSIONS = {
    ".mp4",
    ".m4v",
    ".mov",
    ".avi",
    ".webm",
    ".mkv",
    ".3gp",
    ".mpg",
    ".mpeg",
    ".ts",
    ".flv",
    ".ogv",
}


def sniff_container(head: bytes) -> str | None:
    """Name the container family the bytes start with, or None when none is recognised."""
    if len(head) >= 8 and head[4:8] in _ISO_BOXES:
        return "mp4"
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
        return "avi"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"  # also WebM
    if head[:4] == b"OggS":
        return "ogg"
    if head[:3] == b"FLV":
        return "flv"
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):
        return "mpeg"
    if len(head) >= 189 and head[0] == 0x47 and head[188] == 0x47:
        return "mpegts"
    return None
