"""How well a run followed the people of a scene (`bench.tracking_scenes`), scored with
`motmetrics` (the CLEAR MOT and identity metrics of the MOT Challenge): each frame's poses
against the people visible in it. A pose is that person when the point between its shoulders
is within `MAX_OFFSET` of the person's box height from theirs: landmark boxes are no detector's
boxes (an unseen leg shrinks one by half), so box overlap would miss people found.

- recall: the share of (person, frame) pairs where a visible person was found;
  `worst_recall` the lowest of each person's own share;
- idf1: the identity F1 score (Ristani et al. 2016): how much of each person's time one id
  followed them;
- switches: how often the id on a person changed (motmetrics' `num_switches`), also per
  person and minute of footage;
- ids: how many ids the run gave out.
"""

from __future__ import annotations

import json
from pathlib import Path

import motmetrics as mm
import numpy as np

from bench.tracking_scenes import SHOULDERS, Point, Seen

MAX_OFFSET = 0.25
_FOUND = {"MATCH", "SWITCH"}


def tracked_necks(keypoints_path: Path) -> list[list[tuple[int, Point]]]:
    """(id, point between the shoulders in pixels) of each person in each frame of a schema-2
    keypoints.json."""
    data = json.loads(keypoints_path.read_text())
    scale = np.array([data["video"]["width"], data["video"]["height"]], dtype=np.float64)
    frames = []
    for frame in data["frames"]:
        people = []
        for person in frame.get("people") or []:
            shoulders = np.array(
                [(person["landmarks"][i]["x"], person["landmarks"][i]["y"]) for i in SHOULDERS]
            )
            x, y = shoulders.mean(axis=0) * scale
            people.append((int(person["id"]), (float(x), float(y))))
        frames.append(people)
    return frames


def score(truth: list[list[Seen]], tracked: list[list[tuple[int, Point]]], fps: float) -> dict:
    if len(truth) != len(tracked):
        raise ValueError(f"{len(truth)} frames of truth, {len(tracked)} tracked")
    accumulator = mm.MOTAccumulator(auto_id=True)
    for people, poses in zip(truth, tracked, strict=True):
        distances = np.full((len(people), len(poses)), np.nan)
        for row, person in enumerate(people):
            reach = MAX_OFFSET * (person.box[3] - person.box[1])
            for col, (_, point) in enumerate(poses):
                offset = float(np.hypot(point[0] - person.neck[0], point[1] - person.neck[1]))
                if offset <= reach:
                    distances[row, col] = offset / reach
        accumulator.update([p.id for p in people], [i for i, _ in poses], distances)
    summary = mm.metrics.create().compute(
        accumulator, metrics=["recall", "precision", "idf1", "num_switches"], name="run"
    )
    events = accumulator.mot_events
    found = events[events["Type"].isin(list(_FOUND))]
    visible: dict[int, int] = {}
    for people in truth:
        for person in people:
            visible[person.id] = visible.get(person.id, 0) + 1
    per_person = {
        person: int((found["OId"] == person).sum()) / count for person, count in visible.items()
    }
    minutes = len(truth) / fps / 60
    switches = int(summary["num_switches"].iloc[0])
    return {
        "recall": float(summary["recall"].iloc[0]),
        "worst_recall": min(per_person.values()) if per_person else 0.0,
        "precision": float(summary["precision"].iloc[0]),
        "idf1": float(summary["idf1"].iloc[0]),
        "switches": switches,
        "switches_per_person_minute": switches / max(len(visible), 1) / minutes,
        "ids": len({i for poses in tracked for i, _ in poses}),
        "people": len(visible),
    }


def meets_the_bar(result: dict) -> bool:
    """The issue's bar for a clip: every person found in 9 frames of 10 where they are
    visible, one id each from start to end, no switch, IDF1 0.9 or more."""
    return (
        result["worst_recall"] >= 0.9
        and result["ids"] == result["people"]
        and result["switches"] == 0
        and result["idf1"] >= 0.9
    )
