"""The comparison judged on real footage whose right answer is known, and what it costs.

    python bench/bench_compare.py [--sets girl,red] [--cache DIR] [--no-speed] [--speed-only]

Cases (`bench/compare_cases.py`): two real dancers cut out of `../shared/data/dancers/`, with
their own music (the girl of `pair_phone.mp4`, 9 s, the picture lost three times so that
BlazePose misses her in 17 % of the frames; the woman in red of `line_dance_crowd.mp4`, 20 s in
a crowd, the camera panning with her), each turned into attempts the way real recordings
differ: cut earlier or later, re-timed against an unchanged soundtrack, late on the music,
mirrored, zoomed, moved, smaller and at 15 fps, and danced backwards (another choreography).
Every take is encoded (x264 CRF 20) and analysed by the pipeline as a user's upload is; the
comparison reads what a job stores (keypoints.json, analysis.json, annotated.mp4). Each case
is compared with its soundtracks and without (timing then from the movement alone), and
checked against its bar and the known truth: the offset found (within one frame), the timing
per beat (re-timed: error against the true early/late), the mean lateness (delayed).

Speed (unless --no-speed): two synthetic performances (`bench/synthetic_dancers.py`) of 3 and
10 minutes (30 and 25 fps) with the girl's song looped under both (the attempt's starting 2 s
later), compared with mirror "auto" (two alignments) in a process of its own: seconds and the
process's peak memory. Baseline, in the same run: the comparison before this one (commit
e986f7d, landmarks only, one alignment, its grid lowered to fit a full matrix). And the
side-by-side video: seconds to render comparison.mp4 for a 20 s case.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import compare_cases as cases  # noqa: E402
from bench import compare_takes as takes  # noqa: E402
from pipeline.compare import compare_performances  # noqa: E402
from pipeline.compare.folders import (  # noqa: E402
    compare_folders,
    load_folder_soundtrack,
    load_performance,
)

SETS = {"girl": cases.GIRL_CASES, "red": cases.RED_CASES}
BASELINE_COMMIT = "e986f7d"


def analysed(take: takes.Take, folder: Path) -> Path:
    """The take rendered and run through the pipeline into `folder` (kept if already there)."""
    from pipeline.runner import PipelineOptions, analyze_video

    if not (folder / "keypoints.json").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        takes.render(take, folder / "take.mp4")
        analyze_video(folder / "take.mp4", folder, PipelineOptions(exports=()))
    return folder


def truth_offset(case: cases.Case, ref_times: np.ndarray) -> float:
    """Where the reference's dance lies in the attempt: the median lag of the right path."""
    lag = takes.true_attempt_time(case.reference, case.attempt, ref_times) - ref_times
    return float(np.nanmedian(lag))


def timing_errors(case: cases.Case, report: dict) -> np.ndarray:
    """Per judged beat, the reported lateness minus the true one (s)."""
    errors = []
    for m in report["moments"]:
        if m["timing_offset_s"] is None:
            continue
        t = np.linspace(m["reference_start_s"], m["reference_end_s"], 20)
        true_t = takes.true_attempt_time(case.reference, case.attempt, t)
        music_t = takes.true_music_offset(case.reference, case.attempt, t)
        truth = np.nanmean(true_t - music_t)
        if math.isfinite(truth):
            errors.append(m["timing_offset_s"] - truth)
    return np.asarray(errors)


