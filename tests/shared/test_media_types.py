"""Containers recognised from their first `SNIFF_BYTES` bytes, by every reader alike: the
multipart stream, a presigned upload's head in storage, the pipeline's open."""

from __future__ import annotations

import pytest

from shared.media_types import SNIFF_BYTES, sniff_container

HEADS = {
    "mp4": b"\x00\x00\x00\x18ftypmp42" + bytes(16),
    "avi": b"RIFF\x00\x00\x00\x00AVI LIST",
    "matroska": b"\x1a\x45\xdf\xa3\x01\x00",
    "ogg": b"OggS\x00\x02",
    "flv": b"FLV\x01\x05",
    "mpeg": b"\x00\x00\x01\xba\x44\x00",
    "mpegts": (b"\x47" + bytes(187)) * 3,  # 188-byte packets, each opening with 0x47
}


@pytest.mark.parametrize("container", sorted(HEADS))
def test_every_container_is_told_from_the_bytes_every_reader_hands_over(container):
    head = (HEADS[container] + bytes(SNIFF_BYTES))[:SNIFF_BYTES]
    assert sniff_container(head) == container


def test_text_is_no_container():
    assert sniff_container(b"<!doctype html>" + bytes(SNIFF_BYTES)) is None
