"""Render comparison.mp4: the reference and the attempt side by side, in step.

The inputs are the two annotated.mp4 files (skeleton drawn, upright). A `SideBySide` plan
says, for every output frame k (at k / fps), which time of each input to show; the attempt
side shows a "no match" panel where its time is NaN. Under the pictures, a timeline strip
spans the reference's shown span: every `Moment` coloured by its judgement, a cursor at the
current reference time and the current moment's judgement written large.

- **Frames by time.** Each input is decoded once, front to back, one frame ahead: never a
  seek, never more than two decoded frames held. Output frame k shows the input frame
  nearest the wanted time, a tie going to the later one: at a constant rate, the latest
  frame at or before the wanted time plus half a frame interval (a time on a frame gets
  that frame); at a variable rate the interval is the one around the wanted time. Before
  the first frame, the first. The plan's times are non-decreasing, so one forward pass
  serves them all.
- **Pictures.** Each input is scaled to `height` keeping its aspect ratio (OpenCV,
  INTER_AREA when shrinking, on the YUV planes before the conversion to RGB), once per
  input frame however often it is shown; the strip's coloured moments are drawn once and
  copied in for every frame. A helper thread decodes, scales and draws a few frames ahead
  of the encoder.
- **Sound.** The reference's audio from reference_times[0] on, placed by the audio frames'
  own times (a gap or a broken packet becomes silence, so sync holds), re-encoded as AAC
  from output time 0 and cut or padded with silence to the video's duration. It plays at
  normal speed: in step with the pictures where the plan shows the reference at 1x.
- **Encoding.** H.264 yuv420p, BT.601 limited range (OpenCV's conversion), in MP4 with
  +faststart, frame k at pts k with time base 1 / fps; `steady_encoding` makes it
  reproducible (one encoder thread).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import cv2
import numpy as np

from pipeline.compare.video_inputs import Ahead, Frames, Sound, open_input
from pipeline.video.samples import steady_encoding

log = logging.getLogger(__name__)

GAP = 8  # px between the two pictures
MIN_WIDTH = 640  # px: the strip and its label stay readable under two portrait videos
_BT601_MATRIX = 6  # AVCOL_SPC_SMPTE170M, as pipeline.video.sink
_LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG

# RGB.
_BACKGROUND = (18, 18, 22)
_EMPTY_BAR = (48, 48, 54)  # the timeline where no moment lies
_NO_MATCH = (30, 34, 46)
_TEXT = (235, 235, 235)
JUDGEMENT_COLOURS: dict[str | None, tuple[int, int, int]] = {
    "perfect": (40, 200, 80),
    "good": (160, 225, 90),
    "ok": (250, 175, 30),
    "miss": (225, 55, 55),
    None: (120, 120, 126),
}
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_BOLD = cv2.FONT_HERSHEY_DUPLEX


@dataclass(frozen=True)
class Moment:
    """One judged stretch of the reference (a beat, or a window where there is no beat)."""

    start_s: float  # reference time (its container clock)
    end_s: float
    judgement: str | None  # "perfect", "good", "ok", "miss", or None (not judged)
    score: float | None  # 0..100 or None


@dataclass(frozen=True)
class SideBySide:
    """What to show: output frame k shows both inputs at their times k."""

    reference_times: np.ndarray  # (K,) s, non-decreasing
    attempt_times: np.ndarray  # (K,) s, NaN where the attempt has no matching moment
    fps: float  # output frame rate: frame k is at k / fps
    moments: tuple[Moment, ...]  # drawn as a timeline strip under the pictures
    title: str = ""  # e.g. "score 87.3 · pose 91 · timing 80 · amplitude 95"


def render_side_by_side(
    reference_video: str | os.PathLike,
    attempt_video: str | os.PathLike,
    out_path: str | os.PathLike,
    plan: SideBySide,
    *,
    height: int = 360,
    audio: bool = True,
    crf: int = 23,
    preset: str = "veryfast",
) -> dict:
    """Write `out_path` (MP4) from the plan; `height`: each picture's (rounded down to even).
    Returns {"frames", "width", "height", "fps", "duration_s", "audio"}. Raises
    FileNotFoundError for a missing input, ValueError for an unreadable one or a bad plan."""
    reference_times, attempt_times = _checked_times(plan)
    if height < 16:
        raise ValueError(f"height must be at least 16 px, not {height}")
    inputs: list[av.container.InputContainer] = []
    output = sound = pictures = None
    try:
        for path in (reference_video, attempt_video):
            inputs.append(open_input(path))
        reference = Frames(inputs[0], height)
        attempt = Frames(inputs[1], height)
        layout = _layout(reference.size, attempt.size, height, bool(plan.title))
        canvas = _Canvas(layout, plan, float(reference_times[0]), float(reference_times[-1]))
        output = av.open(os.fspath(out_path), "w", format="mp4", options={"movflags": "+faststart"})
        video = _video_stream(output, layout, plan.fps, crf=crf, preset=preset)
        duration_s = len(reference_times) / plan.fps
        if audio:
            sound = Sound.open(reference_video, output, float(reference_times[0]), duration_s)
        pictures = Ahead(_composed(reference, attempt, canvas, reference_times, attempt_times))
        for k, i420 in enumerate(pictures):
            frame = av.VideoFrame.from_ndarray(i420, format="yuv420p")
            frame.pts = k
            output.mux(video.encode(frame))
            if sound is not None:
                sound.write_until((k + 1) / plan.fps)
        output.mux(video.encode(None))
        if sound is not None:
            sound.finish()
        output.close()
    except BaseException:
        if output is not None:
            _abort(output)
            Path(out_path).unlink(missing_ok=True)
        raise
    finally:
        if pictures is not None:
            pictures.close()  # before its inputs
        for container in inputs:
            container.close()
        if sound is not None:
            sound.close()
    return {
        "frames": len(reference_times),
        "width": layout.width,
        "height": layout.height,
        "fps": float(plan.fps),
        "duration_s": round(duration_s, 6),
        "audio": sound is not None,
    }


def _checked_times(plan: SideBySide) -> tuple[np.ndarray, np.ndarray]:
    """The plan's times as float arrays; ValueError when they break the plan's rules."""
    reference = np.asarray(plan.reference_times, dtype=np.float64).reshape(-1)
    attempt = np.asarray(plan.attempt_times, dtype=np.float64).reshape(-1)
    if len(reference) == 0:
        raise ValueError("the plan is empty: no frame to render")
    if len(attempt) != len(reference):
        raise ValueError(f"{len(reference)} reference times but {len(attempt)} attempt times")
    if not (math.isfinite(plan.fps) and plan.fps > 0):
        raise ValueError(f"the frame rate must be positive, not {plan.fps}")
    if not np.isfinite(reference).all() or (np.diff(reference) < 0).any():
        raise ValueError("the reference times must be finite and non-decreasing")
    shown = attempt[~np.isnan(attempt)]
    if not np.isfinite(shown).all() or (np.diff(shown) < 0).any():
        raise ValueError("the attempt times must be non-decreasing (NaN: no match)")
    return reference, attempt


def _composed(
    reference: Frames,
    attempt: Frames,
    canvas: _Canvas,
    reference_times: np.ndarray,
    attempt_times: np.ndarray,
) -> Iterator[np.ndarray]:
    """Every output frame in I420, as the encoder takes it."""
    for ref_s, att_s in zip(reference_times, attempt_times, strict=True):
        att_picture = None if math.isnan(att_s) else attempt.at(att_s)
        rgb = canvas.draw(reference.at(ref_s), ref_s, att_picture, att_s)
        yield cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)


@dataclass(frozen=True)
class _Layout:
    """Where everything goes, in output pixels: title bar, pictures, strip, from the top."""

    width: int
    height: int
    title_h: int  # 0 without a title
    picture_y: int
    picture_h: int
    reference_x: int
    reference_w: int
    attempt_x: int
    attempt_w: int
    strip_y: int
    strip_h: int
    label_w: int  # the judgement's place, left of the bar
    bar_x0: int
    bar_x1: int
    bar_y0: int
    bar_y1: int
    scale: float  # font scale of the captions and the title (the pictures' size)
    label_scale: float  # of the judgement (the strip's size)


def _layout(
    reference_size: tuple[int, int], attempt_size: tuple[int, int], height: int, title: bool
) -> _Layout:
    """Pictures side by side, `GAP` apart, the strip under them; every side even."""
    picture_h = height - height % 2
    unit = picture_h / 360
    scale = max(0.4, 0.5 * unit)
    title_h = 2 * round(15 * unit) if title else 0
    strip_h = 2 * min(28, max(20, round(25 * unit)))
    pictures_w = reference_size[0] + GAP + attempt_size[0]
    width = max(pictures_w, MIN_WIDTH)  # narrow (portrait) pictures: centred on a wider strip
    left = (width - pictures_w) // 2 // 2 * 2
    label_scale = strip_h / 60
    widest = cv2.getTextSize("PERFECT 100", _BOLD, label_scale, 2)[0][0]
    label_w = min(width // 3, widest + 2 * GAP)
    strip_y = title_h + picture_h
    pad = max(6, round(strip_h * 0.22))
    return _Layout(
        width=width,
        height=strip_y + strip_h,
        title_h=title_h,
        picture_y=title_h,
        picture_h=picture_h,
        reference_x=left,
        reference_w=reference_size[0],
        attempt_x=left + reference_size[0] + GAP,
        attempt_w=attempt_size[0],
        strip_y=strip_y,
        strip_h=strip_h,
        label_w=label_w,
        bar_x0=label_w,
        bar_x1=width - GAP,
        bar_y0=strip_y + pad,
        bar_y1=strip_y + strip_h - pad,
        scale=scale,
        label_scale=label_scale,
    )


class _Canvas:
    """One output picture, reused: the static parts drawn once, the rest for every frame."""

    def __init__(self, layout: _Layout, plan: SideBySide, start_s: float, end_s: float):
        self.layout, self.start_s = layout, start_s
        self.span_s = max(end_s - start_s, 1e-9)
        self.rgb = np.empty((layout.height, layout.width, 3), np.uint8)
        self.rgb[:] = _BACKGROUND
        if plan.title:
            _title(self.rgb, layout, plan.title)
        self.moments = sorted(plan.moments, key=lambda m: m.start_s)
        self.starts = np.array([m.start_s for m in self.moments], np.float64)
        self.strip = self._strip()

    def x(self, time_s: float) -> int:
        """The bar's column for a reference time, clamped to the bar."""
        lay = self.layout
        share = min(1.0, max(0.0, (time_s - self.start_s) / self.span_s))
        return lay.bar_x0 + round(share * (lay.bar_x1 - 1 - lay.bar_x0))

    def _strip(self) -> np.ndarray:
        """The strip without cursor or label: every moment in its judgement's colour."""
        lay = self.layout
        strip = self.rgb[lay.strip_y :].copy()
        top, bottom = lay.bar_y0 - lay.strip_y, lay.bar_y1 - lay.strip_y
        strip[top:bottom, lay.bar_x0 : lay.bar_x1] = _EMPTY_BAR
        for moment in self.moments:
            if moment.end_s < self.start_s or moment.start_s > self.start_s + self.span_s:
                continue  # outside the span shown
            x0, x1 = self.x(moment.start_s), self.x(moment.end_s)
            strip[top:bottom, x0 : max(x1, x0 + 1)] = _colour(moment.judgement)
            if x1 - x0 >= 6:  # a dark seam between beats wide enough to show it
                strip[top:bottom, x0] = _BACKGROUND
        return strip

    def current(self, time_s: float) -> Moment | None:
        """The moment that holds `time_s` (of two that touch there, the later)."""
        i = int(np.searchsorted(self.starts, time_s, side="right")) - 1
        if i >= 0 and time_s <= self.moments[i].end_s:
            return self.moments[i]
        return None

    def draw(
        self,
        reference: np.ndarray,
        reference_s: float,
        attempt: np.ndarray | None,
        attempt_s: float,
    ) -> np.ndarray:
        """The output picture for one frame (the canvas's own array)."""
        lay, rgb = self.layout, self.rgb
        top, bottom = lay.picture_y, lay.picture_y + lay.picture_h
        rgb[top:bottom, lay.reference_x : lay.reference_x + lay.reference_w] = reference
        attempt_box = rgb[top:bottom, lay.attempt_x : lay.attempt_x + lay.attempt_w]
        if attempt is None:
            attempt_box[:] = _NO_MATCH
            _centred(attempt_box, "no match", lay.scale * 1.6, (170, 175, 190))
            _caption(attempt_box, "attempt", lay.scale)
        else:
            attempt_box[:] = attempt
            _caption(attempt_box, f"attempt {attempt_s:.1f} s", lay.scale)
        reference_box = rgb[top:bottom, lay.reference_x : lay.reference_x + lay.reference_w]
        _caption(reference_box, f"reference {reference_s:.1f} s", lay.scale)
        rgb[lay.strip_y :] = self.strip
        self._cursor(reference_s)
        return rgb

    def _cursor(self, time_s: float) -> None:
        """The cursor on the bar and, left of it, the current moment's judgement and score."""
        lay, rgb = self.layout, self.rgb
        x = self.x(time_s)
        y0, y1 = lay.strip_y + 3, lay.strip_y + lay.strip_h - 4
        cv2.line(rgb, (x, y0), (x, y1), (10, 10, 10), 5)
        cv2.line(rgb, (x, y0), (x, y1), (255, 255, 255), 2)
        moment = self.current(time_s)
        if moment is None or moment.judgement is None:
            return
        text = moment.judgement.upper()
        if moment.score is not None and math.isfinite(moment.score):
            text += f" {moment.score:.0f}"
        label = rgb[lay.strip_y :, : lay.label_w]
        _centred(label, text, lay.label_scale, _colour(moment.judgement), font=_BOLD, thickness=2)


