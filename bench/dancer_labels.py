"""Hand-checked identity labels of the real dancer clips (`bench/dancer_labels/`), the ground
truth of the tracking benchmark.

Each clip `<stem>` of `../shared/data/dancers/` has two files here:

- `<stem>.csv`: MOT Challenge ground truth, one row a box, no header:
  `frame,id,bb_left,bb_top,bb_width,bb_height,conf,class,visibility`; frame N is the N-th
  frame PyAV decodes from the file, counted from 1; boxes in pixels of the decoded frame;
  conf 1 a dancer, conf 0 a region not to score; class 1; visibility 0..1.
- `<stem>.frames`: the labelled frame numbers, whitespace separated (`#` starts a comment).
  A labelled frame with no row in the CSV is a frame where no dancer is visible.

`read_labels` gives, per labelled frame, its `Label`s; `contact_sheet` draws them onto the
frames and writes a PNG grid, for checking them by eye:

    python -m bench.dancer_labels CLIP OUT.png [FIRST [LAST [STEP]]]
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import av
import cv2
import numpy as np

LABELS_DIR = Path(__file__).resolve().parent / "dancer_labels"
DANCERS = Path(__file__).resolve().parents[2] / "shared" / "data" / "dancers"
CLIPS = (
    "bachata_shadow",
    "bachata_cross_body_lead",
    "bachata_hammerlock",
    "pair_phone",
    "ballet_recital",
    "line_dance_crowd",
    "folk_group",
)


class Label(NamedTuple):
    id: int
    box: tuple[float, float, float, float]  # left, top, width, height (px)
    conf: float  # 1 a dancer, 0 a region to ignore
    visibility: float


def labelled_frames(clip: str, directory: Path = LABELS_DIR) -> list[int]:
    """The clip's labelled frame numbers (1-based decode order), sorted."""
    text = (directory / f"{clip}.frames").read_text()
    numbers = [int(word) for line in text.splitlines() for word in line.split("#")[0].split()]
    return sorted(set(numbers))


def read_labels(clip: str, directory: Path = LABELS_DIR) -> dict[int, list[Label]]:
    """Labelled frame -> its labels (an empty list: labelled, nobody visible). Rows on frames
    that are not listed as labelled are an error."""
    frames: dict[int, list[Label]] = {frame: [] for frame in labelled_frames(clip, directory)}
    with open(directory / f"{clip}.csv", newline="") as f:
        for row in csv.reader(f):
            if not row or row[0].startswith("#"):
                continue
            frame, ident = int(row[0]), int(row[1])
            if frame not in frames:
                raise ValueError(f"{clip}: frame {frame} has labels but is not listed as labelled")
            left, top, width, height = (float(v) for v in row[2:6])
            frames[frame].append(
                Label(ident, (left, top, width, height), float(row[6]), float(row[8]))
            )
    return frames


def write_labels(
    clip: str, labels: dict[int, list[Label]], directory: Path = LABELS_DIR, note: str = ""
) -> None:
    """Write `<clip>.csv` (rows by frame, then id) and `<clip>.frames` (every key of `labels`)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / f"{clip}.csv", "w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        for frame in sorted(labels):
            for label in sorted(labels[frame], key=lambda lab: (lab.conf == 0, lab.id)):
                left, top, width, height = label.box
                out.writerow(
                    [frame, label.id, f"{left:.0f}", f"{top:.0f}", f"{width:.0f}", f"{height:.0f}"]
                    + [f"{label.conf:g}", 1, f"{label.visibility:.2g}"]
                )
    frames = sorted(labels)
    lines = [f"# {note}"] if note else []
    lines += [" ".join(str(n) for n in frames[i : i + 20]) for i in range(0, len(frames), 20)]
    (directory / f"{clip}.frames").write_text("\n".join(lines) + "\n")


def decode(path: Path, wanted: Iterable[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(frame number from 1, RGB array) of the decoded frames, only `wanted` ones if given."""
    wanted = None if wanted is None else set(wanted)
    last = max(wanted) if wanted else None
    with av.open(str(path)) as container:
        for number, frame in enumerate(container.decode(video=0), start=1):
            if wanted is None or number in wanted:
                yield number, frame.to_ndarray(format="rgb24")
            if last is not None and number >= last:
                break


_COLOURS = [
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128),
    (220, 190, 255), (170, 110, 40), (255, 250, 200), (128, 0, 0), (170, 255, 195),
    (128, 128, 0), (255, 215, 180), (0, 0, 128), (128, 128, 128), (255, 255, 25),
]  # fmt: skip


def draw(rgb: np.ndarray, labels: Iterable[Label], frame: int | None = None) -> np.ndarray:
    """A copy of the frame with each label's box and id (ignore regions dashed grey)."""
    out = rgb.copy()
    scale = max(out.shape[:2]) / 640
    thick = max(1, round(2 * scale))
    for label in labels:
        left, top, width, height = (round(v) for v in label.box)
        colour = (160, 160, 160) if label.conf == 0 else _COLOURS[(label.id - 1) % len(_COLOURS)]
        cv2.rectangle(out, (left, top), (left + width, top + height), colour, thick)
        text = "ign" if label.conf == 0 else str(label.id)
        cv2.putText(out, text, (left + 2, top + round(22 * scale)), 0, 0.8 * scale, colour, thick)
    if frame is not None:
        cv2.putText(out, str(frame), (5, round(30 * scale)), 0, scale, (0, 0, 0), 4 * thick)
        cv2.putText(out, str(frame), (5, round(30 * scale)), 0, scale, (255, 255, 255), thick)
    return out


def contact_sheet(
    video: Path,
    labels: dict[int, list[Label]],
    frames: Iterable[int],
    out_png: Path,
    *,
    columns: int = 6,
    width: int = 1600,
    crop: tuple[int, int] | None = None,
) -> Path:
    """Write a PNG grid of `frames` of `video` with their labels drawn, `width` px wide;
    `crop` (left, right) keeps only those columns of each frame (e.g. without side bars)."""
    frames = sorted(set(frames))
    left, right = crop or (0, None)
    tiles = [draw(rgb, labels.get(n, []), n)[:, left:right] for n, rgb in decode(video, frames)]
    if not tiles:
        raise ValueError("no frames to draw")
    h, w = tiles[0].shape[:2]
    tile_w = width // columns
    tile_h = round(h * tile_w / w)
    rows = -(-len(tiles) // columns)
    sheet = np.full((rows * tile_h, columns * tile_w, 3), 255, np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        small = cv2.resize(tile, (tile_w, tile_h), interpolation=cv2.INTER_AREA)
        sheet[r * tile_h : (r + 1) * tile_h, c * tile_w : (c + 1) * tile_w] = small
    cv2.imwrite(str(out_png), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return Path(out_png)


def main(argv: list[str]) -> None:
    clip, out = argv[0], Path(argv[1])
    labels = read_labels(clip)
    bounds = [int(a) for a in argv[2:5]]
    first, last, step = bounds + [1, max(labels), 1][len(bounds) :]
    frames = sorted(n for n in labels if first <= n <= last)[::step]
    contact_sheet(DANCERS / f"{clip}.mp4", labels, frames, out)


if __name__ == "__main__":
    main(sys.argv[1:])
