"""Several people on real footage: the shared street scene (1280x720, 50 fps, pedestrians),
with `max_people` 4. Several are found per frame; each id stays on one person: its torso
moves smoothly from frame to frame and its clothes keep their colour."""

from __future__ import annotations

import copy
import json

import av
import cv2
import numpy as np
import pytest

from pipeline.runner import PipelineOptions, analyze_video
from tests.clips import STREET_VIDEO, shared_file

TORSO = [11, 12, 23, 24]
LONG = 30  # frames: a track this long is a real pedestrian followed, not a passing glitch


@pytest.fixture(scope="module")
def street(tmp_path_factory):
    video = shared_file(STREET_VIDEO)
    out = tmp_path_factory.mktemp("street-people")
    result = analyze_video(video, out, PipelineOptions(max_people=4, analysis=None))
    keypoints = json.loads(result.keypoints_path.read_text())
    with av.open(str(video)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return result, keypoints, frames


def tracks(keypoints) -> dict[int, list[tuple[int, np.ndarray, float, np.ndarray]]]:
    """Per id: (frame, torso centre px, torso length px, torso corners px) where found."""
    width, height = keypoints["video"]["width"], keypoints["video"]["height"]
    found: dict[int, list] = {}
    for frame in keypoints["frames"]:
        for person in frame["people"]:
            points = np.array([[p["x"] * width, p["y"] * height] for p in person["landmarks"]])
            torso = points[TORSO]
            length = float(np.linalg.norm(torso[:2].mean(axis=0) - torso[2:].mean(axis=0)))
            found.setdefault(person["id"], []).append(
                (frame["frame"], torso.mean(axis=0), length, torso)
            )
    return found


def test_several_pedestrians_are_found_per_frame(street):
    result, keypoints, _ = street
    counts = np.array([len(frame["people"]) for frame in keypoints["frames"]])
    assert counts.mean() >= 2.5  # measured 3.16
    assert (counts >= 3).mean() >= 0.5  # measured 0.95
    assert result.metrics["max_people_in_frame"] == 4
    long = [i for i, track in tracks(keypoints).items() if len(track) >= LONG]
    assert len(long) >= 4  # measured 5


def test_nobody_is_counted_twice(street):
    _, keypoints, _ = street
    for frame in keypoints["frames"]:
        centres = [
            np.array([[p["landmarks"][i]["x"] * 1280, p["landmarks"][i]["y"] * 720] for i in TORSO])
            for p in frame["people"]
        ]
        for a in range(len(centres)):
            for b in range(a + 1, len(centres)):
                gap = np.linalg.norm(centres[a].mean(axis=0) - centres[b].mean(axis=0))
                assert gap > 20, frame["frame"]


STEP = 0.6  # torso lengths a frame: above it an id jumped (see `jumps`)


def jumps(keypoints) -> list[tuple[int, int, float]]:
    """(id, frame, step) where a long track's torso centre moved more than `STEP` of its
    median torso length in a frame. A swap jumps an id from one pedestrian to another, at
    least the gap between them: the two nearest pedestrians followed at once on this footage
    are 0.84 torso lengths apart. A half-hidden pedestrian's hips, guessed, move the torso
    centre by up to 0.53 (measured)."""
    found = []
    for person_id, track in tracks(keypoints).items():
        if len(track) < LONG:
            continue
        size = float(np.median([length for _, _, length, _ in track]))
        for (f0, c0, _, _), (f1, c1, _, _) in zip(track, track[1:], strict=False):
            step = float(np.linalg.norm(c1 - c0)) / (f1 - f0) / size
            if step >= STEP:
                found.append((person_id, f1, step))
    return found


WINDOW = 15  # frames of a track whose colours are compared with the next ones
MARGIN = 10.0  # RGB levels: how much nearer the other's colour must be to count as a trade


def colour_mismatches(keypoints, frames) -> list[tuple[int, int, int]]:
    """(i, j, frame) where tracks i and j traded clothes at `frame`: the torso colour of
    each over the `WINDOW` frames after it is nearer to the other's over the frames before
    than to its own, by `MARGIN` at least (two pedestrians both in black differ by less
    than one's colour drifts as they turn: no colour tells them apart). A swap trades both
    ways; one pedestrian turning round (a blue jacket from the front, a black backpack from
    behind) changes one track only. (One id taking
    over another's pedestrian while that one is lost jumps by the gap between them: see
    `jumps`.) Colours are medians over frames where the torso is clear of everyone else's:
    a pedestrian passing in front lends their colour."""
    width, height = keypoints["video"]["width"], keypoints["video"]["height"]

    def colour(frame: int, corners: np.ndarray) -> np.ndarray:
        inner = corners.mean(axis=0) + 0.6 * (corners[[0, 1, 3, 2]] - corners.mean(axis=0))
        mask = np.zeros(frames[frame].shape[:2], np.uint8)
        cv2.fillPoly(mask, [inner.astype(np.int32)], 1)
        return frames[frame][mask.astype(bool)].mean(axis=0)

    boxes: dict[int, list[np.ndarray]] = {}  # frame -> torso boxes of everyone found
    for entry in keypoints["frames"]:
        for person in entry["people"]:
            torso = np.array([[person["landmarks"][i][k] for k in "xy"] for i in TORSO])
            torso *= (width, height)
            boxes.setdefault(entry["frame"], []).append(
                np.concatenate([torso.min(axis=0), torso.max(axis=0)])
            )

    def clear(frame: int, corners: np.ndarray) -> bool:
        own = np.concatenate([corners.min(axis=0), corners.max(axis=0)])
        return not any(
            min(own[2], b[2]) > max(own[0], b[0]) and min(own[3], b[3]) > max(own[1], b[1])
            for b in boxes[frame]
            if not np.allclose(b, own)
        )

    colours = {
        i: {f: colour(f, c) for f, _, _, c in t if clear(f, c)}
        for i, t in tracks(keypoints).items()
        if len(t) >= LONG
    }

    def median(i: int, low: int, high: int) -> np.ndarray | None:
        seen = [c for f, c in colours[i].items() if low <= f < high]
        return np.median(seen, axis=0) if len(seen) >= WINDOW // 3 else None

    found = []
    for i, own in colours.items():
        for frame in range(min(own, default=0) + WINDOW, max(own, default=0)):
            for j in colours:
                views = [
                    median(k, low, low + WINDOW) for k in (i, j) for low in (frame - WINDOW, frame)
                ]
                if j == i or any(view is None for view in views):
                    continue
                i_before, i_after, j_before, j_after = views
                if np.linalg.norm(i_after - j_before) + MARGIN < np.linalg.norm(
                    i_after - i_before
                ) and np.linalg.norm(j_after - i_before) + MARGIN < np.linalg.norm(
                    j_after - j_before
                ):
                    found.append((i, j, frame))
    return found


def test_each_id_moves_smoothly(street):
    _, keypoints, _ = street
    assert jumps(keypoints) == []


def test_each_id_keeps_the_colour_of_its_clothes(street):
    _, keypoints, frames = street
    assert colour_mismatches(keypoints, frames) == []


# Five pedestrians, annotated by hand: the point between their shoulders (x, y px) in some
# frames, checked on crops of each (the woman with the sign, the man with a white bag, the
# woman in black with a small bag who walks out on the left, the woman with a red bag, the
# man in a blue jacket with a backpack who walks in behind the woman in black).
PEDESTRIANS = {
    "sign": [(0, 653, 103), (20, 694, 205), (40, 715, 195), (60, 709, 237), (80, 714, 198),
             (100, 725, 194), (120, 739, 262), (140, 713, 206), (160, 664, 203),
             (180, 771, 236), (200, 932, 184)],
    "white bag": [(10, 447, 189), (30, 471, 181), (50, 512, 172), (70, 501, 213),
                  (90, 506, 195), (110, 563, 221), (130, 592, 239), (150, 544, 202),
                  (170, 496, 202), (190, 499, 188)],
    "black bag": [(10, 318, 213), (30, 303, 213), (50, 299, 221), (70, 245, 250),
                  (90, 190, 247), (110, 188, 270)],
    "red bag": [(130, 396, 281), (150, 325, 250), (170, 271, 255), (190, 255, 248)],
    "blue jacket": [(180, 42, 196), (186, 43, 201), (192, 61, 184), (198, 60, 162),
                    (204, 79, 165)],
}  # fmt: skip
NEAR = 30  # px between a pose's point between the shoulders and the annotated one


def ids_on_pedestrians(keypoints) -> dict[str, list[int | None]]:
    """Each annotated pedestrian's id in each annotated frame (None: not found there)."""
    width, height = keypoints["video"]["width"], keypoints["video"]["height"]
    found: dict[str, list[int | None]] = {}
    for name, points in PEDESTRIANS.items():
        for frame, x, y in points:
            near = [
                person["id"]
                for person in keypoints["frames"][frame]["people"]
                if np.hypot(
                    np.mean([person["landmarks"][i]["x"] for i in (11, 12)]) * width - x,
                    np.mean([person["landmarks"][i]["y"] for i in (11, 12)]) * height - y,
                )
                <= NEAR
            ]
            found.setdefault(name, []).append(near[0] if near else None)
    return found


def test_each_annotated_pedestrian_keeps_one_id_that_nobody_else_gets(street):
    """An id that passes from one pedestrian to another (the woman in black walks out on
    the left as the man in the blue jacket walks in behind her) moves little in a frame and
    trades no clothes with anyone: `jumps` and `colour_mismatches` miss it; this does not."""
    _, keypoints, _ = street
    found = ids_on_pedestrians(keypoints)
    owners: dict[int, set[str]] = {}
    for name, ids in found.items():
        seen = [i for i in ids if i is not None]
        assert len(seen) >= len(ids) / 2, (name, ids)  # found in half their frames at least
        assert len(set(seen)) == 1, (name, ids)  # one id from start to end
        owners.setdefault(seen[0], set()).add(name)
    assert all(len(names) == 1 for names in owners.values()), owners


def test_both_checks_catch_a_swap_made_on_purpose(street):
    """The two pedestrians followed together longest trade ids halfway through the frames
    they share: both checks see it."""
    _, keypoints, frames = street
    shared = {
        (i, j): sorted({f for f, *_ in a} & {f for f, *_ in b})
        for i, a in tracks(keypoints).items()
        for j, b in tracks(keypoints).items()
        if i < j and len(a) >= LONG and len(b) >= LONG
    }
    (i, j), together = max(shared.items(), key=lambda item: len(item[1]))
    frame = together[len(together) // 2]
    swapped = copy.deepcopy(keypoints)
    for entry in swapped["frames"][frame:]:
        for person in entry["people"]:
            person["id"] = {i: j, j: i}.get(person["id"], person["id"])
    assert any(f == frame for _, f, _ in jumps(swapped))
    assert colour_mismatches(swapped, frames)
