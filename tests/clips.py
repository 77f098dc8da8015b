"""Test footage: clips made on the fly from scikit-image's photos, the shared street video, and
small hostile files that would cost a worker dearly if they were decoded."""

from __future__ import annotations

import os
from pathlib import Path

import av
import pytest

from pipeline.video.samples import make_clip

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
STREET_VIDEO = SHARED_DATA / "street_people_720p.avi"
PERSON_PHOTO = SHARED_DATA / "person_photo.jpg"


def shared_file(path: Path) -> Path:
    """A file of ../shared/data; skipped with a plain reason when absent, failed under CI."""
    if not path.exists():
        message = (
            f"{path} is absent: this test needs the shared footage beside the checkout "
            "(../shared/data), which CI provides"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def probe(path: str | os.PathLike) -> dict:
    """What a player would see: streams, codecs, sizes, frame count and frame times."""
    with av.open(os.fspath(path)) as container:
        video = container.streams.video[0]
        times = [float(f.pts * f.time_base) for f in container.decode(video)]
    with av.open(os.fspath(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        return {
            "format": container.format.name,
            "codec": video.codec_context.name,
            "pix_fmt": video.codec_context.pix_fmt,
            "width": video.codec_context.width,
            "height": video.codec_context.height,
            "frames": len(times),
            "times": times,
            "audio_codec": audio.codec_context.name if audio else None,
            "audio_duration_s": float(audio.duration * audio.time_base)
            if audio and audio.duration
            else None,
        }


__all__ = [
    "make_clip",
    "probe",
    "shared_file",
    "STREET_VIDEO",
    "PERSON_PHOTO",
]
