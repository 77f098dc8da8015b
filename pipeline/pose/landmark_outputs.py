"""What a run makes of its landmarks once every frame is through the model: `keypoints.json`
(`pipeline.pose.keypoints`) and the motion exports (`pipeline.motion`).

The rows are the frame writer's: each frame's index, time and image landmarks (one dancer:
a (33, 4) array or None; several: [(id, (33, 4))]), and beside them each frame's world
landmarks in the exports' axes (one dancer: (33, 3) or None; several: {id: (33, 3)}). A
whole video's world landmarks are smoothed before they are written; a segment's
(`pipeline.segments.cuts`) are written as found, for the stitch to smooth them with the
rest of the video.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.motion.exports import Exports, write_exports
from pipeline.motion.world import AXES, WorldTrack, world_track
from pipeline.pose.keypoints import KeypointsWriter
from pipeline.pose.steady import smooth_rows, smoothing_description, weights
from pipeline.smoothing import DEFAULT_CUTOFF_HZ, DEFAULT_MAX_GAP_FRAMES

Row = tuple[int, float, Any]  # (frame index, time_s, landmarks or People)
SMOOTHING = (
    f"zero-phase Butterworth low-pass at {DEFAULT_CUTOFF_HZ:g} Hz, as the angles; gaps of up "
    f"to {DEFAULT_MAX_GAP_FRAMES} frames filled (in the exports), longer ones left empty"
)


def world_description(*, smoothed: bool) -> dict[str, str]:
    return {
        "units": "m",
        "origin": "the point between the hips",
        "axes": AXES,
        "smoothing": SMOOTHING if smoothed else "none: as the model found them",
    }


def world_tracks(
    rows: Sequence[Row],
    world_rows: Sequence[Any],
    *,
    several: bool,
    width: int,
    height: int,
    fps: float,
) -> list[WorldTrack]:
    """One track per dancer (one dancer: person 1), over every frame."""
    times = [time_s for _, time_s, _ in rows]

    def track(person: int, image: list, world: list) -> WorldTrack:
        return world_track(person, times, image, world, width=width, height=height, fps=fps)

    if not several:
        return [track(1, [found for _, _, found in rows], list(world_rows))]
    ids = sorted({person_id for _, _, people in rows for person_id, _ in people})
    return [
        track(
            person_id,
            [dict(people).get(person_id) for _, _, people in rows],
            [world.get(person_id) for world in world_rows],
        )
        for person_id in ids
    ]


def write_landmark_outputs(
    out: Path,
    keypoints_path: Path,
    video: dict[str, Any],
    rows: Sequence[Row],
    world_rows: Sequence[Any],
    *,
    several: bool,
    fps: float,
    formats: Sequence[str] = (),
    whole: bool = True,
    model: str = "full",
    smoothing: str = "none",
) -> Exports:
    """Write keypoints.json and, for a `whole` video, the exports of `formats`; a segment's
    (`whole` False) keypoints.json keeps its world landmarks as found, and it has no
    exports. `smoothing`: the level of the image landmarks' smoothed copy
    (`pipeline.pose.steady`)."""
    world = list(world_rows)
    exports = Exports()
    if whole:
        tracks = world_tracks(
            rows,
            world_rows,
            several=several,
            width=int(video["width"]),
            height=int(video["height"]),
            fps=fps,
        )
        if several:
            by_id = {track.person: track.points for track in tracks}
            world = [
                {person_id: by_id[person_id][i] for person_id, _ in people}
                for i, (_, _, people) in enumerate(rows)
            ]
        else:
            world = list(tracks[0].points)
        frames = np.array([index for index, _, _ in rows], dtype=np.int64)
        exports = write_exports(out, frames, tracks, fps, formats, several=several)
    keypoints = KeypointsWriter(
        keypoints_path,
        video,
        people=several,
        world=world_description(smoothed=whole),
        model=model,
        smoothing=smoothing_description(smoothing),
    )
    kernel = weights(fps, smoothing)
    steady = smooth_rows([found for _, _, found in rows], kernel, several=several)
    if len(kernel) == 1:
        steady = [None] * len(rows)  # no copy: the landmarks are what the overlay drew
    try:
        for (index, time_s, found), points, smoothed in zip(rows, world, steady, strict=True):
            if several:
                keypoints.add_people(index, time_s, found, points, smoothed)
            else:
                keypoints.add(index, time_s, found, points, smoothed)
    except BaseException:
        keypoints.abort()
        raise
    keypoints.close()
    return exports
