"""Stable identities for several people across frames.

Each frame's poses are matched to the people already seen by the Hungarian method
(`scipy.optimize.linear_sum_assignment`) on a cost: the mean distance between the torso
points (shoulders and hips) of the pose and of the person's predicted pose, in the person's
torso lengths, to the person's predicted pose or to the last one seen, whichever is nearer.
The prediction carries each person's last motion one frame on (constant velocity), so two
dancers who pass each other keep their ids. A pair costing more than `max_cost` is no
match.

A person not matched stays remembered for `max_missed` frames (an occlusion, a missed
detection, a dancer passing behind another) and is matched again by position, within a gate
that widens by `_GATE_GROWTH` torso lengths a frame unseen (the prediction is less sure the
longer it runs); after that a returning person gets a new id. The velocity is smoothed
(`_SMOOTHING`): a pose shrinking as it is covered must not fling the prediction.
New people get ids 1, 2, 3 ... in order of first appearance (left to right within a frame).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

TORSO = (11, 12, 23, 24)  # shoulders and hips
_VISIBLE = 0.5
_GATE_GROWTH = 0.05  # torso lengths a frame: the longer unseen, the less sure where
_SMOOTHING = 0.3  # of the newest step in the velocity: one jittery pose does not fling it


@dataclass
class Person:
    id: int
    torso: np.ndarray  # (4, 2) pixels, last seen
    velocity: np.ndarray  # (4, 2) pixels per frame
    size: float  # torso length, pixels
    missed: int = 0

    def predicted(self) -> np.ndarray:
        return self.torso + self.velocity * (self.missed + 1)


class PeopleTracker:
    """`update(poses)` once per frame, in order; returns the id of each pose."""

    def __init__(
        self, width: int, height: int, *, max_missed: int = 45, max_cost: float = 0.75
    ) -> None:
        self.scale = np.array([width, height], dtype=np.float64)
        self.max_missed, self.max_cost = max_missed, max_cost
        self.people: list[Person] = []
        self.next_id = 1

    def update(self, poses: list[np.ndarray]) -> list[int]:
        """`poses`: (33, 4) arrays of one frame (x, y normalised, z, visibility)."""
        torsos = [self._torso(pose) for pose in poses]
        ids: list[int | None] = [None] * len(poses)
        matched: set[int] = set()
        if self.people and poses:
            cost = np.array([[self._cost(p, t) for t in torsos] for p in self.people])
            rows, cols = linear_sum_assignment(np.minimum(cost, 1e6))
            for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
                if cost[row, col] <= self.max_cost + _GATE_GROWTH * self.people[row].missed:
                    self._follow(self.people[row], torsos[col])
                    ids[col] = self.people[row].id
                    matched.add(row)
        for index, person in enumerate(self.people):
            if index not in matched:
                person.missed += 1
        self.people = [p for p in self.people if p.missed <= self.max_missed]
        new = [i for i in range(len(poses)) if ids[i] is None]
        for i in sorted(new, key=lambda i: float(torsos[i][0][:, 0].mean())):
            ids[i] = self._start(torsos[i])
        return [int(i) for i in ids if i is not None]

    def _torso(self, pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The torso points in pixels (BlazePose places even unseen ones) and which are seen."""
        points = pose[list(TORSO), :2].astype(np.float64) * self.scale
        return points, pose[list(TORSO), 3] >= _VISIBLE

    def _cost(self, person: Person, torso: tuple[np.ndarray, np.ndarray]) -> float:
        """To the predicted torso, or to the last one seen if nearer: a jittery pose makes a
        wild velocity, which must not lose the person."""
        points, seen = torso
        use = seen if seen.any() else np.ones_like(seen)
        distance = min(
            np.linalg.norm(points[use] - anchor[use], axis=1).mean()
            for anchor in (person.predicted(), person.torso)
        )
        return float(distance / max(person.size, 1.0))

    def _follow(self, person: Person, torso: tuple[np.ndarray, np.ndarray]) -> None:
        points, _ = torso
        step = (points - person.torso) / (person.missed + 1)
        person.velocity = _SMOOTHING * step + (1 - _SMOOTHING) * person.velocity
        person.torso = points
        person.size = _torso_length(points) or person.size
        person.missed = 0

    def _start(self, torso: tuple[np.ndarray, np.ndarray]) -> int:
        points, _ = torso
        person = Person(self.next_id, points, np.zeros_like(points), _torso_length(points))
        self.people.append(person)
        self.next_id += 1
        return person.id


def _torso_length(torso: np.ndarray) -> float:
    shoulders, hips = torso[:2].mean(axis=0), torso[2:].mean(axis=0)
    length = float(np.linalg.norm(shoulders - hips))
    return length if np.isfinite(length) else 0.0
