"""Stable identities for several people across frames.

Each frame's poses are given ids in three passes:

1. **By position.** Poses are matched to the people seen lately by the Hungarian method
   (`scipy.optimize.linear_sum_assignment`) on a cost: the mean distance between the torso
   points (shoulders and hips) of the pose and of the person's predicted pose, in the
   person's torso lengths, to the predicted pose or to the last one seen, whichever is
   nearer. A pose is compared with its left and right exchanged too, whichever is nearer
   (`_aligned`): BlazePose takes a dancer's back for their front at times. The look (below)
   is added to that cost, as DeepSORT and BoT-SORT fuse motion and appearance: a pose
   between two people goes to the one whose clothes it wears. The prediction
   carries each person's last motion on (constant velocity, smoothed
   by `_SMOOTHING`), so two dancers who pass each other keep their ids. The gate widens by
   `_GATE_GROWTH` torso lengths a frame unseen, up to `max_missed` frames; a pose in other
   clothes (`LOOK_REJECT`, below) is never matched, however near.
2. **By appearance** (re-identification, as BoT-SORT and DeepSORT do with embeddings): a
   pose left over is given to a person not seen in this frame whose look is near enough
   (`LOOK_MATCH`) and who could have walked there since (`_REACH`, growing with the frames
   unseen). A look is the colour of the torso: a hue-saturation-value histogram of the
   pixels between shoulders and hips (`appearance`), averaged over the frames a person was
   seen. With `cast` (the most people followed, `max_people`) once that many people are
   established (seen `ESTABLISHED` frames), a pose left over within reach of one of those
   not in this frame belongs to one of them, however unlike its look (a dancer half hidden,
   or lit otherwise): it is given to the nearest in look of them. Beyond reach it is a
   newcomer: on a street with more people than followed, the one who walked out on the
   left is not the one who walks in on the right. Once more people than the cast were given
   ids (a street, not a stage), a pose in clearly other clothes (`LOOK_REJECT`) is not
   given this way either; nor is a scrap of a pose (a torso under `_SHRINK` of the
   person's: the legs of a dancer behind another: such a scrap within reach of them is
   `NOBODY`, neither theirs nor someone new), nor a candidate (below) farther than
   `_REACH` from where the person was lost; once more than `cast` people were seen at once
   (`crowded`) the rule is off. Someone unseen for `forget_after` frames (a minute at 30
   fps) is forgotten.
3. **New people**, ids 1, 2, 3 ... in order of first appearance (left to right within a
   frame). A pose flagged as a candidate (found where false detections happen, e.g. by a
   fine scan) is only a candidate (a negative key, not an id) until it has been seen in
   `confirm_after` frames in a row: one frame's false detection (a flag taken for an arm)
   is never anybody. On a `stage` (the cast established, nobody else ever, never more at
   once), anyone more is a candidate for `EXTRA_CONFIRM` frames.

A look is refused (`LOOK_REJECT`) only as far as it is steady: past a person's own
unsteadiness (how far their looks stray from their average) plus `_LOOK_SPREAD`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

TORSO = (11, 12, 23, 24)  # shoulders and hips
_VISIBLE = 0.5
_GATE_GROWTH = 0.05  # torso lengths a frame: the longer unseen, the less sure where
_SMOOTHING = 0.3  # of the newest step in the velocity: one jittery pose does not fling it
LOOK_MATCH = 0.35  # Bhattacharyya distance between looks: below it, the same clothes
LOOK_REJECT = 0.6  # above it, someone else, however near ...
_LOOK_SPREAD = 0.35  # ... or above a person's own unsteadiness by this much
_LOOK_BINS = (12, 4, 4)  # hue, saturation, value
_LOOK_MEMORY = 0.1  # of each new look in a person's average
_REACH = 1.0  # torso lengths: how far a person found again by look may be from where last seen
_GROWTH = 1.6  # a torso this much longer than a person's lately is not theirs
_SHRINK = 0.6  # nor, however alike its look, given by the cast rule if this much shorter
_TALL_DECAY = 0.99  # a frame, of the longest torso remembered
ESTABLISHED = 15  # frames seen: a person of the cast (a pose seen once may be a false one)
EXTRA_CONFIRM = 5  # frames in a row: someone beyond a cast all established, to get an id
_REACH_GROWTH = 0.1  # torso lengths a frame unseen (a brisk walk at 30 fps)
FORGET_AFTER = 1800  # frames unseen (a minute at 30 fps): then someone is forgotten
NOBODY = 0  # the key `update` gives a pose that is no one's: a scrap of a dancer missing


@dataclass
class Person:
    id: int
    torso: np.ndarray  # (4, 2) pixels, last seen
    velocity: np.ndarray  # (4, 2) pixels per frame
    size: float  # torso length, pixels
    look: np.ndarray | None = None  # the average torso histogram
    missed: int = 0
    hits: int = 1  # frames seen; a candidate (id < 0) becomes a person at `confirm_after`
    tall: float = 0.0  # the longest torso lately (a partial pose shortens one for a while)
    unsteady: float = 0.0  # how far their look strays from its average, on average
    confirm: int = 1  # frames a candidate must be seen in a row to become a person

    def rejects(self, distance: float) -> bool:
        """Whether a look `distance` from theirs is clearly someone else's: over
        `LOOK_REJECT`, and `_LOOK_SPREAD` over how far their own look strays (a small torso's
        few pixels, a handheld camera's light, make a look unsteady; it then tells less)."""
        return distance > max(LOOK_REJECT, self.unsteady + _LOOK_SPREAD)

    def predicted(self) -> np.ndarray:
        return self.torso + self.velocity * (self.missed + 1)


class PeopleTracker:
    """`update(poses, looks)` once per frame, in order; returns the id of each pose
    (negative for a candidate not yet confirmed)."""

    def __init__(
        self,
        width: int,
        height: int,
        *,
        max_missed: int = 45,
        max_cost: float = 0.75,
        cast: int | None = None,
        confirm_after: int = 1,
        forget_after: int = FORGET_AFTER,
    ) -> None:
        self.scale = np.array([width, height], dtype=np.float64)
        self.max_missed, self.max_cost, self.cast = max_missed, max_cost, cast
        self.forget_after = forget_after
        self.confirm_after = confirm_after
        self.crowded = False  # more than `cast` people seen at once: the cast rule is off
        self._established: set[int] = set()  # ids ever seen `ESTABLISHED` frames
        self.people: list[Person] = []  # everyone seen lately, for re-identification
        self.next_id = 1
        self._next_candidate = -1

    @property
    def started(self) -> int:
        """People and candidates started so far (each start takes the next candidate key)."""
        return -1 - self._next_candidate

    def update(
        self,
        poses: list[np.ndarray],
        looks: list[np.ndarray | None] | None = None,
        candidates: list[bool] | None = None,
    ) -> list[int]:
        """`poses`: (33, 4) arrays of one frame (x, y normalised, z, visibility); `looks`:
        their `appearance` (None where unknown); `candidates`: which, if new, must be seen
        `confirm_after` times before they get an id. Returns each pose's id, candidate key
        (negative), or `NOBODY`."""
        torsos = [self._torso(pose) for pose in poses]
        looks = looks if looks is not None else [None] * len(poses)
        ids: list[int | None] = [None] * len(poses)
        taken: set[int] = set()
        self._by_position(torsos, looks, ids, taken)
        self._by_appearance(torsos, looks, ids, taken, candidates or [False] * len(poses))
        for person in self.people:
            if person.id not in taken:
                person.missed += 1
        # candidates lost, and people gone for `forget_after` frames: on a long street video
        # every pose left over would be compared with everyone who ever walked past
        self.people = [
            p for p in self.people if (p.id > 0 or p.missed == 0) and p.missed <= self.forget_after
        ]
        left_to_right = sorted(range(len(poses)), key=lambda i: float(torsos[i][0][:, 0].mean()))
        # with the cast there already, someone more is only a candidate until seen a while
        # (two fits of one dancer at a crossing, a frame or two, are not a newcomer)
        extra = self.stage
        for i in left_to_right:
            if ids[i] is None:
                candidate = bool(candidates and candidates[i])
                ids[i] = self._start(torsos[i], looks[i], candidate, extra)
        keys = [int(key) for key in ids if key is not None]  # every pose has one by now
        for i in left_to_right:
            keys[i] = self._confirmed(keys[i])
        return keys

    def _confirmed(self, key: int) -> int:
        """The id of the person or candidate `key`, a candidate seen often enough given one."""
        if key >= NOBODY:
            return key
        person = next(p for p in self.people if p.id == key)
        if person.hits < person.confirm:
            return key
        person.id, self.next_id = self.next_id, self.next_id + 1
        return person.id

    def _by_position(self, torsos, looks, ids, taken) -> None:
        near = [p for p in self.people if p.missed <= self.max_missed]
        if not near or not torsos:
            return
        cost = np.array([[self._cost(p, t) for t in torsos] for p in near])
        gate = np.array([self.max_cost + _GATE_GROWTH * p.missed for p in near])[:, None]
        allowed = cost <= gate
        # the look weighs in as much as the position (DeepSORT's and BoT-SORT's fused cost):
        # where a pose is near two people, it goes to the one whose clothes it wears
        unlike = np.array(
            [[look_distance(p.look, look) if p.look is not None else LOOK_MATCH for look in looks]
             for p in near]
        )  # fmt: skip
        # never in someone else's clothes (a dancer half hidden looks only somewhat alike)
        rejected = np.array(
            [[look is not None and p.rejects(unlike[r, c]) for c, look in enumerate(looks)]
             for r, p in enumerate(near)]
        )  # fmt: skip
        allowed &= ~rejected
        rows, cols = linear_sum_assignment(np.where(allowed, cost + unlike, 1e6))
        for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
            if allowed[row, col]:
                person = near[row]
                self._follow(person, torsos[col], looks[col])
                ids[col] = person.id
                taken.add(person.id)

    def _by_appearance(self, torsos, looks, ids, taken, candidates) -> None:
        left = [i for i in range(len(torsos)) if ids[i] is None]
        absent = [p for p in self.people if p.id > 0 and p.id not in taken]
        if not left or not absent:
            return
        full = self._cast_full() and not self.crowded
        distance = np.array(
            [
                [
                    look_distance(p.look, looks[i]) if self._within_reach(p, torsos[i]) else np.inf
                    for i in left
                ]
                for p in absent
            ]
        )
        rows, cols = linear_sum_assignment(np.minimum(distance, 1e6))
        for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
            if not np.isfinite(distance[row, col]):
                continue
            # the cast rule; once more people than the cast were given ids (a street, not a
            # stage), not for a pose in clearly other clothes
            person, i = absent[row], left[col]
            alike = not person.rejects(distance[row, col]) or self.next_id - 1 <= (self.cast or 0)
            # a candidate (what a scan finds with someone painted out may be no one) only
            # where the person was lost, not wherever they could have walked since
            near = not candidates[i] or self._cost(person, torsos[i]) <= _REACH
            # and not a scrap of a pose (the legs of a dancer behind another): a torso
            # `_SHRINK` times as long as the person's at least
            whole = torso_length(torsos[i][0]) >= _SHRINK * max(person.tall, person.size)
            cast = full and person.hits >= ESTABLISHED and alike and near
            if distance[row, col] <= LOOK_MATCH or (cast and whole):
                self._follow(person, torsos[i], looks[i])
                ids[i] = person.id
                taken.add(person.id)
            elif cast:  # a scrap: what shows of a dancer half hidden, not someone new either
                ids[i] = NOBODY

    @property
    def stage(self) -> bool:
        """Whether this looks like a stage with its cast, not a street: the cast
        established, nobody else ever established (seen `ESTABLISHED` frames), never more
        people than the cast at once."""
        return len(self._established) <= (self.cast or 0) and not self.crowded and self._cast_full()

    def _cast_full(self) -> bool:
        """Whether `cast` people are established (seen `ESTABLISHED` frames)."""
        established = sum(1 for p in self.people if p.id > 0 and p.hits >= ESTABLISHED)
        return self.cast is not None and established >= self.cast

    def _within_reach(self, person: Person, torso: tuple[np.ndarray, np.ndarray]) -> bool:
        """Whether the person, unseen for `missed` frames, could have walked to `torso`: a
        pedestrian across the street a frame after someone was lost is someone else, however
        alike their clothes."""
        return self._cost(person, torso) <= _REACH + _REACH_GROWTH * person.missed

    def _torso(self, pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The torso points in pixels (BlazePose places even unseen ones) and which are seen."""
        points = pose[list(TORSO), :2].astype(np.float64) * self.scale
        return points, pose[list(TORSO), 3] >= _VISIBLE

    def _cost(self, person: Person, torso: tuple[np.ndarray, np.ndarray]) -> float:
        """To the predicted torso, or to the last one seen if nearer: a jittery pose makes a
        wild velocity, which must not lose the person. Infinite for a torso `_GROWTH` times
        as long as the longest the person had lately (`tall`; a dancer bending or half hidden
        shortens it, nobody doubles it in a moment): a pose spanning two people is not the
        person seen a moment ago."""
        points, seen = _aligned(person, torso)
        if torso_length(points) > _GROWTH * max(person.tall, person.size) > 0:
            return float("inf")
        use = seen if seen.any() else np.ones_like(seen)
        distance = min(
            np.linalg.norm(points[use] - anchor[use], axis=1).mean()
            for anchor in (person.predicted(), person.torso)
        )
        # in the larger of the two torso lengths: a half-hidden pose's short torso makes
        # every step look long
        return float(distance / max(person.size, torso_length(points), 1.0))

    def _follow(
        self, person: Person, torso: tuple[np.ndarray, np.ndarray], look: np.ndarray | None
    ) -> None:
        points, _ = _aligned(person, torso)
        if person.missed <= self.max_missed:
            step = (points - person.torso) / (person.missed + 1)
            person.velocity = _SMOOTHING * step + (1 - _SMOOTHING) * person.velocity
        else:  # back from far away: the old motion means nothing
            person.velocity = np.zeros_like(points)
        person.torso = points
        person.size = torso_length(points) or person.size
        person.tall = max(person.tall * _TALL_DECAY, person.size)
        person.missed = 0
        person.hits += 1
        if person.hits >= ESTABLISHED and person.id > 0:
            self._established.add(person.id)
        if look is not None and person.look is not None:
            strays = look_distance(person.look, look)
            person.unsteady = (1 - _LOOK_MEMORY) * person.unsteady + _LOOK_MEMORY * strays
        if look is not None:
            person.look = (
                look
                if person.look is None
                else (1 - _LOOK_MEMORY) * person.look + _LOOK_MEMORY * look
            )

    def _start(
        self,
        torso: tuple[np.ndarray, np.ndarray],
        look: np.ndarray | None,
        candidate: bool,
        extra: bool = False,
    ) -> int:
        """A new person's key: their id, or a candidate's key (negative) where `candidate`
        (seen `confirm_after` frames in a row, they get an id) or `extra` (with the cast
        there already: `EXTRA_CONFIRM` frames)."""
        points, _ = torso
        key, self._next_candidate = self._next_candidate, self._next_candidate - 1
        length = torso_length(points)
        person = Person(key, points, np.zeros_like(points), length, look, tall=length)
        person.hits = 1 if candidate or extra else self.confirm_after
        person.confirm = EXTRA_CONFIRM if extra else self.confirm_after
        self.people.append(person)
        return person.id


def appearance(rgb: np.ndarray, pose: np.ndarray) -> np.ndarray | None:
    """A pose's look: the normalised hue-saturation-value histogram of the frame's pixels
    inside its torso (the quadrilateral of shoulders and hips); None if that is off the
    frame or a few pixels."""
    height, width = rgb.shape[:2]
    corners = pose[[11, 12, 24, 23], :2].astype(np.float64) * (width, height)
    low = np.clip(np.floor(corners.min(axis=0)), 0, (width, height)).astype(int)
    high = np.clip(np.ceil(corners.max(axis=0)) + 1, 0, (width, height)).astype(int)
    if np.any(high - low < 4):
        return None
    crop = rgb[low[1] : high[1], low[0] : high[0]]
    mask = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, np.round(corners - low).astype(np.int32), (255,))
    if cv2.countNonZero(mask) < 16:
        return None
    hsv = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], mask, list(_LOOK_BINS), [0, 180, 0, 256, 0, 256])
    return (hist / max(float(hist.sum()), 1.0)).astype(np.float32)


def look_distance(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Bhattacharyya distance, 0 (same) to 1; 1 where either look is unknown."""
    if a is None or b is None:
        return 1.0
    return float(cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA))


_MIRRORED = [1, 0, 3, 2]  # the torso points with left and right exchanged


def _aligned(person: Person, torso: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The torso with its left and right exchanged if that lies nearer the person's last
    one: BlazePose takes a dancer's back for their front at times, which swaps the sides of
    a pose without moving the dancer."""
    points, seen = torso
    mirrored = points[_MIRRORED]
    if (
        np.linalg.norm(mirrored - person.torso, axis=1).sum()
        < np.linalg.norm(points - person.torso, axis=1).sum()
    ):
        return mirrored, seen[_MIRRORED]
    return points, seen


def torso_length(torso: np.ndarray) -> float:
    """From the shoulders' midpoint to the hips' of `TORSO`'s four points (pixels); 0 if
    unknown."""
    shoulders, hips = torso[:2].mean(axis=0), torso[2:].mean(axis=0)
    length = float(np.linalg.norm(shoulders - hips))
    return length if np.isfinite(length) else 0.0


_BODY = [0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]  # nose, arms, hips, legs
_BODY_MIRRORED = [0, 12, 11, 14, 13, 16, 15, 24, 23, 26, 25, 28, 27]


def pose_distance(a: np.ndarray, b: np.ndarray, scale: np.ndarray) -> float:
    """How far apart two poses (33, >=2, normalised) are, in the longer of their torso
    lengths: the median distance between their body's points (`_BODY`), with `b`'s left and
    right exchanged if nearer (a back taken for a front). Two landmarkers' views of one
    person lie within a fifth or so of a torso; two dancers in close hold, whose torsos'
    centres may nearly meet, differ by their heads and legs."""
    pa, pb = a[_BODY, :2] * scale, b[:, :2] * scale
    longer = max(torso_length(a[list(TORSO), :2] * scale), torso_length(b[list(TORSO), :2] * scale))
    median = min(
        float(np.median(np.linalg.norm(pa - pb[order], axis=1)))
        for order in (_BODY, _BODY_MIRRORED)
    )
    return median / max(longer, 1.0)
