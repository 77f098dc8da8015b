"""The analysis of a performance, from its landmarks (and the soundtrack of its video):
`angles.csv` and `analysis.json`, plus the short summary kept with the job.

    landmarks ─▶ angles (raw ─▶ gap-filled, low-passed)  ─▶ angles.csv, ranges, symmetry
              └▶ movement energy ─▶ accents, tempo        ─▶ analysis.json "movement"
    audio     ─▶ beats ─▶ accents against beats           ─▶ analysis.json "music"

Pure computation on arrays, plus one read of the input file's audio track.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.analysis import angles, movement, music
from pipeline.analysis.group import group_sync
from pipeline.pose.keypoints import PEOPLE_LAYOUT, landmarks_array
from shared import outputs

ANALYSIS_JSON = outputs.ANALYSIS.file_name
ANGLES_CSV = outputs.ANGLES.file_name
SCHEMA_VERSION = 1
PEOPLE_SCHEMA_VERSION = 2  # several dancers: version 1's fields for the main one, plus `people`


@dataclass(frozen=True)
class AnalysisOptions:
    visibility_threshold: float = 0.5
    cutoff_hz: float = angles.DEFAULT_CUTOFF_HZ  # Butterworth low-pass of the angles
    max_gap_frames: int = angles.DEFAULT_MAX_GAP_FRAMES  # longer gaps stay empty
    beat_tolerance_s: float = 0.1  # an accent this close to a beat is on the beat


@dataclass(frozen=True)
class Performance:
    """What the analysis reads: per frame, its index, its time and its landmarks (NaN rows
    where no pose was found), and the upright frame's size."""

    frames: np.ndarray  # (T,) int
    times: np.ndarray  # (T,) seconds
    landmarks: np.ndarray  # (T, 33, 4) x, y (0..1), z, visibility
    width: int
    height: int
    fps: float

    @classmethod
    def from_rows(
        cls,
        rows: list[tuple[int, float, np.ndarray | None]],
        *,
        width: int,
        height: int,
        fps: float,
    ) -> Performance:
        landmarks = np.full((len(rows), 33, 4), np.nan, dtype=np.float64)
        for i, (_, _, points) in enumerate(rows):
            if points is not None:
                landmarks[i] = points
        return cls(
            frames=np.array([row[0] for row in rows], dtype=np.int64),
            times=np.array([row[1] for row in rows], dtype=np.float64),
            landmarks=landmarks,
            width=width,
            height=height,
            fps=fps,
        )

    @classmethod
    def from_keypoints(
        cls, path: str | os.PathLike, person: int | None = None, *, steady: bool = False
    ) -> Performance:
        """Read a `keypoints.json` back. Versions 2 and 4 (several dancers): the dancer
        `person`, by default the main one (found in most frames). `steady`: the smoothed
        copy of the landmarks where the file has one (`pipeline.pose.steady`)."""
        field = "smoothed_landmarks" if steady else "landmarks"
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        video = document.get("video") or {}
        frames = document["frames"]
        if document.get("schema_version") in PEOPLE_LAYOUT:
            counts: dict[int, int] = {}
            for frame in frames:
                for entry in frame.get("people") or []:
                    counts[entry["id"]] = counts.get(entry["id"], 0) + 1
            if person is None and counts:
                person = max(counts, key=lambda i: (counts[i], -i))
            frames = [
                {
                    **frame,
                    "landmarks": next(
                        (
                            e["landmarks"] and (e.get(field) or e["landmarks"])
                            for e in frame.get("people") or []
                            if e["id"] == person
                        ),
                        None,
                    ),
                }
                for frame in frames
            ]
        rows = []
        for frame in frames:
            points = frame.get("landmarks") and (frame.get(field) or frame["landmarks"])
            array = None if not points else landmarks_array(points, dtype=np.float64)
            rows.append((int(frame["frame"]), float(frame["time_s"]), array))
        return cls.from_rows(
            rows,
            width=int(video.get("width") or 1),
            height=int(video.get("height") or 1),
            fps=float(video.get("fps") or 30.0),
        )


@dataclass(frozen=True)
class AngleSeries:
    raw: np.ndarray  # (T, K) degrees, NaN where unknown
    smooth: np.ndarray  # gaps filled, low-passed


