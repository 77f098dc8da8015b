"""What two small hostile files cost a worker, refused up front (now) against decoded (before).

    python bench/bench_hostile_inputs.py [--model-frames 200]

Files (made here, in a temporary directory):
- giant: one black 16000x16000 H.264 frame, ~750 KB, a 384 MB picture once decoded;
- fast: 64x64 at 240 frames/s for 60 s, ~200 KB, 14,400 frames.

For each, in a fresh subprocess so that the peak memory (VmHWM) is the measurement's own:
- refused: `open_video` with the service's default limits, as the worker now runs it;
- decoded (the baseline): plain `av.open` and decoding every frame, as the pipeline did
  before, without the model; for the fast clip the model's share is added as an estimate:
  its frame count times BlazePose's time per 64x64 frame, measured here on --model-frames.

Prints seconds and peak-memory growth of each, and the ratio decoded / refused.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.hostile_clips import black_clip, giant_frame_clip  # noqa: E402

_MEASURE = r"""
import json, sys, time
sys.path.insert(0, sys.argv[3])

def peak_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

import av, numpy
from pipeline.errors import VideoInputError
from pipeline.video.source import Limits, open_video
mode, path = sys.argv[1], sys.argv[2]
before, started, outcome = peak_mib(), time.perf_counter(), None
if mode == "refused":
    try:
        open_video(path, Limits()).close()
        outcome = "accepted"
    except VideoInputError as exc:
        outcome = exc.code
else:
    with av.open(path) as container:
        outcome = sum(1 for _ in container.decode(video=0))
print(json.dumps({"seconds": time.perf_counter() - started, "growth_mib": peak_mib() - before,
                  "outcome": outcome}))
"""

_MODEL = r"""
import json, sys, time
sys.path.insert(0, sys.argv[2])
import numpy
from pipeline.pose.blazepose import PoseEstimator
frames = int(sys.argv[1])
image = numpy.zeros((64, 64, 3), numpy.uint8)
with PoseEstimator() as pose:
    pose.estimate(image)
    started = time.perf_counter()
    for _ in range(frames):
        pose.estimate(image)
print(json.dumps({"seconds_per_frame": (time.perf_counter() - started) / frames}))
"""


def run(code: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, timeout=900
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-frames", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = {
            "giant (16000x16000, 1 frame)": Path(giant_frame_clip(Path(tmp) / "giant.mp4")),
            "fast (64x64, 240 fps, 60 s)": Path(
                black_clip(Path(tmp) / "fast.mp4", fps=240, frames=240 * 60)
            ),
        }
        per_frame = run(_MODEL, str(args.model_frames), str(ROOT))["seconds_per_frame"]
        print(
            f"BlazePose on a 64x64 frame: {per_frame * 1000:.1f} ms (mean of {args.model_frames})\n"
        )
        print(
            f"{'file':30s} {'size':>8s} | {'refused':>24s} | {'decoded (before)':>34s} | "
            "ratio time, memory"
        )
        for name, path in files.items():
            refused = run(_MEASURE, "refused", str(path), str(ROOT))
            decoded = run(_MEASURE, "decoded", str(path), str(ROOT))
            frames = decoded["outcome"]
            model_s = frames * per_frame if frames > 1 else 0.0
            before_s = decoded["seconds"] + model_s
            note = f" (+{model_s:.0f} s model, est.)" if model_s else ""
            print(
                f"{name:30s} {path.stat().st_size / 1024:6.0f}KB | "
                f"{refused['outcome']:>17s} {refused['seconds']:5.2f} s "
                f"{refused['growth_mib']:4.0f} MiB | "
                f"{frames:6d} frames {before_s:7.1f} s{note} {decoded['growth_mib']:4.0f} MiB | "
                f"{before_s / max(refused['seconds'], 1e-3):7.0f}x, "
                f"{decoded['growth_mib'] / max(refused['growth_mib'], 1):5.1f}x"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
