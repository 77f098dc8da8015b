"""The detection and tracking thresholds on video (issue 32): how often the pipeline keeps a
real dancer, how fast it finds them again once they were hidden, and how often it finds a
pose where nobody is, for each model and pair of thresholds. The stills' side (OKS against
people's labels, the same empty footage) is `bench/bench_pose_accuracy.py`.

    python bench/bench_thresholds.py [--models full] [--detection 0.3,0.5]
                                     [--tracking 0.3,0.5,0.7] [--json PATH]

Dancing (`bench/compare_takes.py`: real dancers cut out of `../shared/data/dancers`, H.264 at
CRF 20, 30 fps): the girl and the man of `pair_phone.mp4` (15 s each, 180x640, a phone
video) and the woman in red of `line_dance_crowd.mp4` (20 s, 218x360, handheld, bystanders
behind her), each with three interruptions as in users' footage: someone walking across
right in front of the camera (1 s, at 3 s), the picture lost (0.6 s, at 7 s; a cut or a
hand over the lens), and a second walker (1.2 s, at 11 s).

- found: the share of the frames where the dancer is in full view (not during an
  interruption) that have a pose;
- behind walker: the share of the walkers' frames with a pose (BlazePose guessing through);
- refind: after each interruption, the seconds until a pose is found again (0 when at once),
  averaged over the interruptions of all three clips.

Empty footage: the clips of `bench_pose_accuracy.empty_clips` (22 photo backgrounds as still
clips, the suite's empty scene, the street footage's road as video with a moving camera); a
false detection is a frame of them with a pose.

Every setting runs `analyze_video` with the options `dance-analyzer analyze` builds (no
analysis step, no motion exports).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_pose_accuracy import (  # noqa: E402
    empty_clips,
    float_list,
    load_labels,
    run,
    setting_options,
)
from bench.compare_takes import DANCERS, GIRL, MAN, RED, Occluder, Take, render  # noqa: E402
from bench.pose_accuracy import COCO_PEOPLE, LABELS  # noqa: E402

INTERRUPTIONS = (
    Occluder(3.0, 1.0, width=0.7),
    Occluder(7.0, 0.6, kind="dropout"),
    Occluder(11.0, 1.2, width=0.8),
)
TAKES = {
    "girl": Take(GIRL, 14.9, occluders=INTERRUPTIONS),
    "man": Take(MAN, 14.9, occluders=INTERRUPTIONS),
    "red": Take(RED, 20.0, occluders=INTERRUPTIONS),
}


def dancing_scores(take: Take, found: list[bool]) -> dict:
    times = take.times()[: len(found)]
    hidden = np.zeros(len(times), bool)
    behind = np.zeros(len(times), bool)
    refind = []
    hit = np.array(found)
    for o in take.occluders:
        during = (times >= o.start_s) & (times <= o.start_s + o.seconds)
        hidden |= during
        if o.kind == "walker":
            behind |= during
        after = np.flatnonzero((times > o.start_s + o.seconds) & hit)
        end = o.start_s + o.seconds
        refind.append(float(times[after[0]] - end) if len(after) else take.seconds - end)
    return {
        "view_frames": int((~hidden).sum()),
        "found_in_view": int(hit[~hidden].sum()),
        "behind_frames": int(behind.sum()),
        "found_behind": int(hit[behind].sum()),
        "refind_s": refind,
    }


def measure(options, takes: dict[str, Path], empty, out: Path) -> dict:
    started = time.perf_counter()
    per_take = {}
    for name, path in takes.items():
        frames, _, _ = run(path, out, options)
        per_take[name] = dancing_scores(TAKES[name], [f is not None for f in frames])
    false_by_clip, empty_frames = {}, 0
    for item in empty:
        frames, _, _ = run(item.path, out, options)
        false_by_clip[item.name] = sum(f is not None for f in frames)
        empty_frames += len(frames)
    view = sum(t["view_frames"] for t in per_take.values())
    behind = sum(t["behind_frames"] for t in per_take.values())
    refind = [s for t in per_take.values() for s in t["refind_s"]]
    return {
        "found": sum(t["found_in_view"] for t in per_take.values()) / view,
        "found_by_take": {k: t["found_in_view"] / t["view_frames"] for k, t in per_take.items()},
        "behind_walker": sum(t["found_behind"] for t in per_take.values()) / behind,
        "refind_s": float(np.mean(refind)),
        "refind_worst_s": float(np.max(refind)),
        "false_detections": sum(false_by_clip.values()),
        "empty_frames": empty_frames,
        "false_clips": sum(1 for v in false_by_clip.values() if v),
        "empty_clips": len(empty),
        "seconds": round(time.perf_counter() - started, 1),
    }


HEADER = (
    "| model | detection | tracking | found (girl, man, red) | behind walker | refind s "
    "(worst) | false detections: frames (clips) |\n|---|---|---|---|---|---|---|"
)


def line(r: dict) -> str:
    by = ", ".join(f"{v:.1%}" for v in r["found_by_take"].values())
    return (
        f"| {r['model']} | {r['detection']:g} | {r['tracking']:g} | {r['found']:.1%} ({by}) | "
        f"{r['behind_walker']:.1%} | {r['refind_s']:.2f} ({r['refind_worst_s']:.2f}) | "
        f"{r['false_detections']}/{r['empty_frames']} ({r['false_clips']}/{r['empty_clips']}) |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="full")
    parser.add_argument("--detection", type=float_list, default=[0.3, 0.5])
    parser.add_argument("--tracking", type=float_list, default=[0.3, 0.5, 0.7])
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    models = [name for name in args.models.split(",") if name]
    for name in models:
        setting_options(name, 0.5, 0.5)  # unknown or not installed: said before any work
    if not DANCERS.exists() or not (COCO_PEOPLE / LABELS).exists():
        print(f"{DANCERS.parent} is absent: this benchmark needs the shared data", file=sys.stderr)
        return 2
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        takes = {name: render(take, folder / f"{name}.mp4") for name, take in TAKES.items()}
        empty = empty_clips(folder, load_labels(COCO_PEOPLE / LABELS)[1])
        print(HEADER, flush=True)
        for model in models:
            for detection in args.detection:
                for tracking in args.tracking:
                    options = setting_options(model, detection, tracking)
                    setting = {"model": model, "detection": detection, "tracking": tracking}
                    results.append(setting | measure(options, takes, empty, folder / "out"))
                    print(line(results[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