def evaluate(set_name: str, cache: Path) -> list[dict]:
    rows = []
    reference = analysed(SETS[set_name][0].reference, cache / set_name / "reference")
    ref_perf, ref_audio = load_performance(reference), load_folder_soundtrack(reference)
    for case in SETS[set_name]:
        folder = analysed(case.attempt, cache / set_name / case.name)
        att_perf, att_audio = load_performance(folder), load_folder_soundtrack(folder)
        start = time.perf_counter()
        report = compare_performances(
            ref_perf, att_perf, mirror="auto", reference_audio=ref_audio, attempt_audio=att_audio
        )
        seconds = time.perf_counter() - start
        silent = compare_performances(ref_perf, att_perf, mirror="auto")
        ref_times = np.arange(0.0, case.reference.seconds, 0.1)
        offset = truth_offset(case, ref_times) if case.name != "reversed" else math.nan
        errors = timing_errors(case, report) if case.name != "reversed" else np.empty(0)
        detection = json.loads((folder / "summary.json").read_text())["detection_rate"]
        rows.append(
            {
                "set": set_name,
                "case": case.name,
                "what": case.what,
                "bar": case.bar,
                "meets": cases.meets(case.bar, report) and cases.meets(case.bar, silent),
                "score": report["score"],
                "scores": report["scores"],
                "score_without_music": silent["score"],
                "coverage": report["coverage"],
                "detection": detection,
                "offset_s": report["alignment"]["offset_s"],
                "true_offset_s": None if math.isnan(offset) else round(offset, 3),
                "mirrored": report["mirror"],
                "timing": report["timing"],
                "timing_error_ms": None
                if not len(errors)
                else {
                    "median": round(float(np.median(np.abs(errors))) * 1000),
                    "p90": round(float(np.percentile(np.abs(errors), 90)) * 1000),
                },
                "judgements": report["judgements"]["counts"],
                "seconds": round(seconds, 3),
            }
        )
    return rows


def print_table(rows: list[dict]) -> None:
    print(
        "| set | case | what | score | pose / timing / amplitude | no music | coverage "
        "| offset found (true) | timing | bar |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        s = r["scores"]
        dims = " / ".join(
            "-" if s[k] is None else f"{s[k]:.1f}" for k in ("pose", "timing", "amplitude")
        )
        offset = f"{r['offset_s']:+.3f} s" + (
            f" ({r['true_offset_s']:+.3f})" if r["true_offset_s"] is not None else ""
        )
        timing = r["timing"]["verdict"]
        if r["timing_error_ms"]:
            error = r["timing_error_ms"]
            timing += f"; per beat ±{error['median']} ms (p90 {error['p90']})"
        print(
            f"| {r['set']} | {r['case']} | {r['what']} | {r['score']:.1f} | {dims} "
            f"| {r['score_without_music']:.1f} | {r['coverage']:.2f} | {offset} | {timing} "
            f"| {r['bar']}: {'yes' if r['meets'] else 'NO'} |"
        )


# ---- speed -----------------------------------------------------------------------------


def speed_child(minutes: float, implementation: str) -> None:
    """Compare the two long performances once; print seconds and peak memory as JSON."""
    from bench.synthetic_dancers import body, frame_times, performance, trajectories
    from pipeline.compare.alignment import warm_up

    ref_t, att_t = frame_times(60.0 * minutes), frame_times(60.0 * minutes, fps=25.0)
    reference = performance(ref_t, body(trajectories(ref_t, 3)))
    attempt = performance(att_t, body(trajectories(np.maximum(att_t - 2.0, 0.0), 3)))
    if implementation == "baseline":
        old = _baseline_module()
        start = time.perf_counter()
        report = old.compare_performances(reference, attempt)
    else:
        warm_up()  # numba's compiled code is in its cache on a worker; not timed
        ref_audio, att_audio = _looped_song(60.0 * minutes)
        start = time.perf_counter()
        report = compare_performances(
            reference, attempt, mirror="auto", reference_audio=ref_audio, attempt_audio=att_audio
        )
    seconds = time.perf_counter() - start
    peak = _peak_mb()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_mb": peak,
                "rate_hz": report["rate_hz"],
                "score": report.get("score", report.get("similarity")),
            }
        )
    )


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM: getrusage's figure would carry over the
    parent's peak across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _looped_song(seconds: float):
    """The girl's song looped for `seconds` under the reference, and 2 s later under the
    attempt, with its beats given (as a job's analysis.json gives them)."""
    from pipeline.compare.soundtrack import SR, Soundtrack

    with tempfile.TemporaryDirectory() as tmp:
        clip = takes.render(takes.Take(takes.GIRL, 14.0), Path(tmp) / "song.mp4")
        song = load_folder_soundtrack_from(clip)
    loops = int(math.ceil(seconds * SR / len(song))) + 1
    track = np.tile(song, loops)[: int(seconds * SR)]
    later = np.concatenate([np.zeros(2 * SR, np.float32), track])[: len(track)]
    beats = np.arange(0.0, seconds, 60.0 / 139.56)
    return Soundtrack(track, 0.0, None, beats), Soundtrack(later, 0.0, None, beats + 2.0)


