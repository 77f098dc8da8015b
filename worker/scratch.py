"""A job attempt's files on the worker's disk, kept between retries of the attempt, so that a
retry after an outage downloads the input and runs the pipeline only if not done already.

    <WORKER_SCRATCH_DIR>/<job_id>/<attempt>/input<.ext>      complete once `input.done` exists
    <WORKER_SCRATCH_DIR>/<job_id>/<attempt>/out/...          complete once `outputs.json` exists

A retry on another worker starts afresh there; `prune` removes what no retry came back for.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from pipeline.motion.exports import Exports
from pipeline.runner import PipelineResult


class Scratch:
    def __init__(self, root: str | Path, job_id: uuid.UUID, attempt: int):
        self.job_dir = Path(root) / str(job_id)
        self.dir = self.job_dir / str(attempt)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.reused: list[str] = []  # what an earlier try had made: "input", "outputs"

    def input(self, suffix: str, download: Callable[[Path], None]) -> Path:
        """The input file, downloaded by `download(path)` unless an earlier try did. Several
        workers on one disk (a split job's segments) download it once, one at a time."""
        path = self.dir / f"input{suffix}"
        done = self.dir / "input.done"
        with open(self.dir / "input.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if done.exists():
                self.reused.append("input")
            else:
                download(path)
                done.touch()
        return path

    def outputs(self, run: Callable[[Path], PipelineResult]) -> PipelineResult:
        """The pipeline's outputs, made by `run(out_dir)` unless an earlier try did."""
        out, record = self.dir / "out", self.dir / "outputs.json"
        if record.exists():
            self.reused.append("outputs")
            saved = json.loads(record.read_text())
            return PipelineResult(
                out,
                metrics=saved["metrics"],
                analysis=saved["analysis"],
                exports=Exports.from_dict(saved.get("exports")),
            )
        result = run(out)
        partial = record.with_suffix(".part")
        saved = {
            "metrics": result.metrics,
            "analysis": result.analysis,
            "exports": result.exports.as_dict(),
        }
        partial.write_text(json.dumps(saved))
        partial.replace(record)  # complete only once everything before it is on disk
        return result

    def remove(self) -> None:
        """Forget the job's files (it ended, or moves on to another attempt)."""
        shutil.rmtree(self.job_dir, ignore_errors=True)


def prune(root: str | Path, older_than_s: float) -> int:
    """Remove the scratch of jobs untouched for `older_than_s`; returns how many."""
    removed, cutoff = 0, time.time() - older_than_s
    base = Path(root)
    if not base.is_dir():
        return 0
    for job_dir in base.iterdir():
        try:
            if job_dir.stat().st_mtime < cutoff:
                shutil.rmtree(job_dir, ignore_errors=True)
                removed += 1
        except FileNotFoundError:
            pass
    return removed