def _colour(judgement: str | None) -> tuple[int, int, int]:
    """A judgement's colour; one this module does not know is grey, as no judgement."""
    return JUDGEMENT_COLOURS.get(judgement, JUDGEMENT_COLOURS[None])


def _title(rgb: np.ndarray, layout: _Layout, title: str) -> None:
    """The title, left-aligned in its bar, made smaller until it fits."""
    text = _ascii(title)
    scale = layout.scale * 1.2
    while scale > 0.3 and cv2.getTextSize(text, _FONT, scale, 1)[0][0] > layout.width - 2 * GAP:
        scale *= 0.9
    (_, th), _ = cv2.getTextSize(text, _FONT, scale, 1)
    y = (layout.title_h + th) // 2
    cv2.putText(rgb, text, (GAP, y), _FONT, scale, _TEXT, 1, cv2.LINE_AA)


def _caption(box: np.ndarray, text: str, scale: float) -> None:
    """`text` at the bottom left of a picture, on a darkened backdrop (the annotated videos
    carry their own HUD at the top left)."""
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, 1)
    pad = max(3, th // 2)
    y0 = box.shape[0] - th - base - 3 * pad
    backdrop = box[y0 : box.shape[0] - pad, pad : min(box.shape[1], tw + 3 * pad)]
    backdrop[:] = (backdrop * 0.4).astype(np.uint8)
    origin = (2 * pad, box.shape[0] - base - 2 * pad)
    cv2.putText(box, text, origin, _FONT, scale, _TEXT, 1, cv2.LINE_AA)


def _centred(
    box: np.ndarray,
    text: str,
    scale: float,
    colour: tuple[int, int, int],
    *,
    font: int = _FONT,
    thickness: int = 1,
) -> None:
    (tw, th), _ = cv2.getTextSize(text, font, scale, thickness)
    while tw > box.shape[1] - 2 * GAP and scale > 0.3:
        scale *= 0.85
        (tw, th), _ = cv2.getTextSize(text, font, scale, thickness)
    origin = ((box.shape[1] - tw) // 2, (box.shape[0] + th) // 2)
    cv2.putText(box, text, origin, font, scale, colour, thickness, cv2.LINE_AA)


def _ascii(text: str) -> str:
    """OpenCV's fonts draw ASCII only: the title's separating dots become bars."""
    return text.replace("·", "|").encode("ascii", "replace").decode("ascii")


def _video_stream(
    output: av.container.OutputContainer, layout: _Layout, fps: float, *, crf: int, preset: str
) -> av.VideoStream:
    rate = Fraction(fps).limit_denominator(1001)
    stream = cast(av.VideoStream, output.add_stream("libx264", rate=rate))
    stream.width, stream.height, stream.pix_fmt = layout.width, layout.height, "yuv420p"
    stream.time_base = stream.codec_context.time_base = 1 / rate
    steady = {key: str(value) for key, value in steady_encoding("libx264").items()}
    stream.options = {**steady, "preset": preset, "crf": str(crf), "profile": "high"}
    context = stream.codec_context
    context.colorspace, context.color_range = _BT601_MATRIX, _LIMITED_RANGE
    return stream


def _abort(output: av.container.OutputContainer) -> None:
    try:
        output.close()
    except Exception:  # noqa: BLE001 - already failing; the caller reports the first error
        pass
