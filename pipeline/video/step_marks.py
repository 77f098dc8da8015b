"""Each dancer's marker of being in or out of step, drawn into annotated.mp4 once the group's
synchronisation is known (several dancers): above the dancer's `#id`, the web page's words
("in step", "out of step" and "200 ms behind", "not compared here") on the page's colours
(pale green, pale orange, grey), framed in the dancer's colour; the rule is the page's
(`pipeline.analysis.group_steps`).

Why a second pass: the video is encoded while the frames stream through the model, and the
group's windows come from aligning whole performances after the last frame
(`pipeline.analysis.group`), so no marker is known when a frame is written, and holding the
frames back would hold the whole video in memory.

Why the second pass draws the video again from the input rather than over annotated.mp4
(decode it, draw the markers, encode it again: the first way tried): that compresses every
frame a second time, 1.4-1.5 dB of PSNR lost at the run's settings (x264 ultrafast, CRF 26)
for the same time. Drawn again from the input, the video has one generation of compression
like any other. The pass decodes the input again and hands its frames, with the landmarks
the run found (no model), to a writer made as the first pass's (`pipeline.stages.
FrameWriter`: smoothing window, skeletons, angle labels, HUD, audio), which calls
`draw_marks` on each frame; the first pass's file is replaced when done. It costs 1.04 to
1.21 times the job's time (docs/figures.md, `bench/bench_tracking.py --marks`). Only a job
whose group has windows is drawn again: one dancer's video never is.
"""

from __future__ import annotations

import bisect
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.analysis.group_steps import Step, has_windows, steps_at
from pipeline.stages import FrameWriter, Marks
from pipeline.video.overlay import Overlay, person_colour
from pipeline.video.sink import VideoSink
from pipeline.video.source import DecodedFrame, DecodeStats, Limits, open_video

# the page's badges (api/static/app/app.css .step.in, .out, .unknown): background, text; RGB
FILL = {"in": (216, 240, 224), "out": (251, 224, 214), "unknown": (238, 238, 238)}
INK = {"in": (18, 74, 42), "out": (122, 42, 16), "unknown": (68, 68, 68)}
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def mark_steps(
    input_path: str | os.PathLike,
    video: Path,
    analysis: Path,
    rows: list[tuple[int, float, Any]],
    *,
    writer: Callable[[VideoSink, Marks], FrameWriter],
    limits: Limits,
    preset: str,
    crf: int,
    threads: int = 1,
) -> bool:
    """Draw `video` again from `input_path` with the markers of `analysis` (analysis.json;
    its `group`): the run's `rows` (frame, time, [(id, landmarks)]) handed to the `writer`
    the run drew with, with the markers as its `marks`. False, the file untouched, when
    there is no group or it has no windows."""
    group = json.loads(analysis.read_text(encoding="utf-8")).get("group")
    if group is None or not has_windows(group):
        return False
    found = {index: people for index, _, people in rows}
    moments = _Moments(group)
    marked = video.with_name(f".{video.stem}.marking{video.suffix}")
    try:
        with open_video(input_path, limits, threads=threads) as source:
            sink = VideoSink(
                marked, source.info, source.audio, preset=preset, crf=crf, threads=threads
            )
            drawing = writer(
                sink, lambda rgb, t, people: moments.draw(drawing.overlay, rgb, t, people)
            )
            drawing.start()
            try:
                for item in source.items(DecodeStats()):
                    if isinstance(item, DecodedFrame):  # with the landmarks the run found
                        drawing.put((item, found.get(item.index, []), {}))
                    else:
                        drawing.put(item)
                drawing.finish()
            except BaseException:
                drawing.abort()
                raise
        os.replace(marked, video)
    finally:
        marked.unlink(missing_ok=True)
    return True


def draw_marks(
    overlay: Overlay, rgb: np.ndarray, people: list[tuple[int, np.ndarray]], steps: list[Step]
) -> None:
    """Each dancer of `people` who has a step: the marker above their `#id` label (below it
    when the label is at the top of the frame), centred on it, inside the frame; the state's
    words on one line, the offset, when said, on a second."""
    by_id = {step.id: step for step in steps}
    scale, thickness = overlay.font_scale, overlay.font_thickness
    for person, landmarks in people:
        step = by_id.get(person)
        if step is None:
            continue
        sizes = [cv2.getTextSize(line, _FONT, scale, thickness) for line in step.lines]
        (_, th), base = sizes[0]
        pad, border = max(2, th // 3), thickness + 1
        line_height = th + base
        width = max(tw for (tw, _), _ in sizes) + 2 * pad + 2 * border
        height = line_height * len(sizes) + 2 * pad + 2 * border
        x0, y0, x1, y1 = overlay.id_box(f"#{person}", landmarks)
        x = min(max(0, (x0 + x1) // 2 - width // 2), max(0, overlay.width - width))
        y = y0 - pad - height if y0 - pad - height >= 0 else y1 + pad
        cv2.rectangle(rgb, (x, y), (x + width, y + height), FILL[step.state], -1)
        cv2.rectangle(rgb, (x, y), (x + width, y + height), person_colour(person), border)
        for k, line in enumerate(step.lines):
            baseline = y + border + pad + th + k * line_height
            ink = INK[step.state]
            cv2.putText(
                rgb, line, (x + border + pad, baseline), _FONT, scale, ink, thickness, cv2.LINE_AA
            )


class _Moments:
    """The markers of each moment: `steps_at` once per stretch of time between the group's
    window edges."""

    def __init__(self, group: dict[str, Any]):
        self.group = group
        edges = {
            edge
            for pair in group["pairs"]
            for window in pair.get("segments") or ()
            for edge in (window["start_s"], window["end_s"])
        }
        self.edges = sorted(edges)
        self.cache: dict[int, list[Step]] = {}

    def at(self, time_s: float) -> list[Step]:
        stretch = bisect.bisect_right(self.edges, time_s)
        if stretch not in self.cache:
            self.cache[stretch] = steps_at(self.group, time_s)
        return self.cache[stretch]

    def draw(
        self, overlay: Overlay, rgb: np.ndarray, time_s: float, people: list[tuple[int, Any]]
    ) -> None:
        draw_marks(overlay, rgb, people, self.at(time_s))
