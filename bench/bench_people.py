"""Speed with several dancers: the pipeline at `max_people` 1, 2 and 4, measured in one run on
the same clips; the ratio of each to `max_people` 1 (the single-person solution, the baseline).

    python bench/bench_people.py [--video PATH] [--repeat 3]

Clips:
- duo: two dancers side by side (`pipeline.video.samples.DUO`), 640x240, 90 frames at 15 fps;
- street: the shared street footage (1280x720, 50 fps, 205 frames, pedestrians), when present.

Each run is `analyze_video` without the analysis step (its cost does not depend on the number
of people that much, and is measured by bench_analysis.py), in this process after a warm-up
run, so model loading is not counted. Prints frames per second (median of --repeat runs), the
ratio to max_people 1 and the mean number of people found per frame. Then the estimator
alone on the duo clip: with its regions of interest (a scan of the tiles every 10th frame) and
scanning the tiles on every frame, which is what the regions of interest save. Then the
estimator alone on one dancer with room for two, with and without the slower scans once
they keep finding nobody (`quiet_scans`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.people.multi_pose import MultiPoseEstimator  # noqa: E402
from pipeline.runner import PipelineOptions, analyze_video  # noqa: E402
from pipeline.video.samples import DUO, make_clip, render_frames  # noqa: E402

DEFAULT_VIDEO = ROOT.parent / "shared" / "data" / "street_people_720p.avi"
PEOPLE = (1, 2, 4)


def measure(clip: Path, out: Path, max_people: int, repeat: int) -> tuple[float, float]:
    """(median frames/s, mean people found per frame)."""
    options = PipelineOptions(max_people=max_people, analysis=None)
    analyze_video(clip, out, options)  # warm-up: model files, first graph
    speeds, people = [], 0.0
    for _ in range(repeat):
        started = time.perf_counter()
        result = analyze_video(clip, out, options)
        speeds.append(result.metrics["processed_frames"] / (time.perf_counter() - started))
        people = result.metrics.get("mean_people_per_frame", result.metrics["detection_rate"])
    return statistics.median(speeds), people


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; median of {args.repeat} runs after a warm-up")
    with tempfile.TemporaryDirectory() as tmp:
        clips = {
            "duo 640x240": Path(
                make_clip(
                    Path(tmp) / "duo.mp4", person=DUO, width=640, height=240, frames=90, fps=15
                )
            )
        }
        if args.video.exists():
            clips["street 1280x720"] = args.video
        else:
            print(f"{args.video} is absent: the street footage is left out")
        print(
            f"{'clip':<16} {'max_people':>10} {'frames/s':>9} {'ms/frame':>9} "
            f"{'ratio':>6} {'people/frame':>13}"
        )
        for name, clip in clips.items():
            baseline = None
            for max_people in PEOPLE:
                fps, people = measure(clip, Path(tmp) / "out", max_people, args.repeat)
                baseline = baseline or fps
                print(
                    f"{name:<16} {max_people:>10} {fps:>9.1f} {1000 / fps:>9.1f} "
                    f"{fps / baseline:>6.2f} {people:>13.2f}"
                )
        print("estimator alone, duo 640x240, max_people 4:")
        frames = list(render_frames(DUO, width=640, height=240, frames=90))
        for label, every in (("regions of interest", (10, 20)), ("tiles on every frame", (1, 1))):
            with MultiPoseEstimator(
                640, 240, max_people=4, scan_every=every[0], quiet_scan_every=every[1]
            ) as estimator:
                estimator.estimate(frames[0], 0)
                started = time.perf_counter()
                for i, rgb in enumerate(frames[1:], start=1):
                    estimator.estimate(rgb, i * 66)
                ms = (time.perf_counter() - started) / (len(frames) - 1) * 1000
            print(f"  {label:<22} {ms:6.1f} ms/frame")
        quiet_scans(args.repeat)
    return 0


def quiet_scans(repeat: int) -> None:
    """The estimator alone on one dancer with room for two (`bench.tracking_scenes.row(1)`,
    300 frames): scans every 10th frame throughout (the baseline) against every 20th once
    three found nobody (`quiet_scan_every`), runs interleaved, median of `repeat`."""
    from bench import tracking_scenes as scenes

    print("estimator alone, one dancer, max_people 2:")
    for height in (720, 1080):
        frames = [rgb for rgb, _ in scenes.row(1, frames=300).render(height)]
        width = frames[0].shape[1]
        speeds: dict[int, list[float]] = {10: [], 20: []}
        scans: dict[int, int] = {}
        for _ in range(repeat):
            for quiet in speeds:
                with MultiPoseEstimator(
                    width, height, max_people=2, quiet_scan_every=quiet
                ) as estimator:
                    started = time.perf_counter()
                    for i, rgb in enumerate(frames):
                        estimator.estimate(rgb, i * 33)
                    speeds[quiet].append(len(frames) / (time.perf_counter() - started))
                    scans[quiet] = estimator.scans
        baseline = statistics.median(speeds[10])
        for quiet, runs in speeds.items():
            fps = statistics.median(runs)
            print(
                f"  {height}p, quiet scans every {quiet:>2} frames: {scans[quiet]:>3} scans, "
                f"{fps:6.1f} frames/s, {fps / baseline:5.2f}x"
            )


if __name__ == "__main__":
    sys.exit(main())
