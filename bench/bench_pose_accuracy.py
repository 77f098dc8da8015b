"""Pose accuracy against people's labels (issue 32): the pipeline users get, on the people of 29
COCO photos with human-labelled keypoints, scored with COCO's OKS and with PCK
(`bench/pose_accuracy.py`), for each model and each pair of detection and tracking
thresholds; and how often it finds a pose in footage with nobody in it.

    python bench/bench_pose_accuracy.py [--models full] [--detection 0.1,0.3,0.5,0.7]
                                        [--tracking 0.5] [--limit N] [--json PATH]

People: the 57 annotations of `../shared/data/coco_people/person_keypoints.json` with 5 or
more labelled keypoints. Each is shown alone, as a user's clip would show a dancer: its box
enlarged 1.25 times around its centre (kept within the photo), scaled up so that the shorter
side is at least 256 px (padded by a pixel to even sides), written as a still clip (15
identical frames at 15 fps, H.264 with PyAV) and run through `analyze_video` with the options
the command line builds (`pipeline.options.pipeline_options`), without the analysis step or
motion exports. The last frame's 33 landmarks (keypoints.json) are mapped to COCO's 17 and put
back in the photo's pixels; a person whose last frame has no pose is missed and scores 0.

Empty footage, the same options:
- backgrounds: of each COCO photo, the largest square that overlaps no person box (every
  annotation, crowds and people with few labels included, each box enlarged 1.5 times), if at
  least 96 px, as a still clip like a person's; two were looked at and left out
  (`NOT_EMPTY`): a person the labels miss is in them;
- the pipeline's own empty scene (`pipeline.video.samples`, person None): a plain background
  with a moving disc, 480x360, 30 frames;
- road: the street footage's bottom-left corner (x 0..384, y 560..720 of 1280x720), all 205
  frames at 50 fps, scaled to 614x256: the camera moves, nobody walks in that corner.
A false detection is a frame of these where keypoints.json has a pose.

Frames per second: every frame of a setting's clips (people and empty) over the wall time of
its `analyze_video` calls, each of which starts the model afresh (one warm-up run first).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import av  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from bench.pose_accuracy import (  # noqa: E402
    COCO_KEYPOINTS,
    COCO_PEOPLE,
    LABELS,
    Crop,
    Person,
    coco_from_blazepose,
    free_square,
    load_labels,
    person_crop,
    region_crop,
    summarize,
)
from pipeline.options import pipeline_options  # noqa: E402
from pipeline.pose.keypoints import landmarks_array  # noqa: E402
from pipeline.pose.models import MODELS, ModelUnavailable, require  # noqa: E402
from pipeline.runner import PipelineOptions, analyze_video  # noqa: E402
from pipeline.video.samples import make_clip, steady_encoding  # noqa: E402
from shared.job_options import SettledOptions  # noqa: E402

STILL_FRAMES, STILL_FPS = 15, 15
STREET_VIDEO = COCO_PEOPLE.parent / "street_people_720p.avi"
ROAD = (0, 560, 384, 720)  # left, top, right, bottom: no pedestrian there in any frame
NOT_EMPTY = {
    "000000549055.jpg": "the surfer's foot, outside his box, on the board",
    "000000434204.jpg": "a person behind the lamp post, not labelled",
}


def setting_options(model: str, detection: float, tracking: float) -> PipelineOptions:
    """A user's options (as `dance-analyzer analyze` builds them) with this model and these
    thresholds; no analysis step, no motion exports. A model not installed stops here, with
    the command that installs it."""
    if model not in MODELS:
        raise SystemExit(f"unknown model {model!r}: known {', '.join(MODELS)}")
    try:
        require(model)
    except ModelUnavailable as exc:
        raise SystemExit(exc.message) from None
    settled = SettledOptions(
        min_detection_confidence=detection,
        min_tracking_confidence=tracking,
        exports=(),
        model=model,
    )
    return replace(pipeline_options(settled), analysis=None)


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(os.fspath(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(path)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def crop_frame(photo: np.ndarray, crop: Crop) -> np.ndarray:
    """The crop's frame: the region scaled, padded at the right and bottom to even sides."""
    region = photo[crop.top : crop.bottom, crop.left : crop.right]
    size = (crop.scaled_width, crop.scaled_height)
    if size != (region.shape[1], region.shape[0]):
        region = cv2.resize(region, size, interpolation=cv2.INTER_CUBIC)
    return cv2.copyMakeBorder(
        region,
        0,
        crop.height - crop.scaled_height,
        0,
        crop.width - crop.scaled_width,
        cv2.BORDER_REPLICATE,
    )


