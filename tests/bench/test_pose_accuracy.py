"""The pose accuracy benchmark's math (`bench/pose_accuracy.py`) on cases checked by hand, and
one person of the COCO photos through the real pipeline (`bench/bench_pose_accuracy.py`)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.pose_accuracy import (
    BLAZEPOSE_TO_COCO,
    COCO_KEYPOINTS,
    COCO_PEOPLE,
    LABELS,
    Person,
    coco_from_blazepose,
    free_square,
    load_labels,
    normalised_errors,
    oks,
    pck_hits,
    person_crop,
    summarize,
    torso,
)
from tests.clips import shared_file

NOSE, LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP = 0, 5, 6, 11, 12


def labels(points: dict[int, tuple[float, float]]) -> np.ndarray:
    """(17, 3) labels: the given keypoints labelled (v 2), the rest unlabelled at (0, 0)."""
    out = np.zeros((17, 3))
    for index, (x, y) in points.items():
        out[index] = (x, y, 2)
    return out


def person(keypoints: np.ndarray, area: float = 10_000.0) -> Person:
    return Person(1, "photo.jpg", 640, 480, (0.0, 0.0, 100.0, 100.0), area, keypoints)


def test_a_perfect_prediction_scores_oks_1():
    truth = labels({i: (10.0 * i, 5.0 * i + 3) for i in range(17)})
    assert oks(truth[:, :2], truth, 5000.0) == pytest.approx(1.0)


def test_a_known_offset_gives_the_hand_computed_oks():
    """Left hip (σ 0.107, k = 2σ = 0.214) off by 21.4 px with s² = area = 100²: d² / (2 s² k²)
    = 21.4² / (2 x 100² x 0.214²) = 0.5, so exp(-0.5) = 0.6065; the nose exact scores 1; OKS
    is their mean, 0.8033."""
    truth = labels({NOSE: (50.0, 20.0), LEFT_HIP: (60.0, 80.0)})
    predicted = truth[:, :2].copy()
    predicted[LEFT_HIP] += (21.4, 0.0)
    assert oks(predicted, truth, 10_000.0) == pytest.approx((1 + math.exp(-0.5)) / 2)
    assert oks(predicted, truth, 10_000.0) == pytest.approx(0.80327, abs=1e-5)


def test_unlabelled_keypoints_are_ignored():
    truth = labels({NOSE: (50.0, 20.0), LEFT_HIP: (60.0, 80.0)})
    predicted = truth[:, :2].copy()
    predicted[LEFT_HIP] += (21.4, 0.0)
    wild = predicted.copy()
    unlabelled = [i for i in range(17) if i not in (NOSE, LEFT_HIP)]
    wild[unlabelled] = 1e6  # far from their (0, 0) placeholders
    assert oks(wild, truth, 10_000.0) == oks(predicted, truth, 10_000.0)
    truth_hidden = truth.copy()
    truth_hidden[LEFT_HIP, 2] = 1  # labelled but hidden still counts
    assert oks(predicted, truth_hidden, 10_000.0) == oks(predicted, truth, 10_000.0)


def test_a_missed_person_scores_0_and_counts_as_missed():
    truth = labels({i: (10.0 * i + 5, 20.0 * i) for i in range(17)})
    assert oks(None, truth, 10_000.0) == 0.0
    people = [person(truth), person(truth)]
    summary = summarize(people, [truth[:, :2], None])
    assert summary["found"] == 1
    assert summary["mean_oks"] == pytest.approx(0.5)
    assert summary["oks_50"] == summary["oks_75"] == pytest.approx(0.5)
    assert summary["pck"] == pytest.approx(0.5)  # the missed person's 17 keypoints all wrong


def test_the_torso_is_left_shoulder_to_right_hip_else_right_shoulder_to_left_hip():
    both = labels({LEFT_SHOULDER: (0, 0), RIGHT_HIP: (30, 40), RIGHT_SHOULDER: (0, 0)})
    both[LEFT_HIP] = (0, 100, 2)
    assert torso(both) == pytest.approx(50.0)
    fallback = labels({RIGHT_SHOULDER: (10, 10), LEFT_HIP: (10, 90), RIGHT_HIP: (30, 40)})
    assert torso(fallback) == pytest.approx(80.0)  # the left shoulder is unlabelled
    assert torso(labels({LEFT_SHOULDER: (0, 0), RIGHT_SHOULDER: (40, 0)})) is None


def test_pck_counts_a_keypoint_within_0_2_torso_as_correct():
    """Torso 50 px: a keypoint 10 px off (0.2 x 50) is correct, 10.5 px off is not."""
    truth = labels({LEFT_SHOULDER: (0, 0), RIGHT_HIP: (30, 40), NOSE: (0, -30), 9: (-20, 20)})
    predicted = truth[:, :2].copy()
    predicted[NOSE] += (6, 8)  # 10 px
    predicted[9] += (0, 10.5)
    assert pck_hits(predicted, truth) == (3, 4)
    errors = normalised_errors(predicted, truth)
    assert errors[NOSE] == pytest.approx(0.2)
    assert errors[9] == pytest.approx(0.21)
    assert np.isnan(errors[1])  # unlabelled
    assert pck_hits(None, truth) == (0, 4)


def test_people_without_a_torso_are_left_out_of_pck_and_counted():
    no_torso = labels({NOSE: (0, 0), 1: (5, 0), 2: (-5, 0), 3: (10, 0), 4: (-10, 0)})
    with_torso = labels({LEFT_SHOULDER: (0, 0), RIGHT_HIP: (30, 40), NOSE: (0, -30)})
    assert pck_hits(no_torso[:, :2], no_torso) is None
    summary = summarize([person(no_torso), person(with_torso)], [None, with_torso[:, :2]])
    assert (summary["pck_people"], summary["no_torso"]) == (1, 1)
    assert summary["pck"] == pytest.approx(1.0)
    assert summary["keypoint_errors"]["nose"] == pytest.approx(0.0)
    assert summary["keypoint_errors"]["left_eye"] is None  # nobody with a torso has it


def test_blazepose_landmarks_map_to_the_coco_keypoints_of_the_same_name():
    from pipeline.pose.blazepose import LANDMARK_NAMES  # imports MediaPipe: this test only

    assert [LANDMARK_NAMES[i] for i in BLAZEPOSE_TO_COCO] == list(COCO_KEYPOINTS)
    landmarks = np.arange(33 * 4, dtype=np.float64).reshape(33, 4)
    mapped = coco_from_blazepose(landmarks)
    assert mapped.shape == (17, 2)
    assert mapped[5].tolist() == landmarks[11, :2].tolist()  # left shoulder
    assert mapped[16].tolist() == landmarks[28, :2].tolist()  # right ankle
    with pytest.raises(ValueError):
        coco_from_blazepose(landmarks[:17])


def test_a_crop_scales_up_to_256_and_its_points_go_back_to_the_photo():
    """A 40x100 box in a 640x480 photo: 50x125 enlarged (1.25x), 256 px wide after scaling,
    an odd side padded to even; landmarks placed where the labels are in the crop's frame
    come back to the labels' pixels, and score OKS 1."""
    crop = person_crop((100.0, 200.0, 40.0, 100.0), 640, 480)
    assert (crop.left, crop.top, crop.right, crop.bottom) == (95, 187, 145, 313)
    assert min(crop.scaled_width, crop.scaled_height) == 256
    assert crop.width % 2 == 0 and crop.height % 2 == 0
    assert crop.to_image(np.array([[0.0, 0.0]])).tolist() == [[95.0, 187.0]]
    corner = np.array([[crop.scaled_width / crop.width, crop.scaled_height / crop.height]])
    assert crop.to_image(corner) == pytest.approx(np.array([[145.0, 313.0]]))

    truth = labels({i: (100.0 + 2 * i, 200.0 + 5 * i) for i in range(17)})
    landmarks = np.full((33, 4), 0.5)
    landmarks[list(BLAZEPOSE_TO_COCO), :2] = crop.to_frame(truth[:, :2])
    back = crop.to_image(coco_from_blazepose(landmarks))
    assert back == pytest.approx(truth[:, :2])
    assert oks(back, truth, 4000.0) == pytest.approx(1.0)


