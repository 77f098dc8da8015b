"""Each dancer's marker of being in or out of step, drawn into annotated.mp4 once the group's
synchronisation is known (several dancers): above the dancer's `#id`, the web page's words
("in step", "out of step, 200 ms behind", "not compared here") on the page's colours (pale
green, pale orange, grey), framed in the dancer's colour; the rule is the page's
(`pipeline.analysis.group_steps`).

Why a second pass over annotated.mp4: the video is encoded while the frames stream through
the model, and the group's windows come from aligning whole performances after the last
frame (`pipeline.analysis.group`), so no marker is known when a frame is written; holding the
frames back would hold the whole video in memory. The pass decodes annotated.mp4 (our own
H.264, cheap to decode), draws the markers, encodes it again with the run's settings
(`VideoSink`: H.264 yuv420p, +faststart, the same timestamps) and copies its audio packets
as they are. It was preferred to drawing everything again from the input (decode the input
a second time, skeletons, HUD and markers, one encode): that would re-implement the writer's
streaming (smoothing window, angle labels, segments) for one case, and decoding the input
costs more than decoding our ultrafast H.264; the price of this one is a second generation
of compression, measured in docs/figures.md with the pass's time (`bench/bench_tracking.py
--marks`). Only a video with a group that has windows is touched: one dancer's never is.
"""

from __future__ import annotations

import bisect
import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.analysis.group_steps import Step, has_windows, steps_at
from pipeline.pose.steady import smooth_rows
from pipeline.video.overlay import Overlay, person_colour
from pipeline.video.sink import VideoSink
from pipeline.video.source import AudioPacket, DecodeStats, Limits, open_video

# the page's badges (api/static/app/app.css .step.in, .out, .unknown): background, text; RGB
FILL = {"in": (216, 240, 224), "out": (251, 224, 214), "unknown": (238, 238, 238)}
INK = {"in": (18, 74, 42), "out": (122, 42, 16), "unknown": (68, 68, 68)}
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def mark_steps(
    video: Path,
    analysis: Path,
    rows: list[tuple[int, float, Any]],
    *,
    kernel: np.ndarray,
    limits: Limits,
    preset: str,
    crf: int,
    threads: int = 1,
) -> bool:
    """Draw the markers of `analysis` (analysis.json; its `group`) into `video` (replaced
    when done) at the places of the run's `rows` (frame, time, [(id, landmarks)]), smoothed
    with the overlay's `kernel`, as the overlay drew them. False, the file untouched, when
    there is no group or it has no windows."""
    group = json.loads(analysis.read_text(encoding="utf-8")).get("group")
    if group is None or not has_windows(group):
        return False
    people = smooth_rows([found for _, _, found in rows], kernel, several=True)
    moments = _Moments(group)
    marked = video.with_name(f".{video.stem}.marking{video.suffix}")
    try:
        with open_video(video, limits, threads=threads) as source:
            overlay = Overlay(source.info.width, source.info.height)
            with VideoSink(
                marked, source.info, source.audio, preset=preset, crf=crf, threads=threads
            ) as sink:
                for item in source.items(DecodeStats()):
                    if isinstance(item, AudioPacket):
                        sink.write_audio(item.packet)
                        continue
                    if item.index < len(rows):  # the frames of annotated.mp4 are the rows'
                        steps = moments.at(rows[item.index][1])
                        draw_marks(overlay, item.rgb, people[item.index], steps)
                    sink.write_frame(item.rgb, item.pts)
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
    """`steps_at` once per stretch of time between the group's window edges."""

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
