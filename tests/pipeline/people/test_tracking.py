"""Identities of several people across frames (`pipeline/people/tracking.py`), on constructed
poses and looks whose truth is known."""

from __future__ import annotations

import numpy as np

from pipeline.people.tracking import (
    EXTRA_CONFIRM,
    LOOK_MATCH,
    LOOK_REJECT,
    NOBODY,
    PeopleTracker,
    Person,
    appearance,
    look_distance,
    pose_distance,
)

W, H = 1280, 720


def person(
    x: float, y: float = 0.5, size: float = 0.1, visibility: float = 0.9, width: float = 0.04
) -> np.ndarray:
    """A (33, 4) pose: torso centred at (x, y), `size` the torso length and `width` its
    width (normalised), the left shoulder and hip on the right (a dancer facing us)."""
    pose = np.zeros((33, 4), dtype=np.float32)
    pose[:, 0], pose[:, 1], pose[:, 3] = x, y, visibility
    half, side = size / 2, width / 2
    pose[11, :2], pose[12, :2] = (x + side, y - half), (x - side, y - half)  # shoulders
    pose[23, :2], pose[24, :2] = (x + side, y + half), (x - side, y + half)  # hips
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


def look(colour: int) -> np.ndarray:
    """A look (`appearance`) of a torso in one plain colour."""
    frame = np.zeros((H, W, 3), np.uint8)
    frame[:] = [(230, 110, 30), (20, 20, 25), (40, 160, 60)][colour]
    found = appearance(frame, person(0.5, size=0.3))
    assert found is not None
    return found