def test_a_crop_is_kept_within_the_photo():
    crop = person_crop((600.0, 0.0, 40.0, 300.0), 640, 480)
    assert (crop.left, crop.top, crop.right, crop.bottom) == (595, 0, 640, 338)
    assert crop.scaled_width == 256  # the shorter side after clamping: 45 px


def test_an_empty_square_overlaps_no_person_box():
    assert free_square(200, 100, [(0, 0, 50, 50)], margin=1.0) == (56, 0, 96)
    assert free_square(200, 100, [(0, 0, 200, 20)], margin=1.0) is None  # 80 px left
    assert free_square(200, 100, []) == (0, 0, 96)


@pytest.mark.shared_data
def test_one_coco_person_is_found_through_the_pipeline(tmp_path):
    """The first person of the first photo (annotation 200887, 13 keypoints, a man standing
    in a kitchen), at the default thresholds: measured OKS 0.88 (the benchmark's run)."""
    from bench.bench_pose_accuracy import person_clip, predicted_person, setting_options

    people, _ = load_labels(shared_file(COCO_PEOPLE / LABELS))
    target = next(p for p in people if p.id == 200887)
    clip, crop = person_clip(target, tmp_path)
    predicted, frames, _ = predicted_person(
        clip, crop, tmp_path / "out", setting_options("full", 0.5, 0.5)
    )
    assert frames == 15
    assert predicted is not None, "the person was not found"
    assert oks(predicted, target.keypoints, target.area) > 0.75