def write_clip(path: Path, frames: Iterable[np.ndarray], fps: int = STILL_FPS) -> Path:
    """RGB frames as H.264 in MP4, encoded as `pipeline.video.samples` encodes its clips."""
    time_base = Fraction(1, fps)
    with av.open(os.fspath(path), "w") as out:
        stream = cast(av.VideoStream, out.add_stream("libx264", rate=fps))
        stream.pix_fmt = "yuv420p"
        stream.options = steady_encoding("libx264")
        stream.time_base = stream.codec_context.time_base = time_base
        for i, rgb in enumerate(frames):
            if i == 0:
                stream.width, stream.height = rgb.shape[1], rgb.shape[0]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts, frame.time_base = i, time_base
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def person_clip(person: Person, folder: Path) -> tuple[Path, Crop]:
    crop = person_crop(person.bbox, person.image_width, person.image_height)
    frame = crop_frame(read_rgb(COCO_PEOPLE / person.file_name), crop)
    clip = write_clip(folder / f"person-{person.id}.mp4", [frame] * STILL_FRAMES)
    return clip, crop


def run(
    clip: Path, out: Path, options: PipelineOptions
) -> tuple[list[np.ndarray | None], float, tuple[int, int]]:
    """Each frame's 33 landmarks (None: no pose), the wall time of `analyze_video` and the
    frame's size the landmarks are normalised to."""
    started = time.perf_counter()
    result = analyze_video(clip, out, options)
    seconds = time.perf_counter() - started
    keypoints = json.loads(result.keypoints_path.read_text())
    video = keypoints["video"]
    frames = [
        landmarks_array(f["landmarks"]) if f["detected"] else None for f in keypoints["frames"]
    ]
    return frames, seconds, (video["width"], video["height"])


def predicted_person(
    clip: Path, crop: Crop, out: Path, options: PipelineOptions
) -> tuple[np.ndarray | None, int, float]:
    """The person's 17 COCO keypoints in the photo's pixels from the clip's last frame (None
    when it has no pose), the clip's frames and the pipeline's wall time."""
    frames, seconds, size = run(clip, out, options)
    if size != (crop.width, crop.height):
        raise RuntimeError(
            f"{clip}: the pipeline saw {size}, the crop is {crop.width}x{crop.height}"
        )
    last = frames[-1] if frames else None
    predicted = None if last is None else crop.to_image(coco_from_blazepose(last))
    return predicted, len(frames), seconds


@dataclass(frozen=True)
class EmptyClip:
    name: str
    path: Path


def empty_clips(folder: Path, boxes: dict[str, list[tuple[float, ...]]]) -> list[EmptyClip]:
    """The footage with nobody in it (see the module's docstring)."""
    clips = [
        EmptyClip(
            "empty scene",
            Path(make_clip(folder / "empty-scene.mp4", person=None, width=480, height=360)),
        )
    ]
    if STREET_VIDEO.exists():
        clips.append(EmptyClip("road", write_clip(folder / "road.mp4", _road_frames(), fps=50)))
    else:
        print(f"{STREET_VIDEO} is absent: the road is left out", file=sys.stderr)
    for name, photo_boxes in sorted(boxes.items()):
        if name in NOT_EMPTY:
            continue
        photo = read_rgb(COCO_PEOPLE / name)
        square = free_square(photo.shape[1], photo.shape[0], photo_boxes)
        if square is None:
            continue
        left, top, side = square
        frame = crop_frame(photo, region_crop(left, top, left + side, top + side))
        path = write_clip(folder / f"background-{Path(name).stem}.mp4", [frame] * STILL_FRAMES)
        clips.append(EmptyClip(f"background {Path(name).stem}", path))
    return clips


def _road_frames() -> Iterator[np.ndarray]:
    left, top, right, bottom = ROAD
    crop = region_crop(left, top, right, bottom)
    with av.open(os.fspath(STREET_VIDEO)) as container:
        for frame in container.decode(video=0):
            yield crop_frame(frame.to_ndarray(format="rgb24"), crop)


def measure(
    options: PipelineOptions,
    people: list[tuple[Person, Path, Crop]],
    empty: list[EmptyClip],
    out: Path,
) -> dict:
    """One setting's scores, false detections and speed."""
    predictions, frames, seconds = [], 0, 0.0
    for _, clip, crop in people:
        predicted, n, s = predicted_person(clip, crop, out, options)
        predictions.append(predicted)
        frames, seconds = frames + n, seconds + s
    false_by_clip, empty_frames = {}, 0
    for item in empty:
        found, s, _ = run(item.path, out, options)
        false_by_clip[item.name] = sum(f is not None for f in found)
        frames, seconds, empty_frames = frames + len(found), seconds + s, empty_frames + len(found)
    scores = summarize([p for p, _, _ in people], predictions)
    return {
        **scores,
        "missed": [p.id for (p, _, _), q in zip(people, predictions, strict=True) if q is None],
        "false_detections": sum(false_by_clip.values()),
        "empty_frames": empty_frames,
        "empty_clips": len(empty),
        "false_by_clip": {k: v for k, v in false_by_clip.items() if v},
        "frames": frames,
        "seconds": round(seconds, 2),
        "fps": frames / seconds if seconds else None,
    }


