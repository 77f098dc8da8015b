"""Synthetic dancers for the comparison's tests and benchmark: a stick figure whose limbs
swing along sums of sines (a dance), drawn into BlazePose's 33 landmarks at any size, place
and frame rate, with its joint angles known exactly. No video, no model."""

from __future__ import annotations

import numpy as np

from pipeline.compare import Performance

FPS = 30.0
ANGLE_NAMES = ("left_elbow", "right_elbow", "left_knee", "right_knee")
# the person's left is on the image right (+x) when facing the camera; units: torso lengths
HEAD = {0: (0.0, -1.45), 1: (0.04, -1.5), 2: (0.07, -1.5), 3: (0.1, -1.5), 4: (-0.04, -1.5),
        5: (-0.07, -1.5), 6: (-0.1, -1.5), 7: (0.15, -1.45), 8: (-0.15, -1.45),
        9: (0.05, -1.35), 10: (-0.05, -1.35), 11: (0.4, -1.0), 12: (-0.4, -1.0),
        23: (0.2, 0.0), 24: (-0.2, 0.0)}  # fmt: skip
PAIRS = ((11, 12), (13, 14), (15, 16), (17, 18), (19, 20), (21, 22), (23, 24), (25, 26),
         (27, 28), (29, 30), (31, 32), (1, 4), (2, 5), (3, 6), (7, 8), (9, 10))  # fmt: skip


def trajectories(times: np.ndarray, seed: int) -> np.ndarray:
    """(T, 9) angles in radians: 4 limb roots, 4 limb bends, trunk lean; sums of sines."""
    rng = np.random.default_rng(seed)
    base = np.array([0.5, 0.5, 0.8, 0.8, 0.15, 0.15, 0.3, 0.3, 0.0])
    amp = np.array([0.9, 0.9, 0.8, 0.8, 0.25, 0.25, 0.35, 0.35, 0.12])
    out = np.tile(base, (len(times), 1))
    for _ in range(3):
        freq = rng.uniform(0.13, 0.8, size=9)
        phase = rng.uniform(0, 2 * np.pi, size=9)
        out += amp / 2 * np.sin(2 * np.pi * freq * times[:, None] + phase)
    return out


def body(angles: np.ndarray) -> np.ndarray:
    """(T, 33, 2) body points in torso lengths, mid-hip at the origin, y down."""
    t = len(angles)
    pts = np.zeros((t, 33, 2))
    for k, xy in HEAD.items():
        pts[:, k] = xy
    for side, (root, joint, end), (length1, length2), col in (
        (1, (11, 13, 15), (0.6, 0.55), 0),
        (-1, (12, 14, 16), (0.6, 0.55), 1),
        (1, (23, 25, 27), (0.85, 0.85), 2),
        (-1, (24, 26, 28), (0.85, 0.85), 3),
    ):
        a1, a2 = angles[:, col], angles[:, col] + angles[:, col + 4] * (1 if col < 2 else -1)
        pts[:, joint] = pts[:, root] + length1 * np.stack([side * np.sin(a1), np.cos(a1)], 1)
        pts[:, end] = pts[:, joint] + length2 * np.stack([side * np.sin(a2), np.cos(a2)], 1)
    for hand, wrist, side in ((17, 15, 1), (18, 16, -1)):  # pinky, index, thumb near the wrist
        for k in range(3):
            pts[:, hand + 2 * k] = pts[:, wrist] + (side * 0.05 * k, 0.1)
    for heel, ankle, side in ((29, 27, 1), (30, 28, -1)):
        pts[:, heel] = pts[:, ankle] + (0.0, 0.05)
        pts[:, heel + 2] = pts[:, ankle] + (side * 0.12, 0.08)
    upper = [k for k in range(23) if k not in (23, 24)]  # lean the trunk about the mid-hip
    c, s = np.cos(angles[:, 8])[:, None], np.sin(angles[:, 8])[:, None]
    x, y = pts[:, upper, 0].copy(), pts[:, upper, 1].copy()
    pts[:, upper, 0], pts[:, upper, 1] = c * x - s * y, s * x + c * y
    return pts


def angle_at(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    u, v = a - b, c - b
    cos = (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def performance(
    times: np.ndarray,
    pts: np.ndarray,
    *,
    torso_px: float = 180.0,
    centre: tuple[float, float] = (640.0, 330.0),
    size: tuple[int, int] = (1280, 720),
) -> Performance:
    px = pts * torso_px + np.array(centre)
    landmarks = np.concatenate(
        [px / np.array(size), np.zeros(px.shape[:2] + (1,)), np.full(px.shape[:2] + (1,), 0.99)],
        axis=2,
    )
    missing = np.isnan(pts).any(axis=(1, 2))
    landmarks[missing] = np.nan
    angles = np.stack(
        [angle_at(px[:, a], px[:, b], px[:, c]) for a, b, c in
         ((11, 13, 15), (12, 14, 16), (23, 25, 27), (24, 26, 28))], axis=1,
    )  # fmt: skip
    return Performance(np.asarray(times, float), landmarks, size[0], size[1], angles, ANGLE_NAMES)


def frame_times(seconds: float, fps: float = FPS) -> np.ndarray:
    return np.arange(int(round(seconds * fps)) + 1) / fps


def dancer(seconds: float = 9.0, seed: int = 1, **kw) -> Performance:
    times = frame_times(seconds)
    return performance(times, body(trajectories(times, seed)), **kw)


def mirrored(p: Performance) -> Performance:
    """The same dance seen in a mirror: x flipped, left/right labels swapped."""
    index = np.arange(33)
    for a, b in PAIRS:
        index[a], index[b] = b, a
    lm = p.landmarks[:, index].copy()
    lm[:, :, 0] = 1.0 - lm[:, :, 0]
    return Performance(p.times, lm, p.width, p.height, p.angles[:, [1, 0, 3, 2]], p.angle_names)
