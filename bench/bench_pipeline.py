"""Pipeline speed and memory against the bare model, measured in one run on the same clip.

    python bench/bench_pipeline.py [--video PATH] [--size 1920x1080] [--frames 180] [--repeat 3]
                                   [--model lite|full|heavy]

1. clip: the shared street video scaled to --size, its first --frames frames at 30 fps (H.264),
   the shape of the old prototype's published benchmark (1080p, 30 fps, 6 s).
2. bare model: BlazePose (--model, default Full) on the clip's frames, already decoded into
   memory. The ceiling.
3. sequential: decode -> model -> overlay -> encode one frame at a time in one thread, as the
   old synchronous prototype did, built from the same pieces as the pipeline.
4. pipeline: `analyze_video`, the overlapped three-stage pipeline the CLI and worker run,
   in a fresh subprocess so its peak memory is its own: the first video of the process
   (cold, as the CLI runs it) and the second (warm, as a worker's next job; like the bare
   model, which gets one warm-up frame before its clock starts); with the default smoothing
   (light: MediaPipe's own filter off, ours on) and with smoothing "none" (MediaPipe's
   filter on, no overlay delay); the bare model runs both ways too.
5. memory vs length: the pipeline on the clip and on the clip three times as long.

Prints frames per second (median of --repeat runs) and the ratio of each to the bare model.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.pose.blazepose import PoseEstimator  # noqa: E402
from pipeline.pose.models import require  # noqa: E402
from pipeline.video.overlay import Overlay  # noqa: E402
from pipeline.video.sink import VideoSink  # noqa: E402
from pipeline.video.source import AudioPacket, DecodeStats, open_video  # noqa: E402

DEFAULT_VIDEO = ROOT.parent / "shared" / "data" / "street_people_720p.avi"


# x264 settings that put back what `ultrafast` leaves out of a camera's H.264: B-frames
# (reordered frames at every cut), CABAC and 8x8 transforms (High profile), deblocking
CAMERA_LIKE = "bframes=3:b-adapt=0:cabac=1:8x8dct=1:deblock=1"


def scaled_clip(
    src: Path,
    dst: Path,
    width: int,
    height: int,
    frames: int,
    loops: int = 1,
    keyframe_every: int | None = None,
    preset: str = "fast",
    x264_params: str | None = None,
) -> Path:
    """Scale `src` to width x height, keep `frames` frames at 30 fps, repeat it `loops` times;
    `keyframe_every` frames a keyframe and no others (default: x264's choice). Every x264
    preset from `superfast` up writes what cameras do (High profile, B-frames); `ultrafast`
    does too with `x264_params=CAMERA_LIKE` (the test suite's minute of 1080p: 29 CPU-s to
    make where `superfast` takes 71)."""
    if dst.exists():
        return dst
    with av.open(str(src)) as inp:
        images = [  # converted to the encoder's YUV once, not once per loop
            av.VideoFrame.from_ndarray(
                cv2.resize(
                    f.to_ndarray(format="rgb24"), (width, height), interpolation=cv2.INTER_CUBIC
                ),
                format="rgb24",
            )
            .reformat(format="yuv420p")
            .to_ndarray()
            for _, f in zip(range(frames), inp.decode(video=0), strict=False)
        ]
    tmp = dst.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": preset, "crf": "20"}
        if x264_params:
            stream.options = {**stream.options, "x264-params": x264_params}
        if keyframe_every:
            stream.codec_context.gop_size = keyframe_every
            stream.options = {**stream.options, "sc_threshold": "0"}
        pts = 0
        for _ in range(loops):
            for image in images:
                frame = av.VideoFrame.from_ndarray(image, format="yuv420p")
                frame.pts = pts
                pts += 1
                out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    tmp.rename(dst)
    return dst


def bare_model_fps(clip: Path, model: str = "full", *, smooth_landmarks: bool = True) -> float:
    with av.open(str(clip)) as inp:
        images = [f.to_ndarray(format="rgb24") for f in inp.decode(video=0)]
    complexity = require(model).complexity
    with PoseEstimator(model_complexity=complexity, smooth_landmarks=smooth_landmarks) as pose:
        pose.estimate(images[0])  # warm-up: graph start, first detection
        started = time.perf_counter()
        for image in images:
            pose.estimate(image)
        return len(images) / (time.perf_counter() - started)


def sequential_fps(clip: Path, out_dir: Path, model: str = "full") -> float:
    """One thread, one frame at a time: what the pipeline would do without overlap."""
    started = time.perf_counter()
    stats = DecodeStats()
    complexity = require(model).complexity
    with open_video(clip) as source, PoseEstimator(model_complexity=complexity) as pose:
        info = source.info
        overlay = Overlay(info.width, info.height)
        with VideoSink(out_dir / "sequential.mp4", info, source.audio) as sink:
            for item in source.items(stats):
                if isinstance(item, AudioPacket):
                    sink.write_audio(item.packet)
                    continue
                landmarks = pose.estimate(item.rgb)
                overlay.draw(
                    item.rgb, landmarks, frame_index=item.index, total_frames=0, time_s=item.time_s
                )
                sink.write_frame(item.rgb, item.pts)
    return stats.decoded / (time.perf_counter() - started)


_CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
from pipeline.runner import PipelineOptions, analyze_video  # imports MediaPipe, as a worker
runs = []
for _ in range(2):  # cold: a fresh process's first video (the CLI); warm: a worker's next job
    started = time.perf_counter()
    options = PipelineOptions(model={model!r}, smoothing={smoothing!r})
    result = analyze_video({clip!r}, {out!r}, options)
    runs.append(result.metrics["processed_frames"] / (time.perf_counter() - started))
# VmHWM, not ru_maxrss: Linux hands a child its parent's ru_maxrss across fork and exec.
status = open("/proc/self/status").read().split("VmHWM:")[1]
print(json.dumps({{"cold_fps": runs[0], "fps": runs[1], "peak_mib": int(status.split()[0]) / 1024,
                  "frames": result.metrics["processed_frames"]}}))
"""


def pipeline_run(clip: Path, out_dir: Path, model: str = "full", smoothing: str = "light") -> dict:
    code = _CHILD.format(
        root=str(ROOT), clip=str(clip), out=str(out_dir), model=model, smoothing=smoothing
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def clip_arguments(doc: str | None, *, repeat: int) -> argparse.Namespace:
    """The options every video benchmark takes: the source, the clip's size and length, the
    repeats, the cache folder of the clips made from it."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--frames", type=int, default=180)
    parser.add_argument("--repeat", type=int, default=repeat)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "dance-bench")
    parser.add_argument("--model", choices=("lite", "full", "heavy"), default="full")
    args = parser.parse_args()
    args.width, args.height = (int(v) for v in args.size.split("x"))
    args.stem = f"{args.video.stem}_{args.width}x{args.height}_{args.frames}"
    return args


def benchmark_clip(args: argparse.Namespace) -> Path | None:
    """The --size, --frames clip of --video (made once, cached); None if --video is absent."""
    if not args.video.exists():
        print(
            f"{args.video} is absent: pass --video with a clip that has people in it",
            file=sys.stderr,
        )
        return None
    args.cache.mkdir(parents=True, exist_ok=True)
    return scaled_clip(
        args.video, args.cache / f"{args.stem}.mp4", args.width, args.height, args.frames
    )


def main() -> int:
    args = clip_arguments(__doc__, repeat=3)
    clip = benchmark_clip(args)
    if clip is None:
        return 2
    width, height, stem = args.width, args.height, args.stem
    long_clip = scaled_clip(
        args.video, args.cache / f"{stem}_x3.mp4", width, height, args.frames, loops=3
    )
    out_dir = args.cache / "out"
    out_dir.mkdir(exist_ok=True)

    print(
        f"clip: {clip.name}: {width}x{height}, {args.frames} frames at 30 fps; "
        f"{os.cpu_count()} CPUs; median of {args.repeat} runs; model {args.model}"
    )
    model, unfiltered, sequential, pipeline, unsmoothed = [], [], [], [], []
    for _ in range(args.repeat):  # interleaved, so drifting machine load hits all alike
        model.append(bare_model_fps(clip, args.model))
        unfiltered.append(bare_model_fps(clip, args.model, smooth_landmarks=False))
        sequential.append(sequential_fps(clip, out_dir, args.model))
        pipeline.append(pipeline_run(clip, out_dir, args.model))
        unsmoothed.append(pipeline_run(clip, out_dir, args.model, smoothing="none"))
    base = statistics.median(model)
    rows = [
        ("bare model (baseline)", base, None),
        ("bare, MediaPipe filter off", statistics.median(unfiltered), None),
        ("sequential, one thread", statistics.median(sequential), None),
        ("pipeline, cold process", statistics.median(r["cold_fps"] for r in pipeline), None),
        (
            "pipeline (analyze_video)",
            statistics.median(r["fps"] for r in pipeline),
            statistics.median(r["peak_mib"] for r in pipeline),
        ),
        (
            "pipeline, smoothing none",
            statistics.median(r["fps"] for r in unsmoothed),
            statistics.median(r["peak_mib"] for r in unsmoothed),
        ),
    ]
    for name, fps, peak in rows:
        memory = f"   peak RSS {peak:6.0f} MiB" if peak else ""
        print(f"{name:26s} {fps:6.1f} frames/s   {fps / base:5.2f}x model{memory}")
    longer = pipeline_run(long_clip, out_dir, args.model)
    print(
        f"memory vs length: {args.frames} frames -> peak {rows[4][2]:.0f} MiB; "
        f"{longer['frames']} frames -> peak {longer['peak_mib']:.0f} MiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
