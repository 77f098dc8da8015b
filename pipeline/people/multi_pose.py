"""Several people per frame, with stable ids: MediaPipe's Tasks `PoseLandmarker` (the bundle
of `pipeline.pose.bundle`), identities kept by `pipeline.people.tracking`.

Two ways of looking, combined each frame:

- a scan: the landmarker on overlapping square tiles of the frame, which finds new people.
  The detector sees its input letterboxed to a 224-px square, so on the whole of a wide frame
  small people are missed (two dancers side by side in 640x240: both found in 0 of 90
  frames); on 240-px tiles, in 90 of 90. A scan runs every `scan_every` frames (every
  `quiet_scan_every` after three found nobody new, while nobody known is out of view), and on
  the frame after someone was lost, unless `max_people` are followed already; the first
  frame is scanned with every layer. The detector gives one person of a tile however many it
  holds, so while a tile shows somebody new, they are painted out and the tile looked at
  again.
  Scans alternate between two layers of tiles: the coarse one, and one of tiles half as
  large, where people too small for the coarse tiles fill twice as much of the detector's
  input (its finds are candidates until seen twice: a fine tile shows a part of a tall
  dancer as if it were someone small).
- a region of interest per person found (`pipeline.people.regions`): a square crop around
  the person's last pose, not smaller than 2.5 of their longest torso lately (a partial pose
  must not shrink it to a crop that cuts the dancer), given to that person's own landmarker
  in VIDEO mode, which follows the pose without running the detector. This costs one
  landmark model a person a frame (21 ms here) where a scan costs a detector (12 ms) a tile
  plus a landmark model per person and tile. A person lost is looked for by the detector in
  their region, a little enlarged, for `_LOST_PATIENCE` frames (second-pass detection where
  the dancer was last seen, as ByteTrack keeps lost tracks).

The poses of both are merged (the same person seen twice: the view of their own region is
kept, else the better one) and the tracker gives them their ids. On a stage (the tracker's
`stage`), a couple in close hold stays two people: a pose near another whose body and face
lie elsewhere is the partner behind (`pipeline.people.distinct`), and each region's
landmarker sees the faces of the dancers close by painted out (`_look_without_faces`).
Somebody new found only in a region (a body the landmarker guessed across two dancers, or
the detector's find where a dancer was lost) is a candidate, confirmed only when seen again:
new people come from scans.
"""

from __future__ import annotations

import os

import cv2
import mediapipe as mp
import numpy as np

from pipeline.people.crops import (
    face_box,
    grown,
    inside,
    inside_square,
    paint,
    square,
    visible_box,
)
from pipeline.people.distinct import FACE_SHARED, PART, distinct
from pipeline.people.regions import Region, tiles
from pipeline.people.tracking import (
    ESTABLISHED,
    NOBODY,
    TORSO,
    PeopleTracker,
    appearance,
    torso_length,
)
from pipeline.pose.bundle import bundle_path

_ROI_INPUT = 256  # crops are resized to this square: the landmarker sees one image size
_LOST_PATIENCE = 15  # frames a lost person's region is searched by the detector again
_QUIET_SCANS = 3  # scans in a row that found nobody new: then `quiet_scan_every`
_FINE_MIN_SIDE = 96  # px: the finer scan's tiles, half the coarse ones, not smaller than this
_REMNANT = 0.3  # a scan's pose with this share of its box where someone was painted out
_CLOSE_UP = 1 / 3  # a torso this share of a scan's square or more: their body spans it
_SCRAP = 0.6  # found with a close-up dancer painted out, a torso this much shorter: a scrap
_CLOSE = 1.5  # torso lengths between two people's torsos: close enough to mistake one