def load_folder_soundtrack_from(video: Path) -> np.ndarray:
    from pipeline.compare.soundtrack import load_soundtrack

    samples = load_soundtrack(video).samples
    assert samples is not None
    return samples


def _baseline_module():
    """The comparison as it was before (pipeline/compare.py at BASELINE_COMMIT)."""
    import importlib.util

    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{BASELINE_COMMIT}:pipeline/compare.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "compare_baseline.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("compare_baseline", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["compare_baseline"] = module
    spec.loader.exec_module(module)
    return module


def speed() -> None:
    print(
        "\n| videos | this comparison (mirror auto, with music) | peak memory | grid "
        "| before (e986f7d) | peak memory | grid | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for minutes in (3, 10):
        runs = {}
        for implementation in ("new", "baseline"):
            out = (
                subprocess.run(
                    [sys.executable, __file__, "--speed-child", str(minutes), implementation],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            runs[implementation] = json.loads(out)
        new, old = runs["new"], runs["baseline"]
        print(
            f"| 2 x {minutes} min | {new['seconds']:.2f} s | {new['peak_mb']:.0f} MB "
            f"| {new['rate_hz']:g} Hz "
            f"| {old['seconds']:.2f} s | {old['peak_mb']:.0f} MB | {old['rate_hz']:g} Hz "
            f"| {new['seconds'] / old['seconds']:.2f}x |"
        )


def video_speed(cache: Path) -> None:
    case = cases.RED_CASES[1]
    reference = analysed(case.reference, cache / "red" / "reference")
    attempt = analysed(case.attempt, cache / "red" / case.name)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        report = compare_folders(reference, attempt, tmp, mirror="auto", video=False)
        analysis = time.perf_counter() - start
        start = time.perf_counter()
        report = compare_folders(reference, attempt, tmp, mirror="auto", video=True)
        total = time.perf_counter() - start
    video = report["video"]
    print(
        f"\ncomparison.mp4 of red/{case.name}: {video['frames']} frames "
        f"{video['width']}x{video['height']} "
        f"({video['duration_s']:.1f} s) rendered in {total - analysis:.1f} s "
        f"({(total - analysis) / video['duration_s'] * 60:.0f} s per minute of video); "
        f"the report alone {analysis:.2f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="girl,red")
    parser.add_argument("--cache", help="keep the rendered and analysed takes here")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--speed-only", action="store_true")
    parser.add_argument("--json", help="write the rows here too")
    parser.add_argument(
        "--speed-child", nargs=2, metavar=("MINUTES", "IMPLEMENTATION"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.speed_child:
        speed_child(float(args.speed_child[0]), args.speed_child[1])
        return 0
    if not takes.DANCERS.is_dir():
        print(
            f"error: {takes.DANCERS} is not here: the shared dance footage is needed",
            file=sys.stderr,
        )
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(args.cache) if args.cache else Path(tmp)
        if not args.speed_only:
            rows = [row for name in args.sets.split(",") for row in evaluate(name, cache)]
            print_table(rows)
            met = sum(r["meets"] for r in rows)
            print(f"\n{met} of {len(rows)} cases meet their bar (with and without music)")
            if args.json:
                Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
        if not args.no_speed:
            speed()
            video_speed(cache)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
