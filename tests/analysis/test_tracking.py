"""Identities of several people across frames (`worker/pipeline/tracking.py`), on constructed
poses whose truth is known."""

from __future__ import annotations

import numpy as np

from worker.pipeline.tracking import PeopleTracker

W, H = 1280, 720


def person(x: float, y: float = 0.5, size: float = 0.1, visibility: float = 0.9) -> np.ndarray:
    """A (33, 4) pose: torso centred at (x, y), `size` the torso length (normalised)."""
    pose = np.zeros((33, 4), dtype=np.float32)
    pose[:, 0], pose[:, 1], pose[:, 3] = x, y, visibility
    half = size / 2
    pose[11, :2], pose[12, :2] = (x + 0.02, y - half), (x - 0.02, y - half)  # shoulders
    pose[23, :2], pose[24, :2] = (x + 0.02, y + half), (x - 0.02, y + half)  # hips
    return pose


def test_new_people_get_ids_in_order_of_first_appearance_left_to_right():
    tracker = PeopleTracker(W, H)
    assert tracker.update([person(0.7), person(0.2)]) == [2, 1]
    assert tracker.update([person(0.2), person(0.7), person(0.45)]) == [1, 2, 3]


def test_two_dancers_passing_each_other_keep_their_ids():
    tracker = PeopleTracker(W, H)
    seen = []
    for step in range(60):  # one walks right, the other left; they cross at step 30
        a, b = 0.2 + 0.01 * step, 0.8 - 0.01 * step
        poses = [person(a, 0.5), person(b, 0.52)]
        order = [0, 1] if step % 2 else [1, 0]  # the detector's order means nothing
        ids = tracker.update([poses[i] for i in order])
        seen.append(dict(zip(order, ids, strict=True)))
    assert all(frame == {0: 1, 1: 2} for frame in seen), seen


def test_a_short_occlusion_keeps_the_id_and_a_long_absence_does_not():
    tracker = PeopleTracker(W, H, max_missed=10)
    assert tracker.update([person(0.3), person(0.7)]) == [1, 2]
    for _ in range(5):  # dancer 1 hidden for five frames
        assert tracker.update([person(0.7)]) == [2]
    assert tracker.update([person(0.31), person(0.7)]) == [1, 2]
    for _ in range(11):  # then gone longer than the memory
        tracker.update([person(0.7)])
    assert tracker.update([person(0.3), person(0.7)]) == [3, 2]


def test_a_far_jump_is_someone_else():
    tracker = PeopleTracker(W, H)
    assert tracker.update([person(0.2)]) == [1]
    assert tracker.update([person(0.8)]) == [2]  # 0.6 of the frame in one frame: not dancer 1


def test_an_empty_frame_and_an_unseen_torso_do_not_break_it():
    tracker = PeopleTracker(W, H)
    assert tracker.update([]) == []
    assert tracker.update([person(0.5, visibility=0.1)]) == [1]
    assert tracker.update([person(0.5, visibility=0.1)]) == [1]
