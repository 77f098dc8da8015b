"""BlazePose (MediaPipe 0.10.21, Full model bundled in the wheel) with tracking across frames."""

from __future__ import annotations

import mediapipe as mp
import numpy as np

LANDMARK_COUNT = 33

LANDMARK_NAMES = (
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
)

# The 35 BlazePose connections, as pairs of landmark indices.
CONNECTIONS = (
    (0, 1),
    (1, 2),
    (2, 3),
    (3, 7),
    (0, 4),
    (4, 5),
    (5, 6),
    (6, 8),
    (9, 10),
    (11, 12),
    (11, 13),
    (13, 15),
    (15, 17),
    (15, 19),
    (15, 21),
    (17, 19),
    (12, 14),
    (14, 16),
    (16, 18),
    (16, 20),
    (16, 22),
    (18, 20),
    (11, 23),
    (12, 24),
    (23, 24),
    (23, 25),
    (24, 26),
    (25, 27),
    (26, 28),
    (27, 29),
    (28, 30),
    (29, 31),
    (30, 32),
    (27, 31),
    (28, 32),
)


class PoseEstimator:
    """One tracked person per video. `estimate(rgb)` -> (33, 4) array [x, y, z, visibility].

    x and y are normalised to the frame (0..1, may stray slightly outside), z is depth
    relative to the hips in the same scale as x, visibility is 0..1. None when no pose.
    `smooth_landmarks`: MediaPipe's own filter across frames (causal, so it lags a fast
    movement); off when the pipeline smooths them itself without lag (`pipeline.pose.steady`).
    After each call, `world` holds the same pose's (33, 4) world landmarks (x, y, z in metres
    from the point between the hips, BlazePose's axes: `pipeline.motion.world`;
    visibility), or None.
    """

    def __init__(
        self,
        *,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        model_complexity: int = 1,
        smooth_landmarks: bool = True,
    ):
        self._pose = mp.solutions.pose.Pose(
            static_image_mode=False,
            model_complexity=model_complexity,
            smooth_landmarks=smooth_landmarks,
            enable_segmentation=False,
            min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )
        self.world: np.ndarray | None = None

    def estimate(self, rgb: np.ndarray) -> np.ndarray | None:
        result = self._pose.process(rgb)
        if result.pose_landmarks is None:
            self.world = None
            return None
        self.world = np.array(
            [(p.x, p.y, p.z, p.visibility) for p in result.pose_world_landmarks.landmark],
            dtype=np.float32,
        )
        return np.array(
            [(p.x, p.y, p.z, p.visibility) for p in result.pose_landmarks.landmark],
            dtype=np.float32,
        )

    def close(self) -> None:
        self._pose.close()

    def __enter__(self) -> PoseEstimator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
