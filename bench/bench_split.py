"""A long video split across worker processes: wall time against the unsplit run, in one run.

    python bench/bench_split.py [--video PATH] [--seconds 60] [--size 1920x1080]
                                [--segment-seconds 30] [--workers 1,2,3]

1. clip: the shared street video scaled to --size, looped to --seconds at 30 fps, a keyframe
   every second (as phones write them), H.264.
2. unsplit: `analyze_video` on the whole clip in one worker process (the baseline).
3. split with N worker processes, for each N of --workers: the segments of
   `plan_segments(segment_s=--segment-seconds)` run as separate calls spread over N
   processes (as Celery spreads a job's segment tasks over idle workers), then `stitch`.
   The clock starts when every process is up with the pipeline imported (a worker is
   already running when a job comes) and stops when the stitched outputs are written.

Without the analysis step in either (it runs once in both; bench_analysis.py measures it).
Prints the wall times, the speedup (unsplit / split), the frames per second, and the cores
the run kept busy (CPU time of the worker processes / wall time): a split can only be faster
where one run leaves cores idle.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, wait
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_pipeline import DEFAULT_VIDEO, scaled_clip  # noqa: E402
from pipeline.runner import PipelineOptions, analyze_video  # noqa: E402
from pipeline.segments.cuts import plan_segments  # noqa: E402
from pipeline.segments.stitch import stitch  # noqa: E402

OPTIONS = PipelineOptions(analysis=None)


def _ready(_: int) -> int:
    time.sleep(0.2)  # long enough for the calls to spread over every process
    return os.getpid()


def _run(clip: str, out: str, segment=None) -> int:
    result = analyze_video(clip, out, OPTIONS, segment=segment)
    return int(result.metrics["processed_frames"])


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(workers: int, jobs: list[tuple], then=None) -> tuple[float, float]:
    """(wall time, cores kept busy) of `jobs` (argument tuples of `_run`) spread over
    `workers` processes that are already up, plus `then()` after them. The CPU time counts
    the processes' start too (they have ended when it is read): a little over."""
    context = multiprocessing.get_context("spawn")
    cpu_before = _cpu_s()
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        while len(set(pool.map(_ready, range(4 * workers)))) < workers:
            pass  # every process started and imported the pipeline
        started = time.perf_counter()
        wait([pool.submit(_run, *job) for job in jobs])
        if then is not None:
            then()
        wall = time.perf_counter() - started
    return wall, (_cpu_s() - cpu_before) / wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--segment-seconds", type=float, default=30)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        loops = max(1, round(args.seconds * 30 / 205))
        clip = scaled_clip(args.video, folder / "clip.mp4", width, height, 205, loops, 30)
        frames = 205 * loops
        plan = plan_segments(clip, segment_s=args.segment_seconds, min_s=0)
        print(
            f"machine: {os.cpu_count()} cores; clip {width}x{height}, {frames} frames "
            f"({frames / 30:.0f} s at 30 fps); {len(plan)} segments of about "
            f"{args.segment_seconds:g} s"
        )
        unsplit, cores = timed(1, [(str(clip), str(folder / "whole"))])
        print(f"{'run':<26} {'wall s':>7} {'frames/s':>9} {'speedup':>8} {'cores busy':>11}")
        print(
            f"{'unsplit, 1 worker':<26} {unsplit:>7.1f} {frames / unsplit:>9.1f} {1.0:>8.2f} "
            f"{cores:>11.2f}"
        )
        for workers in (int(n) for n in args.workers.split(",")):
            dirs = [folder / f"w{workers}-segment-{s.index}" for s in plan]
            jobs = [(str(clip), str(d), s) for d, s in zip(dirs, plan, strict=True)]
            wall, cores = timed(
                workers, jobs, lambda dirs=dirs: stitch(clip, dirs, folder / "stitched", OPTIONS)
            )
            label = f"split, {workers} worker{'s' if workers > 1 else ''}"
            print(
                f"{label:<26} {wall:>7.1f} {frames / wall:>9.1f} {unsplit / wall:>8.2f} "
                f"{cores:>11.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