def test_the_look_tells_clothes_apart_and_knows_the_same_again():
    orange, black = look(0), look(1)
    frame = np.zeros((H, W, 3), np.uint8)
    frame[:, : W // 2] = (230, 110, 30)  # an orange torso on the left, elsewhere black
    left = appearance(frame, person(0.25, size=0.3))
    assert look_distance(left, orange) < LOOK_MATCH
    assert look_distance(left, black) > LOOK_REJECT
    assert appearance(frame, person(1.5)) is None  # off the frame


def test_a_dancer_back_after_a_long_absence_is_known_by_their_look():
    tracker = PeopleTracker(W, H, max_missed=10)
    assert tracker.update([person(0.3), person(0.7)], [look(0), look(1)]) == [1, 2]
    for _ in range(100):  # dancer 1 away far longer than the memory of positions
        assert tracker.update([person(0.7)], [look(1)]) == [2]
    assert tracker.update([person(0.1), person(0.7)], [look(0), look(1)]) == [1, 2]
    for _ in range(100):
        tracker.update([person(0.7)], [look(1)])
    assert tracker.update([person(0.1), person(0.7)], [look(2), look(1)]) == [3, 2]  # new


def test_someone_gone_longer_than_the_memory_is_forgotten():
    """A street video's passers-by are not kept for ever: someone unseen for `forget_after`
    frames is dropped, and back in the same clothes is someone new."""
    tracker = PeopleTracker(W, H, max_missed=10, forget_after=50)
    assert tracker.update([person(0.5), person(0.9)], [look(0), look(1)]) == [1, 2]
    for _ in range(40):
        tracker.update([person(0.9)], [look(1)])
    assert tracker.update([person(0.5), person(0.9)], [look(0), look(1)]) == [1, 2]  # known
    for _ in range(51):
        tracker.update([person(0.9)], [look(1)])
    assert [p.id for p in tracker.people] == [2]
    assert tracker.update([person(0.5), person(0.9)], [look(0), look(1)]) == [3, 2]


def test_someone_in_other_clothes_is_not_taken_for_a_dancer_nearby():
    tracker = PeopleTracker(W, H)
    assert tracker.update([person(0.3)], [look(0)]) == [1]
    assert tracker.update([person(0.31)], [look(1)]) == [2]


def test_with_a_full_cast_a_newcomer_is_the_one_missing():
    """max_people 2, both known: whoever appears within reach while one is away is that
    one, even in a look not seen before (lit differently, half hidden)."""
    tracker = PeopleTracker(W, H, max_missed=10, cast=2)
    for _ in range(15):  # both seen long enough to be the cast, not a false pose
        assert tracker.update([person(0.3), person(0.7)], [look(0), look(1)]) == [1, 2]
    for _ in range(50):
        tracker.update([person(0.7)], [look(1)])
    assert tracker.update([person(0.7), person(0.05)], [look(1), look(2)]) == [2, 1]


def test_once_more_people_than_the_cast_came_one_in_other_clothes_is_new():
    """Three people given ids with max_people 2 (a street, not a stage): a pose in clearly
    other clothes beside a pedestrian just missed is someone else, not that pedestrian."""
    tracker = PeopleTracker(W, H, max_missed=10, cast=2)
    assert tracker.update([person(0.3), person(0.7)], [look(0), look(1)]) == [1, 2]
    assert tracker.update([person(0.3), person(0.7), person(0.9)], [look(0), look(1), look(2)])
    for _ in range(15):
        assert tracker.update([person(0.3), person(0.7)], [look(0), look(1)]) == [1, 2]
    ids = tracker.update([person(0.7), person(0.32)], [look(1), look(2)])
    # someone new: not pedestrian 1 (a candidate while the two followed are the only ones
    # seen long, as on a stage; see test_with_a_full_cast_a_newcomer_out_of_reach_is_new)
    assert ids[0] == 2 and ids[1] not in (1, NOBODY)


def test_with_a_full_cast_a_newcomer_out_of_reach_is_new():
    """A frame after dancer 1 was lost on the left, someone walks in on the far right: not
    dancer 1 (a street with more people than followed), until dancer 1 could be there. With
    the cast all there before, on a stage, they are a candidate until seen in
    `EXTRA_CONFIRM` frames in a row (two fits of one dancer at a crossing, a frame or two,
    are nobody new), then a new id."""
    tracker = PeopleTracker(W, H, max_missed=10, cast=2)
    for _ in range(15):
        assert tracker.update([person(0.1), person(0.5)], [look(0), look(1)]) == [1, 2]
    assert tracker.stage
    keys = [tracker.update([person(0.5), person(0.95)], [look(1), look(2)]) for _ in range(5)]
    assert [ids[0] for ids in keys] == [2] * 5
    assert all(ids[1] < 0 for ids in keys[: EXTRA_CONFIRM - 1]) and keys[-1][1] == 3


def test_a_fragment_beside_a_cast_all_there_gets_no_id():
    """On a stage whose cast is all there, a pose seen for two frames (a second fit of a
    dancer at a crossing) never gets an id: once gone it is forgotten."""
    tracker = PeopleTracker(W, H, max_missed=10, cast=2)
    for _ in range(15):
        tracker.update([person(0.2), person(0.6)], [look(0), look(1)])
    for _ in range(2):
        ids = tracker.update([person(0.2), person(0.6), person(0.9)], [look(0), look(1), look(2)])
        assert ids[:2] == [1, 2] and ids[2] < 0
    assert tracker.update([person(0.2), person(0.6)], [look(0), look(1)]) == [1, 2]
    assert (
        tracker.update([person(0.2), person(0.6), person(0.9)], [look(0), look(1), look(2)])[2] < 0
    )  # a candidate again, not id 3


def test_a_street_is_no_stage_and_a_newcomer_gets_an_id_at_once():
    """More people given ids than the cast (a street): newcomers are not held back."""
    tracker = PeopleTracker(W, H, max_missed=10, cast=2)
    tracker.update([person(0.1), person(0.5), person(0.9)], [look(0), look(1), look(2)])
    for _ in range(15):
        tracker.update([person(0.1), person(0.5), person(0.9)], [look(0), look(1), look(2)])
    assert not tracker.stage


def test_a_look_that_strays_tells_less():
    """A person whose own look strays (a small torso's few pixels, a handheld camera's
    light) is not refused for a look as far as theirs strays and a margin; a steady look
    refuses anything past `LOOK_REJECT`."""
    steady = Person(1, np.zeros((4, 2)), np.zeros((4, 2)), 50.0, unsteady=0.1)
    unsteady = Person(2, np.zeros((4, 2)), np.zeros((4, 2)), 50.0, unsteady=0.4)
    assert steady.rejects(LOOK_REJECT + 0.05) and not steady.rejects(LOOK_REJECT - 0.05)
    assert not unsteady.rejects(LOOK_REJECT + 0.1) and unsteady.rejects(0.9)


def test_the_unsteadiness_of_a_look_is_learned_from_the_person_seen():
    tracker = PeopleTracker(W, H)
    frame = np.zeros((H, W, 3), np.uint8)
    for step in range(30):  # every other frame, half the torso looks otherwise (light)
        frame[:] = (230, 110, 30)
        frame[:, W // 2 :] = (230, 110, 30) if step % 2 else (120, 60, 200)
        tracker.update([person(0.5)], [appearance(frame, person(0.5, size=0.3))])
    assert len(tracker.people) == 1 and tracker.people[0].unsteady > 0.25
    tracker = PeopleTracker(W, H)
    for _ in range(30):
        tracker.update([person(0.5)], [look(0)])
    assert tracker.people[0].unsteady < 0.05


def test_pose_distance_tells_two_fits_of_one_body_from_two_bodies():
    a = person(0.5)
    a[[13, 15, 25, 27], 0] += 0.03  # limbs on one side
    shifted = a.copy()
    shifted[:, :2] += (0.004, 0.002)  # a second fit of the same body, a few pixels off
    mirrored = shifted.copy()
    mirrored[[11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]] = mirrored[
        [12, 11, 14, 13, 16, 15, 24, 23, 26, 25, 28, 27]
    ]  # its back taken for its front
    other = a.copy()
    other[:, 0] += 0.05  # a body beside it, 0.64 of a torso (72 px) away
    scale = np.array([W, H], dtype=np.float64)
    assert pose_distance(a, shifted, scale) < 0.1
    assert pose_distance(a, mirrored, scale) < 0.1
    assert pose_distance(a, other, scale) > 0.5


def test_a_pose_seen_once_is_not_one_of_the_cast():
    """A false pose that got an id is no dancer to hand a newcomer's pose to."""
    tracker = PeopleTracker(W, H, max_missed=10, cast=2)
    assert tracker.update([person(0.3), person(0.7)], [look(0), look(1)]) == [1, 2]
    for _ in range(50):
        tracker.update([person(0.7)], [look(1)])
    assert tracker.update([person(0.7), person(0.05)], [look(1), look(2)]) == [2, 3]


def test_a_lookalike_out_of_reach_is_someone_else_until_they_could_have_walked_there():
    """Same clothes, 9 torso lengths away: a frame after dancer 1 was lost that is somebody
    else; 100 frames later (reach 1 + 0.1 a frame) it may be dancer 1 back."""
    tracker = PeopleTracker(W, H)
    assert tracker.update([person(0.3)], [look(0)]) == [1]
    assert tracker.update([person(0.8)], [look(0)]) == [2]
    tracker = PeopleTracker(W, H)
    assert tracker.update([person(0.3)], [look(0)]) == [1]
    for _ in range(100):
        assert tracker.update([], []) == []
    assert tracker.update([person(0.8)], [look(0)]) == [1]


def test_in_a_crowd_a_newcomer_is_new_even_with_the_cast_full():
    """More people seen at once than followed (a street): whoever appears is not forced
    into the id of someone away."""
    tracker = PeopleTracker(W, H, max_missed=10, cast=2)
    assert tracker.update([person(0.3), person(0.7)], [look(0), look(1)]) == [1, 2]
    tracker.crowded = True
    for _ in range(50):
        tracker.update([person(0.7)], [look(1)])
    assert tracker.update([person(0.7), person(0.05)], [look(1), look(2)]) == [2, 3]


def test_a_dancer_taken_from_behind_keeps_the_id():
    """BlazePose takes a dancer's back for their front now and then: left and right swap
    places (154 px each here, two torso lengths) while the dancer stays where they were."""
    tracker = PeopleTracker(W, H)
    assert tracker.update([person(0.5, width=0.12)]) == [1]
    assert tracker.update([person(0.5, width=-0.12)]) == [1]
    assert tracker.update([person(0.51, width=0.12)]) == [1]


def test_a_candidate_first_seen_whole_is_not_lost_to_a_partial_pose():
    """A candidate found by a scan with its whole torso, then followed a while with a part
    of it: its whole torso again is still that person (the longest torso remembered starts
    with the first one), not someone spanning two people."""
    tracker = PeopleTracker(W, H, confirm_after=2)
    assert tracker.update([person(0.5, size=0.1)], candidates=[True]) == [-1]
    assert tracker.update([person(0.5, size=0.06)]) == [1]
    assert tracker.update([person(0.5, size=0.12)]) == [1]


def full_cast_with_dancer_1_away(frames_away: int) -> PeopleTracker:
    tracker = PeopleTracker(W, H, max_missed=10, cast=2, confirm_after=2)
    for _ in range(15):
        assert tracker.update([person(0.3), person(0.7)], [look(0), look(1)]) == [1, 2]
    for _ in range(frames_away):
        tracker.update([person(0.7)], [look(1)])
    return tracker


def test_the_cast_rule_gives_no_scrap_of_a_pose():
    """A torso a third as long as dancer 1's where dancer 1 was lost (the legs of a dancer
    behind another, the landmarker's guess) is not dancer 1 in a look not seen before, nor
    someone new: nobody (a one-frame third id on the crossing clip at CRF 21)."""
    tracker = full_cast_with_dancer_1_away(5)
    assert tracker.update([person(0.7), person(0.3, size=0.035)], [look(1), look(2)]) == [
        2,
        NOBODY,
    ]
    assert tracker.update([person(0.7), person(0.3)], [look(1), look(0)]) == [2, 1]
    tracker = full_cast_with_dancer_1_away(5)
    assert tracker.update([person(0.7), person(0.3, size=0.08)], [look(1), look(2)]) == [2, 1]


def test_the_cast_rule_gives_a_candidate_only_where_the_dancer_was_lost():
    """What a scan finds with someone painted out may be no one: 50 frames after dancer 1
    left (reach 6 torso lengths), such a find 3 torso lengths away is not given to them,
    though a sure find there would be; where dancer 1 was lost it is."""
    tracker = full_cast_with_dancer_1_away(50)
    found = tracker.update([person(0.7), person(0.1)], [look(1), look(2)], [False, True])
    assert found[0] == 2 and found[1] < 0  # a candidate of its own
    tracker = full_cast_with_dancer_1_away(50)
    assert tracker.update([person(0.7), person(0.1)], [look(1), look(2)]) == [2, 1]
    tracker = full_cast_with_dancer_1_away(50)
    found = tracker.update([person(0.7), person(0.31)], [look(1), look(2)], [False, True])
    assert found == [2, 1]
