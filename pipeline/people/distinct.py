"""One pose per person, from the poses `pipeline.people.multi_pose` found in a frame (each
person's own region, the detector where someone was lost, the scans): the same person seen
twice is merged, a part of a person taken for another dropped, and, on a stage, a couple in
close hold kept as two people."""

from __future__ import annotations

import numpy as np

from pipeline.people.crops import area, face_box, inside, visible_box
from pipeline.people.tracking import TORSO, pose_distance, torso_length

MIN_TORSO = 16  # px: a pose smaller is a face or a hand taken for someone
PART = 0.6  # a pose with this share of its box inside a larger pose's box is part of it
BEHIND = 0.6  # ... unless it has a face of its own and a torso this long of the larger's:
# the dancer behind another, whose visible points lie within the front one's reach
FACE_SHARED = 0.3  # of a face's box inside another's: one face
SAME_POSE = 0.3  # torso lengths, median over the body's points: two poses nearer are one

Found = tuple[np.ndarray, float, bool, int]  # pose, off-centre in its view, candidate, rank


def distinct(
    poses: list[Found], width: int, height: int, *, stage: bool
) -> list[tuple[np.ndarray, bool, int]]:
    """One pose per person, with its candidate flag and rank, the people followed first
    (more people than followed in view: those followed keep their place, the others wait).
    Poses whose torso centre is outside the frame, or whose torso is under `MIN_TORSO`
    pixels, are dropped. A pose whose torso centre lies within half a torso length of a
    better one is the same person seen twice (better: of a lower rank, a person's own
    region before the detector's guesses; then nearer the centre of its view, as a region
    of interest is centred on its person; then more visible), unless, on a `stage`, the two
    are two people (`same_person`). A pose whose box (of its visible points) lies mostly
    inside a larger pose's box is a part of that person taken for another, unless, on a
    `stage`, it is someone behind them (`behind`). On a street these two exceptions are off:
    there a pose near another is that one seen twice more often than someone behind."""
    size = np.array([width, height], dtype=np.float64)
    ranked = sorted(
        poses, key=lambda item: (item[3], round(item[1], 1), -float(item[0][:, 3].mean()))
    )
    kept: list[list] = []  # [pose, candidate, centre, torso length, rank]
    for pose, _, candidate, rank in ranked:
        torso = pose[list(TORSO), :2].astype(np.float64) * size
        centre = torso.mean(axis=0)
        if not (0 <= centre[0] <= width and 0 <= centre[1] <= height):
            continue
        length = torso_length(torso)
        if length < MIN_TORSO:
            continue
        same = next(
            (
                other
                for other in kept
                if np.linalg.norm(centre - other[2]) <= 0.5 * max(length, other[3], 1.0)
                and (not stage or same_person(pose, other[0], size))
            ),
            None,
        )
        if same is None:
            kept.append([pose, candidate, centre, length, rank])
        else:
            same[4] = min(same[4], rank)
    boxes = [visible_box(item[0]) for item in kept]
    whole = [
        item
        for i, item in enumerate(kept)
        if not any(
            area(boxes[j]) > area(boxes[i])
            and inside(boxes[i], boxes[j]) > PART
            and not (stage and behind(item[0], item[3], kept[j][0], kept[j][3], size))
            for j in range(len(kept))
        )
    ]
    return [(item[0], item[1], item[4]) for item in sorted(whole, key=lambda item: item[4])]


def same_person(pose: np.ndarray, other: np.ndarray, size: np.ndarray) -> bool:
    """Whether two poses whose torsos' centres are close are one person seen twice: their
    bodies' points lie within `SAME_POSE` of a torso, or they share a face or either shows
    none (two fits of one dancer may differ in the legs, not in the face). Two dancers in
    close hold differ in both, each with a face of their own. `size`: the frame's (width,
    height)."""
    if pose_distance(pose, other, size) <= SAME_POSE:
        return True
    face, other_face = face_box(pose, *size), face_box(other, *size)
    if face is None or other_face is None:
        return True  # two people are told apart by their faces
    return inside(face, other_face) >= FACE_SHARED or inside(other_face, face) >= FACE_SHARED


def behind(
    pose: np.ndarray, length: float, larger: np.ndarray, larger_length: float, size: np.ndarray
) -> bool:
    """Whether `pose` (torso `length` px), whose box lies inside `larger`'s, is someone behind
    that person rather than a part of them: its face is its own (visible, and not on the
    larger pose's face) and its torso is `BEHIND` of the larger's at least (a part of a
    dancer, taken for someone smaller, has neither)."""
    face, other = face_box(pose, *size), face_box(larger, *size)
    own_face = face is not None and (other is None or inside(face, other) < FACE_SHARED)
    return own_face and length >= BEHIND * larger_length
