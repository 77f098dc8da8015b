"""What the analysis (angles, movement, music, angles.csv and analysis.json) adds to a job.

    python bench/bench_analysis.py [--video PATH] [--size 1920x1080] [--frames 180] [--repeat 5]

The clip is the pipeline benchmark's (`bench_pipeline.py`: the shared street video scaled to
--size, --frames frames at 30 fps) with a 120 BPM click track muxed in, so that the music
part (audio decode, beat tracking, alignment) runs too. In one process, as a worker runs
jobs: numba's compilation of the beat tracker done first (a worker does it at start,
`worker_init`), one warm-up video, then `analyze_video` without the analysis (the baseline)
and with it, interleaved, --repeat times each. Prints the median wall times, the ratio, and
the analysis step's own time; then the same step in a fresh process (the CLI's first video),
where importing librosa and loading numba's cache come on top.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_pipeline import benchmark_clip, clip_arguments  # noqa: E402

from pipeline.analysis.music import warm_up  # noqa: E402
from pipeline.runner import PipelineOptions, analyze_video  # noqa: E402


def with_click_track(src: Path, dst: Path, bpm: float = 120.0) -> Path:
    """`src`'s video stream copied as it is, plus an AAC click track at `bpm`."""
    if dst.exists():
        return dst
    tmp = dst.with_suffix(".part.mp4")
    with av.open(str(src)) as inp, av.open(str(tmp), "w") as out:
        video_in = inp.streams.video[0]
        video_out = out.add_stream_from_template(video_in)
        audio = out.add_stream("aac", rate=44100)  # every stream before the first packet
        seconds = float(video_in.frames / video_in.average_rate)
        for packet in inp.demux(video_in):
            if packet.dts is not None:
                packet.stream = video_out
                out.mux(packet)
        rate = 44100
        t = np.arange(int(rate * seconds)) / rate
        since = np.mod(t, 60.0 / bpm)
        samples = 0.8 * np.exp(-since / 0.006) * (since < 0.03) * np.sin(2e3 * np.pi * t)
        for start in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(
                samples[None, start : start + 1024].astype(np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = rate, start
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))
    tmp.rename(dst)
    return dst


_COLD = """
import sys, time
sys.path.insert(0, {root!r})
from pipeline.runner import analyze_video
result = analyze_video({clip!r}, {out!r})
print(result.metrics["analysis_time_s"])
"""


def main() -> int:
    args = clip_arguments(__doc__, repeat=5)
    video_only = benchmark_clip(args)
    if video_only is None:
        return 2
    width, height = args.width, args.height
    clip = with_click_track(video_only, args.cache / f"{args.stem}_beat.mp4")
    out = args.cache / "analysis-out"

    warm_up()
    analyze_video(clip, out)  # the model's and the encoder's first video
    options = PipelineOptions()
    without, with_analysis, step = [], [], []
    for _ in range(args.repeat):  # interleaved, so drifting machine load hits both alike
        started = time.perf_counter()
        analyze_video(clip, out, replace(options, analysis=None))
        without.append(time.perf_counter() - started)
        started = time.perf_counter()
        result = analyze_video(clip, out, options)
        with_analysis.append(time.perf_counter() - started)
        step.append(result.metrics["analysis_time_s"])
    base, total = statistics.median(without), statistics.median(with_analysis)
    music = result.analysis["music"] if result.analysis else {}
    print(
        f"clip: {clip.name}: {width}x{height}, {args.frames} frames, 120 BPM clicks; "
        f"median of {args.repeat}; found {music.get('tempo_bpm')} BPM"
    )
    print(f"{'pipeline without analysis (baseline)':40s} {base:7.3f} s   1.000")
    print(f"{'pipeline with analysis':40s} {total:7.3f} s   {total / base:.3f}")
    print(f"{'  the analysis step alone':40s} {statistics.median(step):7.3f} s")
    cold = subprocess.run(
        [sys.executable, "-c", _COLD.format(root=str(ROOT), clip=str(clip), out=str(out))],
        capture_output=True,
        text=True,
        check=True,
    )
    print(f"{'  the step in a fresh process (CLI)':40s} {float(cold.stdout.split()[-1]):7.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
