"""Which motion files a run writes, and their names: `motion.bvh` and `markers.trc` for each
dancer (`motion_person<id>.bvh`, `markers_person<id>.trc` with several), and one
`world_landmarks.csv` for everyone. A dancer never found gets no BVH or TRC (a skeleton needs
bone lengths), which `note` says."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pipeline.motion.bvh import write_bvh
from pipeline.motion.trc import write_trc
from pipeline.motion.world import WorldTrack
from pipeline.motion.world_csv import write_world_csv
from shared.outputs import MOTION_FORMATS, WORLD_CSV, checked_formats, motion_format


@dataclass(frozen=True)
class ExportFile:
    name: str
    format: str  # one of FORMATS
    person: int | None  # the dancer's id; None: every dancer in one file (the CSV)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Exports:
    files: tuple[ExportFile, ...] = ()
    note: str | None = None  # why a file asked for is missing

    def as_dict(self) -> dict:
        return {"files": [f.as_dict() for f in self.files], "note": self.note}

    @classmethod
    def from_dict(cls, data: dict | None) -> Exports:
        data = data or {}
        files = tuple(ExportFile(**item) for item in data.get("files") or [])
        return cls(files, data.get("note"))


_PATTERNS = tuple(fmt.file_name() for fmt in MOTION_FORMATS) + tuple(
    f"{fmt.stem}_person*.{fmt.extension}" for fmt in MOTION_FORMATS if fmt.per_person
)


def remove_exports(out: Path) -> None:
    """Remove whatever motion files a run may have written into `out` (a failed run's)."""
    for pattern in _PATTERNS:
        for path in out.glob(pattern):
            path.unlink(missing_ok=True)


def file_name(fmt: str, person: int, *, several: bool) -> str:
    return motion_format(fmt).file_name(person if several else None)


def write_exports(
    out: Path,
    frames: np.ndarray,
    tracks: Sequence[WorldTrack],
    fps: float,
    formats: Sequence[str],
    *,
    several: bool,
) -> Exports:
    """Write the files of `formats` for `tracks` (one per dancer, over all `frames`)."""
    files: list[ExportFile] = []
    missing = []
    for fmt in checked_formats(formats):
        if fmt == "csv":
            write_world_csv(out / WORLD_CSV.file_name(), frames, list(tracks))
            files.append(ExportFile(WORLD_CSV.file_name(), "csv", None))
            continue
        write = write_bvh if fmt == "bvh" else write_trc
        for track in tracks:
            name = file_name(fmt, track.person, several=several)
            if write(out / name, track, fps):
                files.append(ExportFile(name, fmt, track.person))
            else:
                missing.append(name)
    note = None
    if any(fmt in formats for fmt in ("bvh", "trc")) and not any(t.known.any() for t in tracks):
        note = "no dancer was found in the video: there is no motion to export as BVH or TRC"
    elif missing:
        note = f"not written, the dancer was never found: {', '.join(missing)}"
    return Exports(tuple(files), note)
