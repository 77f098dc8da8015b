"""Test footage: clips made on the fly from scikit-image's photos, the shared street video, and
small hostile files that would cost a worker dearly if they were decoded."""

from __future__ import annotations

import os
import subprocess
import sys
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


# One black 16000x16000 H.264 frame: a 750 KB file that decodes to a 384 MB picture. Made in a
# subprocess, so the encoder's 1.5 GB peak stays out of this process's high-water mark.
_GIANT_FRAME_CLIP = """
import sys
import av
with av.open(sys.argv[1], "w") as out:
    stream = out.add_stream("libx264", rate=1)
    stream.width = stream.height = 16000
    stream.pix_fmt = "yuv420p"
    stream.options = {"preset": "ultrafast", "crf": "51"}
    frame = av.VideoFrame(16000, 16000, "yuv420p")
    for plane in frame.planes:
        plane.update(bytes(plane.buffer_size))
    frame.pts = 0
    out.mux(stream.encode(frame))
    out.mux(stream.encode(None))
"""


def giant_frame_clip(path: Path) -> Path:
    """One black 16000x16000 H.264 frame: ~750 KB on disk, a 384 MB picture decoded."""
    subprocess.run([sys.executable, "-c", _GIANT_FRAME_CLIP, str(path)], check=True, timeout=120)
    return path


def black_clip(path, *, fps: int, frames: int, side: int = 64) -> str:
    """Identical black frames, so even thousands of them encode in a moment into a few KB."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width = stream.height = side
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast"}
        frame = av.VideoFrame(side, side, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        for i in range(frames):
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return str(path)


__all__ = [
    "black_clip",
    "giant_frame_clip",
    "make_clip",
    "probe",
    "shared_file",
    "STREET_VIDEO",
    "PERSON_PHOTO",
]
