"""Several dancers on real footage (issue 33): the pipeline's ids against the hand-checked
labels of `bench/dancer_labels/`, scored with `motmetrics` (the MOT Challenge's CLEAR MOT and
identity metrics), per clip and in total, with the speed.

    python bench/bench_dancers.py [--clips pair_phone,...] [--ceiling] [--json PATH]

Each clip of `../shared/data/dancers/` goes through `analyze_video` with `max_people` set as
a user would for it (`MAX_PEOPLE`: the dancers in it, more for the crowd and the folk group),
the other options the defaults, no analysis step and no motion exports. Only the labelled
frames count. A pose is a labelled dancer when its torso's centre (the mean of its shoulders
and hips) lies inside the dancer's box (the cost: its distance to the box's centre over the
box's height; the nearest wins); a pose whose centre lies in an ignore region (someone the
labels leave out on purpose) and that is nobody's is left out; any other pose is a false
positive (on `line_dance_crowd` and `folk_group`, where bystanders and most dancers are not
labelled, only the recall side means something: recall, IDR, switches).

Per clip:
- IDF1 (and its recall side IDR), MOTA, recall, precision, id switches, fragmentations;
- ids: how many ids the run gave to the labelled dancers, per dancer the ids that covered
  them, and "carried": ids that covered two dancers for 5 labelled frames or more each (an
  id that moved from one dancer to another);
- frames/s of the whole run (decode, model, overlay, encode).

In total: the same figures pooled over the clips (motmetrics' overall), over the five clips
where everyone who dances is labelled and over all seven.

`--ceiling`: each labelled dancer alone, as the single-person pipeline sees them when shown
alone: the dancer's box (enlarged 1.25x, squared; grey beyond the box itself grown by 5 %)
cut out of every labelled frame, scaled to 256x256, as one clip per dancer; the ceiling is
the share of those frames with a pose of that dancer, and "of ceiling" the share of those
frames where the tracking run found that dancer. A pose found in a crop counts only where
the scoring rule gives it to that dancer (not to the one in front of them, whom the crop
may show too).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import cv2
import motmetrics as mm
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_pose_accuracy import write_clip  # noqa: E402
from bench.dancer_labels import CLIPS, DANCERS, Label, decode, read_labels  # noqa: E402
from pipeline.runner import PipelineOptions, analyze_video  # noqa: E402

MAX_PEOPLE = {
    "bachata_shadow": 2,
    "bachata_cross_body_lead": 2,
    "bachata_hammerlock": 2,
    "pair_phone": 2,
    "ballet_recital": 3,
    "line_dance_crowd": 5,
    "folk_group": 8,
}
RECALL_ONLY = ("line_dance_crowd", "folk_group")  # most people in them are not labelled
TORSO = (11, 12, 23, 24)
CARRIED_FRAMES = 5
CEILING_SIDE = 256
ALONE_MARGIN = 0.05  # of the box's longer side, shown around it in the ceiling's crops

Pose = tuple[int, tuple[float, float]]  # (id, torso centre in px)


def tracked(keypoints: Path) -> dict[int, list[Pose]]:
    """Frame number (from 1) -> each pose's id and torso centre, from a version-4 file (of
    several people, or of one: then id 1)."""
    data = json.loads(keypoints.read_text())
    size = np.array([data["video"]["width"], data["video"]["height"]], dtype=np.float64)
    out: dict[int, list[Pose]] = {}
    for frame in data["frames"]:
        poses = []
        people = frame.get("people")
        if people is None:  # a single person's file: the landmarks of the frame, if any
            people = [{"id": 1, "landmarks": frame["landmarks"]}] if frame["landmarks"] else []
        for person in people:
            points = person["landmarks"]
            centre = np.mean([(points[i]["x"], points[i]["y"]) for i in TORSO], axis=0) * size
            poses.append((int(person["id"]), (float(centre[0]), float(centre[1]))))
        out[int(frame["frame"]) + 1] = poses
    return out


def inside(point: tuple[float, float], box: tuple[float, float, float, float]) -> bool:
    left, top, width, height = box
    return left <= point[0] <= left + width and top <= point[1] <= top + height


def score_clip(labels: dict[int, list[Label]], poses: dict[int, list[Pose]]) -> dict:
    accumulator = mm.MOTAccumulator(auto_id=True)
    covered: dict[int, Counter] = defaultdict(Counter)  # dancer -> Counter of ids on them
    found_at: dict[int, set[int]] = defaultdict(set)  # dancer -> frames where found
    for frame, frame_labels in sorted(labels.items()):
        dancers = [label for label in frame_labels if label.conf > 0]
        ignore = [label for label in frame_labels if label.conf <= 0]
        here = poses.get(frame, [])
        cost = np.full((len(dancers), len(here)), np.nan)
        for row, label in enumerate(dancers):
            left, top, width, height = label.box
            centre = (left + width / 2, top + height / 2)
            for col, (_, point) in enumerate(here):
                if inside(point, label.box):
                    cost[row, col] = np.hypot(point[0] - centre[0], point[1] - centre[1]) / height
        kept = [
            col
            for col, (_, point) in enumerate(here)
            if np.isfinite(cost[:, col]).any() or not any(inside(point, g.box) for g in ignore)
        ]
        accumulator.update(
            [label.id for label in dancers], [here[col][0] for col in kept], cost[:, kept]
        )
    frames = sorted(labels)  # the accumulator numbers them 0, 1, ... in this order
    events = accumulator.mot_events
    for (index, _), event in events[events["Type"].isin(["MATCH", "SWITCH"])].iterrows():
        covered[int(event["OId"])][int(event["HId"])] += 1
        found_at[int(event["OId"])].add(frames[int(index)])
    values = _metrics([accumulator])["clip 1"]
    by_id: dict[int, Counter] = defaultdict(Counter)
    for dancer, ids in covered.items():
        for ident, count in ids.items():
            by_id[ident][dancer] += count
    carried = sorted(
        ident
        for ident, dancers in by_id.items()
        if sum(1 for count in dancers.values() if count >= CARRIED_FRAMES) >= 2
    )
    return {
        **values,
        "accumulator": accumulator,
        "ids": len(by_id),
        "ids_per_dancer": {d: dict(ids.most_common()) for d, ids in sorted(covered.items())},
        "carried": carried,
        "found_at": {d: sorted(frames) for d, frames in found_at.items()},
    }


METRICS = ["idf1", "idr", "idp", "mota", "recall", "precision", "num_switches"]
METRICS += ["num_fragmentations", "num_unique_objects"]


def _metrics(accumulators: list[mm.MOTAccumulator]) -> dict[str, dict]:
    """motmetrics' figures of each accumulator ("clip 1", ...) and, with several, of all
    together ("total")."""
    names = [f"clip {i + 1}" for i in range(len(accumulators))]
    summary = mm.metrics.create().compute_many(
        accumulators, metrics=METRICS, names=names, generate_overall=len(accumulators) > 1
    )
    out = {}
    for name, row in summary.iterrows():
        values = {metric: float(row[metric]) for metric in METRICS}
        out["total" if name == "OVERALL" else str(name)] = {
            **values,
            "switches": int(values.pop("num_switches")),
            "fragmentations": int(values.pop("num_fragmentations")),
            "dancers": int(values.pop("num_unique_objects")),
        }
    return out


def total(results: list[dict], name: str) -> dict:
    """The clips' figures pooled (motmetrics' overall), with their ids and speed summed."""
    pooled = _metrics([r["accumulator"] for r in results])["total"]
    frames = sum(r["frames"] for r in results)
    return {
        **pooled,
        "clip": name,
        "max_people": "-",
        "labelled_frames": sum(r["labelled_frames"] for r in results),
        "ids": sum(r["ids"] for r in results),
        "carried": [i for r in results for i in r["carried"]],
        "fps": frames / sum(r["frames"] / r["fps"] for r in results),
        "frames": frames,
    }


def ceiling(clip: str, labels: dict[int, list[Label]], folder: Path) -> dict[int, set[int]]:
    """Dancer -> the labelled frames where the single-person pipeline finds them alone: in a
    crop of their box (enlarged 1.25x, squared; grey beyond the box grown by `ALONE_MARGIN`,
    so that the dancer beside is not in the picture), a pose that the scoring rule gives to them
    (its torso's centre, back in the frame, in their box and nearest their box's centre): a
    crop of a dancer behind another shows the one in front too, and BlazePose finding that
    one is not finding the dancer."""
    crops: dict[int, list[tuple[int, np.ndarray, tuple[int, int, int]]]] = defaultdict(list)
    for frame, rgb in decode(DANCERS / f"{clip}.mp4", labels):
        h, w = rgb.shape[:2]
        for label in labels[frame]:
            if label.conf <= 0:
                continue
            left, top, width, height = label.box
            side = 1.25 * max(width, height)
            cx, cy = left + width / 2, top + height / 2
            x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
            x1, y1 = int(round(cx + side / 2)), int(round(cy + side / 2))
            canvas = np.full((y1 - y0, x1 - x0, 3), 114, np.uint8)
            # only the box, a little grown, shows: the dancer beside is not in the picture
            grow = ALONE_MARGIN * max(width, height)
            sx0, sy0 = max(0, int(left - grow)), max(0, int(top - grow))
            sx1, sy1 = min(w, int(left + width + grow)), min(h, int(top + height + grow))
            canvas[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
            crop = cv2.resize(canvas, (CEILING_SIDE, CEILING_SIDE))
            crops[label.id].append((frame, crop, (x0, y0, x1 - x0)))
    found: dict[int, set[int]] = {}
    for dancer, items in crops.items():
        path = write_clip(folder / f"{clip}-{dancer}.mp4", [rgb for _, rgb, _ in items], fps=10)
        result = analyze_video(path, folder / "alone", PipelineOptions(analysis=None, exports=()))
        frames = tracked(result.keypoints_path)
        found[dancer] = set()
        for i, (frame, _, (x0, y0, side)) in enumerate(items):
            for _, (x, y) in frames.get(i + 1, []):
                point = (x0 + x * side / CEILING_SIDE, y0 + y * side / CEILING_SIDE)
                if _nearest_dancer(labels[frame], point) == dancer:
                    found[dancer].add(frame)
    return found


def _nearest_dancer(labels: list[Label], point: tuple[float, float]) -> int | None:
    """The labelled dancer the scoring rule gives a pose whose torso centre is `point`."""
    costs = [
        (np.hypot(point[0] - (left + width / 2), point[1] - (top + height / 2)) / height, label.id)
        for label in labels
        if label.conf > 0 and inside(point, label.box)
        for left, top, width, height in [label.box]
    ]
    return min(costs)[1] if costs else None


def run_clip(clip: str, folder: Path, with_ceiling: bool) -> dict:
    labels = read_labels(clip)
    options = PipelineOptions(max_people=MAX_PEOPLE[clip], analysis=None, exports=())
    started = time.perf_counter()
    result = analyze_video(DANCERS / f"{clip}.mp4", folder / clip, options)
    fps = result.metrics["processed_frames"] / (time.perf_counter() - started)
    scores = score_clip(labels, tracked(result.keypoints_path))
    scores |= {"clip": clip, "max_people": MAX_PEOPLE[clip], "fps": fps}
    scores["frames"] = result.metrics["processed_frames"]
    scores["labelled_frames"] = len(labels)
    if with_ceiling:
        alone = ceiling(clip, labels, folder)
        scores["ceiling"] = {d: len(f) / max(1, _labelled(labels, d)) for d, f in alone.items()}
        scores["of_ceiling"] = {
            d: len(f & set(scores["found_at"].get(d, ()))) / max(1, len(f))
            for d, f in alone.items()
        }
    scores.pop("found_at")
    return scores


def _labelled(labels: dict[int, list[Label]], dancer: int) -> int:
    return sum(1 for frame in labels.values() for label in frame if label.id == dancer)


HEADER = (
    "| clip | max_people | labelled frames | IDF1 | IDR | MOTA | recall | precision | switches "
    "| frag. | ids (dancers) | carried | of ceiling | frames/s |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def line(r: dict) -> str:
    of = r.get("of_ceiling")
    ceiling_text = ", ".join(f"{v:.0%}" for _, v in sorted(of.items())) if of else "-"
    return (
        f"| {r['clip']} | {r['max_people']} | {r['labelled_frames']} | {r['idf1']:.3f} | "
        f"{r['idr']:.3f} | {r['mota']:.3f} | {r['recall']:.3f} | {r['precision']:.3f} | "
        f"{r['switches']} | {r['fragmentations']} | {r['ids']} ({r['dancers']}) | "
        f"{len(r['carried'])} | {ceiling_text} | {r['fps']:.1f} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", default=",".join(CLIPS))
    parser.add_argument("--ceiling", action="store_true", help="also each dancer alone")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if not DANCERS.exists():
        print(f"{DANCERS} is absent: this benchmark needs the shared footage", file=sys.stderr)
        return 2
    results = []
    print(HEADER, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for clip in args.clips.split(","):
            results.append(run_clip(clip, Path(tmp), args.ceiling))
            print(line(results[-1]), flush=True)
    clips = list(results)
    scored = [r for r in clips if r["clip"] not in RECALL_ONLY]
    for name, pool in (("total, labelled clips", scored), ("total, every clip", clips)):
        if len(pool) > 1:
            results.append(total(pool, name))
            print(line(results[-1]), flush=True)
    if args.json:
        for r in results:
            r.pop("accumulator", None)
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
