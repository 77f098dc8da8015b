"""Clips made to be costly: a giant frame, thousands of tiny black frames. For the hostile
inputs benchmark and the tests of the cost caps (which import them from here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av

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