def angle_series(performance: Performance, options: AnalysisOptions) -> AngleSeries:
    raw = angles.compute_angles(
        performance.landmarks,
        performance.width,
        performance.height,
        visibility_threshold=options.visibility_threshold,
    )
    smooth = angles.smooth_angles(
        raw,
        performance.fps,
        cutoff_hz=options.cutoff_hz,
        max_gap_frames=options.max_gap_frames,
    )
    return AngleSeries(raw=raw, smooth=smooth)


def for_comparison(performance: Performance, options: AnalysisOptions = AnalysisOptions()):
    """The performance as `pipeline.compare` reads it, with its smoothed angles."""
    return _compared(performance, angle_series(performance, options))


def analyze_performance(
    performance: Performance,
    out_dir: str | os.PathLike,
    *,
    audio_source: str | os.PathLike | None,
    options: AnalysisOptions = AnalysisOptions(),
) -> dict[str, Any]:
    """Write `angles.csv` and `analysis.json` into `out_dir`; return the short summary."""
    out = Path(out_dir)
    series = angle_series(performance, options)
    write_angles_csv(out / ANGLES_CSV, [(None, performance, series)])
    document = _document(performance, series, _soundtrack(audio_source), options)
    _write_json(out / ANALYSIS_JSON, document)
    return summarize(document)


def analyze_people(
    people: dict[int, Performance],
    nobody: Performance,
    out_dir: str | os.PathLike,
    *,
    main_person_id: int | None,
    audio_source: str | os.PathLike | None,
    options: AnalysisOptions = AnalysisOptions(),
) -> dict[str, Any]:
    """Several dancers (schema version 2): each analysed as one performance over the whole
    video (NaN where that dancer is not found). `analysis.json` holds version 1's fields for
    the main dancer (`nobody`'s, a performance without landmarks, when none was found), so
    every reader of version 1 reads the main dancer, and the same for each dancer in
    `people`. `angles.csv` gains a first column `person`. Returns the short summary."""
    out = Path(out_dir)
    beats = _soundtrack(audio_source)
    series = {person_id: angle_series(p, options) for person_id, p in people.items()}
    write_angles_csv(
        out / ANGLES_CSV,
        [(person_id, people[person_id], series[person_id]) for person_id in sorted(people)],
    )
    documents = {
        person_id: _document(people[person_id], series[person_id], beats, options)
        for person_id in sorted(people)
    }
    main = (
        documents[main_person_id]
        if main_person_id in documents
        else _document(nobody, angle_series(nobody, options), beats, options)
    )
    group = group_sync(
        {
            person_id: _compared(people[person_id], series[person_id])
            for person_id in sorted(people)
            if _posed_s(people[person_id]) >= GROUP_MIN_POSE_S
        }
    )
    document = {
        **main,
        "schema_version": PEOPLE_SCHEMA_VERSION,
        "main_person_id": main_person_id if main_person_id in documents else None,
        "people": [
            {"id": person_id, **{k: v for k, v in doc.items() if k not in _SHARED}}
            for person_id, doc in documents.items()
        ],
        "group": group,
    }
    _write_json(out / ANALYSIS_JSON, document)
    return {
        **summarize(document),
        "main_person_id": document["main_person_id"],
        "people": [{"id": person_id, **summarize(doc)} for person_id, doc in documents.items()],
        "group": None if group is None else {k: group[k] for k in ("score", "leader")},
    }


GROUP_MIN_POSE_S = 2.0  # a dancer found for less is left out of the group's synchronisation


def _posed_s(performance: Performance) -> float:
    found = np.isfinite(performance.landmarks[:, :, :2]).all(axis=(1, 2))
    return float(found.sum()) / performance.fps if performance.fps > 0 else 0.0


def _compared(performance: Performance, series: AngleSeries):
    """The dancer as `pipeline.compare` reads a performance (its smoothed angles given)."""
    from pipeline import compare

    return compare.Performance(
        times=performance.times,
        landmarks=performance.landmarks,
        width=performance.width,
        height=performance.height,
        angles=series.smooth,
        angle_names=angles.ANGLE_NAMES,
    )


_SHARED = ("schema_version", "settings")  # the same for every dancer: said once


def _soundtrack(audio_source: str | os.PathLike | None) -> dict[str, Any]:
    if audio_source is None:
        return {"available": False, "reason": "no video file to read"}
    return music.soundtrack_beats(audio_source)


