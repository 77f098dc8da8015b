"""`dance-analyzer`: the pipeline from a command line, no services needed.

dance-analyzer analyze VIDEO --out DIR     annotated.mp4, keypoints.json, summary.json,
                                           analysis.json, angles.csv, and the motion:
                                           motion.bvh, markers.trc, world_landmarks.csv
                                           (--export bvh,trc,csv or none)
dance-analyzer compare REF_DIR ATT_DIR --out DIR [--mirror auto|on|off] [--no-video]
                                           score an attempt against a reference (two
                                           `analyze` output folders): comparison.json and
                                           comparison.mp4, the two side by side
dance-analyzer sample FILE.mp4 [--duo]     a short clip with a person (or two), to try it on
dance-analyzer local [--video FILE]        the whole service on this machine, no servers:
                                           submits a video through the API and waits
dance-analyzer tenants create NAME         tenants, API keys, webhook secrets (also list,
                                           add-key, revoke-key, rotate-webhook-secret)

A running service (`--server URL` or DANCE_ANALYZER_URL; see `dance_client.cli`):
dance-analyzer submit VIDEO... --out DIR   upload, follow with progress bars, download
dance-analyzer status|wait|download|delete ID, jobs, compare REF_ID ATTEMPT_ID [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TextIO, get_args

from cli import local_command
from dance_client import cli as remote
from dance_client import compare_command
from shared.outputs import EXPORT_FORMATS, checked_formats

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if remote.handles(argv):  # a running service's client: no pipeline or server imports
        return remote.main(argv)
    try:
        parser = _parser()
    except ImportError:  # `pip install 'dance-analyzer[client]'`: only the remote commands
        return remote.main(argv)
    from shared.logs import configure_logging

    configure_logging("cli", level="WARNING")  # the commands print what people need
    args = parser.parse_args(compare_command.bare_mirror_as_on(argv))
    return args.run(args)


def _parser() -> argparse.ArgumentParser:
    from cli import model_commands, tenant_commands
    from shared.config import settings
    from shared.job_options import (  # defaults: the service's settings
        DEFAULT_SMOOTHING,
        MAX_PEOPLE,
        PoseModel,
        Smoothing,
    )

    parser = argparse.ArgumentParser(
        prog="dance-analyzer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    analyze = commands.add_parser("analyze", help="annotate a video and extract landmarks")
    analyze.add_argument("video", help="input video (MP4, MOV, AVI, WebM, MKV, ...)")
    analyze.add_argument("--out", required=True, help="output directory (created if missing)")
    analyze.add_argument(
        "--min-detection-confidence",
        type=_unit,
        metavar="0..1",
        default=settings.MIN_DETECTION_CONFIDENCE,
        help="score needed to detect a new person (default %(default)s)",
    )
    analyze.add_argument(
        "--min-tracking-confidence",
        type=_unit,
        metavar="0..1",
        default=settings.MIN_TRACKING_CONFIDENCE,
        help="score needed to keep tracking; lower tracks through blur, "
        "higher re-detects more often (default %(default)s)",
    )
    analyze.add_argument(
        "--max-duration",
        type=float,
        metavar="SECONDS",
        default=settings.MAX_VIDEO_DURATION_S,
        help="refuse longer videos (default %(default)s)",
    )
    analyze.add_argument(
        "--preset",
        default="ultrafast",
        choices=["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"],
        help="x264 preset: slower gives smaller files (default %(default)s)",
    )
    analyze.add_argument(
        "--angle-labels",
        action="store_true",
        help="write each joint angle (degrees) beside its joint in the video",
    )
    analyze.add_argument(
        "--max-people",
        type=_people,
        metavar=f"1..{MAX_PEOPLE}",
        default=1,
        help="follow up to this many dancers, each with its own id (default %(default)s: "
        "one dancer, the fastest)",
    )
    analyze.add_argument(
        "--export",
        type=_exports,
        default=",".join(EXPORT_FORMATS),
        metavar="FORMATS",
        help="motion files to write, comma-separated: bvh (a skeleton for Blender), trc "
        "(markers for OpenSim), csv (world landmarks), or none (default %(default)s)",
    )
    analyze.add_argument(
        "--model",
        choices=get_args(PoseModel),
        default="full",
        help="the pose model: lite (fastest), full, heavy (most accurate, ~3x slower); lite "
        "and heavy need `dance-analyzer models install` once (default %(default)s)",
    )
    analyze.add_argument(
        "--smoothing",
        choices=get_args(Smoothing),
        default=DEFAULT_SMOOTHING,
        help="steadier landmarks in the video and keypoints.json's smoothed copy: none (the "
        "model's), light or strong, filtered without lag (default %(default)s)",
    )
    analyze.add_argument("--quiet", action="store_true", help="no progress output")
    analyze.set_defaults(run=_analyze)

    compare = commands.add_parser(
        "compare",
        help="score an attempt against a reference (comparison.json, and comparison.mp4: the "
        "two side by side): two `analyze` output folders here, or two job ids on a service",
    )
    compare.add_argument(
        "reference",
        help="output folder of the reference: keypoints.json, and analysis.json and "
        "annotated.mp4 if it has them (the music's beats, the soundtrack, the pictures)",
    )
    compare.add_argument("attempt", help="output folder of the attempt (the same files)")
    compare.add_argument(
        "--out", required=True, help="folder for comparison.json and comparison.mp4"
    )
    compare_command.add_mirror_arguments(compare)
    compare.set_defaults(run=_compare)

    sample = commands.add_parser("sample", help="write a short clip with a person in it")
    sample.add_argument("path", help="output file, e.g. sample.mp4")
    sample.add_argument("--seconds", type=float, default=4.0)
    sample.add_argument("--size", default="640x480", help="WIDTHxHEIGHT (default %(default)s)")
    sample.add_argument("--duo", action="store_true", help="two dancers side by side")
    sample.set_defaults(run=_sample)

    local = commands.add_parser(
        "local",
        help="run the API and a worker locally (SQLite, embedded S3, file broker), "
        "process a video through them end to end",
    )
    local.add_argument("--video", help="video to submit (default: a generated sample clip)")
    local.add_argument("--home", default=".local", help="state and logs (default %(default)s)")
    local.add_argument("--port", type=int, default=8000, help="API port (default %(default)s)")
    local.add_argument(
        "--serve", action="store_true", help="keep the service running afterwards until Ctrl-C"
    )
    local.set_defaults(run=local_command.run)

    tenant_commands.add_parser(commands)
    model_commands.add_parser(commands)
    remote.add_commands(commands, include_compare=False)  # dispatched by `main` first
    return parser


def _people(text: str) -> int:
    from shared.job_options import MAX_PEOPLE

    value = int(text)
    if not 1 <= value <= MAX_PEOPLE:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_PEOPLE}")
    return value


def _unit(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _exports(value: str) -> tuple[str, ...]:
    """`--export`: formats, comma-separated, or `none`, read as the remote `submit` reads
    them, and checked."""
    try:
        return checked_formats(remote.export_list(value))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _analyze(args: argparse.Namespace) -> int:
    from pipeline.errors import VideoInputError
    from pipeline.options import pipeline_options
    from pipeline.pose.models import ModelUnavailable
    from pipeline.runner import analyze_video
    from shared.job_options import SettledOptions

    if not os.path.isfile(args.video):
        print(f"error: no such file: {args.video}", file=sys.stderr)
        return EXIT_BAD_INPUT
    settled = SettledOptions(
        min_detection_confidence=args.min_detection_confidence,
        min_tracking_confidence=args.min_tracking_confidence,
        angle_labels=args.angle_labels,
        max_people=args.max_people,
        exports=args.export,
        model=args.model,
        smoothing=args.smoothing,
    )
    options = replace(
        pipeline_options(settled, max_duration_s=args.max_duration), video_preset=args.preset
    )
    progress = None if args.quiet else Progress(sys.stderr)
    try:
        result = analyze_video(args.video, args.out, options, on_progress=progress)
    except (VideoInputError, ModelUnavailable) as exc:
        if progress:
            progress.clear()
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    if progress:
        progress.finish()
    m = result.metrics
    print(
        f"{m['processed_frames']} frames ({m['width']}x{m['height']}, {m['fps']:g} fps, "
        f"{m['duration_s']:.1f} s) in {m['processing_time_s']:.1f} s "
        f"({m['processing_fps']:.1f} frames/s)"
    )
    print(
        f"pose detected in {m['detected_frames']} frames ({m['detection_rate']:.0%}), "
        f"average visibility {m['average_visibility']:.2f}, "
        f"{m['failed_frames']} frames failed to decode"
    )
    if "people" in m:
        print(_people_line(m))
    if result.analysis:
        print(_analysis_line(result.analysis))
    for path in result.paths() + result.export_paths():
        print(f"  {path}")
    if result.exports.note:
        print(f"note: {result.exports.note}")
    return 0


def _people_line(metrics: dict) -> str:
    people = ", ".join(
        f"#{p['id']} in {p['detection_rate']:.0%} of frames" for p in metrics["people"]
    )
    return (
        f"{metrics['people_found']} dancers ({metrics['max_people_in_frame']} at most in a "
        f"frame): {people or 'none'}"
    )


def _analysis_line(analysis: dict) -> str:
    tempo = analysis.get("movement_tempo_bpm")
    music = analysis.get("music") or {}
    parts = [f"movement tempo {tempo:.0f} BPM" if tempo else "no steady movement tempo"]
    if music.get("available"):
        score = music.get("on_beat_score")
        parts.append(
            f"music {music['tempo_bpm']:.0f} BPM"
            + (f", on the beat {score:.0%}" if score is not None else "")
        )
    else:
        parts.append(f"music: {music.get('reason')}")
    group = analysis.get("group") or {}
    if group.get("score") is not None:
        leader = group.get("leader")
        parts.append(
            f"group in step {group['score']:.0f}/100"
            + (f", #{leader} leads" if leader is not None else "")
        )
    return "; ".join(parts)


def _compare(args: argparse.Namespace) -> int:
    from dance_client.comparison_text import comparison_lines
    from pipeline.compare import ComparisonError
    from pipeline.compare.folders import COMPARISON_VIDEO, REPORT_JSON, compare_folders

    try:
        report = compare_folders(
            args.reference,
            args.attempt,
            args.out,
            mirror=compare_command.MIRROR_MODES[args.mirror],
            video=args.video,
        )
    except ComparisonError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    out = Path(args.out)
    files = [out / REPORT_JSON] + ([out / COMPARISON_VIDEO] if report["video"] else [])
    print("\n".join(comparison_lines(report, files)))
    return 0


def _sample(args: argparse.Namespace) -> int:
    from pipeline.video.samples import DUO, make_clip

    width, height = (int(v) for v in args.size.lower().split("x"))
    fps = 15
    make_clip(
        args.path,
        person=DUO if args.duo else "astronaut",
        width=width,
        height=height,
        fps=fps,
        frames=max(1, round(args.seconds * fps)),
        audio=True,
        beat_bpm=120,
    )
    print(args.path)
    return 0


class Progress:
    """A bar redrawn in place on a terminal; plain lines every 10% otherwise (logs, CI)."""

    def __init__(self, stream: TextIO, width: int = 30):
        self.stream, self.width = stream, width
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._last_decile = -1

    def __call__(self, done: int, total: int) -> None:
        fraction = done / total if total else 0.0
        rate = done / max(time.monotonic() - self.started, 1e-6)
        if self.tty:
            now = time.monotonic()
            if now - self._last_draw < 0.1 and done != total:
                return
            self._last_draw = now
            filled = int(self.width * fraction)
            bar = "#" * filled + "-" * (self.width - filled)
            self.stream.write(f"\r[{bar}] {fraction:4.0%} {done}/{total} frames {rate:5.1f} fps")
            self.stream.flush()
        elif (decile := int(fraction * 10)) > self._last_decile:
            self._last_decile = decile
            self.stream.write(f"progress {fraction:.0%} ({done}/{total} frames, {rate:.1f} fps)\n")
            self.stream.flush()

    def clear(self) -> None:
        if self.tty:
            self.stream.write("\r" + " " * (self.width + 50) + "\r")

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")


if __name__ == "__main__":
    sys.exit(main())