class MultiPoseEstimator:
    """`estimate(rgb, time_ms)` -> [(person id, (33, 4) array [x, y, z, visibility])], x and y
    normalised to the whole frame, at most `max_people`, ordered by id. `time_ms` must grow
    from call to call. After each call, `world` holds each of those people's (33, 4) world
    landmarks (x, y, z in metres from the point between the hips, BlazePose's axes:
    `pipeline.motion.world`), by id."""

    def __init__(
        self,
        width: int,
        height: int,
        *,
        max_people: int,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        scan_every: int = 10,
        quiet_scan_every: int = 20,
        bundle: str | os.PathLike | None = None,
    ) -> None:
        from mediapipe.tasks.python import BaseOptions, vision

        self.width, self.height, self.max_people = width, height, max_people
        self.scan_every, self.quiet_scan_every = scan_every, quiet_scan_every
        # two layers of tiles, scanned in turn: people too small for the detector on the
        # coarse tiles fill twice as much of a fine one
        coarse = tiles(width, height)
        fine_side = min(width, height) // 2
        self.layers = [coarse] + (
            [tiles(width, height, fine_side)] if fine_side >= _FINE_MIN_SIDE else []
        )
        model = str(bundle or bundle_path())

        def landmarker(mode, num_poses: int):
            return vision.PoseLandmarker.create_from_options(
                vision.PoseLandmarkerOptions(
                    base_options=BaseOptions(model_asset_path=model),
                    running_mode=mode,
                    num_poses=num_poses,
                    min_pose_detection_confidence=min_detection_confidence,
                    min_tracking_confidence=min_tracking_confidence,
                )
            )

        self._new_landmarker = lambda: landmarker(vision.RunningMode.VIDEO, 1)
        self.scanner = landmarker(vision.RunningMode.IMAGE, max_people)
        self.regions: dict[int, Region] = {}
        self._spare: list = []  # landmarkers of regions given up, for reuse
        self.tracker = PeopleTracker(width, height, cast=max_people, confirm_after=2)
        self._frames = 0
        self._lost_someone = False
        self.scans = 0
        self.world: dict[int, np.ndarray] = {}  # the last `estimate`'s world landmarks, by id
        self._world: dict[int, np.ndarray] = {}  # id() of a pose -> its world landmarks
        self._quiet_scans = 0  # scans in a row that found nobody new
        # each person's face (a pixel box) and torso centre where last seen, by id
        self._faces: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._size = np.array([width, height], dtype=np.float64)

    def _scan_interval(self) -> int:
        """Frames between scans: `scan_every`, or `quiet_scan_every` once `_QUIET_SCANS` scans
        in a row found nobody new while nobody known is out of view (one dancer, `max_people`
        2: the scans for a second cost as much as following one)."""
        absent = any(person.id > 0 and person.missed > 0 for person in self.tracker.people)
        quiet = self._quiet_scans >= _QUIET_SCANS and not absent
        return self.quiet_scan_every if quiet else self.scan_every

    def estimate(self, rgb: np.ndarray, time_ms: int) -> list[tuple[int, np.ndarray]]:
        # pose, off-centre in its view (0..~0.7), found by a fine scan (a candidate if new),
        # and its rank: 0 followed in its region, 1 found again there, 2 found by a scan
        found: list[tuple[np.ndarray, float, bool, int]] = []
        own: dict[int, int] = {}  # id() of a pose -> the person whose landmarker found it
        for person_id, region in self.regions.items():
            seen, rank = [], 0
            if not region.lost:
                seen = self._look_without_faces(rgb, person_id, region, time_ms)
                own.update((id(pose), person_id) for pose, _ in seen)
            # lost: the detector once more, where the dancer was last seen (not in a crowd,
            # where someone else stands there as often as not)
            if not seen and not self.tracker.crowded:
                x0, y0, side = region.x, region.y, region.side
                seen, rank = (
                    self._look(
                        self.scanner, rgb, x0 - side // 4, y0 - side // 4, side * 3 // 2, None
                    ),
                    1,
                )
            found += [(pose, off, False, rank) for pose, off in seen]
        followed_now = sum(1 for region in self.regions.values() if not region.lost)
        room = followed_now < self.max_people  # else nobody new could be taken
        scan = room and (self._frames % self._scan_interval() == 0 or self._lost_someone)
        started = self.tracker.started
        if scan:
            layers = self.layers[:1] if self.tracker.crowded else self.layers
            # the first frame: every layer, so that everyone there from the start is found
            chosen = layers if self._frames == 0 else [layers[self.scans % len(layers)]]
            self.scans += 1
            boxes = [self._pixels(visible_box(pose)) for pose, *_ in found]  # those found so far
            limit = self.max_people - followed_now
            for layer in chosen:
                fine = layer is not self.layers[0]
                for x0, y0, side in layer:
                    scanned = self._scan_square(rgb, x0, y0, side, boxes, fine=fine, limit=limit)
                    found += [(pose, off, fine or again, 2) for pose, off, again in scanned]
        self._frames += 1
        distinct = self._distinct(found)
        if sum(not candidate for _, candidate, _ in distinct) > self.max_people:
            self.tracker.crowded = True  # more people than followed: newcomers are new
        kept = distinct[: self.max_people]
        people = [pose for pose, _, _ in kept]
        looks = [appearance(rgb, pose) for pose in people]
        # somebody new found only in a region (a body its landmarker guessed across two
        # dancers, or the detector's find where a dancer was lost) is a candidate too
        ids = self.tracker.update(
            people, looks, [candidate or rank < 2 for _, candidate, rank in kept]
        )
        followed = sorted(
            ((key, pose) for key, pose in zip(ids, people, strict=True) if key != NOBODY),
            key=lambda pair: pair[0],
        )
        self._lost_someone = len(followed) < followed_now
        if scan:
            self._quiet_scans = 0 if self.tracker.started > started else self._quiet_scans + 1
        self._follow(followed, own)  # candidates too (negative ids), to be confirmed or not
        confirmed = [(person_id, pose) for person_id, pose in followed if person_id > 0]
        self._remember_faces(followed)
        self.world = {person_id: self._world[id(pose)] for person_id, pose in confirmed}
        self._world.clear()
        return confirmed

    def _remember_faces(self, followed: list[tuple[int, np.ndarray]]) -> None:
        """Each person's face and torso centre where last seen, for `_LOST_PATIENCE` frames
        (a landmarker that lost its dancer to the one in front finds them again only with
        that one's face painted out)."""
        for person_id, pose in followed:
            box = face_box(pose, self.width, self.height)
            if box is not None:
                centre = pose[list(TORSO), :2].astype(np.float64).mean(axis=0) * self._size
                self._faces[person_id] = (box, centre)
        missed = {p.id: p.missed for p in self.tracker.people}
        for person_id in list(self._faces):
            if missed.get(person_id, _LOST_PATIENCE + 1) > _LOST_PATIENCE:
                del self._faces[person_id]

    def _look_without_faces(self, rgb: np.ndarray, person_id: int, region: Region, time_ms: int):
        """The person's landmarker on their region, on a stage with the faces of the other
        established dancers close to them (torsos' centres `_CLOSE` of the person's torso
        apart or nearer where last seen: a couple in close hold, one behind the other)
        painted out, unless on the person's own face: BlazePose finds a body from its face,
        and the landmarker of a dancer half hidden drifts to the face of the one in front."""
        x0, y0, side = region.x, region.y, region.side
        mine = self._faces.get(person_id)
        person = next((p for p in self.tracker.people if p.id == person_id), None)
        others = []
        if mine is not None and person is not None and self.tracker.stage:
            established = {p.id for p in self.tracker.people if p.hits >= ESTABLISHED}
            others = [
                box
                for other, (box, centre) in self._faces.items()
                if other != person_id
                and {person_id, other} <= established
                and np.linalg.norm(centre - mine[1]) <= _CLOSE * person.size
                and inside(mine[0], box) < FACE_SHARED
            ]
        crop = square(rgb, x0, y0, side)
        if others:
            crop = np.array(crop)
            fill = crop.reshape(-1, 3).mean(axis=0).astype(np.uint8)
            for box in others:
                paint(crop, box, x0, y0, fill, share=0.0)
        return self._look(region.landmarker, crop, 0, 0, side, time_ms, origin=(x0, y0))

    def _scan_square(
        self,
        rgb: np.ndarray,
        x0: int,
        y0: int,
        side: int,
        followed: list[np.ndarray],
        *,
        fine: bool,
        limit: int,
    ) -> list[tuple[np.ndarray, float, bool]]:
        """The people the scanner finds in the square. The detector gives one person of a
        square however many it holds (four dancers in a row on two tiles: two found), so
        each one it finds is painted out and the square looked at again, until it finds
        nobody or `limit` people not in `followed` (the boxes in pixels of those found in
        their regions). A dancer followed is painted out too, once found here: the detector
        would give them again, and never the newcomer beside them. `fine`: only poses whose
        visible points keep off the square's edges (a fine tile shows a part of a tall
        dancer as if it were someone small); a pose lying partly where someone was painted
        out (`_REMNANT`) is what is left of them, nobody. Each pose comes with whether it
        was found with someone painted out (with the dancers gone the detector may take the
        next best thing, a sliver of background, for a person: such a pose is a candidate
        until seen again). Found with a dancer painted out who is close up (a torso of
        `_CLOSE_UP` of the square or more: their body spans it), a torso under `_SCRAP` of
        theirs is a scrap: anyone beside them at their distance would be as large (such a
        dancer at 1080p, painted out, left a flag and a helmet beside her taken for people,
        two of them ids). Elsewhere smaller people are farther away (a street).
        """
        crop = np.array(square(rgb, x0, y0, side))
        fill = crop.reshape(-1, 3).mean(axis=0).astype(np.uint8)
        painted: list[np.ndarray] = []
        close_ups: list[float] = []  # torsos of close-up dancers painted out, in pixels
        poses: list[tuple[np.ndarray, float, bool]] = []
        fresh = 0
        for _ in range(max(limit, 1) + 1):
            seen = self._look(self.scanner, crop, 0, 0, side, None, origin=(x0, y0))
            found = False
            for pose, off in seen:
                box = self._pixels(visible_box(pose))
                if any(inside(box, grown(other)) > _REMNANT for other in painted):
                    continue
                if fine and not inside_square(pose, x0, y0, side, self.width, self.height):
                    continue
                corners = pose[list(TORSO), :2].astype(np.float64) * (self.width, self.height)
                length = torso_length(corners)
                if close_ups and length < _SCRAP * min(close_ups):
                    continue
                poses.append((pose, off, bool(painted)))
                found = True
                fresh += not any(inside(box, other) > PART for other in followed)
                paint(crop, box, x0, y0, fill)
                painted.append(box)
                if length >= _CLOSE_UP * side:
                    close_ups.append(length)
            if not found or fresh >= limit:
                break
        return poses

    def _pixels(self, box: np.ndarray) -> np.ndarray:
        """A normalised box (x0, y0, x1, y1) in the frame's pixels."""
        return box * np.array([self.width, self.height, self.width, self.height], np.float64)

    def _look(
        self,
        landmarker,
        rgb: np.ndarray,
        x0: int,
        y0: int,
        side: int,
        time_ms: int | None,
        *,
        origin: tuple[int, int] | None = None,
    ) -> list[tuple[np.ndarray, float]]:
        """The poses the landmarker finds in the square (x0, y0, side) of `rgb`, in
        whole-frame coordinates, each with how far off the square's centre its torso is.
        `origin`: where `rgb`'s own corner is in the frame (a crop of it)."""
        crop = square(rgb, x0, y0, side)
        if origin is not None:
            x0, y0 = x0 + origin[0], y0 + origin[1]
        if side != _ROI_INPUT and time_ms is not None:
            crop = cv2.resize(crop, (_ROI_INPUT, _ROI_INPUT), interpolation=cv2.INTER_AREA)
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(crop))
        result = (
            landmarker.detect(image)
            if time_ms is None
            else landmarker.detect_for_video(image, time_ms)
        )
        poses = []
        for pose, world in zip(result.pose_landmarks, result.pose_world_landmarks, strict=True):
            points = np.array([(p.x, p.y, p.z, p.visibility) for p in pose], np.float32)
            self._world[id(points)] = np.array(
                [(p.x, p.y, p.z, p.visibility) for p in world], np.float32
            )
            off_centre = float(np.linalg.norm(points[list(TORSO), :2].mean(axis=0) - 0.5))
            points[:, 0] = (points[:, 0] * side + x0) / self.width
            points[:, 1] = (points[:, 1] * side + y0) / self.height
            points[:, 2] = points[:, 2] * side / self.width
            poses.append((points, off_centre))
        return poses

    def _follow(self, people: list[tuple[int, np.ndarray]], own: dict[int, int]) -> None:
        """Regions for the next frame: one per person found now; a person's region lost is
        searched again for `_LOST_PATIENCE` frames (a candidate's not at all), then given up.
        `own`: the person whose region's landmarker found each pose (by `id()`), so that a
        region is steady on its own poses (`Region.follow`)."""
        present = {person_id for person_id, _ in people}
        tall = {person.id: person.tall for person in self.tracker.people}
        for person_id in [i for i in self.regions if i not in present]:
            missing = self.regions[person_id]
            missing.lost += 1
            if person_id < 0 or missing.lost > _LOST_PATIENCE:
                self._spare.append(self.regions.pop(person_id).landmarker)
        for person_id, pose in people:
            region = self.regions.get(person_id)
            if region is None:
                landmarker = self._spare.pop() if self._spare else self._new_landmarker()
                region = self.regions[person_id] = Region(landmarker)
            steady = own.get(id(pose)) == person_id
            if region.lost and not steady and self.tracker.stage:
                # found again by the detector: their landmarker still follows whom it
                # followed when it lost them (the dancer in front, on a stage); a fresh
                # one starts from a detection in their region, the others' faces painted out
                region.landmarker.close()
                region.landmarker = self._new_landmarker()
            region.lost = 0
            region.follow(
                pose, self.width, self.height, steady=steady, tall=tall.get(person_id, 0.0)
            )

    def _distinct(
        self, poses: list[tuple[np.ndarray, float, bool, int]]
    ) -> list[tuple[np.ndarray, bool, int]]:
        """One pose per person (`pipeline.people.distinct`), couples told apart on a stage."""
        return distinct(poses, self.width, self.height, stage=self.tracker.stage)

    def close(self) -> None:
        regions = [region.landmarker for region in self.regions.values()]
        for landmarker in [self.scanner, *self._spare, *regions]:
            landmarker.close()
        self.regions.clear()
        self._spare.clear()

    def __enter__(self) -> MultiPoseEstimator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