def float_list(text: str) -> list[float]:
    return [float(item) for item in text.split(",") if item]


def table(results: list[dict]) -> str:
    lines = [
        "| model | detection | tracking | people found | mean OKS | OKS >= 0.5 | OKS >= 0.75 "
        "| PCK@0.2 | false detections: frames (clips) | frames/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        pck = "n/a" if r["pck"] is None else f"{r['pck']:.1%}"
        lines.append(
            f"| {r['model']} | {r['detection']:g} | {r['tracking']:g} "
            f"| {r['found']}/{r['people']} | {r['mean_oks']:.3f} | {r['oks_50']:.1%} "
            f"| {r['oks_75']:.1%} | {pck} | {r['false_detections']}/{r['empty_frames']} "
            f"({len(r['false_by_clip'])}/{r['empty_clips']}) "
            f"| {r['fps']:.1f} |"
        )
    return "\n".join(lines)


def error_table(results: list[dict]) -> str:
    """Each keypoint's mean error over the torso, a column per setting."""
    heads = [f"{r['model']} {r['detection']:g}/{r['tracking']:g}" for r in results]
    lines = ["| keypoint | " + " | ".join(heads) + " |", "|---" * (len(heads) + 1) + "|"]
    for name in COCO_KEYPOINTS:
        cells = [r["keypoint_errors"][name] for r in results]
        lines.append(
            f"| {name} | " + " | ".join("n/a" if c is None else f"{c:.3f}" for c in cells) + " |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="full", help="comma-separated: " + ", ".join(MODELS))
    parser.add_argument("--detection", type=float_list, default=[0.1, 0.3, 0.5, 0.7])
    parser.add_argument("--tracking", type=float_list, default=[0.5])
    parser.add_argument("--limit", type=int, help="the first N people and N empty clips")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    models = [name for name in args.models.split(",") if name]
    for name in models:  # unknown or not installed: said before any work
        setting_options(name, 0.5, 0.5)
    labels = COCO_PEOPLE / LABELS
    if not labels.exists():
        print(
            f"{labels} is absent: this benchmark needs the shared data beside the checkout "
            "(../shared/data/coco_people)",
            file=sys.stderr,
        )
        return 2
    started = time.perf_counter()
    people, boxes = load_labels(labels)
    people = people[: args.limit]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clips = [(person, *person_clip(person, folder)) for person in people]
        empty = empty_clips(folder, boxes)[: args.limit]
        out = folder / "out"
        print(
            f"{len(clips)} people, {len(empty)} empty clips; {os.cpu_count()} cores",
            file=sys.stderr,
        )
        analyze_video(clips[0][1], out, setting_options(models[0], 0.5, 0.5))  # warm-up
        for model in models:
            for detection in args.detection:
                for tracking in args.tracking:
                    options = setting_options(model, detection, tracking)
                    setting = {"model": model, "detection": detection, "tracking": tracking}
                    results.append(setting | measure(options, clips, empty, out))
                    r = results[-1]
                    print(
                        f"{model} {detection:g}/{tracking:g}: {r['found']}/{r['people']} found, "
                        f"mean OKS {r['mean_oks']:.3f}, {r['seconds']:.0f} s",
                        file=sys.stderr,
                    )
        empty_names = [item.name for item in empty]
    elapsed = time.perf_counter() - started
    pck_people = results[0]["pck_people"]
    print(table(results))
    print()
    print(
        f"PCK@0.2 over the {pck_people} people with a torso labelled ({results[0]['no_torso']} "
        f"without one are left out); false detections: frames with a pose among "
        f"{results[0]['empty_frames']} frames of {len(empty)} clips with nobody in them."
    )
    for r in results:
        fired = ", ".join(f"{name} {n}" for name, n in r["false_by_clip"].items()) or "none"
        print(f"- {r['model']} {r['detection']:g}/{r['tracking']:g}: poses in {fired}")
    print()
    print("Mean error of each keypoint over the torso (people found who have one):")
    print()
    print(error_table(results))
    print()
    print(f"{elapsed:.0f} s in all, on {os.cpu_count()} cores")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "command": " ".join(["python", "bench/bench_pose_accuracy.py", *sys.argv[1:]]),
                    "cores": os.cpu_count(),
                    "seconds": round(elapsed, 1),
                    "empty_footage": empty_names,
                    "results": results,
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
