"""What the motion exports (motion.bvh, markers.trc, world_landmarks.csv) add to a job.

    python bench/bench_exports.py [--video PATH] [--size 1920x1080] [--frames 180] [--repeat 5]

The clip is the pipeline benchmark's (`bench_pipeline.py`: the shared street video scaled to
--size, --frames frames at 30 fps). In one process, after a warm-up video: `analyze_video` as
a job runs it (with the analysis) without any export (the baseline: keypoints.json and its
smoothed world landmarks are written either way) and with all three, interleaved, --repeat
times each. Prints the median wall times and their ratio, the landmark step's own time
(`motion_time_s`: keypoints.json, smoothing, exports) in both, and the exports' share of the
run: what they add to the landmark step over the run's time with them (the wall times'
difference is that share plus the run-to-run noise, which is larger).
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_pipeline import benchmark_clip, clip_arguments  # noqa: E402

from pipeline.analysis.music import warm_up  # noqa: E402
from pipeline.runner import PipelineOptions, analyze_video  # noqa: E402
from shared.outputs import EXPORT_FORMATS  # noqa: E402


def main() -> int:
    args = clip_arguments(__doc__, repeat=5)
    clip = benchmark_clip(args)
    if clip is None:
        return 2
    out = args.cache / "exports-out"
    warm_up()
    analyze_video(clip, out)  # the model's and the encoder's first video
    options = PipelineOptions()
    times: dict[str, list[float]] = {"none": [], "all": []}
    steps: dict[str, list[float]] = {"none": [], "all": []}
    for _ in range(args.repeat):  # interleaved, so drifting machine load hits both alike
        for name, exports in (("none", ()), ("all", EXPORT_FORMATS)):
            started = time.perf_counter()
            result = analyze_video(clip, out, replace(options, exports=exports))
            times[name].append(time.perf_counter() - started)
            steps[name].append(result.metrics["motion_time_s"])
    base, total = statistics.median(times["none"]), statistics.median(times["all"])
    sizes = {path.name: path.stat().st_size for path in result.export_paths()}
    print(
        f"clip: {clip.name}: {args.width}x{args.height}, {args.frames} frames; "
        f"median of {args.repeat}; pose found in {result.metrics['detected_frames']} frames"
    )
    print(f"{'run without exports (baseline)':36s} {base:7.3f} s   1.000")
    print(f"{'run with bvh, trc, csv':36s} {total:7.3f} s   {total / base:.3f}")
    for name, label in (("none", "without exports"), ("all", "with them")):
        step = statistics.median(steps[name])
        print(f"{'  landmark step ' + label:36s} {step:7.3f} s   ({step / base:.1%} of the run)")
    added = statistics.median(steps["all"]) - statistics.median(steps["none"])
    print(f"{'the exports: their share of the run':36s} {added:7.3f} s   ({added / total:.1%})")
    print("files: " + ", ".join(f"{name} {size / 1024:.0f} KiB" for name, size in sizes.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
