"""Object keys: where each job's and each upload's files live in the bucket.

Keys are a pure function of ids, so a redelivered task overwrites instead of duplicating:

    uploads/<tenant_id>/<upload_id>/source<.ext>   a direct upload, until a job takes it
    inputs/<job_id>/source[-<tag>]<.ext>           the job's own copy of its input
    outputs/<job_id>/<file name>                   each output of `shared.outputs.JOB_OUTPUTS`
                                                   (annotated.mp4, keypoints.json, ...), and the
                                                   motion files (motion[_person<id>].bvh, ...)
    outputs/<job_id>/segments/<attempt>/<index>/...  a split job's segment outputs, until the
                                                     stitch (annotated.mp4, keypoints.json,
                                                     summary.json)
    comparisons/<comparison_id>/<file name>        `shared.outputs.COMPARISON_OUTPUTS`: the
                                                   full report, the side-by-side video

A client's file name only ever contributes its extension.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path, PureWindowsPath

from shared.outputs import JOB_OUTPUTS, Output

UPLOADS_PREFIX = "uploads/"

_JOB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
_EXTENSION_RE = re.compile(r"^\.[a-z0-9]{1,10}$")


def _job_segment(job_id: str | uuid.UUID) -> str:
    value = str(job_id)
    if not _JOB_ID_RE.match(value):
        raise ValueError(f"job id not usable in a storage key: {value!r}")
    return value


def safe_extension(filename: str | None) -> str:
    """The lowercase extension of a client's file name ('.mp4'), or '' when it has no safe one."""
    if not filename:
        return ""
    name = PureWindowsPath(filename).name  # splits on both '/' and '\\'
    suffix = Path(name).suffix.lower()
    return suffix if _EXTENSION_RE.match(suffix) else ""


def input_key(
    job_id: str | uuid.UUID, filename: str | None = None, *, tag: str | None = None
) -> str:
    """`inputs/<job_id>/source<.ext>` (or `source-<tag><.ext>`); the client's file name only
    contributes its extension."""
    name = f"source-{_job_segment(tag)}" if tag else "source"
    return f"inputs/{_job_segment(job_id)}/{name}{safe_extension(filename)}"


def output_key(job_id: str | uuid.UUID, output: Output) -> str:
    """`outputs/<job_id>/<file name>`: where one of a job's outputs lives."""
    return f"outputs/{_job_segment(job_id)}/{output.file_name}"


def output_keys(job_id: str | uuid.UUID) -> dict[str, str]:
    """The keys of a job's outputs (`shared.outputs.JOB_OUTPUTS`), by output name."""
    return {output.name: output_key(job_id, output) for output in JOB_OUTPUTS}


_EXPORT_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}\.(bvh|trc|csv)$")


def export_key(job_id: str | uuid.UUID, name: str) -> str:
    """`outputs/<job_id>/<name>`: a motion file's key (its name as the pipeline gave it)."""
    if not _EXPORT_NAME_RE.match(name):
        raise ValueError(f"not a motion file name: {name!r}")
    return f"outputs/{_job_segment(job_id)}/{name}"


def segments_prefix(job_id: str | uuid.UUID) -> str:
    """Where a split job's segments keep their outputs until the job succeeds; under the
    job's outputs, so deleting the job deletes them."""
    return f"outputs/{_job_segment(job_id)}/segments/"


def segment_prefix(job_id: str | uuid.UUID, attempt: int, index: int) -> str:
    """One segment's outputs: `outputs/<job_id>/segments/<attempt>/<index>/`."""
    return f"{segments_prefix(job_id)}{int(attempt)}/{int(index)}/"


def comparison_output_key(comparison_id: str | uuid.UUID, output: Output) -> str:
    """`comparisons/<comparison_id>/<file name>`: one of a comparison's outputs."""
    return f"comparisons/{_job_segment(comparison_id)}/{output.file_name}"


def job_prefixes(job_id: str | uuid.UUID) -> tuple[str, str]:
    """Every prefix holding a job's objects; the trailing '/' keeps `job1` away from `job10`."""
    segment = _job_segment(job_id)
    return (f"inputs/{segment}/", f"outputs/{segment}/")


def upload_prefix(tenant_id: str | uuid.UUID, upload_id: str | uuid.UUID) -> str:
    """`uploads/<tenant_id>/<upload_id>/`: a tenant can only name its own uploads."""
    return f"{UPLOADS_PREFIX}{_job_segment(tenant_id)}/{_job_segment(upload_id)}/"


def upload_key(
    tenant_id: str | uuid.UUID, upload_id: str | uuid.UUID, filename: str | None = None
) -> str:
    """Where a presigned upload lands: `uploads/<tenant_id>/<upload_id>/source<.ext>`."""
    return f"{upload_prefix(tenant_id, upload_id)}source{safe_extension(filename)}"
