"""Several dancers followed: recall, identity and speed, per clip, on footage of real people
with its ground truth (`bench/tracking_scenes.py`), scored with motmetrics
(`bench/tracking_score.py`).

    python bench/bench_tracking.py [--no-speed | --speed-only] [--only NAME] [--crf 17,18,...]
                                   [--repeat 3] [--model full]
    python bench/bench_tracking.py --marks [--repeat 3]

Tracking (`analyze_video` with `max_people` = the people in the clip):
- side by side: the issue's case, two dancers in two halves of a 640x240 frame, 500 frames;
- crossing: two dancers walking across each other, the first hidden behind the second
  three times (426x240);
- leaves and returns: one dancer walks off the stage for 3 s and comes back (426x240);
- 4 in a row: four dancers (two of them mirrored twins of the others), 852x480, and the
  same at 426x240, where they are 96 px tall.

Robustness (`--crf`): each tracking clip encoded at each of those x264 qualities (the table's
clips are crf 20; one encoding is one draw of the compression noise the model sees), and how
many of the runs meet the issue's bar: every dancer found in 90 % of the frames where they
are visible, one id each, no switch, IDF1 >= 0.9.

Speed (unless --no-speed): 1, 2 and 4 dancers in a row at 720p and 1080p, 300 frames, frames
per second of the whole pipeline (decode, model, overlay, encode; no analysis step), the
median of --repeat rounds (each round runs every case once), and the ratio to the
single-person solution on the same clip with one dancer, measured in the same run: the
baseline. `--model`: the pose model of every speed case, the baseline's too (lite, full,
heavy).

Step marks (`--marks`, alone; needs ../shared/data/dancers): the cost of drawing each
dancer's in/out of step marker into annotated.mp4 once the group is known
(`pipeline.video.step_marks`, a second pass over the video): the shared footage's girl
beside herself 0.2 s later (two dancers, 8 s, 240 frames, the tests' case) at its size
(360x640) and three times it (1080x1920, a phone's portrait video), the whole pipeline with
its analysis, with and without the pass (median of --repeat, alternating), the pass's own
time and the ratio; and the quality: the PSNR of the marked video against the same run at
CRF 1 (nearly lossless), and of the unmarked video encoded a second time (what drawing the
markers over annotated.mp4 instead of from the input would cost) against its CRF 1 run.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import compare_takes as takes  # noqa: E402
from bench import tracking_scenes as scenes  # noqa: E402
from bench.tracking_score import meets_the_bar, score, tracked_necks  # noqa: E402
from pipeline.runner import PipelineOptions, analyze_video  # noqa: E402
from pipeline.video.sink import VideoSink  # noqa: E402
from pipeline.video.source import DecodedFrame, DecodeStats, open_video  # noqa: E402

TRACKING = (
    scenes.side_by_side,
    scenes.crossing,
    scenes.leave_and_return,
    lambda: scenes.row(4),
    lambda: scenes.row(4, height=240),
)
SPEED = ((1, 1), (1, 2), (2, 2), (4, 4))  # (dancers in view, max_people)


def run(
    scene: scenes.Scene,
    height: int,
    max_people: int,
    tmp: Path,
    crf: int = 20,
    model: str = "full",
) -> tuple[dict, float]:
    """The scene's scores and the pipeline's frames per second."""
    slug = scene.name.replace(" ", "-")
    clip = tmp / f"{slug}-{height}-{crf}.mp4"
    truth = scene.write(clip, height, crf)
    options = PipelineOptions(max_people=max_people, analysis=None, model=model)
    started = time.perf_counter()
    result = analyze_video(clip, tmp / f"{slug}-{height}-{max_people}", options)
    fps = result.metrics["processed_frames"] / (time.perf_counter() - started)
    if max_people == 1:
        return {}, fps
    return score(truth, tracked_necks(result.keypoints_path), scene.fps), fps


def row(scene: scenes.Scene, result: dict, fps: float, crf: int) -> str:
    width, height = scene.size(scene.height)
    return (
        f"{scene.name:<20} {f'{width}x{height}':>7} {crf:>3} {scene.people:>6} "
        f"{scene.frames:>6} {result['recall']:>7.1%} {result['worst_recall']:>6.1%} "
        f"{result['idf1']:>5.3f} {result['switches']:>8} "
        f"{result['switches_per_person_minute']:>11.2f} {result['ids']:>4} {fps:>5.1f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--speed-only", action="store_true", help="skip the tracking clips")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the speed cases")
    parser.add_argument("--only", help="the tracking clips whose name contains this")
    parser.add_argument("--crf", default="20", help="x264 qualities to encode each clip at")
    parser.add_argument("--model", default="full", help="the pose model of the speed cases")
    parser.add_argument("--marks", action="store_true", help="only the step marks' cost")
    args = parser.parse_args()
    crfs = [int(value) for value in args.crf.split(",")]
    print(f"machine: {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        if args.marks:
            step_marks(Path(tmp), args.repeat)
            return 0
        if not args.speed_only:
            tracking(args.only, crfs, Path(tmp))
        if not args.no_speed:
            speed(Path(tmp), args.repeat, args.model)
    return 0


def tracking(only: str | None, crfs: list[int], tmp: Path) -> None:
    print(
        f"\n{'clip':<20} {'size':>7} {'crf':>3} {'people':>6} {'frames':>6} {'recall':>7} "
        f"{'worst':>6} {'IDF1':>5} {'switches':>8} {'/person/min':>11} {'ids':>4} {'fps':>5}"
    )
    runs = passed = 0
    for make in TRACKING:
        scene = make()
        if only and only not in f"{scene.name} {scene.height}":
            continue
        for crf in crfs:
            result, fps = run(scene, scene.height, scene.people, tmp, crf)
            runs, passed = runs + 1, passed + meets_the_bar(result)
            print(row(scene, result, fps, crf) + ("" if meets_the_bar(result) else "  below"))
    print(f"\n{passed} of {runs} runs meet the bar")


def speed(tmp: Path, repeat: int, model: str) -> None:
    cases = [(height, people, most) for height in (720, 1080) for people, most in SPEED]
    measured: dict[tuple[int, int, int], list[float]] = {case: [] for case in cases}
    for _ in range(repeat):
        for height, people, most in cases:
            fps = run(scenes.row(people), height, most, tmp, model=model)[1]
            measured[height, people, most].append(fps)
    print(f"\nspeed, {model} model, median of {repeat}")
    print(f"{'size':<6} {'dancers':>7} {'max_people':>10} {'fps':>6} {'ratio':>6}")
    for height, people, most in cases:
        fps = statistics.median(measured[height, people, most])
        baseline = statistics.median(measured[height, *SPEED[0]])
        print(f"{height}p{'':<2} {people:>7} {most:>10} {fps:>6.1f} {fps / baseline:>6.2f}")


def step_marks(tmp: Path, repeat: int) -> None:
    girl = takes.decode(takes.GIRL)
    print(f"\nstep marks, two dancers, 240 frames, median of {repeat}")
    print(
        f"{'size':<9} {'without s':>9} {'with s':>7} {'pass s':>6} {'ratio':>5} "
        f"{'pass fps':>8} {'PSNR':>5} {'twice':>5}"
    )
    for scale in (1.0, 3.0):
        clip = takes.beside_later(
            tmp / f"twins-{scale:g}.mp4",
            girl.frames,
            delay_frames=6,
            seconds=8,
            fps=30,
            audio=girl.audio,
            scale=scale,
        )
        times: dict[bool, list[float]] = {True: [], False: []}
        passes = []
        for _ in range(repeat):
            for marks in (False, True):
                options = PipelineOptions(max_people=2, exports=(), step_marks=marks)
                started = time.perf_counter()
                result = analyze_video(clip, tmp / f"out-{scale:g}-{marks}", options)
                times[marks].append(time.perf_counter() - started)
                if marks:
                    passes.append(result.metrics["step_marks_time_s"])
        without, with_marks = (statistics.median(times[m]) for m in (False, True))
        pass_s = statistics.median(passes)
        once, twice = _generations(clip, tmp / f"quality-{scale:g}")
        width, height = result.metrics["width"], result.metrics["height"]
        print(
            f"{f'{width}x{height}':<9} {without:>9.2f} {with_marks:>7.2f} {pass_s:>6.2f} "
            f"{with_marks / without:>5.2f} {result.metrics['processed_frames'] / pass_s:>8.0f} "
            f"{once:>5.1f} {twice:>5.1f}"
        )


def _generations(clip: Path, tmp: Path) -> tuple[float, float]:
    """PSNR (dB) against the same run at CRF 1 (nearly lossless) of: the marked video (one
    encoding, as the pass makes it); the unmarked one encoded a second time at the same
    settings (what drawing the markers over annotated.mp4 would cost)."""
    runs = {}
    for crf in (1, PipelineOptions.video_crf):
        for marks in (True, False):
            options = PipelineOptions(max_people=2, exports=(), step_marks=marks, video_crf=crf)
            runs[crf, marks] = analyze_video(clip, tmp / f"{crf}-{marks}", options).video_path
    again = tmp / "again.mp4"
    with open_video(runs[PipelineOptions.video_crf, False]) as source:
        with VideoSink(again, source.info, None, crf=PipelineOptions.video_crf) as sink:
            for item in source.items(DecodeStats()):
                if isinstance(item, DecodedFrame):
                    sink.write_frame(item.rgb, item.pts)
    once = _psnr(runs[1, True], runs[PipelineOptions.video_crf, True])
    return once, _psnr(runs[1, False], again)


def _psnr(a: Path, b: Path) -> float:
    """PSNR (dB) of b against a over every frame (RGB)."""
    squared, count = 0.0, 0
    with av.open(str(a)) as first, av.open(str(b)) as second:
        for x, y in zip(first.decode(video=0), second.decode(video=0), strict=True):
            diff = x.to_ndarray(format="rgb24").astype(np.float64) - y.to_ndarray(format="rgb24")
            squared += float((diff**2).sum())
            count += diff.size
    return 10 * math.log10(255**2 / (squared / count)) if squared else math.inf


if __name__ == "__main__":
    raise SystemExit(main())