def _document(
    performance: Performance,
    series: AngleSeries,
    beats: dict[str, Any],
    options: AnalysisOptions,
) -> dict[str, Any]:
    """`analysis.json` (version 1) of one performance."""
    energy = movement.movement_energy(
        performance.landmarks,
        performance.times,
        performance.width,
        performance.height,
        visibility_threshold=options.visibility_threshold,
    )
    accents = movement.movement_accents(energy, performance.times)
    tempo = movement.movement_tempo(energy, performance.times)
    measured = np.isfinite(series.raw)  # ranges: frames where each angle's points were seen
    return {
        "schema_version": SCHEMA_VERSION,
        "video": {
            "width": performance.width,
            "height": performance.height,
            "fps": round(performance.fps, 3),
            "frames": len(performance.frames),
            "detected_frames": int(np.isfinite(performance.landmarks[:, 0, 0]).sum()),
        },
        "settings": {**asdict(options), "angle_units": "degrees"},
        "angles": {
            "names": list(angles.ANGLE_NAMES),
            "sports2d_names": dict(angles.SPORTS2D_NAMES),
            "summary": angles.summarize_angles(series.smooth, performance.fps, known=measured),
        },
        "symmetry": angles.symmetry(series.smooth, performance.fps, known=measured),
        "movement": {
            "energy_units": "body heights per second",
            "energy_per_second": movement.energy_per_second(energy, performance.times),
            "tempo": tempo,
            "accent_times": [round(float(t), 3) for t in accents],
        },
        "music": music.music_section(beats, accents, tolerance_s=options.beat_tolerance_s),
        "per_frame": {  # for plots: one value per frame, null where unknown
            "time_s": [round(float(t), 3) for t in performance.times],
            "energy": _rounded(energy, 3),
            "visibility": _rounded(_mean_visibility(performance.landmarks), 3),
        },
    }


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(_finite(document), indent=1) + "\n", encoding="utf-8")


def summarize(document: dict[str, Any]) -> dict[str, Any]:
    """The short form kept with the job: tempo, on-beat score, ranges of motion."""
    summary = document["angles"]["summary"]
    music_section = document["music"]
    short_music: dict[str, Any] = {"available": bool(music_section.get("available"))}
    if short_music["available"]:
        for key in ("tempo_bpm", "on_beat_score", "mean_offset_ms", "offset_spread_ms"):
            short_music[key] = music_section.get(key)
    else:
        short_music["reason"] = music_section.get("reason")
    return {
        "movement_tempo_bpm": document["movement"]["tempo"].get("bpm"),
        "movement_tempo_confidence": document["movement"]["tempo"].get("confidence"),
        "music": short_music,
        "ranges_of_motion": {
            name: summary[name]["range_of_motion"] for name in angles.JOINT_ANGLE_NAMES
        },
    }


def write_angles_csv(
    path: Path, performances: list[tuple[int | None, Performance, AngleSeries]]
) -> None:
    """`frame,time_s,<angle names...>` (smoothed), then `<name>_raw` columns; empty cells
    where unknown. Several dancers (ids, not None): a first column `person`, and each
    dancer's rows from the first to the last frame where they are found."""
    names = list(angles.ANGLE_NAMES)
    several = any(person_id is not None for person_id, _, _ in performances)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        head = ["frame", "time_s", *names, *(f"{name}_raw" for name in names)]
        writer.writerow(["person", *head] if several else head)
        for person_id, performance, series in performances:
            rows = range(len(performance.frames))
            if several:
                found = np.flatnonzero(np.isfinite(performance.landmarks[:, 0, 0]))
                rows = range(int(found[0]), int(found[-1]) + 1) if found.size else range(0)
            for i in rows:
                values = np.concatenate([series.smooth[i], series.raw[i]])
                cells = [
                    int(performance.frames[i]),
                    f"{performance.times[i]:.4f}",
                    *("" if not math.isfinite(v) else f"{v:.2f}" for v in values.tolist()),
                ]
                writer.writerow([person_id, *cells] if several else cells)


def _mean_visibility(landmarks: np.ndarray) -> np.ndarray:
    """Per frame, the mean visibility of the 33 landmarks; NaN without a pose."""
    visibility = landmarks[:, :, 3]
    known = np.isfinite(visibility).all(axis=1)
    return np.where(known, np.nan_to_num(visibility).mean(axis=1), np.nan)


def _rounded(values: np.ndarray, digits: int) -> list[float | None]:
    return [round(v, digits) if math.isfinite(v) else None for v in values.tolist()]


def _finite(value: Any) -> Any:
    """JSON has no NaN: unknown numbers become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, np.floating):
        return _finite(float(value))
    if isinstance(value, np.integer):
        return int(value)
    return value
