"""Steadier landmarks (issue 32): how much each smoothing strength (`pipeline.pose.steady`)
takes out of BlazePose's jitter, and how far it pulls the landmarks off a fast movement.

    python bench/bench_smoothing.py [--models full] [--sigmas 0.015,0.035,0.075] [--json PATH]

Footage whose true motion is known: a photo of a person (scikit-image's astronaut, and
`../shared/data/person_photo.jpg` when present), 400 px tall on a 640x480 frame, 30 fps,
6 s, every frame with its own sensor noise (Gaussian, sigma 3 levels) and H.264 at CRF 23,
so that the model sees a slightly different picture each frame, as from a camera:

- still: the person does not move: every change of a landmark is jitter;
- slow: the picture glides (x: 40 px at 0.3 Hz, y: 10 px at 0.2 Hz), as a dancer swaying;
- fast: it swings 40 px at 3 Hz (up to 750 px/s, 14,000 px/s²), as fast as a dancer's
  wrist on this scale.

Each clip goes through `analyze_video` twice per model: with smoothing "none" (the row
"none": the landmarks users got before the option, MediaPipe's own filter across frames
on), and with smoothing on, which turns MediaPipe's filter off (the row "off": those
landmarks, `landmarks` in keypoints.json); each strength is then applied to the latter by
`pipeline.pose.steady.smooth_rows`, the function that makes keypoints.json's smoothed copy
(the overlay runs the same filter as frames stream, tested to give the same numbers).

The truth of each frame is where the still clip's landmarks (their median over its frames,
MediaPipe's filter on) are once moved as the picture was moved; the landmarks counted are
those the model sees (median visibility 0.5 or more on the still clip).

- jitter: the mean size of each landmark's frame-to-frame acceleration
  |p[t+1] - 2 p[t] + p[t-1]| minus the true motion's, in px per frame², on still and slow;
- error: the mean distance to the truth, px, on each clip (on fast, what the smoothing costs
  shows against "none").
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_pose_accuracy import read_rgb, run, write_clip  # noqa: E402
from pipeline.pose.steady import SIGMA_S, gaussian, smooth_rows  # noqa: E402
from pipeline.runner import PipelineOptions  # noqa: E402
from pipeline.video.samples import person_image  # noqa: E402

PHOTO = ROOT.parent / "shared" / "data" / "person_photo.jpg"
WIDTH, HEIGHT, PERSON_HEIGHT = 640, 480, 400
FPS, SECONDS, NOISE, CRF = 30, 6.0, 3.0, 23


def motions() -> dict[str, np.ndarray]:
    """Each clip's shift of the picture per frame, (frames, 2) px."""
    t = np.arange(int(FPS * SECONDS)) / FPS
    still = np.zeros((len(t), 2))
    slow = np.stack([40 * np.sin(2 * math.pi * 0.3 * t), 10 * np.sin(2 * math.pi * 0.2 * t)], 1)
    fast = np.stack([40 * np.sin(2 * math.pi * 3.0 * t), np.zeros_like(t)], 1)
    return {"still": still, "slow": slow, "fast": fast}


def photos() -> dict[str, np.ndarray]:
    found = {"astronaut": person_image("astronaut")}
    if PHOTO.exists():
        found["person_photo"] = read_rgb(PHOTO)
    else:
        print(f"({PHOTO} absent: the astronaut only)", file=sys.stderr)
    return found


def frames(photo: np.ndarray, shifts: np.ndarray, seed: int):
    """The photo scaled to PERSON_HEIGHT, centred, shifted by each row of `shifts`, noisy."""
    scale = PERSON_HEIGHT / photo.shape[0]
    small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    base = np.full((HEIGHT, WIDTH, 3), 90, np.uint8)
    left, top = (WIDTH - small.shape[1]) // 2, (HEIGHT - small.shape[0]) // 2
    base[top : top + small.shape[0], left : left + small.shape[1]] = small
    rng = np.random.default_rng(seed)
    for dx, dy in shifts:
        moved = cv2.warpAffine(
            base,
            np.float32([[1, 0, dx], [0, 1, dy]]),
            (WIDTH, HEIGHT),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        noisy = moved.astype(np.float32) + rng.normal(0, NOISE, moved.shape)
        yield np.clip(noisy, 0, 255).astype(np.uint8)


def pixels(found: list[np.ndarray | None]) -> np.ndarray:
    """(frames, 33, 3): x, y in px and visibility; NaN where no pose."""
    out = np.full((len(found), 33, 3), np.nan)
    for i, points in enumerate(found):
        if points is not None:
            out[i] = np.column_stack([points[:, 0] * WIDTH, points[:, 1] * HEIGHT, points[:, 3]])
    return out


def score(points: np.ndarray, truth: np.ndarray, counted: np.ndarray) -> dict:
    xy, true = points[:, counted, :2], truth[:, counted]
    error = np.linalg.norm(xy - true, axis=-1)
    accel = xy[2:] - 2 * xy[1:-1] + xy[:-2] - (true[2:] - 2 * true[1:-1] + true[:-2])
    return {
        "error_px": float(np.nanmean(error)),
        "jitter_px": float(np.nanmean(np.linalg.norm(accel, axis=-1))),
        "found": float(np.isfinite(xy[:, 0, 0]).mean()),
    }


def measure(models: list[str], sigmas: dict[str, float], folder: Path) -> list[dict]:
    results = []
    kernels = {name: gaussian(FPS, sigma) for name, sigma in sigmas.items()}
    for name, photo in photos().items():
        clips = {}
        for seed, (motion, shifts) in enumerate(motions().items()):
            path = write_clip(folder / f"{name}-{motion}.mp4", frames(photo, shifts, seed), FPS)
            clips[motion] = (path, shifts)
        for model in models:
            raw = {}
            for level in ("none", "light"):
                options = PipelineOptions(model=model, analysis=None, exports=(), smoothing=level)
                raw[level] = {
                    motion: run(path, folder / f"out-{name}-{model}-{motion}", options)[0]
                    for motion, (path, _) in clips.items()
                }
            still = pixels(raw["none"]["still"])
            rest = np.nanmedian(still[:, :, :2], axis=0)
            counted = np.nanmedian(still[:, :, 2], axis=0) >= 0.5
            runs = [
                ("none", raw["none"], kernels["off"]),
                *((k, raw["light"], kernels[k]) for k in kernels),
            ]
            for level, landmarks, kernel in runs:
                row = {
                    "photo": name,
                    "model": model,
                    "smoothing": level,
                    "sigma_s": sigmas.get(level, 0.0),
                }
                for motion, (_, shifts) in clips.items():
                    smoothed = pixels(smooth_rows(landmarks[motion], kernel, several=False))
                    truth = rest[None] + shifts[:, None, :]
                    row[motion] = score(smoothed, truth, counted)
                results.append(row)
                print(line(row), flush=True)
    return results


def line(row: dict) -> str:
    return (
        f"| {row['photo']} | {row['model']} | {row['smoothing']} | {row['sigma_s']:.3f} | "
        f"{row['still']['jitter_px']:.2f} | {row['slow']['jitter_px']:.2f} | "
        f"{row['still']['error_px']:.2f} | {row['slow']['error_px']:.2f} | "
        f"{row['fast']['error_px']:.2f} | {row['fast']['jitter_px']:.2f} |"
    )


HEADER = (
    "| photo | model | smoothing | sigma s | jitter still px/f² | jitter slow | error still px "
    "| error slow | error fast | jitter fast |\n|---|---|---|---|---|---|---|---|---|---|"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="full")
    parser.add_argument("--sigmas", default="0.015,0.035,0.075", help="extra strengths, s")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    sigmas = {("off" if name == "none" else name): sigma for name, sigma in SIGMA_S.items()}
    for value in filter(None, args.sigmas.split(",")):
        sigmas.setdefault(f"sigma {value}", float(value))
    sigmas = dict(sorted(sigmas.items(), key=lambda item: item[1]))
    print(HEADER, flush=True)
    with tempfile.TemporaryDirectory() as folder:
        results = measure(args.models.split(","), sigmas, Path(folder))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
